/**
 * The advisor console (`/console/`) in headless Chromium against a real
 * gateway (zero-config: memory store, ephemeral keys, the sandbox channel),
 * with the sandbox phone playing the customer and the real secure webview.
 *
 * Must show (issue 7): the console sends a secure link to a sandbox
 * conversation, the customer opens it, messages go both ways, the console
 * shows the secure state change live; the screenshot goes to docs/img.
 * Every wait is Playwright's own (locator.waitFor / waitForFunction), never a
 * sleep or a timing assertion.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadConfig } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import { silentLogger } from '../../src/ops/logger';
import { browserContexts, ensureWebviewsBuilt, freePort, launchChromium } from '../support/browser-launch';

const LAPTOP = { width: 1280, height: 800 };
const SCREENSHOT = join(__dirname, '..', '..', 'docs', 'img', 'console.png');

let gateway: Gateway;
let browser: Browser;
let base: string;
const contexts = browserContexts(() => browser);

beforeAll(async () => {
  ensureWebviewsBuilt(['advisor-console', 'sandbox', 'secure-chat']);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = loadConfig({ NODE_ENV: 'test', PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: base });
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

function newContext(viewport = LAPTOP): Promise<BrowserContext> {
  return contexts.open({ viewport });
}

let customers = 0;
/** A sender id no other test uses: the memory store lives as long as the gateway. */
function nextCustomer(): string {
  customers += 1;
  return `+1555${String(2_000_000 + customers * 7919).padStart(7, '0')}`;
}

/** Opens the sandbox phone as `from` on `platform` and sends the first message. */
async function customerWrites(context: BrowserContext, from: string, text: string, platform: 'sms' | 'messenger' | 'whatsapp' = 'sms'): Promise<Page> {
  const phone = await context.newPage();
  await phone.goto(`${base}/sandbox/`);
  await phone.check(`#platform-${platform}`);
  await phone.fill('#from', from);
  await phone.click('#use-sender');
  await phone.fill('#text', text);
  await phone.press('#text', 'Enter');
  await phone.locator('.bubble.mine.state-sent', { hasText: text }).waitFor();
  return phone;
}

async function openConsole(context: BrowserContext, token?: string): Promise<Page> {
  const page = await context.newPage();
  const advisorToken = token ?? (await gateway.services.advisorAuth.mintDevToken('advisor-e2e', 'Ada Advisor', 900));
  await page.goto(`${base}/console/#token=${advisorToken}`);
  await page.locator('#connection[data-state="live"]').waitFor();
  return page;
}

function row(page: Page, externalUserId: string) {
  return page.locator('button.conversation', { hasText: externalUserId });
}

async function openConversation(page: Page, externalUserId: string): Promise<void> {
  await row(page, externalUserId).click();
  await page.locator('#thread-title', { hasText: externalUserId }).waitFor();
}

test('the console sends a secure link, the customer opens it, both write, and the console follows the secure state live', async () => {
  const context = await newContext();
  const from = nextCustomer();
  const phone = await customerWrites(context, from, 'Hello! Can you help me with something?');

  const advisor = await openConsole(context);
  await openConversation(advisor, from);
  await advisor.locator('#messages li.message[data-author="customer"][data-leg="public"]', { hasText: 'Can you help me' }).waitFor();
  expect(await advisor.getAttribute('#secure-state', 'data-secure')).toBe('none');

  // The public-channel guard rail: refused, explained, and the draft is kept.
  await advisor.fill('#reply-text', 'Please pay to DE89 3704 0044 0532 0130 00');
  await advisor.press('#reply-text', 'Enter');
  const refusal = advisor.locator('#reply-error[data-code="GW_ERR_SENSITIVE_ON_PUBLIC_CHANNEL"]');
  await refusal.waitFor();
  expect(await refusal.textContent()).toContain('send a secure link instead');
  expect(await advisor.inputValue('#reply-text')).toContain('DE89');
  await advisor.fill('#reply-text', '');

  await advisor.selectOption('#pivot-intent', 'view_account');
  await advisor.click('#pivot-send');
  await advisor.locator('#pivot-result', { hasText: 'sent' }).waitFor();
  await advisor.locator('#secure-state[data-secure="invited"]').waitFor();
  await row(advisor, from).and(advisor.locator('[data-secure="invited"]')).waitFor();

  // The customer taps the native button on the phone: the real secure webview opens in a new tab.
  const invite = phone.locator('li.kind-invite a.invite-button');
  await invite.waitFor();
  const [secure] = await Promise.all([context.waitForEvent('page'), invite.click()]);
  await secure.locator('#open').click();
  await secure.locator('#thread li.msg', { hasText: 'Can you help me' }).waitFor();

  // Live, without a reload: the header and the list row turn active; the audit trail records the redemption.
  await advisor.locator('#secure-state[data-secure="active"]').waitFor();
  await row(advisor, from).and(advisor.locator('[data-secure="active"]')).waitFor();
  await advisor.locator('#audit li[data-type="pivot_redeemed"]').waitFor();
  await advisor.locator('#reply-route[data-route="secure"]').waitFor();

  // Customer → advisor over the secure channel.
  await secure.fill('#text', 'What is my balance?');
  await secure.click('#send');
  await advisor.locator('#messages li.message[data-author="customer"][data-leg="secure"]', { hasText: 'What is my balance?' }).waitFor();
  await advisor.locator('#messages li.leg-divider-secure').waitFor();

  // Advisor → customer: goes over the secure channel, not to the phone.
  await advisor.fill('#reply-text', 'Your balance is 1,234.56 EUR.');
  await advisor.press('#reply-text', 'Enter');
  await advisor.locator('#messages li.message[data-author="advisor"][data-leg="secure"]', { hasText: '1,234.56 EUR' }).waitFor();
  await secure.locator('#thread li.msg', { hasText: 'Your balance is 1,234.56 EUR.' }).waitFor();
  expect(await advisor.locator('#reply-text').inputValue()).toBe('');
  expect(await phone.locator('#inbox', { hasText: '1,234.56' }).count()).toBe(0);

  await advisor.locator('#reply-text').blur();
  mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
  await advisor.screenshot({ path: SCREENSHOT });
}, 120_000);

