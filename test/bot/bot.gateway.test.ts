/**
 * The bot through the real gateway (`startGateway` on the test Redis, BullMQ
 * jobs, the real outbox): customer messages arrive through the sandbox
 * connector's API (the same ingest as every platform), and what the customer
 * receives is read back from the sandbox phone's inbox. Secure sessions are
 * real socket.io-client connections to `/secure`.
 *
 * Covers PRODUCT.md "Risk tiers" and "Customer notices" and issue 6's bot
 * rules: each tier's behaviour, credential disclosure, lost device, card
 * numbers and IBANs, the single-invite rule, LOCK, and a scan of Redis for
 * anything sensitive in clear.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Redis } from 'ioredis';
import type { SandboxItem } from '../../connectors/sandbox/sandbox.connector';
import { replies } from '../../src/bot/replies';
import { NUDGE_TEXT } from '../../src/chat/delivery';
import { sessionIdOf } from '../../src/chat/sessions';
import { loadConfig } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import type { Message } from '../../src/messages';
import { clockTime } from '../../src/notices/device';
import { silentLogger } from '../../src/ops/logger';
import type { PivotIntent } from '../../src/pivot/policy';
import { keys } from '../../src/store/keys';
import { connectAdvisor, connectCustomer, refusalOf, type RecordedCustomer } from '../support/chat-harness';

const PUBLIC_URL = 'https://bank.example';
const NODE = { url: '', origin: PUBLIC_URL };
const ANDROID_CHROME = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const DEADLINE_MS = 15_000;
/**
 * This file's own client address (behind a trusted loopback proxy): failed
 * handshakes count per client IP, and other test files share the run's Redis.
 */
const CLIENT = { headers: { 'x-forwarded-for': `10.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`, 'user-agent': ANDROID_CHROME } };

let gateway: Gateway;
const sockets: RecordedCustomer[] = [];

beforeAll(async () => {
  const config = loadConfig({ NODE_ENV: 'test', PUBLIC_URL, REDIS_URL: process.env.TEST_REDIS_URL!, TRUST_PROXY: 'loopback' });
  gateway = await startGateway(config, silentLogger(), { port: 0, host: '127.0.0.1', defaultMetrics: false });
  NODE.url = gateway.url;
}, 60_000);

afterEach(() => {
  for (const recorded of sockets.splice(0)) recorded.socket.disconnect();
});

afterAll(async () => {
  await gateway?.close();
});

// --- the customer's side -----------------------------------------------------

function newCustomer(): string {
  return `+1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}`;
}

async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const found = await probe();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function conversationIdOf(from: string): Promise<string> {
  return eventually(() => gateway.services.store.get(keys.userConversation('sandbox', from)), `the conversation of ${from}`);
}

async function threadOf(from: string): Promise<Message[]> {
  return (await gateway.services.store.readMessagesAfter(await conversationIdOf(from), undefined, 200)).messages;
}

/** What the phone shows, oldest first (the sandbox API, as the phone page reads it). */
async function phone(from: string): Promise<SandboxItem[]> {
  const res = await fetch(`${gateway.url}/sandbox/api/messages?user=${encodeURIComponent(from)}&limit=200`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: SandboxItem[] }).items;
}

async function invitesOn(from: string): Promise<SandboxItem[]> {
  return (await phone(from)).filter((item) => item.kind === 'invite');
}

/**
 * The customer sends `text`; resolves once the bot's job answered it and
 * everything the bot and the gateway queued for the phone was delivered,
 * so what the phone shows is final.
 */
