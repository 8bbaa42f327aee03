/**
 * The HTTP layer's error answers: every error becomes RFC 9457 problem JSON
 * with the `code` member. Known errors keep their status; body-parser's own
 * errors become 400/413/415; anything else is logged and answered as
 * GW_ERR_INTERNAL without detail (no stack or message leaks to callers).
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { GatewayError, isGatewayError, toProblem } from './errors';
import type { Logger } from './ops/logger';

export function sendProblem(res: Response, err: GatewayError, instance?: string): void {
  res.status(err.status).type('application/problem+json').send(JSON.stringify(toProblem(err, instance)));
}

/**
 * body-parser / raw-body errors carry `type` and `status`. Some carry only
 * the status (a body that fails to inflate, a path that is not valid
 * percent-encoding): http-errors marks the first `expose: true`, the router
 * throws a URIError with status 400 for the second; both are the client's
 * fault, never a 500. Other errors with a numeric
 * `status` (a platform's answer to one of our calls) are not mapped here.
 */
function fromBodyParser(err: unknown): GatewayError | undefined {
  const { type, status, expose } = (err ?? {}) as { type?: unknown; status?: unknown; expose?: unknown };
  const clientError = (expose === true || err instanceof URIError) && typeof status === 'number' && status >= 400 && status < 500;
  if (type === 'entity.too.large' || (clientError && status === 413)) return new GatewayError('GW_ERR_PAYLOAD_TOO_LARGE');
  if (type === 'entity.parse.failed') return new GatewayError('GW_ERR_BAD_REQUEST', 'the body is not valid JSON');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported' || (clientError && status === 415)) return new GatewayError('GW_ERR_UNSUPPORTED_MEDIA_TYPE');
  if (type === 'request.aborted' || type === 'stream.encoding.set') return new GatewayError('GW_ERR_BAD_REQUEST', 'the body could not be read');
  if (clientError) return new GatewayError('GW_ERR_BAD_REQUEST', 'the request could not be read');
  return undefined;
}

export function notFoundHandler(): RequestHandler {
  return (req, res) => sendProblem(res, new GatewayError('GW_ERR_NOT_FOUND', `${req.method} ${req.path}`));
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  const log = logger.child({ component: 'http' });
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = isGatewayError(err) ? err : fromBodyParser(err);
    if (known) {
      if (known.status >= 500) log.warn({ code: known.code, method: req.method, path: req.path }, 'request failed');
      sendProblem(res, known, req.path);
      return;
    }
    log.error({ err, method: req.method, path: req.path }, 'unexpected error');
    sendProblem(res, new GatewayError('GW_ERR_INTERNAL'), req.path);
  };
}
