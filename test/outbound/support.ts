/**
 * An outbox wired to real connectors whose platform is a local stand-in
 * (Graph API or Twilio REST at META_GRAPH_URL / TWILIO_API_URL), the run's
 * Redis store, and the in-process queue with a 1 ms backoff so retries do not
 * slow the suite (their count and order are what the tests check).
 */
import type { Connector } from '../../connectors/connector';
import { createMessengerConnector } from '../../connectors/messenger/messenger.connector';
import { createTwilioConnector } from '../../connectors/twilio/twilio.connector';
import { createWhatsAppConnector } from '../../connectors/whatsapp/whatsapp.connector';
import type { JobQueue } from '../../src/jobs/job-queue';
import { MemoryJobQueue } from '../../src/jobs/memory.queue';
import type { Conversation, Message, PublicChannel } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import { Outbox } from '../../src/outbound/outbox';
import { buildParts, type Parts } from '../connectors/support/gateway-parts';
import type { PlatformStandIn } from '../connectors/support/platform-stand-in';
import { Metrics } from '../../src/ops/metrics';
import { ConversationEvents, type ConversationChange } from '../../src/conversation-events';

export interface Rig extends Parts {
  queue: MemoryJobQueue;
  outbox: Outbox;
  metrics: Metrics;
  /** Every change the outbox announced. */
  changes: ConversationChange[];
  connectors: Map<PublicChannel, Connector>;
}

export async function buildRig(standIn: PlatformStandIn, options: { attempts?: number; queue?: JobQueue } = {}): Promise<Rig> {
  const parts = await buildParts({ META_GRAPH_URL: `${standIn.url}/v24.0`, TWILIO_API_URL: standIn.url });
  const connectors = new Map<PublicChannel, Connector>([
    ['sms', createTwilioConnector(parts.ctx)],
    ['messenger', createMessengerConnector(parts.ctx)],
    ['whatsapp', createWhatsAppConnector(parts.ctx)],
  ]);
  const queue = new MemoryJobQueue(silentLogger(), { defaults: { attempts: 3, backoffMs: 1 } });
  const metrics = new Metrics({ defaultMetrics: false });
  const events = new ConversationEvents();
  const changes: ConversationChange[] = [];
  events.subscribe((change) => changes.push(change));
  const outbox = new Outbox({ queue: options.queue ?? queue, store: parts.store, cipher: parts.cipher, connectors, deliveries: parts.deliveries, logger: silentLogger(), metrics, events, attempts: options.attempts ?? 3, backoffMs: 1 });
  outbox.register();
  await (options.queue ?? queue).start();
  return { ...parts, queue, outbox, metrics, changes, connectors };
}

/** A conversation with one bot message waiting to go out. */
export async function botMessage(rig: Parts, channel: PublicChannel, externalUserId: string, text: string): Promise<{ conversation: Conversation; message: Message }> {
  const { conversation } = await rig.store.openConversation(channel, externalUserId);
  const { message } = await rig.store.appendMessage(conversation.id, { author: 'bot', channel, text });
  return { conversation, message };
}

export async function deliveryOf(rig: Parts, message: Message): Promise<Message['delivery']> {
  return (await rig.store.getMessage(message.conversationId, message.id))?.delivery;
}
