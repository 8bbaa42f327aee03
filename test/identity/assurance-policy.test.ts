/** The assurance policy as data (src/pivot/policy.ts): which facts reach which tier, what is missing, what counts as MFA and as fresh. */
import { assuranceGap, DEFAULT_ASSURANCE, isFresh, provenTier, sessionIdleSeconds, showsMfa, type AssuranceFacts } from '../../src/pivot/policy';

const facts = (over: Partial<AssuranceFacts> = {}): AssuranceFacts => ({ token: true, idpIdentity: false, consent: false, mfa: false, ...over });

test('each tier is reached by its own requirements, up to what the intent needs', () => {
  expect(provenTier(facts(), 4)).toBe(1);
  expect(provenTier(facts({ idpIdentity: true }), 4)).toBe(2);
  expect(provenTier(facts({ idpIdentity: true, consent: true }), 4)).toBe(3);
  expect(provenTier(facts({ idpIdentity: true, mfa: true }), 4)).toBe(4);
  // A trade needs consent: MFA alone does not make it tier 3.
  expect(provenTier(facts({ idpIdentity: true, mfa: true }), 3)).toBe(2);
  expect(provenTier(facts({ idpIdentity: true, mfa: true }), 2)).toBe(2);
});

test('what is missing, in the order the customer provides it', () => {
  expect(assuranceGap(1, { ...facts(), staleIdentity: false })).toBeUndefined();
  expect(assuranceGap(2, { ...facts(), staleIdentity: false })).toBe('identity');
  expect(assuranceGap(4, { ...facts(), staleIdentity: true })).toBe('reauthentication');
  expect(assuranceGap(4, { ...facts({ idpIdentity: true }), staleIdentity: false })).toBe('mfa');
  expect(assuranceGap(3, { ...facts({ idpIdentity: true }), staleIdentity: false })).toBe('consent');
  expect(assuranceGap(3, { ...facts({ idpIdentity: true, consent: true }), staleIdentity: false })).toBeUndefined();
});

test('MFA: an amr or an acr from the configured lists (defaults follow RFC 8176)', () => {
  expect(showsMfa({ amr: ['pwd', 'otp'] })).toBe(true);
  expect(showsMfa({ amr: ['hwk'] })).toBe(true);
  expect(showsMfa({ amr: ['mfa'] })).toBe(true);
  expect(showsMfa({ amr: ['pwd'] })).toBe(false);
  expect(showsMfa({ acr: 'phr' })).toBe(true);
  expect(showsMfa({ acr: 'urn:bank:loa:3' })).toBe(false);
  expect(showsMfa({ acr: 'urn:bank:loa:3' }, { ...DEFAULT_ASSURANCE, mfaAcr: ['urn:bank:loa:3'] })).toBe(true);
  expect(showsMfa({ amr: ['otp'] }, { ...DEFAULT_ASSURANCE, mfaAmr: ['hwk'] })).toBe(false);
});

test('authentication older than 12 hours is not fresh; a missing auth_time never is', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  expect(DEFAULT_ASSURANCE.maxAuthAgeSeconds).toBe(12 * 3600);
  expect(isFresh({ authTime: '2026-03-01T00:00:01Z' }, now)).toBe(true);
  expect(isFresh({ authTime: '2026-02-28T23:59:59Z' }, now)).toBe(false);
  expect(isFresh({}, now)).toBe(false);
  expect(isFresh({ authTime: 'yesterday' }, now)).toBe(false);
});

test('a tier-4 session idles out after 30 minutes at most', () => {
  expect(sessionIdleSeconds(4, 3600)).toBe(1800);
  expect(sessionIdleSeconds(4, 900)).toBe(900);
  expect(sessionIdleSeconds(3, 3600)).toBe(3600);
});
