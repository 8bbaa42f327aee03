/**
 * `GET /console/`: the advisor console, a static page built from
 * `webviews/advisor-console/` into `dist/webviews/advisor-console/`.
 *
 * The page holds an advisor's bearer token (it arrives in the URL fragment,
 * `/console/#token=...`, which browsers never send to a server), so it gets
 * the strictest headers a page can have: a CSP with no inline script or
 * style, no framing, `no-store`, and no referrer.
 *
 * This file also holds `webviewPageRouter`, the static serving both dev and
 * production pages share (the sandbox page uses it too).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import express, { Router, type Request, type Response, type NextFunction } from 'express';
import type { Config } from '../config';

export interface WebviewPageOptions {
  /** Folder under `dist/webviews/` (e.g. `advisor-console`). */
  name: string;
  /** Overrides where the built page is read from (tests). */
  dir?: string;
}

/** The project root: the nearest folder above this file with a package.json (works from `src/` and `dist/src/`). */
function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/** Where `scripts/build.mjs` writes a webview. */
export function webviewDistDir(name: string): string {
  return join(projectRoot(), 'dist', 'webviews', name);
}

/**
 * `connect-src` for a page that talks to the gateway over fetch and Socket.IO.
 * `'self'` covers same-origin WebSockets in CSP Level 3 browsers; the explicit
 * ws(s) origin of PUBLIC_URL covers older WebKit, which does not map it.
 */
function connectSources(publicUrl: string): string[] {
  const origin = new URL(publicUrl);
  const ws = `${origin.protocol === 'https:' ? 'wss:' : 'ws:'}//${origin.host}`;
  return ["'self'", ws];
}

/** The headers of a page that handles tokens (PRODUCT.md: same CSP rules as the secure page). */
export function pageSecurityHeaders(config: Readonly<Pick<Config, 'publicUrl'>>): Record<string, string> {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connectSources(config.publicUrl).join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'Content-Security-Policy': csp,
    'X-Frame-Options': 'DENY',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  };
}

/**
 * Serves one built webview folder (index.html, main.js, *.css) with
 * `pageSecurityHeaders`. `/<mount>` redirects to `/<mount>/` so the page's
 * relative asset URLs resolve; the fragment survives the redirect.
 * Only GET and HEAD; anything else falls through to the 404 handler.
 */
export function webviewPageRouter(config: Readonly<Pick<Config, 'publicUrl'>>, options: WebviewPageOptions): Router {
  const router = Router();
  const headers = pageSecurityHeaders(config);
  const dir = options.dir ?? webviewDistDir(options.name);
  const serve = express.static(dir, { index: 'index.html', redirect: false, cacheControl: false, etag: false, lastModified: false, dotfiles: 'ignore', fallthrough: true });

  router.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    const [path = '', query] = req.originalUrl.split('?', 2);
    if (!path.endsWith('/') && req.path === '/') {
      res.set(headers).redirect(301, `${path}/${query === undefined ? '' : `?${query}`}`);
      return;
    }
    res.set(headers);
    serve(req, res, next);
  });
  return router;
}

/**
 * The advisor console at `/console/`.
 * @example routes.push({ path: '/console', router: consoleRouter(config) });
 */
export function consoleRouter(config: Readonly<Config>, options: { dir?: string } = {}): Router {
  return webviewPageRouter(config, { name: 'advisor-console', ...options });
}

/**
 * The link that opens the console signed in: the token travels in the
 * fragment, which is never sent to a server or written to its access log;
 * the page moves it to sessionStorage and removes it from the address bar.
 * @example consoleLink('http://localhost:3000', devToken) // http://localhost:3000/console/#token=eyJ...
 */
export function consoleLink(publicUrl: string, token: string): string {
  return `${publicUrl}/console/#token=${encodeURIComponent(token)}`;
}
