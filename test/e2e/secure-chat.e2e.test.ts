/**
 * The secure chat webview in headless Chromium (playwright-core + Debian
 * chromium) against a real gateway node (Socket.IO, Redis, ledger, sessions):
 * what the customer sees after tapping "Continue securely".
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Conversation } from '../../src/messages';
import { buildWebview, launchBrowser, type Browser } from '../support/browser';
import { connectAdvisor, seedConversation, startChatNode, until, type ChatNode, type RecordedAdvisor } from '../support/chat-harness';

jest.setTimeout(120_000);

const SCREENSHOT = join(__dirname, '..', '..', 'docs', 'img', 'secure-chat.png');

describe('secure chat webview (Chromium)', () => {
  let webviewDir: string;
  let node: ChatNode;
  let browser: Browser;
  let page: Page;
  let advisor: RecordedAdvisor;
  let conversation: Conversation;
  let pivotUrl: string;
  let pivotId: string;
  const dialogs: string[] = [];
  const robin = { sub: 'advisor-robin', name: 'Robin' };

  const texts = () => page.locator('#thread li.msg .text').allTextContents();
  const status = () => page.locator('#status').textContent();

  beforeAll(async () => {
    webviewDir = await buildWebview('secure-chat');
    node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, webviewDir });
    ({ conversation } = await seedConversation(node.store, [
      { author: 'customer', channel: 'sms', text: 'Hi, I want to move money to my savings' },
      { author: 'bot', channel: 'sms', text: 'I can help with that. Tap the button to continue in our secure chat.' },
    ]));
    const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    pivotUrl = pivot.url;
    pivotId = pivot.pivotId;
    advisor = await connectAdvisor(node, await node.advisorAuth.mintDevToken(robin.sub, robin.name, 3600));
    expect(await advisor.socket.timeout(5000).emitWithAck('watch', { conversationId: conversation.id })).toEqual({ ok: true });
    browser = await launchBrowser({ viewport: { width: 390, height: 844 } });
    page = await browser.context.newPage();
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  afterAll(async () => {
    advisor?.socket.disconnect();
    await browser?.close();
    await node?.close();
    if (webviewDir) rmSync(webviewDir, { recursive: true, force: true });
  });

  test('opens the pivot link: the token leaves the address bar, and nothing is redeemed before the tap', async () => {
    await page.goto(pivotUrl);
    await page.getByRole('button', { name: 'Open secure chat' }).waitFor();
    const href = await page.evaluate(() => window.location.href);
    expect(href).toBe(`${node.url}/secure/`);
    expect(href).not.toContain('#t=');
    expect((await node.ledger.record(conversation.id, pivotId))?.state).toBe('issued');
  });

  test('after the tap: secure, with the earlier SMS messages, their source and author', async () => {
    await page.getByRole('button', { name: 'Open secure chat' }).click();
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await status()).toBe('Secure');
    expect((await node.ledger.record(conversation.id, pivotId))?.state).toBe('redeemed');
    expect(await texts()).toEqual(['Hi, I want to move money to my savings', 'I can help with that. Tap the button to continue in our secure chat.']);
    expect(await page.locator('#thread li.msg .via').allTextContents()).toEqual(['via SMS', 'via SMS']);
    expect(await page.locator('#thread li.msg .author').allTextContents()).toEqual(['You', 'Assistant']);
    expect(await page.locator('#thread .divider').count()).toBe(0);
    expect(await page.evaluate(() => window.location.href)).not.toContain('#t=');
    // Accessible: a labelled input, a live log, a live status.
    await page.getByRole('textbox', { name: 'Message' }).waitFor();
    expect(await page.locator('#thread').getAttribute('role')).toBe('log');
    expect(await page.locator('#status').getAttribute('aria-live')).toBe('polite');
  });

  test('a message typed in the page reaches the advisor; the advisor reply shows up; a divider marks the secure part', async () => {
    await page.getByRole('textbox', { name: 'Message' }).fill('Hello from the secure page');
    await page.keyboard.press('Enter');
    await until(() => advisor.messages.some((m) => m.text === 'Hello from the secure page'), 'advisor receives the customer message', 10_000);
    const received = advisor.messages.find((m) => m.text === 'Hello from the secure page')!;
    expect(received).toMatchObject({ author: 'customer', channel: 'secure', conversationId: conversation.id });

    await node.replies.deliverAdvisorReply(conversation.id, 'Hi, this is Robin. How much would you like to move?', robin);
    await page.getByText('Hi, this is Robin. How much would you like to move?').waitFor();
    expect(await page.locator('#thread > li').evaluateAll((items) => items.map((li) => (li.classList.contains('divider') ? '---' : li.querySelector('.text')?.textContent)))).toEqual([
      'Hi, I want to move money to my savings',
      'I can help with that. Tap the button to continue in our secure chat.',
      '---',
      'Hello from the secure page',
      'Hi, this is Robin. How much would you like to move?',
    ]);
  });

  test('offline: misses two advisor messages, comes back and shows both, once', async () => {
    await browser.context.setOffline(true);
    // The network drops: the server side of the connection goes away too.
    for (const socket of node.sockets.io.of('/secure').sockets.values()) if (socket.data.conversationId === conversation.id) socket.conn.close();
    await page.locator('#status[data-state="reconnecting"]').waitFor();

    await node.replies.deliverAdvisorReply(conversation.id, 'First message while you were away', robin);
    await node.replies.deliverAdvisorReply(conversation.id, 'Second message while you were away', robin);
    expect(node.nudges.map((n) => n.id)).toContain(conversation.id); // the customer was told, without the text

    await browser.context.setOffline(false);
    await page.locator('#status[data-state="secure"]').waitFor({ timeout: 30_000 });
    await page.getByText('Second message while you were away').waitFor();
    const shown = await texts();
    expect(shown.filter((t) => t === 'First message while you were away')).toHaveLength(1);
    expect(shown.filter((t) => t === 'Second message while you were away')).toHaveLength(1);
    expect(shown).toEqual((await node.store.readLatestMessages(conversation.id, 500)).messages.map((m) => m.text));
  });

  test('a reload resumes without the token, with the whole thread once', async () => {
    await page.reload();
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await page.evaluate(() => window.location.href)).toBe(`${node.url}/secure/`);
    await page.getByText('Second message while you were away').waitFor();
    expect(await texts()).toEqual((await node.store.readLatestMessages(conversation.id, 500)).messages.map((m) => m.text));
    expect(await page.locator('#thread .divider').count()).toBe(1);
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: false });
  });

  test('markup in a message is shown as text, never run', async () => {
    const attack = '<img src=x onerror=alert(1)>';
    await node.replies.deliverAdvisorReply(conversation.id, attack, robin);
    await page.getByText(attack).waitFor();
    expect(await page.locator('#thread img').count()).toBe(0);
    expect((await texts()).at(-1)).toBe(attack);
    await page.getByRole('textbox', { name: 'Message' }).fill('<script>alert(2)</script>');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText('<script>alert(2)</script>').waitFor();
    expect(await page.locator('#thread script').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  test('works at 320 px wide: nothing scrolls sideways', async () => {
    await page.setViewportSize({ width: 320, height: 640 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
    await page.getByRole('textbox', { name: 'Message' }).waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor();
  });

  test('refusals get their own page: the same link again (already used), then a locked conversation', async () => {
    const other = await browser.context.newPage();
    await other.goto(pivotUrl);
    await other.getByRole('button', { name: 'Open secure chat' }).click();
    await other.getByRole('heading', { name: 'This link was already used' }).waitFor();
    expect(await other.locator('#status').textContent()).toBe('Ended');
    await other.close();

    await node.ledger.lock(conversation.id, { kind: 'advisor', id: robin.sub }, 'test');
    await page.locator('#status[data-state="ended"]').waitFor();
    await page.locator('#refusal-title').waitFor();
    expect(await page.locator('#refusal-title').textContent()).toMatch(/Secure chat is locked|Your secure chat has ended/);
    expect(await page.locator('#composer').isHidden()).toBe(true);
  });
});
