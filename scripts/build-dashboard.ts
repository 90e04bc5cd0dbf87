// `npm run build`, last step: the dashboard (src/dashboard) bundled with esbuild into static files under
// dist/dashboard: index.html, and the script and style sheet under names with a hash of their content
// (served as immutable). The core's Node primitives are replaced by its browser ones
// (src/core/crypto/primitives.browser.ts), so the browser verifies with the core's own functions.
// The script's gzipped size is reported and held under issue 19's budget (the build fails above it).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src/dashboard');
const OUT = join(ROOT, 'dist/dashboard');
const CORE_CRYPTO = join(ROOT, 'src/core/crypto');
// Two chain links; the page names it so the browser does not ask the server's root for /favicon.ico.
const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><g fill="none" stroke="#0b57d0" stroke-width="2">' +
  '<rect x="1" y="5" width="8" height="6" rx="3"/><rect x="7" y="5" width="8" height="6" rx="3"/></g></svg>\n';
/** Issue 19: the JavaScript under 200 KB gzipped. */
export const SCRIPT_BUDGET_GZIPPED = 200 * 1024;

const browserPrimitives: Plugin = {
  name: 'browser-primitives',
  setup(b) {
    b.onResolve({ filter: /\/primitives\.js$/ }, (args) => {
      const target = resolve(args.resolveDir, args.path);
      if (target !== join(CORE_CRYPTO, 'primitives.js')) return undefined;
      return { path: join(CORE_CRYPTO, 'primitives.browser.ts') };
    });
  },
};

export interface DashboardBuild {
  script: string;
  style: string;
  scriptBytes: number;
  scriptGzippedBytes: number;
}

export async function buildDashboard(): Promise<DashboardBuild> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: join(SRC, 'main.ts'), style: join(SRC, 'styles.css') },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    outdir: join(OUT, 'assets'),
    entryNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    plugins: [browserPrimitives],
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const script = outputs.find((p) => p.startsWith('app-') && p.endsWith('.js'));
  const style = outputs.find((p) => p.startsWith('style-') && p.endsWith('.css'));
  if (!script || !style) throw new Error(`esbuild gave no script or style sheet: ${outputs.join(', ')}`);
  const code = readFileSync(join(OUT, 'assets', script));
  const scriptGzippedBytes = gzipSync(code, { level: 9 }).length;
  if (scriptGzippedBytes > SCRIPT_BUDGET_GZIPPED) {
    throw new Error(
      `the dashboard's script is ${kb(scriptGzippedBytes)} gzipped, over the budget of ${kb(SCRIPT_BUDGET_GZIPPED)}`,
    );
  }
  const html = readFileSync(join(SRC, 'index.html'), 'utf8')
    .replace('%SCRIPT%', `assets/${script}`)
    .replace('%STYLE%', `assets/${style}`);
  writeFileSync(join(OUT, 'index.html'), html);
  writeFileSync(join(OUT, 'favicon.svg'), FAVICON);
  return { script, style, scriptBytes: code.length, scriptGzippedBytes };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const b = await buildDashboard();
  console.log(
    `dashboard: dist/dashboard/assets/${b.script} (${kb(b.scriptBytes)}, ${kb(b.scriptGzippedBytes)} gzipped; ` +
      `budget ${kb(SCRIPT_BUDGET_GZIPPED)}), ${b.style}`,
  );
}
