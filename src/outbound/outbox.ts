/**
 * The outbox: every message the gateway sends to a customer's platform goes
 * through here as a durable `outbound` job, never inline in a request.
 *
 * - Job data names the message (`conversationId`, `messageId`); its text is
 *   read from the store when the job runs. An invite's link (it holds a pivot
 *   token) travels sealed with the store's TextCipher, bound to the
 *   conversation. Nothing in Redis' job hashes is readable text or a token.
 * - One job per message: its id is derived from the message id, so enqueuing
 *   twice sends once.
 * - Retries: 429, 5xx, network errors and Meta throttling codes are retried
 *   with exponential backoff (`attempts`, `backoffMs`); other 4xx stop at once
 *   (`PermanentJobError`). Every outcome lands on the message
 *   (`store.setDelivery`): `queued` (with the last error while retrying),
 *   `sent`, or `failed` with the platform's own words, which advisors see.
 *   A job the queue gives up on without a last try of ours (BullMQ fails a job
 *   whose workers were killed mid-send too often) is recorded `failed` by the
 *   queue's give-up hook, so no message stays `queued` for ever.
 *
 * Exactly-once, as far as the platforms allow: before calling the platform a
 * worker claims the message's marker (`SET NX`, value
 * `sending:<expiry ms>:<uuid>`, 2-minute lease); after the platform accepted,
 * the marker becomes `sent:<platform id>` for 30 days. A re-run (BullMQ
 * stalled-job recovery after a kill -9, a duplicate enqueue, another node)
 * that finds `sent:` does not send again; one that finds a live `sending:`
 * lease waits for it to expire (`DeferJobError`: the wait is not a try, or a
 * dead worker's lease would use up every try long before it expired) and then
 * sends. The window that remains is at-least-once: a worker killed after the
 * platform accepted the message but before the marker was written (for a
 * kill during the platform call, the wait above ends in a second send), or a
 * send whose answer was lost (timeout/5xx after the platform did accept), is
 * sent again. Twilio's Messages API and Meta's Send APIs take no idempotency
 * key, so no client can close it.
 */
import { randomUUID } from 'node:crypto';
import type { ConversationEvents } from '../conversation-events';
import { GatewayError } from '../errors';
import { DeferJobError, PermanentJobError, type JobContext, type JobQueue } from '../jobs/job-queue';
import type { Conversation, PublicChannel } from '../messages';
import type { Logger } from '../ops/logger';
import type { Metrics } from '../ops/metrics';
import { keys } from '../store/keys';
import type { Store } from '../store/store';
import type { TextCipher } from '../store/text-cipher';
import type { DeliveryLedger } from './delivery-ledger';
import { isPlatformError } from './platform-error';

/** What an `outbound` job carries: ids, and for an invite the sealed link. Never clear text. */
export interface OutboundJob {
  v: 1;
  kind: 'text' | 'invite';
  conversationId: string;
  messageId: string;
  /** `cipher.encrypt(url, conversationId)`; only for invites. */
  sealedUrl?: string;
}

/**
 * What the outbox needs of a connector. `connectors/connector.ts`'s
 * `Connector` satisfies it structurally, so `src/` does not import the edge
 * (dependencies point inward).
 */
export interface OutboundSender {
  send(conversation: Conversation, text: string): Promise<{ platformMessageId?: string }>;
  sendInvite(conversation: Conversation, invite: { url: string; reason: string }): Promise<{ platformMessageId?: string }>;
}

export interface OutboxOptions {
  queue: JobQueue;
  store: Store;
  cipher: TextCipher;
  /** The registry's map; `whatsapp` may be a router that picks Cloud API or Twilio per customer. */
  connectors: ReadonlyMap<PublicChannel, OutboundSender>;
  deliveries: DeliveryLedger;
  logger: Logger;
  /** `pg_outbound_messages_total` by channel and result (sent, retry, failed), when given. */
  metrics?: Pick<Metrics, 'outbound'>;
  /** Where a message's final outcome (sent, failed) is announced, so advisors watching see it live. */
  events?: Pick<ConversationEvents, 'publish'>;
  /** Total tries per message. Default 5 (about 15 s of backoff with the default 1 s). */
  attempts?: number;
  /** First retry delay, doubling. Default 1000 ms. */
  backoffMs?: number;
  /**
   * How long a worker's claim on a send lives: longer than any platform call
   * (the connectors time out after 10 s), since a claim that expires while
   * its send is still running lets a re-run send twice. Default 120 s; tests
   * shorten it so a dead worker's claim runs out quickly.
   */
  sendingLeaseSeconds?: number;
}

const SENDING_LEASE_SECONDS = 120;
const SENT_MARKER_TTL_SECONDS = 30 * 24 * 3600;
/**
 * Waiting behind a lease, look again at least this often: its holder may
 * finish (`sent:`) or release it (a failed try) long before it expires.
 */
