/**
 * ② The one path every customer message from a public channel takes:
 * connector → ingest → store → (durable job) → bot.
 *
 * Order matters: redact first (raw card numbers and secrets never reach the
 * store), then one atomic append-with-dedupe that also hands the message to
 * the bot: on Redis the same script records it in the inbox stream, which
 * InboxRelay (src/jobs/inbox-relay.ts) turns into the durable `inbound` job;
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
import type { AppendResult, Store } from './store/store';

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

/** Printable ASCII, tab and newline only: already NFC, and no control character to strip. */
const PLAIN_ASCII = /^[\t\n\x20-\x7e]*$/;

/** Control characters (except tab/newline) are stripped and text is NFC-normalised before storing. */
export function normaliseText(text: string, maxLength: number): string {
  // Most SMS text is plain ASCII: one linear test spares NFC and the per-character Unicode replace.
  if (PLAIN_ASCII.test(text)) return text.slice(0, maxLength);
  return text
    .normalize('NFC')
    .replace(/\p{Cc}/gu, (c) => (c === '\n' || c === '\t' ? c : ''))
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
  // Only a hint that spares a repeat sender the two reads of openConversation:
  // the append (requireOpen) is the authority and refuses a closed or expired
  // conversation, and then the hint is dropped and the slow path runs.
  const hints = new Map<string, string>();
  const remember = (key: string, conversationId: string) => {
    hints.delete(key);
    hints.set(key, conversationId);
    if (hints.size > HINTS_MAX) hints.delete(hints.keys().next().value!);
  };

  return async function ingest(inbound: InboundMessage): Promise<IngestResult> {
    const clean = deps.redact(normaliseText(inbound.text, maxTextLength));
    const draft: MessageDraft = { author: 'customer', channel: inbound.channel, text: clean.text, ...(clean.redacted ? { redacted: true } : {}) };
    const inbox = deps.store.durableInbox;
    const options = { dedupeKey: `${inbound.channel}:${inbound.platformMessageId}`, requireOpen: true, inbox };
    const hintKey = `${inbound.channel}\n${inbound.externalUserId}`;

    let appended: AppendResult | undefined;
    const hinted = hints.get(hintKey);
    if (hinted !== undefined) {
      try {
        appended = await deps.store.appendMessage(hinted, draft, options);
      } catch (err) {
        if (!refusedHint(err)) throw err;
        hints.delete(hintKey);
      }
    }
    if (appended === undefined) {
      const { conversation, created } = await deps.store.openConversation(inbound.channel, inbound.externalUserId);
      if (created) deps.events.publish({ conversation, event: 'created' });
      // Not requireOpen here: openConversation just chose this conversation, as before.
      appended = await deps.store.appendMessage(conversation.id, draft, { dedupeKey: options.dedupeKey, inbox });
    }
    const { message, duplicate } = appended;
    const conversation = appended.conversation;
    if (conversation.status === 'open') remember(hintKey, conversation.id);
    if (!inbox) {
      // Without an inbox, enqueued on duplicates too: if an earlier delivery
      // stored the message but failed before its job was added, the platform's
      // retry repairs it. The job id makes this idempotent.
      const job = inboundJob(conversation.id, message.id);
      await deps.jobs.add<InboundJob>('inbound', job.data, job.options);
    }

    deps.metrics?.inboundMessages.inc({ channel: inbound.channel, outcome: duplicate ? 'duplicate' : 'stored' });
    if (log.isLevelEnabled('debug')) log.debug({ conversationId: conversation.id, messageId: message.id, duplicate, length: message.text.length, redacted: clean.redacted }, 'inbound stored');
    if (!duplicate) deps.events.publish({ conversation, event: 'message', message });
    return { conversation, message, duplicate };
  };
}
