/**
 * Headless Chromium for the e2e tests: Debian's /usr/bin/chromium driven by
 * playwright-core, with a fresh user-data-dir per launch (no state leaks
 * between runs), and the secure-chat webview built the way scripts/build.mjs
 * builds it (esbuild bundle + copied .html/.css) into a temporary folder.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'pg-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: options.viewport ?? { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'en-GB',
    timezoneId: 'Europe/London',
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Bundles webviews/<name>/main.ts with esbuild and copies its .html/.css; returns the folder. */
export async function buildWebview(name: string): Promise<string> {
  const esbuild = await import('esbuild');
  const src = join(__dirname, '..', '..', 'webviews', name);
  const out = mkdtempSync(join(tmpdir(), `pg-webview-${name}-`));
  mkdirSync(out, { recursive: true });
  await esbuild.build({ entryPoints: [join(src, 'main.ts')], bundle: true, minify: true, sourcemap: false, target: ['es2020', 'safari14.1'], outfile: join(out, 'main.js'), logLevel: 'warning' });
  for (const file of readdirSync(src)) if (file.endsWith('.html') || file.endsWith('.css')) cpSync(join(src, file), join(out, file));
  return out;
}
