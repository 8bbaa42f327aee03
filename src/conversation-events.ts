/**
 * The in-process hub of conversation changes. Modules that change a
 * conversation (ingest, the pivot ledger, sessions, the advisor API) publish
 * here; the `/advisor` namespace subscribes and fans out to advisors through
 * Socket.IO, whose Redis adapter carries it to every node. Nothing another
 * node needs is kept here: it is a notification path, the store is the truth.
 */
import { EventEmitter } from 'node:events';
import type { Conversation, Message } from './messages';

/** PRODUCT.md's advisor `conversation` events. */
export const CONVERSATION_EVENTS = ['created', 'message', 'pivot_sent', 'pivot_redeemed', 'pivot_refused', 'stepped_up', 'locked', 'unlocked', 'closed', 'alert'] as const;
export type ConversationEventName = (typeof CONVERSATION_EVENTS)[number];

export interface ConversationChange {
  conversation: Conversation;
  event: ConversationEventName;
  /** For `message`: the message (already redacted and as stored). */
  message?: Message;
  /** For `alert` and `pivot_refused`: a short machine-readable reason (never a token). */
  reason?: string;
  /** The socket id that caused the change, so a sender is not echoed its own message. */
  originSocketId?: string;
}

export interface SessionRevocation {
  conversationId: string;
  /** Ids of the revoked sessions (hashes of their tokens, never the tokens). */
  sessionIds: string[];
  reason: 'locked' | 'lost_device' | 'revoked' | 'replaced';
}

export class ConversationEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  publish(change: ConversationChange): void {
    this.emitter.emit('change', change);
  }

  subscribe(listener: (change: ConversationChange) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }

  /**
   * Secure sessions were revoked (lock, lost device, logout). The `/secure`
   * namespace disconnects their sockets on every node (through the adapter).
   */
  publishRevocation(revocation: SessionRevocation): void {
    this.emitter.emit('revocation', revocation);
  }

  subscribeRevocations(listener: (revocation: SessionRevocation) => void): () => void {
    this.emitter.on('revocation', listener);
    return () => this.emitter.off('revocation', listener);
  }
}
