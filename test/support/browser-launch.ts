/**
 * For browser tests that drive a whole gateway (test/e2e/console, sandbox):
 * a plain (not persistent) Chromium, so each test opens its own isolated
 * contexts at the viewport it needs (test/support/browser.ts launches one
 * persistent, phone-sized context for the secure chat); the webviews built
 * by the project's own build into dist/, which the gateway's page routers
 * serve; and a free port (the gateway's PUBLIC_URL must name its real port:
 * pivot links and the `/secure` Origin check use it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from 'playwright-core';
import { CHROMIUM, CHROMIUM_FLAGS } from './browser';

const ROOT = join(__dirname, '..', '..');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/**
 * The contexts one test file opens: each isolated, with its own options
 * (viewport, user agent) and the e2e default timeout; `closeAll()` (in afterEach) ends what a test opened.
 * `browser` is read when a context is opened (it is launched in beforeAll).
 */
export function browserContexts(browser: () => Browser): { open(options: BrowserContextOptions & { viewport: { width: number; height: number } }): Promise<BrowserContext>; closeAll(): Promise<void> } {
  const opened: BrowserContext[] = [];
  return {
    async open(options) {
      const context = await browser().newContext(options);
      context.setDefaultTimeout(20_000);
      opened.push(context);
      return context;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((c) => c.close()));
    },
  };
}

function newestIn(dir: string): number {
  let latest = 0;
  if (!existsSync(dir)) return latest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newestIn(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/**
 * Runs the project's build (`scripts/build.mjs`) when a webview's bundle is
 * older than its sources or than the shared event types it imports, so a
 * browser test never drives a stale page.
 */
export function ensureWebviewsBuilt(names: readonly string[]): void {
  const shared = statSync(join(ROOT, 'src', 'chat', 'events.ts')).mtimeMs;
  const stale = names.some((name) => {
    const bundle = join(ROOT, 'dist', 'webviews', name, 'main.js');
    if (!existsSync(bundle)) return true;
    const built = statSync(bundle).mtimeMs;
    return newestIn(join(ROOT, 'webviews', name)) > built || shared > built;
  });
  if (stale) execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--force'], { cwd: ROOT, stdio: 'inherit' });
}

/** A port free right now (the gateway binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