test('an outbound message that fails for good turns "not delivered", with the reason, live in the open thread', async () => {
  const context = await newContext();
  const from = nextCustomer();
  // An SMS conversation on a gateway without Twilio: its outbound sends fail for good, with the platform gap as the reason.
  const { conversation } = await gateway.services.ingest({ channel: 'sms', externalUserId: from, platformMessageId: `SM${Date.now()}${customers}`, text: 'Hello there' });
  const advisor = await openConsole(context);
  await openConversation(advisor, from);
  await advisor.locator('#messages li.message[data-author="customer"]', { hasText: 'Hello there' }).waitFor();

  const { message } = await gateway.services.store.appendMessage(conversation.id, { author: 'bot', channel: 'sms', text: 'Our opening hours are 9 to 5.' });
  gateway.services.events.publish({ conversation, event: 'message', message });
  const shown = advisor.locator(`#messages li.message[data-id="${message.id}"]`);
  await shown.waitFor();
  expect(await shown.locator('.tag.failed').count()).toBe(0);
  await gateway.services.outbox.sendText(conversation.id, message.id);
  await shown.locator('.tag.failed', { hasText: 'not delivered' }).waitFor();
  expect(await shown.locator('.tag.failed').textContent()).toContain('No connector is configured');
  expect(await advisor.locator(`#messages li.message[data-id="${message.id}"]`).count()).toBe(1); // redrawn in place, not added again
}, 120_000);

test('lock ends the customer secure chat and shows on the console; unlock releases it', async () => {
  const context = await newContext();
  const from = nextCustomer();
  const phone = await customerWrites(context, from, 'I want to check my balance');
  // The bot recognises view_account and sends the invite by itself.
  const invite = phone.locator('li.kind-invite a.invite-button');
  await invite.waitFor();
  const [secure] = await Promise.all([context.waitForEvent('page'), invite.click()]);
  await secure.locator('#open').click();
  await secure.locator('#status[data-state="secure"]').waitFor();

  const advisor = await openConsole(context);
  await openConversation(advisor, from);
  await advisor.locator('#secure-state[data-secure="active"]').waitFor();
  expect(await advisor.isDisabled('#unlock')).toBe(true);

  await advisor.click('#lock');
  await advisor.locator('#secure-state[data-secure="locked"]').waitFor();
  await secure.locator('#status[data-state="ended"]').waitFor();
  await advisor.locator('#audit li[data-type="locked"]').waitFor();
  expect(await advisor.isDisabled('#lock')).toBe(true);
  expect(await advisor.isDisabled('#pivot-send')).toBe(true);
  expect(await advisor.getAttribute('#reply-route', 'data-route')).toBe('public');

  await advisor.click('#unlock');
  await advisor.locator('#secure-state:not([data-secure="locked"])').waitFor();
  await advisor.locator('#audit li[data-type="unlocked"]').waitFor();
  expect(await advisor.isDisabled('#pivot-send')).toBe(false);
}, 120_000);

