/**
 * The keys that sign and verify pivot tokens (PIVOT_SIGNING_KEYS).
 *
 * A JWK Set of EdDSA (Ed25519) or ES256 (P-256) keys, each with a `kid`. The
 * first key signs; every key verifies. Rotation is three deploys:
 * 1. put the new key SECOND (published in the JWKS, verifies, does not sign yet);
 * 2. move it FIRST once every verifier has the new JWKS (it now signs);
 * 3. drop the old key after PIVOT_TTL_SECONDS (its last tokens have expired).
 * A retired key may also stay listed as a public-only JWK (no `d`): it then
 * verifies and is published, but can never sign.
 *
 * Nothing here ever exposes a private member: `publicJwks()` builds its keys
 * from an allow-list of public members rather than deleting private ones.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { ConfigError } from '../config';
import type { Logger } from '../ops/logger';

export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256'] as const;
export type SigningAlg = (typeof SIGNING_ALGORITHMS)[number];

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  key: CryptoKey;
}

interface LoadedKey {
  kid: string;
  alg: SigningAlg;
  publicJwk: JWK;
  verifyKey: CryptoKey;
  signKey?: CryptoKey;
}

const VARIABLE = 'PIVOT_SIGNING_KEYS';

function problem(reason: string): ConfigError {
  return new ConfigError([`${VARIABLE}: ${reason}`]);
}

/** The algorithm a JWK is for, from its key type and curve; its `alg`, when present, must agree. */
function algorithmOf(jwk: JWK, label: string): SigningAlg {
  let alg: SigningAlg;
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') alg = 'EdDSA';
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256';
  else throw problem(`${label} must be an Ed25519 (OKP) or P-256 (EC) key, got kty ${JSON.stringify(jwk.kty)} crv ${JSON.stringify(jwk.crv)}`);
  // RFC 9864 names the Ed25519 algorithm "Ed25519"; tokens still carry the widely supported "EdDSA".
  const declared = jwk.alg === 'Ed25519' ? 'EdDSA' : jwk.alg;
  if (declared !== undefined && declared !== alg) throw problem(`${label} has alg ${JSON.stringify(jwk.alg)} but is a ${alg} key`);
  if (jwk.use !== undefined && jwk.use !== 'sig') throw problem(`${label} has use ${JSON.stringify(jwk.use)}, expected "sig"`);
  return alg;
}

function publicMembers(jwk: JWK, kid: string, alg: SigningAlg): JWK {
  const base: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  if (alg === 'ES256') base.y = jwk.y;
  return { ...base, kid, alg, use: 'sig' };
}

