import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../../src/config';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const jwks = JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'd', kid: 'a' }] });

describe('config', () => {
  test('zero configuration gives the embedded defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ env: 'development', port: 3000, host: '0.0.0.0', publicUrl: 'http://localhost:3000', threadRetentionDays: 90, pivotTtlSeconds: 300, sessionIdleSeconds: 900, devFeatures: true, allowedEmbedOrigins: [] });
    expect(config.redisUrl).toBeUndefined();
    expect(config.messenger).toBeUndefined();
    expect(config.metaGraphUrl).toMatch(/^https:\/\/graph\.facebook\.com\/v\d+\.\d+$/);
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('PUBLIC_URL defaults to the chosen port', () => {
    expect(loadConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
  });

  test('a bad value names the variable and the reason, in one line', () => {
    expect(problemsOf({ PORT: 'abc' })).toEqual(['PORT: expected an integer 1-65535, got "abc"']);
    expect(problemsOf({ PIVOT_TTL_SECONDS: '5' })[0]).toBe('PIVOT_TTL_SECONDS: expected an integer 30-3600, got "5"');
    expect(problemsOf({ PUBLIC_URL: 'not a url' })[0]).toMatch(/^PUBLIC_URL: expected an absolute http\(s\) URL/);
    expect(problemsOf({ LOG_LEVEL: 'loud' })[0]).toMatch(/^LOG_LEVEL: expected one of fatal, error/);
    expect(problemsOf({ DATA_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' })[0]).toBe('DATA_ENCRYPTION_KEYS: key "k1" must be 32 bytes of base64, got 5 bytes');
    expect(problemsOf({ PIVOT_SIGNING_KEYS: '{"keys":[]}' })[0]).toMatch(/^PIVOT_SIGNING_KEYS: /);
    expect(problemsOf({ ALLOWED_EMBED_ORIGINS: 'http://bank.example' })[0]).toMatch(/^ALLOWED_EMBED_ORIGINS: .* must be https/);
    // Values that would start and then fail in use.
    expect(problemsOf({ PUBLIC_URL: 'https://gw.example/?x=1' })[0]).toBe('PUBLIC_URL: must not have a query or fragment, got "https://gw.example/?x=1"');
    expect(problemsOf({ PUBLIC_URL: 'https://gw.example/#top' })[0]).toMatch(/^PUBLIC_URL: must not have a query or fragment/);
    for (const redisUrl of ['http://r:6379', 'localhost', 'redis-host:port']) expect(problemsOf({ REDIS_URL: redisUrl })[0]).toBe(`REDIS_URL: expected an absolute redis or rediss URL, got "${redisUrl}"`);
    for (const publicUrl of ['https://gw.example/?', 'https://gw.example/#']) expect(problemsOf({ PUBLIC_URL: publicUrl })[0]).toMatch(/^PUBLIC_URL: must not have a query or fragment/);
    expect(problemsOf({ TRUST_PROXY: 'not a subnet!!' })[0]).toMatch(/^TRUST_PROXY: invalid IP address/);
    expect(problemsOf({ CUSTOMER_IDP_CLIENT_SECRET: 's' })).toEqual(['CUSTOMER_IDP_CLIENT_SECRET: set without CUSTOMER_IDP_ISSUER and CUSTOMER_IDP_CLIENT_ID']);
    expect(problemsOf({ MicrosoftAppPassword: 'p' })).toEqual(['MicrosoftAppPassword: set without MicrosoftAppId']);
  });

  test('production refuses to start without its required variables, naming each', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    for (const name of ['REDIS_URL', 'PIVOT_SIGNING_KEYS', 'DATA_ENCRYPTION_KEYS', 'PUBLIC_URL', 'ADVISOR_JWKS_URL', 'ADVISOR_ISSUER', 'ADVISOR_AUDIENCE']) {
      expect(problems).toContain(`${name}: required when NODE_ENV=production`);
    }
  });

  test('production wants an https PUBLIC_URL and disables dev features', () => {
    const base = { NODE_ENV: 'production', REDIS_URL: 'redis://r:6379', PIVOT_SIGNING_KEYS: jwks, DATA_ENCRYPTION_KEYS: key('k1'), ADVISOR_JWKS_URL: 'https://idp.bank/jwks', ADVISOR_ISSUER: 'https://idp.bank', ADVISOR_AUDIENCE: 'pivot' };
    expect(problemsOf({ ...base, PUBLIC_URL: 'http://gw.bank' })).toEqual(['PUBLIC_URL: must be https when NODE_ENV=production, got "http://gw.bank"']);
    const config = loadConfig({ ...base, PUBLIC_URL: 'https://gw.bank/' });
    expect(config.publicUrl).toBe('https://gw.bank');
    expect(config.devFeatures).toBe(false);
    expect(config.dataKeys?.[0]?.id).toBe('k1');
    expect(config.advisorIdp).toEqual({ jwksUrl: 'https://idp.bank/jwks', issuer: 'https://idp.bank', audience: 'pivot' });
  });

  test('a connector is enabled exactly when all its credentials are set; half a set is an error', () => {
    expect(loadConfig({ TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't', TWILIO_FROM: '+1555' }).twilio).toEqual({ accountSid: 'AC1', authToken: 't', from: '+1555' });
    expect(problemsOf({ MESSENGER_APP_SECRET: 's' })[0]).toBe('MESSENGER_VERIFY_TOKEN, MESSENGER_PAGE_ACCESS_TOKEN: required to enable the Messenger connector (MESSENGER_APP_SECRET is set)');
  });

  test('TRUST_PROXY accepts hop counts, booleans and subnets; data keys rotate with the first encrypting', () => {
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).trustProxy).toBe('10.0.0.0/8');
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(loadConfig({ REDIS_URL: 'rediss://user:pw@r.example:6380/2' }).redisUrl).toBe('rediss://user:pw@r.example:6380/2');
    expect(loadConfig({ REDIS_URL: 'localhost:6379' }).redisUrl).toBe('redis://localhost:6379'); // the host:port form ioredis takes
    expect(loadConfig({ DATA_ENCRYPTION_KEYS: `${key('new')},${key('old')}` }).dataKeys?.map((k) => k.id)).toEqual(['new', 'old']);
  });
});
