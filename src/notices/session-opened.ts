/**
 * PRODUCT.md "Customer notices": when a secure session opens, the customer is
 * told on the public channel when and from what kind of device — so a
 * customer whose link was used by someone else can answer LOCK at once.
 *
 * It listens to `pivot_redeemed` on the node that redeemed (events are
 * in-process), so each redemption is announced once.
 */
import type { SecureSession, SecureSessions } from '../chat/sessions';
import type { ConversationEvents } from '../conversation-events';
import type { Conversation } from '../messages';
import type { Logger } from '../ops/logger';
import { keys } from '../store/keys';
import type { Store } from '../store/store';
import { sessionOpenedNotice } from './device';

export interface SessionOpenedNoticesDeps {
  store: Store;
  sessions: Pick<SecureSessions, 'get'>;
  events: ConversationEvents;
  /** Stores a system message and queues it on the conversation's public channel. */
  send: (conversation: Conversation, text: string) => Promise<void>;
  logger: Logger;
}

export class SessionOpenedNotices {
  private readonly log: Logger;

  constructor(private readonly deps: SessionOpenedNoticesDeps) {
    this.log = deps.logger.child({ component: 'notices' });
  }

  /** Subscribes; returns the unsubscribe function. */
  start(): () => void {
    return this.deps.events.subscribe((change) => {
      if (change.event !== 'pivot_redeemed') return;
      this.announce(change.conversation).catch((err: unknown) => this.log.warn({ err, conversationId: change.conversation.id }, 'session notice not sent'));
    });
  }

  async announce(conversation: Conversation): Promise<void> {
    const ids = await this.deps.store.setMembers(keys.conversationSessions(conversation.id));
    const sessions = (await Promise.all(ids.map((id) => this.deps.sessions.get(id)))).filter((s): s is SecureSession => s !== undefined);
    const newest = sessions.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
    if (!newest) return;
    await this.deps.send(conversation, sessionOpenedNotice(newest.createdAt, newest.client.userAgent));
  }
}
