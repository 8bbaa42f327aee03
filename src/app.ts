/**
 * The Express application: which routes exist and in what order.
 *
 * Webhook routers are mounted first, before helmet and the JSON body parser:
 * they read their own raw bodies (signatures are computed over the exact
 * bytes) and they are the hot path, so global middleware stays off them.
 * Everything else gets helmet's headers; pages that handle tokens add their
 * own stricter CSP, `Cache-Control: no-store` and `Referrer-Policy: no-referrer`.
 */
import express, { type Express, type Router } from 'express';
import helmet from 'helmet';
import type { Config } from './config';
import { errorHandler, notFoundHandler } from './http-errors';
import { httpMetrics } from './ops/http-metrics';
import type { Logger } from './ops/logger';
import type { Metrics } from './ops/metrics';

export interface MountedRouter {
  path: string;
  router: Router;
}

export interface HttpAppParts {
  config: Config;
  logger: Logger;
  /** /healthz, /readyz, /metrics */
  ops: Router;
  /** Platform webhooks: raw bodies, no global middleware. */
  webhooks: MountedRouter[];
  /** Everything else (JWKS, advisor API, pages), in order. */
  routes: MountedRouter[];
  /** Request durations by route group, when given. */
  metrics?: Metrics;
}

/** Largest JSON body the API accepts; larger answers 413. */
export const JSON_BODY_LIMIT = '64kb';

export function createHttpApp(parts: HttpAppParts): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (parts.config.trustProxy !== undefined) app.set('trust proxy', parts.config.trustProxy);

  if (parts.metrics) app.use(httpMetrics(parts.metrics));
  app.use(parts.ops);
  for (const { path, router } of parts.webhooks) app.use(path, router);

  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          formAction: ["'self'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
        },
      },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: parts.config.publicUrl.startsWith('https://') ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    }),
  );
  app.use(express.json({ limit: JSON_BODY_LIMIT, type: ['application/json', 'application/*+json'] }));
  for (const { path, router } of parts.routes) app.use(path, router);

  app.use(notFoundHandler());
  app.use(errorHandler(parts.logger));
  return app;
}
