import { createHmac } from 'node:crypto';
import { base64url, decodeJwt, decodeProtectedHeader, importJWK, type CryptoKey, type JWK } from 'jose';
import { isGatewayError } from '../../src/errors';
import { generateJwkSet, SigningKeys } from '../../src/pivot/keys';
import { socketErrorOf } from '../../src/pivot/refusals';
import { PivotTokens } from '../../src/pivot/token';

const ISSUER = 'https://bank.example';
const AUDIENCE = `${ISSUER}/secure`;
const T0 = Date.parse('2026-03-01T12:00:00Z');

interface Rig {
  jwk: JWK;
  keys: SigningKeys;
  tokens: PivotTokens;
  clock: { now: number };
  signingKey: CryptoKey;
}

async function rig(alg: 'EdDSA' | 'ES256'): Promise<Rig> {
  const set = await generateJwkSet(alg);
  const keys = await SigningKeys.fromJwkSet(set);
  const clock = { now: T0 };
  const tokens = new PivotTokens(keys, { issuer: ISSUER, audience: AUDIENCE, now: () => clock.now, maxTtlSeconds: 300 });
  const jwk = set.keys[0]!;
  return { jwk, keys, tokens, clock, signingKey: (await importJWK(jwk, alg)) as CryptoKey };
}

/**
 * Signs any header and claims with the rig's real private key: how an
 * insider-grade forgery would look. Raw WebCrypto rather than jose's signer,
 * which (rightly) refuses to produce some of these headers.
 */
async function forge(r: Rig, header: Record<string, unknown>, claims: Record<string, unknown>, key: CryptoKey = r.signingKey): Promise<string> {
  const input = `${base64url.encode(JSON.stringify({ alg: r.jwk.alg, kid: r.jwk.kid, typ: 'pivot+jwt', ...header }))}.${base64url.encode(JSON.stringify(claims))}`;
  const algorithm = key.algorithm.name === 'Ed25519' ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' };
  const signature = new Uint8Array(await crypto.subtle.sign(algorithm, key, new TextEncoder().encode(input)));
  return `${input}.${base64url.encode(signature)}`;
}

function goodClaims(r: Rig, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(r.clock.now / 1000);
  return { intent: 'view_account', iss: ISSUER, aud: AUDIENCE, sub: 'conv-1', jti: 'AAAAAAAAAAAAAAAAAAAAAA', iat, exp: iat + 120, ...overrides };
}

async function refusal(r: Rig, token: string): Promise<string> {
  try {
    await r.tokens.verify(token);
    return 'accepted';
  } catch (err) {
    expect(isGatewayError(err)).toBe(true);
    return socketErrorOf(err);
  }
}

