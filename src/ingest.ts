/**
 * ② The one path every customer message from a public channel takes:
 * connector → ingest → store → (durable job) → bot.
 *
 * Order matters: redact first (raw card numbers and secrets never reach the
 * store), then one atomic append-with-dedupe that also hands the message to
 * the bot. The dedupe is by the platform's message id across every
 * conversation of the sender, for 7 days, and comes before the choice of a
 * conversation: a redelivery after its conversation was closed (or expired)
 * is a duplicate, not the first message of a new conversation (PRODUCT.md:
 * a duplicate delivery leaves one entry). On Redis the same script records
 * the message in the inbox stream, which InboxRelay
 * (src/jobs/inbox-relay.ts) turns into the durable `inbound` job;
 * the memory store has no inbox, so ingest adds the job itself. `ingest`
 * resolves only when the message is durably stored and handed over, so a
 * webhook may acknowledge; it rejects with GW_ERR_STORE_UNAVAILABLE otherwise,
 * and the webhook answers 5xx so the platform retries.
 */
import type { ConversationEvents } from './conversation-events';
import type { JobOptions, JobQueue } from './jobs/job-queue';
import { isGatewayError } from './errors';
import type { Conversation, InboundMessage, Message, MessageDraft } from './messages';
import type { Logger } from './ops/logger';
import type { Metrics } from './ops/metrics';
import { keys } from './store/keys';
import type { InboundAppendResult, PlatformMessage, Store } from './store/store';

/** Removes what must never be stored from public-channel text (see src/bot/redact.ts). */
export type Redactor = (text: string) => { text: string; redacted: boolean };

/** Job data of the bot's durable `inbound` job. */
export interface InboundJob {
  conversationId: string;
  messageId: string;
}

/** The bot's job for one stored inbound message; its id makes adding it twice a no-op. */
export function inboundJob(conversationId: string, messageId: string): { data: InboundJob; options: JobOptions } {
  return { data: { conversationId, messageId }, options: { jobId: `in_${conversationId}_${messageId}`, attempts: 5, backoffMs: 1000 } };
}

/**
 * A message stored now (and handed to the bot), or a platform's redelivery
 * of one stored before: nothing stored, no job, no event.
 */
export type IngestResult = IngestStored | IngestDuplicate;

export interface IngestStored {
  duplicate: false;
  conversation: Conversation;
  message: Message;
}

export interface IngestDuplicate {
  duplicate: true;
  /**
   * The conversation the first delivery was stored in. When it has expired
   * (`expired`: THREAD_RETENTION_DAYS may be shorter than the 7-day dedupe
   * window), only its id is left: see `expiredConversation`.
   */
  conversation: Conversation;
  expired: boolean;
  /** The first delivery, when the redelivery was aimed at its conversation (the usual case: a quick retry). */
  message?: Message;
}

/**
 * What ingest can say of a conversation whose records expired: its id (from
 * the dedupe record), the redelivery's own channel and sender, `closed`
 * since nothing can be added to it; its times are unknown and given as the
 * epoch, so nothing mistakes it for recent activity.
 */
function expiredConversation(id: string, inbound: InboundMessage): Conversation {
  const unknown = new Date(0).toISOString();
  return { id, channel: inbound.channel, externalUserId: inbound.externalUserId, status: 'closed', secure: 'none', lastMessageAt: unknown, createdAt: unknown };
}

export interface IngestDeps {
  store: Store;
  jobs: JobQueue;
  events: ConversationEvents;
  redact: Redactor;
  logger: Logger;
  metrics?: Metrics;
  /** Longest text kept from a platform; longer text is cut (platforms cap far below this). */
  maxTextLength?: number;
}

export type Ingest = (inbound: InboundMessage) => Promise<IngestResult>;

/** Printable ASCII, tab and newline only: already NFC, and no control character to strip. */
const PLAIN_ASCII = /^[\t\n\x20-\x7e]*$/;

/**
 * What is stripped besides control characters: the bidirectional embeddings,
 * overrides and isolates (U+202A-U+202E, U+2066-U+2069). They let a message
 * display in another order than it reads ("pay \u202Eevil" spoofing a
 * console or the webview). The marks U+200E/U+200F stay: right-to-left
 * writing needs them and they cannot reorder a run.
 */
const STRIPPED = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu;

/** Control characters (except tab/newline) and bidi overrides are stripped and text is NFC-normalised before storing. */
export function normaliseText(text: string, maxLength: number): string {
  // Most SMS text is plain ASCII: one linear test spares NFC and the per-character Unicode replace.
  if (PLAIN_ASCII.test(text)) return text.slice(0, maxLength);
  return text
    .normalize('NFC')
    .replace(STRIPPED, (c) => (c === '\n' || c === '\t' ? c : ''))
    .slice(0, maxLength);
}

