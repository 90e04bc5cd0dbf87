// `npm run verify -- --receipt FILE --event FILE --key KEY`: one receipt, verified offline with the core.
// Exit 0 verified, 1 it does not verify, 2 usage error or unreadable file.
import { readFileSync } from 'node:fs';
import { NoteError, parseVerifierKey, ReceiptError, toHex, type NoteVerifier } from '../core/index.js';
import { checkReceipt } from '../client/verify.js';
import { parseVerifyReceiptArgs, VERIFY_RECEIPT_HELP } from '../auditor/receipt-options.js';
import { optionsOrExit } from './options.js';

export function runVerifyReceipt(argv: string[]): never {
  const o = optionsOrExit('verify', VERIFY_RECEIPT_HELP, parseVerifyReceiptArgs(argv));
  const out = (result: Record<string, unknown>, text: string, code: 0 | 1 | 2): never => {
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    (code === 0 ? process.stdout : process.stderr).write(o.json && code === 0 ? '' : `${text}\n`);
    process.exit(code);
  };
  let verifier: NoteVerifier;
  try {
    verifier = parseVerifierKey(o.key);
  } catch (err) {
    if (!(err instanceof NoteError)) throw err;
    return out({ ok: false, error: err.message }, `verify: --key is not a verifier key: ${err.message}`, 2);
  }
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      return out({ ok: false, error: (err as Error).message }, `verify: ${flag} ${path}: ${(err as Error).message}`, 2);
    }
  };
  const receipt = read('--receipt', o.receipt);
  const eventText = read('--event', o.event);
  try {
    let event: unknown;
    try {
      event = JSON.parse(eventText);
    } catch (err) {
      throw new ReceiptError('event', `the event file is not JSON: ${(err as Error).message}`);
    }
    const r = checkReceipt(receipt, event, verifier, o.origin);
    return out(
      { ok: true, origin: r.origin, index: r.proof.index, treeSize: r.checkpoint.size, rootHash: toHex(r.checkpoint.rootHash) },
      `receipt OK: event at index ${r.proof.index} is in ${r.origin} at tree size ${r.checkpoint.size} (root ${toHex(r.checkpoint.rootHash)})`,
      0,
    );
  } catch (err) {
    if (!(err instanceof ReceiptError)) throw err;
    return out({ ok: false, part: err.part, error: err.message }, `receipt REJECTED (${err.part}): ${err.message}`, 1);
  }
}
