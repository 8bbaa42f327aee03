/**
 * The one store seam. `redis.store.ts` is the production implementation;
 * `memory.store.ts` serves the zero-config start. Both pass the same
 * contract suite (test/store/store.contract.ts).
 *
 * Two layers:
 * - domain calls for conversations and threads (message text is encrypted at
 *   rest by both implementations, see `text-cipher.ts`);
 * - small atomic primitives (compare-and-set, set-if-absent, sets, logs) that
 *   the pivot ledger, secure sessions, idempotency keys and the audit trail
 *   build on. Their key names come from `keys.ts` only.
 *
 * Every method rejects with `GW_ERR_STORE_UNAVAILABLE` when the backing store
 * does not answer within its bounded timeout: callers never hang.
 */
import type { Channel, Conversation, DeliveryStatus, Message, MessageDraft, PublicChannel, SecureState } from '../messages';

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface ThreadSlice {
  /** Oldest first. */
  messages: Message[];
  /** True when older (for `latest`) or newer (for `after`) messages exist beyond this slice. */
  hasMore: boolean;
}

export interface AppendOptions {
  /**
   * A client message id or an idempotency key, scoped to this conversation:
   * a second append with the same key returns the first message with
   * `duplicate: true`. (A platform's message id is deduplicated across
   * conversations: `appendInbound`.)
   */
  dedupeKey?: string;
  /** How long the dedupe key is remembered. Default 7 days (WhatsApp redelivers for up to 7 days). */
  dedupeTtlSeconds?: number;
  /**
   * Refuse to append to a closed conversation (rejects with
   * GW_ERR_CONVERSATION_CLOSED, nothing stored). Ingest appends to a cached
   * conversation id this way: the store, not the cache, decides.
   */
  requireOpen?: boolean;
  /**
   * Also record a new message in the store's durable inbox, atomically with
   * the append, for the bot (InboxRelay moves it into the `inbound` job
   * queue). Only where `durableInbox` is true; a duplicate records nothing.
   */
  inbox?: boolean;
}

export interface AppendResult {
  message: Message;
  duplicate: boolean;
  /** The conversation as the append left it (its `lastMessageAt` is the message's time unless `duplicate`). */
  conversation: Conversation;
}

/**
 * A customer message as its platform names it. One platform message always
 * comes from one sender, so (channel, sender, platform id) names it even on
 * platforms whose ids are unique per chat only (Bot Framework) or chosen by
 * the client (the sandbox).
 */
export interface PlatformMessage {
  channel: PublicChannel;
  externalUserId: string;
  platformMessageId: string;
}

export type InboundAppendOptions = Pick<AppendOptions, 'requireOpen' | 'inbox'>;

/**
 * `appendInbound`'s duplicate whose first delivery it did not read: stored in
 * another conversation of the sender (often one closed since), or in this one
 * after its records expired.
 */
export interface FirstDeliveredElsewhere {
  duplicate: true;
  /** Where the first delivery was stored; that conversation may be gone. */
  firstConversationId: string;
}

/** Stored, a duplicate found in this conversation (as `appendMessage`), or a duplicate from another one. */
export type InboundAppendResult = AppendResult | FirstDeliveredElsewhere;

/**
 * `appendIfSecure`'s answer: stored on the secure channel, or not stored
 * because the secure channel is not usable (then the conversation as read in
 * the same step, for the caller's public path).
 */
export type SecureAppendResult = ({ secure: true; presenceListeners?: number } & AppendResult) | { secure: false; conversation: Conversation };

export interface SecureAppendOptions extends Pick<AppendOptions, 'dedupeKey' | 'dedupeTtlSeconds'> {
  /**
   * A sharded pub/sub channel whose subscriber count a new message's result
   * carries as `presenceListeners` (Redis: PUBSUB SHARDNUMSUB in the same
   * step). Stores without pub/sub leave `presenceListeners` out.
   */
  presenceChannel?: string;
}

export interface LogEntry {
  id: string;
  value: string;
}

export interface Store {
  readonly kind: 'redis' | 'memory';
  /**
   * True when `appendMessage(…, { inbox: true })` hands the message to the bot
   * in the same atomic step (Redis). The memory store has no inbox: its caller
   * adds the `inbound` job itself (one process, nothing durable anyway).
   */
  readonly durableInbox: boolean;

  /**
   * The open conversation of one platform user on one channel, created when
   * there is none (or the last one was closed). Concurrent calls agree.
   */
  openConversation(channel: PublicChannel, externalUserId: string): Promise<{ conversation: Conversation; created: boolean }>;
  getConversation(id: string): Promise<Conversation | undefined>;
  updateConversation(id: string, patch: { status?: Conversation['status']; secure?: SecureState }): Promise<Conversation>;
  /** Newest activity first. `cursor` is the opaque `next` of the previous page. */
  listConversations(query: { status?: Conversation['status']; cursor?: string; limit: number }): Promise<Page<Conversation>>;
  /** Ids of every conversation (any channel) of this platform user id, e.g. one phone on SMS and WhatsApp. */
  conversationIdsOfUser(externalUserId: string): Promise<string[]>;

