/**
 * A secure-chat "gateway node" for tests, the two-process test and the bench:
 * a real http.Server on port 0 with the Express app (the /secure page) and
 * Socket.IO attached by `attachSocketServer`, over the real store (Redis from
 * the test run, or the memory store), real jose keys, ledger, sessions, audit
 * trail and rate limits, wired the way the gateway wires them. Plus
 * socket.io-client helpers that record every event from the first packet.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { Fetch, NodeWebSocket } from 'engine.io-client';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { AdvisorAuth } from '../../src/advisor/auth';
import { createHttpApp } from '../../src/app';
import { AuditTrail } from '../../src/audit/audit-trail';
import { maskPans, containsSensitiveData } from '../../src/bot/redact';
import { AdvisorReplies } from '../../src/chat/delivery';
import type {
  AdvisorClientToServerEvents,
  AdvisorServerToClientEvents,
  ConversationEventPayload,
  HistoryPayload,
  Message,
  SecureAuth,
  SecureClientToServerEvents,
  SecureServerToClientEvents,
  SessionPayload,
} from '../../src/chat/events';
import { attachSocketServer, type SocketServer, type SocketServerOptions } from '../../src/chat/io';
import { securePageRouter } from '../../src/chat/secure-page.route';
import { SecureSessions } from '../../src/chat/sessions';
import { loadConfig, type Config, type DataKey } from '../../src/config';
import { ConversationEvents } from '../../src/conversation-events';
import type { Conversation, MessageDraft } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import { Metrics } from '../../src/ops/metrics';
import { RateLimits, type FailureLimits } from '../../src/ops/rate-limits';
import { generateJwkSet, SigningKeys } from '../../src/pivot/keys';
import { PivotLedger } from '../../src/pivot/ledger';
import { PivotTokens } from '../../src/pivot/token';
import { MemoryStore } from '../../src/store/memory.store';
import { RedisStore } from '../../src/store/redis.store';
import type { Store } from '../../src/store/store';
import { TextCipher } from '../../src/store/text-cipher';
import { Router } from 'express';

/** Generous: parallel test files share one Redis and one client address; the limits have their own tests. */
export const ROOMY_LIMITS: FailureLimits = { perClient: { points: 100_000, durationSeconds: 600 }, perConversation: { points: 1000, durationSeconds: 600 } };

export interface ChatNodeOptions {
  /** Redis for the store and the adapter; undefined = memory store, no adapter. */
  redisUrl?: string;
  /** Default: http://127.0.0.1:<port>. Several nodes behind one "load balancer" share one. */
  publicUrl?: string;
  /** Shared by nodes of one cluster. */
  jwks?: { keys: JWK[] };
  dataKeys?: DataKey[];
  limits?: FailureLimits;
  trustProxy?: string;
  allowedEmbedOrigins?: string;
  socketOptions?: SocketServerOptions;
  webviewDir?: string;
  /** Record nudges / public sends instead of sending them. */
  withConnector?: boolean;
}

export interface ChatNode {
  url: string;
  publicUrl: string;
  /** What browsers on PUBLIC_URL send as `Origin`. */
  origin: string;
  config: Readonly<Config>;
  store: Store;
  events: ConversationEvents;
  tokens: PivotTokens;
  ledger: PivotLedger;
  sessions: SecureSessions;
  audit: AuditTrail;
  advisorAuth: AdvisorAuth;
  sockets: SocketServer;
  replies: AdvisorReplies;
  metrics: Metrics;
  server: HttpServer;
  nudges: Conversation[];
  publicSends: Array<{ conversationId: string; messageId: string }>;
  close(): Promise<void>;
}

