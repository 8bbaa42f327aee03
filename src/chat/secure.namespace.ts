/**
 * ⑥ The customer's side: the `/secure` namespace (PRODUCT.md, "Secure chat").
 *
 * - `use()` authenticates the handshake: `auth.pivotToken` is redeemed through
 *   the ledger (exactly once, cluster-wide), `auth.sessionToken` resumes a
 *   session. A refusal reaches the client as `connect_error` with one of the
 *   contract's strings; nothing about the refusal is logged but its code.
 * - On connect the socket joins its conversation's room (live messages) and
 *   its session's room (revocations), THEN the thread is read, so nothing
 *   appended in between is missed (it may arrive twice: clients dedupe by id).
 *   `session` is emitted, then always `history`.
 * - `message` appends to the same thread the public channel uses, with
 *   `channel: 'secure'`, deduped on (conversation, clientMessageId).
 * - Every incoming packet passes a per-socket rate limit; unknown events and
 *   malformed payloads are refused without touching other sockets.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'socket.io';
import type { AuditClient } from '../audit/audit-trail';
import type { Config } from '../config';
import type { ConversationEvents } from '../conversation-events';
import { GatewayError, isGatewayError } from '../errors';
import { normaliseText } from '../ingest';
import type { Message } from '../messages';
import type { Logger } from '../ops/logger';
import type { Metrics } from '../ops/metrics';
import { createLimiter, type KeyedLimiter } from '../ops/rate-limits';
import type { PivotLedger } from '../pivot/ledger';
import { socketErrorOf } from '../pivot/refusals';
import type { SecureSessions } from './sessions';
import { keys } from '../store/keys';
import { isMessageId, type Store, type ThreadSlice } from '../store/store';
import {
  CLIENT_MESSAGE_ID_PATTERN,
  HISTORY_LIMIT,
  type BindingAck,
  type ConsentAck,
  MAX_SECURE_TEXT_LENGTH,
  type HistoryPayload,
  type MessageAck,
  type MessageErrorCode,
  type SecureClientToServerEvents,
  type SecureServerToClientEvents,
  type SecureSocketData,
  type StepUpPayload,
} from './events';
import type { SecureNamespace } from './io';
import { EventWindow } from './event-window';

type SecureSocket = Socket<SecureClientToServerEvents, SecureServerToClientEvents, Record<string, never>, SecureSocketData>;

/** The session a socket speaks for (what the identity hooks are given). */
export interface SecureSessionRef {
  sessionId: string;
  conversationId: string;
  tier: number;
}

/** The events the identity module may send to one socket. */
export type IdentityEventName = 'stepup_required' | 'consent_required' | 'binding_requested' | 'assertion';
export type SecureEmit = <E extends IdentityEventName>(event: E, payload: Parameters<SecureServerToClientEvents[E]>[0]) => void;

/** Identity step-up (src/identity): what a socket is told after `history`, and the customer's `consent` and `binding`. */
export interface SecureIdentityHooks {
  afterConnect(session: SecureSessionRef, emit: SecureEmit): Promise<void>;
  consent(session: SecureSessionRef, payload: unknown, emit: SecureEmit): Promise<ConsentAck>;
  bind(session: SecureSessionRef, payload: unknown): Promise<BindingAck>;
}

export interface SecureNamespaceDeps {
  config: Config;
  logger: Logger;
  store: Store;
  events: ConversationEvents;
  ledger: Pick<PivotLedger, 'redeem'>;
  sessions: Pick<SecureSessions, 'resume' | 'touch' | 'get'>;
  metrics?: Metrics;
  /** Card numbers → last four, also in the secure channel (the gateway is not a card vault). */
  maskPans?: (text: string) => string;
  clientOf: (req: IncomingMessage) => AuditClient;
  /** When the session's tier is below the intent's: the IdP URL to send the person to (identity module). */
  stepUp?: (session: { sessionId: string; conversationId: string; tier: number }) => Promise<StepUpPayload | undefined>;
  /** Consent (tier 3), Messenger binding and the identity assertion (identity module). */
  identity?: SecureIdentityHooks;
  /** Default 30 s: well under the shortest idle lifetime (SESSION_IDLE_SECONDS >= 60), so a connected page never idles out. */
  sweepIntervalMs?: number;
  socketEventLimit?: { events: number; windowMs: number };
  sessionMessageLimit?: { points: number; durationSeconds: number };
  /**
   * Whether another node has a socket in `room`, answered by Redis without
   * asking the nodes (io.ts). Absent: `fetchSockets()`, which makes every
   * node answer.
   */
  remotePresence?: (room: string) => Promise<boolean>;
}

