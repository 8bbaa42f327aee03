/**
 * A real OpenID provider for the step-up tests: `oidc-provider` (a certified
 * implementation) in-process on a free port, playing the bank's identity
 * provider. It has test accounts (one signs in with a second factor, one
 * with a password only), its own login page (a plain HTML form Chromium and
 * the Node driver below both fill in), grants `openid` without a consent
 * screen, and a test hook that re-signs the next ID token, with the
 * provider's own key, with changed claims (wrong nonce, audience, expiry).
 *
 * `signIn()` drives the provider like a browser (fetch, manual redirects, a
 * cookie jar) up to the redirect back to the gateway, which it returns
 * without following, so a test decides how the return reaches the gateway.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

export interface TestAccount {
  login: string;
  password: string;
  sub: string;
  amr: string[];
  acr: string;
}

/** Signs in with a one-time code: `amr` shows MFA. */
export const ADA: TestAccount = { login: 'ada', password: 'correct horse battery', sub: 'cust-ada-1001', amr: ['pwd', 'otp'], acr: 'urn:test:loa:mfa' };
/** Password only: enough for tier 2-3, not for tier 4. */
export const BOB: TestAccount = { login: 'bob', password: 'hunter2 but longer', sub: 'cust-bob-2002', amr: ['pwd'], acr: 'urn:test:loa:pwd' };
/** Another customer with MFA (a shared device, someone else's phone). */
export const EVE: TestAccount = { login: 'eve', password: 'eve has a key', sub: 'cust-eve-3003', amr: ['pwd', 'hwk'], acr: 'urn:test:loa:mfa' };
export const TEST_ACCOUNTS: readonly TestAccount[] = [ADA, BOB, EVE];

export interface TestClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export interface TestIdp {
  issuer: string;
  client: TestClient;
  /** The next ID token the token endpoint returns is re-signed with these claims changed. */
  tamperNextIdToken(claims: Record<string, unknown>): void;
  /** Authorization requests the provider received (their query parameters). */
  authorizations: URLSearchParams[];
  close(): Promise<void>;
}

// --- the slice of oidc-provider's API used here (the package ships no types) ---

interface KoaContext {
  path: string;
  method: string;
  status: number;
  body: unknown;
}

interface Grant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  save(): Promise<string>;
}

