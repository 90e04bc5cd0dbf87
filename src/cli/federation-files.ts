// `node dist/cli/federation-files.js --dir DIR --origin-prefix P --apps N --witnesses name=url,...`:
// writes the keys and policy files of a small federation (src/witnessing/federation-files.ts) and
// prints the verifier keys. docker compose's `federation` profile runs it once before the servers.
import { z } from 'zod';
import { profilesFor } from '../simulator/dictionary.js';
import { writeFederationFiles } from '../witnessing/federation-files.js';
import { intOption, optionsOrExit, parseCliArgs } from './options.js';

const HELP = `Usage: federation-files --dir DIR --origin-prefix PREFIX --apps N --witnesses NAME=URL[,NAME=URL...]

Writes into DIR (keeping keys already there): log-signing-key.pem, <NAME>-witness-key.pem per witness,
witnessed-logs.txt (WITNESSED_LOGS_FILE of each witness: the logs of the simulator's first N apps and the
erasures log, _erasures) and
witness-policy.txt (WITNESS_POLICY_FILE of the log: every witness, all of them as the quorum).
`;

const o = optionsOrExit(
  'federation-files',
  HELP,
  parseCliArgs(
    {
      schema: z
        .object({
          dir: z.string({ error: '--dir is required' }).min(1),
          'origin-prefix': z.string({ error: '--origin-prefix is required' }).min(1),
          apps: intOption('apps', 1, 1000),
          witnesses: z
            .string({ error: '--witnesses is required' })
            .regex(
              /^[A-Za-z0-9._-]+=https?:\/\/[^\s,]+(,[A-Za-z0-9._-]+=https?:\/\/[^\s,]+)*$/,
              '--witnesses must be NAME=URL[,NAME=URL...]',
            ),
        })
        .strict(),
    },
    process.argv.slice(2),
    process.env,
    (v) => v,
  ),
);

const files = writeFederationFiles({
  dir: o.dir,
  originPrefix: o['origin-prefix'],
  sourceAppIds: profilesFor(o.apps).map((p) => p.app),
  witnesses: o.witnesses.split(',').map((pair) => {
    const eq = pair.indexOf('=');
    return { name: pair.slice(0, eq), url: pair.slice(eq + 1) };
  }),
});
process.stdout.write(`server verifier key ${files.serverVerifierKey}\n`);
for (const l of files.logVerifierKeys) process.stdout.write(`log ${l.sourceAppId} ${l.verifierKey}\n`);
for (const w of files.witnesses) process.stdout.write(`witness ${w.name} ${w.verifierKey} ${w.url}\n`);
