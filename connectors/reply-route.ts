/**
 * WhatsApp reaches the gateway two ways: the Cloud API (`/webhooks/whatsapp`)
 * and Twilio's WhatsApp sender (`/webhooks/twilio`, `From: whatsapp:+...`).
 * Both make `whatsapp` conversations (PRODUCT.md: the channel is the platform
 * the customer is on), so a reply must go back the way the customer came.
 *
 * The way is recorded in the store (`pg:route:whatsapp:<E.164>`, thread
 * retention) so any node, any time later (a bot reply, an advisor reply, an
 * invite), answers the same way:
 * - every WhatsApp-over-Twilio webhook records `twilio <sender>`, the bank's
 *   WhatsApp sender the customer wrote to (the inbound `To`), whether or not
 *   the Cloud API is configured: the Twilio door answers from that sender
 *   (`TWILIO_FROM` may be a Messaging Service SID or an SMS-only number);
 * - with both connectors configured, each Cloud API webhook records `cloud`,
 *   and the registry's `whatsapp` entry is a `WhatsAppRoute` that reads the
 *   way at send time to pick the door.
 */
import { Router } from 'express';
import type { Conversation } from '../src/messages';
import { keys } from '../src/store/keys';
import type { Store } from '../src/store/store';
import type { Connector, Invite, OutboundReceipt } from './connector';

export type WhatsAppWay = { via: 'cloud' } | { via: 'twilio'; from: string };

export async function rememberWhatsAppWay(store: Store, externalUserId: string, way: WhatsAppWay, ttlSeconds: number): Promise<void> {
  await store.set(keys.replyRoute('whatsapp', externalUserId), way.via === 'cloud' ? 'cloud' : `twilio ${way.from}`, ttlSeconds);
}

export async function readWhatsAppWay(store: Store, externalUserId: string): Promise<WhatsAppWay | undefined> {
  const value = await store.get(keys.replyRoute('whatsapp', externalUserId));
  if (value === 'cloud') return { via: 'cloud' };
  if (value?.startsWith('twilio ')) return { via: 'twilio', from: value.slice('twilio '.length) };
  return undefined;
}

/** The registry's `whatsapp` connector: the Cloud API's webhook, and sends through whichever way the customer last used. */
export class WhatsAppRoute implements Connector {
  readonly channel = 'whatsapp' as const;
  readonly webhookPath?: string;

  constructor(
    private readonly store: Store,
    private readonly cloud: Connector | undefined,
    private readonly twilio: Connector | undefined,
  ) {
    if (!cloud && !twilio) throw new Error('WhatsAppRoute needs the Cloud API or the Twilio connector');
    this.webhookPath = cloud?.webhookPath;
  }

  router(): Router {
    return this.cloud ? this.cloud.router() : Router();
  }

  /** Cloud API by default; Twilio when it is the only one or the customer wrote through it last. */
  private async pick(conversation: Conversation): Promise<Connector> {
    if (!this.cloud) return this.twilio!;
    if (!this.twilio) return this.cloud;
    const way = await readWhatsAppWay(this.store, conversation.externalUserId);
    return way?.via === 'twilio' ? this.twilio : this.cloud;
  }

  async send(conversation: Conversation, text: string): Promise<OutboundReceipt> {
    return (await this.pick(conversation)).send(conversation, text);
  }

  async sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt> {
    return (await this.pick(conversation)).sendInvite(conversation, invite);
  }
}
