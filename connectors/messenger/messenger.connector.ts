/**
 * Facebook Messenger: webhook at `/webhooks/messenger` (Meta's challenge and
 * `X-Hub-Signature-256`), outbound through the Send API
 * (`POST {META_GRAPH_URL}/me/messages`, `messaging_type: RESPONSE`, so inside
 * the 24-hour window; outside it Meta answers #10/2018278 and the outbox
 * records that on the message for the advisor).
 *
 * The invite is a button template whose `web_url` button opens the pivot
 * link in Messenger's webview: `tall`, and with the share button hidden so
 * the link (it holds a single-use token) is not offered for forwarding.
 */
import type { Router } from 'express';
import type { Conversation } from '../../src/messages';
import type { Logger } from '../../src/ops/logger';
import type { Connector, ConnectorContext, Invite, OutboundReceipt } from '../connector';
import { graphPost } from '../meta/graph.client';
import { metaWebhookRouter } from '../meta/meta.webhook';
import { asString, type Json } from '../webhook';
import { parseMessengerPayload } from './messenger.payload';

export const MESSENGER_WEBHOOK_PATH = '/webhooks/messenger';
/** The button's label: Meta allows 20 characters. */
export const INVITE_BUTTON_TITLE = 'Continue securely';
/** Button template text limit. */
const TEMPLATE_TEXT_MAX = 640;

type Settings = NonNullable<ConnectorContext['config']['messenger']>;

export class MessengerConnector implements Connector {
  readonly channel = 'messenger' as const;
  readonly webhookPath = MESSENGER_WEBHOOK_PATH;
  private readonly logger: Logger;
  private cached?: Router;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly settings: Settings,
  ) {
    this.logger = ctx.logger.child({ component: 'connector', channel: 'messenger' });
  }

  router(): Router {
    this.cached ??= metaWebhookRouter({ appSecret: this.settings.appSecret, verifyToken: this.settings.verifyToken, parse: parseMessengerPayload, ctx: this.ctx, logger: this.logger });
    return this.cached;
  }

  async send(conversation: Conversation, text: string): Promise<OutboundReceipt> {
    return this.post({ recipient: { id: conversation.externalUserId }, messaging_type: 'RESPONSE', message: { text } });
  }

  async sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt> {
    return this.post({
      recipient: { id: conversation.externalUserId },
      messaging_type: 'RESPONSE',
      message: {
        attachment: {
          type: 'template',
          payload: {
            template_type: 'button',
            text: invite.reason.slice(0, TEMPLATE_TEXT_MAX),
            buttons: [{ type: 'web_url', url: invite.url, title: INVITE_BUTTON_TITLE, webview_height_ratio: 'tall', webview_share_button: 'hide' }],
          },
        },
      },
    });
  }

  private async post(body: Json): Promise<OutboundReceipt> {
    const answer = await graphPost({ platform: 'messenger', url: `${this.ctx.config.metaGraphUrl}/me/messages`, accessToken: this.settings.pageAccessToken, appSecret: this.settings.appSecret, body });
    const id = asString(answer.message_id);
    return id ? { platformMessageId: id } : {};
  }
}

export function createMessengerConnector(ctx: ConnectorContext): MessengerConnector {
  if (!ctx.config.messenger) throw new Error('the Messenger connector needs MESSENGER_APP_SECRET, MESSENGER_VERIFY_TOKEN and MESSENGER_PAGE_ACCESS_TOKEN');
  return new MessengerConnector(ctx, ctx.config.messenger);
}
