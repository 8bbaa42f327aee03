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
import type { Conversation, Message, MessageDraft, PublicChannel } from '../messages';
import type { Logger } from '../ops/logger';
import { keys } from '../store/keys';
import type { AppendOptions, Store } from '../store/store';
import type { CustomerPresence } from './io';

/** The only text a nudge may carry, besides its fresh link. */
export const NUDGE_TEXT = 'You have a new secure message — tap to open';

export interface AdvisorRepliesDeps {
  store: Store;
  events: ConversationEvents;
  /**
   * The socket server (`attachSocketServer(...)`): is a customer socket of the
   * conversation connected on any node? `customerPresence` lets the reply's
   * append step answer it in the same round trip (io.ts); without it, or when
   * it cannot say, `hasLiveCustomer` is asked.
   */
  sockets: { hasLiveCustomer(conversationId: string): Promise<boolean>; customerPresence?(conversationId: string): CustomerPresence };
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
    const clean = this.cleanText(text);
    if (clean === undefined) {
      // Only a refusal reads first: a missing or closed conversation is reported before bad text.
      const conversation = await this.deps.store.getConversation(conversationId);
      if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
      this.refuseText(conversation);
    }
    return this.route(conversationId, undefined, clean, advisor, options);
  }

  /** The same, for a caller that already read the conversation (the REST API). */
  async reply(conversation: Conversation, text: string, advisor: AdvisorIdentity, options: ReplyOptions = {}): Promise<Message> {
    const clean = this.cleanText(text);
    if (clean === undefined) this.refuseText(conversation);
    return this.route(conversation.id, conversation, clean, advisor, options);
  }

  /** The normalised text, or undefined when it is not 1-maxTextLength characters. */
  private cleanText(rawText: unknown): string | undefined {
    if (typeof rawText !== 'string') return undefined;
    const maxTextLength = this.deps.maxTextLength ?? 4096;
    const clean = normaliseText(rawText, maxTextLength + 1).trim();
    return clean.length === 0 || clean.length > maxTextLength ? undefined : clean;
  }

  private refuseText(conversation: Conversation): never {
    if (conversation.status === 'closed') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED', conversation.id);
    throw new GatewayError('GW_ERR_VALIDATION', `text must be a string of 1-${this.deps.maxTextLength ?? 4096} characters`);
  }

  /**
   * The secure channel first: one store step appends the reply only if the
   * channel is usable (not locked, a session live: Store.appendIfSecure), so
   * a reply costs one round trip before its fan-out. When it is not, nothing
   * was stored and the public path runs, guard rail first.
   */
  private async route(conversationId: string, known: Conversation | undefined, clean: string, advisor: AdvisorIdentity, options: ReplyOptions): Promise<Message> {
    const { deps } = this;
    if (known?.status === 'closed') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED', conversationId);
    const text = deps.maskPans ? deps.maskPans(clean) : clean;
    const draft: MessageDraft = { author: 'advisor', channel: 'secure', text, ...(text !== clean ? { redacted: true } : {}), ...(advisor.name ? { authorName: advisor.name.slice(0, 80) } : {}) };
    const dedupe: AppendOptions = options.idempotencyKey ? { dedupeKey: `advisor:${advisor.sub}:${options.idempotencyKey}`, dedupeTtlSeconds: 24 * 3600 } : {};

    let conversation = known;
    if (known?.secure !== 'locked') {
      // Whether the customer is connected matters only for a nudge: asked in the append step when it can be.
      const presence = deps.nudge ? deps.sockets.customerPresence?.(conversationId) : undefined;
      const secure = await deps.store.appendIfSecure(conversationId, draft, typeof presence === 'object' ? { ...dedupe, presenceChannel: presence.channel } : dedupe);
      if (secure.secure) {
        const { message } = secure;
        if (secure.duplicate) return message;
        deps.events.publish({ conversation: secure.conversation, event: 'message', message });
        this.log?.info({ conversationId, messageId: message.id, channel: message.channel, advisor: advisor.sub, length: text.length }, 'advisor reply stored');
        const live = presence === 'local' ? true : secure.presenceListeners === undefined ? undefined : secure.presenceListeners > 0;
        // The reply is stored and live: a failed nudge must not fail the advisor's call.
        await this.maybeNudge(secure.conversation, live).catch((err: unknown) => this.log?.warn({ conversationId, err: err instanceof GatewayError ? err.code : String(err) }, 'nudge failed'));
        return message;
      }
      conversation = secure.conversation;
    }
    if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    return this.replyInPublic(conversation, clean, { ...draft, channel: conversation.channel }, advisor, dedupe);
  }

  /** No usable secure channel: the platform, with the guard rail BEFORE anything is stored. */
  private async replyInPublic(conversation: Conversation, clean: string, draft: MessageDraft, advisor: AdvisorIdentity, dedupe: AppendOptions): Promise<Message> {
    const { deps } = this;
    const conversationId = conversation.id;
    if (deps.containsSensitiveData?.(clean)) throw new GatewayError('GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL');
    const sendPublic = deps.sendPublic;
    if (!sendPublic || !(deps.hasConnector?.(conversation.channel) ?? true)) throw new GatewayError('GW_ERR_CHANNEL_UNAVAILABLE', conversation.channel);
    const { message, duplicate, conversation: updated } = await deps.store.appendMessage(conversationId, draft, { ...dedupe, requireOpen: true });
    if (duplicate) {
      // A retried call: the first may have stored the reply and failed before the outbox took it.
      if (message.channel !== 'secure') await sendPublic(conversation, message.id);
      return message;
    }
    deps.events.publish({ conversation: updated, event: 'message', message });
    this.log?.info({ conversationId, messageId: message.id, channel: message.channel, advisor: advisor.sub, length: draft.text.length }, 'advisor reply stored');
    await sendPublic(updated, message.id);
    return message;
  }

  /** @param live whether a customer socket is connected, when the append step already said; else asked here */
  private async maybeNudge(conversation: Conversation, live: boolean | undefined): Promise<void> {
    const { deps } = this;
    if (!deps.nudge || !(deps.hasConnector?.(conversation.channel) ?? true)) return;
    if (live ?? (await deps.sockets.hasLiveCustomer(conversation.id))) return;
    if (!(await deps.store.setIfAbsent(keys.nudge(conversation.id), '1', deps.nudgeCooldownSeconds ?? 120))) return;
    await deps.nudge(conversation);
    this.log?.info({ conversationId: conversation.id }, 'customer offline: content-free nudge sent on the public channel');
  }
}
