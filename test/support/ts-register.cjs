/**
 * Lets a plain `node` process load the project's TypeScript sources:
 * `node -r ./test/support/ts-register.cjs some.ts`. Used by tests that fork
 * real child processes (two gateway nodes on one Redis) and by the bench,
 * without a build step. Same transform as Jest's (@swc/core, CommonJS).
 */
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    filename,
    sourceMaps: 'inline',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
