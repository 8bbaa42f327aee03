#!/usr/bin/env node
// `npm run bench`: runs every bench/*.bench.ts in turn (one process each, so
// one bench's heap and sockets do not skew the next). Each bench measures its
// own baseline in the same run, reports ratios, and writes its JSON (with the
// command and machine) to bench/results/. `npm run bench -- pivot` runs one.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const benches = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((name) => f.startsWith(name)));
if (benches.length === 0) {
  process.stderr.write(`bench: nothing matches ${only.join(', ')}\n`);
  process.exit(2);
}
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n== ${file}\n`);
  const result = spawnSync(process.execPath, ['-r', './test/support/ts-register.cjs', join('bench', file)], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