function isJwkObject(value: unknown): value is JWK {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class SigningKeys {
  private readonly byKid: Map<string, LoadedKey>;

  private constructor(
    private readonly entries: LoadedKey[],
    /** True when the keys were generated at start (dev only): tokens die with the process. */
    readonly ephemeral: boolean,
  ) {
    this.byKid = new Map(entries.map((e) => [e.kid, e]));
  }

  /**
   * Loads PIVOT_SIGNING_KEYS, or makes an ephemeral Ed25519 key when it is
   * unset and `allowEphemeral` (never in production).
   * @throws ConfigError naming PIVOT_SIGNING_KEYS and what is wrong.
   */
  static async load(jwkSetText: string | undefined, opts: { allowEphemeral: boolean; logger: Logger }): Promise<SigningKeys> {
    if (jwkSetText === undefined || jwkSetText.trim() === '') {
      if (!opts.allowEphemeral) throw problem('required: a JWK Set with at least one private EdDSA or ES256 key (`pivot-gateway keys generate`)');
      const keys = await SigningKeys.fromJwkSet(await generateJwkSet('EdDSA'), true);
      opts.logger.warn({ kid: keys.signing().kid }, 'PIVOT_SIGNING_KEYS is unset: using an ephemeral Ed25519 key; pivot links die with this process (dev only)');
      return keys;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(jwkSetText);
    } catch {
      throw problem('is not valid JSON');
    }
    const keys = await SigningKeys.fromJwkSet(parsed, false);
    opts.logger.info({ kids: keys.kids(), signingKid: keys.signing().kid }, 'pivot signing keys loaded');
    return keys;
  }

  /** Validates and imports a parsed JWK Set. @throws ConfigError */
  static async fromJwkSet(set: unknown, ephemeral = false): Promise<SigningKeys> {
    const list = typeof set === 'object' && set !== null ? (set as { keys?: unknown }).keys : undefined;
    if (!Array.isArray(list) || list.length === 0) throw problem('expected a JWK Set {"keys":[...]} with at least one key');
    const entries: LoadedKey[] = [];
    for (const [index, raw] of list.entries()) {
      const label = `key ${index + 1}`;
      if (!isJwkObject(raw)) throw problem(`${label} is not a JSON object`);
      if (typeof raw.kid !== 'string' || raw.kid.length === 0 || raw.kid.length > 128) throw problem(`${label} needs a "kid" (1-128 characters)`);
      if (entries.some((e) => e.kid === raw.kid)) throw problem(`kid ${JSON.stringify(raw.kid)} appears twice`);
      const alg = algorithmOf(raw, `${label} (${raw.kid})`);
      const isPrivate = typeof raw.d === 'string';
      if (index === 0 && !isPrivate) throw problem(`the first key (${raw.kid}) signs, so it must be a private key (with "d")`);
      const publicJwk = publicMembers(raw, raw.kid, alg);
      let verifyKey: CryptoKey;
      let signKey: CryptoKey | undefined;
      try {
        verifyKey = (await importJWK(publicJwk, alg)) as CryptoKey;
        if (isPrivate) signKey = (await importJWK({ ...raw, ext: false }, alg)) as CryptoKey;
      } catch (err) {
        throw problem(`${label} (${raw.kid}) cannot be imported: ${(err as Error).message}`);
      }
      if (signKey) await assertPair(signKey, verifyKey, alg, `${label} (${raw.kid})`);
      entries.push({ kid: raw.kid, alg, publicJwk, verifyKey, ...(signKey ? { signKey } : {}) });
    }
    return new SigningKeys(entries, ephemeral);
  }

  /** The key that signs new tokens: the first of the set. */
  signing(): SigningKey {
    const first = this.entries[0];
    if (!first?.signKey) throw new Error('unreachable: the first key is checked to be private at load');
    return { kid: first.kid, alg: first.alg, key: first.signKey };
  }

  /** The public key for a token header's `kid`, only if it is of the header's algorithm. */
  verificationKey(kid: unknown, alg: unknown): CryptoKey | undefined {
    if (typeof kid !== 'string') return undefined;
    const entry = this.byKid.get(kid);
    return entry && entry.alg === alg ? entry.verifyKey : undefined;
  }

  /** The algorithms present in the set: the verifier's allow-list. */
  algorithms(): SigningAlg[] {
    return [...new Set(this.entries.map((e) => e.alg))];
  }

  kids(): string[] {
    return this.entries.map((e) => e.kid);
  }

  /** What `/.well-known/jwks.json` serves: public members only (kty, crv, x, y, kid, alg, use). */
  publicJwks(): { keys: JWK[] } {
    return { keys: this.entries.map((e) => ({ ...e.publicJwk })) };
  }
}

/** A private key whose `x`/`y` do not belong to its `d` would sign tokens no one can verify: refuse it at start. */
async function assertPair(signKey: CryptoKey, verifyKey: CryptoKey, alg: SigningAlg, label: string): Promise<void> {
  const algorithm = alg === 'EdDSA' ? { name: 'Ed25519' } : { name: 'ECDSA', hash: 'SHA-256' };
  const probe = new TextEncoder().encode('pivot-gateway key check');
  const signature = await crypto.subtle.sign(algorithm, signKey, probe);
  if (!(await crypto.subtle.verify(algorithm, verifyKey, signature, probe))) {
    throw problem(`${label}: its private part "d" does not match its public part`);
  }
}

/**
 * A new private JWK Set with one key for PIVOT_SIGNING_KEYS. The `kid` is the
 * start of the key's RFC 7638 thumbprint, so it is unique without coordination.
 * @example const set = await generateJwkSet('EdDSA'); // {keys:[{kty:'OKP',crv:'Ed25519',x,d,kid,alg:'EdDSA',use:'sig'}]}
 */
export async function generateJwkSet(alg: SigningAlg): Promise<{ keys: JWK[] }> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = await exportJWK(privateKey);
  // 16 characters (96 bits) of the thumbprint: unique among a handful of keys, and every token carries it to an SMS.
  const kid = (await calculateJwkThumbprint(jwk, 'sha256')).slice(0, 16);
  return { keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y ? { y: jwk.y } : {}), d: jwk.d, kid, alg, use: 'sig' }] };
}
