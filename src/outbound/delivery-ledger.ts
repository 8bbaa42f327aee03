/**
 * Links a platform's message id (Twilio SID, Messenger mid, wamid) to the
 * thread message it carried, so delivery reports update that message:
 * `remember` after the platform accepted a send, `report` when one comes
 * in (Twilio status callback, WhatsApp `statuses[]`, Messenger deliveries).
 *
 * Two platform realities are handled:
 * - a report can arrive before `remember` ran (Twilio's "queued"/"sent"
 *   callbacks can beat the REST response home): it is parked under the
 *   platform id for an hour and applied by `remember`;
 * - reports arrive out of order (WhatsApp does not order webhooks; "read" may
 *   come before "delivered"): a status only moves forward, by rank
 *   queued < sent < failed < delivered < read. "delivered" may follow
 *   "failed" (a second device got it), the reverse is ignored.
 * The rank check reads then writes without a lock: two reports racing for one
 * message can both land; the later write wins. Reports are advisory; the
 * thread itself is never touched.
 */
import type { DeliveryStatus } from '../messages';
import type { Logger } from '../ops/logger';
import { keys } from '../store/keys';
import type { Store } from '../store/store';

const RANK: Record<DeliveryStatus, number> = { queued: 0, sent: 1, failed: 2, delivered: 3, read: 4 };
/** Statuses keep coming for days (WhatsApp "read" can be late); 30 days covers them. */
const MAPPING_TTL_SECONDS = 30 * 24 * 3600;
const PENDING_TTL_SECONDS = 3600;

interface Pending {
  status: DeliveryStatus;
  error?: string;
}

export class DeliveryLedger {
  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  /** After a successful send: the platform id now names this message. Applies a report that came early. */
  async remember(platformMessageId: string, conversationId: string, messageId: string): Promise<void> {
    await this.store.set(keys.platformMessage(platformMessageId), `${conversationId} ${messageId}`, MAPPING_TTL_SECONDS);
    const parked = await this.store.get(keys.pendingStatus(platformMessageId));
    if (parked === undefined) return;
    await this.store.delete(keys.pendingStatus(platformMessageId));
    const pending = JSON.parse(parked) as Pending;
    await this.apply(conversationId, messageId, pending.status, pending.error);
  }

  /** A platform's delivery report. Bound to `ConnectorContext.outboxStatus`. */
  report = async (platformMessageId: string, status: DeliveryStatus, error?: string): Promise<void> => {
    const mapping = await this.store.get(keys.platformMessage(platformMessageId));
    if (mapping === undefined) {
      // Not (yet) ours: park it briefly in case the send that made it is still recording its id.
      const pending: Pending = { status, ...(error ? { error } : {}) };
      const current = await this.store.get(keys.pendingStatus(platformMessageId));
      const previous = current === undefined ? undefined : (JSON.parse(current) as Pending);
      if (!previous || RANK[status] > RANK[previous.status]) {
        await this.store.set(keys.pendingStatus(platformMessageId), JSON.stringify(pending), PENDING_TTL_SECONDS);
      }
      return;
    }
    const [conversationId = '', messageId = ''] = mapping.split(' ');
    await this.apply(conversationId, messageId, status, error);
  };

  private async apply(conversationId: string, messageId: string, status: DeliveryStatus, error?: string): Promise<void> {
    const message = await this.store.getMessage(conversationId, messageId);
    if (!message) return; // the thread expired
    const current = message.delivery?.status;
    if (current !== undefined && RANK[status] <= RANK[current]) return;
    await this.store.setDelivery(conversationId, messageId, status, status === 'failed' ? error : undefined);
    this.logger.debug({ conversationId, messageId, status }, 'delivery status recorded');
  }
}
