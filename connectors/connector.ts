/**
 * The edge of the gateway: one small interface every messaging platform
 * implements (like novu's providers behind ISmsProvider). Platform payload
 * shapes never leave `connectors/`; the core sees `InboundMessage` in and
 * gives plain text or an invite out.
 */
import type { Router } from 'express';
import type { Config } from '../src/config';
import type { Conversation, DeliveryStatus, InboundMessage, PublicChannel } from '../src/messages';
import type { Logger } from '../src/ops/logger';
import type { Store } from '../src/store/store';
import type { TextCipher } from '../src/store/text-cipher';

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
  /** Sends plain text to the customer on the platform. Rejects with the platform's error (`PlatformError`). */
  send(conversation: Conversation, text: string): Promise<OutboundReceipt>;
  /** Sends a native "Continue securely" button that opens `invite.url`. Rejects with the platform's error. */
  sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt>;
}

/**
 * Everything a connector receives from the composition root. Connectors never
 * read the environment and never call the bot or an outbound API inside a
 * webhook request: they verify, parse, hand each message to `ingest` and
 * acknowledge once it resolved.
 */
export interface ConnectorContext {
  config: Readonly<Config>;
  /**
   * Stores one customer message durably (dedupe by `platformMessageId`,
   * redaction, append, bot job) and resolves only then. Rejects with
   * `GW_ERR_STORE_UNAVAILABLE` when it could not store: the webhook answers
   * 503 so the platform redelivers.
   */
  ingest: (inbound: InboundMessage) => Promise<{ duplicate: boolean }>;
  store: Store;
  logger: Logger;
  /** Records a platform delivery report (Twilio status callback, WhatsApp `statuses[]`, Messenger deliveries) on the outbound message it names. */
  outboxStatus: (platformMessageId: string, status: DeliveryStatus, error?: string) => Promise<void>;
  /** The store's cipher: for connectors that keep something secret outside the thread (the sandbox's phone log holds pivot links). */
  cipher: TextCipher;
}

/** Every connector module exports one of these (`createTwilioConnector`, `createMessengerConnector`, ...). */
export type ConnectorFactory = (ctx: ConnectorContext) => Connector;
