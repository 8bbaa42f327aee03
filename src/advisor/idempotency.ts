/**
 * `Idempotency-Key` for the advisor API's POSTs. The record lives in the
 * store (not in this process), so a retry that lands on another node gets the
 * first answer. The stored answer can hold message text, so it is sealed with
 * the store's TextCipher like every other piece of text at rest.
 *
 * One key, one request: the same key with another method, path or body is a
 * 409 (`GW_ERR_IDEMPOTENCY_CONFLICT`), as is a retry while the first attempt
 * is still running.
 */
import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GatewayError } from '../errors';
import { keys } from '../store/keys';
import type { Store } from '../store/store';
import type { TextCipher } from '../store/text-cipher';

const RECORD_TTL_SECONDS = 24 * 3600;
/** A crashed first attempt frees its key after this long. */
const PENDING_TTL_SECONDS = 60;

interface Record {
  state: 'pending' | 'done';
  fingerprint: string;
  sealed?: string;
}

export function idempotency(deps: { store: Store; cipher: TextCipher; scopeOf: (req: Request) => string }): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const key = req.get('Idempotency-Key');
    if (req.method !== 'POST' || key === undefined) {
      next();
      return;
    }
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      next(new GatewayError('GW_ERR_VALIDATION', 'Idempotency-Key must be 1-255 visible ASCII characters'));
      return;
    }
    const scope = deps.scopeOf(req);
    const storeKey = keys.idempotency(scope, createHash('sha256').update(key).digest('base64url'));
    const fingerprint = createHash('sha256').update(`${req.method} ${req.originalUrl}\n${JSON.stringify(req.body ?? null)}`).digest('base64url');
    const pending: Record = { state: 'pending', fingerprint };

    try {
      if (!(await deps.store.setIfAbsent(storeKey, JSON.stringify(pending), PENDING_TTL_SECONDS))) {
        const found = JSON.parse((await deps.store.get(storeKey)) ?? 'null') as Record | null;
        if (!found) {
          next(new GatewayError('GW_ERR_IDEMPOTENCY_CONFLICT', 'the first request with this key just expired; retry'));
          return;
        }
        if (found.fingerprint !== fingerprint) {
          next(new GatewayError('GW_ERR_IDEMPOTENCY_CONFLICT', 'this Idempotency-Key was used for a different request'));
          return;
        }
        if (found.state === 'pending' || !found.sealed) {
          next(new GatewayError('GW_ERR_IDEMPOTENCY_CONFLICT', 'the first request with this key is still in progress'));
          return;
        }
        const replay = JSON.parse(deps.cipher.decrypt(found.sealed, storeKey)) as { status: number; body: unknown };
        res.set('Idempotent-Replayed', 'true').status(replay.status).json(replay.body);
        return;
      }
    } catch (err) {
      next(err);
      return;
    }

    // Record the answer when it is a success; any other outcome (an error
    // answered as problem JSON, a dropped connection) frees the key so the
    // client may retry.
    let recorded = false;
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      if (status >= 400) return json(body);
      recorded = true;
      const record: Record = { state: 'done', fingerprint, sealed: deps.cipher.encrypt(JSON.stringify({ status, body }), storeKey) };
      deps.store.set(storeKey, JSON.stringify(record), RECORD_TTL_SECONDS).then(
        () => json(body),
        (err: unknown) => next(err),
      );
      return res;
    };
    res.on('close', () => {
      if (!recorded) deps.store.delete(storeKey).catch(() => undefined);
    });
    next();
  };
}
