/**
 * The only module that reads the environment (and `.env`, when present).
 *
 * Every variable of PRODUCT.md is validated here once, at start-up, and the
 * result is frozen and passed down: no other module touches `process.env`.
 * A bad value becomes a `ConfigError` whose message is one line naming the
 * variable and what is wrong; `main.ts` prints it and exits with code 2.
 */
import { config as readDotenvFile } from 'dotenv';
import { z } from 'zod';
import proxyaddr from 'proxy-addr';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'ConfigError';
  }
}

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function integer(min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const n = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer ${min}-${max}, got ${JSON.stringify(raw)}` });
        return z.NEVER;
      }
      return n;
    });
}

const SCHEMES = { http: { schemes: ['http:', 'https:'], label: 'http(s)' }, redis: { schemes: ['redis:', 'rediss:'], label: 'redis or rediss' } } as const;

/**
 * An absolute URL of one of `kind`'s schemes, without a trailing slash.
 * `base`: a URL other paths are appended to (PUBLIC_URL): a query or fragment would end up inside every link.
 */
function url(kind: keyof typeof SCHEMES, options: { base?: boolean } = {}) {
  const { schemes, label }: { schemes: readonly string[]; label: string } = SCHEMES[kind];
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      // A bare `host:port` (what ioredis also takes) is read as redis://host:port, so every client gets a URL.
      const text = kind === 'redis' && /^[A-Za-z0-9.-]+:\d{1,5}$/.test(raw.trim()) ? `redis://${raw.trim()}` : raw.trim();
      let parsed: URL | undefined;
      try {
        parsed = new URL(text);
      } catch {
        parsed = undefined;
      }
      if (!parsed || !schemes.includes(parsed.protocol)) {
        ctx.addIssue({ code: 'custom', message: `expected an absolute ${label} URL, got ${JSON.stringify(raw)}` });
        return z.NEVER;
      }
      if (options.base && (parsed.search || parsed.hash || /[?#]/.test(text))) {
        ctx.addIssue({ code: 'custom', message: `must not have a query or fragment, got ${JSON.stringify(raw)}` });
        return z.NEVER;
      }
      return parsed.toString().replace(/\/$/, '');
    });
}

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).optional(),
  PORT: integer(1, 65535),
  HOST: optionalText,
  PUBLIC_URL: url('http', { base: true }),
  REDIS_URL: url('redis'),
  DATA_ENCRYPTION_KEYS: optionalText,
  THREAD_RETENTION_DAYS: integer(1, 3650),
  TRUST_PROXY: optionalText,
  PIVOT_TTL_SECONDS: integer(30, 3600),
  SESSION_IDLE_SECONDS: integer(60, 86400),
  PIVOT_SIGNING_KEYS: optionalText,
  MESSENGER_APP_SECRET: optionalText,
  MESSENGER_VERIFY_TOKEN: optionalText,
  MESSENGER_PAGE_ACCESS_TOKEN: optionalText,
  WHATSAPP_APP_SECRET: optionalText,
  WHATSAPP_VERIFY_TOKEN: optionalText,
  WHATSAPP_ACCESS_TOKEN: optionalText,
  WHATSAPP_PHONE_NUMBER_ID: optionalText,
  TWILIO_ACCOUNT_SID: optionalText,
  TWILIO_AUTH_TOKEN: optionalText,
  TWILIO_FROM: optionalText,
  META_GRAPH_URL: url('http'),
  TWILIO_API_URL: url('http'),
  MicrosoftAppId: optionalText,
  MicrosoftAppPassword: optionalText,
  MicrosoftAppType: z.enum(['MultiTenant', 'SingleTenant', 'UserAssignedMSI']).optional(),
  MicrosoftAppTenantId: optionalText,
  ADVISOR_JWKS_URL: url('http'),
  ADVISOR_ISSUER: optionalText,
  ADVISOR_AUDIENCE: optionalText,
  CUSTOMER_IDP_ISSUER: url('http'),
  CUSTOMER_IDP_CLIENT_ID: optionalText,
  CUSTOMER_IDP_CLIENT_SECRET: optionalText,
  CUSTOMER_IDP_MFA_ACR: optionalText,
  CUSTOMER_IDP_MFA_AMR: optionalText,
  MESSENGER_APP_ID: optionalText,
  ALLOWED_EMBED_ORIGINS: optionalText,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

