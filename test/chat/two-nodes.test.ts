/**
 * Two gateway processes on one real Redis (the sharded Redis adapter between
 * them): a customer on node B gets what an advisor sends through node A, and
 * after B is killed with SIGKILL resumes on A with nothing missing or doubled.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Message } from '../../src/messages';
import { generateJwkSet } from '../../src/pivot/keys';
import { RedisStore } from '../../src/store/redis.store';
import { TextCipher } from '../../src/store/text-cipher';
import { connectAdvisor, connectCustomer, seedConversation, send, SMS_THREAD, until, type RecordedCustomer } from '../support/chat-harness';

jest.setTimeout(60_000);

const PUBLIC_URL = 'https://gateway.test';

interface NodeProcess {
  child: ChildProcess;
  url: string;
  origin: string;
  order<T>(order: Record<string, unknown>): Promise<T>;
}

describe('two gateway processes on one Redis', () => {
  const register = join(__dirname, '..', 'support', 'ts-register.cjs');
  const script = join(__dirname, '..', 'support', 'chat-node-process.ts');
  const dataKey = randomBytes(32);
  const adapterKey = `pg:sio-two-${randomBytes(4).toString('hex')}`;
  let store: RedisStore;
  let a: NodeProcess;
  let b: NodeProcess;
  let jwks: string;
  const extra: NodeProcess[] = [];
  const customers: RecordedCustomer[] = [];

  async function start(jwks: string): Promise<NodeProcess> {
    const child = fork(script, [], {
      execArgv: ['-r', register],
      env: { ...process.env, CHAT_NODE_REDIS_URL: process.env.TEST_REDIS_URL!, CHAT_NODE_PUBLIC_URL: PUBLIC_URL, CHAT_NODE_JWKS: jwks, CHAT_NODE_DATA_KEY: dataKey.toString('base64'), CHAT_NODE_ADAPTER_KEY: adapterKey },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('message', (m: { type: string; url: string }) => (m.type === 'ready' ? resolve(m.url) : reject(new Error(JSON.stringify(m)))));
      child.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
    });
    let nextId = 0;
    return {
      child,
      url,
      origin: PUBLIC_URL,
      order<T>(order: Record<string, unknown>) {
        const id = ++nextId;
        return new Promise<T>((resolve, reject) => {
          const onMessage = (m: { type: string; id: number; value: T; error?: string }) => {
            if (m.id !== id) return;
            child.off('message', onMessage);
            if (m.type === 'done') resolve(m.value);
            else reject(new Error(m.error));
          };
          child.on('message', onMessage);
          child.send({ ...order, id });
        });
      },
    };
  }

  beforeAll(async () => {
    jwks = JSON.stringify(await generateJwkSet('EdDSA'));
    [a, b] = await Promise.all([start(jwks), start(jwks)]);
    store = await RedisStore.connect(process.env.TEST_REDIS_URL!, { cipher: new TextCipher([{ id: 'shared', key: dataKey }]), threadRetentionDays: 90 });
  });
  afterAll(async () => {
    for (const c of customers) c.socket.disconnect();
    for (const node of [a, b, ...extra]) {
      if (node && node.child.exitCode === null && node.child.signalCode === null) {
        const exited = new Promise((resolve) => node.child.once('exit', resolve));
        node.child.kill('SIGTERM');
        await exited;
      }
    }
    await store.close();
  });

  test('customer on B receives what an advisor sends through A, resumes on A after B is killed (-9), nothing missing or doubled', async () => {
    const { conversation } = await seedConversation(store, SMS_THREAD);
    const advisorOnA = await connectAdvisor(a, await a.order<string>({ type: 'mint', sub: 'advisor-a' }));
    expect(await advisorOnA.socket.timeout(5000).emitWithAck('watch', { conversationId: conversation.id })).toEqual({ ok: true });

    const token = await a.order<string>({ type: 'issue', conversationId: conversation.id });
    const onB = await connectCustomer(b, { pivotToken: token });
    customers.push(onB);
    expect(onB.histories[0]!.messages.map((m) => m.text)).toEqual(SMS_THREAD.map((d) => d.text));

    // A → B, live through Redis.
    const live = await a.order<Message>({ type: 'reply', conversationId: conversation.id, text: 'sent through node A' });
    await until(() => onB.live.length === 1, 'B receives A');
    expect(onB.live).toEqual([live]);
    // B → the advisor watching on A.
    const ack = await send(onB.socket, 'typed on node B');
    await until(() => advisorOnA.messages.some((m) => m.id === ack.message!.id), 'advisor on A receives B');
    const lastSeen = ack.message!;

    onB.socket.on('connect_error', () => undefined);
    b.child.kill('SIGKILL');
    await until(() => onB.disconnects.length === 1, 'customer sees node B die');

    const missed = [
      await a.order<Message>({ type: 'reply', conversationId: conversation.id, text: 'while B was dead (1)' }),
      await a.order<Message>({ type: 'reply', conversationId: conversation.id, text: 'while B was dead (2)' }),
    ];
    const onA = await connectCustomer(a, { sessionToken: onB.sessions[0]!.sessionToken, lastMessageId: lastSeen.id });
    customers.push(onA);
    expect(onA.histories[0]).toEqual({ messages: missed, hasMore: false });

    // What the customer holds (first history + live + own ack + resumed history) is the thread, each message once.
    const seen = [...onB.histories[0]!.messages, ...onB.live, lastSeen, ...onA.histories[0]!.messages, ...onA.live];
    const ids = seen.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual((await store.readLatestMessages(conversation.id, 500)).messages.map((m) => m.id).sort());
    advisorOnA.socket.disconnect();
  });

  test('a lock made through one node disconnects the customer on another (a fresh node C)', async () => {
    const c = await start(jwks);
    extra.push(c);
    const { conversation } = await seedConversation(store, SMS_THREAD);
    const token = await a.order<string>({ type: 'issue', conversationId: conversation.id });
    const onC = await connectCustomer(c, { pivotToken: token });
    customers.push(onC);
    await a.order({ type: 'lock', conversationId: conversation.id });
    await until(() => onC.disconnects.includes('io server disconnect'), 'customer on C disconnected by the lock made on A');
    const refusal = await new Promise<string>((resolve) => {
      const again = connectCustomer(c, { sessionToken: onC.sessions[0]!.sessionToken });
      again.then(() => resolve('connected'), (err: Error) => resolve(err.message));
    });
    expect(refusal).toMatch(/^(conversation_locked|session_invalid)$/);
  });
});
