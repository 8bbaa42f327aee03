/**
 * Reading one Bot Framework Activity (Web Chat, Teams, Direct Line, the
 * Emulator) into the core's `InboundMessage`, plus the conversation
 * reference the gateway needs to answer that user later (proactively, from
 * the outbox). The Activity itself is never stored: it may hold a card
 * number, and redaction happens in `ingest`.
 *
 * Decisions:
 * - Only `message` activities become thread messages; conversation updates,
 *   typing, invokes etc. are acknowledged and ignored.
 * - Group conversations (Teams channels, group chats) are ignored: a pivot
 *   invite holds a single-use link, which must not be posted where others
 *   can tap it, and the gateway could not tell whose account the thread is.
 * - Teams prefixes a message with an `<at>` mention of the bot: removed.
 * - A message without text (an image, a file) is stored as a placeholder
 *   naming its kind, never its content.
 */
import { ActivityTypes, TurnContext, type Activity, type ConversationReference } from 'botbuilder';
import type { InboundMessage } from '../../src/messages';
import { mediaPlaceholder } from '../webhook';

export type ActivityReading =
  | { kind: 'message'; inbound: InboundMessage; reference: ConversationReference }
  | { kind: 'ignored'; reason: 'not_a_message' | 'group_conversation' | 'empty' }
  | { kind: 'invalid'; reason: string };

const GROUP_TYPES = new Set(['channel', 'groupChat']);

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** `image/png` → image; an Adaptive or hero card → card; anything else → file. */
function attachmentKind(contentType: string | undefined): string {
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('application/vnd.microsoft.card.')) return 'card';
  const major = type.split('/')[0] ?? '';
  return major === 'image' || major === 'video' || major === 'audio' ? major : 'file';
}

function sentAtOf(timestamp: unknown): string | undefined {
  if (typeof timestamp !== 'string' && !(timestamp instanceof Date)) return undefined;
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * What to keep of an activity's addresses to reply later: ids and the
 * serviceUrl only. Display names (the customer's name) are dropped; Teams'
 * `tenantId` is kept because proactive sends into Teams need it.
 */
export function referenceOf(activity: Partial<Activity>): ConversationReference | undefined {
  const serviceUrl = nonEmpty(activity.serviceUrl);
  const channelId = nonEmpty(activity.channelId);
  const conversationId = nonEmpty(activity.conversation?.id);
  const userId = nonEmpty(activity.from?.id);
  const botId = nonEmpty(activity.recipient?.id);
  if (!serviceUrl || !channelId || !conversationId || !userId || !botId) return undefined;
  const tenantId = nonEmpty(activity.conversation?.tenantId);
  return {
    channelId,
    serviceUrl,
    ...(nonEmpty(activity.locale) ? { locale: activity.locale } : {}),
    conversation: { id: conversationId, isGroup: false, conversationType: activity.conversation?.conversationType ?? '', name: '', ...(tenantId ? { tenantId } : {}) },
    user: { id: userId, name: '' },
    bot: { id: botId, name: activity.recipient?.name ?? '' },
  };
}

/**
 * @example
 *   const reading = readActivity(context.activity);
 *   if (reading.kind === 'message') await ctx.ingest(reading.inbound);
 */
export function readActivity(activity: Partial<Activity>): ActivityReading {
  if (activity.type !== ActivityTypes.Message) return { kind: 'ignored', reason: 'not_a_message' };
  if (activity.conversation?.isGroup === true || GROUP_TYPES.has(activity.conversation?.conversationType ?? '')) return { kind: 'ignored', reason: 'group_conversation' };

  const id = nonEmpty(activity.id);
  if (!id) return { kind: 'invalid', reason: 'message activity without id' };
  const reference = referenceOf(activity);
  if (!reference) return { kind: 'invalid', reason: 'message activity without serviceUrl, channelId, conversation.id, from.id or recipient.id' };

  // removeRecipientMention edits the text of the activity it is given: give it a copy.
  const text = (activity.text ? TurnContext.removeRecipientMention({ ...activity }) ?? '' : '').trim();
  const attachments = activity.attachments ?? [];
  const body = text !== '' ? text : attachments.length > 0 ? mediaPlaceholder(attachmentKind(attachments[0]?.contentType)) : '';
  if (body === '') return { kind: 'ignored', reason: 'empty' };

  const sentAt = sentAtOf(activity.timestamp);
  return {
    kind: 'message',
    inbound: { channel: 'botframework', externalUserId: reference.user!.id, platformMessageId: id, text: body, ...(sentAt ? { sentAt } : {}) },
    reference,
  };
}
