/**
 * The embedded store behind the zero-configuration start: one process only,
 * nothing survives a restart. It keeps the Redis store's semantics (stream
 * ids, TTLs, atomic primitives: each method body runs without an `await`
 * between its read and its write, so it is atomic in one event loop) and
 * passes the same contract suite. Message text is encrypted here too, so
 * the two behave alike and a heap dump holds no clear text.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors';
import type { Conversation, DeliveryStatus, Message, MessageDraft, PublicChannel } from '../messages';
import { keys } from './keys';
import type {
  AppendOptions,
  AppendResult,
  InboundAppendOptions,
  InboundAppendResult,
  LogEntry,
  Page,
  PlatformMessage,
  SecureAppendOptions,
  SecureAppendResult,
  Store,
  ThreadSlice,
} from './store';
import { activityMember, compareMessageIds, DEFAULT_DEDUPE_TTL_SECONDS, timeOfMessageId } from './store';
import type { TextCipher } from './text-cipher';

interface StoredMessage {
  id: string;
  author: Message['author'];
  channel: Message['channel'];
  sealed: string;
  redacted: boolean;
  authorName?: string;
}

interface Entry {
  value: string | Set<string> | LogEntry[];
  expiresAt?: number;
}

export interface MemoryStoreOptions {
  cipher: TextCipher;
  threadRetentionDays: number;
  now?: () => number;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly durableInbox = false;
  private readonly conversations = new Map<string, Conversation>();
  private readonly threads = new Map<string, StoredMessage[]>();
  private readonly deliveries = new Map<string, Map<string, Message['delivery']>>();
  private readonly kv = new Map<string, Entry>();
  private lastId = { ms: 0, seq: 0 };
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: MemoryStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  private check(): void {
    if (this.closed) throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'the memory store is closed');
  }

  private nextId(): string {
    const ms = Math.max(this.now(), this.lastId.ms);
    this.lastId = ms === this.lastId.ms ? { ms, seq: this.lastId.seq + 1 } : { ms, seq: 0 };
    return `${this.lastId.ms}-${this.lastId.seq}`;
  }

  private live(key: string): Entry | undefined {
    const entry = this.kv.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= this.now()) {
      this.kv.delete(key);
      return undefined;
    }
    return entry;
  }

  private expiry(ttlSeconds?: number): number | undefined {
    return ttlSeconds === undefined ? undefined : this.now() + ttlSeconds * 1000;
  }

  private retentionExpired(conversation: Conversation): boolean {
    return Date.parse(conversation.lastMessageAt) + this.options.threadRetentionDays * 86_400_000 <= this.now();
  }

  private liveConversation(id: string): Conversation | undefined {
    const conversation = this.conversations.get(id);
    if (conversation && this.retentionExpired(conversation)) {
      this.conversations.delete(id);
      this.threads.delete(id);
      this.deliveries.delete(id);
      return undefined;
    }
    return conversation;
  }

  async openConversation(channel: PublicChannel, externalUserId: string): Promise<{ conversation: Conversation; created: boolean }> {
    this.check();
    const userKey = keys.userConversation(channel, externalUserId);
    const existingId = this.live(userKey)?.value;
    const existing = typeof existingId === 'string' ? this.liveConversation(existingId) : undefined;
    if (existing && existing.status === 'open') return { conversation: { ...existing }, created: false };
    const at = new Date(this.now()).toISOString();
    const conversation: Conversation = { id: randomUUID(), channel, externalUserId, status: 'open', secure: 'none', lastMessageAt: at, createdAt: at };
    this.conversations.set(conversation.id, conversation);
    this.threads.set(conversation.id, []);
    this.kv.set(userKey, { value: conversation.id });
    const ofUser = this.live(keys.userConversations(externalUserId))?.value;
    if (ofUser instanceof Set) ofUser.add(conversation.id);
    else this.kv.set(keys.userConversations(externalUserId), { value: new Set([conversation.id]) });
    return { conversation: { ...conversation }, created: true };
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    this.check();
    const conversation = this.liveConversation(id);
    return conversation ? { ...conversation } : undefined;
  }

  async updateConversation(id: string, patch: { status?: Conversation['status']; secure?: Conversation['secure'] }): Promise<Conversation> {
    this.check();
    const conversation = this.liveConversation(id);
    if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', id);
    if (patch.status) conversation.status = patch.status;
    if (patch.secure) conversation.secure = patch.secure;
    return { ...conversation };
  }

  async listConversations(query: { status?: Conversation['status']; cursor?: string; limit: number }): Promise<Page<Conversation>> {
    this.check();
    const rows = [...this.conversations.keys()]
      .map((id) => this.liveConversation(id))
      .filter((c): c is Conversation => c !== undefined && (query.status === undefined || c.status === query.status))
      .map((c) => ({ member: activityMember(c.lastMessageAt, c.id), conversation: c }))
      .sort((a, b) => (a.member < b.member ? 1 : a.member > b.member ? -1 : 0))
      .filter((row) => query.cursor === undefined || row.member < query.cursor);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return { items: page.map((r) => ({ ...r.conversation })), next: rows.length > query.limit && last ? last.member : null };
  }

  async conversationIdsOfUser(externalUserId: string): Promise<string[]> {
    this.check();
    const set = this.live(keys.userConversations(externalUserId))?.value;
    return set instanceof Set ? [...set].filter((id) => this.liveConversation(id) !== undefined) : [];
  }

  private toMessage(conversationId: string, stored: StoredMessage): Message {
    const delivery = this.deliveries.get(conversationId)?.get(stored.id);
    return {
      id: stored.id,
      conversationId,
      author: stored.author,
      channel: stored.channel,
      text: this.options.cipher.decrypt(stored.sealed, conversationId),
      createdAt: timeOfMessageId(stored.id),
      ...(stored.redacted ? { redacted: true } : {}),
      ...(stored.authorName ? { authorName: stored.authorName } : {}),
      ...(delivery ? { delivery } : {}),
    };
  }

  async appendMessage(conversationId: string, draft: MessageDraft, options: AppendOptions = {}): Promise<AppendResult> {
    this.check();
    return this.appendNow(conversationId, draft, options);
  }

  /** The append, without a pause: callers that decide something first stay one step with it. */
  private appendNow(conversationId: string, draft: MessageDraft, options: AppendOptions): AppendResult {
    const conversation = this.liveConversation(conversationId);
    const thread = this.threads.get(conversationId);
    if (!conversation || !thread) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    if (options.requireOpen && conversation.status !== 'open') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED', conversationId);
    if (options.dedupeKey !== undefined) {
      const dedupeKey = keys.dedupe(conversationId, options.dedupeKey);
      const seen = this.live(dedupeKey)?.value;
      const first = typeof seen === 'string' ? thread.find((m) => m.id === seen) : undefined;
      if (first) return { message: this.toMessage(conversationId, first), duplicate: true, conversation: { ...conversation } };
    }
    const stored: StoredMessage = { id: this.nextId(), author: draft.author, channel: draft.channel, sealed: this.options.cipher.encrypt(draft.text, conversationId), redacted: draft.redacted === true, ...(draft.authorName ? { authorName: draft.authorName } : {}) };
    thread.push(stored);
    conversation.lastMessageAt = timeOfMessageId(stored.id);
    if (options.dedupeKey !== undefined) {
      this.kv.set(keys.dedupe(conversationId, options.dedupeKey), { value: stored.id, expiresAt: this.expiry(options.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS) });
    }
    return { message: this.toMessage(conversationId, stored), duplicate: false, conversation: { ...conversation } };
  }

  /** As APPEND_MESSAGE with dedupe scope 'sender' decides it (redis.scripts.ts): the sender-wide record first. */
  async appendInbound(conversationId: string, draft: MessageDraft, message: PlatformMessage, options: InboundAppendOptions = {}): Promise<InboundAppendResult> {
    this.check();
    const senderKey = keys.inboundConversation(message.channel, message.externalUserId, message.platformMessageId);
    const dedupeKey = keys.inboundDedupeKey(message.channel, message.platformMessageId);
    const first = this.live(senderKey)?.value;
    if (typeof first === 'string') {
      const seen = first === conversationId ? this.live(keys.dedupe(conversationId, dedupeKey))?.value : undefined;
      const conversation = this.liveConversation(conversationId);
      const stored = typeof seen === 'string' && conversation ? this.threads.get(conversationId)?.find((m) => m.id === seen) : undefined;
      if (stored && conversation) return { message: this.toMessage(conversationId, stored), duplicate: true, conversation: { ...conversation } };
      return { duplicate: true, firstConversationId: first };
    }
    const appended = this.appendNow(conversationId, draft, { dedupeKey, requireOpen: options.requireOpen });
    if (!appended.duplicate) this.kv.set(senderKey, { value: conversationId, expiresAt: this.expiry(DEFAULT_DEDUPE_TTL_SECONDS) });
    return appended;
  }

  async firstConversationOf(message: PlatformMessage): Promise<string | undefined> {
    this.check();
    const first = this.live(keys.inboundConversation(message.channel, message.externalUserId, message.platformMessageId))?.value;
    return typeof first === 'string' ? first : undefined;
  }

  /** No pub/sub here: `presenceChannel` is not answered (the caller asks the sockets instead). */
  async appendIfSecure(conversationId: string, draft: MessageDraft, options: SecureAppendOptions = {}): Promise<SecureAppendResult> {
    this.check();
    const conversation = this.liveConversation(conversationId);
    if (!conversation || !this.threads.has(conversationId)) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    if (conversation.status !== 'open') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED', conversationId);
    if (!this.secureUsable(conversation)) return { secure: false, conversation: { ...conversation } };
    return { secure: true, ...this.appendNow(conversationId, draft, { dedupeKey: options.dedupeKey, dedupeTtlSeconds: options.dedupeTtlSeconds, requireOpen: true }) };
  }

  /** As APPEND_SECURE_MESSAGE decides it (redis.scripts.ts). */
  private secureUsable(conversation: Conversation): boolean {
    if (conversation.secure === 'locked' || this.live(keys.secureLock(conversation.id))) return false;
    const setKey = keys.conversationSessions(conversation.id);
    const ids = this.live(setKey)?.value;
    if (!(ids instanceof Set)) return false;
    for (const id of ids) if (this.live(keys.session(id))) return true;
    this.kv.delete(setKey);
    return false;
  }

  async readMessagesAfter(conversationId: string, after: string | undefined, limit: number): Promise<ThreadSlice> {
    this.check();
    const thread = this.liveConversation(conversationId) ? (this.threads.get(conversationId) ?? []) : [];
    const newer = after === undefined ? thread : thread.filter((m) => compareMessageIds(m.id, after) > 0);
    return { messages: newer.slice(0, limit).map((m) => this.toMessage(conversationId, m)), hasMore: newer.length > limit };
  }

  async readLatestMessages(conversationId: string, limit: number): Promise<ThreadSlice> {
    this.check();
    const thread = this.liveConversation(conversationId) ? (this.threads.get(conversationId) ?? []) : [];
    return { messages: thread.slice(-limit).map((m) => this.toMessage(conversationId, m)), hasMore: thread.length > limit };
  }

  async getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    this.check();
    const stored = this.liveConversation(conversationId) ? this.threads.get(conversationId)?.find((m) => m.id === messageId) : undefined;
    return stored ? this.toMessage(conversationId, stored) : undefined;
  }

  async setDelivery(conversationId: string, messageId: string, status: DeliveryStatus, error?: string): Promise<void> {
    this.check();
    const map = this.deliveries.get(conversationId) ?? new Map<string, Message['delivery']>();
    map.set(messageId, { status, ...(error ? { error } : {}), updatedAt: new Date(this.now()).toISOString() });
    this.deliveries.set(conversationId, map);
  }

  async get(key: string): Promise<string | undefined> {
    this.check();
    const value = this.live(key)?.value;
    return typeof value === 'string' ? value : undefined;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.check();
    this.kv.set(key, { value, expiresAt: this.expiry(ttlSeconds) });
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    this.check();
    if (this.live(key)) return false;
    this.kv.set(key, { value, expiresAt: this.expiry(ttlSeconds) });
    return true;
  }

  async compareAndSet(key: string, expected: string, next: string, ttlSeconds?: number): Promise<{ ok: boolean; current?: string }> {
    this.check();
    const entry = this.live(key);
    const current = typeof entry?.value === 'string' ? entry.value : undefined;
    if (!entry || current !== expected) return { ok: false, ...(current === undefined ? {} : { current }) };
    this.kv.set(key, { value: next, expiresAt: ttlSeconds === undefined ? entry.expiresAt : this.expiry(ttlSeconds) });
    return { ok: true, current: next };
  }

  async delete(key: string): Promise<void> {
    this.check();
    this.kv.delete(key);
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    this.check();
    const entry = this.live(key);
    if (!entry) return false;
    entry.expiresAt = this.expiry(ttlSeconds);
    return true;
  }

  async addToSet(key: string, member: string, ttlSeconds?: number): Promise<void> {
    this.check();
    const entry = this.live(key);
    if (entry?.value instanceof Set) entry.value.add(member);
    else this.kv.set(key, { value: new Set([member]) });
    if (ttlSeconds !== undefined) this.kv.get(key)!.expiresAt = this.expiry(ttlSeconds);
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    this.check();
    const value = this.live(key)?.value;
    if (value instanceof Set) value.delete(member);
  }

  async setMembers(key: string): Promise<string[]> {
    this.check();
    const value = this.live(key)?.value;
    return value instanceof Set ? [...value] : [];
  }

  async appendLog(key: string, value: string, ttlSeconds?: number): Promise<string> {
    this.check();
    const entry = this.live(key);
    const log = Array.isArray(entry?.value) ? entry.value : [];
    const id = this.nextId();
    log.push({ id, value });
    this.kv.set(key, { value: log, expiresAt: ttlSeconds === undefined ? entry?.expiresAt : this.expiry(ttlSeconds) });
    return id;
  }

  async readLog(key: string, after: string | undefined, limit: number): Promise<LogEntry[]> {
    this.check();
    const value = this.live(key)?.value;
    const log = Array.isArray(value) ? value : [];
    return log.filter((e) => after === undefined || compareMessageIds(e.id, after) > 0).slice(0, limit).map((e) => ({ ...e }));
  }

  async ping(): Promise<void> {
    this.check();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
