/**
 * The whole identity step-up in headless Chromium (issue 8): a customer on
 * the sandbox phone, an advisor in the console sending a `transfer_funds`
 * link, the secure page, `stepup_required`, the bank's sign-in page (a real
 * OpenID provider: oidc-provider on a free port), the return on
 * `/secure/return`, the session at tier 4, the chat going on, the console
 * showing the verified identity, and an assertion from the API that
 * verifies with jose against the gateway's JWKS.
 *
 * Every wait is Playwright's own (locator.waitFor), never a sleep or a
 * timing assertion.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { loadConfig } from '../../src/config';
import { startGateway, type Gateway } from '../../src/gateway';
import { silentLogger } from '../../src/ops/logger';
import { browserContexts, ensureWebviewsBuilt, freePort, launchChromium } from '../support/browser-launch';
import { signRequest } from '../../src/identity/messenger-binding';
import { ADA, BOB, startOidcProvider, type TestIdp } from '../support/oidc-provider';

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const MESSENGER_APP_SECRET = 'e2e-messenger-app-secret';
const MESSENGER_APP_ID = '5550001112223334';

let gateway: Gateway;
let idp: TestIdp;
let browser: Browser;
let base: string;
const contexts = browserContexts(() => browser);

beforeAll(async () => {
  ensureWebviewsBuilt(['advisor-console', 'sandbox', 'secure-chat']);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startOidcProvider({ redirectUri: `${base}/secure/return` });
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: base,
    CUSTOMER_IDP_ISSUER: idp.issuer,
    CUSTOMER_IDP_CLIENT_ID: idp.client.clientId,
    CUSTOMER_IDP_CLIENT_SECRET: idp.client.clientSecret,
    MESSENGER_APP_SECRET,
    MESSENGER_VERIFY_TOKEN: 'e2e-verify',
    MESSENGER_PAGE_ACCESS_TOKEN: 'e2e-page-token',
    MESSENGER_APP_ID,
    // Nothing leaves the machine: Messenger sends go to a closed local port.
    META_GRAPH_URL: 'http://127.0.0.1:9/v24.0',
  });
  gateway = await startGateway(config, silentLogger(), { port, host: '127.0.0.1', defaultMetrics: false });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await contexts.closeAll();
  await browser?.close();
  await gateway?.close();
  await idp?.close();
});


let customers = 0;
function nextCustomer(): string {
  customers += 1;
  return `+1555${String(3_000_000 + customers * 7919 + (Date.now() % 1000)).padStart(7, '0')}`;
}

/** The sandbox phone writes a first message (nothing sensitive: the advisor decides on the pivot). */
async function customerWrites(context: BrowserContext, from: string, text: string): Promise<Page> {
  const phone = await context.newPage();
  await phone.goto(`${base}/sandbox/`);
  await phone.check('#platform-sms');
  await phone.fill('#from', from);
  await phone.click('#use-sender');
  await phone.fill('#text', text);
  await phone.press('#text', 'Enter');
  await phone.locator('.bubble.mine.state-sent', { hasText: text }).waitFor();
  return phone;
}

async function openConsole(context: BrowserContext, token: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${base}/console/#token=${token}`);
  await page.locator('#connection[data-state="live"]').waitFor();
  return page;
}

/** The advisor sends a secure link for `intent`; the customer taps it on the phone and opens the secure chat. */
async function pivotAndOpen(advisor: Page, phone: Page, phoneContext: BrowserContext, from: string, intent: string): Promise<Page> {
  await advisor.locator('button.conversation', { hasText: from }).click();
  await advisor.locator('#thread-title', { hasText: from }).waitFor();
  await advisor.selectOption('#pivot-intent', intent);
  await advisor.click('#pivot-send');
  await advisor.locator('#pivot-result', { hasText: 'sent' }).waitFor();
  const invite = phone.locator('li.kind-invite a.invite-button').last();
  await invite.waitFor();
  const [secure] = await Promise.all([phoneContext.waitForEvent('page'), invite.click()]);
  await secure.locator('#open').click();
  await secure.locator('#status[data-state="secure"]').waitFor();
  return secure;
}

