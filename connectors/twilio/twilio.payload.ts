/**
 * Twilio Messaging webhook parameters → events
 * (twilio.com/docs/messaging/guides/webhook-request): `MessageSid`, `From`,
 * `To`, `Body`, `NumMedia`, `MediaContentType{N}`; WhatsApp adds
 * `From: whatsapp:+E164`, `WaId`, `ProfileName`, `MessageType`, `ButtonText`,
 * `Latitude`. Status callbacks (twilio.com/docs/messaging/guides/track-outbound-message-status)
 * carry `MessageSid`, `MessageStatus` and, on failure, `ErrorCode`.
 */
import { GatewayError } from '../../src/errors';
import type { DeliveryStatus, InboundMessage } from '../../src/messages';
import { mediaPlaceholder, type WebhookEvent } from '../webhook';
import type { TwilioParams } from './twilio.signature';

export const WHATSAPP_PREFIX = 'whatsapp:';

function first(params: TwilioParams, key: string): string | undefined {
  const value = params[key];
  return Array.isArray(value) ? value[0] : value;
}

export interface TwilioInbound {
  event: WebhookEvent & { kind: 'message' };
  /** For WhatsApp over Twilio: the bank's sender the customer wrote to (`whatsapp:+1415...`), to answer from it. */
  whatsAppSender?: string;
}

/**
 * One inbound message. Its dedupe id is `MessageSid` (the same on every
 * redelivery of the message, on any node); when Twilio omits it, the
 * `I-Twilio-Idempotency-Token` header (the same on every retry of one webhook)
 * stands in, so both are honoured with one atomic store operation.
 */
export function parseTwilioInbound(params: TwilioParams, idempotencyToken: string | undefined): TwilioInbound {
  const from = first(params, 'From');
  const id = first(params, 'MessageSid') ?? first(params, 'SmsMessageSid') ?? first(params, 'SmsSid') ?? (idempotencyToken ? `idem:${idempotencyToken}` : undefined);
  if (!from || !id) throw new GatewayError('GW_ERR_WEBHOOK_PAYLOAD', 'expected From and MessageSid');
  const whatsapp = from.startsWith(WHATSAPP_PREFIX);

  const parts: string[] = [];
  const body = first(params, 'Body');
  if (body) parts.push(body);
  const media = Number(first(params, 'NumMedia') ?? '0');
  for (let i = 0; Number.isInteger(media) && i < Math.min(media, 10); i++) {
    const type = first(params, `MediaContentType${i}`) ?? 'attachment';
    parts.push(mediaPlaceholder(type.split('/')[0] ?? 'attachment'));
  }
  if (first(params, 'Latitude') !== undefined && first(params, 'Longitude') !== undefined) parts.push(mediaPlaceholder('location'));
  if (!body && first(params, 'ButtonText')) parts.push(first(params, 'ButtonText')!);

  const inbound: InboundMessage = {
    channel: whatsapp ? 'whatsapp' : 'sms',
    externalUserId: whatsapp ? from.slice(WHATSAPP_PREFIX.length) : from,
    platformMessageId: id,
    text: parts.length > 0 ? parts.join(' ') : '[empty message]',
  };
  const to = first(params, 'To');
  return {
    event: { kind: 'message', inbound },
    ...(whatsapp && to?.startsWith(WHATSAPP_PREFIX) ? { whatsAppSender: to } : {}),
  };
}

/** Meanings of the error codes status callbacks carry most often (twilio.com/docs/api/errors). */
const TWILIO_ERRORS: Record<string, string> = {
  '21211': "invalid 'To' phone number",
  '21408': 'permission to send to this region is not enabled',
  '21610': 'the recipient replied STOP (unsubscribed)',
  '21614': "'To' number is not a valid mobile number",
  '30003': 'unreachable destination handset',
  '30004': 'message blocked',
  '30005': 'unknown destination handset',
  '30006': 'landline or unreachable carrier',
  '30007': 'message filtered by the carrier',
  '30008': 'unknown error',
  '63016': "outside WhatsApp's 24-hour customer service window (a template is required)",
};

function statusOf(raw: string | undefined): DeliveryStatus | undefined {
  switch (raw) {
    case 'accepted':
    case 'scheduled':
    case 'queued':
    case 'sending':
    case 'sent':
      return 'sent'; // accepted by Twilio: our "sent"; the carrier's receipt is "delivered"
    case 'delivered':
    case 'partially_delivered':
      return 'delivered';
    case 'read':
      return 'read';
    case 'undelivered':
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return undefined; // receiving/received: inbound
  }
}

export function parseTwilioStatus(params: TwilioParams): WebhookEvent | undefined {
  const id = first(params, 'MessageSid') ?? first(params, 'SmsSid');
  const raw = first(params, 'MessageStatus') ?? first(params, 'SmsStatus');
  const status = statusOf(raw);
  if (!id || !status) return undefined;
  if (status !== 'failed') return { kind: 'status', platformMessageId: id, status };
  const code = first(params, 'ErrorCode');
  const meaning = code ? (TWILIO_ERRORS[code] ?? `see https://www.twilio.com/docs/api/errors/${code}`) : 'no error code given';
  return { kind: 'status', platformMessageId: id, status, error: `twilio ${raw}${code ? ` (#${code})` : ''}: ${meaning}` };
}
