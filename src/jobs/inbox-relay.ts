/**
 * ③ From the store's inbox to the bot's `inbound` job queue.
 *
 * The append script records each new inbound message in the `pg:inbox`
 * stream in the same atomic step that stores it (src/store/redis.scripts.ts),
 * so a webhook is acknowledged after one round trip to Redis and no crash can
 * leave a stored message without its job (the transactional outbox pattern).
 *
 * Every node that runs workers runs one relay: a consumer in one Redis
 * consumer group. It reads new entries (a blocking read, so a message reaches
 * the queue within a millisecond or so), adds the `inbound` job of each (the
 * job id makes a second add of the same message a no-op), then acknowledges
 * and deletes the entries. An entry a relay read but never acknowledged (its
 * node was killed, or the queue refused the add) is claimed by a live relay
 * once it has been idle `claimIdleMs`: at least once through the relay,
 * exactly one job in the queue.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inboundJob } from '../ingest';
import type { Logger } from '../ops/logger';
import { closeRedisClient } from '../store/redis.store';
import { keys } from '../store/keys';
import type { JobQueue } from './job-queue';

export interface InboxRelayOptions {
  /** How long an entry may stay read but unacknowledged before another relay takes it over. Default 30 s. */
  claimIdleMs?: number;
  /** Entries per read. Default 200. */
  batch?: number;
  /** How long one blocking read waits before it looks again (and notices `close()`). Default 1 s. */
  blockMs?: number;
  /** A relay name idle this long with nothing pending belongs to a node that is gone and is removed at start. Default 1 h. */
  forgetAfterMs?: number;
}

/** The consumer group every relay joins: each entry goes to one of them. */
export const INBOX_GROUP = 'relay';

type Entry = [id: string, fields: string[]];

/** Entries out of an XREADGROUP / XAUTOCLAIM reply, skipping anything not shaped like one. */
function entriesOf(value: unknown): Entry[] {
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is Entry => Array.isArray(item) && typeof item[0] === 'string' && Array.isArray(item[1]));
}

/**
 * The entries of an XREADGROUP reply over one stream: RESP2 answers
 * [[stream, entries]], RESP3 (a map) comes back flat as [stream, entries];
 * null when the block timed out.
 */
function streamEntries(reply: unknown): Entry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  if (typeof reply[0] === 'string') return entriesOf(reply[1]);
  return reply.flatMap((stream: unknown) => (Array.isArray(stream) ? entriesOf(stream[1]) : []));
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

export class InboxRelay {
  private readonly reader: Redis;
  private readonly writer: Redis;
  private readonly consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly claimIdleMs: number;
  private readonly batch: number;
  private readonly blockMs: number;
  private readonly forgetAfterMs: number;
  private readonly logger: Logger;
  private running = false;
  private reading?: Promise<void>;
  private claimTimer?: NodeJS.Timeout;
  private claiming?: Promise<void>;

  constructor(
    redisUrl: string,
    private readonly jobs: JobQueue,
    logger: Logger,
    options: InboxRelayOptions = {},
  ) {
    this.claimIdleMs = options.claimIdleMs ?? 30_000;
    this.batch = options.batch ?? 200;
    this.blockMs = options.blockMs ?? 1000;
    this.forgetAfterMs = options.forgetAfterMs ?? 3_600_000;
    this.logger = logger.child({ component: 'inbox-relay' });
    // The reader blocks on XREADGROUP: it needs a connection of its own.
    this.reader = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.writer = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
    for (const client of [this.reader, this.writer]) client.on('error', () => undefined); // reported by the loop, not as crashes
  }

