/**
 * ⑤⑥ Socket.IO on the gateway's http.Server: the handshake's origin rule, the
 * transport limits, the Redis adapter, and the two namespaces (`/secure` for
 * customers, `/advisor` for advisors).
 *
 * Why the sharded `@socket.io/redis-adapter` and not the streams adapter:
 * - the streams adapter keeps every broadcast (message text in clear) in a
 *   Redis Stream of 10,000 entries; that would undo the encryption at rest of
 *   threads (PRODUCT.md). Sharded pub/sub keeps nothing: packets only transit.
 * - each conversation change is ONE publish on the `/advisor` namespace
 *   channel, which every node receives and turns into emits to its own
 *   sockets (fan-out.ts): customers, watching advisors and every advisor alike.
 * - `dynamic` mode gives each room its own sharded channel, held by exactly
 *   the nodes with a socket in it: `hasLiveCustomer` asks Redis how many
 *   (SHARDNUMSUB) instead of asking every node (fetchSockets).
 * - a node killed with -9 drops its subscription at once (SHARDNUMSUB), so
 *   cross-node `fetchSockets()` does not wait for a dead node.
 * What pub/sub gives up (at-most-once: a packet published while a node's
 * subscriber reconnects is lost) is covered here: when the subscriber
 * reconnects, this node closes its sockets' transports, and every client
 * resumes with `lastMessageId`, reading the stored thread (the source of
 * truth) after it; revocations lost that way are caught by the session sweep.
 * Socket.IO's connection state recovery is not used, for the same reason: the
 * stored thread, not the adapter, is what a client catches up from.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import express from 'express';
import { Redis } from 'ioredis';
import { closeRedisClient } from '../store/redis.store';
import { Server, type Namespace } from 'socket.io';
import type { AdvisorAuth } from '../advisor/auth';
import type { AuditClient } from '../audit/audit-trail';
import type { Config } from '../config';
import type { ConversationEvents } from '../conversation-events';
import type { Logger } from '../ops/logger';
import type { Metrics } from '../ops/metrics';
import { keys } from '../store/keys';
import type { Store } from '../store/store';
import { registerAdvisorNamespace } from './advisor.namespace';
import type { AdvisorClientToServerEvents, AdvisorServerToClientEvents, AdvisorSocketData, SecureClientToServerEvents, SecureServerToClientEvents, SecureSocketData } from './events';
import { ORIGIN_REFUSED } from './events';
import { createChangeFanOut, type ClusterEvents } from './fan-out';
import { conversationRoom, registerSecureNamespace, type SecureNamespaceDeps } from './secure.namespace';

export type SecureNamespace = Namespace<SecureClientToServerEvents, SecureServerToClientEvents, Record<string, never>, SecureSocketData>;
/** Also the carrier of the changes nodes tell each other (fan-out.ts), hence its server-side events. */
export type AdvisorNamespace = Namespace<AdvisorClientToServerEvents, AdvisorServerToClientEvents, ClusterEvents, AdvisorSocketData>;

/** Largest Socket.IO packet accepted (a 4,096-character message escapes to at most ~25 KB of JSON). Larger closes that client only. */
export const MAX_PACKET_BYTES = 32 * 1024;

export interface SocketServerDeps {
  config: Config;
  logger: Logger;
  store: Store;
  events: ConversationEvents;
  ledger: SecureNamespaceDeps['ledger'];
  sessions: SecureNamespaceDeps['sessions'];
  advisorAuth: Pick<AdvisorAuth, 'verify' | 'clockToleranceSeconds'>;
  metrics?: Metrics;
  /** REDIS_URL: share rooms between nodes through Redis. Unset: one process. */
  redisUrl?: string;
  /** Masks card numbers in secure-channel text (src/bot/redact.ts `maskPans`). */
  maskPans?: (text: string) => string;
  /** Identity step-up (src/identity): `stepup_required`, consent, Messenger binding, assertions. */
  stepUp?: SecureNamespaceDeps['stepUp'];
  identity?: SecureNamespaceDeps['identity'];
  /** Tuning, mostly for tests and the bench. */
  options?: SocketServerOptions;
}

export interface SocketServerOptions {
  /** `sharded` (default, see above) or `streams` (kept for comparison in the bench). */
  adapter?: 'sharded' | 'streams';
  /** Prefix of the adapter's Redis channels/stream; tests give each server group its own. */
  adapterKey?: string;
  /** Streams adapter only: XREAD block time (tests: 100). */
  blockTimeInMs?: number;
  /** How often local sockets' sessions are re-checked (expired/revoked → disconnected). Default 30 s. */
  sweepIntervalMs?: number;
  /** Incoming events per socket per window before `rate_limited`; 5× that disconnects. Default 20 per 10 s. */
  socketEventLimit?: { events: number; windowMs: number };
  /** Customer messages per session per window, counted in the store (all nodes). Default 30 per 60 s. */
  sessionMessageLimit?: { points: number; durationSeconds: number };
}

