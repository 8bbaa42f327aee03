/**
 * One POST to Meta's Graph API (Messenger Send API, WhatsApp Cloud API), with
 * Meta's error body turned into a `PlatformError` the outbox can classify.
 *
 * The access token travels in the `Authorization: Bearer` header, not in the
 * `access_token` query parameter the samples use, so it never lands in proxy
 * or access logs; `appsecret_proof` (HMAC-SHA256 of the token with the app
 * secret) is added so the token is useless without the secret when the app
 * enforces "Require App Secret".
 */
import { createHmac } from 'node:crypto';
import { PlatformError, type Platform } from '../../src/outbound/platform-error';
import { asRecord, asString, type Json } from '../webhook';

export interface GraphRequest {
  platform: Extract<Platform, 'messenger' | 'whatsapp'>;
  /** `${META_GRAPH_URL}/me/messages`, `${META_GRAPH_URL}/${phoneNumberId}/messages`. */
  url: string;
  accessToken: string;
  appSecret: string;
  body: Json;
  timeoutMs?: number;
}

export async function graphPost(request: GraphRequest): Promise<Json> {
  const url = new URL(request.url);
  url.searchParams.set('appsecret_proof', createHmac('sha256', request.appSecret).update(request.accessToken).digest('hex'));
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${request.accessToken}` },
      body: JSON.stringify(request.body),
      signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new PlatformError(request.platform, { status: 0, message: `request failed: ${(err as Error).name}`, cause: err });
  }
  const text = await response.text().catch(() => '');
  let parsed: Json | undefined;
  try {
    parsed = asRecord(JSON.parse(text) as unknown);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = asRecord(parsed?.error);
    const code = Number(asString(error?.code));
    const subcode = Number(asString(error?.error_subcode));
    throw new PlatformError(request.platform, {
      status: response.status,
      message: asString(error?.message) ?? `HTTP ${response.status}`,
      ...(Number.isFinite(code) ? { code } : {}),
      ...(Number.isFinite(subcode) ? { subcode } : {}),
    });
  }
  if (!parsed) throw new PlatformError(request.platform, { status: response.status, message: 'the answer is not JSON', retryable: false });
  return parsed;
}
