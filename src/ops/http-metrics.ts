/**
 * Request duration of every HTTP route as `pg_http_request_duration_seconds`,
 * labelled by route group (the first path segment, from a fixed list so a
 * scanner's random paths cannot grow the label set) and status class.
 */
import type { RequestHandler } from 'express';
import type { Metrics } from './metrics';

const GROUPS = new Set(['webhooks', 'api', 'secure', 'console', 'sandbox', '.well-known', 'healthz', 'readyz', 'metrics', 'socket.io']);

/** `/webhooks/twilio` → `webhooks`; anything unlisted → `other`. */
export function routeGroupOf(path: string): string {
  const first = path.split('/', 2)[1] ?? '';
  return GROUPS.has(first) ? first : 'other';
}

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpDuration.observe({ route: routeGroupOf(req.originalUrl), status: `${Math.floor(res.statusCode / 100)}xx` }, seconds);
    });
    next();
  };
}