export interface SecureNamespaceHandle {
  /** Emits a stored message to the conversation's customers on THIS node (not to `exceptSocketId`); fan-out.ts reaches the other nodes. */
  relay(message: Message, exceptSocketId?: string): void;
  hasLiveCustomer(conversationId: string): Promise<boolean>;
  /** True when a customer socket of the conversation is connected on THIS node. */
  hasLocalCustomer(conversationId: string): boolean;
  /** Renews the sessions of this node's connected sockets; disconnects those whose session expired or was revoked. */
  sweep(): Promise<void>;
  close(): void;
}

export const conversationRoom = (conversationId: string) => `conv:${conversationId}`;
export const sessionRoom = (sessionId: string) => `sess:${sessionId}`;

const SECURE_EVENTS = new Set(['message', 'consent', 'binding']);
const PRESENCE_TIMEOUT_MS = 1500;

/** Reads what a (re)connecting client lacks: after `lastMessageId` when it is in the thread, else the latest. */
export async function historyFor(store: Store, conversationId: string, lastMessageId: string | undefined): Promise<HistoryPayload> {
  if (lastMessageId !== undefined && (await store.getMessage(conversationId, lastMessageId))) {
    const after: ThreadSlice = await store.readMessagesAfter(conversationId, lastMessageId, HISTORY_LIMIT + 1);
    // More than 500 missed: send the latest 500 (hasMore: older exist) rather than a first page with a hole after it.
    if (after.messages.length <= HISTORY_LIMIT && !after.hasMore) return { messages: after.messages, hasMore: false };
  }
  return store.readLatestMessages(conversationId, HISTORY_LIMIT);
}

function validPayload(payload: unknown): payload is { text: string; clientMessageId: string } {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false;
  const { text, clientMessageId } = payload as Record<string, unknown>;
  return typeof text === 'string' && typeof clientMessageId === 'string' && CLIENT_MESSAGE_ID_PATTERN.test(clientMessageId);
}