/** A 32-byte AES key with the id stored beside every ciphertext it makes. */
export interface DataKey {
  id: string;
  key: Buffer;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  /** Origin + optional path prefix, never with a trailing slash. */
  publicUrl: string;
  redisUrl?: string;
  /** Undefined means: generate an ephemeral key (never in production). */
  dataKeys?: DataKey[];
  threadRetentionDays: number;
  trustProxy?: boolean | number | string;
  pivotTtlSeconds: number;
  sessionIdleSeconds: number;
  /** The raw JWK Set text; `pivot/keys.ts` parses it. Undefined = ephemeral. */
  pivotSigningKeys?: string;
  messenger?: { appSecret: string; verifyToken: string; pageAccessToken: string };
  whatsapp?: { appSecret: string; verifyToken: string; accessToken: string; phoneNumberId: string };
  twilio?: { accountSid: string; authToken: string; from: string };
  metaGraphUrl: string;
  twilioApiUrl: string;
  botFramework?: { appId: string; appPassword?: string; appType: string; tenantId?: string };
  advisorIdp?: { jwksUrl: string; issuer: string; audience: string };
  /** `mfaAcr`/`mfaAmr`: the values that show multi-factor authentication; unset = the policy's defaults (src/pivot/policy.ts). */
  customerIdp?: { issuer: string; clientId: string; clientSecret?: string; mfaAcr?: string[]; mfaAmr?: string[] };
  /** MESSENGER_APP_ID: lets the secure page ask the Messenger Extensions SDK for its context (background binding). */
  messengerAppId?: string;
  allowedEmbedOrigins: string[];
  logLevel: string;
  /** The sandbox channel and gateway-minted advisor tokens: never in production. */
  devFeatures: boolean;
}

/** Meta's current Graph API version: PRODUCT.md's default for META_GRAPH_URL. */
export const DEFAULT_META_GRAPH_URL = 'https://graph.facebook.com/v24.0';
export const DEFAULT_TWILIO_API_URL = 'https://api.twilio.com';

function parseDataKeys(raw: string): DataKey[] {
  return raw.split(',').map((part, index) => {
    const [id, b64, extra] = part.trim().split(':');
    if (!id || !b64 || extra !== undefined || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      throw new ConfigError([`DATA_ENCRYPTION_KEYS: entry ${index + 1} must be "id:base64key"`]);
    }
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32) {
      throw new ConfigError([`DATA_ENCRYPTION_KEYS: key "${id}" must be 32 bytes of base64, got ${key.length} bytes`]);
    }
    return { id, key };
  });
}

function parseTrustProxy(raw: string | undefined): boolean | number | string | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  // Subnets or names (loopback, linklocal, uniquelocal), comma-separated as Express reads them: checked
  // here with Express's own parser, so a typo stops the process as a configuration error (exit 2).
  try {
    proxyaddr.compile(raw.split(',').map((part) => part.trim()));
  } catch (err) {
    throw new ConfigError([`TRUST_PROXY: ${(err as Error).message}`]);
  }
  return raw;
}

function parseOrigins(raw: string | undefined): string[] {
  if (!raw) return [];
  return raw.split(/[\s,]+/).filter(Boolean).map((origin) => {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError([`ALLOWED_EMBED_ORIGINS: ${JSON.stringify(origin)} is not an origin`]);
    }
    if (parsed.protocol !== 'https:' && parsed.hostname !== 'localhost') {
      throw new ConfigError([`ALLOWED_EMBED_ORIGINS: ${JSON.stringify(origin)} must be https`]);
    }
    return parsed.origin;
  });
}

/** A comma-separated list of `acr`/`amr` values (no spaces inside a value). */
function valueList<K extends string>(name: string, key: K, raw: string | undefined): Partial<Record<K, string[]>> {
  if (raw === undefined) return {};
  const values = raw.split(',').map((v) => v.trim()).filter(Boolean);
  if (values.length === 0 || values.some((v) => /\s/.test(v))) throw new ConfigError([`${name}: expected a comma-separated list of values, got ${JSON.stringify(raw)}`]);
  return { [key]: values } as Partial<Record<K, string[]>>;
}