/** How many (channel, user) → conversation id hints one process keeps (oldest dropped first). */
const HINTS_MAX = 10_000;

function refusedHint(err: unknown): boolean {
  return isGatewayError(err) && (err.code === 'GW_ERR_CONVERSATION_CLOSED' || err.code === 'GW_ERR_CONVERSATION_NOT_FOUND');
}

export function createIngest(deps: IngestDeps): Ingest {
  const log = deps.logger.child({ component: 'ingest' });
  const maxTextLength = deps.maxTextLength ?? 4096;
  // (channel, user) → the conversation this process last stored into for them.
  // Only a hint that spares a repeat sender the reads of the slow path: the
  // append (requireOpen) is the authority and refuses a closed or expired
  // conversation, and then the hint is dropped and the slow path runs.
  const hints = new Map<string, string>();
  const remember = (key: string, conversationId: string) => {
    hints.delete(key);
    hints.set(key, conversationId);
    if (hints.size > HINTS_MAX) hints.delete(hints.keys().next().value!);
  };

  const count = (inbound: InboundMessage, outcome: 'stored' | 'duplicate') => deps.metrics?.inboundMessages.inc({ channel: inbound.channel, outcome });

  /**
   * A redelivery the append answered with only the id of its first
   * delivery's conversation: another one than it was aimed at, or one that
   * has expired. One read, off the hot path (a retry aimed at its own live
   * conversation is answered by the append itself, message included).
   */
  async function duplicateElsewhere(inbound: InboundMessage, conversationId: string): Promise<IngestDuplicate> {
    const conversation = await deps.store.getConversation(conversationId);
    count(inbound, 'duplicate');
    if (log.isLevelEnabled('debug')) log.debug({ conversationId, expired: conversation === undefined }, 'inbound duplicate');
    return { duplicate: true, conversation: conversation ?? expiredConversation(conversationId, inbound), expired: conversation === undefined };
  }

  return async function ingest(inbound: InboundMessage): Promise<IngestResult> {
    const clean = deps.redact(normaliseText(inbound.text, maxTextLength));
    const draft: MessageDraft = { author: 'customer', channel: inbound.channel, text: clean.text, ...(clean.redacted ? { redacted: true } : {}) };
    const inbox = deps.store.durableInbox;
    const platformMessage: PlatformMessage = { channel: inbound.channel, externalUserId: inbound.externalUserId, platformMessageId: inbound.platformMessageId };
    const hintKey = `${inbound.channel}\n${inbound.externalUserId}`;

    let target = hints.get(hintKey);
    if (target === undefined) {
      // No hint (the sender's first message on this node): ask, in one round
      // trip, where the message was first stored if it was, and which
      // conversation the sender is in, and aim the append there instead of
      // opening a conversation for a redelivery. The append still decides:
      // its dedupe comes before its open check, so a redelivery is answered
      // as a duplicate even from a closed conversation.
      const [first, current] = await Promise.all([deps.store.firstConversationOf(platformMessage), deps.store.get(keys.userConversation(inbound.channel, inbound.externalUserId))]);
      target = first ?? current;
    }

    let appended: InboundAppendResult | undefined;
    if (target !== undefined) {
      try {
        appended = await deps.store.appendInbound(target, draft, platformMessage, { requireOpen: true, inbox });
      } catch (err) {
        if (!refusedHint(err)) throw err;
        hints.delete(hintKey);
      }
    }
    if (appended === undefined) {
      const { conversation, created } = await deps.store.openConversation(inbound.channel, inbound.externalUserId);
      if (created) deps.events.publish({ conversation, event: 'created' });
      // Not requireOpen here: openConversation just chose this conversation, as before.
      appended = await deps.store.appendInbound(conversation.id, draft, platformMessage, { inbox });
    }
    if ('firstConversationId' in appended) return duplicateElsewhere(inbound, appended.firstConversationId);

    const { message, duplicate, conversation } = appended;
    if (conversation.status === 'open') remember(hintKey, conversation.id);
    // Without an inbox, a duplicate is enqueued again while its conversation
    // is open: if an earlier delivery stored the message but failed before its
    // job was added, the platform's retry repairs it (the job id makes this
    // idempotent). A closed conversation's message is not handed over again.
    if (!inbox && (!duplicate || conversation.status === 'open')) {
      const job = inboundJob(conversation.id, message.id);
      await deps.jobs.add<InboundJob>('inbound', job.data, job.options);
    }

    count(inbound, duplicate ? 'duplicate' : 'stored');
    if (log.isLevelEnabled('debug')) log.debug({ conversationId: conversation.id, messageId: message.id, duplicate, length: message.text.length, redacted: clean.redacted }, 'inbound stored');
    if (duplicate) return { duplicate, conversation, expired: false, message };
    deps.events.publish({ conversation, event: 'message', message });
    return { duplicate, conversation, message };
  };
}
