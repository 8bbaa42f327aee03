/**
 * What every webhook router shares: reading the raw body once (signatures are
 * computed over the exact bytes, before any parsing), constant-time
 * comparison, and handing the parsed events to the core in delivery order.
 *
 * Answer policy (PRODUCT.md): 401 for a bad or missing signature (nothing is
 * stored), 413 over the size limit, 400 for a signed payload we cannot read
 * (a retry would not help), 503 only when storing failed, so the platform
 * redelivers and nothing is lost. A partly stored batch is safe to redeliver:
 * ingest deduplicates by platform message id.
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler } from 'express';
import { GatewayError } from '../src/errors';
import type { DeliveryStatus, InboundMessage } from '../src/messages';
import type { ConnectorContext } from './connector';

/** One thing a delivery told us, in payload order. */
export type WebhookEvent =
  | { kind: 'message'; inbound: InboundMessage }
  | { kind: 'status'; platformMessageId: string; status: DeliveryStatus; error?: string };

/** '256kb', '1mb', '512b' or a plain number of bytes → bytes (what `rawBody` limits accept). */
export function limitBytes(limit: string): number {
  const match = /^(\d+)\s*(b|kb|mb)?$/i.exec(limit.trim());
  if (!match) throw new Error(`unreadable body limit ${JSON.stringify(limit)}`);
  const unit = (match[2] ?? 'b').toLowerCase();
  return Number(match[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
}

/** An error shaped like body-parser's (`type`, `status`), so `errorHandler` answers it the same way. */
function bodyError(message: string, type: string): Error {
  return Object.assign(new Error(message), { status: 400, statusCode: 400, expose: true, type });
}

/**
 * Reads the body as bytes whatever its content type; over `limit` answers 413
 * through the error handler.
 *
 * The common case (identity encoding, a Content-Length within the limit, an
 * unread stream) is read here directly: the exact bytes, no decoding, at a
 * fraction of body-parser's cost per request. Anything else (compressed or
 * chunked bodies, an announced length over the limit) goes through
 * `express.raw`, which inflates, enforces the limit while reading and answers
 * 413/415 as before.
 */
export function rawBody(limit: string): RequestHandler {
  const max = limitBytes(limit);
  const general = express.raw({ type: () => true, limit });
  return (req, res, next) => {
    const length = req.headers['content-length'];
    const encoding = req.headers['content-encoding'];
    const declared = length !== undefined && /^\d{1,15}$/.test(length) ? Number(length) : -1;
    if (declared < 0 || declared > max || (encoding !== undefined && encoding.toLowerCase() !== 'identity') || req.readableEnded || req.readableFlowing !== null) {
      general(req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    // The listeners stay attached once settled (the flag makes them no-ops): the
    // request is dropped after its answer anyway, and taking four listeners off
    // on every webhook is measurable work for nothing.
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) {
        next(err);
        return;
      }
      req.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received);
      next();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => settle(received === declared ? undefined : bodyError('request size did not match content length', 'request.size.invalid'));
    // 'close' comes on every request once it is answered: no error is built (a stack trace each time) unless still reading.
    const onError = (err: Error) => {
      if (!settled) settle(bodyError(err.message, 'request.aborted'));
    };
    const onClose = () => {
      if (!settled) settle(bodyError('request aborted', 'request.aborted'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  };
}

/**
 * The raw bytes `rawBody` read. A router mounted behind a global body parser
 * would see parsed objects instead: that is a wiring bug, reported as one.
 */
export function bodyBytes(req: Request): Buffer {
  if (Buffer.isBuffer(req.body)) return req.body;
  if (req.body === undefined || (typeof req.body === 'object' && req.body !== null && Object.keys(req.body as object).length === 0)) return Buffer.alloc(0);
  throw new GatewayError('GW_ERR_INTERNAL', 'webhook routers must be mounted before any body parser');
}

/** Constant-time equality of two strings; different lengths are unequal without comparing (lengths are not secret here). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Hands each event to the core, one after the other so a thread keeps the
 * platform's order. Rejects (→ 503) on the first failure to store; what was
 * stored before it deduplicates on the redelivery.
 */
export async function deliverEvents(ctx: ConnectorContext, events: WebhookEvent[]): Promise<{ stored: number; duplicates: number; statuses: number }> {
  let stored = 0;
  let duplicates = 0;
  let statuses = 0;
  for (const event of events) {
    if (event.kind === 'message') {
      const { duplicate } = await ctx.ingest(event.inbound);
      if (duplicate) duplicates++;
      else stored++;
    } else {
      await ctx.outboxStatus(event.platformMessageId, event.status, event.error);
      statuses++;
    }
  }
  return { stored, duplicates, statuses };
}

/**
 * What to answer when ingest rejected: its own GatewayError when it gave one
 * (GW_ERR_STORE_UNAVAILABLE → 503), and 503 for anything unexpected, since an
 * unknown failure means "not stored" and the platform must redeliver.
 */
export function notStored(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'the message could not be stored', { cause: err });
}

/** Placeholder text for a media message: the type, never the media itself (it may show a card). */
export function mediaPlaceholder(type: string, caption?: string): string {
  const label = `[${type.toLowerCase().replace(/[^a-z_]/g, '') || 'attachment'}]`;
  return caption ? `${label} ${caption}` : label;
}

/** Unix seconds or milliseconds → ISO 8601; undefined when absent or nonsense. */
export function isoTime(value: unknown, unit: 's' | 'ms'): string | undefined {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  if (!Number.isFinite(n) || n <= 0) return undefined;
  const date = new Date(unit === 's' ? n * 1000 : n);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

// Reading untrusted JSON without `any`: each accessor answers undefined for the wrong shape.
export type Json = Record<string, unknown>;
export function asRecord(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}
export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}
