// Before the simulator sends anything: is the service there, may this key write, and does it cover
// every app the run writes to? A run that would be refused says so, with the fix, instead of
// reporting hundreds of FORBIDDEN events afterwards. The checks write nothing. GraphQL goes through the
// chainlog client (src/client).
import { ChainlogGraphqlError, ChainlogTransportError, createChainlogClient, type GraphqlErrorItem } from '../client/index.js';

export interface PreflightOptions {
  /** Service base URL. */
  url: string;
  apiKey?: string | undefined;
  /** The apps the run writes to, in the order --apps picks them. */
  apps: readonly string[];
  timeoutMs?: number;
}

/** Thrown with a message for the user; `exitCode` 2 = usage or connection problem. */
export class PreflightError extends Error {
  override name = 'PreflightError';
}

/** Aliases per probe request, under the server's default GRAPHQL_MAX_ALIASES (30). */
const ALIASES_PER_REQUEST = 25;

export async function preflight(options: PreflightOptions): Promise<void> {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 5000;
  try {
    await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new PreflightError(`cannot reach ${options.url}: ${(err as Error).message}. Is the service running (npm start)?`);
  }
  const client = createChainlogClient({ url: base, apiKey: options.apiKey, timeoutMs });
  /** The GraphQL errors of `query` (none when it succeeds). */
  const ask = async (query: string): Promise<readonly GraphqlErrorItem[]> => {
    try {
      await client.request(query, {}, { retry: true });
      return [];
    } catch (err) {
      if (err instanceof ChainlogGraphqlError) return err.errors;
      if (err instanceof ChainlogTransportError)
        throw new PreflightError(`the service did not answer the checks: ${err.message}`);
      throw err;
    }
  };
  const keyFix = `Set CHAINLOG_API_KEY to a WRITER key that names these apps (or an ADMIN key); an admin creates one with\n  ${createKeyMutation(options.apps)}`;

  // May this key write at all? An empty batch is authorized like any other and writes nothing.
  const write = (await ask('mutation { logEvents(inputs: []) { seq } }'))[0];
  const code = write?.extensions?.code;
  if (code === 'UNAUTHENTICATED') {
    throw new PreflightError(
      `${options.apiKey ? 'the API key was refused' : 'no API key given'} (${write!.message}).\n${keyFix}`,
    );
  }
  if (code === 'FORBIDDEN' && write!.extensions!.rule === 'role') {
    throw new PreflightError(`this API key may not write events (${write!.message}).\n${keyFix}`);
  }

  // Which of the apps does it cover? Naming an app outside a key's scope is FORBIDDEN, whether or not the log exists.
  const uncovered: string[] = [];
  for (let i = 0; i < options.apps.length; i += ALIASES_PER_REQUEST) {
    const chunk = options.apps.slice(i, i + ALIASES_PER_REQUEST);
    const query = `{ ${chunk.map((app, j) => `a${j}: log(sourceAppId: ${JSON.stringify(app)}) { size }`).join(' ')} }`;
    for (const e of await ask(query)) {
      const alias = typeof e.path?.[0] === 'string' ? /^a(\d+)$/.exec(e.path[0]) : null;
      if (e.extensions?.code === 'FORBIDDEN' && alias) uncovered.push(chunk[Number(alias[1])]!);
    }
  }
  if (uncovered.length === 0) return;
  const covered = options.apps.filter((a) => !uncovered.includes(a));
  // --apps N takes the first N apps: when the key covers a prefix of them, fewer apps is a fix too.
  let prefix = 0;
  while (prefix < options.apps.length && covered.includes(options.apps[prefix]!)) prefix++;
  const fewer =
    prefix > 0 ? `\nOr write only the apps it covers: --apps ${prefix} (${options.apps.slice(0, prefix).join(', ')}).` : '';
  throw new PreflightError(
    `this API key does not cover ${uncovered.length} of the ${options.apps.length} apps this run writes to: ${uncovered.join(', ')}` +
      `${covered.length > 0 ? ` (it covers ${covered.join(', ')})` : ''}. Nothing was sent.\n${keyFix}${fewer}`,
  );
}

function createKeyMutation(apps: readonly string[]): string {
  return `mutation { createApiKey(role: WRITER, sourceAppIds: [${apps.map((a) => JSON.stringify(a)).join(', ')}], name: "simulator") { secret } }`;
}
