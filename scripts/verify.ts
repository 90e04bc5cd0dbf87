// `npm run verify`: the auditor's command line (src/cli/verify.ts), run from the sources under tsx.
// The image runs the same command built: `node dist/cli/verify.js`.
import '../src/cli/verify.js';