async function say(from: string, text: string): Promise<void> {
  const id = randomUUID();
  const res = await fetch(`${gateway.url}/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from, text, id }) });
  expect(res.status).toBe(202);
  const conversationId = await conversationIdOf(from);
  const messageId = await eventually(() => gateway.services.store.get(keys.dedupe(conversationId, `sandbox:${id}`)), 'the message to be stored');
  await eventually(() => gateway.services.store.get(keys.botAnswered(conversationId, messageId)), 'the bot to answer');
  await settled(from);
}

/** Every bot and system message of the thread has left the outbox. */
async function settled(from: string): Promise<void> {
  await eventually(async () => (await threadOf(from)).every((m) => m.author === 'customer' || (m.delivery !== undefined && m.delivery.status !== 'queued')), 'the outbox to deliver');
}

function tokenOf(invite: SandboxItem): string {
  expect(invite.url?.startsWith(`${PUBLIC_URL}/secure/#t=`)).toBe(true);
  return invite.url!.slice(`${PUBLIC_URL}/secure/#t=`.length);
}

async function openSecureSession(pivotToken: string): Promise<RecordedCustomer> {
  const recorded = await connectCustomer(NODE, { pivotToken }, CLIENT);
  sockets.push(recorded);
  return recorded;
}

async function disconnected(recorded: RecordedCustomer, what: string): Promise<void> {
  await eventually(() => recorded.disconnects.length > 0, what);
}

async function auditTypes(conversationId: string): Promise<string[]> {
  return (await gateway.services.audit.list(conversationId, undefined, 1000)).items.map((e) => e.type);
}

// --- test data that no other test stores ------------------------------------------

function randomDigits(n: number): string {
  return Array.from({ length: n }, () => String(randomInt(0, 10))).join('');
}

/** A Luhn-valid 16-digit Visa-shaped number. */
function randomPan(): string {
  const body = `4${randomDigits(14)}`;
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return `${body}${(10 - (sum % 10)) % 10}`;
}

/** A mod-97-valid German IBAN. */
function randomIban(): string {
  const bban = randomDigits(18);
  const check = 98n - (BigInt(`${bban}131400`) % 97n); // D=13, E=14, check digits 00
  return `DE${String(check).padStart(2, '0')}${bban}`;
}

function spaced(value: string): string {
  return value.replace(/(.{4})(?=.)/g, '$1 ');
}

// --- risk tiers ----------------------------------------------------------------------

describe('risk tiers', () => {
  it('tier 0 stays on the public channel: no invite, no reply, left to the advisor', async () => {
    const from = newCustomer();
    await say(from, 'Hello, what are your opening hours?');
    expect(await phone(from)).toEqual([]);
    expect((await threadOf(from)).map((m) => m.author)).toEqual(['customer']);
    expect(await gateway.services.store.getConversation(await conversationIdOf(from))).toMatchObject({ secure: 'none' });
  });

  it.each<[string, Exclude<PivotIntent, 'none'>, number]>([
    ['what is my balance', 'view_account', 1],
    ['I want to change my address', 'update_profile', 2],
    ['I want to buy some Tesla shares', 'trade', 3],
    ['I want to transfer $500 to my brother', 'transfer_funds', 4],
    ['I need to withdraw cash', 'withdraw', 4],
  ])('"%s" → a %s invite (tier %i) with its one-line reason', async (text, intent, tier) => {
    const from = newCustomer();
    await say(from, text);
    const items = await phone(from);
    expect(items.map((i) => [i.kind, i.text])).toEqual([['invite', replies.why(intent, 'en')]]);
    const claims = decodeJwt(tokenOf(items[0]!));
    const conversationId = await conversationIdOf(from);
    expect(claims).toMatchObject({ sub: conversationId, intent, iss: PUBLIC_URL, aud: `${PUBLIC_URL}/secure` });
    const issued = (await gateway.services.audit.list(conversationId, undefined, 100)).items.find((e) => e.type === 'pivot_issued');
    expect(issued).toMatchObject({ intent, tier, pivotId: claims.jti, actor: { kind: 'bot' } });
    // The thread keeps the reason, never the link (it holds a token).
    const thread = await threadOf(from);
    expect(thread.map((m) => [m.author, m.text])).toEqual([
      ['customer', text],
      ['bot', replies.why(intent, 'en')],
    ]);
    expect(JSON.stringify(thread)).not.toContain('#t=');
    expect(await gateway.services.store.getConversation(conversationId)).toMatchObject({ secure: 'invited' });
  });

  it('credential disclosure: the secret is removed before storing, the customer is warned, then invited', async () => {
    const from = newCustomer();
    const code = randomDigits(8);
    await say(from, `my one time code is ${code}`);
    const items = await phone(from);
    expect(items.map((i) => [i.kind, i.text]).sort()).toEqual(
      [
        ['invite', replies.why('credential_disclosure', 'en')],
        ['text', replies.credentialWarning('en', true)],
      ].sort(),
    );
    const [customerMessage] = await threadOf(from);
    expect(customerMessage).toMatchObject({ text: 'my one time code is [removed]', redacted: true });
    expect(decodeJwt(tokenOf(items.find((i) => i.kind === 'invite')!)).intent).toBe('credential_disclosure');
  });

  it('a secret next to a card number is still warned about; a disclosure with nothing to remove never claims a removal', async () => {
    const both = newCustomer();
    await say(both, `card ${spaced(randomPan())} and pin 4821`);
    const items = await phone(both);
    expect(items.map((i) => [i.kind, i.text]).sort()).toEqual(
      [
        ['invite', replies.why('card_payment', 'en')],
        ['text', replies.credentialWarning('en', true)],
      ].sort(),
    );
    expect((await threadOf(both))[0]?.text).toMatch(/^card •••• •••• •••• \d{4} and pin \[removed\]$/);

    const told = newCustomer();
    await say(told, 'I typed my password into a fake website');
    const texts = (await phone(told)).filter((i) => i.kind === 'text').map((i) => i.text);
    expect(texts).toEqual([replies.credentialWarning('en', false)]);
    expect(replies.credentialWarning('en', false)).not.toMatch(/removed/i);
  });

  it('an IBAN inside a transfer request pivots to the transfer (tier 4), not to a card payment', async () => {
    const from = newCustomer();
    await say(from, 'I want to transfer 500 EUR to DE89 3704 0044 0532 0130 00');
    const [invite] = await invitesOn(from);
    expect(decodeJwt(tokenOf(invite!)).intent).toBe('transfer_funds');
    expect((await threadOf(from))[0]).toMatchObject({ text: 'I want to transfer 500 EUR to DE•• •••• •••• 3000', redacted: true });
  });

  it('a card number or an IBAN is masked before storing and pivots to at least card_payment', async () => {
    const pan = randomPan();
    const withCard = newCustomer();
    await say(withCard, `can I pay my bill with ${spaced(pan)}`);
    expect((await phone(withCard)).map((i) => [i.kind, i.text])).toEqual([['invite', replies.why('card_payment', 'en')]]);
    expect((await threadOf(withCard))[0]).toMatchObject({ text: `can I pay my bill with •••• •••• •••• ${pan.slice(-4)}`, redacted: true });

    const iban = randomIban();
    const withIban = newCustomer();
    await say(withIban, `my IBAN is ${spaced(iban)}`);
    const invites = await invitesOn(withIban);
    // Account details read as money movement to the classifier: the higher tier wins over card_payment.
    expect(invites.map((i) => i.text)).toEqual([replies.why('transfer_funds', 'en')]);
    expect(decodeJwt(tokenOf(invites[0]!)).intent).toBe('transfer_funds');
    expect((await threadOf(withIban))[0]).toMatchObject({ text: `my IBAN is DE•• •••• •••• ${iban.slice(-4)}`, redacted: true });
  });
});

// --- one invite at a time -----------------------------------------------------------

describe('the single-invite rule', () => {
  it('a second sensitive message while the invite is valid gets "still valid"; "new link" gets a fresh one for the same intent', async () => {
    const from = newCustomer();
    await say(from, 'I want to transfer $500 to my brother');
    const [first] = await invitesOn(from);
    const firstJti = decodeJwt(tokenOf(first!)).jti!;
    const conversationId = await conversationIdOf(from);

    await say(from, 'I need to withdraw cash');
    expect(await invitesOn(from)).toHaveLength(1);
    expect((await phone(from)).at(-1)).toMatchObject({ kind: 'text', text: replies.inviteStillValid('en') });
    expect(await gateway.services.ledger.hasValidInvite(conversationId)).toBe(true);

    // "new link" alone reads as anything to the classifier: the fresh link keeps the transfer's intent (tier 4).
    await say(from, 'new link please');
    const invites = await invitesOn(from);
    expect(invites).toHaveLength(2);
    const fresh = decodeJwt(tokenOf(invites[1]!));
    expect(fresh.jti).not.toBe(firstJti);
    expect(fresh.intent).toBe('transfer_funds');
    expect(invites[1]!.text).toBe(replies.why('transfer_funds', 'en'));
    expect((await gateway.services.ledger.record(conversationId, firstJti))?.state).toBe('revoked');
    expect(await refusalOf(NODE, { pivotToken: tokenOf(first!) }, CLIENT)).toBe('token_invalid');
  });

  it('a request that needs a higher tier than the outstanding invite gets a new invite for it, not "still valid"', async () => {
    const from = newCustomer();
    await say(from, 'what is my balance');
    const [balance] = await invitesOn(from);
    expect(decodeJwt(tokenOf(balance!)).intent).toBe('view_account');
    const conversationId = await conversationIdOf(from);

    await say(from, 'I want to transfer $500 to my brother');
    const invites = await invitesOn(from);
    expect(invites).toHaveLength(2);
    expect(decodeJwt(tokenOf(invites[1]!)).intent).toBe('transfer_funds');
    expect((await gateway.services.ledger.record(conversationId, decodeJwt(tokenOf(balance!)).jti!))?.state).toBe('revoked');

    // And back down: the tier-4 link covers a balance question, so that one is "still valid".
    await say(from, 'what is my balance');
    expect(await invitesOn(from)).toHaveLength(2);
    expect((await phone(from)).at(-1)).toMatchObject({ kind: 'text', text: replies.inviteStillValid('en') });
    // But not a trade: tier 3 asks for a consent step that tier 4 does not.
    await say(from, 'I want to buy 10 shares of ACME');
    const afterTrade = await invitesOn(from);
    expect(afterTrade).toHaveLength(3);
    expect(decodeJwt(tokenOf(afterTrade[2]!)).intent).toBe('trade');
  });
});

// --- the nudge ---------------------------------------------------------------------------

describe('the nudge', () => {
  it('an advisor reply while the customer is away stays secure; the phone gets only the nudge text and a fresh link asking for what the chat needed', async () => {
    const from = newCustomer();
    await say(from, 'I want to transfer $500 to my brother');
    const [invite] = await invitesOn(from);
    const conversationId = await conversationIdOf(from);
    const customer = await connectCustomer(NODE, { pivotToken: tokenOf(invite!) }, CLIENT);
    customer.socket.disconnect(); // the session stays resumable; the page is gone
    await eventually(() => gateway.services.sockets.customerPresence(conversationId) !== 'local' || undefined, 'the server to see the page go');

    const secret = 'Your replacement card ending 4417 ships today';
    const reply = await gateway.services.replies.deliverAdvisorReply(conversationId, secret, { sub: 'advisor-n', name: 'Nia' });
    expect(reply.channel).toBe('secure');
    const nudge = await eventually(async () => (await invitesOn(from))[1], 'the nudge');
    expect(nudge.text).toBe(NUDGE_TEXT);
    const fresh = decodeJwt(tokenOf(nudge));
    expect(fresh.intent).toBe('transfer_funds'); // not a tier-1 link that would skip the transfer's step-up
    expect(fresh.jti).not.toBe(decodeJwt(tokenOf(invite!)).jti);
    expect(JSON.stringify(await phone(from))).not.toContain('4417');
  });
});

// --- lost device ------------------------------------------------------------------------

describe('lost device', () => {
  it("revokes the live secure sessions of all the user's conversations, alerts advisors, and sends a fresh invite", async () => {
    const from = newCustomer();
    // Conversation A: the sandbox, with a live secure session opened from the bot's invite.
    await say(from, 'what is my balance');
    const [invite] = await invitesOn(from);
    const onA = await openSecureSession(tokenOf(invite!));
    const conversationA = await conversationIdOf(from);

    // Conversation B: the same person by SMS (same platform id), with a live session and an unredeemed link.
    const { conversation: conversationB } = await gateway.services.ingest({ channel: 'sms', externalUserId: from, platformMessageId: `SM${randomDigits(32)}`, text: 'hello' });
    const advisor = { kind: 'advisor' as const, id: 'advisor-1' };
    const onB = await openSecureSession((await gateway.services.ledger.issue(conversationB.id, 'view_account', advisor)).token);
    const outstanding = await gateway.services.ledger.issue(conversationB.id, 'view_account', advisor);

    const advisorSocket = await connectAdvisor(NODE, await gateway.services.advisorAuth.mintDevToken('advisor-1', 'Ada', 600));
    try {
      await say(from, 'I lost my phone');
      await disconnected(onA, 'the sandbox conversation session to be disconnected');
      await disconnected(onB, 'the SMS conversation session to be disconnected');
      await eventually(() => advisorSocket.changes.some((c) => c.event === 'alert' && c.reason === 'lost_device' && c.conversation.id === conversationA), 'the advisor alert');
    } finally {
      advisorSocket.socket.disconnect();
    }

    const items = await phone(from);
    expect(items.filter((i) => i.kind === 'text').map((i) => i.text)).toContain(replies.lostDevice('en'));
    const invites = items.filter((i) => i.kind === 'invite');
    expect(invites).toHaveLength(2);
    expect(decodeJwt(tokenOf(invites[1]!)).intent).toBe('lost_device');
    expect(await auditTypes(conversationA)).toContain('lost_device');

    // Neither session resumes; the link left unredeemed on B is dead too.
    expect(await refusalOf(NODE, { sessionToken: onA.sessions[0]!.sessionToken }, CLIENT)).toBe('session_invalid');
    expect(await refusalOf(NODE, { sessionToken: onB.sessions[0]!.sessionToken }, CLIENT)).toBe('session_invalid');
    expect(await refusalOf(NODE, { pivotToken: outstanding.token }, CLIENT)).toBe('token_invalid');
  });
});

// --- the customer's notice and LOCK -------------------------------------------------------

describe('customer notice and LOCK', () => {
  it('announces an opened session on the public channel; LOCK there ends it and refuses new connections', async () => {
    const from = newCustomer();
    await say(from, 'what is my balance');
    const [invite] = await invitesOn(from);
    const secure = await openSecureSession(tokenOf(invite!));
    const conversationId = await conversationIdOf(from);

    const notice = await eventually(async () => (await phone(from)).find((i) => i.text.startsWith('A secure session was opened')), 'the session notice');
    const session = await gateway.services.sessions.get(sessionIdOf(secure.sessions[0]!.sessionToken));
    expect(session?.client.ip).toBe(CLIENT.headers['x-forwarded-for']);
    expect(notice.text).toBe(`A secure session was opened at ${clockTime(session!.createdAt)} from Chrome on Android. Not you? Reply LOCK`);
    expect(notice.text).toMatch(/^A secure session was opened at \d\d:\d\d UTC from Chrome on Android\. Not you\? Reply LOCK$/);
    await settled(from);
    const sentBeforeLock = await gateway.services.ledger.issue(conversationId, 'view_account', { kind: 'advisor', id: 'advisor-1' });

    // The console learns it live: an advisor socket gets the conversation's `locked` change.
    const advisor = await connectAdvisor(NODE, await gateway.services.advisorAuth.mintDevToken('advisor-lock', undefined, 600));
    try {
      await say(from, 'LOCK');
      await eventually(() => advisor.changes.some((c) => c.event === 'locked' && c.conversation.id === conversationId && c.conversation.secure === 'locked'), 'the console to see the lock');
    } finally {
      advisor.socket.disconnect();
    }
    await disconnected(secure, 'the secure socket to be disconnected');
    expect((await phone(from)).at(-1)).toMatchObject({ kind: 'text', text: replies.locked('en') });
    expect(await gateway.services.store.getConversation(conversationId)).toMatchObject({ secure: 'locked' });
    const locked = (await gateway.services.audit.list(conversationId, undefined, 100)).items.find((e) => e.type === 'locked');
    expect(locked).toMatchObject({ actor: { kind: 'customer' }, reason: 'customer_replied_lock' });
    // New connections are refused as locked: the invite reopened, or a link sent before the LOCK.
    expect(await refusalOf(NODE, { pivotToken: tokenOf(invite!) }, CLIENT)).toBe('conversation_locked');
    expect(await refusalOf(NODE, { pivotToken: sentBeforeLock.token }, CLIENT)).toBe('conversation_locked');
    // The ended session does not resume either, and says why: the chat is locked.
    expect(await refusalOf(NODE, { sessionToken: secure.sessions[0]!.sessionToken }, CLIENT)).toBe('conversation_locked');

    // While locked, a sensitive message gets no link: the customer is told the chat is locked.
    await say(from, 'I want to transfer $500 to my brother');
    expect(await invitesOn(from)).toHaveLength(1);
    expect((await phone(from)).at(-1)).toMatchObject({ kind: 'text', text: replies.locked('en') });
  });
});

// --- nothing sensitive in clear ------------------------------------------------------------

async function rawValues(redis: Redis, key: string): Promise<string[]> {
  const type = await redis.type(key);
  switch (type) {
    case 'string':
      return [(await redis.get(key)) ?? ''];
    case 'hash':
      return Object.entries(await redis.hgetall(key)).flat();
    case 'stream':
      return (await redis.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]);
    case 'set':
      return redis.smembers(key);
    case 'zset':
      return redis.zrange(key, '0', '-1');
    case 'list':
      return redis.lrange(key, 0, -1);
    default:
      return []; // gone meanwhile (other test files share this Redis)
  }
}