  /** Appends to the thread and bumps the conversation's activity. Atomic with its dedupe. */
  appendMessage(conversationId: string, draft: MessageDraft, options?: AppendOptions): Promise<AppendResult>;
  /**
   * A customer message from a public channel, deduplicated by its platform id
   * for 7 days (WhatsApp redelivers for up to 7 days) across every
   * conversation of its sender, in the same atomic step as the append
   * (`appendMessage` with the dedupe key `keys.inboundDedupeKey`, plus the
   * sender-wide record `keys.inboundConversation`). That check comes first:
   * a redelivery is a duplicate even when this conversation is closed or
   * missing, or the first delivery went to a conversation since closed or
   * expired; only then does `requireOpen` refuse.
   * @throws GatewayError GW_ERR_CONVERSATION_NOT_FOUND, GW_ERR_CONVERSATION_CLOSED (with requireOpen)
   */
  appendInbound(conversationId: string, draft: MessageDraft, message: PlatformMessage, options?: InboundAppendOptions): Promise<InboundAppendResult>;
  /**
   * The conversation a platform message was first stored in by
   * `appendInbound`, for 7 days; undefined for a message never stored. Only
   * a look before choosing a conversation: `appendInbound` decides.
   */
  firstConversationOf(message: PlatformMessage): Promise<string | undefined>;
  /**
   * An advisor reply on the secure channel, in one atomic step: appended (as
   * `appendMessage` with `requireOpen`) only while the channel is usable,
   * i.e. the conversation is not `secure: 'locked'`, `keys.secureLock` is
   * absent and a session of `keys.conversationSessions` is live
   * (`keys.session`); else nothing is stored, `{ secure: false }`. When none
   * of the set's sessions is live, the set is emptied (its ids are expired).
   * @throws GatewayError GW_ERR_CONVERSATION_NOT_FOUND, GW_ERR_CONVERSATION_CLOSED
   */
  appendIfSecure(conversationId: string, draft: MessageDraft, options?: SecureAppendOptions): Promise<SecureAppendResult>;
  /** Messages strictly after `after` (oldest first), or from the start when `after` is absent. */
  readMessagesAfter(conversationId: string, after: string | undefined, limit: number): Promise<ThreadSlice>;
  /** The last `limit` messages, oldest first; `hasMore` says older ones exist. */
  readLatestMessages(conversationId: string, limit: number): Promise<ThreadSlice>;
  getMessage(conversationId: string, messageId: string): Promise<Message | undefined>;
  setDelivery(conversationId: string, messageId: string, status: DeliveryStatus, error?: string): Promise<void>;

  // --- primitives ---------------------------------------------------------
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** SET NX EX: true when this call created the key. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /**
   * Atomically replaces `expected` by `next`. On a mismatch nothing changes and
   * `current` is the value found (undefined when the key is absent).
   * `ttlSeconds` undefined keeps the key's remaining lifetime.
   */
  compareAndSet(key: string, expected: string, next: string, ttlSeconds?: number): Promise<{ ok: boolean; current?: string }>;
  delete(key: string): Promise<void>;
  /** Resets a key's lifetime; false when the key is gone. */
  expire(key: string, ttlSeconds: number): Promise<boolean>;
  addToSet(key: string, member: string, ttlSeconds?: number): Promise<void>;
  removeFromSet(key: string, member: string): Promise<void>;
  setMembers(key: string): Promise<string[]>;
  /** Appends to an ordered log (a Redis Stream); ids increase. */
  appendLog(key: string, value: string, ttlSeconds?: number): Promise<string>;
  readLog(key: string, after: string | undefined, limit: number): Promise<LogEntry[]>;

  /** Resolves when the store answers; rejects with GW_ERR_STORE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_DEDUPE_TTL_SECONDS = 7 * 24 * 3600;

/** Message ids are Redis Stream ids (`<ms>-<seq>`) in both stores: ordered, and they carry their time. */
export function compareMessageIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

export function isMessageId(id: string): boolean {
  return /^\d{1,16}-\d{1,10}$/.test(id);
}

export function timeOfMessageId(id: string): string {
  return new Date(Number(id.split('-')[0])).toISOString();
}

/** Shared by both stores so a cursor is the same opaque string everywhere. */
export function activityMember(lastMessageAt: string, id: string): string {
  return `${String(Date.parse(lastMessageAt)).padStart(15, '0')}|${id}`;
}

export function channelOf(value: string): Channel {
  return value as Channel;
}
