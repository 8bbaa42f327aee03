/**
 * ② The one path every customer message from a public channel takes:
 * connector → ingest → store → (durable job) → bot.
 *
 * Order matters: redact first (raw card numbers and secrets never reach the
 * store), then one atomic append-with-dedupe, then the bot job. `ingest`
 * resolves only when the message is durably stored and its job enqueued, so a
 * webhook may acknowledge; it rejects with GW_ERR_STORE_UNAVAILABLE otherwise,
 * and the webhook answers 5xx so the platform retries.
 */
import type { ConversationEvents } from './conversation-events';
import type { JobQueue } from './jobs/job-queue';
import type { Conversation, InboundMessage, Message } from './messages';
import type { Logger } from './ops/logger';
import type { Metrics } from './ops/metrics';
import type { Store } from './store/store';

/** Removes what must never be stored from public-channel text (see src/bot/redact.ts). */
export type Redactor = (text: string) => { text: string; redacted: boolean };

/** Job data of the bot's durable `inbound` job. */
export interface InboundJob {
  conversationId: string;
  messageId: string;
}

export interface IngestResult {
  conversation: Conversation;
  message: Message;
  duplicate: boolean;
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

/** Control characters (except tab/newline) are stripped and text is NFC-normalised before storing. */
export function normaliseText(text: string, maxLength: number): string {
  return text
    .normalize('NFC')
    .replace(/\p{Cc}/gu, (c) => (c === '\n' || c === '\t' ? c : ''))
    .slice(0, maxLength);
}

export function createIngest(deps: IngestDeps): Ingest {
  const log = deps.logger.child({ component: 'ingest' });
  const maxTextLength = deps.maxTextLength ?? 4096;

  return async function ingest(inbound: InboundMessage): Promise<IngestResult> {
    const { conversation, created } = await deps.store.openConversation(inbound.channel, inbound.externalUserId);
    if (created) deps.events.publish({ conversation, event: 'created' });

    const clean = deps.redact(normaliseText(inbound.text, maxTextLength));
    const { message, duplicate } = await deps.store.appendMessage(
      conversation.id,
      { author: 'customer', channel: inbound.channel, text: clean.text, ...(clean.redacted ? { redacted: true } : {}) },
      { dedupeKey: `${inbound.channel}:${inbound.platformMessageId}` },
    );
    // Enqueued on duplicates too: if an earlier delivery stored the message but
    // failed before its job was added, the platform's retry repairs it. The
    // job id makes this idempotent and the bot skips messages it handled.
    await deps.jobs.add<InboundJob>('inbound', { conversationId: conversation.id, messageId: message.id }, { jobId: `in_${conversation.id}_${message.id}`, attempts: 5, backoffMs: 1000 });

    deps.metrics?.inboundMessages.inc({ channel: inbound.channel, outcome: duplicate ? 'duplicate' : 'stored' });
    log.debug({ conversationId: conversation.id, messageId: message.id, duplicate, length: message.text.length, redacted: clean.redacted }, 'inbound stored');
    if (!duplicate) deps.events.publish({ conversation: { ...conversation, lastMessageAt: message.createdAt }, event: 'message', message });
    return { conversation, message, duplicate };
  };
}