test('the list updates live: a new conversation appears with its unread count; closing needs a confirmation', async () => {
  const context = await newContext();
  const first = nextCustomer();
  await customerWrites(context, first, 'Hello! Can you help me with something?');
  const advisor = await openConsole(context);
  await openConversation(advisor, first);

  const second = nextCustomer();
  const phone = await customerWrites(context, second, 'Hello! First message.');
  await row(advisor, second).waitFor();
  await phone.fill('#text', 'Hello! Second message.');
  await phone.press('#text', 'Enter');
  await row(advisor, second).locator('.unread', { hasText: '2' }).waitFor();
  expect(await row(advisor, second).getAttribute('aria-label')).toContain('2 unread');
  // Newest activity first.
  expect(await advisor.locator('button.conversation').first().textContent()).toContain(second);

  await row(advisor, second).click();
  await advisor.locator('#messages li.message', { hasText: 'Second message.' }).waitFor();
  expect(await row(advisor, second).locator('.unread').count()).toBe(0);

  await advisor.click('#close');
  await advisor.locator('#close-confirm:not([hidden])').waitFor();
  expect(await advisor.evaluate(() => document.activeElement?.id)).toBe('close-yes');
  await advisor.keyboard.press('Escape');
  await advisor.locator('#close-confirm').waitFor({ state: 'hidden' });
  expect(await advisor.evaluate(() => document.activeElement?.id)).toBe('close');
  await advisor.click('#close');
  await advisor.click('#close-yes');
  await advisor.locator('#thread-state[data-status="closed"]').waitFor();
  expect(await advisor.isDisabled('#reply-text')).toBe(true);
}, 120_000);

test('the token leaves the address bar, survives a reload in this tab, and a bad one asks to sign in', async () => {
  const context = await newContext();
  const from = nextCustomer();
  await customerWrites(context, from, 'Hello! Can you help me with something?');
  const token = await gateway.services.advisorAuth.mintDevToken('advisor-e2e', 'Ada Advisor', 900);
  const advisor = await openConsole(context, token);
  expect(new URL(advisor.url()).hash).toBe('');
  expect(await advisor.evaluate(() => sessionStorage.getItem('pivot-gateway.advisor-token'))).toBe(token);
  await row(advisor, from).waitFor();

  await advisor.reload();
  await advisor.locator('#connection[data-state="live"]').waitFor();
  await row(advisor, from).waitFor();

  const stranger = await context.newPage();
  await stranger.goto(`${base}/console/#token=not.a.valid-token`);
  await stranger.locator('#signin:not([hidden])').waitFor();
  expect(await stranger.locator('#workspace').isHidden()).toBe(true);
  expect(await stranger.evaluate(() => sessionStorage.getItem('pivot-gateway.advisor-token'))).toBeNull();

  // Pasting a valid token signs in.
  await stranger.fill('#signin-token', token);
  await stranger.press('#signin-token', 'Enter');
  await stranger.locator('#connection[data-state="live"]').waitFor();
  await row(stranger, from).waitFor();
}, 120_000);

test('keyboard: arrow keys move through conversations, Enter opens one, focus stays visible', async () => {
  const context = await newContext();
  const a = nextCustomer();
  const b = nextCustomer();
  await customerWrites(context, a, 'Hello! Can you help me with something?');
  await customerWrites(context, b, 'Hello! Can you help me with something else?');
  const advisor = await openConsole(context);
  await row(advisor, a).waitFor();
  await row(advisor, b).waitFor();

  const buttons = advisor.locator('button.conversation');
  await buttons.first().focus();
  await advisor.keyboard.press('ArrowDown');
  const focusedId = await advisor.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.id);
  expect(focusedId).toBe(await buttons.nth(1).getAttribute('data-id'));
  expect(await advisor.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle)).not.toBe('none');
  // One tab stop for the whole list (roving tabindex).
  expect(await advisor.locator('button.conversation[tabindex="0"]').count()).toBe(1);
  await advisor.keyboard.press('Enter');
  await advisor.locator(`button.conversation[data-id="${focusedId}"][aria-current="true"]`).waitFor();
}, 120_000);

test('customer text is shown as text, never as markup', async () => {
  const context = await newContext();
  const from = nextCustomer();
  const payload = '<img src=x onerror="document.title=\'pwned\'"> <b>bold</b>';
  await customerWrites(context, from, payload);
  const advisor = await openConsole(context);
  await openConversation(advisor, from);
  const message = advisor.locator('#messages li.message[data-author="customer"]').first();
  await message.waitFor();
  expect(await message.locator('.text').textContent()).toBe(payload);
  expect(await advisor.locator('#messages img, #messages b').count()).toBe(0);
  expect(await advisor.title()).not.toBe('pwned');
}, 120_000);

test('narrower than a laptop, the console reflows without horizontal scrolling', async () => {
  const context = await newContext({ width: 720, height: 900 });
  const from = nextCustomer();
  await customerWrites(context, from, 'Hello! Can you help me with something?');
  const advisor = await openConsole(context);
  await openConversation(advisor, from);
  await advisor.locator('#messages li.message').first().waitFor();
  expect(await advisor.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
}, 120_000);

test('the console page is served with strict headers and no inline code', async () => {
  const redirect = await fetch(`${base}/console`, { redirect: 'manual' });
  expect(redirect.status).toBe(301);
  expect(redirect.headers.get('location')).toBe('/console/');

  const response = await fetch(`${base}/console/`);
  expect(response.status).toBe(200);
  const csp = response.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("style-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
  expect(response.headers.get('x-frame-options')).toBe('DENY');
  const html = await response.text();
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
  expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
});
