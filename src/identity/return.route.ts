/**
 * `GET /secure/return`: where the bank's identity provider sends the person
 * back after a step-up (PRODUCT.md, "HTTP"). It finishes the exchange
 * (src/identity/stepup.ts), then always redirects to `/secure/`: the URL
 * never carries a token, and the page resumes from its sessionStorage
 * session token, where the socket tells it the new tier (or why not).
 *
 * `Cache-Control: no-store` (the return URL holds a one-time code) and
 * `Referrer-Policy: no-referrer` (that code must not leak to the next page).
 * The return-key cookie is cleared whatever the outcome.
 */
import { Router, type Request } from 'express';
import type { Config } from '../config';
import { RETURN_KEY_COOKIE, type IdentityStepUp } from './stepup';
import type { Logger } from '../ops/logger';
import { isGatewayError } from '../errors';

export interface IdentityRouterDeps {
  identity: Pick<IdentityStepUp, 'complete' | 'pageUrl' | 'cookiePath'>;
  config: Pick<Config, 'publicUrl'>;
  log: Logger;
}

/** One cookie's value from the Cookie header (no dependency for one name). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      const value = part.slice(at + 1).trim();
      try {
        return decodeURIComponent(value);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function rawQuery(req: Request): string {
  const at = req.originalUrl.indexOf('?');
  return at < 0 ? '' : req.originalUrl.slice(at + 1);
}

/**
 * Mount at `/secure`, before the page's own router.
 * @example routes.push({ path: '/secure', router: identityRouter({ identity, config }) });
 */
export function identityRouter(deps: IdentityRouterDeps): Router {
  const router = Router();
  const secure = deps.config.publicUrl.startsWith('https://');
  const clearCookie = `${RETURN_KEY_COOKIE}=; Path=${deps.identity.cookiePath}; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;

  router.get('/return', async (req, res) => {
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    const query = rawQuery(req);
    try {
      // Bounded: a real return is a code, a state and an issuer.
      await deps.identity.complete(new URLSearchParams(query.length > 8192 ? '' : query), cookieValue(req.get('cookie'), RETURN_KEY_COOKIE));
    } catch (err) {
      // The person still goes back to the page, which tells them where things stand; the one-time cookie is
      // cleared either way. A session that ended during the exchange (a LOCK, a lost device) is expected;
      // anything else (the store down, a bug) is an error for the operators, with its stack.
      if (isGatewayError(err, 'GW_ERR_SESSION_INVALID') || isGatewayError(err, 'GW_ERR_CONVERSATION_LOCKED')) deps.log.info({ code: err.code }, 'step-up return: the session ended meanwhile');
      else deps.log.error({ err }, 'step-up return failed');
    }
    res.append('Set-Cookie', clearCookie);
    res.redirect(303, deps.identity.pageUrl);
  });
  return router;
}
