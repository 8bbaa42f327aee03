import { GatewayError } from '../../src/errors';
import { covers, PIVOT_INTENTS, pivotTtlSeconds, requirementsOf, sessionIdleSeconds, tierOf, type Tier } from '../../src/pivot/policy';
import { socketErrorOf } from '../../src/pivot/refusals';

test('every intent has the tier PRODUCT.md gives it', () => {
  expect(Object.fromEntries(PIVOT_INTENTS.map((i) => [i, tierOf(i)]))).toEqual({
    none: 0,
    view_account: 1,
    update_profile: 2,
    card_payment: 2,
    credential_disclosure: 2,
    lost_device: 2,
    trade: 3,
    transfer_funds: 4,
    withdraw: 4,
  });
});

test('what each tier requires', () => {
  expect(requirementsOf(0)).toEqual({ token: false, idpIdentity: false, consent: false, mfa: false });
  expect(requirementsOf(1)).toEqual({ token: true, idpIdentity: false, consent: false, mfa: false });
  expect(requirementsOf(2)).toEqual({ token: true, idpIdentity: true, consent: false, mfa: false });
  expect(requirementsOf(3)).toEqual({ token: true, idpIdentity: true, consent: true, mfa: false });
  expect(requirementsOf(4)).toMatchObject({ token: true, idpIdentity: true, mfa: true });
});

test('which tier covers which: not a ladder, since tier 4 asks for no consent step', () => {
  const all: Tier[] = [0, 1, 2, 3, 4];
  const covered = Object.fromEntries(all.map((held) => [held, all.filter((wanted) => covers(held, wanted))]));
  expect(covered).toEqual({ 0: [0], 1: [0, 1], 2: [0, 1, 2], 3: [0, 1, 2, 3], 4: [0, 1, 2, 4] });
});

test('a pivot lifetime never exceeds PIVOT_TTL_SECONDS and shrinks as the stake grows', () => {
  for (const max of [30, 120, 300, 3600]) {
    const ttls = PIVOT_INTENTS.map((i) => pivotTtlSeconds(i, max));
    for (const ttl of ttls) expect(ttl).toBeLessThanOrEqual(max);
  }
  expect(pivotTtlSeconds('view_account', 300)).toBe(300);
  expect(pivotTtlSeconds('trade', 300)).toBeLessThan(300);
  expect(pivotTtlSeconds('withdraw', 300)).toBeLessThanOrEqual(pivotTtlSeconds('trade', 300));
  expect(pivotTtlSeconds('withdraw', 60)).toBe(60);
});

test('session idle lifetime: SESSION_IDLE_SECONDS, capped at 30 minutes for tier 4', () => {
  const tiers: Tier[] = [0, 1, 2, 3];
  for (const tier of tiers) expect(sessionIdleSeconds(tier, 7200)).toBe(7200);
  expect(sessionIdleSeconds(4, 7200)).toBe(1800);
  expect(sessionIdleSeconds(4, 900)).toBe(900);
});

test('GW_ERR_* codes map to the contract socket strings', () => {
  expect(socketErrorOf(new GatewayError('GW_ERR_TOKEN_INVALID'))).toBe('token_invalid');
  expect(socketErrorOf(new GatewayError('GW_ERR_TOKEN_EXPIRED'))).toBe('token_expired');
  expect(socketErrorOf(new GatewayError('GW_ERR_TOKEN_USED'))).toBe('token_used');
  expect(socketErrorOf(new GatewayError('GW_ERR_SESSION_INVALID'))).toBe('session_invalid');
  expect(socketErrorOf(new GatewayError('GW_ERR_CONVERSATION_LOCKED'))).toBe('conversation_locked');
  expect(socketErrorOf(new GatewayError('GW_ERR_RATE_LIMITED'))).toBe('rate_limited');
  expect(socketErrorOf(new GatewayError('GW_ERR_STORE_UNAVAILABLE'))).toBe('server_error');
  expect(socketErrorOf(new Error('boom'))).toBe('server_error');
});
