/**
 * WhatsApp Cloud API: webhook at `/webhooks/whatsapp` (Meta's challenge and
 * `X-Hub-Signature-256`; `statuses[]` update the messages we sent), outbound
 * through `POST {META_GRAPH_URL}/{WHATSAPP_PHONE_NUMBER_ID}/messages`.
 *
 * The invite is an interactive `cta_url` message: the link hides behind a
 * "Continue securely" button instead of sitting in the text. Outside the
 * 24-hour window Meta accepts the send and then reports a `failed` status
 * with error 131047, which lands on the message for the advisor.
 */
import type { Router } from 'express';
import type { Conversation } from '../../src/messages';
import type { Logger } from '../../src/ops/logger';
import type { Connector, ConnectorContext, Invite, OutboundReceipt } from '../connector';
import { graphPost } from '../meta/graph.client';
import { metaWebhookRouter } from '../meta/meta.webhook';
import { INVITE_BUTTON_TITLE } from '../messenger/messenger.connector';
import { rememberWhatsAppWay } from '../reply-route';
import { asArray, asRecord, asString, type Json } from '../webhook';
import { parseWhatsAppPayload } from './whatsapp.payload';

export const WHATSAPP_WEBHOOK_PATH = '/webhooks/whatsapp';
const BODY_TEXT_MAX = 1024;
const TEXT_MAX = 4096;

type Settings = NonNullable<ConnectorContext['config']['whatsapp']>;

export class WhatsAppConnector implements Connector {
  readonly channel = 'whatsapp' as const;
  readonly webhookPath = WHATSAPP_WEBHOOK_PATH;
  private readonly logger: Logger;
  private cached?: Router;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly settings: Settings,
  ) {
    this.logger = ctx.logger.child({ component: 'connector', channel: 'whatsapp' });
  }

  router(): Router {
    this.cached ??= metaWebhookRouter({ appSecret: this.settings.appSecret, verifyToken: this.settings.verifyToken, parse: parseWhatsAppPayload, ctx: this.routeAware(), logger: this.logger });
    return this.cached;
  }

  /**
   * With Twilio configured too, each Cloud API message records "reply through
   * the Cloud API" for its sender before it is stored (see reply-route.ts).
   */
  private routeAware(): ConnectorContext {
    if (!this.ctx.config.twilio) return this.ctx;
    const ttl = this.ctx.config.threadRetentionDays * 86_400;
    return {
      ...this.ctx,
      ingest: async (inbound) => {
        await rememberWhatsAppWay(this.ctx.store, inbound.externalUserId, { via: 'cloud' }, ttl);
        return this.ctx.ingest(inbound);
      },
    };
  }

  async send(conversation: Conversation, text: string): Promise<OutboundReceipt> {
    return this.post(conversation, { type: 'text', text: { preview_url: false, body: text.slice(0, TEXT_MAX) } });
  }

  async sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt> {
    return this.post(conversation, {
      type: 'interactive',
      interactive: {
        type: 'cta_url',
        body: { text: invite.reason.slice(0, BODY_TEXT_MAX) },
        action: { name: 'cta_url', parameters: { display_text: INVITE_BUTTON_TITLE, url: invite.url } },
      },
    });
  }

  private async post(conversation: Conversation, message: Json): Promise<OutboundReceipt> {
    const answer = await graphPost({
      platform: 'whatsapp',
      url: `${this.ctx.config.metaGraphUrl}/${encodeURIComponent(this.settings.phoneNumberId)}/messages`,
      accessToken: this.settings.accessToken,
      appSecret: this.settings.appSecret,
      body: { messaging_product: 'whatsapp', recipient_type: 'individual', to: conversation.externalUserId, ...message },
    });
    const id = asString(asRecord(asArray(answer.messages)[0])?.id);
    return id ? { platformMessageId: id } : {};
  }
}

export function createWhatsAppConnector(ctx: ConnectorContext): WhatsAppConnector {
  if (!ctx.config.whatsapp) throw new Error('the WhatsApp connector needs WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID');
  return new WhatsAppConnector(ctx, ctx.config.whatsapp);
}
