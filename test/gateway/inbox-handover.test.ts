/**
 * A webhook node that stops right after acknowledging: the message it stored
 * reaches the bot through another node, once (issue 5, "Durability").
 *
 * Node A, in its own process, runs no workers (so no InboxRelay and no bot):
 * it stores the customer's message, records it in the Redis inbox in the same
 * step, answers 202, and is killed with SIGKILL. Node B, started afterwards on the same Redis,
 * relays the inbox entry into the bot's `inbound` job; the bot answers the
 * customer exactly once. Messages arrive through the sandbox connector (the
 * same ingest as every platform) and the answer is read from the sandbox
 * phone.
 */
import { fork } from 'node:child_process';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { SandboxItem } from '../../connectors/sandbox/sandbox.connector';
import type { Gateway } from '../../src/gateway';
import { keys } from '../../src/store/keys';
import { eventually } from '../jobs/support/bull';
import { startTestGateway } from '../support/gateway-harness';

/** What nodes of one deployment share: the key that seals message text at rest. */
const SHARED = { DATA_ENCRYPTION_KEYS: `handover:${randomBytes(32).toString('base64')}` };

describe('inbox hand-over between nodes', () => {
  const started: Gateway[] = [];
  afterAll(async () => {
    for (const gateway of started) await gateway.close();
  });

  it('a message acknowledged by a node killed (SIGKILL) before any worker ran is answered by the bot once, through another node', async () => {
    const from = `+1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}`;
    // Node A in its own process, without workers: it acknowledges, then dies by SIGKILL (no shutdown hook runs).
    const a = fork(join(__dirname, '..', 'support', 'gateway-process.ts'), [], {
      execArgv: ['-r', join(__dirname, '..', 'support', 'ts-register.cjs')],
      env: { ...process.env, GATEWAY_PROCESS_WORKERS: '0', GATEWAY_PROCESS_ENV: JSON.stringify({ NODE_ENV: 'test', PUBLIC_URL: 'http://127.0.0.1:3999', REDIS_URL: process.env.TEST_REDIS_URL!, ...SHARED }) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise((resolve) => a.once('exit', (code, signal) => resolve(signal ?? code)));
    const aUrl = await new Promise<string>((resolve, reject) => {
      a.once('message', (m: { url: string }) => resolve(m.url));
      a.once('exit', (code) => reject(new Error(`node A exited with ${code}`)));
    });
    const id = randomUUID();
    const res = await fetch(`${aUrl}/sandbox/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from, text: 'I want to transfer 500 euros to my landlord', id }) });
    expect(res.status).toBe(202);
    a.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const b = await startTestGateway(SHARED);
    started.push(b);
    const conversationId = (await b.services.store.get(keys.userConversation('sandbox', from)))!;
    const messageId = (await b.services.store.get(keys.dedupe(conversationId, `sandbox:${id}`)))!;
    expect(messageId).toBeDefined();
    await eventually(async () => (await b.services.store.get(keys.botAnswered(conversationId, messageId))) !== undefined); // the bot on node B answered
    const phone = async () => {
      const page = await fetch(`${b.url}/sandbox/api/messages?user=${encodeURIComponent(from)}&limit=50`);
      return ((await page.json()) as { items: SandboxItem[] }).items;
    };
    const invites = async () => (await phone()).filter((item) => item.kind === 'invite');
    await eventually(async () => (await invites()).length > 0); // the invite reached the phone
    expect(await invites()).toHaveLength(1);
    // Settled: the bot's messages have left the outbox, and still one invite (no second hand-over).
    await eventually(async () => (await b.services.store.readMessagesAfter(conversationId, undefined, 50)).messages.every((m) => m.author === 'customer' || (m.delivery !== undefined && m.delivery.status !== 'queued')));
    expect(await invites()).toHaveLength(1);
  }, 60_000);
});