/** On the bank's sign-in page (the provider's own origin), as the person would. */
async function signInAtProvider(secure: Page, account: { login: string; password: string }): Promise<void> {
  await secure.locator('#stepup:not([hidden]) #stepup-link').click();
  await secure.waitForURL((url) => url.origin === idp.issuer);
  await secure.getByRole('heading', { name: 'Test Bank sign-in' }).waitFor();
  await secure.getByLabel('Username').fill(account.login);
  await secure.getByLabel('Password').fill(account.password);
  await secure.getByRole('button', { name: 'Sign in' }).click();
  await secure.waitForURL(`${base}/secure/`);
}

test('transfer_funds: the page → stepup_required → the provider → /secure/return → tier 4 → the chat goes on; the console and the bank see the verified identity', async () => {
  const phoneContext = await contexts.open({ viewport: PHONE });
  const from = nextCustomer();
  const phone = await customerWrites(phoneContext, from, 'Hello, I need some help with my account please');
  const advisorToken = await gateway.services.advisorAuth.mintDevToken('advisor-e2e', 'Ada Advisor', 900);
  const advisor = await openConsole(await contexts.open({ viewport: LAPTOP }), advisorToken);

  const secure = await pivotAndOpen(advisor, phone, phoneContext, from, 'transfer_funds');
  expect(await secure.getAttribute('body', 'data-tier')).toBe('1');
  await secure.locator('#stepup:not([hidden])[data-tier="4"][data-reason="identity_required"]').waitFor();
  expect(await secure.locator('#stepup-text').textContent()).toContain('confirm it is you');

  await signInAtProvider(secure, ADA);
  // Back on the page: no token in the URL; it resumed from sessionStorage at tier 4.
  expect(secure.url()).toBe(`${base}/secure/`);
  await secure.locator('#status[data-state="secure"]').waitFor();
  await secure.locator('body[data-tier="4"]').waitFor();
  await secure.locator('#verified:not([hidden])', { hasText: 'Identity confirmed' }).waitFor();
  expect(await secure.locator('#stepup').isHidden()).toBe(true);
  // The return-key cookie is gone once used.
  expect((await phoneContext.cookies(base)).some((c) => c.name === 'pg_stepup')).toBe(false);

  // The chat goes on, both ways.
  await secure.fill('#text', 'Please move 200 EUR to my savings account');
  await secure.click('#send');
  await advisor.locator('#messages li.message[data-author="customer"][data-leg="secure"]', { hasText: 'move 200 EUR' }).waitFor();
  await advisor.fill('#reply-text', 'Done: 200 EUR moved to savings.');
  await advisor.press('#reply-text', 'Enter');
  await secure.locator('#thread li.msg', { hasText: 'Done: 200 EUR moved to savings.' }).waitFor();

  // The console shows who the bank says this is.
  const verified = advisor.locator('#identity-verified');
  await verified.waitFor();
  expect(await verified.getAttribute('data-subject')).toBe(ADA.sub);
  expect(await verified.getAttribute('data-tier')).toBe('4');
  expect(await verified.textContent()).toContain('multi-factor (pwd, otp)');
  await advisor.locator('#audit li[data-type="stepped_up"]').waitFor();
  await advisor.locator('#audit li[data-type="identity_linked"]').waitFor();

  // The bank's backend: an assertion from the API, verified against the JWKS.
  const conversationId = (await gateway.services.store.openConversation('sandbox', from)).conversation.id;
  const response = await fetch(`${base}/api/conversations/${conversationId}/assertion`, { headers: { authorization: `Bearer ${advisorToken}` } });
  expect(response.status).toBe(200);
  const { assertion } = (await response.json()) as { assertion: string };
  const { payload } = await jwtVerify(assertion, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), { issuer: base, audience: `${base}/assertion`, typ: 'pivot-assertion+jwt' });
  expect(payload).toMatchObject({ sub: ADA.sub, idp: idp.issuer, amr: ['pwd', 'otp'], tier: 4, conversation: conversationId, channel: 'sandbox', externalUserId: from });
}, 120_000);

test('a password-only sign-in for a transfer: the page stays at tier 2 and says why; the console shows it', async () => {
  const phoneContext = await contexts.open({ viewport: PHONE });
  const from = nextCustomer();
  const phone = await customerWrites(phoneContext, from, 'Hello there, a question about my account');
  const advisor = await openConsole(await contexts.open({ viewport: LAPTOP }), await gateway.services.advisorAuth.mintDevToken('advisor-e2e', 'Ada Advisor', 900));
  const secure = await pivotAndOpen(advisor, phone, phoneContext, from, 'withdraw');

  await signInAtProvider(secure, BOB);
  await secure.locator('body[data-tier="2"]').waitFor();
  await secure.locator('#stepup:not([hidden])[data-reason="mfa_required"]').waitFor();
  expect(await secure.locator('#stepup-text').textContent()).toContain('second factor');
  const verified = advisor.locator('#identity-verified[data-tier="2"]');
  await verified.waitFor();
  expect(await verified.textContent()).toContain('without a second factor');
  await advisor.locator('#audit li[data-type="stepup_refused"]', { hasText: 'mfa_missing' }).waitFor();
}, 120_000);

