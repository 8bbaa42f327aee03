/**
 * Advisor bearer tokens: the bank IdP's JWTs verified against its remote JWKS
 * (served here by a local HTTP server, as an IdP serves it), and the dev
 * tokens the gateway mints outside production. Real jose, real keys.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { AdvisorAuth } from '../../src/advisor/auth';
import { GatewayError } from '../../src/errors';
import { silentLogger } from '../../src/ops/logger';

const ISSUER = 'https://idp.bank.example/realms/advisors';
const AUDIENCE = 'pivot-gateway';

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'ok';
  } catch (err) {
    return err instanceof GatewayError ? err.code : `not a GatewayError: ${String(err)}`;
  }
}

describe('AdvisorAuth with the bank IdP (remote JWKS)', () => {
  let server: Server;
  let jwksUrl: string;
  let served: { keys: JWK[] } = { keys: [] };
  let fetches = 0;
  let up = true;
  let rsa: CryptoKey;
  let ec: CryptoKey;
  let ecJwk: JWK;

  beforeAll(async () => {
    const rsaPair = await generateKeyPair('RS256', { extractable: true });
    const ecPair = await generateKeyPair('ES256', { extractable: true });
    rsa = rsaPair.privateKey;
    ec = ecPair.privateKey;
    served = { keys: [{ ...(await exportJWK(rsaPair.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }] };
    // ES256 key is published later (a rotation at the IdP).
    ecJwk = { ...(await exportJWK(ecPair.publicKey)), kid: 'ec-2', alg: 'ES256', use: 'sig' };
    server = createServer((_req, res) => {
      fetches++;
      if (!up) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const token = (key: CryptoKey, alg: string, kid: string, claims: Record<string, unknown> = {}, opts: { iss?: string; aud?: string; exp?: string | number } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(opts.iss ?? ISSUER)
      .setAudience(opts.aud ?? AUDIENCE)
      .setSubject('advisor-42')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '10m')
      .sign(key);

  test('verifies a token of the IdP and returns sub and name; dev tokens are refused', async () => {
    const auth = await AdvisorAuth.create({ idp: { jwksUrl, issuer: ISSUER, audience: AUDIENCE }, devTokens: true, publicUrl: 'http://localhost:3000', logger: silentLogger() });
    expect(auth.devMode).toBe(false);
    const identity = await auth.verify(await token(rsa, 'RS256', 'rsa-1', { name: 'Alex Morgan' }));
    expect(identity).toEqual({ sub: 'advisor-42', name: 'Alex Morgan', exp: expect.any(Number) });
    expect(await codeOf(auth.mintDevToken('dev', 'Dev', 60))).toBe('GW_ERR_FORBIDDEN');
  });

  test('wrong issuer, audience, expired, unsigned or HMAC tokens are GW_ERR_UNAUTHENTICATED', async () => {
    const auth = await AdvisorAuth.create({ idp: { jwksUrl, issuer: ISSUER, audience: AUDIENCE }, devTokens: false, publicUrl: 'https://gw.bank.example', logger: silentLogger() });
    expect(await codeOf(auth.verify(await token(rsa, 'RS256', 'rsa-1', {}, { iss: 'https://evil.example' })))).toBe('GW_ERR_UNAUTHENTICATED');
    expect(await codeOf(auth.verify(await token(rsa, 'RS256', 'rsa-1', {}, { aud: 'another-app' })))).toBe('GW_ERR_UNAUTHENTICATED');
    expect(await codeOf(auth.verify(await token(rsa, 'RS256', 'rsa-1', {}, { exp: Math.floor(Date.now() / 1000) - 120 })))).toBe('GW_ERR_UNAUTHENTICATED');
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
    expect(await codeOf(auth.verify(`${header}.${body}.`))).toBe('GW_ERR_UNAUTHENTICATED');
    const hmac = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('x').setExpirationTime('5m').sign(new TextEncoder().encode('a'.repeat(32)));
    expect(await codeOf(auth.verify(hmac))).toBe('GW_ERR_UNAUTHENTICATED');
    expect(await codeOf(auth.verify(''))).toBe('GW_ERR_UNAUTHENTICATED');
    expect(await codeOf(auth.verify(undefined))).toBe('GW_ERR_UNAUTHENTICATED');
  });

  test('the key set is cached; a key the IdP has not published is refused; once published, it verifies', async () => {
    const auth = await AdvisorAuth.create({ idp: { jwksUrl, issuer: ISSUER, audience: AUDIENCE }, devTokens: false, publicUrl: 'https://gw.bank.example', logger: silentLogger() });
    await auth.verify(await token(rsa, 'RS256', 'rsa-1'));
    const before = fetches;
    await auth.verify(await token(rsa, 'RS256', 'rsa-1'));
    expect(fetches).toBe(before); // cached
    expect(await codeOf(auth.verify(await token(ec, 'ES256', 'ec-2')))).toBe('GW_ERR_UNAUTHENTICATED');
    served = { keys: [...served.keys, ecJwk] };
    const fresh = await AdvisorAuth.create({ idp: { jwksUrl, issuer: ISSUER, audience: AUDIENCE }, devTokens: false, publicUrl: 'https://gw.bank.example', logger: silentLogger() });
    expect((await fresh.verify(await token(ec, 'ES256', 'ec-2'))).sub).toBe('advisor-42');
  });

  test('an IdP whose key set cannot be fetched is GW_ERR_IDP_UNAVAILABLE, not a bad token', async () => {
    up = false;
    try {
      const auth = await AdvisorAuth.create({ idp: { jwksUrl, issuer: ISSUER, audience: AUDIENCE }, devTokens: false, publicUrl: 'https://gw.bank.example', logger: silentLogger() });
      expect(await codeOf(auth.verify(await token(rsa, 'RS256', 'rsa-1')))).toBe('GW_ERR_IDP_UNAVAILABLE');
      const unreachable = await AdvisorAuth.create({ idp: { jwksUrl: 'http://127.0.0.1:9/jwks', issuer: ISSUER, audience: AUDIENCE }, devTokens: false, publicUrl: 'https://gw.bank.example', logger: silentLogger() });
      expect(await codeOf(unreachable.verify(await token(rsa, 'RS256', 'rsa-1')))).toBe('GW_ERR_IDP_UNAVAILABLE');
    } finally {
      up = true;
    }
  });
});

describe('AdvisorAuth dev tokens (outside production, no IdP)', () => {
  test('mints and verifies its own tokens; another process (another key) does not accept them', async () => {
    const a = await AdvisorAuth.create({ devTokens: true, publicUrl: 'http://localhost:3000', logger: silentLogger() });
    const b = await AdvisorAuth.create({ devTokens: true, publicUrl: 'http://localhost:3000', logger: silentLogger() });
    expect(a.devMode).toBe(true);
    const t = await a.mintDevToken('dev-advisor', 'Dev Advisor', 3600);
    expect(await a.verify(t)).toEqual({ sub: 'dev-advisor', name: 'Dev Advisor', exp: expect.any(Number) });
    expect(await codeOf(b.verify(t))).toBe('GW_ERR_UNAUTHENTICATED');
  });

  test('refuses to exist without an IdP when dev tokens are off (production)', async () => {
    await expect(AdvisorAuth.create({ devTokens: false, publicUrl: 'https://gw.bank.example', logger: silentLogger() })).rejects.toThrow(/ADVISOR_JWKS_URL/);
  });
});
