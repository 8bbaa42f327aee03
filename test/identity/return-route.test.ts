/**
 * The return route alone (its step-up dependency given as the interface it
 * takes): whatever the step-up does, the person is sent back to the page and
 * the one-time cookie is cleared. The whole flow runs in stepup.test.ts.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { identityRouter } from '../../src/identity/return.route';
import { silentLogger } from '../../src/ops/logger';

async function serve(complete: () => Promise<unknown>) {
  const app = express();
  app.use('/secure', identityRouter({ identity: { complete: complete as never, pageUrl: 'https://gw.example/secure/', cookiePath: '/secure/return' }, config: { publicUrl: 'https://gw.example' }, log: silentLogger() }));
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('GET /secure/return', () => {
  test.each([
    ['completes', async () => ({ ok: true })],
    ['throws (the session ended during the exchange, or the store failed)', async () => Promise.reject(new Error('session gone'))],
  ])('when the step-up %s: 303 to the page, the cookie cleared, nothing cached', async (_what, complete) => {
    const app = await serve(complete);
    try {
      const res = await fetch(`${app.url}/secure/return?code=abc&state=def`, { redirect: 'manual', headers: { cookie: 'pg_stepup=k' } });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('https://gw.example/secure/');
      expect(res.headers.get('set-cookie')).toMatch(/^pg_stepup=; Path=\/secure\/return; Max-Age=0; HttpOnly; SameSite=Lax; Secure$/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    } finally {
      await app.close();
    }
  });
});