const LEASE_RECHECK_MAX_MS = 15_000;
/**
 * And never sooner than this after the lease's stated expiry: Redis expires
 * the key on its own clock, a few milliseconds after the holder's stated
 * time, and nodes' clocks differ a little.
 */
const LEASE_EXPIRY_MARGIN_MS = 200;

export class Outbox {
  private readonly logger: Logger;

  constructor(private readonly options: OutboxOptions) {
    this.logger = options.logger.child({ component: 'outbox' });
  }

  /**
   * Sends a stored message (bot, advisor or system text) to the customer's
   * platform, in the background. Resolves once the job is durably queued.
   * @example await outbox.sendText(conversation.id, message.id)
   */
  async sendText(conversationId: string, messageId: string): Promise<void> {
    await this.enqueue({ v: 1, kind: 'text', conversationId, messageId });
  }

  /**
   * Sends the native "Continue securely" button. `messageId` is the thread
   * message that explains the invite (its text becomes the button's caption);
   * `url` is the pivot link, sealed before it is queued.
   */
  async sendInvite(conversationId: string, messageId: string, url: string): Promise<void> {
    const sealedUrl = this.options.cipher.encrypt(url, conversationId);
    await this.enqueue({ v: 1, kind: 'invite', conversationId, messageId, sealedUrl });
  }

  /** Registers the `outbound` job handler. Call once, before `queue.start()`. */
  register(): void {
    this.options.queue.process<OutboundJob>('outbound', (job, context) => this.deliver(job, context), { onGiveUp: (job, reason) => this.gaveUp(job, reason) });
  }

  private async enqueue(job: OutboundJob): Promise<void> {
    await this.options.store.setDelivery(job.conversationId, job.messageId, 'queued');
    await this.options.queue.add('outbound', job, {
      // BullMQ ids may not contain ':'; a UUID and a stream id joined by '_' cannot collide.
      jobId: `out_${job.conversationId}_${job.messageId}`,
      attempts: this.options.attempts ?? 5,
      backoffMs: this.options.backoffMs ?? 1000,
    });
  }

  /** The job handler: one try at one message. Exposed for tests that drive it directly. */
  async deliver(job: OutboundJob, context: JobContext): Promise<void> {
    const { store } = this.options;
    const { conversationId, messageId } = job;
    const conversation = await store.getConversation(conversationId);
    const message = conversation ? await store.getMessage(conversationId, messageId) : undefined;
    if (!conversation || !message) throw new PermanentJobError(`message ${conversationId}/${messageId} is gone`);

    const connector = this.options.connectors.get(conversation.channel);
    if (!connector) {
      const reason = new GatewayError('GW_ERR_CHANNEL_UNAVAILABLE', conversation.channel).message;
      await store.setDelivery(conversationId, messageId, 'failed', reason);
      await this.announce(conversationId, messageId, conversation);
      throw new PermanentJobError(reason);
    }

    const marker = keys.outboundMarker(conversationId, messageId);
    const leaseSeconds = this.options.sendingLeaseSeconds ?? SENDING_LEASE_SECONDS;
    const lease = `sending:${Date.now() + leaseSeconds * 1000}:${randomUUID()}`;
    let claimed: boolean;
    let found: string | undefined;
    try {
      claimed = await store.setIfAbsent(marker, lease, leaseSeconds);
      found = claimed ? undefined : await store.get(marker);
    } catch (err) {
      return this.recordFailure(job, context, err); // the store failed: a try like any other
    }
    if (found?.startsWith('sent:')) {
      this.logger.info({ conversationId, messageId }, 'already sent; not sending again');
      return;
    }
    if (!claimed) {
      // Another worker's claim, most often one killed mid-send: wait it out (not a try, nothing recorded), then send.
      const until = leaseWaitUntil(found);
      this.logger.info({ conversationId, messageId, waitMs: until - Date.now() }, 'another worker holds the send; waiting for its lease');
      throw new DeferJobError(until, 'another worker holds this send');
    }

    try {
      const receipt =
        job.kind === 'invite'
          ? await connector.sendInvite(conversation, { url: this.unseal(job), reason: message.text })
          : await connector.send(conversation, message.text);
      await store.set(marker, `sent:${receipt.platformMessageId ?? ''}`, SENT_MARKER_TTL_SECONDS);
      await store.setDelivery(conversationId, messageId, 'sent');
      await this.announce(conversationId, messageId, conversation);
      if (receipt.platformMessageId) await this.options.deliveries.remember(receipt.platformMessageId, conversationId, messageId);
      this.logger.info({ conversationId, messageId, channel: conversation.channel, kind: job.kind, attempt: context.attempt }, 'outbound sent');
      this.options.metrics?.outbound.inc({ channel: conversation.channel, result: 'sent' });
    } catch (err) {
      if ((await store.get(marker).catch(() => undefined))?.startsWith('sent:')) return; // sent; only the bookkeeping after it failed
      await store.delete(marker).catch(() => undefined); // release the lease so the retry may send
      await this.recordFailure(job, context, err, conversation);
    }
  }

