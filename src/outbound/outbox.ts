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
 *
 * Exactly-once, as far as the platforms allow: before calling the platform a
 * worker claims the message's marker (`SET NX`, value `sending:<uuid>`,
 * 2-minute lease); after the platform accepted, the marker becomes
 * `sent:<platform id>` for 30 days. A re-run (BullMQ stalled-job recovery after
 * a kill -9, a duplicate enqueue, another node) that finds `sent:` does not
 * send again; one that finds a live `sending:` lease backs off and retries.
 * The window that remains is at-least-once: a worker killed after the
 * platform accepted the message but before the marker was written (a few
 * milliseconds), or a send whose answer was lost (timeout/5xx after the
 * platform did accept), is sent again on retry. Twilio's Messages API and
 * Meta's Send APIs take no idempotency key, so no client can close it.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors';
import { PermanentJobError, type JobContext, type JobQueue } from '../jobs/job-queue';
import type { Conversation, PublicChannel } from '../messages';
import type { Logger } from '../ops/logger';
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
  /** Total tries per message. Default 5 (about 15 s of backoff with the default 1 s). */
  attempts?: number;
  /** First retry delay, doubling. Default 1000 ms. */
  backoffMs?: number;
}

const SENDING_LEASE_SECONDS = 120;
const SENT_MARKER_TTL_SECONDS = 30 * 24 * 3600;

/** A live lease held by another worker: retry later, record nothing. */
class SendInFlightError extends Error {
  constructor() {
    super('another worker is sending this message right now');
    this.name = 'SendInFlightError';
  }
}

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
    this.options.queue.process<OutboundJob>('outbound', (job, context) => this.deliver(job, context));
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
      throw new PermanentJobError(reason);
    }

    const marker = keys.outboundMarker(conversationId, messageId);
    const lease = `sending:${randomUUID()}`;
    if (!(await store.setIfAbsent(marker, lease, SENDING_LEASE_SECONDS))) {
      const found = (await store.get(marker)) ?? '';
      if (found.startsWith('sent:')) {
        this.logger.info({ conversationId, messageId }, 'already sent; not sending again');
        return;
      }
      throw new SendInFlightError();
    }

    try {
      const receipt =
        job.kind === 'invite'
          ? await connector.sendInvite(conversation, { url: this.unseal(job), reason: message.text })
          : await connector.send(conversation, message.text);
      await store.set(marker, `sent:${receipt.platformMessageId ?? ''}`, SENT_MARKER_TTL_SECONDS);
      await store.setDelivery(conversationId, messageId, 'sent');
      if (receipt.platformMessageId) await this.options.deliveries.remember(receipt.platformMessageId, conversationId, messageId);
      this.logger.info({ conversationId, messageId, channel: conversation.channel, kind: job.kind, attempt: context.attempt }, 'outbound sent');
    } catch (err) {
      if ((await store.get(marker).catch(() => undefined))?.startsWith('sent:')) return; // sent; only the bookkeeping after it failed
      await store.delete(marker).catch(() => undefined); // release the lease so the retry may send
      await this.recordFailure(job, context, err);
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

  private async recordFailure(job: OutboundJob, context: JobContext, err: unknown): Promise<never> {
    const { store } = this.options;
    const { conversationId, messageId } = job;
    const permanent = err instanceof PermanentJobError || (isPlatformError(err) && !err.retryable);
    const reason = isPlatformError(err) ? err.describe() : (err as Error).message;
    const log = { conversationId, messageId, attempt: context.attempt, status: isPlatformError(err) ? err.status : undefined, code: isPlatformError(err) ? err.platformCode : undefined };
    if (permanent || context.final) {
      const why = permanent ? reason : `${reason} (gave up after ${context.attempt} attempts)`;
      this.logger.warn(log, 'outbound failed for good');
      await store.setDelivery(conversationId, messageId, 'failed', why);
      if (permanent) throw err instanceof PermanentJobError ? err : new PermanentJobError(reason, { cause: err });
      throw err;
    }
    this.logger.info(log, 'outbound attempt failed; will retry');
    await store.setDelivery(conversationId, messageId, 'queued', `attempt ${context.attempt} failed: ${reason}; retrying`).catch(() => undefined);
    throw err;
  }
}
