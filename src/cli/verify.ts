// `npm run verify -- --app APP --key KEY [options]`: audit one log. Exit 0 OK, 1 verification failed, 2 no
// verdict (could not run, or UNKNOWN: the server withheld the consistency proof); monitors alert on 2.
// `npm run verify -- --evidence FILE --key KEY`: check an inconsistency's evidence offline (verify-evidence.ts).
import { NoteError, parseVerifierKey, type NoteVerifier } from '../core/index.js';
import { AuditAbort, runAudit } from '../auditor/audit.js';
import { ConnectionError, GraphqlClient } from '../auditor/graphql-client.js';
import { parseVerifyArgs, VERIFY_HELP } from '../auditor/options.js';
import { RangeClient } from '../auditor/range-client.js';
import { PolicyFileError, readPolicyFile } from '../auditor/policy-file.js';
import { optionsOrExit } from './options.js';
import { reportText } from '../auditor/report.js';
import { StateFile, StateFileError } from '../auditor/state-file.js';
import { runVerifyReceipt } from './verify-receipt.js';
import { wantsEvidenceMode } from '../auditor/evidence-options.js';
import { runEvidenceMode } from './verify-evidence.js';

function fail(message: string, json = false): never {
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, verdict: 'UNKNOWN', error: message })}\n`);
  process.stderr.write(`verify: ${message}\n`);
  process.exit(2);
}

// `--receipt` selects the offline check of one receipt (src/cli/verify-receipt.ts).
if (process.argv.slice(2).includes('--receipt')) runVerifyReceipt(process.argv.slice(2));
// `--evidence FILE --key VKEY`: an inconsistency's evidence, checked offline (verify-evidence.ts).
if (wantsEvidenceMode(process.argv.slice(2))) runEvidenceMode(process.argv.slice(2));

const o = optionsOrExit('verify', VERIFY_HELP, parseVerifyArgs(process.argv.slice(2)));

let verifier: NoteVerifier;
try {
  verifier = parseVerifierKey(o.key);
} catch (err) {
  if (err instanceof NoteError) fail(`--key is not a verifier key (<name>+<8 hex id>+<base64 key>): ${err.message}`, o.json);
  throw err;
}

try {
  const policy = o.policy === undefined ? undefined : await readPolicyFile(o.policy);
  const state = await StateFile.load(o.state, { migrateWith: verifier });
  const report = await runAudit({
    client: new GraphqlClient({ url: o.url, apiKey: o.apiKey }),
    rangeClient: new RangeClient({ url: o.url, apiKey: o.apiKey }),
    url: o.url,
    app: o.app,
    verifier,
    originPrefix: o.origin,
    from: o.from,
    state,
    spotChecks: o.spotChecks,
    pageSize: o.pageSize,
    policy,
    maxAgeSeconds: o.maxAgeSeconds,
    keyReadsEveryLog: o.keyReadsEveryLog,
    maxFindings: o.maxFindings,
    onProgress:
      process.stderr.isTTY && !o.json ? (upTo, size) => process.stderr.write(`\r\x1b[2Kverified ${upTo}/${size}`) : undefined,
  });
  if (process.stderr.isTTY && !o.json) process.stderr.write('\r\x1b[2K');
  process.stdout.write(`${o.json ? JSON.stringify(report) : reportText(report, o.state)}\n`);
  if (state.migrated && report.stateUpdated)
    process.stderr.write(`verify: state file ${o.state} rewritten from the URL-keyed form (version 1), keyed by log\n`);
  process.exit(report.verdict === 'OK' ? 0 : report.verdict === 'FAILED' ? 1 : 2);
} catch (err) {
  if (err instanceof PolicyFileError) {
    // A usage error, reported like the other option errors.
    process.stderr.write(`verify: ${err.message}\nRun with --help for usage.\n`);
    process.exit(2);
  }
  if (err instanceof AuditAbort || err instanceof ConnectionError || err instanceof StateFileError) fail(err.message, o.json);
  throw err;
}
