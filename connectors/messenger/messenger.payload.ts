/**
 * Messenger webhook payloads → events. Documented shape
 * (developers.facebook.com/docs/messenger-platform/reference/webhook-events):
 *
 *   { object: 'page', entry: [{ id, time, messaging: [{ sender: {id: PSID},
 *     recipient: {id: PAGE_ID}, timestamp, message: { mid, text, attachments,
 *     quick_reply, is_echo } | postback | delivery | read | ... }] }] }
 *
 * Every entry and every messaging event is read, in order. Echoes (our own
 * sends), reads, reactions and other notifications are not customer
 * messages; deliveries with `mids` become "delivered" statuses.
 */
import { GatewayError } from '../../src/errors';
import type { InboundMessage } from '../../src/messages';
import { asArray, asRecord, asString, isoTime, mediaPlaceholder, type Json, type WebhookEvent } from '../webhook';

function inbound(sender: string, platformMessageId: string, text: string, timestamp: unknown): InboundMessage {
  const sentAt = isoTime(timestamp, 'ms');
  return { channel: 'messenger', externalUserId: sender, platformMessageId, text, ...(sentAt ? { sentAt } : {}) };
}

function messageText(message: Json): string {
  const text = asString(message.text);
  const placeholders = asArray(message.attachments).map((a) => mediaPlaceholder(asString(asRecord(a)?.type) ?? 'attachment'));
  const parts = [text, ...placeholders].filter((p): p is string => p !== undefined && p !== '');
  return parts.length > 0 ? parts.join(' ') : '[unsupported message]';
}

export function parseMessengerPayload(payload: unknown): WebhookEvent[] {
  const root = asRecord(payload);
  if (!root || !Array.isArray(root.entry)) throw new GatewayError('GW_ERR_WEBHOOK_PAYLOAD', 'expected {object, entry: [...]}');
  if (root.object !== 'page') return []; // another product's subscription on the same app: acknowledged, not ours
  const events: WebhookEvent[] = [];
  for (const entry of asArray(root.entry)) {
    for (const raw of asArray(asRecord(entry)?.messaging)) {
      const event = asRecord(raw);
      const sender = asString(asRecord(event?.sender)?.id);
      if (!event || !sender) continue;
      const message = asRecord(event.message);
      const postback = asRecord(event.postback);
      const delivery = asRecord(event.delivery);
      if (message) {
        if (message.is_echo === true) continue;
        const mid = asString(message.mid);
        if (!mid) continue;
        events.push({ kind: 'message', inbound: inbound(sender, mid, messageText(message), event.timestamp) });
      } else if (postback) {
        // A tapped postback button reads like the customer typing its title.
        const id = asString(postback.mid) ?? `postback:${sender}:${asString(event.timestamp) ?? ''}`;
        const text = asString(postback.title) ?? asString(postback.payload) ?? '[button]';
        events.push({ kind: 'message', inbound: inbound(sender, id, text, event.timestamp) });
      } else if (delivery) {
        for (const mid of asArray(delivery.mids)) {
          const id = asString(mid);
          if (id) events.push({ kind: 'status', platformMessageId: id, status: 'delivered' });
        }
      }
      // read, reaction, optin, referral, standby...: not messages, nothing to record
    }
  }
  return events;
}