  async start(): Promise<void> {
    await Promise.all([this.reader.connect(), this.writer.connect()]);
    try {
      // From the start of the stream: entries recorded before any relay existed are relayed too.
      await this.writer.call('XGROUP', 'CREATE', keys.inbox, INBOX_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
    this.running = true;
    await this.forgetGoneRelays();
    await this.claimStale(); // what a killed node left behind, before new work
    this.reading = this.readLoop();
    this.claimTimer = setInterval(() => {
      this.claiming ??= this.claimStale().finally(() => (this.claiming = undefined));
    }, Math.max(100, Math.floor(this.claimIdleMs / 2)));
    this.claimTimer.unref();
  }

  /** Entries in the inbox not yet handed over (all nodes'): the `pg_inbox_backlog` metric. */
  async backlog(): Promise<number> {
    return this.writer.xlen(keys.inbox);
  }

  /** Stops after the read in progress (at most `blockMs`) and the relay of what it returned. */
  async close(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.claimTimer);
    await this.reading;
    await this.claiming;
    await Promise.all([closeRedisClient(this.reader), closeRedisClient(this.writer)]);
  }

  private async readLoop(): Promise<void> {
    while (this.running) {
      try {
        const reply = await this.reader.call('XREADGROUP', 'GROUP', INBOX_GROUP, this.consumer, 'COUNT', String(this.batch), 'BLOCK', String(this.blockMs), 'STREAMS', keys.inbox, '>');
        await this.relay(streamEntries(reply));
      } catch (err) {
        if (!this.running) break;
        this.logger.warn({ err: (err as Error).message }, 'inbox read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * Every start joins the group under a new consumer name; names of relays
   * gone for an hour with nothing pending are removed so the group's list
   * does not grow forever (a name with pending entries stays until they are
   * claimed).
   */
  private async forgetGoneRelays(): Promise<void> {
    try {
      const consumers = await this.writer.call('XINFO', 'CONSUMERS', keys.inbox, INBOX_GROUP);
      for (const consumer of Array.isArray(consumers) ? consumers : []) {
        if (!Array.isArray(consumer)) continue;
        const info = new Map<string, unknown>();
        for (let i = 0; i + 1 < consumer.length; i += 2) info.set(String(consumer[i]), consumer[i + 1]);
        const name = info.get('name');
        if (typeof name === 'string' && Number(info.get('pending')) === 0 && Number(info.get('idle')) >= this.forgetAfterMs) {
          await this.writer.call('XGROUP', 'DELCONSUMER', keys.inbox, INBOX_GROUP, name);
        }
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not list inbox relays');
    }
  }

  /** Takes over entries idle longer than `claimIdleMs` (their relay died or failed) and relays them. */
  private async claimStale(): Promise<void> {
    let cursor = '0-0';
    try {
      do {
        // XAUTOCLAIM answers [next cursor, entries, deleted ids].
        const reply = await this.writer.call('XAUTOCLAIM', keys.inbox, INBOX_GROUP, this.consumer, String(this.claimIdleMs), cursor, 'COUNT', String(this.batch));
        if (!Array.isArray(reply)) return;
        cursor = typeof reply[0] === 'string' ? reply[0] : '0-0';
        await this.relay(entriesOf(reply[1]));
      } while (cursor !== '0-0' && this.running);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'inbox claim failed; will retry');
    }
  }

  /**
   * Adds the job of each entry, then acknowledges and deletes the entries whose
   * job was added. The others stay pending and are claimed again later.
   */
  private async relay(entries: Entry[]): Promise<void> {
    if (entries.length === 0) return;
    const outcomes = await Promise.allSettled(
      entries.map(async ([id, fields]) => {
        const conversationId = field(fields, 'c');
        const messageId = field(fields, 'm');
        // A malformed entry can never become a job: acknowledge it rather than claim it forever.
        if (conversationId === undefined || messageId === undefined) {
          this.logger.error({ entry: id }, 'inbox entry without conversation or message id dropped');
          return;
        }
        const job = inboundJob(conversationId, messageId);
        await this.jobs.add('inbound', job.data, job.options);
      }),
    );
    const done = entries.filter((_, i) => outcomes[i]!.status === 'fulfilled').map(([id]) => id);
    const failed = entries.length - done.length;
    if (failed > 0) this.logger.warn({ failed }, 'inbound jobs not added; their inbox entries will be claimed again');
    if (done.length > 0) {
      await this.writer
        .multi()
        .xack(keys.inbox, INBOX_GROUP, ...done)
        .xdel(keys.inbox, ...done)
        .exec();
    }
  }
}
