/**
 * Identity step-up against a real OpenID provider (oidc-provider on a free
 * port) and a whole gateway: authorization code + PKCE, the return on
 * `/secure/return`, the tier per policy, the link to the bank's customer,
 * the assertion the bank verifies, and every refusal issue 8 names.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { ConversationChange } from '../../src/conversation-events';
import { ADA, BOB, EVE } from '../support/oidc-provider';
import { api, auditTypes, connect, newConversation, pivotToken, returnTo, signInAt, startWorld, stepUp, stepUpOf, until, type Customer, type StepUpWorld } from './harness';

jest.setTimeout(60_000);

let world: StepUpWorld;
const alerts: ConversationChange[] = [];

beforeAll(async () => {
  // A long idle lifetime, so the 30-minute cap of tier 4 shows.
  world = await startWorld({ env: { SESSION_IDLE_SECONDS: '3600' } });
  world.gateway.services.events.subscribe((change) => {
    if (change.event === 'alert') alerts.push(change);
  });
});

afterAll(async () => {
  await world?.close();
});

const seconds = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 1000);

/** The audit entries of one type (and reason) of a conversation. */
async function audited(conversationId: string, type: string, reason?: string) {
  return (await auditTypes(world, conversationId)).filter((e) => e.type === type && (reason === undefined || e.reason === reason));
}

async function openTransfer(): Promise<{ conversationId: string; customer: Customer }> {
  const conversation = await newConversation(world);
  return { conversationId: conversation.id, customer: await connect(world, { pivotToken: await pivotToken(world, conversation, 'transfer_funds') }) };
}

