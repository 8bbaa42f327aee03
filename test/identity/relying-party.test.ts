/** The relying party's own rules, without a provider: plain-http issuers only in development; errors mapped once. */
import * as oidc from 'openid-client';
import { ConfigError } from '../../src/config';
import { RelyingParty, RelyingPartyError, relyingPartyErrorOf } from '../../src/identity/relying-party';
import { cookieValue } from '../../src/identity/return.route';
import { silentLogger } from '../../src/ops/logger';

const base = { clientId: 'gw', redirectUri: 'https://chat.bank.example/secure/return', logger: silentLogger() };

test('a plain-http issuer is refused outside development, naming the variable', () => {
  expect(() => new RelyingParty({ ...base, issuer: 'http://idp.bank.example', allowInsecureIssuer: false })).toThrow(ConfigError);
  expect(() => new RelyingParty({ ...base, issuer: 'http://idp.bank.example', allowInsecureIssuer: false })).toThrow(/CUSTOMER_IDP_ISSUER/);
  expect(() => new RelyingParty({ ...base, issuer: 'https://idp.bank.example', allowInsecureIssuer: false })).not.toThrow();
});

test('an unreachable provider is reported as such, and retried on the next step-up', async () => {
  const rp = new RelyingParty({ ...base, issuer: 'http://127.0.0.1:9', allowInsecureIssuer: true, timeoutSeconds: 2 });
  const request = { state: 's'.repeat(43), nonce: 'n'.repeat(43), codeVerifier: oidc.randomPKCECodeVerifier(), maxAgeSeconds: 60 };
  await expect(rp.authorizationUrl(request)).rejects.toMatchObject({ reason: 'idp_unreachable' });
  await expect(rp.authorizationUrl(request)).rejects.toMatchObject({ reason: 'idp_unreachable' });
});

test("openid-client's errors map to reasons once", () => {
  expect(relyingPartyErrorOf(new oidc.AuthorizationResponseError('denied', { cause: new URLSearchParams({ error: 'access_denied' }) }))).toMatchObject({ reason: 'idp_error', detail: 'access_denied' });
  expect(relyingPartyErrorOf(new TypeError('fetch failed'))).toMatchObject({ reason: 'idp_unreachable' });
  const own = new RelyingPartyError('id_token_invalid', 'nonce');
  expect(relyingPartyErrorOf(own)).toBe(own);
});

test('the return-key cookie is read from the Cookie header, and only it', () => {
  expect(cookieValue('a=1; pg_stepup=abc_DEF-1; b=2', 'pg_stepup')).toBe('abc_DEF-1');
  expect(cookieValue('xpg_stepup=1', 'pg_stepup')).toBeUndefined();
  expect(cookieValue(undefined, 'pg_stepup')).toBeUndefined();
  expect(cookieValue('pg_stepup=%E0%A4%A', 'pg_stepup')).toBeUndefined();
});