export interface SocketServer {
  io: Server;
  /** True when a customer socket of the conversation is connected on any node (false when unsure). */
  hasLiveCustomer(conversationId: string): Promise<boolean>;
  /**
   * The same question, for a store step to answer in its own round trip
   * (Store.appendIfSecure's `presenceChannel`): `local` when a customer
   * socket is connected on this node; else the sharded channel of the
   * conversation's room, which exactly the nodes holding one of its sockets
   * subscribe to (its SHARDNUMSUB); undefined without the sharded adapter.
   */
  customerPresence(conversationId: string): CustomerPresence;
  /** Disconnects this node's sockets and leaves the adapter; the http.Server itself is the caller's to close. */
  close(): Promise<void>;
}

export type CustomerPresence = 'local' | { channel: string } | undefined;

type TrustFn = (addr: string, hop: number) => boolean;

/**
 * The client address the way Express computes `req.ip` with the same
 * TRUST_PROXY, so a socket and an HTTP request from one person agree.
 */
export function clientAddressOf(req: IncomingMessage, trust: TrustFn): string {
  const forwarded = String(req.headers['x-forwarded-for'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .reverse();
  const addrs = [req.socket.remoteAddress ?? 'unknown', ...forwarded];
  for (let i = 0; i < addrs.length - 1; i++) {
    if (!trust(addrs[i]!, i)) return addrs[i]!;
  }
  return addrs[addrs.length - 1]!;
}

export function trustFunctionOf(trustProxy: Config['trustProxy']): TrustFn {
  const app = express();
  app.set('trust proxy', trustProxy ?? false);
  return app.get('trust proxy fn') as TrustFn;
}

/**
 * The handshake's origin rule (Cross-Site WebSocket Hijacking must fail):
 * `Origin` must be PUBLIC_URL's origin. A same-origin polling GET carries no
 * `Origin` in browsers; it is accepted only when the browser itself says it
 * is same-origin (`Sec-Fetch-Site`, which page scripts cannot set).
 */
export function originAllowed(req: IncomingMessage, publicOrigin: string): boolean {
  const origin = req.headers.origin;
  if (typeof origin === 'string') return origin === publicOrigin;
  return req.headers['sec-fetch-site'] === 'same-origin';
}

export function clientOf(req: IncomingMessage, trust: TrustFn): AuditClient {
  const ua = req.headers['user-agent'];
  return { ip: clientAddressOf(req, trust), userAgent: typeof ua === 'string' ? ua.slice(0, 256) : '' };
}

/** The channel the sharded adapter (`dynamic` mode) subscribes a node to while it has sockets in `room`. */
export function shardedRoomChannel(channelPrefix: string, namespace: string, room: string): string {
  return `${channelPrefix}#${namespace}#${room}#`;
}

/**
 * Connections for the adapter: no command timeout (the subscriber blocks), retry forever.
 * No auto-pipelining: each message is one publish, alone in its tick, so it
 * batches nothing, while ioredis' auto-pipelining allocates a pipeline per
 * flush whose garbage outlives a young-generation GC; measured with one
 * publish per message, that made every scavenge promote megabytes and pause
 * 5-10 ms instead of < 1 ms (bench/secure-chat.bench.ts, `serverGcMaxMs`).
 */
function adapterClient(url: string, log: Logger): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 200, 2000) });
  client.on('error', (err: Error) => log.warn({ err: err.message }, 'adapter redis error'));
  return client;
}

/**
 * Attaches Socket.IO to `server` and registers `/secure` and `/advisor`.
 * @example
 *   const chat = attachSocketServer(httpServer, { config, logger, store, events, ledger, sessions, advisorAuth, metrics, redisUrl: config.redisUrl, maskPans });
 *   const delivery = createAdvisorDelivery({ ..., presence: chat });
 *   // shutdown: await chat.close(); then close the http server
 */
