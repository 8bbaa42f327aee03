/**
 * The secure chat webview in headless Chromium (playwright-core + Debian
 * chromium) against a real gateway node (Socket.IO, Redis, ledger, sessions):
 * what the customer sees after tapping "Continue securely".
 */
import { mkdirSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Conversation } from '../../src/messages';
import { buildWebview, launchBrowser, type Browser } from '../support/browser';
import { connectAdvisor, seedConversation, SMS_THREAD, startChatNode, until, type ChatNode, type RecordedAdvisor } from '../support/chat-harness';

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
  /** Socket.IO long-polling requests the browser made (the Node advisor client uses WebSocket only). */
  const pollingFromBrowser: string[] = [];
  const recordPolling = (req: IncomingMessage) => {
    if (req.url?.includes('/socket.io/') && req.url.includes('transport=polling') && /Chrome/.test(req.headers['user-agent'] ?? '')) pollingFromBrowser.push(req.url);
  };

  beforeAll(async () => {
    webviewDir = await buildWebview('secure-chat');
    node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, webviewDir });
    node.server.prependListener('request', recordPolling);
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

  test('connects over WebSocket first: no long-polling handshake (Safari before 16.4 sends no Sec-Fetch-Site on it)', async () => {
    const sockets = [...node.sockets.io.of('/secure').sockets.values()].filter((s) => s.data.conversationId === conversation.id);
    expect(sockets.map((s) => s.conn.transport.name)).toEqual(['websocket']);
    expect(pollingFromBrowser).toEqual([]);
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

  test('a message stored before the page\'s own but not yet delivered live (still crossing Redis) is not skipped by a resume', async () => {
    // An advisor message stored on another node whose live delivery has not arrived: stored only, no fan-out.
    const { message: inFlight } = await node.store.appendMessage(conversation.id, { author: 'advisor', channel: 'secure', text: 'Stored on node A, still on its way', authorName: 'Robin' });
    await page.getByRole('textbox', { name: 'Message' }).fill('Sent after it');
    await page.keyboard.press('Enter');
    await until(() => advisor.messages.some((m) => m.text === 'Sent after it'), 'the page message stored', 10_000);
    expect(advisor.messages.find((m) => m.text === 'Sent after it')!.id > inFlight.id).toBe(true);
    await page.locator('#thread li[data-id]').filter({ hasText: 'Sent after it' }).waitFor(); // acked

    // The connection drops before the live delivery arrives; the resume must bring it.
    for (const socket of node.sockets.io.of('/secure').sockets.values()) if (socket.data.conversationId === conversation.id) socket.conn.close();
    await page.locator('#status[data-state="secure"]').waitFor({ timeout: 30_000 });
    await page.getByText('Stored on node A, still on its way').waitFor();
    const shown = await texts();
    expect(shown.filter((t) => t === 'Sent after it')).toHaveLength(1);
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

  test('a send that fails is said in its own live region; a send that succeeds is added to the log once', async () => {
    const announcer = page.locator('#announcer');
    expect(await announcer.getAttribute('role')).toBe('status');
    expect(await announcer.getAttribute('aria-live')).toBe('polite');
    expect(await page.locator('#thread #announcer').count()).toBe(0);
    // Every element added to the log is read out: count them per text.
    await page.evaluate(() => {
      const added: string[] = [];
      (window as unknown as { addedToLog: string[] }).addedToLog = added;
      new MutationObserver((records) => {
        for (const record of records) for (const node of record.addedNodes) if (node instanceof HTMLElement && node.matches('li.msg')) added.push(node.querySelector('.text')?.textContent ?? '');
      }).observe(document.getElementById('thread')!, { childList: true });
    });

    await page.getByRole('textbox', { name: 'Message' }).fill('Sent once, heard once');
    await page.keyboard.press('Enter');
    await page.locator('#thread li.msg[data-id]', { hasText: 'Sent once, heard once' }).waitFor();
    expect(await page.locator('#thread li.msg', { hasText: 'Sent once, heard once' }).count()).toBe(1);

    // Only control characters: the server strips them and refuses an empty message (invalid_message).
    await page.getByRole('textbox', { name: 'Message' }).fill('\u0007');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#thread li.msg.failed .flag').waitFor();
    expect(await page.locator('#thread li.msg.failed .flag').textContent()).toBe('Not sent: the message is empty or too long.');
    await page.waitForFunction(() => document.getElementById('announcer')?.textContent?.includes('Not sent'));
    expect(await announcer.textContent()).toContain('Not sent: the message is empty or too long.');
    const added = await page.evaluate(() => (window as unknown as { addedToLog: string[] }).addedToLog);
    expect(added.filter((t) => t === 'Sent once, heard once')).toHaveLength(1);
    expect(added).toHaveLength(2); // the two bubbles, each once
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

/**
 * A link opened in a tab that already had the chat: the nudge's fresh link after the session ended, a
 * link while the chat is live, this tab's own link again, a full load over an ended session, a refused
 * link over a live one; and the transports (Safari before 16.4, a network that blocks WebSockets).
 */
describe('secure chat webview: a fresh link in a tab that already had the chat (Chromium)', () => {
  let webviewDir: string;
  let node: ChatNode;
  let browser: Browser;
  let page: Page;
  let conversation: Conversation;
  let firstLink: Link;
  let liveLink: Link;

  interface Link {
    url: string;
    pivotId: string;
  }
  const issue = async (conversationId = conversation.id): Promise<Link> => {
    const pivot = await node.ledger.issue(conversationId, 'view_account', { kind: 'advisor' });
    return { url: pivot.url, pivotId: pivot.pivotId };
  };
  const stateOf = async (link: Link, conversationId = conversation.id) => (await node.ledger.record(conversationId, link.pivotId))?.state;
  const visibleViews = (p: Page) => p.evaluate(() => ['view-start', 'view-refusal', 'view-chat'].filter((id) => !document.getElementById(id)!.hidden));
  const customerSockets = (conversationId = conversation.id) => [...node.sockets.io.of('/secure').sockets.values()].filter((s) => s.data.conversationId === conversationId);
  const threadTexts = (p: Page) => p.locator('#thread li.msg .text').allTextContents();
  /** Follows a link inside the page, as a tapped link in a tab already on /secure/ does: only the fragment changes. */
  const followInPage = (url: string) =>
    page.evaluate((href) => {
      window.location.href = href;
    }, url);
  const tokenGone = (p: Page) => p.waitForFunction(() => !window.location.href.includes('#'), undefined, { timeout: 2000 });
  const markDocument = () =>
    page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });
  const sameDocument = () => page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true);

  beforeAll(async () => {
    webviewDir = await buildWebview('secure-chat');
    node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, webviewDir });
    ({ conversation } = await seedConversation(node.store, SMS_THREAD));
    firstLink = await issue();
    browser = await launchBrowser({ viewport: { width: 390, height: 844 } });
    page = await browser.context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await node?.close();
    if (webviewDir) rmSync(webviewDir, { recursive: true, force: true });
  });

  test('the session ends, then the fresh link opens in the same tab (no reload): token gone at once, the tap page, redeemed on the tap', async () => {
    await page.goto(firstLink.url);
    await page.getByRole('button', { name: 'Open secure chat' }).click();
    await page.locator('#status[data-state="secure"]').waitFor();
    await node.sessions.revokeAll(conversation.id, 'revoked');
    await page.getByRole('heading', { name: 'Your secure chat has ended' }).waitFor();

    const fresh = await issue();
    await markDocument();
    await followInPage(fresh.url);
    await tokenGone(page);
    expect(await page.evaluate(() => window.location.href)).toBe(`${node.url}/secure/`);
    await page.getByRole('button', { name: 'Open secure chat' }).waitFor();
    expect(await visibleViews(page)).toEqual(['view-start']);
    expect(await sameDocument()).toBe(true);
    expect(await stateOf(fresh)).toBe('issued'); // nothing spent before the tap

    await page.getByRole('button', { name: 'Open secure chat' }).click();
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await stateOf(fresh)).toBe('redeemed');
    expect(await visibleViews(page)).toEqual(['view-chat']);
    expect(await threadTexts(page)).toEqual(SMS_THREAD.map((m) => m.text));
  });

  test('a fresh link while the chat is live: the tap page (the old session is let go), then the new session', async () => {
    liveLink = await issue();
    await followInPage(liveLink.url);
    await tokenGone(page);
    await page.getByRole('button', { name: 'Open secure chat' }).waitFor();
    expect(await stateOf(liveLink)).toBe('issued');
    await until(() => customerSockets().length === 0, 'the old session disconnects while the tap page shows');

    await page.getByRole('button', { name: 'Open secure chat' }).click();
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await stateOf(liveLink)).toBe('redeemed');
    expect(await sameDocument()).toBe(true);
    expect(await threadTexts(page)).toEqual(SMS_THREAD.map((m) => m.text));
  });

  test("this tab's own link again (in the page, then a full load): it resumes the session, no tap and no \"already used\"", async () => {
    await followInPage(liveLink.url);
    await tokenGone(page);
    await page.waitForTimeout(300);
    expect(await visibleViews(page)).toEqual(['view-chat']);
    expect(await page.locator('#status').getAttribute('data-state')).toBe('secure');

    await page.goto('about:blank');
    await page.goto(liveLink.url);
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await page.evaluate(() => window.location.href)).toBe(`${node.url}/secure/`);
    expect(await visibleViews(page)).toEqual(['view-chat']);
    expect(await threadTexts(page)).toEqual(SMS_THREAD.map((m) => m.text));
  });

  test('a full load of a fresh link while sessionStorage holds an ended session: the tap page, not "your chat has ended"', async () => {
    await page.goto('about:blank');
    await node.sessions.revokeAll(conversation.id, 'revoked'); // ended while the person was away
    const fresh = await issue();
    await page.goto(fresh.url);
    await page.getByRole('button', { name: 'Open secure chat' }).waitFor();
    expect(await page.evaluate(() => window.location.href)).toBe(`${node.url}/secure/`);
    expect(await visibleViews(page)).toEqual(['view-start']);
    expect(await page.evaluate(() => sessionStorage.getItem('pg.secure.session'))).not.toBeNull(); // the old one, not used
    expect(customerSockets()).toHaveLength(0); // nothing connects before the tap
    expect(await stateOf(fresh)).toBe('issued');

    await page.getByRole('button', { name: 'Open secure chat' }).click();
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await stateOf(fresh)).toBe('redeemed');
    expect(await threadTexts(page)).toEqual(SMS_THREAD.map((m) => m.text));
  });

  test('an old, already used link over a live session: "already used" is said, and the chat is one tap away', async () => {
    await page.goto('about:blank');
    await page.goto(firstLink.url);
    await page.getByRole('button', { name: 'Open secure chat' }).click();
    await page.getByRole('heading', { name: 'This link was already used' }).waitFor();
    await page.getByRole('button', { name: 'Back to your secure chat' }).click();
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await visibleViews(page)).toEqual(['view-chat']);
    expect(await threadTexts(page)).toEqual(SMS_THREAD.map((m) => m.text));
  });

  test('a link for another conversation over a live chat: the other thread replaces this one, nothing of it stays', async () => {
    const { conversation: other } = await seedConversation(node.store, [{ author: 'customer', channel: 'whatsapp', text: 'A different thread' }]);
    const link = await issue(other.id);
    await followInPage(link.url);
    await tokenGone(page);
    await page.getByRole('button', { name: 'Open secure chat' }).click();
    await page.locator('#status[data-state="secure"]').waitFor();
    expect(await stateOf(link, other.id)).toBe('redeemed');
    expect(await threadTexts(page)).toEqual(['A different thread']);
    expect(await page.locator('#thread .via').allTextContents()).toEqual(['via WhatsApp']);
  });

  test('Safari before 16.4 (no Sec-Fetch-Site on a long-polling handshake, which the origin check refuses): connects over WebSocket', async () => {
    // Chromium adds Sec-Fetch-* below anything a route can change: the server drops them from this page's requests
    // before Socket.IO's origin check sees them, as if they had never been sent.
    const oldSafari = (req: IncomingMessage) => {
      if (req.headers['x-test-emulate'] !== 'safari-15') return;
      for (const name of ['sec-fetch-site', 'sec-fetch-mode', 'sec-fetch-dest', 'sec-fetch-user']) delete req.headers[name];
    };
    node.server.prependListener('request', oldSafari);
    node.server.prependListener('upgrade', oldSafari);
    const safari = await browser.context.newPage();
    try {
      await safari.setExtraHTTPHeaders({ 'x-test-emulate': 'safari-15' });
      const link = await issue();
      await safari.goto(link.url);
      // The premise: such a polling handshake is refused (and stays so: the server's check is not loosened).
      expect(await safari.evaluate(async () => (await fetch('/socket.io/?EIO=4&transport=polling')).status)).toBeGreaterThanOrEqual(400);
      await safari.getByRole('button', { name: 'Open secure chat' }).click();
      await safari.locator('#status[data-state="secure"]').waitFor({ timeout: 10_000 });
      expect(await stateOf(link)).toBe('redeemed');
      expect(customerSockets().map((s) => s.conn.transport.name)).toEqual(['websocket']);
    } finally {
      await safari.close();
      node.server.removeListener('request', oldSafari);
      node.server.removeListener('upgrade', oldSafari);
    }
  });

  test('a network that blocks WebSockets: falls back to long-polling', async () => {
    const blocked = await browser.context.newPage();
    try {
      await blocked.addInitScript(() => {
        // As a proxy that refuses the upgrade: the WebSocket errors and closes without opening.
        class BlockedWebSocket {
          static readonly CONNECTING = 0;
          static readonly OPEN = 1;
          static readonly CLOSING = 2;
          static readonly CLOSED = 3;
          readyState = 0;
          binaryType = 'blob';
          onopen: (() => void) | null = null;
          onerror: ((event: Event) => void) | null = null;
          onclose: ((event: { code: number; reason: string }) => void) | null = null;
          onmessage: (() => void) | null = null;
          constructor() {
            setTimeout(() => {
              this.readyState = 3;
              this.onerror?.(new Event('error'));
              this.onclose?.({ code: 1006, reason: '' });
            }, 10);
          }
          send(): void {}
          close(): void {}
        }
        Object.defineProperty(window, 'WebSocket', { value: BlockedWebSocket, configurable: true, writable: true });
      });
      const { conversation: other } = await seedConversation(node.store, SMS_THREAD);
      const link = await issue(other.id);
      await blocked.goto(link.url);
      await blocked.getByRole('button', { name: 'Open secure chat' }).click();
      await blocked.locator('#status[data-state="secure"]').waitFor({ timeout: 10_000 });
      expect(customerSockets(other.id).map((s) => s.conn.transport.name)).toEqual(['polling']);
      expect(await threadTexts(blocked)).toEqual(SMS_THREAD.map((m) => m.text));
    } finally {
      await blocked.close();
    }
  });
});
