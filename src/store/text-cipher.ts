/**
 * Encrypts message text at rest with AES-256-GCM (node:crypto). Each
 * ciphertext carries the id of its key, so rotation is "put the new key
 * first": new text uses it, older text still decrypts with the key it names.
 *
 * Format: `v1.<keyId>.<nonce b64url>.<ciphertext b64url>.<tag b64url>`.
 * The conversation id is bound as associated data, so a ciphertext copied
 * into another thread does not decrypt.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { DataKey } from '../config';
import { randomBytesPooled } from '../random-pool';

/** 96 fresh random bits per message (GCM's nonce size). */
const NONCE_BYTES = 12;

export class TextCipher {
  // KeyObjects made once: createCipheriv with a raw Buffer would import the key on every call.
  private readonly byId: Map<string, KeyObject>;
  private readonly current: { id: string; key: KeyObject };

  constructor(keys: DataKey[]) {
    const first = keys[0];
    if (!first) throw new Error('TextCipher needs at least one key');
    this.byId = new Map(keys.map((k) => [k.id, createSecretKey(k.key)]));
    this.current = { id: first.id, key: createSecretKey(first.key) };
  }

  /** A random key for the zero-config start (text is unreadable after a restart, as is the memory store). */
  static ephemeral(): TextCipher {
    return new TextCipher([{ id: 'ephemeral', key: randomBytes(32) }]);
  }

  encrypt(plaintext: string, context: string): string {
    const nonce = randomBytesPooled(NONCE_BYTES);
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
