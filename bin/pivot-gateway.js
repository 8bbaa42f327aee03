#!/usr/bin/env node
'use strict';
// The `pivot-gateway` command: builds when sources are newer, then runs the CLI.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');
const root = join(__dirname, '..');
try {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
} catch {
  process.stderr.write('pivot-gateway: build failed\n');
  process.exit(1);
}
require(join(root, 'dist', 'src', 'cli', 'main.js'))
  .main(process.argv.slice(2))
  .then((code) => {
    if (typeof code === 'number') process.exitCode = code;
  });