export async function startChatNode(options: ChatNodeOptions = {}): Promise<ChatNode> {
  // The Express app must be the server's request listener BEFORE Socket.IO attaches (Socket.IO wraps the
  // listeners present then and keeps /socket.io/ to itself); it is built last, so forward to it.
  let app: ((req: IncomingMessage, res: ServerResponse) => void) | undefined = undefined;
  const server = createServer((req, res) => app?.(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const publicUrl = options.publicUrl ?? url;
  const config = loadConfig({
    NODE_ENV: 'test',
    PUBLIC_URL: publicUrl,
    ...(options.trustProxy ? { TRUST_PROXY: options.trustProxy } : {}),
    ...(options.allowedEmbedOrigins ? { ALLOWED_EMBED_ORIGINS: options.allowedEmbedOrigins } : {}),
  });
  const logger = silentLogger();
  const cipher = new TextCipher(options.dataKeys ?? [{ id: 'test', key: randomBytes(32) }]);
  const store: Store = options.redisUrl ? await RedisStore.connect(options.redisUrl, { cipher, threadRetentionDays: 90 }) : new MemoryStore({ cipher, threadRetentionDays: 90 });
  const keys = await SigningKeys.fromJwkSet(options.jwks ?? (await generateJwkSet('EdDSA')));
  const tokens = new PivotTokens(keys, { issuer: publicUrl, audience: `${publicUrl}/secure`, maxTtlSeconds: 300 });
  const audit = new AuditTrail(store, { retentionSeconds: 90 * 86_400 });
  const events = new ConversationEvents();
  const rateLimits = new RateLimits(store, options.limits ?? ROOMY_LIMITS);
  const sessions = new SecureSessions(store, events, audit, { idleSeconds: 900, rateLimits });
  const ledger = new PivotLedger(store, tokens, audit, events, sessions, rateLimits, { publicUrl, maxTtlSeconds: 300, logger });
  const advisorAuth = await AdvisorAuth.create({ devTokens: true, publicUrl, logger });
  const metrics = new Metrics({ defaultMetrics: false });
  const sockets = attachSocketServer(server, {
    config,
    logger,
    store,
    events,
    ledger,
    sessions,
    advisorAuth,
    metrics,
    redisUrl: options.redisUrl,
    maskPans,
    options: { adapterKey: 'pg:sio-test', ...options.socketOptions },
  });
  const nudges: Conversation[] = [];
  const publicSends: Array<{ conversationId: string; messageId: string }> = [];
  const replies = new AdvisorReplies({
    store,
    events,
    sockets,
    logger,
    maskPans,
    containsSensitiveData,
    hasConnector: () => options.withConnector ?? true,
    sendPublic: async (conversation, messageId) => {
      publicSends.push({ conversationId: conversation.id, messageId });
    },
    nudge: async (conversation) => {
      nudges.push(conversation);
    },
  });
  app = createHttpApp({
    config,
    logger,
    ops: Router(),
    webhooks: [],
    routes: [{ path: '/secure', router: securePageRouter(config, options.webviewDir) }],
  });
  return {
    url,
    publicUrl,
    origin: new URL(publicUrl).origin,
    config,
    store,
    events,
    tokens,
    ledger,
    sessions,
    audit,
    advisorAuth,
    sockets,
    replies,
    metrics,
    server,
    nudges,
    publicSends,
    async close() {
      await sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}

/** A fresh SMS conversation (random phone: tests sharing one Redis never collide), seeded with `drafts`. */
export async function seedConversation(store: Store, drafts: MessageDraft[] = []): Promise<{ conversation: Conversation; messages: Message[] }> {
  const phone = `+1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}${randomInt(0, 1000)}`;
  const { conversation } = await store.openConversation('sms', phone);
  const messages: Message[] = [];
  for (const draft of drafts) messages.push((await store.appendMessage(conversation.id, draft)).message);
  return { conversation, messages };
}

export const SMS_THREAD: MessageDraft[] = [
  { author: 'customer', channel: 'sms', text: 'Hi, I want to move money to my savings' },
  { author: 'bot', channel: 'sms', text: 'I can help with that. Please continue in our secure chat.' },
  { author: 'customer', channel: 'sms', text: 'ok' },
];

// --- clients ---------------------------------------------------------------

export type CustomerSocket = ClientSocket<SecureServerToClientEvents, SecureClientToServerEvents>;
export type AdvisorSocket = ClientSocket<AdvisorServerToClientEvents, AdvisorClientToServerEvents>;

export interface RecordedCustomer {
  socket: CustomerSocket;
  sessions: SessionPayload[];
  histories: HistoryPayload[];
  live: Message[];
  disconnects: string[];
}

export interface ClientOptions {
  origin?: string | null;
  transports?: Array<'websocket' | 'polling'>;
  headers?: Record<string, string>;
}

function clientOptions(node: Pick<ChatNode, 'origin'>, opts: ClientOptions) {
  const origin = opts.origin === undefined ? node.origin : opts.origin;
  // In Node, long-polling over fetch: the XHR shim drops `Origin` (a forbidden header) and is not a faithful browser.
  const transports = (opts.transports ?? ['websocket']).map((t) => (t === 'polling' ? Fetch : NodeWebSocket));
  return {
    transports,
    reconnection: false,
    forceNew: true,
    autoConnect: false,
    extraHeaders: { ...(origin === null ? {} : { origin }), ...opts.headers },
  };
}

/** A customer socket that records events from the first packet; not yet connected. */
export function customer(node: Pick<ChatNode, 'url' | 'origin'>, auth: SecureAuth | Record<string, unknown>, opts: ClientOptions = {}): RecordedCustomer {
  const socket: CustomerSocket = connectClient(`${node.url}/secure`, { ...clientOptions(node, opts), auth });
  const recorded: RecordedCustomer = { socket, sessions: [], histories: [], live: [], disconnects: [] };
  socket.on('session', (p) => recorded.sessions.push(p));
  socket.on('history', (p) => recorded.histories.push(p));
  socket.on('message', (m) => recorded.live.push(m));
  socket.on('disconnect', (reason) => recorded.disconnects.push(reason));
  return recorded;
}

/** Connects and resolves at `history` (or rejects with the connect_error message). */
export async function connectCustomer(node: Pick<ChatNode, 'url' | 'origin'>, auth: SecureAuth | Record<string, unknown>, opts: ClientOptions = {}): Promise<RecordedCustomer> {
  const recorded = customer(node, auth, opts);
  await new Promise<void>((resolve, reject) => {
    recorded.socket.once('history', () => resolve());
    recorded.socket.once('connect_error', (err) => reject(err));
    recorded.socket.connect();
  });
  return recorded;
}

/** The connect_error message a handshake gets (fails the test if it connects). */
export async function refusalOf(node: Pick<ChatNode, 'url' | 'origin'>, auth: SecureAuth | Record<string, unknown>, opts: ClientOptions = {}): Promise<string> {
  const { socket } = customer(node, auth, opts);
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.once('connect', () => reject(new Error('connected, expected a refusal')));
      socket.once('connect_error', (err) => resolve(err.message));
      socket.connect();
    });
  } finally {
    socket.disconnect();
  }
}

export interface RecordedAdvisor {
  socket: AdvisorSocket;
  changes: ConversationEventPayload[];
  messages: Message[];
}

export async function connectAdvisor(node: Pick<ChatNode, 'url' | 'origin'>, token: string, opts: ClientOptions = {}): Promise<RecordedAdvisor> {
  const socket: AdvisorSocket = connectClient(`${node.url}/advisor`, { ...clientOptions(node, opts), auth: { token } });
  const recorded: RecordedAdvisor = { socket, changes: [], messages: [] };
  socket.on('conversation', (c) => recorded.changes.push(c));
  socket.on('message', (m) => recorded.messages.push(m));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
    socket.connect();
  });
  return recorded;
}

/** Resolves when `predicate` holds (checked on every tick); rejects after `ms` with `what`. */
export async function until(predicate: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends a customer message and returns the ack. */
export function send(socket: CustomerSocket, text: unknown, clientMessageId: unknown = `c-${randomBytes(8).toString('hex')}`): Promise<{ ok: boolean; message?: Message; error?: string }> {
  return socket.timeout(5000).emitWithAck('message', { text, clientMessageId } as { text: string; clientMessageId: string });
}
