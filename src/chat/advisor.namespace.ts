/**
 * ⑥ The advisors' side: the `/advisor` namespace (PRODUCT.md, "Secure chat").
 *
 * - `use()` verifies `auth.token` (the bank IdP's JWT, or a dev token) and
 *   disconnects the socket when that token expires.
 * - Every advisor receives `conversation {conversation, event}` for every
 *   change; `message` only for the conversations it `watch`es (a room per
 *   watched conversation, so the adapter carries it to every node).
 * - Advisors send through the REST API, not through this socket.
 */
import type { Socket } from 'socket.io';
import type { AdvisorAuth } from '../advisor/auth';
import type { ConversationChange } from '../conversation-events';
import { isGatewayError } from '../errors';
import type { Message } from '../messages';
import type { Logger } from '../ops/logger';
import type { Metrics } from '../ops/metrics';
import type { Store } from '../store/store';
import { EventWindow } from './event-window';
import type { ClusterEvents } from './fan-out';
import type { AdvisorClientToServerEvents, AdvisorServerToClientEvents, AdvisorSocketData, WatchAck } from './events';
import type { AdvisorNamespace } from './io';

type AdvisorSocket = Socket<AdvisorClientToServerEvents, AdvisorServerToClientEvents, ClusterEvents, AdvisorSocketData>;

export interface AdvisorNamespaceDeps {
  logger: Logger;
  store: Store;
  advisorAuth: Pick<AdvisorAuth, 'verify' | 'clockToleranceSeconds'>;
  metrics?: Metrics;
  socketEventLimit?: { events: number; windowMs: number };
}

export interface AdvisorNamespaceHandle {
  /** A stored message, to this node's advisors watching its conversation (fan-out.ts reaches the other nodes). */
  relay(message: Message): void;
  /** A conversation change, to every advisor of this node. */
  announce(change: ConversationChange): void;
  close(): void;
}

export const watchRoom = (conversationId: string) => `watch:${conversationId}`;

const ADVISOR_EVENTS = new Set(['watch', 'unwatch']);
const CONVERSATION_ID = /^[A-Za-z0-9-]{1,64}$/;
/** setTimeout's ceiling (~24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

function conversationIdOf(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const id = (payload as Record<string, unknown>).conversationId;
  return typeof id === 'string' && CONVERSATION_ID.test(id) ? id : undefined;
}

export function registerAdvisorNamespace(nsp: AdvisorNamespace, deps: AdvisorNamespaceDeps): AdvisorNamespaceHandle {
  const log = deps.logger.child({ component: 'advisor-socket' });
  const eventLimit = deps.socketEventLimit ?? { events: 20, windowMs: 10_000 };
  const expiries = new WeakMap<AdvisorSocket, number>();

  nsp.use(async (socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    try {
      const identity = await deps.advisorAuth.verify(auth.token);
      socket.data = { advisor: { sub: identity.sub, ...(identity.name ? { name: identity.name } : {}) } };
      // Closed when the handshake would refuse the token too (exp + the verifier's tolerance, + 1 s): closing it
      // earlier lets the console reconnect with the same token at once, over and over until the tolerance ends.
      if (identity.exp !== undefined) expiries.set(socket, identity.exp + deps.advisorAuth.clockToleranceSeconds + 1);
      next();
    } catch (err) {
      const code = isGatewayError(err) ? err.code : 'GW_ERR_INTERNAL';
      log.info({ code }, 'advisor handshake refused');
      next(new Error(code === 'GW_ERR_IDP_UNAVAILABLE' ? 'idp_unavailable' : 'unauthenticated'));
    }
  });

  nsp.on('connection', (socket: AdvisorSocket) => {
    deps.metrics?.advisorSockets.inc();
    const exp = expiries.get(socket);
    const expiryTimer = exp === undefined ? undefined : setTimeout(() => socket.disconnect(true), Math.min(Math.max(0, exp * 1000 - Date.now()), MAX_TIMER_MS));
    expiryTimer?.unref();
    socket.on('disconnect', () => {
      deps.metrics?.advisorSockets.dec();
      clearTimeout(expiryTimer);
    });
    socket.on('error', () => undefined);

    const window = new EventWindow(eventLimit.events, eventLimit.windowMs);
    socket.use((packet, next) => {
      const verdict = window.hit();
      const [event] = packet;
      const ack = packet[packet.length - 1];
      const answer = (result: WatchAck) => {
        if (typeof ack === 'function') (ack as (r: WatchAck) => void)(result);
      };
      if (verdict === 'flood') {
        socket.disconnect(true);
        return;
      }
      if (typeof event !== 'string' || !ADVISOR_EVENTS.has(event)) {
        answer({ ok: false, error: 'invalid_request' });
        next(new Error('unknown_event'));
        return;
      }
      if (verdict === 'limited') {
        answer({ ok: false, error: 'rate_limited' });
        next(new Error('rate_limited'));
        return;
      }
      if (typeof ack === 'function' && packet.length !== 3) {
        // Every event of the contract is (payload, ack): a missing payload or an extra argument is refused through the ack.
        answer({ ok: false, error: 'invalid_request' });
        next(new Error('malformed_event'));
        return;
      }
      next();
    });

    socket.on('watch', (payload, ack) => {
      if (typeof ack !== 'function') return;
      void (async () => {
        const conversationId = conversationIdOf(payload);
        if (!conversationId) return ack({ ok: false, error: 'invalid_request' });
        try {
          if (!(await deps.store.getConversation(conversationId))) return ack({ ok: false, error: 'not_found' });
        } catch {
          return ack({ ok: false, error: 'not_found' });
        }
        await socket.join(watchRoom(conversationId));
        ack({ ok: true });
      })();
    });

    socket.on('unwatch', (payload, ack) => {
      if (typeof ack !== 'function') return;
      const conversationId = conversationIdOf(payload);
      if (!conversationId) return ack({ ok: false, error: 'invalid_request' });
      void Promise.resolve(socket.leave(watchRoom(conversationId))).then(() => ack({ ok: true }));
    });
  });

  return {
    relay(message) {
      const room = watchRoom(message.conversationId);
      // Encode nothing when no advisor on this node watches the conversation.
      if (nsp.adapter.rooms.has(room)) nsp.local.to(room).emit('message', message);
    },
    announce(change) {
      if (nsp.sockets.size === 0) return;
      nsp.local.emit('conversation', { conversation: change.conversation, event: change.event, ...(change.reason ? { reason: change.reason } : {}) });
    },
    close() {
      // nothing held beyond the sockets, which io.ts disconnects
    },
  };
}
