/**
 * Where an advisor's reply goes (PRODUCT.md, advisor REST API `POST
 * /api/conversations/:id/messages`, and "Secure chat").
 *
 * - While a secure session is active (connected or resumable) and the
 *   channel is not locked: the reply is appended to the thread with
 *   `channel: 'secure'` and emitted live to the conversation's room. It is
 *   never sent to the public platform. If no customer socket is connected on
 *   any node, the public channel gets only a content-free nudge with a fresh
 *   link (at most one per cooldown), never the text.
 * - Otherwise (no session, or locked): the public channel, with the guard
 *   rail: text holding a card number, IBAN or account number is refused
 *   (GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL) before anything is stored.
 *
 * The platform sends (reply and nudge) are callbacks the composition root
 * wires to the outbox, so this module stays free of connectors.
 */
import type { AdvisorIdentity } from '../advisor/auth';
import type { ConversationEvents } from '../conversation-events';
import { GatewayError } from '../errors';
import { normaliseText } from '../ingest';
import type { Conversation, Message, PublicChannel } from '../messages';
import type { Logger } from '../ops/logger';
import { keys } from '../store/keys';
import type { Store } from '../store/store';
import type { SecureSessions } from './sessions';

/** The only text a nudge may carry, besides its fresh link. */
export const NUDGE_TEXT = 'You have a new secure message — tap to open';

export interface AdvisorRepliesDeps {
  store: Store;
  events: ConversationEvents;
  sessions: Pick<SecureSessions, 'hasActive'>;
  /** The socket server (`attachSocketServer(...)`): is a customer socket of the conversation connected on any node? */
  sockets: { hasLiveCustomer(conversationId: string): Promise<boolean> };
  logger?: Logger;
  /** Card numbers → last four in every stored thread (src/bot/redact.ts `maskPans`). */
  maskPans?: (text: string) => string;
  /** Card number, IBAN or account number in the text (src/bot/redact.ts `containsSensitiveData`): refused on a public channel. */
  containsSensitiveData?: (text: string) => boolean;
  /** A connector is configured for this platform. Default: every platform has one. */
  hasConnector?: (channel: PublicChannel) => boolean;
  /** Sends a stored advisor message on the public platform (the outbox; keyed by message id, so a repeat is harmless). */
  sendPublic?: (conversation: Conversation, messageId: string) => Promise<unknown>;
  /**
   * Sends the content-free nudge: NUDGE_TEXT and a FRESH pivot link, never the
   * reply's text. Called only when no customer socket is connected, at most
   * once per cooldown per conversation.
   */
  nudge?: (conversation: Conversation) => Promise<void>;
  /** At most one nudge per conversation per this many seconds. Default 120. */
  nudgeCooldownSeconds?: number;
  maxTextLength?: number;
}

export interface ReplyOptions {
  /** The REST call's Idempotency-Key: a retry returns the first message and sends nothing twice. */
  idempotencyKey?: string;
}

/**
 * Routes advisor replies (see the file header).
 * @example
 *   const replies = new AdvisorReplies({ store, events, sessions, sockets, maskPans, containsSensitiveData, sendPublic, nudge });
 *   const message = await replies.deliverAdvisorReply(conversationId, 'Your card is on its way', { sub: 'advisor-7', name: 'Alex' });
 */
export class AdvisorReplies {
  private readonly log?: Logger;

  constructor(private readonly deps: AdvisorRepliesDeps) {
    this.log = deps.logger?.child({ component: 'advisor-replies' });
  }

  /**
   * Appends an advisor reply to the thread and routes it.
   * @throws GatewayError GW_ERR_CONVERSATION_NOT_FOUND, GW_ERR_CONVERSATION_CLOSED, GW_ERR_VALIDATION,
   *   GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL, GW_ERR_CHANNEL_UNAVAILABLE, GW_ERR_STORE_UNAVAILABLE
   */
  async deliverAdvisorReply(conversationId: string, text: string, advisor: AdvisorIdentity, options: ReplyOptions = {}): Promise<Message> {
    // The three reads are independent: one pipelined round trip to Redis instead of three.
    const [conversation, secure] = await Promise.all([this.deps.store.getConversation(conversationId), this.secureActive(conversationId)]);
    if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    return this.route(conversation, conversation.secure !== 'locked' && secure, text, advisor, options);
  }

