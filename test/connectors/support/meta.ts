/** Posting to a Meta webhook the way Meta does: HMAC-SHA256 of the exact bytes sent, with the app secret. */
import { createHmac } from 'node:crypto';
import type { App } from './gateway-parts';

export function hubSignature(secret: string, bytes: string): string {
  return `sha256=${createHmac('sha256', secret).update(bytes).digest('hex')}`;
}

/** `signature`: 'valid' signs `bytes`; another string is sent as is; null sends no header at all. */
export async function postMeta(app: App, path: string, bytes: string, secret: string, signature: string | null = 'valid'): Promise<Response> {
  const header = signature === 'valid' ? hubSignature(secret, bytes) : signature;
  return fetch(`${app.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(header === null ? {} : { 'x-hub-signature-256': header }) },
    body: bytes,
  });
}

export async function challenge(app: App, path: string, query: Record<string, string>): Promise<Response> {
  return fetch(`${app.url}${path}?${new URLSearchParams(query).toString()}`);
}
