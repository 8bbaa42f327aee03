/**
 * `pivot-gateway simulate`: its webhooks pass the real connectors' signature
 * checks (so they are signed exactly as the platforms sign), and bad input is
 * one line and exit code 2. (Kept beside the connectors it exercises.)
 */
import { createConnectors } from '../../connectors/registry';
import { simulateCommand } from '../../src/cli/simulate';
import type { PublicChannel } from '../../src/messages';
import { buildParts, startApp, TEST_SECRETS, threadOf, uniqueDigits, type App, type Parts } from './support/gateway-parts';

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, streams: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) } } };
}

const ENV = { NODE_ENV: 'test', PUBLIC_URL: 'https://gw.example', ...TEST_SECRETS };

describe('pivot-gateway simulate', () => {
  let parts: Parts;
  let app: App;

  beforeAll(async () => {
    parts = await buildParts();
    app = await startApp([...new Set(createConnectors(parts.ctx).values())]);
  });
  afterAll(async () => {
    await app.close();
    await parts.store.close();
  });

  it.each([
    ['sms', `+1555${uniqueDigits(7)}`, 'sms'],
    ['whatsapp', `+1555${uniqueDigits(7)}`, 'whatsapp'],
    ['messenger', uniqueDigits(16), 'messenger'],
  ] as const)('%s: the gateway accepts the signed webhook and stores the message', async (channel, from, stored) => {
    const { out, streams } = io();
    const code = await simulateCommand([channel, 'hello from the CLI', '--from', from, '--url', app.url], streams, ENV);
    expect(out.stderr).toBe('');
    expect(code).toBe(0);
    expect(out.stdout).toMatch(/HTTP 200 OK/);
    expect((await threadOf(parts.store, stored as PublicChannel, from)).map((m) => m.text)).toEqual(['hello from the CLI']);
  });

  it('exits 1 and prints the gateway\'s refusal when the secret is not the gateway\'s', async () => {
    const { out, streams } = io();
    const code = await simulateCommand(['sms', 'hi', '--url', app.url], streams, { ...ENV, TWILIO_AUTH_TOKEN: 'someone-elses-token' });
    expect(code).toBe(1);
    expect(out.stdout).toMatch(/HTTP 401/);
    expect(out.stdout).toContain('GW_ERR_WEBHOOK_SIGNATURE');
  });

  it.each([
    [[], /missing <channel>/],
    [['telegram', 'hi'], /unknown channel "telegram"/],
    [['sms'], /missing "text"/],
    [['sms', 'hi', 'there'], /unexpected argument "there"/],
    [['sms', 'hi', '--from', '5551234'], /--from: expected an E\.164 number/],
    [['messenger', 'hi', '--from', '+1555'], /--from: expected a page-scoped id/],
    [['sms', 'hi', '--url', 'ftp://x'], /--url: expected http or https/],
    [['sms', 'hi', '--url'], /--url needs a value/],
    [['sms', 'hi', '--verbose'], /unknown option "--verbose"/],
  ])('bad input %j: one line on stderr, exit 2', async (args, message) => {
    const { out, streams } = io();
    expect(await simulateCommand(args, streams, ENV)).toBe(2);
    expect(out.stderr).toMatch(message);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a missing secret is bad input too, named by its variable', async () => {
    const { out, streams } = io();
    expect(await simulateCommand(['messenger', 'hi'], streams, { NODE_ENV: 'test' })).toBe(2);
    expect(out.stderr).toMatch(/MESSENGER_APP_SECRET is not set/);
  });

  it('--help prints the usage and exits 0', async () => {
    const { out, streams } = io();
    expect(await simulateCommand(['--help'], streams, {})).toBe(0);
    expect(out.stdout).toMatch(/^Usage: pivot-gateway simulate <messenger\|whatsapp\|sms> "text"/);
  });
});