  /** The same, for a caller that already read the conversation (the REST API). */
  async reply(conversation: Conversation, text: string, advisor: AdvisorIdentity, options: ReplyOptions = {}): Promise<Message> {
    const secure = conversation.secure !== 'locked' && (await this.secureActive(conversation.id));
    return this.route(conversation, secure, text, advisor, options);
  }

  private async route(conversation: Conversation, secure: boolean, rawText: string, advisor: AdvisorIdentity, options: ReplyOptions): Promise<Message> {
    const { deps } = this;
    const conversationId = conversation.id;
    if (conversation.status === 'closed') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED', conversationId);
    const maxTextLength = deps.maxTextLength ?? 4096;
    if (typeof rawText !== 'string') throw new GatewayError('GW_ERR_VALIDATION', 'text must be a string');
    const clean = normaliseText(rawText, maxTextLength + 1).trim();
    if (clean.length === 0 || clean.length > maxTextLength) throw new GatewayError('GW_ERR_VALIDATION', `text must be 1-${maxTextLength} characters`);

    const sendPublic = secure ? undefined : deps.sendPublic;
    if (!secure) {
      if (deps.containsSensitiveData?.(clean)) throw new GatewayError('GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL');
      if (!sendPublic || !(deps.hasConnector?.(conversation.channel) ?? true)) throw new GatewayError('GW_ERR_CHANNEL_UNAVAILABLE', conversation.channel);
    }
    const text = deps.maskPans ? deps.maskPans(clean) : clean;
    const { message, duplicate } = await deps.store.appendMessage(
      conversationId,
      { author: 'advisor', channel: secure ? 'secure' : conversation.channel, text, ...(text !== clean ? { redacted: true } : {}), ...(advisor.name ? { authorName: advisor.name.slice(0, 80) } : {}) },
      options.idempotencyKey ? { dedupeKey: `advisor:${advisor.sub}:${options.idempotencyKey}`, dedupeTtlSeconds: 24 * 3600 } : {},
    );
    if (duplicate) {
      // A retried call: the first may have stored the reply and failed before the outbox took it.
      if (sendPublic && message.channel !== 'secure') await sendPublic(conversation, message.id);
      return message;
    }
    const updated = { ...conversation, lastMessageAt: message.createdAt };
    deps.events.publish({ conversation: updated, event: 'message', message });
    this.log?.info({ conversationId, messageId: message.id, channel: message.channel, advisor: advisor.sub, length: text.length }, 'advisor reply stored');

    if (sendPublic) {
      await sendPublic(updated, message.id);
    } else {
      // The reply is stored and live: a failed nudge must not fail the advisor's call.
      await this.maybeNudge(updated).catch((err: unknown) => this.log?.warn({ conversationId, err: err instanceof GatewayError ? err.code : String(err) }, 'nudge failed'));
    }
    return message;
  }

  /** A session is active (connected or resumable) and no lock key exists; the caller also checks `conversation.secure`. */
  private async secureActive(conversationId: string): Promise<boolean> {
    const [lock, active] = await Promise.all([this.deps.store.get(keys.secureLock(conversationId)), this.deps.sessions.hasActive(conversationId)]);
    return lock === undefined && active;
  }

  private async maybeNudge(conversation: Conversation): Promise<void> {
    const { deps } = this;
    if (!deps.nudge || !(deps.hasConnector?.(conversation.channel) ?? true)) return;
    if (await deps.sockets.hasLiveCustomer(conversation.id)) return;
    if (!(await deps.store.setIfAbsent(keys.nudge(conversation.id), '1', deps.nudgeCooldownSeconds ?? 120))) return;
    await deps.nudge(conversation);
    this.log?.info({ conversationId: conversation.id }, 'customer offline: content-free nudge sent on the public channel');
  }
}
