import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { ConfigError } from '../../src/config';
import { keysCommand } from '../../src/cli/keys';
import { silentLogger } from '../../src/ops/logger';
import { jwksRouter } from '../../src/pivot/jwks.route';
import { generateJwkSet, SigningKeys } from '../../src/pivot/keys';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

function collect(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

async function problemOf(text: string | undefined, allowEphemeral = false): Promise<string> {
  try {
    await SigningKeys.load(text, { allowEphemeral, logger: silentLogger() });
    return 'loaded';
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
}

describe('SigningKeys.load', () => {
  test('loads an EdDSA + ES256 set: the first signs, all verify', async () => {
    const ed = await generateJwkSet('EdDSA');
    const es = await generateJwkSet('ES256');
    const keys = await SigningKeys.load(JSON.stringify({ keys: [...es.keys, ...ed.keys] }), { allowEphemeral: false, logger: silentLogger() });
    expect(keys.signing()).toMatchObject({ kid: es.keys[0]!.kid, alg: 'ES256' });
    expect(keys.algorithms().sort()).toEqual(['ES256', 'EdDSA']);
    expect(keys.verificationKey(ed.keys[0]!.kid, 'EdDSA')).toBeDefined();
    expect(keys.verificationKey(ed.keys[0]!.kid, 'ES256')).toBeUndefined();
    expect(keys.ephemeral).toBe(false);
  });

  test('without keys: an ephemeral Ed25519 key outside production, a named error otherwise', async () => {
    const warnings: string[] = [];
    const logger = silentLogger();
    logger.warn = ((_obj: unknown, msg?: string) => {
      warnings.push(String(msg));
    }) as typeof logger.warn;
    const keys = await SigningKeys.load(undefined, { allowEphemeral: true, logger });
    expect(keys.ephemeral).toBe(true);
    expect(keys.signing().alg).toBe('EdDSA');
    expect(warnings.join('\n')).toMatch(/ephemeral/);
    expect(await problemOf(undefined)).toMatch(/^PIVOT_SIGNING_KEYS: required/);
  });

  test.each([
    ['not JSON', 'nope', /not valid JSON/],
    ['no keys', '{"keys":[]}', /at least one key/],
    ['an RSA key', JSON.stringify({ keys: [{ kty: 'RSA', kid: 'r', n: 'AQAB', e: 'AQAB', d: 'AQAB' }] }), /Ed25519 \(OKP\) or P-256 \(EC\)/],
    ['a symmetric key', JSON.stringify({ keys: [{ kty: 'oct', kid: 's', k: 'c2VjcmV0' }] }), /Ed25519 \(OKP\) or P-256 \(EC\)/],
    ['a P-384 key', JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-384', kid: 'p', x: 'AA', y: 'AA', d: 'AA' }] }), /P-256/],
  ])('refuses %s with a one-line reason naming the variable', async (_name, text, reason) => {
    const message = await problemOf(text);
    expect(message).toMatch(/^PIVOT_SIGNING_KEYS: /);
    expect(message).toMatch(reason);
    expect(message).not.toContain('\n');
  });

  test('refuses a missing kid, a duplicate kid, a mismatched alg, a public first key, and a d that does not match x', async () => {
    const [a] = (await generateJwkSet('EdDSA')).keys;
    const [b] = (await generateJwkSet('EdDSA')).keys;
    const [es] = (await generateJwkSet('ES256')).keys;
    const { kid: _kid, ...noKid } = a!;
    const { d: _d, ...publicOnly } = a!;
    expect(await problemOf(JSON.stringify({ keys: [noKid] }))).toMatch(/needs a "kid"/);
    expect(await problemOf(JSON.stringify({ keys: [a, { ...b, kid: a!.kid }] }))).toMatch(/appears twice/);
    expect(await problemOf(JSON.stringify({ keys: [{ ...a, alg: 'ES256' }] }))).toMatch(/has alg "ES256" but is a EdDSA key/);
    expect(await problemOf(JSON.stringify({ keys: [{ ...a, use: 'enc' }] }))).toMatch(/use "enc"/);
    expect(await problemOf(JSON.stringify({ keys: [publicOnly] }))).toMatch(/must be a private key/);
    // WebCrypto may refuse the pair at import already; either way it never signs.
    expect(await problemOf(JSON.stringify({ keys: [{ ...a, d: b!.d }] }))).toMatch(/does not match|cannot be imported/);
    const [es2] = (await generateJwkSet('ES256')).keys;
    expect(await problemOf(JSON.stringify({ keys: [{ ...es, d: es2!.d }] }))).toMatch(/does not match|cannot be imported/);
  });
});

describe('GET /.well-known/jwks.json', () => {
  test('serves public members only, with Cache-Control, for EdDSA and ES256 keys', async () => {
    const keys = await SigningKeys.fromJwkSet({ keys: [...(await generateJwkSet('ES256')).keys, ...(await generateJwkSet('EdDSA')).keys] });
    const app = express();
    app.use(jwksRouter(keys));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=300');
      expect(res.headers.get('content-type')).toMatch(/^application\/jwk-set\+json/);
      const body = (await res.json()) as { keys: Array<Record<string, unknown>> };
      expect(body.keys).toHaveLength(2);
      for (const jwk of body.keys) {
        for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
        expect(jwk).toMatchObject({ use: 'sig', kid: expect.any(String), alg: expect.stringMatching(/^(EdDSA|ES256)$/) });
      }
      expect(body.keys.map((k) => k.kid)).toEqual(keys.kids());
      expect(Object.keys(body.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(Object.keys(body.keys[1]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    } finally {
      server.close();
    }
  });

  test('publicJwks() never carries private members, whatever extra members the configured JWK had', async () => {
    const [key] = (await generateJwkSet('ES256')).keys;
    const keys = await SigningKeys.fromJwkSet({ keys: [{ ...key, p: 'x', q: 'y', dp: 'z', dq: 'w', qi: 'v', k: 'u', ext: true }] }).catch(() => undefined);
    // Either the odd key is refused at import or its extra members are dropped: never served.
    if (keys) for (const member of PRIVATE_MEMBERS) expect(keys.publicJwks().keys[0]).not.toHaveProperty(member);
    const plain = await SigningKeys.fromJwkSet({ keys: [key] });
    for (const member of PRIVATE_MEMBERS) expect(plain.publicJwks().keys[0]).not.toHaveProperty(member);
  });
});

describe('pivot-gateway keys generate', () => {
  test.each([[[] as string[], 'EdDSA'], [['--alg', 'ES256'], 'ES256'], [['--alg=EdDSA'], 'EdDSA']])('%j prints a private JWK Set that loads', async (extra, alg) => {
    const out = collect();
    const err = collect();
    expect(await keysCommand(['generate', ...extra], { stdout: out.stream, stderr: err.stream })).toBe(0);
    expect(err.text()).toBe('');
    const set = JSON.parse(out.text()) as { keys: Array<Record<string, string>> };
    expect(set.keys).toHaveLength(1);
    expect(set.keys[0]).toMatchObject({ alg, use: 'sig', kid: expect.any(String), d: expect.any(String) });
    const keys = await SigningKeys.load(out.text(), { allowEphemeral: false, logger: silentLogger() });
    expect(keys.signing().alg).toBe(alg);
  });

  test('--help prints usage and exits 0', async () => {
    const out = collect();
    expect(await keysCommand(['generate', '--help'], { stdout: out.stream, stderr: collect().stream })).toBe(0);
    expect(out.text()).toMatch(/^Usage: pivot-gateway keys generate/);
  });

  test.each([[[]], [['rotate']], [['generate', '--alg', 'RS256']], [['generate', '--alg']], [['generate', '--bits', '256']]])('%j exits 2 with a one-line reason', async (args) => {
    const out = collect();
    const err = collect();
    expect(await keysCommand(args, { stdout: out.stream, stderr: err.stream })).toBe(2);
    expect(out.text()).toBe('');
    expect(err.text()).toMatch(/^pivot-gateway keys: .+\n$/);
    expect(err.text().trim()).not.toContain('\n');
  });
});
