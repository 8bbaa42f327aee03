/**
 * The advisor REST API on a real gateway (real Redis), with advisor tokens
 * signed by a key the gateway learns only through ADVISOR_JWKS_URL (a local
 * HTTP server playing the bank's IdP).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { Gateway } from '../../src/gateway';
import type { Conversation } from '../../src/messages';
import { startTestGateway } from '../support/gateway-harness';

const ISSUER = 'https://idp.bank.example';
const AUDIENCE = 'pivot-gateway';

describe('advisor REST API', () => {
  let idp: Server;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  let gateway: Gateway;
  let token: string;

  const sign = (signing: CryptoKey, claims: { sub?: string; exp?: string | number; aud?: string } = {}) =>
    new SignJWT({ name: 'Alex Advisor' })
      .setProtectedHeader({ alg: 'ES256', kid: 'adv-1' })
      .setIssuer(ISSUER)
      .setAudience(claims.aud ?? AUDIENCE)
      .setSubject(claims.sub ?? 'advisor-7')
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? '10m')
      .sign(signing);

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'adv-1', alg: 'ES256', use: 'sig' }] });
    idp = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    gateway = await startTestGateway({
      ADVISOR_JWKS_URL: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`,
      ADVISOR_ISSUER: ISSUER,
      ADVISOR_AUDIENCE: AUDIENCE,
    });
    token = await sign(key);
  });
  afterAll(async () => {
    await gateway.close();
    await new Promise<void>((resolve) => idp.close(() => resolve()));
  });

  const api = (path: string, init: RequestInit & { bearer?: string | null; json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (init.bearer !== null) headers.set('authorization', `Bearer ${init.bearer ?? token}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${gateway.url}/api${path}`, { ...init, headers, body: init.json === undefined ? init.body : JSON.stringify(init.json) });
  };

  /** A sandbox conversation with `n` customer messages, through the real ingest. */
  async function conversationWith(n: number): Promise<Conversation> {
    const from = `+1555${Math.floor(Math.random() * 1e7).toString().padStart(7, '0')}`;
    let conversation: Conversation | undefined;
    for (let i = 0; i < n; i++) {
      conversation = (await gateway.services.ingest({ channel: 'sandbox', externalUserId: from, platformMessageId: randomUUID(), text: `hello ${i}` })).conversation;
    }
    return conversation!;
  }

  test('authentication: missing, malformed, foreign-key, wrong-audience and expired tokens get 401 problem JSON', async () => {
    const bad = [null, 'not-a-jwt', await sign(otherKey), await sign(key, { aud: 'someone-else' }), await sign(key, { exp: Math.floor(Date.now() / 1000) - 60 })];
    for (const bearer of bad) {
      const res = await api('/conversations', { bearer });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 401, code: 'GW_ERR_UNAUTHENTICATED' });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    }
    expect((await api('/conversations')).status).toBe(200);
  });

  test('a path that is not valid percent-encoding answers 400 problem JSON, never 500', async () => {
    const res = await api('/conversations/%E0%A4%A');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'GW_ERR_BAD_REQUEST' });
  });

  test('conversations: newest activity first, paged by cursor, filtered by status, with validated queries', async () => {
    const older = await conversationWith(1);
    const newer = await conversationWith(1);
    const first = await (await api('/conversations?status=open&limit=1')).json();
    expect(first.items.map((c: Conversation) => c.id)).toEqual([newer.id]);
    expect(first.next).toEqual(expect.any(String));
    const second = await (await api(`/conversations?status=open&limit=1&cursor=${encodeURIComponent(first.next)}`)).json();
    expect(second.items.map((c: Conversation) => c.id)).toEqual([older.id]);
    expect(second.items[0]).toMatchObject({ channel: 'sandbox', status: 'open', secure: 'none', externalUserId: older.externalUserId });

    for (const query of ['limit=0', 'limit=201', 'limit=abc', 'status=gone', 'unknown=1']) {
      const res = await api(`/conversations?${query}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_VALIDATION' });
    }
    const one = await api(`/conversations/${older.id}`);
    expect(await one.json()).toMatchObject({ id: older.id, channel: 'sandbox' });
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const missing = await api(`/conversations/${id}`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: 'GW_ERR_CONVERSATION_NOT_FOUND' });
    }
  });

  test('messages: oldest first, paged with after', async () => {
    const conversation = await conversationWith(5);
    const page = await (await api(`/conversations/${conversation.id}/messages?limit=2`)).json();
    expect(page.items.map((m: { text: string }) => m.text)).toEqual(['hello 0', 'hello 1']);
    expect(page.next).toBe(page.items[1].id);
    const rest = await (await api(`/conversations/${conversation.id}/messages?after=${page.next}&limit=50`)).json();
    expect(rest.items.map((m: { text: string }) => m.text)).toEqual(['hello 2', 'hello 3', 'hello 4']);
    expect(rest.next).toBeNull();
    expect(rest.items[0]).toMatchObject({ conversationId: conversation.id, author: 'customer', channel: 'sandbox', createdAt: expect.any(String) });
    expect((await api(`/conversations/${conversation.id}/messages?after=bogus`)).status).toBe(400);
  });

  test('reply on the public channel, with its guard rail against card numbers, IBANs and account numbers', async () => {
    const conversation = await conversationWith(1);
    const sent = await api(`/conversations/${conversation.id}/messages`, { method: 'POST', json: { text: 'Happy to help!' } });
    expect(sent.status).toBe(201);
    const { message } = await sent.json();
    expect(message).toMatchObject({ author: 'advisor', channel: 'sandbox', text: 'Happy to help!' });

    for (const text of ['Your card 4111 1111 1111 1111 is ready', 'Send it to DE89 3704 0044 0532 0130 00', 'your account number is 12345678']) {
      const refused = await api(`/conversations/${conversation.id}/messages`, { method: 'POST', json: { text } });
      expect(refused.status).toBe(422);
      expect(await refused.json()).toMatchObject({ code: 'GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL' });
    }
    const thread = await (await api(`/conversations/${conversation.id}/messages`)).json();
    expect(thread.items.map((m: { text: string }) => m.text)).toEqual(['hello 0', 'Happy to help!']);

    for (const body of [{}, { text: '' }, { text: '   ' }, { text: 'x'.repeat(5000) }, { text: 'hi', extra: 1 }, { text: 42 }]) {
      const res = await api(`/conversations/${conversation.id}/messages`, { method: 'POST', json: body });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_VALIDATION' });
    }
  });

  test('Idempotency-Key: a retry returns the first answer and stores one message; another body with the key is a 409', async () => {
    const conversation = await conversationWith(1);
    const key = randomUUID();
    const post = (text: string) => api(`/conversations/${conversation.id}/messages`, { method: 'POST', json: { text }, headers: { 'Idempotency-Key': key } });
    const first = await post('Only once please');
    const again = await post('Only once please');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await again.json()).message.id).toBe((await first.json()).message.id);
    const conflict = await post('Something else');
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ code: 'GW_ERR_IDEMPOTENCY_CONFLICT' });
    const thread = await (await api(`/conversations/${conversation.id}/messages`)).json();
    expect(thread.items.filter((m: { text: string }) => m.text === 'Only once please')).toHaveLength(1);
  });

  test('Idempotency-Key: a retry that lands on another node gets the first answer, and one message is stored', async () => {
    // Two nodes of one deployment: same Redis, same data key (stored answers are sealed with it), same IdP.
    const shared = {
      ADVISOR_JWKS_URL: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`,
      ADVISOR_ISSUER: ISSUER,
      ADVISOR_AUDIENCE: AUDIENCE,
      DATA_ENCRYPTION_KEYS: `api-nodes:${randomBytes(32).toString('base64')}`,
    };
    const [one, two] = [await startTestGateway(shared), await startTestGateway(shared)];
    try {
      const { conversation } = await one.services.ingest({ channel: 'sandbox', externalUserId: `+1555${Date.now() % 10_000_000}`, platformMessageId: randomUUID(), text: 'hello' });
      const key = randomUUID();
      const post = (node: Gateway) => fetch(`${node.url}/api/conversations/${conversation.id}/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Idempotency-Key': key }, body: JSON.stringify({ text: 'Sent once, retried elsewhere' }) });
      const first = await post(one);
      const retried = await post(two);
      expect([first.status, retried.status]).toEqual([201, 201]);
      expect(retried.headers.get('idempotent-replayed')).toBe('true');
      expect((await retried.json()).message.id).toBe((await first.json()).message.id);
      const thread = await two.services.store.readLatestMessages(conversation.id, 50);
      expect(thread.messages.filter((m) => m.text === 'Sent once, retried elsewhere')).toHaveLength(1);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  test('the audit trail pages by cursor: the pages together are the whole trail, in order, once', async () => {
    const conversation = await conversationWith(1);
    for (const action of ['pivot', 'lock', 'unlock', 'close'] as const) {
      const res = await api(`/conversations/${conversation.id}/${action}`, { method: 'POST', ...(action === 'pivot' ? { json: { intent: 'trade' } } : {}) });
      expect(res.status).toBe(action === 'pivot' ? 201 : 200);
    }
    const whole = await (await api(`/conversations/${conversation.id}/audit`)).json();
    expect(whole.items.length).toBeGreaterThanOrEqual(4);
    const paged: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { items: unknown[]; next: string | null } = await (await api(`/conversations/${conversation.id}/audit?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.items);
      cursor = page.next;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(pages).toBeGreaterThan(1);
    expect(paged).toEqual(whole.items);
    const unknown = await api(`/conversations/${randomUUID()}/audit`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'GW_ERR_CONVERSATION_NOT_FOUND' });
  });

  test('pivot, lock, unlock, close and the audit trail', async () => {
    const conversation = await conversationWith(1);
    const pivot = await api(`/conversations/${conversation.id}/pivot`, { method: 'POST', json: { intent: 'transfer_funds' } });
    expect(pivot.status).toBe(201);
    const body = await pivot.json();
    expect(body).toEqual({ pivotId: expect.any(String), url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:3999\/secure\/#t=ey/), expiresAt: expect.any(String) });
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
    expect(await (await api(`/conversations/${conversation.id}`)).json()).toMatchObject({ secure: 'invited' });

    for (const intent of ['none', 'steal_money', 42]) {
      expect((await api(`/conversations/${conversation.id}/pivot`, { method: 'POST', json: { intent } })).status).toBe(400);
    }

    const locked = await api(`/conversations/${conversation.id}/lock`, { method: 'POST' });
    expect(locked.status).toBe(200);
    expect(await locked.json()).toMatchObject({ id: conversation.id, secure: 'locked' });
    const refused = await api(`/conversations/${conversation.id}/pivot`, { method: 'POST', json: { intent: 'view_account' } });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'GW_ERR_CONVERSATION_LOCKED' });
    expect(await (await api(`/conversations/${conversation.id}/unlock`, { method: 'POST' })).json()).toMatchObject({ secure: 'none' });

    const closed = await api(`/conversations/${conversation.id}/close`, { method: 'POST' });
    expect(await closed.json()).toMatchObject({ status: 'closed' });
    const late = await api(`/conversations/${conversation.id}/messages`, { method: 'POST', json: { text: 'hello?' } });
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ code: 'GW_ERR_CONVERSATION_CLOSED' });

    const audit = await (await api(`/conversations/${conversation.id}/audit`)).json();
    // What an advisor changed is audited with where the request came from.
    for (const type of ['pivot_issued', 'locked', 'unlocked', 'closed']) {
      expect(audit.items.find((e: { type: string }) => e.type === type)).toMatchObject({ actor: { kind: 'advisor', id: 'advisor-7' }, client: { ip: expect.stringMatching(/127\.0\.0\.1/), userAgent: expect.any(String) } });
    }
    const types = audit.items.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['pivot_issued', 'locked', 'unlocked', 'closed']));
    expect(types.indexOf('pivot_issued')).toBeLessThan(types.indexOf('locked'));
    expect(JSON.stringify(audit)).not.toContain(body.url.split('#t=')[1]);
    expect(audit.next).toBeNull();
  });
});

describe('advisor REST API while the IdP is unreachable', () => {
  test('a well-formed token gets 503 GW_ERR_IDP_UNAVAILABLE, not 401: an outage is not a bad token', async () => {
    // A port that was just free and is closed again: nothing answers the JWKS fetch.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const gateway = await startTestGateway({ ADVISOR_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, ADVISOR_ISSUER: ISSUER, ADVISOR_AUDIENCE: AUDIENCE });
    try {
      const { privateKey } = await generateKeyPair('ES256');
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'adv-1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('advisor-7').setIssuedAt().setExpirationTime('10m').sign(privateKey);
      const res = await fetch(`${gateway.url}/api/conversations`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_IDP_UNAVAILABLE' });
    } finally {
      await gateway.close();
    }
  });
});
