/**
 * The composition root: builds every component from the configuration, wires
 * them together on one http.Server, and knows how to stop them in order.
 * `main.ts` calls it for the real process; tests call it with port 0 to get a
 * real gateway.
 *
 * Follow one message: connector router (connectors/) → `ingest` → store →
 * `inbound` job → bot (GatewayBotAdapter + PivotBot) → ledger mints a pivot →
 * outbox sends the native invite → the customer's webview redeems it on the
 * `/secure` namespace → history + live chat.
 */
import { createServer, type Server } from 'node:http';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { createConnectors } from '../connectors/registry';
import type { Connector } from '../connectors/connector';
import { advisorApi, type Advisor } from './advisor/api';
import { AdvisorAuth, advisorAuthOptions } from './advisor/auth';
import { createHttpApp, type MountedRouter } from './app';
import { AuditTrail, type AuditClient } from './audit/audit-trail';
import { GatewayBotAdapter } from './bot/gateway-adapter';
import { IntentClassifier, INTENTS } from './bot/intents';
import { PivotBot } from './bot/pivot-bot';
import { replies as botReplies } from './bot/replies';
import { containsSensitiveData, maskPans, redact } from './bot/redact';
import { AdvisorReplies, NUDGE_TEXT } from './chat/delivery';
import { attachSocketServer, type SocketServer } from './chat/io';
import { securePageRouter } from './chat/secure-page.route';
import { SecureSessions } from './chat/sessions';
import type { Config } from './config';
import { ConversationEvents } from './conversation-events';
import { GatewayError } from './errors';
import { createIngest, type InboundJob, type Ingest } from './ingest';
import { identityRouter } from './identity/return.route';
import { IdentityStepUp } from './identity/stepup';
import { createJobQueue } from './jobs/create-job-queue';
import { InboxRelay } from './jobs/inbox-relay';
import type { JobQueue } from './jobs/job-queue';
import type { Conversation, PublicChannel } from './messages';
import { SessionOpenedNotices } from './notices/session-opened';
import { opsRouter } from './ops/health';
import type { Logger } from './ops/logger';
import { Metrics } from './ops/metrics';
import { RateLimits } from './ops/rate-limits';
import { DeliveryLedger } from './outbound/delivery-ledger';
import { Outbox } from './outbound/outbox';
import { consoleRouter } from './pages/console.route';
import { sandboxRouter } from './pages/sandbox.route';
import { jwksRouter } from './pivot/jwks.route';
import { SigningKeys } from './pivot/keys';
import { PivotLedger } from './pivot/ledger';
import { highestIntent, isPivotIntent } from './pivot/policy';
import { PivotTokens } from './pivot/token';
import { createStore } from './store/create-store';
import { keys as storeKeys } from './store/keys';
import type { Store } from './store/store';
import type { TextCipher } from './store/text-cipher';

export interface GatewayOptions {
  /** Overrides `config.port` (tests: 0 for a free port). */
  port?: number;
  /** Overrides `config.host`. */
  host?: string;
  /** Collect Node's default process metrics (off in tests that build several gateways). */
  defaultMetrics?: boolean;
  /** Do not process jobs on this node (tests of durability start a second worker). */
  workers?: boolean;
}

/** Everything a test or an operator tool may want to reach. */
export interface GatewayServices {
  config: Readonly<Config>;
  store: Store;
  cipher: TextCipher;
  events: ConversationEvents;
  jobs: JobQueue;
  keys: SigningKeys;
  tokens: PivotTokens;
  audit: AuditTrail;
  sessions: SecureSessions;
  ledger: PivotLedger;
  ingest: Ingest;
  outbox: Outbox;
  classifier: Promise<IntentClassifier>;
  advisorAuth: AdvisorAuth;
  sockets: SocketServer;
  replies: AdvisorReplies;
  connectors: ReadonlyMap<PublicChannel, Connector>;
  metrics: Metrics;
  identity: IdentityStepUp;
}

export interface Gateway {
  server: Server;
  /** The base URL the gateway listens on (http://host:port). */
  url: string;
  services: GatewayServices;
  /** Stops taking connections, drains, closes the store. Bounded by the caller's deadline. */
  close(): Promise<void>;
}

