/**
 * `GET /.well-known/jwks.json`: the public keys that verify pivot tokens
 * (mount at `/`). Cached for 5 minutes: short enough that a key published
 * ahead of a rotation reaches verifiers well before it signs (rotate no
 * faster than that), long enough to spare the gateway. Public data, so any
 * origin may read it.
 */
import { Router } from 'express';
import type { SigningKeys } from './keys';

export const JWKS_PATH = '/.well-known/jwks.json';
export const JWKS_MAX_AGE_SECONDS = 300;

export function jwksRouter(keys: SigningKeys): Router {
  // The set cannot change while the process runs: serialise it once.
  const body = JSON.stringify(keys.publicJwks());
  const router = Router();
  router.get(JWKS_PATH, (_req, res) => {
    res
      .status(200)
      .set('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      .set('Access-Control-Allow-Origin', '*')
      .type('application/jwk-set+json')
      .send(body);
  });
  return router;
}
