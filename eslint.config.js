// ESLint (flat config): typescript-eslint's recommended and type-aware rules over the TypeScript sources,
// tests and scripts. The import layering is scripts/check-layers.ts's (dependency-cruiser), not this file's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'coverage/',
      'src/api/graphql/generated/',
      'src/dashboard/generated/',
      'bench/tmp/',
      'bench/results/',
      '.ci/out/',
      'scripts/mongo-test-server/bin/',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Async server code: a promise nobody awaits loses its rejection; one passed where a void callback is
      // expected (an event handler, express middleware) is not awaited by its caller.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `_name` marks what is deliberately unused (a destructured field left out, a required parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // An async function that does not await still turns a throw into a rejection, which is what a
      // Promise-returning interface (storage engines, resolvers, plugins) promises its callers.
      '@typescript-eslint/require-await': 'off',
      // The control characters are the subject of those patterns (JSON strings, signed notes, key names).
      'no-control-regex': 'off',
      // graphql-js's enums (OperationTypeNode, Kind) are string enums of the spec's names; comparing them
      // with those names is how graphql code reads.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
    },
  },
  {
    // The dashboard runs in a browser: Node's globals do not exist there (its tsconfig has Node's types only
    // for the core's Node primitives, which the bundle replaces).
    files: ['src/dashboard/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'Buffer', 'process', 'require', '__dirname', 'global', 'setImmediate'],
    },
  },
  {
    // Tests read the API's JSON answers as `any` and check their shape with assertions: typing them would
    // only restate the assertions.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
