/**
 * The sandbox phone (`/sandbox/`, dev only) in headless Chromium against a
 * real zero-config gateway: the page → the sandbox connector's API → the same
 * ingest path as a real platform → the bot → a pivot invite drawn as a
 * native "Continue securely" button → the real secure webview, whose history
 * holds the sandbox messages (issue 5's browser test).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig, type Config } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import type { Conversation } from '../../src/messages';
import { silentLogger } from '../../src/ops/logger';
import { sandboxRouter } from '../../src/pages/sandbox.route';
import { browserContexts, ensureWebviewsBuilt, freePort, launchChromium } from '../support/browser-launch';

let gateway: Gateway;
let browser: Browser;
let base: string;
let config: Readonly<Config>;
const contexts = browserContexts(() => browser);

beforeAll(async () => {
  ensureWebviewsBuilt(['sandbox', 'secure-chat']);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  config = loadConfig({ NODE_ENV: 'test', PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: base });
  gateway = await startGateway(config, silentLogger(), { port, host: '127.0.0.1', defaultMetrics: false });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
});

afterEach(async () => {
  await contexts.closeAll();
});

async function newPhone(): Promise<{ context: BrowserContext; phone: Page }> {
  const context = await contexts.open({ viewport: { width: 1024, height: 800 } });
  const phone = await context.newPage();
  await phone.goto(`${base}/sandbox/`);
  await phone.locator('#link-state[data-state="live"]').waitFor();
  return { context, phone };
}

async function useSender(phone: Page, platform: 'sms' | 'messenger' | 'whatsapp', from: string): Promise<void> {
  await phone.check(`#platform-${platform}`);
  await phone.fill('#from', from);
  await phone.click('#use-sender');
  await phone.locator('#contact-sub', { hasText: from }).waitFor();
  await phone.locator('#link-state[data-state="live"]').waitFor();
}

async function say(phone: Page, text: string): Promise<void> {
  await phone.fill('#text', text);
  await phone.press('#text', 'Enter');
  await phone.locator('.bubble.mine.state-sent', { hasText: text }).waitFor();
}

async function conversationOf(externalUserId: string, token: string): Promise<Conversation> {
  const response = await fetch(`${base}/api/conversations?limit=200`, { headers: { Authorization: `Bearer ${token}` } });
  const page = (await response.json()) as { items: Conversation[] };
  const found = page.items.find((c) => c.externalUserId === externalUserId);
  if (!found) throw new Error(`no conversation for ${externalUserId}`);
  return found;
}

test('sandbox page → the bot sends a pivot invite → the button opens the secure webview with the sandbox messages in its history', async () => {
  const { context, phone } = await newPhone();
  await useSender(phone, 'sms', '+15557010001');
  await say(phone, 'Hello! Can you help me with something?');
  await say(phone, 'I want to check my balance');

  // SMS: the text carries the link, the phone shows a preview card with the button.
  const invite = phone.locator('li.kind-invite .preview a.invite-button', { hasText: 'Continue securely' });
  await invite.waitFor();
  expect(await phone.locator('li.kind-invite .sms-link').textContent()).toContain(`${base}/secure/`);
  const href = (await invite.getAttribute('href')) ?? '';
  expect(href.startsWith(`${base}/secure/#t=`)).toBe(true);
  expect(await invite.getAttribute('rel')).toContain('noopener');

  const [secure] = await Promise.all([context.waitForEvent('page'), invite.click()]);
  await secure.locator('#open').click();
  await secure.locator('#status[data-state="secure"]').waitFor();
  await secure.locator('#thread li.msg', { hasText: 'Hello! Can you help me with something?' }).waitFor();
  await secure.locator('#thread li.msg', { hasText: 'I want to check my balance' }).waitFor();
  expect(await secure.locator('#thread li.msg[data-channel="sandbox"]').count()).toBeGreaterThanOrEqual(3);

  // The public leg is told the session opened (customer notice), on the phone.
  await phone.locator('li.kind-text', { hasText: 'secure session was opened' }).waitFor();
}, 120_000);

test('Messenger and WhatsApp invites are drawn as their platforms draw them; an advisor reply arrives live', async () => {
  const { phone } = await newPhone();
  const token = await gateway.services.advisorAuth.mintDevToken('advisor-e2e', 'Ada Advisor', 900);

  await useSender(phone, 'messenger', '6543210987654321');
  await say(phone, 'Can you show me my recent transactions?');
  await phone.locator('li.kind-invite .template .template-buttons a.invite-button').waitFor();

  const conversation = await conversationOf('6543210987654321', token);
  const reply = await fetch(`${base}/api/conversations/${conversation.id}/messages`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'sandbox-e2e-reply-1' },
    body: JSON.stringify({ text: 'An advisor here: tap the button to continue.' }),
  });
  expect(reply.status).toBe(201);
  await phone.locator('li.kind-text', { hasText: 'An advisor here' }).waitFor();

  await useSender(phone, 'whatsapp', '+15557010002');
  expect(await phone.locator('li.kind-invite').count()).toBe(0);
  await say(phone, 'What is my account balance?');
  await phone.locator('li.kind-invite .cta a.invite-button').waitFor();
  expect(await phone.getAttribute('body', 'data-platform')).toBe('whatsapp');
}, 120_000);

test('the phone keeps its own messages across a reload, and can open the secure link in the same tab', async () => {
  const { phone } = await newPhone();
  await useSender(phone, 'sms', '+15557010003');
  await say(phone, 'I want to check my balance');
  await phone.locator('li.kind-invite a.invite-button').waitFor();

  await phone.reload();
  await phone.locator('#link-state[data-state="live"]').waitFor();
  await phone.locator('.bubble.mine', { hasText: 'I want to check my balance' }).waitFor();
  const invite = phone.locator('li.kind-invite a.invite-button');
  await invite.waitFor();
  expect(await phone.inputValue('#from')).toBe('+15557010003');

  await phone.uncheck('#new-tab');
  expect(await invite.getAttribute('target')).toBeNull();
  await invite.click();
  await phone.waitForURL(/\/secure\/$/);
  await phone.locator('#open').click();
  await phone.locator('#thread li.msg', { hasText: 'I want to check my balance' }).waitFor();
}, 120_000);

test('a sender id that does not fit the platform is refused with an explanation', async () => {
  const { phone } = await newPhone();
  await phone.check('#platform-sms');
  await phone.fill('#from', '5551234');
  await phone.click('#use-sender');
  await phone.locator('#from-error:not([hidden])', { hasText: 'E.164' }).waitFor();
  expect(await phone.getAttribute('#from', 'aria-invalid')).toBe('true');
});

test('the sandbox page is served with strict headers', async () => {
  const response = await fetch(`${base}/sandbox/`);
  expect(response.status).toBe(200);
  const csp = response.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
  const html = await response.text();
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
  expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
});

test('without dev features (production) the sandbox page is not served, even if mounted', async () => {
  const app = express();
  app.use('/sandbox', sandboxRouter({ ...config, devFeatures: false }));
  app.use((_req, res) => {
    res.status(404).end();
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    expect((await fetch(`http://127.0.0.1:${port}/sandbox/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/sandbox/main.js`)).status).toBe(404);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
