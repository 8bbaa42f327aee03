/**
 * Exactly-once redemption across gateway nodes sharing one Redis:
 * - two full pivot stacks in this process, each with its own Redis
 *   connection and its own SigningKeys loaded from the same JWK Set;
 * - two real child processes (forked Node, sources loaded through
 *   test/support/ts-register.cjs), fired at the same instant.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { generateJwkSet } from '../../src/pivot/keys';
import { socketErrorOf } from '../../src/pivot/refusals';
import { buildPivotGateway, newConversation, outcome, randomClient, tally, type PivotGateway } from '../support/pivot-fixtures';

const ROUNDS = 20;
const PER_NODE = 25; // 2 × 25 = 50 concurrent redemptions of one token

describe('two gateway stacks in one process, separate Redis connections', () => {
  let jwks: { keys: JWK[] };
  let a: PivotGateway;
  let b: PivotGateway;

  beforeAll(async () => {
    jwks = await generateJwkSet('EdDSA');
    a = await buildPivotGateway({ kind: 'redis', jwks });
    b = await buildPivotGateway({ kind: 'redis', jwks });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  test(`50 concurrent redemptions split over two nodes: exactly 1 succeeds (x${ROUNDS})`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const conversation = await newConversation(a.store);
      const pivot = await (round % 2 === 0 ? a : b).ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
      const client = randomClient();
      const attempts = Array.from({ length: 50 }, (_, i) => outcome((i % 2 === 0 ? a : b).ledger.redeem(pivot.token, client), socketErrorOf));
      const counts = tally(await Promise.all(attempts));
      expect(counts.ok).toBe(1);
      expect((counts.token_used ?? 0) + (counts.rate_limited ?? 0)).toBe(49);
      expect(await a.sessions.activeCount(conversation.id)).toBe(1);
    }
  });

  test('a lock made on one node is honoured by the other', async () => {
    const conversation = await newConversation(a.store);
    const pivot = await a.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    await b.ledger.lock(conversation.id, { kind: 'advisor', id: 'x' }, 'test');
    expect(await outcome(a.ledger.redeem(pivot.token, randomClient()), socketErrorOf)).toBe('conversation_locked');
  });
});

describe('two gateway processes on one Redis', () => {
  const register = join(__dirname, '..', 'support', 'ts-register.cjs');
  const script = join(__dirname, '..', 'support', 'pivot-node.ts');
  let jwks: { keys: JWK[] };
  let issuer: PivotGateway;
  const nodes: ChildProcess[] = [];
  let nextId = 0;

  function start(): Promise<ChildProcess> {
    const child = fork(script, [], {
      execArgv: ['-r', register],
      env: { ...process.env, PIVOT_NODE_REDIS_URL: process.env.TEST_REDIS_URL, PIVOT_NODE_JWKS: JSON.stringify(jwks) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    nodes.push(child);
    return new Promise((resolve, reject) => {
      child.once('message', () => resolve(child));
      child.once('exit', (code) => reject(new Error(`pivot node exited early with ${code}`)));
    });
  }

  function redeemOn(child: ChildProcess, token: string, client: { ip: string; userAgent: string }, startAt: number): Promise<string[]> {
    const id = nextId++;
    return new Promise((resolve) => {
      const onMessage = (msg: { type: string; id?: number; outcomes?: string[] }) => {
        if (msg.type === 'result' && msg.id === id) {
          child.off('message', onMessage);
          resolve(msg.outcomes ?? []);
        }
      };
      child.on('message', onMessage);
      child.send({ type: 'redeem', id, token, count: PER_NODE, client, startAt });
    });
  }

  beforeAll(async () => {
    jwks = await generateJwkSet('ES256');
    issuer = await buildPivotGateway({ kind: 'redis', jwks });
    await Promise.all([start(), start()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(
      nodes.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.send({ type: 'exit' });
          }),
      ),
    );
    await issuer.close();
  });

  test(`25 + 25 concurrent redemptions of one token from two processes: exactly 1 succeeds (x${ROUNDS})`, async () => {
    expect(new Set(nodes.map((n) => n.pid)).size).toBe(2);
    for (let round = 0; round < ROUNDS; round++) {
      const conversation = await newConversation(issuer.store);
      const pivot = await issuer.ledger.issue(conversation.id, 'card_payment', { kind: 'bot' });
      const client = randomClient();
      const startAt = Date.now() + 30; // both processes fire at the same instant
      const [first, second] = await Promise.all([redeemOn(nodes[0]!, pivot.token, client, startAt), redeemOn(nodes[1]!, pivot.token, client, startAt)]);
      const counts = tally([...first!, ...second!]);
      expect(counts.ok).toBe(1);
      expect((counts.token_used ?? 0) + (counts.rate_limited ?? 0)).toBe(49);
      expect(await issuer.sessions.activeCount(conversation.id)).toBe(1);
      expect((await issuer.ledger.record(conversation.id, pivot.pivotId))?.state).toBe('redeemed');
    }
  });
});
