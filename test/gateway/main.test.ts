/**
 * The real process: `src/main.ts` in a child node (through the same swc
 * transform as Jest), as `npm start` runs it, with a controlled environment.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../support/redis-server';

const root = join(__dirname, '..', '..');
const nodeArgs = ['-r', './test/support/ts-register.cjs', 'src/main.ts'];
const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'silent' };

function runToExit(env: Record<string, string>) {
  return spawnSync(process.execPath, nodeArgs, { cwd: root, env: { ...baseEnv, ...env }, encoding: 'utf8', timeout: 60_000 });
}

describe('the gateway process', () => {
  test('PORT=abc exits 2 with one line naming the variable and the reason', () => {
    const result = runToExit({ PORT: 'abc' });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe('pivot-gateway: configuration error: PORT: expected an integer 1-65535, got "abc"');
  });

  test('settings only checked as the gateway is built (a JWK Set without a private key) also exit 2 with one line', () => {
    const result = runToExit({ PIVOT_SIGNING_KEYS: '{"keys":[{"kty":"oct","k":"abc"}]}' });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^pivot-gateway: configuration error: PIVOT_SIGNING_KEYS: /)]);
  });

  test('through the CLI, with Redis configured, such a setting still ends the process (no connection left open)', () => {
    // What bin/pivot-gateway.js does: sets exitCode and lets the event loop drain; an open Redis socket would hang it.
    const result = spawnSync(process.execPath, ['-r', './test/support/ts-register.cjs', '-e', "require('./src/cli/main.ts').main(['start']).then((code) => { process.exitCode = code; })"], {
      cwd: root,
      env: { ...baseEnv, REDIS_URL: process.env.TEST_REDIS_URL!, PIVOT_SIGNING_KEYS: '{"keys":[{"kty":"oct","k":"abc"}]}' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.signal).toBeNull(); // not killed by the timeout
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^pivot-gateway: configuration error: PIVOT_SIGNING_KEYS: /m);
  });

  test('NODE_ENV=production without its required variables exits 2 naming each one', () => {
    const result = runToExit({ NODE_ENV: 'production' });
    expect(result.status).toBe(2);
    for (const name of ['REDIS_URL', 'PIVOT_SIGNING_KEYS', 'DATA_ENCRYPTION_KEYS', 'PUBLIC_URL', 'ADVISOR_JWKS_URL', 'ADVISOR_ISSUER', 'ADVISOR_AUDIENCE']) {
      expect(result.stderr).toContain(`pivot-gateway: configuration error: ${name}: required when NODE_ENV=production`);
    }
  });

  test('zero configuration: /healthz and /readyz answer, SIGINT exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, nodeArgs, { cwd: root, env: { ...baseEnv, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 45_000;
      let ready = 0;
      while (Date.now() < deadline && ready !== 200) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
        if (ready !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // The dev advisor link is the one token ever printed, and only in development.
      expect(stdout).toMatch(/Advisor console \(dev only\): http:\/\/localhost:\d+\/console\/#token=ey/);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  }, 90_000);
});