describe('a transfer (tier 4) with a multi-factor sign-in', () => {
  test('stepup_required → provider → /secure/return → tier 4, an assertion, a linked identity; the chat goes on', async () => {
    const conversation = await newConversation(world);
    const customer = await connect(world, { pivotToken: await pivotToken(world, conversation, 'transfer_funds') });
    expect(customer.session.tier).toBe(1);
    expect(seconds(new Date().toISOString(), customer.session.expiresAt)).toBeGreaterThan(1800);
    const payload = await stepUpOf(customer);
    expect(payload).toMatchObject({ tier: 4, reason: 'identity_required' });
    expect(payload.returnKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const authorization = new URL(payload.url!);
    expect(authorization.origin).toBe(world.idp!.issuer);
    expect(Object.fromEntries(authorization.searchParams)).toMatchObject({
      response_type: 'code',
      scope: 'openid',
      client_id: world.idp!.client.clientId,
      redirect_uri: `${world.base}/secure/return`,
      code_challenge_method: 'S256',
      max_age: String(12 * 3600),
    });
    expect(authorization.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(authorization.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(authorization.searchParams.get('acr_values')).toContain('phr');

    const { returned, resumed } = await stepUp(world, customer, ADA);
    expect(returned.status).toBe(303);
    expect(returned.headers.get('location')).toBe(`${world.base}/secure/`);
    expect(returned.headers.get('cache-control')).toBe('no-store');
    expect(returned.headers.get('referrer-policy')).toBe('no-referrer');
    expect(returned.headers.getSetCookie().join(';')).toContain('pg_stepup=;');

    expect(resumed.session.tier).toBe(4);
    // Tier 4 idles out after 30 minutes (SESSION_IDLE_SECONDS is an hour here).
    expect(seconds(new Date().toISOString(), resumed.session.expiresAt)).toBeLessThanOrEqual(1800);
    await until(() => resumed.assertions.length > 0, 'assertion');
    expect(resumed.stepUps).toEqual([]);
    // Tier 4 for a transfer: multi-factor, but no consent step, and the assertion says both (a bank checking a trade looks at `consent`).
    expect(decodeJwt(resumed.assertions[0]!.assertion)).toMatchObject({ sub: ADA.sub, tier: 4, intent: 'transfer_funds', consent: false, amr: ADA.amr, conversation: conversation.id, channel: 'sms', externalUserId: conversation.externalUserId });

    const ack = await resumed.socket.timeout(5000).emitWithAck('message', { text: 'Please send 50 to my savings', clientMessageId: 'c-transfer-0001' });
    expect(ack.ok).toBe(true);

    // The bank verifies an assertion from the API against the gateway's JWKS.
    const fromApi = await api<{ assertion: string; expiresAt: string }>(world, `/conversations/${conversation.id}/assertion`);
    expect(fromApi.status).toBe(200);
    const { payload: verified, protectedHeader } = await jwtVerify(fromApi.body.assertion, createRemoteJWKSet(new URL(`${world.base}/.well-known/jwks.json`)), {
      issuer: world.base,
      audience: `${world.base}/assertion`,
      typ: 'pivot-assertion+jwt',
    });
    expect(protectedHeader).toMatchObject({ typ: 'pivot-assertion+jwt', kid: world.gateway.services.keys.signing().kid });
    expect(verified).toMatchObject({ sub: ADA.sub, idp: world.idp!.issuer, amr: ['pwd', 'otp'], acr: ADA.acr, tier: 4, conversation: conversation.id, channel: 'sms' });
    expect(typeof verified.auth_time).toBe('number');
    expect(typeof verified.jti).toBe('string');
    expect(verified.exp! - verified.iat!).toBe(300);
    // A pivot-token verifier must never accept it: another `typ`, another audience.
    await expect(world.gateway.services.tokens.verify(fromApi.body.assertion)).rejects.toThrow();

    const described = await api<{ identity: Record<string, unknown> }>(world, `/conversations/${conversation.id}`);
    expect(described.body.identity).toMatchObject({ stepUp: { available: true, issuer: world.idp!.issuer }, verified: { subject: ADA.sub, mfa: true, fresh: true, tier: 4, amr: ['pwd', 'otp'] }, linkedCustomer: { subject: ADA.sub } });

    const audit = await auditTypes(world, conversation.id);
    expect(audit.map((e) => e.type)).toEqual(expect.arrayContaining(['stepped_up', 'identity_linked', 'assertion_issued']));
    expect(audit.find((e) => e.type === 'stepped_up')).toMatchObject({ tier: 4, detail: { subject: ADA.sub, amr: 'pwd otp' } });
    expect(JSON.stringify(audit)).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    resumed.close();
  });

  test('a later conversation of the same platform user shows "linked to customer" before any step-up', async () => {
    const first = await newConversation(world);
    const customer = await connect(world, { pivotToken: await pivotToken(world, first, 'update_profile') });
    const { resumed } = await stepUp(world, customer, ADA);
    resumed.close();
    const closed = await world.gateway.services.store.updateConversation(first.id, { status: 'closed' });
    const later = (await world.gateway.services.store.openConversation('sms', closed.externalUserId)).conversation;
    expect(later.id).not.toBe(first.id);
    const described = await api<{ identity: { linkedCustomer?: { subject: string; conversationId: string }; verified?: unknown } }>(world, `/conversations/${later.id}`);
    expect(described.body.identity.linkedCustomer).toMatchObject({ subject: ADA.sub, conversationId: first.id });
    expect(described.body.identity.verified).toBeUndefined();
  });
});

describe('refused', () => {
  test('a login without MFA for tier 4: stays at tier 2 and is told why (a fresh login is asked for)', async () => {
    const { conversationId, customer } = await openTransfer();
    const { resumed } = await stepUp(world, customer, BOB);
    expect(resumed.session.tier).toBe(2);
    const again = await stepUpOf(resumed);
    expect(again).toMatchObject({ tier: 4, reason: 'mfa_required' });
    expect(again.message).toMatch(/second factor/);
    expect(new URL(again.url!).searchParams.get('prompt')).toBe('login');
    expect(await audited(conversationId, 'stepup_refused', 'mfa_missing')).toHaveLength(1);
    // The bank can see what was proven: tier 2, no MFA.
    const fromApi = await api<{ assertion: string }>(world, `/conversations/${conversationId}/assertion`);
    expect(decodeJwt(fromApi.body.assertion)).toMatchObject({ sub: BOB.sub, tier: 2, amr: ['pwd'] });
    resumed.close();
  });

  test('an ID token with a wrong nonce', async () => {
    const { conversationId, customer } = await openTransfer();
    world.idp!.tamperNextIdToken({ nonce: 'n'.repeat(43) });
    const { resumed } = await stepUp(world, customer, ADA);
    expect(resumed.session.tier).toBe(1);
    expect(await audited(conversationId, 'stepup_refused', 'id_token_invalid')).toEqual([expect.objectContaining({ detail: { cause: 'nonce' } })]);
    expect(await stepUpOf(resumed)).toMatchObject({ reason: 'failed' });
    expect(await audited(conversationId, 'stepped_up')).toEqual([]);
    resumed.close();
  });

  test('an ID token for another audience', async () => {
    const { conversationId, customer } = await openTransfer();
    world.idp!.tamperNextIdToken({ aud: 'some-other-client' });
    const { resumed } = await stepUp(world, customer, ADA);
    expect(resumed.session.tier).toBe(1);
    expect(await audited(conversationId, 'stepup_refused', 'id_token_invalid')).toEqual([expect.objectContaining({ detail: { cause: 'aud' } })]);
    resumed.close();
  });

  test('an expired ID token', async () => {
    const { conversationId, customer } = await openTransfer();
    const now = Math.floor(Date.now() / 1000);
    world.idp!.tamperNextIdToken({ iat: now - 7200, exp: now - 3600 });
    const { resumed } = await stepUp(world, customer, ADA);
    expect(resumed.session.tier).toBe(1);
    expect(await audited(conversationId, 'stepup_refused', 'id_token_invalid')).toEqual([expect.objectContaining({ detail: { cause: 'exp' } })]);
    resumed.close();
  });

  test('a replayed state: the second return is refused and audited, the first stands', async () => {
    const { conversationId, customer } = await openTransfer();
    const payload = await stepUpOf(customer);
    const returnUrl = await signInAt(world, payload, ADA);
    expect((await returnTo(returnUrl, payload.returnKey)).status).toBe(303);
    const replay = await returnTo(returnUrl, payload.returnKey);
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe(`${world.base}/secure/`);
    expect(await audited(conversationId, 'stepup_refused', 'state_replayed')).toHaveLength(1);
    expect(await audited(conversationId, 'stepped_up')).toHaveLength(1);
    customer.close();
  });

  test('a second tab\'s older sign-in coming back weaker (password after multi-factor) keeps what the session proved', async () => {
    const { conversationId, customer } = await openTransfer();
    const secondTab = await connect(world, { sessionToken: customer.session.sessionToken });
    const [first, second] = [await stepUpOf(customer), await stepUpOf(secondTab)];
    expect((await returnTo(await signInAt(world, first, ADA), first.returnKey)).status).toBe(303); // multi-factor: tier 4
    const weaker = await signInAt(world, second, ADA);
    world.idp!.tamperNextIdToken({ amr: ['pwd'], acr: 'urn:test:loa:pwd' });
    expect((await returnTo(weaker, second.returnKey)).status).toBe(303);
    customer.close();
    secondTab.close();

    const later = await connect(world, { sessionToken: customer.session.sessionToken });
    expect(later.session.tier).toBe(4);
    await until(() => later.assertions.length > 0, 'assertion');
    expect(decodeJwt(later.assertions[0]!.assertion)).toMatchObject({ tier: 4, amr: ADA.amr });
    expect(later.stepUps).toEqual([]);
    expect((await audited(conversationId, 'stepped_up')).map((e) => e.tier)).toEqual([4]);
    expect(await audited(conversationId, 'stepup_refused', 'weaker_than_proven')).toHaveLength(1);
    later.close();
  });

  test('a return to another browser (no return-key cookie): a step-up link sent to someone else raises nothing', async () => {
    const { conversationId, customer } = await openTransfer();
    const payload = await stepUpOf(customer);
    const returnUrl = await signInAt(world, payload, ADA);
    await returnTo(returnUrl, undefined);
    expect(await audited(conversationId, 'stepup_refused', 'browser_mismatch')).toHaveLength(1);
    expect((await world.gateway.services.sessions.get((await audited(conversationId, 'session_opened'))[0]!.sessionId!))?.tier).toBe(1);
    // And the state is spent: the right browser cannot finish it afterwards either.
    await returnTo(returnUrl, payload.returnKey);
    expect(await audited(conversationId, 'stepup_refused', 'state_replayed')).toHaveLength(1);
    customer.close();
  });

  test('an unknown state changes nothing', async () => {
    const response = await fetch(`${world.base}/secure/return?code=abc&state=${'s'.repeat(43)}`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${world.base}/secure/`);
  });

  test('the person cancels at the provider (access_denied): told so, nothing raised', async () => {
    const { conversationId, customer } = await openTransfer();
    const payload = await stepUpOf(customer);
    const state = new URL(payload.url!).searchParams.get('state')!;
    customer.close();
    await returnTo(new URL(`${world.base}/secure/return?error=access_denied&state=${state}&iss=${encodeURIComponent(world.idp!.issuer)}`), payload.returnKey);
    expect(await audited(conversationId, 'stepup_refused', 'idp_error')).toEqual([expect.objectContaining({ detail: { cause: 'access_denied' } })]);
    const resumed = await connect(world, { sessionToken: customer.session.sessionToken });
    expect(await stepUpOf(resumed)).toMatchObject({ reason: 'cancelled' });
    resumed.close();
  });

  test('a different bank customer than the linked one: refused, alert, the link stands', async () => {
    const conversation = await newConversation(world);
    const first = await connect(world, { pivotToken: await pivotToken(world, conversation, 'transfer_funds') });
    (await stepUp(world, first, ADA)).resumed.close();

    const second = await connect(world, { pivotToken: await pivotToken(world, conversation, 'transfer_funds') });
    const { resumed } = await stepUp(world, second, EVE);
    expect(resumed.session.tier).toBe(1);
    expect(await stepUpOf(resumed)).toMatchObject({ reason: 'identity_mismatch' });
    expect(alerts).toContainEqual(expect.objectContaining({ event: 'alert', reason: 'identity_mismatch', conversation: expect.objectContaining({ id: conversation.id }) }));
    expect(await audited(conversation.id, 'stepup_refused', 'identity_mismatch')).toHaveLength(1);
    const described = await api<{ identity: { linkedCustomer: { subject: string } } }>(world, `/conversations/${conversation.id}`);
    expect(described.body.identity.linkedCustomer.subject).toBe(ADA.sub);
    resumed.close();
  });

  test('authentication older than the policy allows must be redone', async () => {
    const { conversationId, customer } = await openTransfer();
    const { resumed } = await stepUp(world, customer, ADA);
    expect(resumed.session.tier).toBe(4);
    resumed.close();
    // Thirteen hours ago (the policy allows twelve): as if the session had been kept busy all day.
    const sessionId = (await audited(conversationId, 'session_opened'))[0]!.sessionId!;
    const identity = (await world.gateway.services.sessions.get(sessionId))!.identity!;
    await world.gateway.services.sessions.raiseTier(sessionId, 4, { ...identity, authTime: new Date(Date.now() - 13 * 3600_000).toISOString() });

    const stale = await connect(world, { sessionToken: customer.session.sessionToken });
    const again = await stepUpOf(stale);
    expect(again).toMatchObject({ tier: 4, reason: 'reauthentication_required' });
    expect(new URL(again.url!).searchParams.get('prompt')).toBe('login');
    expect(stale.assertions).toEqual([]);
    expect((await api(world, `/conversations/${conversationId}/assertion`)).status).toBe(404);

    const { resumed: fresh } = await stepUp(world, stale, ADA);
    await until(() => fresh.assertions.length > 0, 'assertion');
    expect(fresh.stepUps).toEqual([]);
    fresh.close();
  });
});

describe('tier 3: consent in the page', () => {
  test('refused before the identity step, then shown with the advisor summary, acknowledged and audited', async () => {
    const conversation = await newConversation(world);
    await world.gateway.services.store.appendMessage(conversation.id, { author: 'advisor', channel: 'sms', text: 'Sell 10 ACME shares at market price, fee 4.90' });
    const customer = await connect(world, { pivotToken: await pivotToken(world, conversation, 'trade') });
    expect(await stepUpOf(customer)).toMatchObject({ tier: 3, reason: 'identity_required' });

    const early = await customer.socket.timeout(5000).emitWithAck('consent', { consentId: 'c'.repeat(22), accept: true });
    expect(early).toEqual({ ok: false, error: 'stepup_required' });
    expect(await audited(conversation.id, 'stepup_refused', 'consent_before_identity')).toHaveLength(1);

    // A password is enough for a trade: tier 2, then the consent step.
    const { resumed } = await stepUp(world, customer, BOB);
    expect(resumed.session.tier).toBe(2);
    await until(() => resumed.consents.length > 0, 'consent_required');
    const asked = resumed.consents[0]!;
    expect(asked).toMatchObject({ tier: 3, intent: 'trade', summary: 'Sell 10 ACME shares at market price, fee 4.90' });
    expect(resumed.stepUps).toEqual([]);

    expect(await resumed.socket.timeout(5000).emitWithAck('consent', { consentId: 'x'.repeat(22), accept: true })).toEqual({ ok: false, error: 'consent_expired' });
    expect(await resumed.socket.timeout(5000).emitWithAck('consent', { consentId: asked.consentId } as never)).toEqual({ ok: false, error: 'invalid_request' });
    const accepted = await resumed.socket.timeout(5000).emitWithAck('consent', { consentId: asked.consentId, accept: true });
    expect(accepted).toEqual({ ok: true, tier: 3 });
    await until(() => resumed.assertions.some((a) => decodeJwt(a.assertion).tier === 3), 'assertion at tier 3');
    expect(decodeJwt(resumed.assertions.find((a) => decodeJwt(a.assertion).tier === 3)!.assertion)).toMatchObject({ intent: 'trade', consent: true });

    const [consent] = await audited(conversation.id, 'consent');
    expect(consent).toMatchObject({ intent: 'trade', tier: 3, sessionId: expect.any(String), detail: { consentId: asked.consentId, at: expect.any(String) } });
    resumed.close();

    const later = await connect(world, { sessionToken: customer.session.sessionToken });
    expect(later.session.tier).toBe(3);
    await until(() => later.assertions.length > 0, 'assertion');
    expect(later.consents).toEqual([]);
    expect(later.stepUps).toEqual([]);
    later.close();
  });

  test('a consent for an intent that asks for none is refused', async () => {
    const { conversationId, customer } = await openTransfer();
    expect(await customer.socket.timeout(5000).emitWithAck('consent', { consentId: 'c'.repeat(22), accept: true })).toEqual({ ok: false, error: 'not_expected' });
    expect(await audited(conversationId, 'stepup_refused', 'consent_not_expected')).toHaveLength(1);
    customer.close();
  });
});

describe('without CUSTOMER_IDP_*', () => {
  let bare: StepUpWorld;
  const bareAlerts: ConversationChange[] = [];

  beforeAll(async () => {
    bare = await startWorld({ idp: false });
    bare.gateway.services.events.subscribe((change) => {
      if (change.event === 'alert') bareAlerts.push(change);
    });
  });

  afterAll(async () => {
    await bare?.close();
  });

  test('stepup_required says plainly that tiers >= 2 cannot complete; advisors see why', async () => {
    const conversation = await newConversation(bare);
    const customer = await connect(bare, { pivotToken: await pivotToken(bare, conversation, 'card_payment') });
    const payload = await stepUpOf(customer);
    expect(payload).toEqual({ tier: 2, reason: 'unavailable', message: expect.stringMatching(/tier 2 or higher cannot be completed here/) });
    expect(payload.url).toBeUndefined();

    const described = await api<{ identity: { stepUp: { available: boolean; reason: string } } }>(bare, `/conversations/${conversation.id}`);
    expect(described.body.identity.stepUp).toEqual({ available: false, reason: expect.stringMatching(/CUSTOMER_IDP_ISSUER.*tiers 2-4 cannot complete/) });
    const [refusal] = (await auditTypes(bare, conversation.id)).filter((e) => e.type === 'stepup_refused');
    expect(refusal).toMatchObject({ reason: 'stepup_unavailable', tier: 2 });
    expect(bareAlerts).toContainEqual(expect.objectContaining({ reason: 'stepup_unavailable' }));

    const assertion = await api<{ code: string }>(bare, `/conversations/${conversation.id}/assertion`);
    expect(assertion).toEqual({ status: 501, body: expect.objectContaining({ code: 'GW_ERR_STEPUP_UNAVAILABLE' }) });
    // The chat itself goes on: the advisor can help another way.
    expect((await customer.socket.timeout(5000).emitWithAck('message', { text: 'What now?', clientMessageId: 'c-bare-00001' })).ok).toBe(true);
    customer.close();
  });

  test('a tier 1 pivot needs no step-up', async () => {
    const conversation = await newConversation(bare);
    const customer = await connect(bare, { pivotToken: await pivotToken(bare, conversation, 'view_account') });
    expect((await customer.socket.timeout(5000).emitWithAck('message', { text: 'balance?', clientMessageId: 'c-bare-00002' })).ok).toBe(true);
    expect(customer.stepUps).toEqual([]);
    customer.close();
  });
});
