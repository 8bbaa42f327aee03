/**
 * The production store on Redis 7 (ioredis).
 *
 * - A thread is a Redis Stream: ids are ordered and carry their time, `XRANGE (id`
 *   reads exactly what came after a message.
 * - Append + dedupe is one Lua script: of any number of concurrent deliveries
 *   of one platform message, exactly one appends, whichever conversation
 *   each delivery was aimed at (the sender-wide record `pg:inbound:` is
 *   checked and written in the same step).
 * - The conversation list is a sorted set of lexicographic members
 *   (`<ms padded>|<id>`), so a cursor is just the last member seen.
 * - Bounded timeouts everywhere: a Redis that stops answering makes calls
 *   fail with GW_ERR_STORE_UNAVAILABLE within `commandTimeoutMs`, never hang.
 */
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { GatewayError, isGatewayError } from '../errors';
import type { Conversation, DeliveryStatus, Message, MessageDraft, PublicChannel } from '../messages';
import { keys } from './keys';
import { conversationFromFields, CONVERSATION_FIELDS } from './conversation-fields';
import { APPEND_MESSAGE, appendSecureMessageScript, COMPARE_AND_SET, TOUCH_ACTIVITY } from './redis.scripts';
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
import { activityMember, DEFAULT_DEDUPE_TTL_SECONDS, isMessageId, timeOfMessageId } from './store';
import type { TextCipher } from './text-cipher';

export interface RedisStoreOptions {
  cipher: TextCipher;
  threadRetentionDays: number;
  commandTimeoutMs?: number;
}

/** APPEND_MESSAGE's reply: state, message id, conversation fields, then (duplicate only) the stored message's fields ('seen': the first conversation's id). */
type AppendReply = [string, string, Array<string | null>, ...string[]];

type ScriptClient = Redis & {
  pgAppend(thread: string, conv: string, dedupe: string, all: string, open: string, inbox: string, sender: string, ...args: string[]): Promise<AppendReply>;
  pgAppendSecure(thread: string, conv: string, dedupe: string, lock: string, sessions: string, ...args: string[]): Promise<AppendReply>;
  pgCas(key: string, expected: string, next: string, ttl: string): Promise<[number, string | null]>;
  pgTouch(all: string, open: string, conv: string, member: string, status: string): Promise<number>;
};

