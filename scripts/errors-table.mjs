#!/usr/bin/env node
// Rewrites the error table in README.md (between the errors:start/end markers)
// from src/errors.ts's catalog, via the built output. `npm run docs:errors`.
// test/errors.test.ts fails when the README and the catalog disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { ERRORS } = createRequire(import.meta.url)(join(root, 'dist', 'src', 'errors.js'));
const rows = Object.entries(ERRORS).map(([code, { status, title }]) => `| \`${code}\` | ${status} | ${title} |`);
const table = ['| code | HTTP status | meaning |', '|---|---|---|', ...rows].join('\n');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const next = readme.replace(/<!-- errors:start -->[\s\S]*<!-- errors:end -->/, `<!-- errors:start -->\n${table}\n<!-- errors:end -->`);
writeFileSync(join(root, 'README.md'), next);
