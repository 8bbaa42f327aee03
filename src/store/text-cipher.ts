/**
 * Encrypts message text at rest with AES-256-GCM (node:crypto). Each
 * ciphertext carries the id of its key, so rotation is "put the new key
 * first": new text uses it, older text still decrypts with the key it names.
 *
 * Format: `v1.<keyId>.<nonce b64url>.<ciphertext b64url>.<tag b64url>`.
 * The conversation id is bound as associated data, so a ciphertext copied
 * into another thread does not decrypt.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import type { DataKey } from '../config';

const NONCE_BYTES = 12;
/** Nonces drawn from the CSPRNG per refill: one call per 512 messages instead of one per message (ingest's hot path). */
const NONCE_POOL = NONCE_BYTES * 512;

export class TextCipher {
  // KeyObjects made once: createCipheriv with a raw Buffer would import the key on every call.
  private readonly byId: Map<string, KeyObject>;
  private readonly current: { id: string; key: KeyObject };
  private readonly nonces = Buffer.alloc(NONCE_POOL);
  private nonceOffset = NONCE_POOL;

  constructor(keys: DataKey[]) {
    const first = keys[0];
    if (!first) throw new Error('TextCipher needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, createSecretKey(k.key)]));
    this.current = { id: first.id, key: createSecretKey(first.key) };
  }

  /**
   * 96 fresh random bits per message, as with randomBytes(12): the pool is
   * only a batch of CSPRNG output, each nonce is used once and the pool is
   * refilled (never reused) when spent.
   */
  private nextNonce(): Buffer {
    if (this.nonceOffset === NONCE_POOL) {
      randomFillSync(this.nonces);
      this.nonceOffset = 0;
    }
    const nonce = Buffer.from(this.nonces.subarray(this.nonceOffset, this.nonceOffset + NONCE_BYTES));
    this.nonceOffset += NONCE_BYTES;
    return nonce;
  }

  /** A random key for the zero-config start (text is unreadable after a restart, as is the memory store). */
  static ephemeral(): TextCipher {
    return new TextCipher([{ id: 'ephemeral', key: randomBytes(32) }]);
  }

  encrypt(plaintext: string, context: string): string {
    const nonce = this.nextNonce();
    const cipher = createCipheriv('aes-256-gcm', this.current.key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', this.current.id, nonce.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  decrypt(sealed: string, context: string): string {
    const [version, keyId, nonce, body, tag] = sealed.split('.');
    const key = keyId === undefined ? undefined : this.byId.get(keyId);
    if (version !== 'v1' || !key || nonce === undefined || body === undefined || tag === undefined) {
      throw new Error(`cannot decrypt: unknown format or key id ${JSON.stringify(keyId)}`);
    }
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}
