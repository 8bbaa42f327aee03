/** Liveness, readiness and metrics: what a load balancer and Prometheus call. */
import { Router } from 'express';
import type { Store } from '../store/store';
import type { Metrics } from './metrics';

export function opsRouter(deps: { store: Store; metrics: Metrics; isShuttingDown: () => boolean }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  // Ready only while the store answers and the process is not draining, so a
  // load balancer stops routing here before shutdown closes the listener.
  router.get('/readyz', async (_req, res) => {
    if (deps.isShuttingDown()) {
      res.status(503).json({ status: 'shutting_down' });
      return;
    }
    try {
      await deps.store.ping();
      res.status(200).json({ status: 'ready', store: deps.store.kind });
    } catch {
      res.status(503).json({ status: 'store_unavailable', store: deps.store.kind });
    }
  });
  router.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  return router;
}