  /**
   * The queue's give-up hook: the net under every path on which a job ends
   * without a last try of ours recording it, e.g. BullMQ failing a job whose
   * workers were killed mid-send more than once. Only a message still
   * `queued` is touched: `sent`, a recorded failure and platform reports win.
   */
  private async gaveUp(job: OutboundJob, reason: string): Promise<void> {
    const { store } = this.options;
    const { conversationId, messageId } = job;
    if ((await store.get(keys.outboundMarker(conversationId, messageId)))?.startsWith('sent:')) return;
    const message = await store.getMessage(conversationId, messageId);
    if (!message || (message.delivery !== undefined && message.delivery.status !== 'queued')) return;
    this.logger.warn({ conversationId, messageId }, 'outbound given up by the queue');
    await store.setDelivery(conversationId, messageId, 'failed', `not sent, gave up: ${reason}`.slice(0, 500));
    await this.announce(conversationId, messageId);
  }

  /**
   * The message again, with its final delivery, as a `message` change: the console redraws it in place
   * (same id), so an advisor sees "failed" and why without reopening the conversation. Pages that already
   * show the message ignore the repeat (by id). Best effort: the outcome is stored whatever happens here.
   */
  private async announce(conversationId: string, messageId: string, known?: Conversation): Promise<void> {
    const { events, store } = this.options;
    if (!events) return;
    try {
      // The message is read again for its delivery as stored; the conversation only when the caller has none.
      const [conversation, message] = await Promise.all([known ?? store.getConversation(conversationId), store.getMessage(conversationId, messageId)]);
      if (conversation && message) events.publish({ conversation, event: 'message', message });
    } catch (err) {
      this.logger.warn({ conversationId, messageId, err: err instanceof Error ? err.message : String(err) }, 'delivery outcome not announced');
    }
  }

  private unseal(job: OutboundJob): string {
    if (!job.sealedUrl) throw new PermanentJobError('invite job without a link');
    try {
      return this.options.cipher.decrypt(job.sealedUrl, job.conversationId);
    } catch (err) {
      throw new PermanentJobError(`invite link cannot be unsealed: ${(err as Error).message}`);
    }
  }

  private async recordFailure(job: OutboundJob, context: JobContext, err: unknown, conversation?: Conversation): Promise<never> {
    const { store } = this.options;
    const { conversationId, messageId } = job;
    const permanent = err instanceof PermanentJobError || (isPlatformError(err) && !err.retryable);
    const reason = isPlatformError(err) ? err.describe() : (err as Error).message;
    const log = { conversationId, messageId, attempt: context.attempt, status: isPlatformError(err) ? err.status : undefined, code: isPlatformError(err) ? err.platformCode : undefined };
    if (conversation) this.options.metrics?.outbound.inc({ channel: conversation.channel, result: permanent || context.final ? 'failed' : 'retry' });
    if (permanent || context.final) {
      const why = permanent ? reason : `${reason} (gave up after ${context.attempt} attempts)`;
      this.logger.warn(log, 'outbound failed for good');
      await store.setDelivery(conversationId, messageId, 'failed', why);
      await this.announce(conversationId, messageId, conversation);
      if (permanent) throw err instanceof PermanentJobError ? err : new PermanentJobError(reason, { cause: err });
      throw err;
    }
    this.logger.info(log, 'outbound attempt failed; will retry');
    await store.setDelivery(conversationId, messageId, 'queued', `attempt ${context.attempt} failed: ${reason}; retrying`).catch(() => undefined);
    throw err;
  }
}

/**
 * When to look again at a marker held by someone else's `sending:` lease:
 * just after its stated expiry, or sooner (see LEASE_RECHECK_MAX_MS).
 * A marker gone between our two reads is looked at again almost at once.
 * A lease without a stated expiry (written before leases carried one) is
 * looked at every LEASE_RECHECK_MAX_MS until Redis expires it.
 */
function leaseWaitUntil(found: string | undefined): number {
  const now = Date.now();
  if (found === undefined) return now + LEASE_EXPIRY_MARGIN_MS;
  const expiry = /^sending:(\d+):/.exec(found)?.[1];
  const wait = expiry === undefined ? LEASE_RECHECK_MAX_MS : Number(expiry) - now + LEASE_EXPIRY_MARGIN_MS;
  return now + Math.min(LEASE_RECHECK_MAX_MS, Math.max(LEASE_EXPIRY_MARGIN_MS, wait));
}
