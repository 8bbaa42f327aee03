/** The in-process queue keeps BullMQ's semantics: dedupe by job id, attempts with backoff, permanent errors, deferral, the give-up hook. */
import { DeferJobError, PermanentJobError, type JobContext } from '../../src/jobs/job-queue';
import { MemoryJobQueue } from '../../src/jobs/memory.queue';
import { silentLogger } from '../../src/ops/logger';

function queue(): MemoryJobQueue {
  return new MemoryJobQueue(silentLogger(), { defaults: { attempts: 3, backoffMs: 1 } });
}

describe('MemoryJobQueue', () => {
  it('holds jobs until start(), then runs each once with a copy of its data', async () => {
    const q = queue();
    const seen: Array<{ n: number }> = [];
    q.process<{ n: number }>('outbound', async (data) => {
      seen.push(data);
    });
    const data = { n: 1 };
    await q.add('outbound', data);
    data.n = 2; // the queued job keeps what was added
    expect(seen).toEqual([]);
    await q.start();
    await q.idle();
    expect(seen).toEqual([{ n: 1 }]);
    await q.close();
  });

  it('adds a job id once, while waiting and after it finished', async () => {
    const q = queue();
    let runs = 0;
    q.process('inbound', async () => {
      runs++;
    });
    await q.add('inbound', {}, { jobId: 'same' });
    await q.add('inbound', {}, { jobId: 'same' });
    await q.start();
    await q.idle();
    await q.add('inbound', {}, { jobId: 'same' });
    await q.idle();
    expect(runs).toBe(1);
    await q.close();
  });

  it('retries with attempt numbers until success, flagging the final attempt', async () => {
    const q = queue();
    const contexts: JobContext[] = [];
    q.process('outbound', async (_data, context) => {
      contexts.push(context);
      if (context.attempt < 3) throw new Error('HTTP 500');
    });
    await q.start();
    await q.add('outbound', {}, { attempts: 4 });
    await q.idle();
    expect(contexts).toEqual([
      { attempt: 1, final: false },
      { attempt: 2, final: false },
      { attempt: 3, final: false },
    ]);
    await q.close();
  });

  it('stops after `attempts` tries, and at once on a PermanentJobError', async () => {
    const q = queue();
    const calls: string[] = [];
    q.process<{ kind: string }>('outbound', async ({ kind }, context) => {
      calls.push(`${kind}:${context.attempt}:${context.final}`);
      throw kind === 'permanent' ? new PermanentJobError('HTTP 400') : new Error('HTTP 503');
    });
    await q.start();
    await q.add('outbound', { kind: 'transient' }, { attempts: 3 });
    await q.add('outbound', { kind: 'permanent' }, { attempts: 3 });
    await q.idle();
    expect(calls.sort()).toEqual(['permanent:1:false', 'transient:1:false', 'transient:2:false', 'transient:3:true']);
    await q.close();
  });

  it('a DeferJobError runs the job again after the wait without counting a try', async () => {
    const q = queue();
    const contexts: JobContext[] = [];
    const gaveUp: string[] = [];
    q.process(
      'outbound',
      async (_data, context) => {
        contexts.push(context);
        if (contexts.length <= 3) throw new DeferJobError(Date.now() + 5, 'someone else holds it');
      },
      { onGiveUp: async (_data, reason) => void gaveUp.push(reason) },
    );
    await q.start();
    await q.add('outbound', {}, { attempts: 1 }); // one try only: three waits must not use it up
    await q.idle();
    expect(contexts).toEqual(Array(4).fill({ attempt: 1, final: true }));
    expect(gaveUp).toEqual([]);
    await q.close();
  });

  it('calls onGiveUp once when a job fails for good (last try or permanent), never for a retried or successful one', async () => {
    const q = queue();
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
    for (const kind of ['transient', 'permanent', 'recovers', 'fine']) await q.add('outbound', { kind }, { attempts: 3 });
    await q.idle();
    expect(gaveUp.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { kind: 'permanent', reason: 'HTTP 400' },
      { kind: 'transient', reason: 'HTTP 503 on try 3' },
    ]);
    await q.close();
  });

  it('close() waits for the running job', async () => {
    const q = queue();
    let finished = false;
    let release: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      q.process('inbound', async () => {
        resolve();
        await new Promise<void>((r) => (release = r));
        finished = true;
      });
    });
    await q.start();
    await q.add('inbound', {});
    await started;
    const closing = q.close();
    release();
    await closing;
    expect(finished).toBe(true);
  });
});
