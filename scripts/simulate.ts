// `npm run simulate`: the simulator's command line (src/cli/simulate.ts), run from the sources under tsx.
// The image runs the same command built: `node dist/cli/simulate.js`.
import '../src/cli/simulate.js';