/** The client options the gateway uses for every Redis connection (store, limiter, adapter, queue). */
export function redisOptions(commandTimeoutMs = 2000): RedisOptions {
  return {
    // Fail fast instead of queueing while disconnected: the webhook answers 5xx and the platform retries.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    // Off, measured: ioredis 6's auto-pipelining costs more Node CPU per command than it saves
    // here (pivot issue+redeem 431–460 vs 486–524 CPU-µs per op, webhook ingest equal or better,
    // and it promotes enough garbage to stretch GC pauses under socket load). Commands issued
    // together still leave back to back without waiting for each other.
    enableAutoPipelining: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
}

/**
 * QUIT when Redis answers within `ms`, else drop the connection: shutdown must
 * not wait on a Redis that is gone (a queued QUIT would wait for it forever).
 */
export async function closeRedisClient(client: Redis, ms = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const outcome = await Promise.race([client.quit().then(() => 'quit' as const, () => 'failed' as const), timeout]);
  clearTimeout(timer);
  if (outcome !== 'quit') client.disconnect();
}

/** A Redis failure as the store reports it (a GatewayError passes through). */
export function unavailable(err: unknown): GatewayError {
  if (isGatewayError(err)) return err;
  return new GatewayError('GW_ERR_STORE_UNAVAILABLE', (err as Error)?.message ?? 'redis error', { cause: err });
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly durableInbox = true;
  private readonly client: ScriptClient;
  private readonly retentionSeconds: number;

  private constructor(
    readonly redis: Redis,
    private readonly options: RedisStoreOptions,
  ) {
    this.client = redis as ScriptClient;
    this.retentionSeconds = options.threadRetentionDays * 86_400;
    redis.defineCommand('pgAppend', { numberOfKeys: 7, lua: APPEND_MESSAGE });
    redis.defineCommand('pgAppendSecure', {
      numberOfKeys: 5,
      lua: appendSecureMessageScript({
        activityAll: keys.activity('all'),
        activityOpen: keys.activity('open'),
        userPrefix: keys.userConversationPrefix,
        sessionPrefix: keys.session(''),
        retentionSeconds: this.retentionSeconds,
      }),
    });
    redis.defineCommand('pgCas', { numberOfKeys: 1, lua: COMPARE_AND_SET });
    redis.defineCommand('pgTouch', { numberOfKeys: 3, lua: TOUCH_ACTIVITY });
  }

  /** Connects and waits until Redis answers (bounded), so start-up fails loudly on a wrong REDIS_URL. */
  static async connect(url: string, options: RedisStoreOptions): Promise<RedisStore> {
    const redis = new Redis(url, { ...redisOptions(options.commandTimeoutMs), lazyConnect: true });
    redis.on('error', () => undefined); // surfaced through failed commands and /readyz, not as crashes
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw unavailable(err);
    }
    return new RedisStore(redis, options);
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw unavailable(err);
    }
  }

  async openConversation(channel: PublicChannel, externalUserId: string): Promise<{ conversation: Conversation; created: boolean }> {
    return this.run(async () => {
      const userKey = keys.userConversation(channel, externalUserId);
      for (let attempt = 0; attempt < 5; attempt++) {
        const currentId = await this.redis.get(userKey);
        const current = currentId ? await this.getConversation(currentId) : undefined;
        if (current && current.status === 'open') return { conversation: current, created: false };

        // Write the new conversation first, then claim the user key: whoever
        // reads the claim always finds a complete conversation behind it.
        const at = new Date().toISOString();
        const conversation: Conversation = { id: randomUUID(), channel, externalUserId, status: 'open', secure: 'none', lastMessageAt: at, createdAt: at };
        const convKey = keys.conversation(conversation.id);
        await this.redis.multi().hset(convKey, { ...conversation }).expire(convKey, this.retentionSeconds).exec();
        const claimed = currentId
          ? (await this.client.pgCas(userKey, currentId, conversation.id, String(this.retentionSeconds)))[0] === 1
          : (await this.redis.set(userKey, conversation.id, 'EX', this.retentionSeconds, 'NX')) === 'OK';
        if (claimed) {
          await this.redis
            .multi()
            .sadd(keys.userConversations(externalUserId), conversation.id)
            .expire(keys.userConversations(externalUserId), this.retentionSeconds)
            .exec();
          await this.client.pgTouch(keys.activity('all'), keys.activity('open'), convKey, activityMember(at, conversation.id), 'open');
          return { conversation, created: true };
        }
        await this.redis.del(convKey); // lost the race: use the winner's
      }
      throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'could not settle the conversation after 5 attempts');
    });
  }

  async getConversation(id: string): Promise<Conversation | undefined> {
    return this.run(async () => conversationFromFields(id, await this.redis.hmget(keys.conversation(id), ...CONVERSATION_FIELDS)));
  }

  async updateConversation(id: string, patch: { status?: Conversation['status']; secure?: Conversation['secure'] }): Promise<Conversation> {
    return this.run(async () => {
      const convKey = keys.conversation(id);
      const fields: Record<string, string> = {};
      if (patch.status) fields.status = patch.status;
      if (patch.secure) fields.secure = patch.secure;
      if (!(await this.redis.exists(convKey))) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', id);
      if (Object.keys(fields).length > 0) await this.redis.hset(convKey, fields);
      const conversation = await this.getConversation(id);
      if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', id);
      if (patch.status) {
        await this.client.pgTouch(keys.activity('all'), keys.activity('open'), convKey, activityMember(conversation.lastMessageAt, id), conversation.status);
      }
      return conversation;
    });
  }

  async listConversations(query: { status?: Conversation['status']; cursor?: string; limit: number }): Promise<Page<Conversation>> {
    return this.run(async () => {
      const index = keys.activity(query.status === 'open' ? 'open' : 'all');
      const items: Conversation[] = [];
      let cursor = query.cursor;
      let next: string | null = null;
      // Stale members (expired threads, or closed ones when asking for another status) are skipped and pruned.
      while (items.length < query.limit) {
        const want = query.limit - items.length + 1;
        const members = await this.redis.zrevrangebylex(index, cursor === undefined ? '+' : `(${cursor}`, '-', 'LIMIT', 0, want);
        if (members.length === 0) break;
        for (const member of members) {
          if (items.length === query.limit) {
            next = cursor ?? null;
            break;
          }
          cursor = member;
          const id = member.slice(member.indexOf('|') + 1);
          const conversation = await this.getConversation(id);
          if (!conversation || activityMember(conversation.lastMessageAt, id) !== member) {
            if (!conversation) await this.redis.zrem(index, member);
            continue;
          }
          if (query.status !== undefined && conversation.status !== query.status) continue;
          items.push(conversation);
        }
        if (next !== null || members.length < want) break;
      }
      return { items, next };
    });
  }

  async conversationIdsOfUser(externalUserId: string): Promise<string[]> {
    return this.run(async () => {
      const ids = await this.redis.smembers(keys.userConversations(externalUserId));
      const live = await Promise.all(ids.map(async (id) => ((await this.redis.exists(keys.conversation(id))) ? id : undefined)));
      return live.filter((id): id is string => id !== undefined);
    });
  }

  private toMessage(conversationId: string, id: string, fields: string[], delivery?: string | null): Message {
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]!] = fields[i + 1]!;
    return {
      id,
      conversationId,
      author: map.a as Message['author'],
      channel: map.ch as Message['channel'],
      text: this.options.cipher.decrypt(map.t ?? '', conversationId),
      createdAt: timeOfMessageId(id),
      ...(map.r === '1' ? { redacted: true } : {}),
      ...(map.n ? { authorName: map.n } : {}),
      ...(delivery ? { delivery: JSON.parse(delivery) as Message['delivery'] } : {}),
    };
  }

  private async withDeliveries(conversationId: string, entries: Array<[string, string[]]>): Promise<Message[]> {
    if (entries.length === 0) return [];
    const deliveries = await this.redis.hmget(keys.delivery(conversationId), ...entries.map(([id]) => id));
    return entries.map(([id, fields], i) => this.toMessage(conversationId, id, fields, deliveries[i]));
  }

  async appendMessage(conversationId: string, draft: MessageDraft, options: AppendOptions = {}): Promise<AppendResult> {
    return this.run(async () => {
      const scope = options.dedupeKey === undefined ? 'none' : 'conversation';
      const reply = await this.append(conversationId, draft, scope, keys.dedupe(conversationId, options.dedupeKey ?? ''), '', options, options.dedupeTtlSeconds);
      return this.appended(conversationId, draft, reply);
    });
  }

  /** APPEND_MESSAGE with dedupe scope 'sender' (redis.scripts.ts): the same one round trip. */
  async appendInbound(conversationId: string, draft: MessageDraft, message: PlatformMessage, options: InboundAppendOptions = {}): Promise<InboundAppendResult> {
    return this.run(async () => {
      const reply = await this.append(
        conversationId,
        draft,
        'sender',
        keys.dedupe(conversationId, keys.inboundDedupeKey(message.channel, message.platformMessageId)),
        keys.inboundConversation(message.channel, message.externalUserId, message.platformMessageId),
        options,
      );
      if (reply[0] === 'seen') return { duplicate: true, firstConversationId: reply[3] ?? '' };
      return this.appended(conversationId, draft, reply);
    });
  }

  async firstConversationOf(message: PlatformMessage): Promise<string | undefined> {
    return this.run(async () => (await this.redis.get(keys.inboundConversation(message.channel, message.externalUserId, message.platformMessageId))) ?? undefined);
  }

  private append(
    conversationId: string,
    draft: MessageDraft,
    scope: 'none' | 'conversation' | 'sender',
    dedupeKey: string,
    senderKey: string,
    options: InboundAppendOptions,
    dedupeTtlSeconds = DEFAULT_DEDUPE_TTL_SECONDS,
  ): Promise<AppendReply> {
    return this.client.pgAppend(
      keys.thread(conversationId),
      keys.conversation(conversationId),
      dedupeKey,
      keys.activity('all'),
      keys.activity('open'),
      keys.inbox,
      senderKey,
      scope,
      String(dedupeTtlSeconds),
      String(this.retentionSeconds),
      draft.author,
      draft.channel,
      this.options.cipher.encrypt(draft.text, conversationId),
      draft.redacted ? '1' : '0',
      options.requireOpen ? '1' : '0',
      draft.authorName ?? '',
      conversationId,
      keys.userConversationPrefix,
      options.inbox ? '1' : '0',
    );
  }

  /** One step: APPEND_SECURE_MESSAGE (redis.scripts.ts). */
  async appendIfSecure(conversationId: string, draft: MessageDraft, options: SecureAppendOptions = {}): Promise<SecureAppendResult> {
    return this.run(async () => {
      const reply = await this.client.pgAppendSecure(
        keys.thread(conversationId),
        keys.conversation(conversationId),
        keys.dedupe(conversationId, options.dedupeKey ?? ''),
        keys.secureLock(conversationId),
        keys.conversationSessions(conversationId),
        options.dedupeKey === undefined ? 'none' : 'conversation',
        String(options.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS),
        draft.author,
        draft.channel,
        this.options.cipher.encrypt(draft.text, conversationId),
        draft.redacted ? '1' : '0',
        draft.authorName ?? '',
        conversationId,
        options.presenceChannel ?? '',
      );
      if (reply[0] !== 'not_secure') {
        const listeners = reply[0] === 'appended' && options.presenceChannel ? { presenceListeners: Number(reply[3]) } : {};
        return { secure: true, ...this.appended(conversationId, draft, reply), ...listeners };
      }
      const conversation = conversationFromFields(conversationId, reply[2]);
      if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
      return { secure: false, conversation };
    });
  }

  /** An append's reply as the store's result (throws for a missing or closed conversation). */
  private appended(conversationId: string, draft: MessageDraft, reply: AppendReply): AppendResult {
    const [state, id, values] = reply;
    if (state === 'missing') throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    if (state === 'closed') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED', conversationId);
    const createdAt = state === 'appended' ? timeOfMessageId(id) : undefined;
    // A new message's stream id milliseconds are the conversation's new lastMessageMs (unless activity had moved ahead).
    const conversation = conversationFromFields(conversationId, values, 0, createdAt === undefined ? undefined : { ms: id.slice(0, id.indexOf('-')), iso: createdAt });
    if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', conversationId);
    if (createdAt === undefined) return { message: this.toMessage(conversationId, id, reply.slice(3) as string[]), duplicate: true, conversation };
    // A new message is what we just sealed: no need to decrypt it back.
    const message: Message = { id, conversationId, author: draft.author, channel: draft.channel, text: draft.text, createdAt, ...(draft.redacted ? { redacted: true } : {}), ...(draft.authorName ? { authorName: draft.authorName } : {}) };
    return { message, duplicate: false, conversation };
  }

  async readMessagesAfter(conversationId: string, after: string | undefined, limit: number): Promise<ThreadSlice> {
    return this.run(async () => {
      const start = after === undefined ? '-' : `(${after}`;
      const entries = (await this.redis.xrange(keys.thread(conversationId), start, '+', 'COUNT', limit + 1)) as Array<[string, string[]]>;
      return { messages: await this.withDeliveries(conversationId, entries.slice(0, limit)), hasMore: entries.length > limit };
    });
  }

  async readLatestMessages(conversationId: string, limit: number): Promise<ThreadSlice> {
    return this.run(async () => {
      const entries = (await this.redis.xrevrange(keys.thread(conversationId), '+', '-', 'COUNT', limit + 1)) as Array<[string, string[]]>;
      return { messages: await this.withDeliveries(conversationId, entries.slice(0, limit).reverse()), hasMore: entries.length > limit };
    });
  }

  async getMessage(conversationId: string, messageId: string): Promise<Message | undefined> {
    if (!isMessageId(messageId)) return undefined;
    return this.run(async () => {
      const entries = (await this.redis.xrange(keys.thread(conversationId), messageId, messageId)) as Array<[string, string[]]>;
      return (await this.withDeliveries(conversationId, entries))[0];
    });
  }

  async setDelivery(conversationId: string, messageId: string, status: DeliveryStatus, error?: string): Promise<void> {
    await this.run(async () => {
      const key = keys.delivery(conversationId);
      await this.redis
        .multi()
        .hset(key, messageId, JSON.stringify({ status, ...(error ? { error } : {}), updatedAt: new Date().toISOString() }))
        .expire(key, this.retentionSeconds)
        .exec();
    });
  }

  async get(key: string): Promise<string | undefined> {
    return this.run(async () => (await this.redis.get(key)) ?? undefined);
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    await this.run(() => (ttlSeconds === undefined ? this.redis.set(key, value) : this.redis.set(key, value, 'EX', ttlSeconds)));
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return this.run(async () => (await this.redis.set(key, value, 'EX', ttlSeconds, 'NX')) === 'OK');
  }

  async compareAndSet(key: string, expected: string, next: string, ttlSeconds?: number): Promise<{ ok: boolean; current?: string }> {
    return this.run(async () => {
      const [ok, current] = await this.client.pgCas(key, expected, next, ttlSeconds === undefined ? '' : String(ttlSeconds));
      return { ok: ok === 1, ...(current === null ? {} : { current }) };
    });
  }

  async delete(key: string): Promise<void> {
    await this.run(() => this.redis.del(key));
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    return this.run(async () => (await this.redis.expire(key, ttlSeconds)) === 1);
  }

  async addToSet(key: string, member: string, ttlSeconds?: number): Promise<void> {
    await this.run(async () => {
      const tx = this.redis.multi().sadd(key, member);
      if (ttlSeconds !== undefined) tx.expire(key, ttlSeconds);
      await tx.exec();
    });
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    await this.run(() => this.redis.srem(key, member));
  }

  async setMembers(key: string): Promise<string[]> {
    return this.run(() => this.redis.smembers(key));
  }

  async appendLog(key: string, value: string, ttlSeconds?: number): Promise<string> {
    return this.run(async () => {
      const tx = this.redis.multi().xadd(key, '*', 'v', value);
      if (ttlSeconds !== undefined) tx.expire(key, ttlSeconds);
      const results = await tx.exec();
      const [err, id] = results?.[0] ?? [new Error('no reply'), null];
      if (err) throw err;
      return String(id);
    });
  }

  async readLog(key: string, after: string | undefined, limit: number): Promise<LogEntry[]> {
    return this.run(async () => {
      const entries = (await this.redis.xrange(key, after === undefined ? '-' : `(${after}`, '+', 'COUNT', limit)) as Array<[string, string[]]>;
      return entries.map(([id, fields]) => ({ id, value: fields[1] ?? '' }));
    });
  }

  async ping(): Promise<void> {
    await this.run(() => this.redis.ping());
  }

  async close(): Promise<void> {
    await closeRedisClient(this.redis);
  }
}