export async function startGateway(config: Readonly<Config>, logger: Logger, options: GatewayOptions = {}): Promise<Gateway> {
  const log = logger.child({ component: 'gateway' });
  const metrics = new Metrics({ defaultMetrics: options.defaultMetrics ?? true });
  const events = new ConversationEvents();
  // Settings checked as they are used come first, before any connection is opened: a ConfigError must not
  // leave a Redis socket holding the process open after main() has said "exit 2".
  const keys = await SigningKeys.load(config.pivotSigningKeys, { allowEphemeral: config.devFeatures, logger });
  const { store, cipher } = await createStore(config, logger);
  const retentionSeconds = config.threadRetentionDays * 86_400;

  const tokens = new PivotTokens(keys, { issuer: config.publicUrl, audience: `${config.publicUrl}/secure`, maxTtlSeconds: config.pivotTtlSeconds });
  const audit = new AuditTrail(store, { retentionSeconds });
  const rateLimits = new RateLimits(store);
  const sessions = new SecureSessions(store, events, audit, { idleSeconds: config.sessionIdleSeconds, rateLimits });
  const ledger = new PivotLedger(store, tokens, audit, events, sessions, rateLimits, { publicUrl: config.publicUrl, maxTtlSeconds: config.pivotTtlSeconds, logger });
  // Training takes seconds: it runs while the gateway already listens; bot jobs wait for it (they are durable).
  const classifier = IntentClassifier.shared();
  classifier.catch((err: unknown) => log.error({ err }, 'intent classifier failed to train: bot jobs will retry'));
  const jobs = await createJobQueue(config.redisUrl, logger);
  const deliveries = new DeliveryLedger(store, logger);
  const ingest = createIngest({ store, jobs, events, redact, logger, metrics });

  let connectors: ReturnType<typeof createConnectors>;
  try {
    connectors = createConnectors({ config, ingest, store, cipher, logger, outboxStatus: (platformMessageId, status, error) => deliveries.report(platformMessageId, status, error) });
  } catch (err) {
    // A connector's settings refused (e.g. the Bot Framework pair): close what is open, then report it.
    await Promise.allSettled([jobs.close(), store.close()]);
    throw err;
  }
  const outbox = new Outbox({ queue: jobs, store, cipher, connectors, deliveries, logger, metrics, events });

  // What the bot and advisors send on the public channel: stored first (the thread is the truth), then queued.
  async function sendPublic(conversation: Conversation, text: string, author: 'bot' | 'system' | 'advisor'): Promise<{ id: string }> {
    const { message } = await store.appendMessage(conversation.id, { author, channel: conversation.channel, text });
    events.publish({ conversation: { ...conversation, lastMessageAt: message.createdAt }, event: 'message', message });
    await outbox.sendText(conversation.id, message.id);
    return { id: message.id };
  }

  // An invite is a thread message with its one-line reason (never the link: it holds a token) plus a queued native button.
  async function deliverInvite(conversation: Conversation, url: string, reason: string, author: 'bot' | 'advisor'): Promise<{ id: string }> {
    const { message } = await store.appendMessage(conversation.id, { author, channel: conversation.channel, text: reason });
    events.publish({ conversation: { ...conversation, lastMessageAt: message.createdAt }, event: 'message', message });
    await outbox.sendInvite(conversation.id, message.id, url);
    return { id: message.id };
  }

  async function pivotAndInvite(conversation: Conversation, intent: string, issuedBy: { kind: 'advisor' | 'bot'; id?: string }, options: { reason?: string; client?: AuditClient } = {}) {
    if (!isPivotIntent(intent) || intent === 'none') throw new GatewayError('GW_ERR_VALIDATION', `intent: not a sensitive intent: ${JSON.stringify(intent)}`);
    const pivot = await ledger.issue(conversation.id, intent, issuedBy, options.client);
    metrics.pivotsIssued.inc({ intent, by: issuedBy.kind });
    await deliverInvite(conversation, pivot.url, options.reason ?? botReplies.why(intent, 'en'), issuedBy.kind);
    return pivot;
  }

  const advisorAuth = await AdvisorAuth.create(advisorAuthOptions(config, logger));
  // Step-up to the bank's OpenID provider per risk tier; without CUSTOMER_IDP_* it says why tiers >= 2 cannot complete.
  const identity = new IdentityStepUp({ config, store, sessions, audit, events, keys, logger });
  identity.warmUp();
  // Express must be the server's request listener before Socket.IO attaches:
  // engine.io takes over the listeners present then, and answers its own
  // `/socket.io/` requests before Express can.
  const expressApp = express().disable('x-powered-by');
  const server = createServer(expressApp);
  const sockets = attachSocketServer(server, { config, logger, store, events, ledger, sessions, advisorAuth, metrics, redisUrl: config.redisUrl, maskPans, stepUp: identity.stepUp, identity: identity.hooks() });

  const replies = new AdvisorReplies({
    store,
    events,
    sockets,
    maskPans,
    containsSensitiveData,
    logger,
    hasConnector: (channel) => connectors.has(channel),
    sendPublic: (conversation, messageId) => outbox.sendText(conversation.id, messageId),
    nudge: async (conversation) => {
      // The fresh link asks for what the conversation already needed (its live sessions, its newest link), never less:
      // a nudge must not turn a transfer's chat into a tier-1 session that skips its step-up.
      const needed = highestIntent([...(await sessions.live(conversation.id)).map((session) => session.intent), (await ledger.currentRecord(conversation.id))?.intent]);
      await pivotAndInvite(conversation, needed === undefined || needed === 'none' ? 'view_account' : needed, { kind: 'advisor' }, { reason: NUDGE_TEXT });
    },
  });

  // The bot runs as the durable `inbound` job: a crash after the webhook's acknowledgement loses nothing.
  const bot = new PivotBot({
    classify: async (text) => (await classifier).classify(text),
    validInviteTier: async (conversationId) => (await ledger.validInvite(conversationId))?.tier,
    currentInviteIntent: async (conversationId) => (await ledger.currentRecord(conversationId))?.intent,
    issuePivot: async (conversation, intent) => {
      const pivot = await ledger.issue(conversation.id, intent, { kind: 'bot' });
      metrics.pivotsIssued.inc({ intent, by: 'bot' });
      return pivot;
    },
    lostDevice: async (conversation) => {
      const ids = await store.conversationIdsOfUser(conversation.externalUserId);
      await Promise.all(ids.map((id) => sessions.revokeAll(id, 'lost_device')));
      // An unredeemed link may sit on the lost device too: revoke it, so the bot's invite below is a fresh one.
      await Promise.all(ids.map((id) => ledger.revokeOutstanding(id, 'revoked', { kind: 'customer' })));
      await audit.record(conversation.id, { type: 'lost_device', actor: { kind: 'customer' } });
      events.publish({ conversation, event: 'alert', reason: 'lost_device' });
    },
    lockByCustomer: async (conversation) => {
      await ledger.lock(conversation.id, { kind: 'customer' }, 'customer_replied_lock');
    },
  });
  const adapter = new GatewayBotAdapter({
    sendText: (conversation, text) => sendPublic(conversation, text, 'bot'),
    sendInvite: (conversation, invite) => deliverInvite(conversation, invite.url, invite.reason, 'bot'),
  });

  if (options.workers !== false) {
    jobs.process<InboundJob>('inbound', async ({ conversationId, messageId }) => {
      const done = storeKeys.botAnswered(conversationId, messageId);
      if (await store.get(done)) return; // a redelivered job: the bot already answered
      const conversation = await store.getConversation(conversationId);
      const message = conversation ? await store.getMessage(conversationId, messageId) : undefined;
      if (!conversation || !message || conversation.status === 'closed') return;
      await adapter.processMessage(conversation, message, bot);
      await store.set(done, '1', retentionSeconds);
    });
    outbox.register();
  }
  await jobs.start();
  // The relay hands stored inbound messages to the bot's queue (src/jobs/inbox-relay.ts): it runs where the workers run.
  const relay = store.durableInbox && config.redisUrl && options.workers !== false ? new InboxRelay(config.redisUrl, jobs, logger) : undefined;
  await relay?.start();
  if (relay) metrics.watchInbox(() => relay.backlog());

  const notices = new SessionOpenedNotices({ store, sessions, events, send: (conversation, text) => sendPublic(conversation, text, 'system').then(() => undefined), logger });
  const stopNotices = notices.start();

  const webhooks: MountedRouter[] = [];
  for (const connector of new Set(connectors.values())) {
    if (connector.webhookPath) webhooks.push({ path: connector.webhookPath, router: connector.router() });
  }

  const advisorOf = (advisor: Advisor) => ({ kind: 'advisor' as const, id: advisor.sub });
  const routes: MountedRouter[] = [
    { path: '/', router: jwksRouter(keys) },
    {
      path: '/api',
      router: advisorApi({
        store,
        cipher,
        intents: INTENTS,
        authenticate: (token) => advisorAuth.verify(token),
        reply: (conversation, text, advisor) => replies.reply(conversation, text, advisor),
        pivot: async (conversation, intent, advisor, client) => {
          const pivot = await pivotAndInvite(conversation, intent, advisorOf(advisor), { client });
          return { pivotId: pivot.pivotId, url: pivot.url, expiresAt: pivot.expiresAt };
        },
        lock: (conversation, advisor, client) => ledger.lock(conversation.id, advisorOf(advisor), 'advisor_locked', client),
        unlock: (conversation, advisor, client) => ledger.unlock(conversation.id, advisorOf(advisor), client),
        close: async (conversation, advisor, client) => {
          await ledger.revokeOutstanding(conversation.id, 'closed', advisorOf(advisor));
          await sessions.revokeAll(conversation.id, 'revoked');
          const closed = await store.updateConversation(conversation.id, { status: 'closed' });
          await audit.record(conversation.id, { type: 'closed', actor: advisorOf(advisor), client });
          events.publish({ conversation: closed, event: 'closed' });
          return closed;
        },
        audit: (conversationId, after, limit) => audit.list(conversationId, after, limit),
        describe: (conversation) => identity.describe(conversation),
        assertion: (conversation, advisor) => identity.assertionFor(conversation, advisorOf(advisor)),
      }),
    },
    { path: '/secure', router: identityRouter({ identity, config, log: logger }) },
    { path: '/secure', router: securePageRouter(config) },
    { path: '/console', router: consoleRouter(config) },
  ];
  if (config.devFeatures) routes.push({ path: '/sandbox', router: sandboxRouter(config) });

  let shuttingDown = false;
  expressApp.use(createHttpApp({ config, logger, ops: opsRouter({ store, metrics, isShuttingDown: () => shuttingDown }), webhooks, routes, metrics }));
  server.keepAliveTimeout = 5_000;

  const port = options.port ?? config.port;
  const host = options.host ?? config.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address === '0.0.0.0' ? '127.0.0.1' : address.address}:${address.port}`;
  log.info({ url, publicUrl: config.publicUrl, store: store.kind, connectors: [...connectors.keys()] }, 'gateway listening');

  if (config.env === 'development' && !config.advisorIdp) {
    // The one place a token is ever printed (PRODUCT.md): a short-lived dev advisor token.
    const devToken = await advisorAuth.mintDevToken('dev-advisor', 'Dev Advisor', 8 * 3600);
    process.stdout.write(`\nAdvisor console (dev only): ${config.publicUrl}/console/#token=${devToken}\nSandbox: ${config.publicUrl}/sandbox/\n\n`);
  }

  let closing: Promise<void> | undefined;
  return {
    server,
    url,
    services: { config, store, cipher, events, jobs, keys, tokens, audit, sessions, ledger, ingest, outbox, classifier, advisorAuth, sockets, replies, connectors, metrics, identity },
    close() {
      // Once: a second SIGTERM (or a second caller) waits for the same shutdown instead of closing closed clients.
      closing ??= (async () => {
        shuttingDown = true;
        stopNotices();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await sockets.close();
        await closed;
        await relay?.close();
        await jobs.close();
        await store.close();
      })();
      return closing;
    },
  };
}
