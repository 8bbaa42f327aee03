/** The sandbox platform's API: customer messages through ingest, the phone's inbox by polling and by SSE. */
import { createSandboxConnector, type SandboxConnector, type SandboxItem } from '../../../connectors/sandbox/sandbox.connector';
import type { Conversation } from '../../../src/messages';
import { keys } from '../../../src/store/keys';
import { buildParts, redisStore, startApp, testCipher, threadOf, uniqueDigits, type App, type Parts } from '../support/gateway-parts';

async function postMessage(app: App, body: unknown): Promise<Response> {
  return fetch(`${app.url}/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('sandbox connector (/sandbox/api)', () => {
  let parts: Parts;
  let sandbox: SandboxConnector;
  let app: App;

  beforeAll(async () => {
    parts = await buildParts();
    sandbox = createSandboxConnector(parts.ctx);
    app = await startApp([sandbox]);
  });
  afterAll(async () => {
    await app.close();
    await parts.store.close();
  });

  it('a customer message goes through ingest into a sandbox conversation; a repeated id is stored once', async () => {
    const from = `tester-${uniqueDigits(6)}`;
    const first = await postMessage(app, { from, text: 'I want to move money', platform: 'whatsapp', id: 'c1' });
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ duplicate: false });
    expect(await (await postMessage(app, { from, text: 'I want to move money', id: 'c1' })).json()).toEqual({ duplicate: true });
    expect((await threadOf(parts.store, 'sandbox', from)).map((m) => [m.channel, m.text])).toEqual([['sandbox', 'I want to move money']]);
  });

  it('refuses malformed messages with 400 problem JSON', async () => {
    for (const body of [{ text: 'no sender' }, { from: 'a b', text: 'bad id' }, { from: 'ok', text: '' }, { from: 'ok', text: 'x', platform: 'telegram' }]) {
      const res = await postMessage(app, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'GW_ERR_VALIDATION' });
    }
  });

  it('what the gateway sends shows on the phone, oldest first, with `after` paging; the stored log is sealed', async () => {
    const user = `phone-${uniqueDigits(6)}`;
    const { conversation } = await parts.store.openConversation('sandbox', user);
    const url = 'https://gw.example/secure/#t=token-in-a-link';
    await sandbox.send(conversation, 'Hello from the bank');
    await sandbox.sendInvite(conversation, { url, reason: 'Continue in our secure chat.' });

    const res = await fetch(`${app.url}/sandbox/api/messages?user=${user}`);
    const page = (await res.json()) as { items: SandboxItem[]; next: string };
    expect(page.items.map(({ kind, text, url: link }) => ({ kind, text, url: link }))).toEqual([
      { kind: 'text', text: 'Hello from the bank', url: undefined },
      { kind: 'invite', text: 'Continue in our secure chat.', url },
    ]);
    const after = (await (await fetch(`${app.url}/sandbox/api/messages?user=${user}&after=${page.items[0]!.id}`)).json()) as { items: SandboxItem[] };
    expect(after.items.map((i) => i.kind)).toEqual(['invite']);
    const raw = await parts.store.readLog(keys.sandboxInbox(user), undefined, 10);
    expect(raw.map((e) => e.value).join()).not.toContain('token-in-a-link');
  });

  it('streams new items as Server-Sent Events', async () => {
    const user = `sse-${uniqueDigits(6)}`;
    const { conversation } = await parts.store.openConversation('sandbox', user);
    const controller = new AbortController();
    const res = await fetch(`${app.url}/sandbox/api/events?user=${user}`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    await sandbox.send(conversation as Conversation, 'live');
    let text = '';
    while (!text.includes('event: message')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    controller.abort();
    const data = text.split('\n').find((line) => line.startsWith('data: '));
    expect(JSON.parse(data!.slice('data: '.length))).toMatchObject({ kind: 'text', text: 'live' });
  });

  it('answers 503 when the message cannot be stored', async () => {
    const cipher = testCipher();
    const broken = await redisStore(cipher);
    const brokenParts = await buildParts({}, broken, cipher);
    const brokenApp = await startApp([createSandboxConnector(brokenParts.ctx)]);
    await broken.close();
    try {
      const res = await postMessage(brokenApp, { from: 'someone', text: 'hello' });
      expect(res.status).toBe(503);
    } finally {
      await brokenApp.close();
    }
  });

  it('does not exist in production', async () => {
    const production = await buildParts({
      NODE_ENV: 'production',
      REDIS_URL: process.env.TEST_REDIS_URL,
      PIVOT_SIGNING_KEYS: '{"keys":[{"kty":"OKP"}]}',
      DATA_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
      ADVISOR_JWKS_URL: 'https://idp.example/jwks',
      ADVISOR_ISSUER: 'https://idp.example',
      ADVISOR_AUDIENCE: 'pivot',
    });
    expect(() => createSandboxConnector(production.ctx)).toThrow(/development feature/);
    await production.store.close();
  });
});
