/**
 * ⑦ `GET /secure/`: the customer's secure chat webview (built by
 * scripts/build.mjs from webviews/secure-chat into dist/webviews/secure-chat).
 *
 * A GET never consumes anything: the pivot token travels in the URL fragment
 * (`/secure/#t=...`), which browsers do not send, and the page redeems it over
 * Socket.IO only after the person taps its button. Link-preview bots and
 * scanners get a static page.
 *
 * Headers stricter than the app's helmet defaults: a CSP without inline
 * script, `connect-src` to this origin only (https and its wss), framing only
 * by ALLOWED_EMBED_ORIGINS (and then no X-Frame-Options, which cannot list
 * origins), `Cache-Control: no-store`, `Referrer-Policy: no-referrer`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Router, type Response } from 'express';
import type { Config } from '../config';

/** The files the page is made of; nothing else under the folder is served. */
const FILES: Readonly<Record<string, string>> = Object.freeze({
  'index.html': 'text/html; charset=utf-8',
  'main.js': 'text/javascript; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
});

/** The built webview: `<project>/dist/webviews/secure-chat`, found from this file in src/ or dist/src/. */
export function defaultWebviewDir(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'webviews', 'secure-chat');
}

/** Meta's Messenger Extensions SDK: allowed only when MESSENGER_APP_ID asks the page for a background binding. */
export const MESSENGER_SDK_ORIGIN = 'https://connect.facebook.net';

export function securePageHeaders(config: Pick<Config, 'publicUrl' | 'allowedEmbedOrigins'> & { messengerAppId?: string }): Record<string, string> {
  const url = new URL(config.publicUrl);
  const socketOrigin = `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}`;
  const frameAncestors = config.allowedEmbedOrigins.length > 0 ? config.allowedEmbedOrigins.join(' ') : "'none'";
  const csp = [
    "default-src 'none'",
    `script-src 'self'${config.messengerAppId ? ` ${MESSENGER_SDK_ORIGIN}` : ''}`,
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${socketOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');
  return {
    'Content-Security-Policy': csp,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  };
}

/**
 * The page's router; mount it at `/secure` among the app's `routes` (after helmet, whose headers it tightens).
 * @example routes.push({ path: '/secure', router: securePageRouter(config) });
 */
export function securePageRouter(config: Pick<Config, 'publicUrl' | 'allowedEmbedOrigins'> & { messengerAppId?: string }, webviewDir?: string): Router {
  const dir = webviewDir ?? defaultWebviewDir();
  const headers = securePageHeaders(config);
  const framable = config.allowedEmbedOrigins.length > 0;
  const router = Router();

  function send(res: Response, file: string): void {
    res.set(headers);
    if (framable) res.removeHeader('X-Frame-Options');
    else res.set('X-Frame-Options', 'DENY');
    res.type(FILES[file] ?? 'application/octet-stream');
    res.sendFile(join(dir, file), { dotfiles: 'deny', lastModified: false, cacheControl: false, etag: false }, (err) => {
      if (err && !res.headersSent) res.status(404).type('text/plain').send('The secure chat page is not built: run `npm run build`.');
    });
  }

  router.get('/', (req, res) => {
    // Relative asset URLs need the trailing slash; the fragment (the token) survives a redirect.
    const [path = '', query] = req.originalUrl.split('?', 2);
    if (!path.endsWith('/')) {
      res.set('Cache-Control', 'no-store');
      res.redirect(301, `${path.slice(path.lastIndexOf('/') + 1)}/${query === undefined ? '' : `?${query}`}`);
      return;
    }
    send(res, 'index.html');
  });
  router.get('/:file', (req, res, next) => {
    const file = req.params.file;
    if (typeof file === 'string' && Object.hasOwn(FILES, file) && file !== 'index.html') send(res, file);
    else next();
  });
  return router;
}
