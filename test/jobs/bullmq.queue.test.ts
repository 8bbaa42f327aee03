/**
 * The BullMQ queue on the run's real Redis: same contract as the memory
 * queue, plus durability across queue instances ("nodes").
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { bullJobId } from '../../src/jobs/bullmq.queue';
import { DeferJobError, PermanentJobError, type JobContext } from '../../src/jobs/job-queue';
import { bullQueue, eventually, redisUrl, uniquePrefix } from './support/bull';

describe('BullJobQueue', () => {
  it('runs a job once; a second add with the same id (even one with ":") is ignored', async () => {
    const q = await bullQueue(uniquePrefix());
    const seen: unknown[] = [];
    q.process<{ conversationId: string }>('inbound', async (data) => {
      seen.push(data);
    });
    await q.start();
    await q.add('inbound', { conversationId: 'c1' }, { jobId: 'inbound:c1:1700000000000-0' });
    await q.add('inbound', { conversationId: 'c1' }, { jobId: 'inbound:c1:1700000000000-0' });
    await eventually(async () => (await q.counts('inbound')).completed === 1);
    expect(seen).toEqual([{ conversationId: 'c1' }]);
    await q.close();
  });

  it('retries with attempt numbers, flags the final try, and stops on PermanentJobError', async () => {
    const q = await bullQueue(uniquePrefix());
    const calls: Array<JobContext & { kind: string }> = [];
    q.process<{ kind: string }>('outbound', async ({ kind }, context) => {
      calls.push({ kind, ...context });
      if (kind === 'permanent') throw new PermanentJobError('HTTP 400');
      if (kind === 'transient' || context.attempt < 3) throw new Error('HTTP 503');
    });
    await q.start();
    await q.add('outbound', { kind: 'recovers' }, { attempts: 3 });
    await q.add('outbound', { kind: 'transient' }, { attempts: 2 });
    await q.add('outbound', { kind: 'permanent' }, { attempts: 3 });
    await eventually(async () => {
      const counts = await q.counts('outbound');
      return counts.completed === 1 && counts.failed === 2;
    });
    const of = (kind: string) => calls.filter((c) => c.kind === kind).map(({ attempt, final }) => ({ attempt, final }));
    expect(of('recovers')).toEqual([
      { attempt: 1, final: false },
      { attempt: 2, final: false },
      { attempt: 3, final: true },
    ]);
    expect(of('transient')).toEqual([
      { attempt: 1, final: false },
      { attempt: 2, final: true },
    ]);
    expect(of('permanent')).toEqual([{ attempt: 1, final: false }]);
    await q.close();
  });

  it('a DeferJobError moves the job to delayed (BullMQ moveToDelayed + DelayedError) without counting a try', async () => {
    const q = await bullQueue(uniquePrefix());
    const contexts: JobContext[] = [];
    const gaveUp: string[] = [];
    q.process(
      'outbound',
      async (_data, context) => {
        contexts.push(context);
        if (contexts.length <= 3) throw new DeferJobError(Date.now() + 20, 'someone else holds it');
      },
      { onGiveUp: async (_data, reason) => void gaveUp.push(reason) },
    );
    await q.start();
    await q.add('outbound', {}, { attempts: 1 }); // one try only: three waits must not use it up
    await eventually(async () => (await q.counts('outbound')).completed === 1);
    expect(contexts).toEqual(Array(4).fill({ attempt: 1, final: true }));
    expect(await q.counts('outbound')).toMatchObject({ failed: 0, delayed: 0 });
    expect(gaveUp).toEqual([]);
    await q.close();
  });

  it('calls onGiveUp once per job that fails for good (last try or permanent), never for a retried one', async () => {
    const q = await bullQueue(uniquePrefix());
    const gaveUp: Array<{ kind: string; reason: string }> = [];
    q.process<{ kind: string }>(
      'outbound',
      async ({ kind }, context) => {
        if (kind === 'permanent') throw new PermanentJobError('HTTP 400');
        if (kind === 'transient') throw new Error(`HTTP 503 on try ${context.attempt}`);
        if (kind === 'recovers' && context.attempt === 1) throw new Error('HTTP 503');
      },
      { onGiveUp: async ({ kind }, reason) => void gaveUp.push({ kind, reason }) },
    );
    await q.start();
    for (const kind of ['transient', 'permanent', 'recovers']) await q.add('outbound', { kind }, { attempts: 3 });
    await eventually(async () => {
      const counts = await q.counts('outbound');
      return counts.completed === 1 && counts.failed === 2 && gaveUp.length === 2;
    });
    expect(gaveUp.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { kind: 'permanent', reason: 'HTTP 400' },
      { kind: 'transient', reason: 'HTTP 503 on try 3' },
    ]);
    await q.close();
  });

  it('a job added by a node that stops before running it is run once by another node', async () => {
    const prefix = uniquePrefix();
    const first = await bullQueue(prefix);
    await first.add('inbound', { n: 1 }, { jobId: 'durable-1' });
    await first.close(); // never started a worker: the job only exists in Redis

    const second = await bullQueue(prefix);
    let runs = 0;
    second.process('inbound', async () => {
      runs++;
    });
    await second.start();
    await eventually(async () => (await second.counts('inbound')).completed === 1);
    expect(runs).toBe(1);
    await second.close();
  });

  it('a worker process killed (SIGKILL) in the middle of a job: another node runs the job exactly once', async () => {
    const prefix = uniquePrefix();
    const producer = await bullQueue(prefix);
    await producer.add('inbound', { n: 7 }, { jobId: 'killed-mid-job' });
    await producer.close();

    // The child takes the job with a 1 s lock and hangs inside the handler.
    const child = fork(join(__dirname, 'support', 'hanging-worker.ts'), [], {
      execArgv: ['-r', join(__dirname, '..', 'support', 'ts-register.cjs')],
      env: { ...process.env, HANGING_REDIS_URL: redisUrl(), HANGING_PREFIX: prefix },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const started = await new Promise<{ jobId: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { jobId: string }));
      child.once('exit', (code) => reject(new Error(`hanging worker exited early (${code})`)));
    });
    expect(started.jobId).toBe(bullJobId('killed-mid-job'));
    child.removeAllListeners('exit');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;

    // A second node: its stalled-job check finds the dead worker's expired lock and runs the job again.
    const rescuer = await bullQueue(prefix, { stalledIntervalMs: 300 });
    const runs: number[] = [];
    rescuer.process<{ n: number }>('inbound', async ({ n }) => {
      runs.push(n);
    });
    await rescuer.start();
    await eventually(async () => (await rescuer.counts('inbound')).completed === 1);
    expect(runs).toEqual([7]);
    await rescuer.close();
  });

  it('a job whose workers are killed mid-run twice is failed by BullMQ without running the handler: onGiveUp still hears of it', async () => {
    const prefix = uniquePrefix();
    const producer = await bullQueue(prefix);
    await producer.add('inbound', { n: 9 }, { jobId: 'killed-twice' });
    await producer.close();

    // Two worker processes in turn take the job and are killed with it (the second after the stalled check gave it back).
    for (let kill = 0; kill < 2; kill++) {
      const child = fork(join(__dirname, 'support', 'hanging-worker.ts'), [], {
        execArgv: ['-r', join(__dirname, '..', 'support', 'ts-register.cjs')],
        env: { ...process.env, HANGING_REDIS_URL: redisUrl(), HANGING_PREFIX: prefix },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`hanging worker exited early (${code})`)));
      });
      child.removeAllListeners('exit');
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }

    const rescuer = await bullQueue(prefix, { stalledIntervalMs: 300 });
    const runs: number[] = [];
    const gaveUp: Array<{ n: number; reason: string }> = [];
    rescuer.process<{ n: number }>(
      'inbound',
      async ({ n }) => {
        runs.push(n);
      },
      { onGiveUp: async ({ n }, reason) => void gaveUp.push({ n, reason }) },
    );
    await rescuer.start();
    await eventually(async () => (await rescuer.counts('inbound')).failed === 1 && gaveUp.length === 1);
    expect(runs).toEqual([]); // BullMQ's stalled limit (maxStalledCount 1) failed it without a third run
    expect(gaveUp).toEqual([{ n: 9, reason: 'its worker stopped mid-run more than once (job stalled more than allowable limit)' }]);
    await rescuer.close();
  });

  it('escapes ids BullMQ would refuse', () => {
    expect(bullJobId('out:c:1-0')).toBe('out%3Ac%3A1-0');
    expect(bullJobId('42')).toBe('id-42');
    expect(bullJobId('a%3A')).toBe('a%253A');
  });
});
