/**
 * What every bench shares: its command-line flags, a Redis for the run
 * (REDIS_URL or a throwaway redis-server), requests to its server children,
 * the machine it ran on, and the JSON result file in bench/results/ (with
 * the command that produced it).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { startRedisServer } from '../test/support/redis-server';

export function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function numberArgument(name: string): number | undefined {
  const value = argument(name);
  return value === undefined ? undefined : Number(value);
}

/** Runs `work` with REDIS_URL, or with a redis-server started for this bench and stopped after. */
export async function withBenchRedis<T>(work: (redisUrl: string) => Promise<T>): Promise<T> {
  if (process.env.REDIS_URL) return work(process.env.REDIS_URL);
  const server = await startRedisServer();
  try {
    return await work(server.url);
  } finally {
    await server.stop();
  }
}

export interface MachineInfo {
  cpuModel: string;
  cpus: number;
  node: string;
  platform: string;
  release: string;
  totalMemGb: number;
  redis?: string;
  loadAverage: number[];
}

/** The machine a figure was measured on; `redisInfo` is Redis' `INFO server` text when the bench used Redis. */
export function machineInfo(redisInfo?: string): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    node: process.version,
    platform: platform(),
    release: release(),
    totalMemGb: Math.round(totalmem() / 2 ** 30),
    ...(redisInfo === undefined ? {} : { redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? 'unknown' }),
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

/** Writes `bench/results/<name>.json` with the command line that produced it; returns the path. */
export function writeResult(name: string, benchFile: string, result: object): string {
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  const command = `node -r ./test/support/ts-register.cjs bench/${basename(benchFile)} ${process.argv.slice(2).join(' ')}`.trim();
  writeFileSync(file, `${JSON.stringify({ command, ...result }, null, 2)}\n`);
  return file;
}

let asked = 0;
/**
 * One request to a server child over IPC: sends `order` with a fresh `id`;
 * the child answers `{ id, value }` (process.send) and this resolves with `value`.
 * @example const rss = await askChild<number>(child, { kind: 'rss' });
 */
export function askChild<T>(child: ChildProcess, order: object): Promise<T> {
  const id = ++asked;
  return new Promise<T>((resolve) => {
    const onMessage = (message: { id?: number; value: T }) => {
      if (message.id !== id) return;
      child.off('message', onMessage);
      resolve(message.value);
    };
    child.on('message', onMessage);
    child.send({ ...order, id });
  });
}