describe.each(['EdDSA', 'ES256'] as const)('pivot tokens (%s)', (alg) => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig(alg);
  });
  beforeEach(() => {
    r.clock.now = T0;
  });

  test('a minted token is a compact JWS with typ pivot+jwt, kid, and exactly the contract claims', async () => {
    const minted = await r.tokens.mint({ conversationId: '0b7f5d1e-6a4c-4f7e-9d1b-3c2a1f0e9d8c', intent: 'transfer_funds', ttlSeconds: 120 });
    expect(minted.token.split('.')).toHaveLength(3);
    expect(minted.token.length).toBeLessThan(450); // travels in SMS: no claim beyond the contract's
    expect(decodeProtectedHeader(minted.token)).toEqual({ alg, kid: r.jwk.kid, typ: 'pivot+jwt' });
    const claims = decodeJwt(minted.token);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'intent', 'iss', 'jti', 'sub']);
    expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: '0b7f5d1e-6a4c-4f7e-9d1b-3c2a1f0e9d8c', intent: 'transfer_funds', iat: T0 / 1000, exp: T0 / 1000 + 120 });
    expect(minted.jti).toBe(claims.jti);
    expect(Buffer.from(minted.jti, 'base64url').length).toBeGreaterThanOrEqual(16); // >= 128 bits
    expect(minted.expiresAt).toBe(new Date(T0 + 120_000).toISOString());
    await expect(r.tokens.verify(minted.token)).resolves.toMatchObject({ sub: '0b7f5d1e-6a4c-4f7e-9d1b-3c2a1f0e9d8c', jti: minted.jti, intent: 'transfer_funds' });
  });

  test('jtis do not repeat', async () => {
    const jtis = new Set<string>();
    for (let i = 0; i < 200; i++) jtis.add((await r.tokens.mint({ conversationId: 'c', intent: 'none', ttlSeconds: 60 })).jti);
    expect(jtis.size).toBe(200);
  });

  test('mint refuses a lifetime above the configured maximum', async () => {
    await expect(r.tokens.mint({ conversationId: 'c', intent: 'none', ttlSeconds: 301 })).rejects.toThrow(RangeError);
  });

  test('expired: after exp (beyond the small clock tolerance) → token_expired', async () => {
    const { token } = await r.tokens.mint({ conversationId: 'c', intent: 'view_account', ttlSeconds: 60 });
    r.clock.now = T0 + 63_000; // within 5 s tolerance
    expect(await refusal(r, token)).toBe('accepted');
    r.clock.now = T0 + 66_000;
    expect(await refusal(r, token)).toBe('token_expired');
  });

  test('an iat older than the maximum lifetime is expired even with a far exp', async () => {
    expect(await refusal(r, await forge(r, {}, goodClaims(r, { iat: T0 / 1000 - 400, exp: T0 / 1000 + 100 })))).toBe('token_expired');
  });

  test('a lifetime longer than the maximum is invalid', async () => {
    expect(await refusal(r, await forge(r, {}, goodClaims(r, { exp: T0 / 1000 + 3600 })))).toBe('token_invalid');
  });

  test.each([['exp'], ['jti'], ['iat'], ['sub'], ['intent']])('missing %s → token_invalid', async (claim) => {
    const claims = goodClaims(r);
    delete claims[claim];
    expect(await refusal(r, await forge(r, {}, claims))).toBe('token_invalid');
  });

  test('iat in the future → token_invalid', async () => {
    expect(await refusal(r, await forge(r, {}, goodClaims(r, { iat: T0 / 1000 + 60, exp: T0 / 1000 + 120 })))).toBe('token_invalid');
  });

  test('a short jti (< 128 bits) or an unknown intent → token_invalid', async () => {
    expect(await refusal(r, await forge(r, {}, goodClaims(r, { jti: 'short' })))).toBe('token_invalid');
    expect(await refusal(r, await forge(r, {}, goodClaims(r, { intent: 'empty_vault' })))).toBe('token_invalid');
  });

  test('a forged baseline with the real key is accepted (so the refusals below are about their one change)', async () => {
    expect(await refusal(r, await forge(r, {}, goodClaims(r)))).toBe('accepted');
  });

  test('signature flipped in one character → token_invalid', async () => {
    const { token } = await r.tokens.mint({ conversationId: 'c', intent: 'view_account', ttlSeconds: 60 });
    const [h, p, s] = token.split('.') as [string, string, string];
    const i = 10; // a middle character: every one of its 6 bits is significant
    const flipped = `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    expect(await refusal(r, flipped)).toBe('token_invalid');
  });

  test('a payload changed after signing → token_invalid', async () => {
    const { token } = await r.tokens.mint({ conversationId: 'c', intent: 'view_account', ttlSeconds: 60 });
    const [h, , s] = token.split('.') as [string, string, string];
    const other = base64url.encode(JSON.stringify({ ...decodeJwt(token), sub: 'someone-else' }));
    expect(await refusal(r, `${h}.${other}.${s}`)).toBe('token_invalid');
  });

  test('alg none → token_invalid', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'pivot+jwt', kid: r.jwk.kid }));
    const payload = base64url.encode(JSON.stringify(goodClaims(r)));
    expect(await refusal(r, `${header}.${payload}.`)).toBe('token_invalid');
  });

  test('HS256 signed with the public key as the secret → token_invalid', async () => {
    const publicJwk = r.keys.publicJwks().keys[0]!;
    for (const secret of [JSON.stringify(publicJwk), publicJwk.x!, Buffer.from(publicJwk.x!, 'base64url').toString('latin1')]) {
      const header = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'pivot+jwt', kid: r.jwk.kid }));
      const payload = base64url.encode(JSON.stringify(goodClaims(r)));
      const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      expect(await refusal(r, `${header}.${payload}.${mac}`)).toBe('token_invalid');
    }
  });

  test.each([
    ['wrong typ', { typ: 'JWT' }, {}],
    ['no typ', { typ: undefined }, {}],
    ['wrong aud', {}, { aud: 'https://evil.example/secure' }],
    ['wrong iss', {}, { iss: 'https://evil.example' }],
    ['unknown kid', { kid: 'not-a-kid-we-have' }, {}],
    ['a jku header', { jku: 'https://evil.example/jwks.json' }, {}],
    ['an x5u header', { x5u: 'https://evil.example/cert.pem' }, {}],
    ['an embedded jwk header', { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } }, {}],
    ['an unknown crit extension', { crit: ['exp-v2'], 'exp-v2': 1 }, {}],
  ])('%s → token_invalid', async (_name, header, claims) => {
    expect(await refusal(r, await forge(r, header, goodClaims(r, claims)))).toBe('token_invalid');
  });

  test('a token signed by a stranger key under our kid → token_invalid', async () => {
    const stranger = (await generateJwkSet(alg)).keys[0]!;
    const key = (await importJWK(stranger, alg)) as CryptoKey;
    expect(await refusal(r, await forge(r, {}, goodClaims(r), key))).toBe('token_invalid');
  });

  test('garbage, empty and oversized inputs → token_invalid', async () => {
    for (const token of ['', 'abc', 'a.b.c', 'a.b', `${'x'.repeat(3000)}.y.z`]) expect(await refusal(r, token)).toBe('token_invalid');
  });
});

test('an ES256 token whose algorithm header says EdDSA is refused (kid bound to its algorithm)', async () => {
  const r = await rig('ES256');
  expect(await refusal(r, await forge(r, { alg: 'EdDSA' }, goodClaims(r)))).toBe('token_invalid');
});

describe('rotation', () => {
  test('a token signed with the old key verifies while the old key is listed, and not after it is removed', async () => {
    const oldSet = await generateJwkSet('EdDSA');
    const newSet = await generateJwkSet('ES256');
    const options = { issuer: ISSUER, audience: AUDIENCE };
    const before = new PivotTokens(await SigningKeys.fromJwkSet(oldSet), options);
    const { token } = await before.mint({ conversationId: 'c', intent: 'trade', ttlSeconds: 120 });

    // Step 1: the new key published second; step 2: it signs first. The old token verifies in both.
    const published = new PivotTokens(await SigningKeys.fromJwkSet({ keys: [...oldSet.keys, ...newSet.keys] }), options);
    const rotated = new PivotTokens(await SigningKeys.fromJwkSet({ keys: [...newSet.keys, ...oldSet.keys] }), options);
    await expect(published.verify(token)).resolves.toMatchObject({ intent: 'trade' });
    await expect(rotated.verify(token)).resolves.toMatchObject({ intent: 'trade' });
    const fresh = await rotated.mint({ conversationId: 'c', intent: 'trade', ttlSeconds: 120 });
    expect(decodeProtectedHeader(fresh.token).kid).toBe(newSet.keys[0]!.kid);

    // Step 3: the old key removed.
    const after = new PivotTokens(await SigningKeys.fromJwkSet(newSet), options);
    await expect(after.verify(token)).rejects.toMatchObject({ code: 'GW_ERR_TOKEN_INVALID' });
    await expect(after.verify(fresh.token)).resolves.toMatchObject({ intent: 'trade' });
  });

  test('a retired key listed public-only still verifies its tokens but cannot sign', async () => {
    const oldSet = await generateJwkSet('EdDSA');
    const newSet = await generateJwkSet('EdDSA');
    const options = { issuer: ISSUER, audience: AUDIENCE };
    const { token } = await new PivotTokens(await SigningKeys.fromJwkSet(oldSet), options).mint({ conversationId: 'c', intent: 'none', ttlSeconds: 60 });
    const { d: _d, ...publicOnly } = oldSet.keys[0]!;
    const keys = await SigningKeys.fromJwkSet({ keys: [...newSet.keys, publicOnly] });
    await expect(new PivotTokens(keys, options).verify(token)).resolves.toMatchObject({ sub: 'c' });
    await expect(SigningKeys.fromJwkSet({ keys: [publicOnly] })).rejects.toThrow(/first key .* must be a private key/);
  });
});