/** All-or-nothing groups: a connector is enabled exactly when its credentials are set. */
function group<T>(name: string, values: Record<string, string | undefined>, build: () => T, problems: string[]): T | undefined {
  const present = Object.entries(values).filter(([, v]) => v !== undefined);
  if (present.length === 0) return undefined;
  const missing = Object.entries(values).filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length > 0) {
    problems.push(`${missing.join(', ')}: required to enable ${name} (${present.map(([k]) => k).join(', ')} ${present.length === 1 ? 'is' : 'are'} set)`);
    return undefined;
  }
  return build();
}

/**
 * Validates `env` and returns the frozen configuration.
 * @throws ConfigError naming every bad or missing variable.
 * @example loadConfig({ PORT: '8080' }).port === 8080
 */
export function loadConfig(env: Record<string, string | undefined>): Readonly<Config> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        const raw = env[name];
        const message = issue.code === 'invalid_value' ? `expected one of ${issue.values.map(String).join(', ')}, got ${JSON.stringify(raw)}` : issue.message;
        return `${name}: ${message}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const nodeEnv = e.NODE_ENV ?? 'development';
  const production = nodeEnv === 'production';
  const port = e.PORT ?? 3000;
  const publicUrl = e.PUBLIC_URL ?? `http://localhost:${port}`;

  if (production) {
    const required: Array<keyof typeof e> = ['REDIS_URL', 'PIVOT_SIGNING_KEYS', 'DATA_ENCRYPTION_KEYS', 'PUBLIC_URL', 'ADVISOR_JWKS_URL', 'ADVISOR_ISSUER', 'ADVISOR_AUDIENCE'];
    for (const name of required) {
      if (e[name] === undefined) problems.push(`${name}: required when NODE_ENV=production`);
    }
    if (e.PUBLIC_URL !== undefined && !e.PUBLIC_URL.startsWith('https://')) {
      problems.push(`PUBLIC_URL: must be https when NODE_ENV=production, got ${JSON.stringify(e.PUBLIC_URL)}`);
    }
  }

  let dataKeys: DataKey[] | undefined;
  let allowedEmbedOrigins: string[] = [];
  try {
    dataKeys = e.DATA_ENCRYPTION_KEYS ? parseDataKeys(e.DATA_ENCRYPTION_KEYS) : undefined;
  } catch (err) {
    problems.push(...(err as ConfigError).problems);
  }
  try {
    allowedEmbedOrigins = parseOrigins(e.ALLOWED_EMBED_ORIGINS);
  } catch (err) {
    problems.push(...(err as ConfigError).problems);
  }
  if (e.PIVOT_SIGNING_KEYS !== undefined) {
    try {
      const jwks = JSON.parse(e.PIVOT_SIGNING_KEYS) as { keys?: unknown };
      if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error('no keys');
    } catch {
      problems.push('PIVOT_SIGNING_KEYS: expected a JWK Set JSON {"keys":[...]} with at least one private key');
    }
  }

  const messenger = group('the Messenger connector', { MESSENGER_APP_SECRET: e.MESSENGER_APP_SECRET, MESSENGER_VERIFY_TOKEN: e.MESSENGER_VERIFY_TOKEN, MESSENGER_PAGE_ACCESS_TOKEN: e.MESSENGER_PAGE_ACCESS_TOKEN }, () => ({ appSecret: e.MESSENGER_APP_SECRET!, verifyToken: e.MESSENGER_VERIFY_TOKEN!, pageAccessToken: e.MESSENGER_PAGE_ACCESS_TOKEN! }), problems);
  const whatsapp = group('the WhatsApp connector', { WHATSAPP_APP_SECRET: e.WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN: e.WHATSAPP_VERIFY_TOKEN, WHATSAPP_ACCESS_TOKEN: e.WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID: e.WHATSAPP_PHONE_NUMBER_ID }, () => ({ appSecret: e.WHATSAPP_APP_SECRET!, verifyToken: e.WHATSAPP_VERIFY_TOKEN!, accessToken: e.WHATSAPP_ACCESS_TOKEN!, phoneNumberId: e.WHATSAPP_PHONE_NUMBER_ID! }), problems);
  const twilio = group('the Twilio connector', { TWILIO_ACCOUNT_SID: e.TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN: e.TWILIO_AUTH_TOKEN, TWILIO_FROM: e.TWILIO_FROM }, () => ({ accountSid: e.TWILIO_ACCOUNT_SID!, authToken: e.TWILIO_AUTH_TOKEN!, from: e.TWILIO_FROM! }), problems);
  const advisorIdp = group('bank-issued advisor tokens', { ADVISOR_JWKS_URL: e.ADVISOR_JWKS_URL, ADVISOR_ISSUER: e.ADVISOR_ISSUER, ADVISOR_AUDIENCE: e.ADVISOR_AUDIENCE }, () => ({ jwksUrl: e.ADVISOR_JWKS_URL!, issuer: e.ADVISOR_ISSUER!, audience: e.ADVISOR_AUDIENCE! }), problems);
  const customerIdp = group('customer step-up', { CUSTOMER_IDP_ISSUER: e.CUSTOMER_IDP_ISSUER, CUSTOMER_IDP_CLIENT_ID: e.CUSTOMER_IDP_CLIENT_ID }, () => ({ issuer: e.CUSTOMER_IDP_ISSUER!, clientId: e.CUSTOMER_IDP_CLIENT_ID!, clientSecret: e.CUSTOMER_IDP_CLIENT_SECRET, ...valueList('CUSTOMER_IDP_MFA_ACR', 'mfaAcr', e.CUSTOMER_IDP_MFA_ACR), ...valueList('CUSTOMER_IDP_MFA_AMR', 'mfaAmr', e.CUSTOMER_IDP_MFA_AMR) }), problems);
  const botFramework = e.MicrosoftAppId ? { appId: e.MicrosoftAppId, appPassword: e.MicrosoftAppPassword, appType: e.MicrosoftAppType ?? 'MultiTenant', tenantId: e.MicrosoftAppTenantId } : undefined;
  // A secret without the settings it belongs to would be ignored in silence: the operator meant something.
  for (const [name, value, needs] of [
    ['CUSTOMER_IDP_CLIENT_SECRET', e.CUSTOMER_IDP_CLIENT_SECRET, customerIdp ? undefined : 'CUSTOMER_IDP_ISSUER and CUSTOMER_IDP_CLIENT_ID'],
    ['MicrosoftAppPassword', e.MicrosoftAppPassword, botFramework ? undefined : 'MicrosoftAppId'],
    ['MicrosoftAppTenantId', e.MicrosoftAppTenantId, botFramework ? undefined : 'MicrosoftAppId'],
  ] as const) {
    if (value !== undefined && needs !== undefined) problems.push(`${name}: set without ${needs}`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  return Object.freeze({
    env: nodeEnv,
    port,
    host: e.HOST ?? '0.0.0.0',
    publicUrl,
    redisUrl: e.REDIS_URL,
    dataKeys,
    threadRetentionDays: e.THREAD_RETENTION_DAYS ?? 90,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    pivotTtlSeconds: e.PIVOT_TTL_SECONDS ?? 300,
    sessionIdleSeconds: e.SESSION_IDLE_SECONDS ?? 900,
    pivotSigningKeys: e.PIVOT_SIGNING_KEYS,
    messenger,
    whatsapp,
    twilio,
    metaGraphUrl: e.META_GRAPH_URL ?? DEFAULT_META_GRAPH_URL,
    twilioApiUrl: e.TWILIO_API_URL ?? DEFAULT_TWILIO_API_URL,
    botFramework,
    advisorIdp,
    customerIdp,
    messengerAppId: e.MESSENGER_APP_ID,
    allowedEmbedOrigins,
    logLevel: e.LOG_LEVEL ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    devFeatures: !production,
  });
}

/**
 * Reads `.env` (if present, never overriding the real environment) and
 * `process.env`. Kept separate from `loadConfig` so tests pass plain objects.
 */
export function readEnvironment(): Record<string, string | undefined> {
  const fromFile: Record<string, string> = {};
  readDotenvFile({ processEnv: fromFile, quiet: true });
  return { ...fromFile, ...process.env };
}
