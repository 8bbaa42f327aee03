import { startTestGateway } from '../support/gateway-harness';
import { startRedisServer } from '../support/redis-server';
import type { Gateway } from '../../src/gateway';

describe('operations endpoints and HTTP errors', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'ops-test-auth-token', TWILIO_FROM: '+14155550100' });
  });
  afterAll(async () => {
    await gateway.close();
  });

  test('liveness, readiness and Prometheus metrics', async () => {
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', store: 'redis' });
    const metrics = await fetch(`${gateway.url}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('pg_inbound_messages_total');
    // Read from the Redis inbox at scrape time: a number, not NaN (nothing waits for a relay here).
    expect(text).toMatch(/^pg_inbox_backlog \d+$/m);
    // Request durations by route group and status class: the requests above were answered, so they are counted.
    expect(text).toMatch(/^pg_http_request_duration_seconds_count\{route="healthz",status="2xx"\} [1-9]\d*$/m);
  });

  test('pivots minted are counted by intent and issuer', async () => {
    const { conversation } = await gateway.services.store.openConversation('sandbox', `+1555${Date.now() % 10_000_000}`);
    const token = await gateway.services.advisorAuth.mintDevToken('advisor-ops', undefined, 600);
    const pivot = await fetch(`${gateway.url}/api/conversations/${conversation.id}/pivot`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ intent: 'trade' }) });
    expect(pivot.status).toBe(201);
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(text).toMatch(/^pg_pivots_issued_total\{intent="trade",by="advisor"\} 1$/m);
  });

  test('unknown routes answer 404 problem JSON', async () => {
    const res = await fetch(`${gateway.url}/no/such/route`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 404, code: 'GW_ERR_NOT_FOUND', title: 'No such resource' });
  });

  test('oversize and malformed JSON bodies answer 413 and 400 problem JSON, never 500', async () => {
    const big = await fetch(`${gateway.url}/api/conversations/x/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'x'.repeat(200_000) }) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: 'GW_ERR_PAYLOAD_TOO_LARGE' });
    const bad = await fetch(`${gateway.url}/api/conversations/x/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text": ' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'GW_ERR_BAD_REQUEST' });
  });

  test('a body that does not inflate, or an unknown encoding, answers 400 / 415 problem JSON on the API and on webhooks, never 500', async () => {
    const junk = 'this is not gzip';
    for (const [path, type] of [
      ['/api/conversations/x/messages', 'application/json'],
      ['/webhooks/twilio', 'application/x-www-form-urlencoded'],
    ] as const) {
      const gzip = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': type, 'content-encoding': 'gzip' }, body: junk });
      expect([path, gzip.status, gzip.headers.get('content-type')]).toEqual([path, 400, expect.stringContaining('application/problem+json')]);
      expect(await gzip.json()).toMatchObject({ code: 'GW_ERR_BAD_REQUEST' });
      const unknown = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': type, 'content-encoding': 'x-unheard-of' }, body: junk });
      expect([path, unknown.status]).toEqual([path, 415]);
      expect(await unknown.json()).toMatchObject({ code: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE' });
    }
  });

  test('a path that is not valid percent-encoding answers 400 problem JSON, never 500', async () => {
    for (const path of ['/secure/%E0%A4%A']) {
      const res = await fetch(`${gateway.url}${path}`);
      expect([path, res.status]).toEqual([path, 400]);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_BAD_REQUEST' });
    }
  });

  test('helmet headers and a strict CSP on pages', async () => {
    const res = await fetch(`${gateway.url}/secure/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('readiness follows the store', () => {
  test('/readyz answers 503 when Redis stops, 200 again when it is back', async () => {
    const redis = await startRedisServer();
    const gateway = await startTestGateway({ REDIS_URL: redis.url });
    try {
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
      await redis.stop('SIGKILL');
      const down = await fetch(`${gateway.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: 'store_unavailable', store: 'redis' });
      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);

      const again = await startRedisServer(redis.port);
      try {
        const deadline = Date.now() + 25_000; // ioredis reconnects with a backoff of at most 2 s
        let status = 0;
        while (Date.now() < deadline && status !== 200) {
          status = (await fetch(`${gateway.url}/readyz`)).status;
          if (status !== 200) await new Promise((r) => setTimeout(r, 200));
        }
        expect(status).toBe(200);
      } finally {
        await gateway.close();
        await again.stop();
      }
    } finally {
      await redis.stop();
    }
  }, 60_000);
});
