/**
 * A whole gateway (startGateway, memory store, port 0 semantics via a free
 * port so PUBLIC_URL names the real one) next to a real OpenID provider
 * (test/support/oidc-provider.ts), plus a recording `/secure` client and
 * the moves of a step-up: sign in at the provider, come back to
 * `/secure/return` with (or without) the page's return-key cookie.
 */
import { randomInt } from 'node:crypto';
import { io as connectClient, type Socket } from 'socket.io-client';
import type {
  AssertionPayload,
  BindingRequestPayload,
  ConsentRequestPayload,
  SecureClientToServerEvents,
  SecureServerToClientEvents,
  SessionPayload,
  StepUpPayload,
} from '../../src/chat/events';
import { loadConfig } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import type { Conversation, PublicChannel } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import type { PivotIntent } from '../../src/pivot/policy';
import { freePort } from '../support/browser-launch';
import { signIn, startOidcProvider, type TestAccount, type TestIdp } from '../support/oidc-provider';

export interface StepUpWorld {
  gateway: Gateway;
  idp?: TestIdp;
  base: string;
  advisorToken: string;
  close(): Promise<void>;
}

export async function startWorld(options: { idp?: boolean; env?: Record<string, string> } = {}): Promise<StepUpWorld> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const idp = options.idp === false ? undefined : await startOidcProvider({ redirectUri: `${base}/secure/return` });
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: base,
    ...(idp ? { CUSTOMER_IDP_ISSUER: idp.issuer, CUSTOMER_IDP_CLIENT_ID: idp.client.clientId, CUSTOMER_IDP_CLIENT_SECRET: idp.client.clientSecret } : {}),
    ...options.env,
  });
  const gateway = await startGateway(config, silentLogger(), { port, host: '127.0.0.1', defaultMetrics: false });
  const advisorToken = await gateway.services.advisorAuth.mintDevToken('advisor-ida', 'Ida Advisor', 3600);
  return {
    gateway,
    idp,
    base,
    advisorToken,
    async close() {
      await gateway.close();
      await idp?.close();
    },
  };
}

export function randomPhone(): string {
  return `+1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}${randomInt(0, 100)}`;
}

export async function newConversation(world: StepUpWorld, channel: PublicChannel = 'sms', externalUserId = randomPhone()): Promise<Conversation> {
  return (await world.gateway.services.store.openConversation(channel, externalUserId)).conversation;
}

/** Mints a pivot the way an advisor's POST does (without sending the invite) and returns its token. */
export async function pivotToken(world: StepUpWorld, conversation: Conversation, intent: Exclude<PivotIntent, 'none'>): Promise<string> {
  const pivot = await world.gateway.services.ledger.issue(conversation.id, intent, { kind: 'advisor', id: 'advisor-ida' });
  const token = new URL(pivot.url).hash.replace(/^#t=/, '');
  if (!token) throw new Error('pivot url without a token');
  return token;
}

type SecureClient = Socket<SecureServerToClientEvents, SecureClientToServerEvents>;

/** A `/secure` client that records every identity event from the first packet. */
export interface Customer {
  socket: SecureClient;
  session: SessionPayload;
  stepUps: StepUpPayload[];
  consents: ConsentRequestPayload[];
  assertions: AssertionPayload[];
  bindingRequests: BindingRequestPayload[];
  close(): void;
}

export async function connect(world: StepUpWorld, auth: { pivotToken: string } | { sessionToken: string }): Promise<Customer> {
  const socket: SecureClient = connectClient(`${world.base}/secure`, { transports: ['websocket'], reconnection: false, forceNew: true, autoConnect: false, auth, extraHeaders: { origin: world.base } });
  const recorded = { stepUps: [] as StepUpPayload[], consents: [] as ConsentRequestPayload[], assertions: [] as AssertionPayload[], bindingRequests: [] as BindingRequestPayload[] };
  socket.on('stepup_required', (p) => recorded.stepUps.push(p));
  socket.on('consent_required', (p) => recorded.consents.push(p));
  socket.on('assertion', (p) => recorded.assertions.push(p));
  socket.on('binding_requested', (p) => recorded.bindingRequests.push(p));
  const history = new Promise<void>((resolve) => socket.once('history', () => resolve()));
  const session = await new Promise<SessionPayload>((resolve, reject) => {
    socket.once('session', resolve);
    socket.once('connect_error', reject);
    socket.connect();
  });
  await history;
  return { socket, session, ...recorded, close: () => socket.disconnect() };
}

/** Resolves when `predicate` holds (checked every 10 ms); rejects after `ms` naming `what`. */
export async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The first `stepup_required` the customer gets (waits for it). */
export async function stepUpOf(customer: Customer): Promise<StepUpPayload> {
  await until(() => customer.stepUps.length > 0, 'stepup_required');
  return customer.stepUps[0]!;
}

/** Signs in at the provider and returns the redirect back to the gateway (not yet followed). */
export async function signInAt(world: StepUpWorld, stepUp: StepUpPayload, account: TestAccount): Promise<URL> {
  if (!stepUp.url) throw new Error(`stepup_required without a url (${stepUp.reason ?? 'no reason'})`);
  return signIn(stepUp.url, account, `${world.base}/secure/return`);
}

/** Delivers the provider's redirect to `/secure/return` the way the page's browser does (with its return-key cookie). */
export async function returnTo(returnUrl: URL, returnKey: string | undefined): Promise<Response> {
  return fetch(returnUrl, { redirect: 'manual', headers: returnKey ? { cookie: `pg_stepup=${encodeURIComponent(returnKey)}` } : {} });
}

/** A whole step-up: sign in, return, and reconnect with the session token; returns the resumed customer. */
export async function stepUp(world: StepUpWorld, customer: Customer, account: TestAccount): Promise<{ returned: Response; resumed: Customer }> {
  const payload = await stepUpOf(customer);
  const returnUrl = await signInAt(world, payload, account);
  customer.close();
  const returned = await returnTo(returnUrl, payload.returnKey);
  const resumed = await connect(world, { sessionToken: customer.session.sessionToken });
  return { returned, resumed };
}

export async function api<T>(world: StepUpWorld, path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${world.base}/api${path}`, { headers: { authorization: `Bearer ${world.advisorToken}` } });
  return { status: response.status, body: (await response.json()) as T };
}

export async function auditTypes(world: StepUpWorld, conversationId: string): Promise<Array<{ type: string; reason?: string; detail?: Record<string, unknown>; tier?: number; sessionId?: string; at: string }>> {
  return (await world.gateway.services.audit.list(conversationId, undefined, 500)).items;
}
