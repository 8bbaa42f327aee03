import { base64url, type JWK } from 'jose';
import { generateJwkSet } from '../../src/pivot/keys';
import { socketErrorOf } from '../../src/pivot/refusals';
import { keys as storeKeys } from '../../src/store/keys';
import type { RedisStore } from '../../src/store/redis.store';
import { buildPivotGateway, newConversation, outcome, PUBLIC_URL, randomClient, tally, type PivotGateway, type StoreKind } from '../support/pivot-fixtures';

/** ES256 signatures are (r, s); (r, n - s) verifies too. The curve order of P-256: */
const P256_ORDER = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

function malleate(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const sig = base64url.decode(s);
  const sValue = BigInt(`0x${Buffer.from(sig.slice(32)).toString('hex')}`);
  const flipped = Buffer.from((P256_ORDER - sValue).toString(16).padStart(64, '0'), 'hex');
  return `${h}.${p}.${base64url.encode(new Uint8Array([...sig.slice(0, 32), ...flipped]))}`;
}

const refusal = (attempt: Promise<unknown>) => outcome(attempt, socketErrorOf);

describe.each([
  ['redis', 'auto'],
  ['redis', 'store-primitives'],
  ['memory', 'auto'],
] as Array<[StoreKind, 'auto' | 'store-primitives']>)('pivot ledger on the %s store (%s steps)', (kind, atomicSteps) => {
  let jwks: { keys: JWK[] };
  let gw: PivotGateway;

  beforeAll(async () => {
    jwks = await generateJwkSet('ES256');
    gw = await buildPivotGateway({ kind, jwks, atomicSteps });
  });
  afterAll(async () => {
    await gw.close();
  });
  beforeEach(() => {
    gw.clock.now = Date.now();
    gw.changes.length = 0;
    gw.revocations.length = 0;
  });

  test('issue → redeem opens a secure session on the token\'s conversation', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'transfer_funds', { kind: 'advisor', id: 'adv-7' });
    expect(pivot).toMatchObject({ intent: 'transfer_funds', tier: 4, url: `${PUBLIC_URL}/secure/#t=${pivot.token}`, pivotId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
    expect(Date.parse(pivot.expiresAt) - gw.clock.now).toBeLessThanOrEqual(120_000);
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('invited');
    expect(await gw.ledger.hasValidInvite(conversation.id)).toBe(true);
    expect(await gw.ledger.record(conversation.id, pivot.pivotId)).toMatchObject({ state: 'issued', conversationId: conversation.id, issuedBy: { kind: 'advisor', id: 'adv-7' } });

    const client = randomClient();
    const redeemed = await gw.ledger.redeem(pivot.token, client);
    expect(redeemed).toMatchObject({ conversationId: conversation.id, intent: 'transfer_funds', tier: 4, jti: pivot.pivotId });
    expect(redeemed.session.sessionToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(redeemed.session.session).toMatchObject({ conversationId: conversation.id, tier: 1, intent: 'transfer_funds', client });
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('active');
    expect(await gw.ledger.hasValidInvite(conversation.id)).toBe(false);
    const record = await gw.ledger.record(conversation.id, pivot.pivotId);
    expect(record).toMatchObject({ state: 'redeemed', redeemedAt: expect.any(String) });
    expect(JSON.stringify(record)).not.toContain(client.ip);
    expect(gw.changes.map((c) => c.event)).toEqual(['pivot_sent', 'pivot_redeemed']);
    // The conversation published with each event is the store's, as the step left it.
    expect(gw.changes[0]!.conversation).toEqual({ ...(await gw.store.getConversation(conversation.id)), secure: 'invited' });
    expect(gw.changes[1]!.conversation).toEqual(await gw.store.getConversation(conversation.id));

    const audit = (await gw.audit.list(conversation.id, undefined, 50)).items;
    expect(audit.map((e) => e.type)).toEqual(['pivot_issued', 'pivot_redeemed', 'session_opened']);
    expect(audit[0]).toMatchObject({ pivotId: pivot.pivotId, intent: 'transfer_funds', tier: 4, actor: { kind: 'advisor', id: 'adv-7' } });
    expect(audit[1]).toMatchObject({ pivotId: pivot.pivotId, client, intent: 'transfer_funds', sessionId: redeemed.session.session.id });
    expect(audit[2]).toMatchObject({ sessionId: redeemed.session.session.id, client });
    expect(JSON.stringify(audit)).not.toContain(pivot.token);
    expect(JSON.stringify(audit)).not.toContain(redeemed.session.sessionToken);
  });

  test('the ledger record lives as long as the token still verifies (its lifetime plus the clock tolerance)', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'withdraw', { kind: 'bot' });
    if (kind === 'redis') {
      const ttl = await (gw.store as RedisStore).redis.ttl(storeKeys.pivot(conversation.id, pivot.pivotId));
      // withdraw is tier 4: a 120 s link; the verifier accepts it 5 s past exp, so the record must outlive that.
      expect(ttl).toBeGreaterThan(120 + gw.tokens.clockToleranceSeconds - 5);
      expect(ttl).toBeLessThanOrEqual(120 + gw.tokens.clockToleranceSeconds + 1);
    } else {
      expect(await gw.store.get(storeKeys.pivot(conversation.id, pivot.pivotId))).toBeDefined();
    }
  });

  test('a GET-like verify consumes nothing; only redeem does', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    await gw.tokens.verify(pivot.token);
    await gw.tokens.verify(pivot.token);
    expect(await refusal(gw.ledger.redeem(pivot.token, randomClient()))).toBe('ok');
  });

  test('expired token → token_expired, audited on its conversation', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'withdraw', { kind: 'bot' });
    gw.clock.now += 130_000;
    expect(await refusal(gw.ledger.redeem(pivot.token, randomClient()))).toBe('token_expired');
    const audit = (await gw.audit.list(conversation.id, undefined, 50)).items;
    expect(audit[audit.length - 1]).toMatchObject({ type: 'pivot_refused', reason: 'token_expired', pivotId: pivot.pivotId });
    expect(gw.changes.at(-1)).toMatchObject({ event: 'pivot_refused', reason: 'token_expired' });
  });

  test('a malleated (high-S) ES256 signature of a redeemed token verifies, and is token_used: single use is keyed on jti', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const client = randomClient();
    await gw.ledger.redeem(pivot.token, client);
    const twin = malleate(pivot.token);
    expect(twin).not.toBe(pivot.token);
    await expect(gw.tokens.verify(twin)).resolves.toMatchObject({ jti: pivot.pivotId });
    expect(await refusal(gw.ledger.redeem(twin, client))).toBe('token_used');
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('active');
  });

  test('a malleated signature of an unredeemed token redeems it once, and then the original is used', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const client = randomClient();
    expect(await refusal(gw.ledger.redeem(malleate(pivot.token), client))).toBe('ok');
    expect(await refusal(gw.ledger.redeem(pivot.token, client))).toBe('token_used');
  });

  test('a valid token whose ledger record was revoked → token_invalid (a newer pivot revokes the older)', async () => {
    const conversation = await newConversation(gw.store);
    const first = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const second = await gw.ledger.issue(conversation.id, 'update_profile', { kind: 'advisor', id: 'a1' });
    expect(await gw.ledger.record(conversation.id, first.pivotId)).toMatchObject({ state: 'revoked', revokedReason: 'superseded' });
    expect(await refusal(gw.ledger.redeem(first.token, randomClient()))).toBe('token_invalid');
    expect(await gw.ledger.revokeOutstanding(conversation.id)).toBe(second.pivotId);
    expect(await gw.ledger.hasValidInvite(conversation.id)).toBe(false);
    expect(await refusal(gw.ledger.redeem(second.token, randomClient()))).toBe('token_invalid');
    const types = (await gw.audit.list(conversation.id, undefined, 50)).items.map((e) => e.type);
    expect(types.filter((t) => t === 'pivot_revoked')).toHaveLength(2);
  });

  test('a new pivot after a redeemed one leaves the redeemed record alone, and still revokes the next unredeemed one', async () => {
    const conversation = await newConversation(gw.store);
    const first = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    await gw.ledger.redeem(first.token, randomClient());
    const second = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    expect(await gw.ledger.record(conversation.id, first.pivotId)).toMatchObject({ state: 'redeemed' });
    expect(await gw.ledger.hasValidInvite(conversation.id)).toBe(true);
    const third = await gw.ledger.issue(conversation.id, 'update_profile', { kind: 'advisor', id: 'a1' });
    expect(await gw.ledger.record(conversation.id, second.pivotId)).toMatchObject({ state: 'revoked', revokedReason: 'superseded' });
    expect(await gw.ledger.record(conversation.id, third.pivotId)).toMatchObject({ state: 'issued' });
    const revoked = (await gw.audit.list(conversation.id, undefined, 50)).items.filter((e) => e.type === 'pivot_revoked');
    expect(revoked.map((e) => e.pivotId)).toEqual([second.pivotId]);
  });

  test('a token with no ledger record (minted but never issued) → token_invalid', async () => {
    const conversation = await newConversation(gw.store);
    const { token } = await gw.tokens.mint({ conversationId: conversation.id, intent: 'view_account', ttlSeconds: 60 });
    expect(await refusal(gw.ledger.redeem(token, randomClient()))).toBe('token_invalid');
  });

  test('a handshake naming another conversation than the token\'s sub → token_invalid, and consumes nothing', async () => {
    const mine = await newConversation(gw.store);
    const other = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(mine.id, 'view_account', { kind: 'bot' });
    const client = randomClient();
    expect(await refusal(gw.ledger.redeem(pivot.token, client, { expectedConversationId: other.id }))).toBe('token_invalid');
    expect((await gw.store.getConversation(other.id))?.secure).toBe('none');
    const redeemed = await gw.ledger.redeem(pivot.token, client, { expectedConversationId: mine.id });
    expect(redeemed.conversationId).toBe(mine.id);
  });

  test('a closed conversation gets no pivot, and its outstanding link stops working', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    await gw.store.updateConversation(conversation.id, { status: 'closed' });
    await expect(gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' })).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_CLOSED' });
    expect(await refusal(gw.ledger.redeem(pivot.token, randomClient()))).toBe('token_invalid');
    await expect(gw.ledger.issue('no-such-conversation', 'view_account', { kind: 'bot' })).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_NOT_FOUND' });
  });

  test('the same client reopening its redeemed link gets token_used and nothing locks', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const client = randomClient();
    const { session } = await gw.ledger.redeem(pivot.token, client);
    expect(await refusal(gw.ledger.redeem(pivot.token, { ...client }))).toBe('token_used');
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('active');
    await expect(gw.sessions.resume(session.sessionToken, client)).resolves.toMatchObject({ conversationId: conversation.id });
    const types = (await gw.audit.list(conversation.id, undefined, 50)).items.map((e) => e.type);
    expect(types).not.toContain('replay_alarm');
    expect(types).not.toContain('locked');
    expect(gw.changes.map((c) => c.event)).not.toContain('alert');
  });

  test.each([
    ['another IP', (c: { ip: string; userAgent: string }) => ({ ...c, ip: randomClient().ip })],
    ['another user agent', (c: { ip: string; userAgent: string }) => ({ ...c, userAgent: 'curl/8.5.0' })],
  ])('replay of a redeemed token from %s: alarm, lock, sessions end; unlock restores', async (_name, other) => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const client = randomClient();
    const { session } = await gw.ledger.redeem(pivot.token, client);
    const attacker = other(client);

    expect(await refusal(gw.ledger.redeem(pivot.token, attacker))).toBe('token_used');
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('locked');
    expect(gw.changes.map((c) => [c.event, c.reason])).toEqual(expect.arrayContaining([['locked', 'pivot_replayed'], ['alert', 'pivot_replayed']]));
    expect(gw.revocations).toEqual([{ conversationId: conversation.id, sessionIds: [session.session.id], reason: 'locked' }]);
    expect(await refusal(gw.sessions.resume(session.sessionToken, client))).toBe('conversation_locked') // the lock ended it, and the page says so;
    const audit = (await gw.audit.list(conversation.id, undefined, 50)).items;
    expect(audit.find((e) => e.type === 'replay_alarm')).toMatchObject({ pivotId: pivot.pivotId, client: attacker, reason: 'pivot_replayed' });
    expect(audit.find((e) => e.type === 'locked')).toMatchObject({ actor: { kind: 'system' }, reason: 'pivot_replayed' });

    // While locked: no new pivot, no redemption, for anyone.
    await expect(gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' })).rejects.toMatchObject({ code: 'GW_ERR_CONVERSATION_LOCKED' });
    expect(await refusal(gw.ledger.redeem(pivot.token, client))).toBe('conversation_locked');

    await gw.ledger.unlock(conversation.id, { kind: 'advisor', id: 'adv-1' });
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('none');
    expect(gw.changes.at(-1)).toMatchObject({ event: 'unlocked' });
    // Unlocking does not bring the ended session back: it is simply gone now.
    expect(await refusal(gw.sessions.resume(session.sessionToken, client))).toBe('session_invalid');
    const again = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'advisor', id: 'adv-1' });
    expect(await refusal(gw.ledger.redeem(again.token, client))).toBe('ok');
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('active');
    expect((await gw.audit.list(conversation.id, undefined, 50)).items.map((e) => e.type)).toContain('unlocked');
  });

  test('unlocking a conversation that is not locked changes nothing', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    await gw.ledger.redeem(pivot.token, randomClient());
    gw.changes.length = 0;
    const answer = await gw.ledger.unlock(conversation.id, { kind: 'advisor', id: 'adv-1' });
    expect(answer.secure).toBe('active');
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('active');
    expect(await gw.sessions.activeCount(conversation.id)).toBe(1);
    expect(gw.changes).toEqual([]);
    expect((await gw.audit.list(conversation.id, undefined, 50)).items.map((e) => e.type)).not.toContain('unlocked');
  });

  test('an advisor lock revokes the outstanding pivot and ends live sessions', async () => {
    const conversation = await newConversation(gw.store);
    const first = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const client = randomClient();
    const { session } = await gw.ledger.redeem(first.token, client);
    const pending = await gw.ledger.issue(conversation.id, 'trade', { kind: 'advisor', id: 'a' });
    expect((await gw.store.getConversation(conversation.id))?.secure).toBe('active'); // an invite does not demote a live session
    await gw.ledger.lock(conversation.id, { kind: 'advisor', id: 'a' }, 'customer_request');
    expect(await gw.ledger.record(conversation.id, pending.pivotId)).toMatchObject({ state: 'revoked', revokedReason: 'locked' });
    expect(await refusal(gw.ledger.redeem(pending.token, client))).toBe('conversation_locked');
    expect(await gw.sessions.activeCount(conversation.id)).toBe(0);
    expect(await refusal(gw.sessions.resume(session.sessionToken, client))).toBe('conversation_locked');
  });

  test('50 concurrent redemptions of one token: exactly 1 succeeds (x20 tokens)', async () => {
    for (let round = 0; round < 20; round++) {
      const conversation = await newConversation(gw.store);
      const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const client = randomClient(); // one person double-tapping: the same client, so no replay alarm
      const outcomes = await Promise.all(Array.from({ length: 50 }, () => refusal(gw.ledger.redeem(pivot.token, client))));
      const counts = tally(outcomes);
      expect(counts.ok).toBe(1);
      expect((counts.token_used ?? 0) + (counts.rate_limited ?? 0)).toBe(49);
      expect(await gw.sessions.activeCount(conversation.id)).toBe(1);
    }
  });

  test('failed attempts are rate limited per client; successes never count', async () => {
    const client = randomClient();
    const garbage = 'eyJhbGciOiJub25lIn0.e30.';
    // Successes first: many, from the same client, never limited.
    for (let i = 0; i < 35; i++) {
      const conversation = await newConversation(gw.store);
      const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      expect(await refusal(gw.ledger.redeem(pivot.token, client))).toBe('ok');
    }
    const results: string[] = [];
    for (let i = 0; i < 32; i++) results.push(await refusal(gw.ledger.redeem(garbage, client)));
    expect(results.slice(0, 30).every((r) => r === 'token_invalid')).toBe(true);
    expect(results.slice(30)).toEqual(['rate_limited', 'rate_limited']);
    // A good link from this client network still goes through (a carrier NAT's customers are not locked out
    // by whoever floods from the same address), while what fails there keeps reading rate_limited.
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    expect(await refusal(gw.ledger.redeem(pivot.token, client))).toBe('ok');
    expect(await refusal(gw.ledger.redeem(pivot.token, client))).toBe('rate_limited'); // reopened: refused anyway, so the limit answers
    const superseded = await gw.ledger.issue(conversation.id, 'trade', { kind: 'bot' });
    await gw.ledger.issue(conversation.id, 'trade', { kind: 'bot' });
    expect(await refusal(gw.ledger.redeem(superseded.token, client))).toBe('rate_limited');
    expect(await refusal(gw.ledger.redeem(garbage, client))).toBe('rate_limited');
  });

  test('neither a locked conversation nor the redeeming client reopening its link counts as a failure', async () => {
    const conversation = await newConversation(gw.store);
    const pivot = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const owner = randomClient();
    await gw.ledger.redeem(pivot.token, owner);
    const reopened: string[] = [];
    for (let i = 0; i < 12; i++) reopened.push(await refusal(gw.ledger.redeem(pivot.token, owner)));
    expect(new Set(reopened)).toEqual(new Set(['token_used']));
    await gw.ledger.lock(conversation.id, { kind: 'advisor', id: 'adv-1' }, 'lost_device');
    const whileLocked: string[] = [];
    for (let i = 0; i < 12; i++) whileLocked.push(await refusal(gw.ledger.redeem(pivot.token, owner)));
    expect(new Set(whileLocked)).toEqual(new Set(['conversation_locked']));
    // Audited, but not without bound: a stolen link sent over and over stops reaching the trail (and advisors) after 20.
    const refused = (await gw.audit.list(conversation.id, undefined, 100)).items.filter((e) => e.type === 'pivot_refused');
    expect(refused).toHaveLength(20);
    expect(gw.changes.filter((c) => c.event === 'pivot_refused' && c.conversation.id === conversation.id)).toHaveLength(20);
  });

  test('failures attributable to a conversation are limited per conversation; its valid link still goes through', async () => {
    const conversation = await newConversation(gw.store);
    const superseded = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const current = await gw.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const results: string[] = [];
    for (let i = 0; i < 11; i++) results.push(await refusal(gw.ledger.redeem(superseded.token, randomClient())));
    expect(results.slice(0, 10).every((r) => r === 'token_invalid')).toBe(true);
    expect(results[10]).toBe('rate_limited');
    expect(await refusal(gw.ledger.redeem(current.token, randomClient()))).toBe('ok');
    // Rate-limited attempts are not written to the audit trail (a flood must not flood it).
    const refusedEntries = (await gw.audit.list(conversation.id, undefined, 100)).items.filter((e) => e.type === 'pivot_refused');
    expect(refusedEntries).toHaveLength(10);
  });
});