test('trade (tier 3): after the sign-in the page shows what the customer agrees to, with the advisor summary; "I agree" is acknowledged and audited', async () => {
  const phoneContext = await contexts.open({ viewport: PHONE });
  const from = nextCustomer();
  const phone = await customerWrites(phoneContext, from, 'Hi, a question about my portfolio');
  const advisor = await openConsole(await contexts.open({ viewport: LAPTOP }), await gateway.services.advisorAuth.mintDevToken('advisor-e2e', 'Ada Advisor', 900));
  await advisor.locator('button.conversation', { hasText: from }).click();
  await advisor.fill('#reply-text', 'I will sell 10 ACME shares at market for you, fee 4.90 EUR.');
  await advisor.press('#reply-text', 'Enter');
  await phone.locator('.bubble', { hasText: 'ACME' }).waitFor();
  const secure = await pivotAndOpen(advisor, phone, phoneContext, from, 'trade');
  await secure.locator('#stepup:not([hidden])[data-tier="3"]').waitFor();

  await signInAtProvider(secure, BOB);
  await secure.locator('body[data-tier="2"]').waitFor();
  const consent = secure.locator('#consent:not([hidden])');
  await consent.waitFor();
  expect(await secure.locator('#consent-intent').textContent()).toBe('buying or selling investments');
  expect(await secure.locator('#consent-summary').textContent()).toBe('I will sell 10 ACME shares at market for you, fee 4.90 EUR.');
  await secure.getByRole('button', { name: 'I agree' }).click();
  await secure.locator('#consent').waitFor({ state: 'hidden' });
  await advisor.locator('#audit li[data-type="consent"]').waitFor();
  await advisor.locator('#identity-verified[data-tier="3"]').waitFor();
}, 120_000);

test('inside Messenger: the page asks the Messenger Extensions SDK for its context and the session is bound', async () => {
  const psid = `7${String(Date.now()).slice(-12)}`;
  const conversation = (await gateway.services.store.openConversation('messenger', psid)).conversation;
  const pivot = await gateway.services.ledger.issue(conversation.id, 'view_account', { kind: 'advisor', id: 'advisor-e2e' });
  const messenger = await contexts.open({
    viewport: PHONE,
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/MessengerForiOS;FBAV/470.0]',
  });
  // Meta's SDK, played by a stub with the SDK's API: it hands the page a signed_request built the way Meta signs it.
  const signedRequest = signRequest({ algorithm: 'HMAC-SHA256', issued_at: Math.floor(Date.now() / 1000), psid, page_id: '4242', thread_type: 'USER_TO_PAGE' }, MESSENGER_APP_SECRET);
  const asked: string[] = [];
  await messenger.exposeFunction('recordAppId', (appId: string) => asked.push(appId));
  await messenger.route('https://connect.facebook.net/**', (route) =>
    route.fulfill({
      contentType: 'text/javascript',
      body: `window.MessengerExtensions = { getContext: function (appId, ok) { window.recordAppId(appId); ok({ signed_request: ${JSON.stringify(signedRequest)} }); } }; if (window.extAsyncInit) window.extAsyncInit();`,
    }),
  );
  const page = await messenger.newPage();
  await page.goto(pivot.url);
  await page.locator('#open').click();
  await page.locator('#status[data-state="secure"]').waitFor();
  const advisorToken = await gateway.services.advisorAuth.mintDevToken('advisor-e2e', 'Ada Advisor', 900);
  const advisor = await openConsole(await contexts.open({ viewport: LAPTOP }), advisorToken);
  await advisor.locator('button.conversation', { hasText: psid }).click();
  await advisor.locator('#audit li[data-type="binding"]').waitFor();
  await advisor.locator('#identity-binding').waitFor();
  expect(asked).toEqual([MESSENGER_APP_ID]);
}, 120_000);
