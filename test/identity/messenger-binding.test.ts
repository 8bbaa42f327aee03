/**
 * Messenger background binding: the page inside Messenger's webview sends
 * the Messenger Extensions `signed_request`; the gateway checks it the way
 * Meta signs it (HMAC-SHA256 of the base64url payload with the app secret),
 * its algorithm, its `issued_at`, and that its `psid` is the conversation's.
 */
import { createHmac } from 'node:crypto';
import { signRequest, verifySignedRequest, SIGNED_REQUEST_MAX_AGE_SECONDS } from '../../src/identity/messenger-binding';
import { api, auditTypes, connect, newConversation, pivotToken, startWorld, until, type StepUpWorld } from './harness';

jest.setTimeout(60_000);

const APP_SECRET = 'messenger-app-secret-for-tests';
const APP_ID = '1234567890123456';
const PSID = '24681357902468135';
const now = () => Math.floor(Date.now() / 1000);
const context = (overrides: Record<string, unknown> = {}) => ({ algorithm: 'HMAC-SHA256', issued_at: now(), psid: PSID, page_id: '998877', thread_type: 'USER_TO_PAGE', tid: PSID, ...overrides });

describe('verifySignedRequest', () => {
  test('accepts what Meta signs', () => {
    const verdict = verifySignedRequest(signRequest(context(), APP_SECRET), APP_SECRET, Date.now());
    expect(verdict).toEqual({ ok: true, context: { psid: PSID, pageId: '998877', threadType: 'USER_TO_PAGE', issuedAt: expect.any(Number) } });
  });

  test('the signature is HMAC-SHA256 over the base64url payload text, base64url without padding', () => {
    const payload = Buffer.from(JSON.stringify(context())).toString('base64url');
    const signature = createHmac('sha256', APP_SECRET).update(payload).digest('base64url');
    expect(verifySignedRequest(`${signature}.${payload}`, APP_SECRET, Date.now()).ok).toBe(true);
  });

  test('refuses another secret, a changed payload, another algorithm, an old or future issued_at, and garbage', () => {
    expect(verifySignedRequest(signRequest(context(), 'another-secret'), APP_SECRET, Date.now())).toEqual({ ok: false, error: 'signature_invalid' });
    const [signature] = signRequest(context(), APP_SECRET).split('.');
    const tampered = `${signature}.${Buffer.from(JSON.stringify(context({ psid: '1111' }))).toString('base64url')}`;
    expect(verifySignedRequest(tampered, APP_SECRET, Date.now())).toEqual({ ok: false, error: 'signature_invalid' });
    expect(verifySignedRequest(signRequest(context({ algorithm: 'none' }), APP_SECRET), APP_SECRET, Date.now())).toEqual({ ok: false, error: 'signature_invalid' });
    expect(verifySignedRequest(signRequest(context({ issued_at: now() - SIGNED_REQUEST_MAX_AGE_SECONDS - 5 }), APP_SECRET), APP_SECRET, Date.now())).toEqual({ ok: false, error: 'expired' });
    expect(verifySignedRequest(signRequest(context({ issued_at: now() + 600 }), APP_SECRET), APP_SECRET, Date.now())).toEqual({ ok: false, error: 'expired' });
    expect(verifySignedRequest(signRequest(context({ psid: undefined }), APP_SECRET), APP_SECRET, Date.now())).toEqual({ ok: false, error: 'invalid_request' });
    for (const garbage of ['', 'abc', 'a.b.c', `${'x'.repeat(5000)}.y`, 'not base64!.x']) {
      expect(verifySignedRequest(garbage, APP_SECRET, Date.now())).toEqual({ ok: false, error: 'invalid_request' });
    }
  });
});

describe('binding a secure session opened from Messenger', () => {
  let world: StepUpWorld;

  beforeAll(async () => {
    world = await startWorld({
      idp: false,
      env: {
        MESSENGER_APP_SECRET: APP_SECRET,
        MESSENGER_VERIFY_TOKEN: 'verify-token',
        MESSENGER_PAGE_ACCESS_TOKEN: 'page-token',
        MESSENGER_APP_ID: APP_ID,
        // Nothing leaves the machine: the session-opened notice goes to a closed local port.
        META_GRAPH_URL: 'http://127.0.0.1:9/v24.0',
      },
    });
  });

  afterAll(async () => {
    await world?.close();
  });

  async function openMessengerSession(psid = PSID) {
    const conversation = await newConversation(world, 'messenger', psid);
    const customer = await connect(world, { pivotToken: await pivotToken(world, conversation, 'view_account') });
    await until(() => customer.bindingRequests.length > 0, 'binding_requested');
    return { conversation, customer };
  }

  test('the page is asked for its Messenger context; a valid signed_request for the right psid binds', async () => {
    const { conversation, customer } = await openMessengerSession(PSID);
    expect(customer.bindingRequests).toEqual([{ platform: 'messenger', appId: APP_ID }]);
    const ack = await customer.socket.timeout(5000).emitWithAck('binding', { platform: 'messenger', signedRequest: signRequest(context({ psid: PSID }), APP_SECRET) });
    expect(ack).toEqual({ ok: true });
    const [entry] = (await auditTypes(world, conversation.id)).filter((e) => e.type === 'binding');
    expect(entry).toMatchObject({ sessionId: expect.any(String), detail: { platform: 'messenger', psid: PSID } });
    const described = await api<{ identity: { binding: { platform: string; psid: string } } }>(world, `/conversations/${conversation.id}`);
    expect(described.body.identity.binding).toMatchObject({ platform: 'messenger', psid: PSID });
    customer.close();

    // Bound: a reconnect is not asked again.
    const resumed = await connect(world, { sessionToken: customer.session.sessionToken });
    expect((await resumed.socket.timeout(5000).emitWithAck('message', { text: 'hello', clientMessageId: 'c-bound-00001' })).ok).toBe(true);
    expect(resumed.bindingRequests).toEqual([]);
    resumed.close();
  });

  test.each([
    ['a wrong signature', (psid: string) => signRequest(context({ psid }), 'not-the-app-secret'), 'signature_invalid'],
    ['an old issued_at', (psid: string) => signRequest(context({ psid, issued_at: now() - 3600 }), APP_SECRET), 'expired'],
    ['another psid (a forwarded link)', () => signRequest(context({ psid: '99999999999' }), APP_SECRET), 'psid_mismatch'],
  ])('%s is refused and audited', async (_name, build, error) => {
    const psid = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
    const { conversation, customer } = await openMessengerSession(psid);
    const signedRequest = build(psid);
    const ack = await customer.socket.timeout(5000).emitWithAck('binding', { platform: 'messenger', signedRequest });
    expect(ack).toEqual({ ok: false, error });
    const audit = await auditTypes(world, conversation.id);
    expect(audit.filter((e) => e.type === 'binding_refused')).toEqual([expect.objectContaining({ reason: error })]);
    expect(audit.some((e) => e.type === 'binding')).toBe(false);
    customer.close();
  });

  test('a session of another platform cannot bind', async () => {
    const conversation = await newConversation(world, 'sms');
    const customer = await connect(world, { pivotToken: await pivotToken(world, conversation, 'view_account') });
    expect(await customer.socket.timeout(5000).emitWithAck('binding', { platform: 'messenger', signedRequest: signRequest(context(), APP_SECRET) })).toEqual({ ok: false, error: 'unavailable' });
    expect(customer.bindingRequests).toEqual([]);
    customer.close();
  });
});