interface InteractionDetails {
  uid: string;
  prompt: { name: string; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionResult(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
  Grant: {
    new (properties: { clientId: string; accountId: string }): Grant;
    find(id: string): Promise<Grant | undefined>;
  };
}

interface LoadExistingGrantContext {
  oidc: { client: { clientId: string }; session: { accountId: string; grantIdFor(clientId: string): string | undefined }; result?: { consent?: { grantId?: string } }; provider: OidcProvider };
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

async function loadProvider(): Promise<ProviderConstructor> {
  // A variable specifier: the package has no type declarations; its shape is typed above.
  const name: string = 'oidc-provider';
  // Its "Unsupported runtime" notice on Node 20 is expected (STACK-NOTES pitfall 9): keep it out of the test output.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('Unsupported runtime')) warn(...args);
  };
  try {
    const mod = (await import(name)) as { default: ProviderConstructor };
    return mod.default;
  } finally {
    console.warn = warn;
  }
}

type Payload = Record<string, unknown> & { uid?: string; userCode?: string; grantId?: string; consumed?: number };

/** oidc-provider's storage for this one test provider: a Map (its own in-memory adapter warns on every start). */
class MapAdapter {
  private static readonly rows = new Map<string, { payload: Payload; expiresAt: number }>();

  constructor(private readonly model: string) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: Payload, expiresIn: number): Promise<void> {
    MapAdapter.rows.set(this.key(id), { payload, expiresAt: Date.now() + expiresIn * 1000 });
  }

  async find(id: string): Promise<Payload | undefined> {
    const row = MapAdapter.rows.get(this.key(id));
    return row && row.expiresAt > Date.now() ? row.payload : undefined;
  }

  private async findBy(match: (payload: Payload) => boolean): Promise<Payload | undefined> {
    for (const [key, row] of MapAdapter.rows) if (key.startsWith(`${this.model}:`) && row.expiresAt > Date.now() && match(row.payload)) return row.payload;
    return undefined;
  }

  findByUid(uid: string): Promise<Payload | undefined> {
    return this.findBy((p) => p.uid === uid);
  }

  findByUserCode(userCode: string): Promise<Payload | undefined> {
    return this.findBy((p) => p.userCode === userCode);
  }

  async consume(id: string): Promise<void> {
    const row = MapAdapter.rows.get(this.key(id));
    if (row) row.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    MapAdapter.rows.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [key, row] of MapAdapter.rows) if (row.payload.grantId === grantId) MapAdapter.rows.delete(key);
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid: string, error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test Bank · Sign in</title></head><body>
<h1>Test Bank sign-in</h1>
${error ? `<p id="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label for="login">Username</label> <input id="login" name="login" autocomplete="username" required>
  <label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form></body></html>`;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Starts the provider with one confidential client whose redirect URI is the gateway's `/secure/return`.
 * @example const idp = await startOidcProvider({ redirectUri: `${base}/secure/return` });
 */
export async function startOidcProvider(options: { redirectUri: string; clientId?: string }): Promise<TestIdp> {
  const Provider = await loadProvider();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid: `idp-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };
  const client: TestClient = { clientId: options.clientId ?? 'pivot-gateway', clientSecret: randomBytes(24).toString('base64url'), redirectUri: options.redirectUri };
  const authorizations: URLSearchParams[] = [];
  let tamper: Record<string, unknown> | undefined;

  // The issuer names the port, so the server listens before the provider exists.
  const route: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server: Server = createServer((req, res) => route.handler?.(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [{ client_id: client.clientId, client_secret: client.clientSecret, redirect_uris: [client.redirectUri], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    adapter: MapAdapter,
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
    acrValues: ['urn:test:loa:pwd', 'urn:test:loa:mfa'],
    claims: { openid: ['sub'], acr: null, amr: null, auth_time: null },
    pkce: { required: () => true },
    findAccount: async (_ctx: unknown, sub: string) => {
      const account = TEST_ACCOUNTS.find((a) => a.sub === sub);
      return account ? { accountId: sub, claims: async () => ({ sub }) } : undefined;
    },
    // The bank's own app: no consent screen for `openid`.
    loadExistingGrant: async (ctx: LoadExistingGrantContext) => {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (existing) return existing;
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope('openid');
      grant.addOIDCClaims(['sub', 'acr', 'amr', 'auth_time']);
      await grant.save();
      return grant;
    },
  });
  provider.on('server_error', () => undefined);

  const key = await importJWK(signingJwk, 'RS256');
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || ctx.method !== 'POST' || ctx.status !== 200 || !tamper) return;
    const body = ctx.body as { id_token?: string };
    if (typeof body?.id_token !== 'string') return;
    const claims = { ...decodeJwt(body.id_token), ...tamper };
    tamper = undefined;
    const header = decodeProtectedHeader(body.id_token);
    body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: signingJwk.kid, ...(header.typ ? { typ: header.typ } : {}) }).sign(key);
  });

  const callback = provider.callback();
  route.handler = (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const interaction = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
    if (url.pathname === '/auth') authorizations.push(url.searchParams);
    if (!interaction) {
      callback(req, res);
      return;
    }
    void (async () => {
      try {
        const details = await provider.interactionDetails(req, res);
        const uid = details.uid;
        if (details.prompt.name === 'consent') {
          const grant = new provider.Grant({ clientId: client.clientId, accountId: details.session?.accountId ?? '' });
          grant.addOIDCScope('openid');
          grant.addOIDCClaims(['sub', 'acr', 'amr', 'auth_time']);
          const grantId = await grant.save();
          const to = await provider.interactionResult(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
          res.writeHead(303, { Location: to }).end();
          return;
        }
        if (req.method === 'GET' && !interaction[2]) {
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(loginPage(uid));
          return;
        }
        if (req.method === 'POST' && interaction[2]) {
          const form = await readForm(req);
          const account = TEST_ACCOUNTS.find((a) => a.login === form.get('login') && a.password === form.get('password'));
          if (!account) {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(loginPage(uid, 'Wrong username or password.'));
            return;
          }
          const to = await provider.interactionResult(
            req,
            res,
            { login: { accountId: account.sub, amr: account.amr, acr: account.acr, remember: false, ts: Math.floor(Date.now() / 1000) } },
            { mergeWithLastSubmission: false },
          );
          res.writeHead(303, { Location: to }).end();
          return;
        }
        res.writeHead(405).end();
      } catch (err) {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end(err instanceof Error ? err.message : 'interaction failed');
      }
    })();
  };

  return {
    issuer,
    client,
    authorizations,
    tamperNextIdToken(claims) {
      tamper = claims;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Cookies per origin; paths are ignored (enough for one provider in a test). */
export class CookieJar {
  private readonly byOrigin = new Map<string, Map<string, string>>();

  store(origin: string, response: Response): void {
    const jar = this.byOrigin.get(origin) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    this.byOrigin.set(origin, jar);
  }

  header(origin: string): string {
    return [...(this.byOrigin.get(origin) ?? new Map<string, string>()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Signs in at the provider like a browser would, from the authorization
 * request to the redirect back to `returnPrefix` (not followed: returned).
 * @throws when the provider answers anything unexpected, or the credentials are refused.
 */
export async function signIn(authorizationUrl: string, account: Pick<TestAccount, 'login' | 'password'>, returnPrefix: string, jar = new CookieJar()): Promise<URL> {
  let url = new URL(authorizationUrl);
  let method: 'GET' | 'POST' = 'GET';
  let body: URLSearchParams | undefined;
  for (let hop = 0; hop < 20; hop++) {
    if (url.href.startsWith(returnPrefix)) return url;
    const response = await fetch(url, {
      method,
      redirect: 'manual',
      headers: { cookie: jar.header(url.origin), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(body ? { body: body.toString() } : {}),
    });
    jar.store(url.origin, response);
    method = 'GET';
    body = undefined;
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      if (!location) throw new Error(`redirect without a Location from ${url.pathname}`);
      url = new URL(location, url);
      continue;
    }
    const text = await response.text();
    if (response.status !== 200) throw new Error(`provider answered ${response.status} at ${url.pathname}: ${text.slice(0, 300)}`);
    if (text.includes('id="error"')) throw new Error('the provider refused the credentials');
    const action = /<form method="post" action="([^"]+)"/.exec(text)?.[1];
    if (!action) throw new Error(`no login form at ${url.pathname}: ${text.slice(0, 300)}`);
    url = new URL(action.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code))), url);
    method = 'POST';
    body = new URLSearchParams({ login: account.login, password: account.password });
  }
  throw new Error('too many redirects at the provider');
}
