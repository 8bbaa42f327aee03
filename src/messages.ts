/**
 * The core's vocabulary, exactly as PRODUCT.md shapes it. Platform payloads
 * stop in `connectors/`; past that point everything speaks these types.
 */

/** Where a message travelled. `secure` is the gateway's own webview. */
export const CHANNELS = ['messenger', 'whatsapp', 'sms', 'botframework', 'sandbox', 'secure'] as const;
export type Channel = (typeof CHANNELS)[number];
/** The platforms a conversation can live on (every channel but `secure`). */
export type PublicChannel = Exclude<Channel, 'secure'>;

export const AUTHORS = ['customer', 'advisor', 'bot', 'system'] as const;
export type Author = (typeof AUTHORS)[number];

export type ConversationStatus = 'open' | 'closed';
export type SecureState = 'none' | 'invited' | 'active' | 'locked';

export interface Conversation {
  id: string;
  channel: PublicChannel;
  /** The platform's id of the customer: E.164 with `+` for SMS/WhatsApp, the PSID for Messenger. */
  externalUserId: string;
  status: ConversationStatus;
  secure: SecureState;
  lastMessageAt: string;
  createdAt: string;
}

/** Delivery state of an outbound message on its platform (absent on inbound ones). */
export type DeliveryStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed';

export interface Message {
  id: string;
  conversationId: string;
  author: Author;
  channel: Channel;
  text: string;
  createdAt: string;
  /** True when card numbers, IBANs or secrets were removed before storing. */
  redacted?: boolean;
  /** For advisor messages: the `name` claim of the advisor's token, shown to the customer (PRODUCT.md). */
  authorName?: string;
  /** Outbound messages: where the platform says the message is. */
  delivery?: { status: DeliveryStatus; error?: string; updatedAt: string };
}

/**
 * What a connector hands the core for one customer message, after verifying
 * the webhook and parsing the platform's payload.
 */
export interface InboundMessage {
  channel: PublicChannel;
  externalUserId: string;
  /** The platform's own message id (`mid`, `wamid`, `MessageSid`): the dedupe key. */
  platformMessageId: string;
  text: string;
  /** When the platform says the message was sent (ISO 8601), if it says. */
  sentAt?: string;
  /** Channel-specific routing hints a connector needs to reply (e.g. Bot Framework's serviceUrl). */
  replyContext?: Record<string, string>;
}

/** What the core appends to a thread; the store assigns `id` and `createdAt`. */
export interface MessageDraft {
  author: Author;
  channel: Channel;
  text: string;
  redacted?: boolean;
  authorName?: string;
}
