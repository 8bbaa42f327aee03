/**
 * A small botbuilder `BotAdapter` between the gateway and the bot: a stored
 * inbound message becomes an Activity, and the bot's replies become
 * outbound messages for the conversation's connector (stored in the thread,
 * then sent by the durable outbox).
 *
 * A reply with a hero card carrying an `openUrl` button is a pivot invite: it
 * is sent as the platform's native "Continue securely" button (Messenger
 * button template, WhatsApp cta_url, SMS text with the link, Bot Framework
 * hero card) by the connector; the thread keeps the one-line reason only,
 * never the link (it holds a token).
 */
import { BotAdapter, TurnContext, type Activity, type ActivityHandler, type ConversationReference, type ResourceResponse } from 'botbuilder';
import type { Conversation, Message } from '../messages';
import type { GatewayChannelData } from './pivot-bot';

export interface BotOutput {
  /** Stores a bot message in the thread and queues its send on the public channel. */
  sendText: (conversation: Conversation, text: string) => Promise<{ id: string }>;
  /** Stores the reason in the thread and queues the native invite. */
  sendInvite: (conversation: Conversation, invite: { url: string; reason: string; buttonTitle: string }) => Promise<{ id: string }>;
}

interface OpenUrlCard {
  text?: string;
  buttons?: Array<{ type?: string; title?: string; value?: unknown }>;
}

function inviteOf(activity: Partial<Activity>): { url: string; reason: string; buttonTitle: string } | undefined {
  for (const attachment of activity.attachments ?? []) {
    const card = attachment.content as OpenUrlCard | undefined;
    const button = card?.buttons?.find((b) => b.type === 'openUrl' && typeof b.value === 'string');
    if (button) return { url: button.value as string, reason: card?.text ?? activity.text ?? '', buttonTitle: button.title ?? 'Continue securely' };
  }
  return undefined;
}

export class GatewayBotAdapter extends BotAdapter {
  constructor(private readonly output: BotOutput) {
    super();
  }

  /** Runs `bot` on one stored customer message. */
  async processMessage(conversation: Conversation, message: Message, bot: ActivityHandler): Promise<void> {
    const channelData: GatewayChannelData = { conversation, messageId: message.id, redacted: message.redacted === true };
    const activity: Partial<Activity> = {
      type: 'message',
      id: message.id,
      text: message.text,
      timestamp: new Date(message.createdAt),
      channelId: conversation.channel,
      conversation: { id: conversation.id, isGroup: false, name: '', conversationType: 'personal' },
      from: { id: conversation.externalUserId, name: '', role: 'user' },
      recipient: { id: 'pivot-gateway', name: 'Pivot Gateway', role: 'bot' },
      serviceUrl: '',
      channelData,
    };
    const context = new TurnContext(this, activity);
    await this.runMiddleware(context, (turn) => bot.run(turn));
  }

  async sendActivities(context: TurnContext, activities: Partial<Activity>[]): Promise<ResourceResponse[]> {
    const { conversation } = context.activity.channelData as GatewayChannelData;
    const responses: ResourceResponse[] = [];
    for (const activity of activities) {
      if (activity.type !== undefined && activity.type !== 'message') continue; // typing indicators etc. have no platform equivalent here
      const invite = inviteOf(activity);
      if (invite) responses.push(await this.output.sendInvite(conversation, invite));
      else if (activity.text) responses.push(await this.output.sendText(conversation, activity.text));
    }
    return responses;
  }

  async updateActivity(): Promise<void> {
    throw new Error('GatewayBotAdapter: messaging platforms here cannot edit a sent message');
  }

  async deleteActivity(): Promise<void> {
    throw new Error('GatewayBotAdapter: messaging platforms here cannot delete a sent message');
  }

  async continueConversation(_reference: Partial<ConversationReference>, _logic: (context: TurnContext) => Promise<void>): Promise<void> {
    throw new Error('GatewayBotAdapter: proactive turns go through the outbox, not the bot');
  }
}