describe('storage', () => {
  it('never holds a card number, IBAN, one-time code or password in clear', async () => {
    const from = newCustomer();
    const pan = randomPan();
    const iban = randomIban();
    const code = randomDigits(8);
    const password = `Tr0ub4dor-${randomDigits(6)}`;
    await say(from, `pay with ${spaced(pan)} please`);
    await say(from, `or take it from ${spaced(iban)}`);
    await say(from, `the code is ${code}`);
    await say(from, `my password is ${password}`);
    const conversationId = await conversationIdOf(from);
    const secrets = [pan, spaced(pan), pan.slice(0, 12), iban, spaced(iban), iban.slice(4, 18), code, password];

    // Through the store (decrypted): masked forms only.
    const texts = (await threadOf(from)).map((m) => m.text);
    expect(texts).toContain(`pay with •••• •••• •••• ${pan.slice(-4)} please`);
    expect(texts).toContain(`or take it from DE•• •••• •••• ${iban.slice(-4)}`);
    expect(texts).toContain('the code is [removed]');
    expect(texts).toContain('my password is [removed]');
    const shown = JSON.stringify({ texts, phone: await phone(from) });
    for (const secret of secrets) expect(shown).not.toContain(secret);

    // Raw Redis: every key of the conversation, then every key there is (job data, logs, indexes).
    const redis = new Redis(process.env.TEST_REDIS_URL!, { enableAutoPipelining: true });
    try {
      const own: string[] = [];
      for await (const batch of redis.scanStream({ match: `pg:{c:${conversationId}}:*`, count: 500 })) own.push(...(batch as string[]));
      expect(own).toEqual(expect.arrayContaining([keys.thread(conversationId), keys.conversation(conversationId), keys.audit(conversationId)]));
      const all: string[] = [];
      for await (const batch of redis.scanStream({ match: '*', count: 1000 })) all.push(...(batch as string[]));
      const every = [...new Set([...own, ...all])];
      for (let i = 0; i < every.length; i += 200) {
        const chunk = every.slice(i, i + 200);
        const values = await Promise.all(chunk.map(async (key) => `${key}\n${(await rawValues(redis, key)).join('\n')}`));
        const leaking = values.filter((value) => secrets.some((secret) => value.includes(secret)));
        expect(leaking.map((value) => value.split('\n')[0])).toEqual([]);
      }
    } finally {
      redis.disconnect();
    }
  });
});
