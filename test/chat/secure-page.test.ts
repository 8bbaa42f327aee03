/**
 * `GET /secure/`: the page's headers, and that fetching it (as a link-preview
 * bot does, even with the token in a query string) consumes nothing.
 */
import { rmSync } from 'node:fs';
import { buildWebview } from '../support/browser';
import { connectCustomer, seedConversation, SMS_THREAD, startChatNode, type ChatNode } from '../support/chat-harness';

describe('GET /secure/', () => {
  let webviewDir: string;
  let node: ChatNode;
  let framed: ChatNode;

  beforeAll(async () => {
    webviewDir = await buildWebview('secure-chat');
    node = await startChatNode({ redisUrl: process.env.TEST_REDIS_URL!, webviewDir });
    framed = await startChatNode({ webviewDir, allowedEmbedOrigins: 'https://app.bank.example https://partner.bank.example' });
  });
  afterAll(async () => {
    await node.close();
    await framed.close();
    rmSync(webviewDir, { recursive: true, force: true });
  });

  test('serves the page with a strict CSP, no-store, no-referrer, and no framing by default', async () => {
    const res = await fetch(`${node.url}/secure/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(directives['connect-src']).toEqual(["'self'", `ws://${new URL(node.url).host}`]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'none'"]);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).toContain('Open secure chat');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
  });

  test('with ALLOWED_EMBED_ORIGINS: frame-ancestors lists them and X-Frame-Options is absent', async () => {
    const res = await fetch(`${framed.url}/secure/`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain('frame-ancestors https://app.bank.example https://partner.bank.example');
    expect(res.headers.get('x-frame-options')).toBeNull();
  });

  test('serves its script and stylesheet with the same headers; nothing else under /secure', async () => {
    const js = await fetch(`${node.url}/secure/main.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(js.headers.get('cache-control')).toBe('no-store');
    const css = await fetch(`${node.url}/secure/styles.css`);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    for (const path of ['/secure/main.ts', '/secure/../package.json', '/secure/%2e%2e%2fpackage.json', '/secure/return', '/secure/index.html']) {
      expect((await fetch(`${node.url}${path}`, { redirect: 'manual' })).status).toBe(404);
    }
  });

  test('/secure redirects to /secure/ (the fragment, kept by the browser, carries the token)', async () => {
    const res = await fetch(`${node.url}/secure`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(new URL(res.headers.get('location')!, `${node.url}/secure`).pathname).toBe('/secure/');
  });

  test('fetching the link, as a preview bot does, spends nothing: the token redeems afterwards', async () => {
    const { conversation } = await seedConversation(node.store, SMS_THREAD);
    const pivot = await node.ledger.issue(conversation.id, 'view_account', { kind: 'bot' });
    const link = new URL(pivot.url.replace(node.publicUrl, node.url));
    for (const url of [link.toString(), `${link.origin}${link.pathname}?t=${pivot.token}`, `${link.origin}/secure?t=${pivot.token}`]) {
      expect((await fetch(url)).status).toBe(200);
    }
    expect((await node.ledger.record(conversation.id, pivot.pivotId))?.state).toBe('issued');
    const c = await connectCustomer(node, { pivotToken: pivot.token });
    expect(c.sessions).toHaveLength(1);
    c.socket.disconnect();
  });
});