export function registerSecureNamespace(nsp: SecureNamespace, deps: SecureNamespaceDeps): SecureNamespaceHandle {
  const log = deps.logger.child({ component: 'secure-chat' });
  const maskPans = deps.maskPans ?? ((text: string) => text);
  const eventLimit = deps.socketEventLimit ?? { events: 20, windowMs: 10_000 };
  const sessionLimiter: KeyedLimiter = createLimiter(deps.store, 'secure-msg', deps.sessionMessageLimit ?? { points: 30, durationSeconds: 60 });
  /** Session tokens stay in this process: `socket.data` travels between nodes. */
  const tokens = new WeakMap<SecureSocket, string>();
  const sweepIntervalMs = deps.sweepIntervalMs ?? 30_000;

  nsp.use(async (socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const client = deps.clientOf(socket.request);
    try {
      if (typeof auth.sessionToken === 'string') {
        const session = await deps.sessions.resume(auth.sessionToken, client);
        const lastMessageId = typeof auth.lastMessageId === 'string' && isMessageId(auth.lastMessageId) ? auth.lastMessageId : undefined;
        socket.data = { sessionId: session.id, conversationId: session.conversationId, tier: session.tier, expiresAt: session.expiresAt, ...(lastMessageId ? { lastMessageId } : {}) };
        tokens.set(socket, auth.sessionToken);
      } else if (typeof auth.pivotToken === 'string') {
        // The token alone decides the conversation: a handshake that also names one must name the token's own
        // (else token_invalid, and the token is not spent).
        const redeemed = await deps.ledger.redeem(auth.pivotToken, client, auth.conversationId === undefined ? {} : { expectedConversationId: String(auth.conversationId) });
        const session = redeemed.session.session;
        socket.data = { sessionId: session.id, conversationId: session.conversationId, tier: session.tier, expiresAt: session.expiresAt };
        tokens.set(socket, redeemed.session.sessionToken);
        deps.metrics?.redemptions.inc({ result: 'redeemed' });
      } else {
        throw new GatewayError('GW_ERR_TOKEN_INVALID', 'no credentials');
      }
      next();
    } catch (err) {
      const refusal = socketErrorOf(err);
      if (typeof auth.pivotToken === 'string' && typeof auth.sessionToken !== 'string') deps.metrics?.redemptions.inc({ result: refusal });
      if (refusal === 'server_error') log.error({ err: isGatewayError(err) ? err.code : String(err) }, 'secure handshake failed');
      else log.info({ refusal }, 'secure handshake refused');
      next(new Error(refusal));
    }
  });

  nsp.on('connection', (socket: SecureSocket) => {
    const { sessionId, conversationId } = socket.data;
    const sessionToken = tokens.get(socket) ?? '';
    tokens.delete(socket);
    deps.metrics?.secureSockets.inc();
    socket.on('disconnect', () => deps.metrics?.secureSockets.dec());
    socket.on('error', () => undefined); // middleware refusals below are answered through acks; nothing to crash on

    const window = new EventWindow(eventLimit.events, eventLimit.windowMs);
    socket.use((packet, next) => {
      const verdict = window.hit();
      const [event] = packet;
      const ack = packet[packet.length - 1];
      if (verdict === 'flood') {
        log.warn({ sessionId }, 'secure socket flooding: disconnected');
        socket.disconnect(true);
        return;
      }
      if (typeof event !== 'string' || !SECURE_EVENTS.has(event)) {
        if (typeof ack === 'function') (ack as (r: MessageAck) => void)({ ok: false, error: 'invalid_message' });
        next(new Error('unknown_event'));
        return;
      }
      if (verdict === 'limited') {
        if (typeof ack === 'function') (ack as (r: MessageAck) => void)({ ok: false, error: 'rate_limited' });
        next(new Error('rate_limited'));
        return;
      }
      if (typeof ack === 'function' && packet.length !== 3) {
        // Every event of the contract is (payload, ack): a missing payload or an extra argument is refused through the ack, never left hanging.
        (ack as (r: { ok: false; error: string }) => void)({ ok: false, error: event === 'message' ? 'invalid_message' : 'invalid_request' });
        next(new Error('malformed_event'));
        return;
      }
      next();
    });

    // One socket's messages are handled one at a time, so they are stored in the order they were sent.
    let queue: Promise<void> = Promise.resolve();
    socket.on('message', (payload, ack) => {
      if (typeof ack !== 'function') return; // the contract's message always carries an ack
      queue = queue.then(() => handleMessage(socket, payload, ack));
    });

    const emit: SecureEmit = (event, payload) => {
      (socket.emit as (event: IdentityEventName, payload: unknown) => boolean)(event, payload);
    };
    socket.on('consent', (payload, ack) => {
      if (typeof ack !== 'function') return;
      queue = queue.then(async () => {
        try {
          const result = deps.identity ? await deps.identity.consent({ sessionId, conversationId, tier: socket.data.tier }, payload, emit) : ({ ok: false, error: 'not_expected' } as const);
          if (result.ok) socket.data.tier = result.tier;
          ack(result);
        } catch (err) {
          log.error({ conversationId, err: isGatewayError(err) ? err.code : String(err) }, 'consent not recorded');
          socket.conn.close();
        }
      });
    });
    socket.on('binding', (payload, ack) => {
      if (typeof ack !== 'function') return;
      queue = queue.then(async () => {
        try {
          ack(deps.identity ? await deps.identity.bind({ sessionId, conversationId, tier: socket.data.tier }, payload) : { ok: false, error: 'unavailable' });
        } catch (err) {
          log.error({ conversationId, err: isGatewayError(err) ? err.code : String(err) }, 'binding not recorded');
          socket.conn.close();
        }
      });
    });

    void socket.join([conversationRoom(conversationId), sessionRoom(sessionId)]);
    socket.emit('session', { sessionToken, conversationId, expiresAt: socket.data.expiresAt, tier: socket.data.tier });
    void (async () => {
      try {
        socket.emit('history', await historyFor(deps.store, conversationId, socket.data.lastMessageId));
        const stepUp = await deps.stepUp?.({ sessionId, conversationId, tier: socket.data.tier });
        if (stepUp) socket.emit('stepup_required', stepUp);
        await deps.identity?.afterConnect({ sessionId, conversationId, tier: socket.data.tier }, emit);
      } catch (err) {
        log.error({ conversationId, err: isGatewayError(err) ? err.code : String(err) }, 'history could not be read: closing so the client retries');
        socket.conn.close();
      }
    })();
  });

  async function handleMessage(socket: SecureSocket, payload: unknown, ack: (result: MessageAck) => void): Promise<void> {
    const { sessionId, conversationId } = socket.data;
    const refuse = (error: MessageErrorCode) => ack({ ok: false, error });
    if (!validPayload(payload)) return refuse('invalid_message');
    const text = normaliseText(payload.text, MAX_SECURE_TEXT_LENGTH + 1).trim();
    if (text.length === 0 || text.length > MAX_SECURE_TEXT_LENGTH) return refuse('invalid_message');
    try {
      // Independent reads: one pipelined round trip.
      const [limit, conversation, lock] = await Promise.all([sessionLimiter.consume(sessionId), deps.store.getConversation(conversationId), deps.store.get(keys.secureLock(conversationId))]);
      if (!limit.allowed) return refuse('rate_limited');
      if (!conversation || conversation.status === 'closed') {
        refuse('session_invalid');
        socket.disconnect(true);
        return;
      }
      if (conversation.secure === 'locked' || lock !== undefined) {
        refuse('conversation_locked');
        socket.disconnect(true);
        return;
      }
      await deps.sessions.touch(sessionId);
      const masked = maskPans(text);
      const { message, duplicate } = await deps.store.appendMessage(
        conversationId,
        { author: 'customer', channel: 'secure', text: masked, ...(masked !== text ? { redacted: true } : {}) },
        // Per conversation, not per session: a page that switches to a fresh link's session resends what was in
        // flight under the same clientMessageId, and it must not be stored twice.
        { dedupeKey: `secure:${payload.clientMessageId}` },
      );
      if (!duplicate) deps.events.publish({ conversation: { ...conversation, lastMessageAt: message.createdAt }, event: 'message', message, originSocketId: socket.id });
      log.debug({ conversationId, messageId: message.id, duplicate, length: message.text.length }, 'secure message stored');
      ack({ ok: true, message });
    } catch (err) {
      if (isGatewayError(err, 'GW_ERR_SESSION_INVALID')) {
        refuse('session_invalid');
        socket.disconnect(true);
        return;
      }
      // A store outage: the client keeps the message pending and resends it with the same clientMessageId.
      log.error({ conversationId, err: isGatewayError(err) ? err.code : String(err) }, 'secure message not stored');
      socket.conn.close();
    }
  }

  /**
   * Below tier 4 a connected page is a session in use, not an idle one: the
   * sweep renews the idle lifetime of every such session with a socket here once
   * half of it (or two sweeps' worth) is left, so a customer who waits with the
   * chat open (an advisor may take a while) still gets the reply on the secure
   * channel, not on the public one. A session that may move money (tier 4) is
   * not renewed by an open page: its 30 minutes are of the person's inactivity
   * (NIST SP 800-63B AAL2), renewed only by their messages and reconnects.
   * Most sweeps only read the session; one that expired or was revoked is disconnected.
   */
  async function sweep(): Promise<void> {
    const sockets = [...nsp.sockets.values()];
    const now = Date.now();
    for (let i = 0; i < sockets.length; i += 100) {
      await Promise.all(
        sockets.slice(i, i + 100).map(async (socket) => {
          try {
            const session = await deps.sessions.get(socket.data.sessionId);
            if (!session) {
              socket.disconnect(true);
              return;
            }
            const left = Date.parse(session.expiresAt) - now;
            const span = Date.parse(session.expiresAt) - Date.parse(session.lastSeenAt);
            if (session.tier < 4 && !(left > span / 2 && left > 2 * sweepIntervalMs)) await deps.sessions.touch(socket.data.sessionId);
          } catch (err) {
            if (isGatewayError(err, 'GW_ERR_SESSION_INVALID')) socket.disconnect(true);
            // anything else: the store is unavailable; try again next sweep
          }
        }),
      );
    }
  }

  const sweepTimer = setInterval(() => void sweep(), sweepIntervalMs);
  sweepTimer.unref();

  const unsubscribeRevocations = deps.events.subscribeRevocations((revocation) => {
    // A single session ended (logout, replaced): its room. A lock or lost device: the whole conversation,
    // including sockets whose session id another node knows and this one does not.
    const perSession = (revocation.reason === 'revoked' || revocation.reason === 'replaced') && revocation.sessionIds.length > 0;
    const rooms = perSession ? revocation.sessionIds.map(sessionRoom) : [conversationRoom(revocation.conversationId)];
    nsp.in(rooms).disconnectSockets(true);
    log.info({ conversationId: revocation.conversationId, reason: revocation.reason, sessions: revocation.sessionIds.length }, 'secure sessions revoked: sockets disconnected');
  });

  /** A socket of the room is connected on THIS node. */
  const hasLocalRoom = (room: string) => Boolean(nsp.adapter.rooms.get(room)?.size);
  return {
    relay(message, exceptSocketId) {
      const room = conversationRoom(message.conversationId);
      // Most nodes have no socket of a given conversation: encode nothing for them.
      if (!nsp.adapter.rooms.has(room)) return;
      const target = nsp.local.to(room);
      (exceptSocketId ? target.except(exceptSocketId) : target).emit('message', message);
    },
    hasLocalCustomer: (conversationId) => hasLocalRoom(conversationRoom(conversationId)),
    async hasLiveCustomer(conversationId) {
      const room = conversationRoom(conversationId);
      if (hasLocalRoom(room)) return true;
      let timer: NodeJS.Timeout | undefined;
      try {
        const remote = await Promise.race([
          deps.remotePresence ? deps.remotePresence(room) : nsp.in(room).fetchSockets().then((sockets) => sockets.length > 0),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('presence timeout')), PRESENCE_TIMEOUT_MS);
          }),
        ]);
        return remote;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    sweep,
    close() {
      clearInterval(sweepTimer);
      unsubscribeRevocations();
    },
  };
}
