#!/usr/bin/env node
// Builds the server (TypeScript 7's native tsc: ~10x faster than 5.x; 5.x stays
// installed for typescript-eslint, which needs its compiler API) and the webviews (esbuild). Skips work that is up to
// date, so `npm start` can call it every time: it rebuilds only when a source
// file is newer than the last build. `--force` rebuilds everything.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync, cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const stamp = join(root, 'dist', '.build-stamp');

function newest(dir) {
  let latest = 0;
  if (!existsSync(dir)) return latest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const sources = ['src', 'connectors', 'webviews', 'data'].map((d) => newest(join(root, d)));
const sourceTime = Math.max(...sources, statSync(join(root, 'package.json')).mtimeMs, statSync(join(root, 'tsconfig.build.json')).mtimeMs);
const builtTime = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (!force && builtTime >= sourceTime) process.exit(0);

const started = Date.now();
process.stderr.write('pivot-gateway: building server and webviews...\n');
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript7', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });

// Each webview is a folder with index.html, *.css and a main.ts entry.
const esbuild = await import('esbuild');
const webviews = join(root, 'webviews');
for (const name of existsSync(webviews) ? readdirSync(webviews) : []) {
  const src = join(webviews, name);
  if (!statSync(src).isDirectory() || !existsSync(join(src, 'main.ts'))) continue;
  const out = join(root, 'dist', 'webviews', name);
  mkdirSync(out, { recursive: true });
  await esbuild.build({ entryPoints: [join(src, 'main.ts')], bundle: true, minify: true, sourcemap: true, target: ['es2020', 'chrome90', 'safari15', 'firefox90'], outfile: join(out, 'main.js'), logLevel: 'warning' });
  for (const file of readdirSync(src)) {
    if (file.endsWith('.html') || file.endsWith('.css') || file.endsWith('.svg') || file.endsWith('.png')) cpSync(join(src, file), join(out, file));
  }
}
// Train the intent classifier now and cache it (node_modules/.cache/pivot-gateway),
// so `npm start` loads it instead of spending seconds training at each start.
execFileSync(process.execPath, ['-e', "require('./dist/src/bot/intents.js').IntentClassifier.shared().catch((e) => { console.error(e); process.exit(1); })"], { stdio: 'inherit', cwd: root });
mkdirSync(dirname(stamp), { recursive: true });
writeFileSync(stamp, new Date().toISOString());
process.stderr.write(`pivot-gateway: built in ${Date.now() - started} ms\n`);