export function attachSocketServer(server: HttpServer, deps: SocketServerDeps): SocketServer {
  const log = deps.logger.child({ component: 'socket.io' });
  const opts = deps.options ?? {};
  const publicOrigin = new URL(deps.config.publicUrl).origin;
  const trust = trustFunctionOf(deps.config.trustProxy);

  const io = new Server({
    path: '/socket.io/',
    serveClient: false,
    maxHttpBufferSize: MAX_PACKET_BYTES,
    pingInterval: 20_000,
    pingTimeout: 20_000,
    connectTimeout: 10_000,
    // No `cors`: a page of another origin gets no CORS headers (and allowRequest refuses it anyway).
    allowRequest: (req, callback) => {
      if (originAllowed(req, publicOrigin)) callback(null, true);
      else {
        log.info({ origin: typeof req.headers.origin === 'string' ? req.headers.origin.slice(0, 200) : null }, 'handshake refused: origin');
        callback(ORIGIN_REFUSED, false);
      }
    },
  });

  // Socket.IO takes over the request listeners the server has when it attaches (and keeps /socket.io/ to
  // itself); a listener added later would answer Socket.IO's requests too. Attaching when the server starts
  // listening lets the composition root add the Express app before or after this call.
  if (server.listening) io.attach(server);
  else server.once('listening', () => io.attach(server));

  const redisClients: Redis[] = [];
  let reconnectHook: (() => void) | undefined;
  let remotePresence: ((room: string) => Promise<boolean>) | undefined;
  let presenceChannel: ((room: string) => string) | undefined;
  if (deps.redisUrl) {
    const key = opts.adapterKey ?? keys.socketAdapterPrefix;
    const pub = adapterClient(deps.redisUrl, log);
    if ((opts.adapter ?? 'sharded') === 'sharded') {
      const sub = adapterClient(deps.redisUrl, log);
      redisClients.push(pub, sub);
      io.adapter(createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: 'dynamic' }));
      // In `dynamic` mode a node holds a subscription to a room's own channel exactly while it has a socket
      // in the room (and loses it at once when it dies): SHARDNUMSUB of that channel says whether any node
      // has one, in one command, where fetchSockets() would make every node answer. It is asked only once
      // the room is empty here; for the moment this node's own unsubscribe is in flight it may still count
      // (then no nudge: the customer had just been connected).
      presenceChannel = (room) => shardedRoomChannel(key, '/secure', room);
      remotePresence = async (room) => {
        const reply = (await pub.call('PUBSUB', 'SHARDNUMSUB', shardedRoomChannel(key, '/secure', room))) as [string, number];
        return Number(reply[1]) > 0;
      };
      let readyOnce = false;
      sub.on('ready', () => {
        if (readyOnce) reconnectHook?.();
        readyOnce = true;
      });
    } else {
      redisClients.push(pub);
      io.adapter(createStreamsAdapter(pub, { streamName: key, channelPrefix: key, ...(opts.blockTimeInMs ? { blockTimeInMs: opts.blockTimeInMs } : {}) }));
    }
  }

  // One Server, two namespaces with different event maps: each is typed here, once.
  const secure = io.of('/secure') as unknown as SecureNamespace;
  const advisor = io.of('/advisor') as unknown as AdvisorNamespace;
  const secureHandle = registerSecureNamespace(secure, {
    config: deps.config,
    logger: deps.logger,
    store: deps.store,
    events: deps.events,
    ledger: deps.ledger,
    sessions: deps.sessions,
    metrics: deps.metrics,
    maskPans: deps.maskPans,
    stepUp: deps.stepUp,
    identity: deps.identity,
    clientOf: (req) => clientOf(req, trust),
    sweepIntervalMs: opts.sweepIntervalMs,
    socketEventLimit: opts.socketEventLimit,
    sessionMessageLimit: opts.sessionMessageLimit,
    remotePresence,
  });
  const advisorHandle = registerAdvisorNamespace(advisor, { logger: deps.logger, store: deps.store, advisorAuth: deps.advisorAuth, metrics: deps.metrics, socketEventLimit: opts.socketEventLimit });

  // The one fan-out of conversation changes: each node publishes its own
  // changes once (one adapter publish each, fan-out.ts); every node emits
  // them to its own sockets.
  const fanOut = createChangeFanOut(
    advisor,
    (change) => {
      const message = change.message;
      if (change.event === 'message' && message) {
        secureHandle.relay(message, change.originSocketId);
        advisorHandle.relay(message);
      }
      advisorHandle.announce(change);
    },
    Boolean(deps.redisUrl),
    log,
  );
  const unsubscribe = deps.events.subscribe((change) => fanOut.publish(change));

  reconnectHook = () => {
    // Packets published while this node's subscriber was away are lost: make the clients catch up from the thread.
    log.warn('adapter subscriber reconnected: closing local transports so clients resume from the thread');
    for (const socket of secure.sockets.values()) socket.conn.close();
    for (const socket of advisor.sockets.values()) socket.conn.close();
    void secureHandle.sweep();
  };

  return {
    io,
    hasLiveCustomer: (conversationId) => secureHandle.hasLiveCustomer(conversationId),
    customerPresence(conversationId) {
      if (secureHandle.hasLocalCustomer(conversationId)) return 'local';
      return presenceChannel ? { channel: presenceChannel(conversationRoom(conversationId)) } : undefined;
    },
    async close() {
      unsubscribe();
      fanOut.close();
      reconnectHook = undefined;
      secureHandle.close();
      advisorHandle.close();
      for (const nsp of [secure, advisor]) {
        for (const socket of nsp.sockets.values()) socket.disconnect(true);
      }
      await new Promise((resolve) => setImmediate(resolve)); // room deletions issue their SUNSUBSCRIBEs
      await Promise.allSettled([secure.adapter.close(), advisor.adapter.close(), io.of('/').adapter.close()]);
      io.engine?.close();
      // The adapter fires (s)subscribe commands without awaiting them: let every one be answered before quitting.
      await Promise.race([Promise.allSettled(redisClients.map((c) => c.ping())), new Promise((resolve) => setTimeout(resolve, 1000))]);
      await Promise.allSettled(redisClients.map((c) => closeRedisClient(c)));
    },
  };
}
