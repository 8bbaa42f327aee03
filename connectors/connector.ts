/**
 * The edge of the gateway: one small interface every messaging platform
 * implements (like novu's providers behind ISmsProvider). Platform payload
 * shapes never leave `connectors/`; the core sees `InboundMessage` in and
 * gives plain text or an invite out.
 */
import type { Router } from 'express';
import type { Conversation, PublicChannel } from '../src/messages';

/** What the platform said when it accepted an outbound message. */
export interface OutboundReceipt {
  /** The platform's id for the sent message (Twilio SID, Messenger mid, wamid), used to match delivery callbacks. */
  platformMessageId?: string;
}

/** A pivot invite, rendered natively by each connector ("Continue securely" button). */
export interface Invite {
  /** The pivot link: `${PUBLIC_URL}/secure/#t=<token>`. */
  url: string;
  /** One line saying why, e.g. "To transfer money safely, let's continue in our secure chat." */
  reason: string;
}

export interface Connector {
  readonly channel: PublicChannel;
  /** The path under which `router()` is mounted, e.g. `/webhooks/twilio`; undefined when the connector has no webhook. */
  readonly webhookPath?: string;
  /** Webhook routes. They verify before parsing and acknowledge only after the message is stored. */
  router(): Router;
  /** Sends plain text to the customer on the platform. Rejects with the platform's error. */
  send(conversation: Conversation, text: string): Promise<OutboundReceipt>;
  /** Sends a native "Continue securely" button that opens `invite.url`. */
  sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt>;
}
