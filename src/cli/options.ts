// Command-line options of the tools (`npm run simulate`, `npm run verify`): node:util parseArgs for the
// flags, then a zod object for their values, with messages naming the option. Outside src/core: it reads
// the environment, and optionsOrExit writes and exits.
import { parseArgs } from 'node:util';
import { z } from 'zod';

/** What parsing a command line gives: a request for help, the options, or the error messages (one per line). */
export type CliParse<T> = { help: true } | { help: false; options: T } | { help: false; error: string };

/** `--name` as a whole number from min to max. */
export const intOption = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `--${name} must be a number` })
    .int(`--${name} must be a whole number`)
    .min(min, `--${name} must be at least ${min}`)
    .max(max, `--${name} must be at most ${max}`);

export interface CliSpec<S extends z.ZodObject> {
  /** One key a flag (`--<key>`), in the order its errors are reported; -h/--help is added. */
  schema: S;
  /** The flags that take no value; every other one takes a string. */
  booleans?: ReadonlyArray<keyof S['shape'] & string>;
  /** Flag → environment variable that stands for it when it is not given (an empty variable counts as unset). */
  env?: Partial<Record<keyof S['shape'] & string, string>>;
}

/** Parses `argv` against `spec` (unknown flags and positionals are errors), then shapes the values with `build`. */
export function parseCliArgs<S extends z.ZodObject, T>(
  spec: CliSpec<S>,
  argv: string[],
  env: NodeJS.ProcessEnv,
  build: (values: z.output<S>) => T,
): CliParse<T> {
  const booleans = new Set<string>(spec.booleans ?? []);
  const flags = Object.fromEntries(
    Object.keys(spec.schema.shape).map((k) => [k, { type: booleans.has(k) ? 'boolean' : 'string' } as const]),
  );
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { ...flags, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    return { help: false, error: (err as Error).message };
  }
  if (values.help) return { help: true };
  delete values.help;
  for (const [flag, variable] of Object.entries(spec.env ?? {}) as Array<[string, string]>)
    values[flag] ??= env[variable] || undefined;
  const parsed = spec.schema.safeParse(values);
  if (!parsed.success) return { help: false, error: parsed.error.issues.map((i) => i.message).join('\n') };
  return { help: false, options: build(parsed.data) };
}

/** For a CLI's entry point: prints the help and exits 0, or prints the error and exits 2, or returns the options. */
export function optionsOrExit<T>(tool: string, help: string, parsed: CliParse<T>): T {
  if (parsed.help) {
    process.stdout.write(help);
    process.exit(0);
  }
  if ('error' in parsed) {
    process.stderr.write(`${tool}: ${parsed.error}\nRun with --help for usage.\n`);
    process.exit(2);
  }
  return parsed.options;
}
