/**
 * WhatsApp Cloud API webhook payloads → events. Documented shape
 * (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages):
 *
 *   { object: 'whatsapp_business_account', entry: [{ id: WABA_ID, changes: [{
 *     field: 'messages', value: { messaging_product: 'whatsapp',
 *     metadata: { display_phone_number, phone_number_id }, contacts: [...],
 *     messages: [{ from, id: 'wamid...', timestamp, type, text: {body} | image | ... }],
 *     statuses: [{ id: 'wamid...', status, timestamp, recipient_id, errors: [...] }] } }] }] }
 *
 * Every entry, change, message and status is read, in order. `from` is the
 * wa_id (digits): the customer's E.164 number with its `+` restored.
 */
import { GatewayError } from '../../src/errors';
import type { DeliveryStatus } from '../../src/messages';
import { asArray, asRecord, asString, isoTime, mediaPlaceholder, type Json, type WebhookEvent } from '../webhook';

const MEDIA = new Set(['image', 'video', 'audio', 'document', 'sticker']);
/** Not customer messages: a reaction to one of ours, or a system notice (number change). */
const IGNORED = new Set(['reaction', 'system', 'ephemeral', 'request_welcome']);

function messageText(message: Json, type: string): string {
  if (type === 'text') return asString(asRecord(message.text)?.body) ?? '';
  if (MEDIA.has(type)) return mediaPlaceholder(type, asString(asRecord(message[type])?.caption));
  if (type === 'button') return asString(asRecord(message.button)?.text) ?? '[button]';
  if (type === 'interactive') {
    const interactive = asRecord(message.interactive);
    const reply = asRecord(interactive?.button_reply) ?? asRecord(interactive?.list_reply);
    return asString(reply?.title) ?? mediaPlaceholder(asString(interactive?.type) ?? 'interactive');
  }
  return mediaPlaceholder(type); // location, contacts, order, unsupported...
}

function statusOf(raw: string | undefined): DeliveryStatus | undefined {
  switch (raw) {
    case 'sent':
      return 'sent';
    case 'delivered':
      return 'delivered';
    case 'read':
    case 'played':
      return 'read';
    case 'failed':
      return 'failed';
    default:
      return undefined; // "deleted", "warning"...
  }
}

/** `whatsapp 131047: Re-engagement message — Message failed to send because more than 24 hours have passed...` */
function statusError(status: Json): string | undefined {
  const error = asRecord(asArray(status.errors)[0]);
  if (!error) return undefined;
  const details = asString(asRecord(error.error_data)?.details);
  const words = [asString(error.title) ?? asString(error.message), details].filter(Boolean).join(' — ');
  return `whatsapp ${asString(error.code) ?? '?'}: ${words}`.slice(0, 500);
}

export function parseWhatsAppPayload(payload: unknown): WebhookEvent[] {
  const root = asRecord(payload);
  if (!root || !Array.isArray(root.entry)) throw new GatewayError('GW_ERR_WEBHOOK_PAYLOAD', 'expected {object, entry: [...]}');
  if (root.object !== 'whatsapp_business_account') return [];
  const events: WebhookEvent[] = [];
  for (const entry of asArray(root.entry)) {
    for (const change of asArray(asRecord(entry)?.changes)) {
      const value = asRecord(asRecord(change)?.value);
      if (!value || asRecord(change)?.field !== 'messages') continue;
      for (const raw of asArray(value.messages)) {
        const message = asRecord(raw);
        const from = asString(message?.from);
        const id = asString(message?.id);
        const type = asString(message?.type) ?? 'unknown';
        if (!message || !from || !id || IGNORED.has(type)) continue;
        const sentAt = isoTime(message.timestamp, 's');
        events.push({
          kind: 'message',
          inbound: { channel: 'whatsapp', externalUserId: from.startsWith('+') ? from : `+${from}`, platformMessageId: id, text: messageText(message, type), ...(sentAt ? { sentAt } : {}) },
        });
      }
      for (const raw of asArray(value.statuses)) {
        const status = asRecord(raw);
        const id = asString(status?.id);
        const mapped = statusOf(asString(status?.status));
        if (!status || !id || !mapped) continue;
        const error = mapped === 'failed' ? statusError(status) : undefined;
        events.push({ kind: 'status', platformMessageId: id, status: mapped, ...(error ? { error } : {}) });
      }
    }
  }
  return events;
}
