// The files a small federation starts from (`npm run cluster`, docker compose's `federation` profile):
// the log's signing key, a key per witness, the witnesses' list of logs to cosign (tlog-policy `log`
// lines, one per origin: the applications' logs and the erasures log) and the log's witness policy (every
// witness, all of them as the quorum).
// Keys already in `dir` are kept, so running it again changes no identity.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawPublicKey, verifierKeyString } from '../core/note/signed-note.js';
import { witnessVerifierKeyString } from '../core/witness/cosignature.js';
import { ERASURES_LOG } from '../log/erasure.js';

export interface FederationWitness {
  /** The witness's key name in its cosignatures (WITNESS_NAME) and its name in the policy. */
  name: string;
  /** Its submission prefix: requests go to `<url>/add-checkpoint`. */
  url: string;
}

export interface FederationFiles {
  logKeyFile: string;
  /** The server's verifier key (the key under the origin prefix, as serverInfo.verifierKey gives it). */
  serverVerifierKey: string;
  /** Per source application, its log's verifier key (the key under the log's origin). */
  logVerifierKeys: Array<{ sourceAppId: string; verifierKey: string }>;
  witnesses: Array<FederationWitness & { keyFile: string; verifierKey: string }>;
  /** WITNESSED_LOGS_FILE of every witness. */
  witnessedLogsFile: string;
  /** WITNESS_POLICY_FILE of the log. */
  policyFile: string;
}

function keyFile(dir: string, name: string): { file: string; publicKey: Uint8Array } {
  const file = join(dir, name);
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  }
  return { file, publicKey: rawPublicKey(createPrivateKey(readFileSync(file, 'utf8'))) };
}

export function writeFederationFiles(opts: {
  dir: string;
  originPrefix: string;
  sourceAppIds: readonly string[];
  witnesses: readonly FederationWitness[];
}): FederationFiles {
  mkdirSync(opts.dir, { recursive: true });
  const log = keyFile(opts.dir, 'log-signing-key.pem');
  const logVerifierKeys = opts.sourceAppIds.map((sourceAppId) => ({
    sourceAppId,
    verifierKey: verifierKeyString(`${opts.originPrefix}/${sourceAppId}`, log.publicKey),
  }));
  const witnesses = opts.witnesses.map((w) => {
    const key = keyFile(opts.dir, `${w.name}-witness-key.pem`);
    return { ...w, keyFile: key.file, verifierKey: witnessVerifierKeyString(w.name, key.publicKey) };
  });
  const witnessedLogsFile = join(opts.dir, 'witnessed-logs.txt');
  // The erasures log too: an auditor with the policy proves erasures against its checkpoints, which must
  // carry the quorum as the applications' logs' do.
  const erasuresKey = verifierKeyString(`${opts.originPrefix}/${ERASURES_LOG}`, log.publicKey);
  writeFileSync(witnessedLogsFile, [...logVerifierKeys.map((l) => l.verifierKey), erasuresKey].map((k) => `log ${k}\n`).join(''));
  const policyFile = join(opts.dir, 'witness-policy.txt');
  writeFileSync(
    policyFile,
    [
      ...witnesses.map((w) => `witness ${w.name} ${w.verifierKey} ${w.url}`),
      `group all-witnesses all ${witnesses.map((w) => w.name).join(' ')}`,
      'quorum all-witnesses',
      '',
    ].join('\n'),
  );
  return {
    logKeyFile: log.file,
    serverVerifierKey: verifierKeyString(opts.originPrefix, log.publicKey),
    logVerifierKeys,
    witnesses,
    witnessedLogsFile,
    policyFile,
  };
}
