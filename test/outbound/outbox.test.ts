/**
 * Outbound through the outbox against local stand-ins that speak each
 * platform's real API: recorded requests must match the documented shapes,
 * retries follow the policy (429/5xx/network retried, other 4xx not), and
 * every outcome is visible on the message.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { PublicChannel } from '../../src/messages';
import { keys } from '../../src/store/keys';
import { fixture } from '../connectors/support/fixtures';
import { TEST_SECRETS, uniqueDigits } from '../connectors/support/gateway-parts';
import { PlatformStandIn, type RecordedRequest, type ScriptedAnswer } from '../connectors/support/platform-stand-in';
import { botMessage, buildRig, deliveryOf, type Rig } from './support';

interface Platform {
  channel: PublicChannel;
  user: () => string;
  ok: (request: RecordedRequest) => ScriptedAnswer;
  rateLimited: ScriptedAnswer;
  serverError: ScriptedAnswer;
  badRequest: ScriptedAnswer;
  /** The words of `badRequest` that must reach the message's delivery error. */
  badRequestWords: RegExp;
  checkText: (request: RecordedRequest, user: string, text: string) => void;
  checkInvite: (request: RecordedRequest, user: string, url: string, reason: string) => void;
}

function form(request: RecordedRequest): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(request.body));
}

function json(request: RecordedRequest): unknown {
  expect(request.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(request.body) as unknown;
}

function checkGraphAuth(request: RecordedRequest, token: string, secret: string): void {
  expect(request.headers.authorization).toBe(`Bearer ${token}`);
  expect(request.query.get('access_token')).toBeNull(); // never in the URL (access logs)
  expect(request.query.get('appsecret_proof')).toBe(createHmac('sha256', secret).update(token).digest('hex'));
}

const twilioPath = `/2010-04-01/Accounts/${TEST_SECRETS.TWILIO_ACCOUNT_SID}/Messages.json`;
const created = fixture<Record<string, unknown>>('twilio/message-created.json');

const PLATFORMS: Platform[] = [
  {
    channel: 'sms',
    user: () => `+1555${uniqueDigits(7)}`,
    ok: (request) => ({ status: 201, body: { ...created, sid: `SM${uniqueDigits(32)}`, to: form(request).To, from: form(request).From, body: form(request).Body } }),
    rateLimited: { status: 429, body: { code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429 } },
    serverError: { status: 500, body: { code: 20500, message: 'Internal Server Error', more_info: 'https://www.twilio.com/docs/errors/20500', status: 500 } },
    badRequest: { status: 400, body: fixture('twilio/error-21211.json') },
    badRequestWords: /twilio 400 \(#21211\): The 'To' number \+1555 is not a valid phone number\./,
    checkText: (request, user, text) => {
      expect(request.method).toBe('POST');
      expect(request.path).toBe(twilioPath);
      expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`${TEST_SECRETS.TWILIO_ACCOUNT_SID}:${TEST_SECRETS.TWILIO_AUTH_TOKEN}`).toString('base64')}`);
      expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
      expect(form(request)).toEqual({ To: user, From: TEST_SECRETS.TWILIO_FROM, Body: text, StatusCallback: 'https://gw.example/webhooks/twilio/status' });
    },
    checkInvite: (request, user, url, reason) => {
      expect(request.path).toBe(twilioPath);
      expect(form(request)).toEqual({ To: user, From: TEST_SECRETS.TWILIO_FROM, Body: `${reason}\nContinue securely: ${url}`, StatusCallback: 'https://gw.example/webhooks/twilio/status' });
    },
  },
  {
    channel: 'messenger',
    user: () => uniqueDigits(16),
    ok: () => ({ status: 200, body: { ...fixture<Record<string, unknown>>('messenger/send-response.json'), message_id: `m_${uniqueDigits(30)}` } }),
    rateLimited: { status: 429, body: { error: { message: '(#4) Application request limit reached', type: 'OAuthException', code: 4, fbtrace_id: 'A1' } } },
    serverError: { status: 500, body: { error: { message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', code: 2, fbtrace_id: 'A2' } } },
    badRequest: { status: 400, body: fixture('messenger/error-outside-window.json') },
    badRequestWords: /messenger 400 \(#10\/2018278\): \(#10\) This message is sent outside of allowed window\..*\[outside the platform's 24-hour customer service window\]/,
    checkText: (request, user, text) => {
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/v24.0/me/messages');
      checkGraphAuth(request, TEST_SECRETS.MESSENGER_PAGE_ACCESS_TOKEN, TEST_SECRETS.MESSENGER_APP_SECRET);
      expect(json(request)).toEqual({ recipient: { id: user }, messaging_type: 'RESPONSE', message: { text } });
    },
    checkInvite: (request, user, url, reason) => {
      expect(request.path).toBe('/v24.0/me/messages');
      expect(json(request)).toEqual({
        recipient: { id: user },
        messaging_type: 'RESPONSE',
        message: {
          attachment: {
            type: 'template',
            payload: { template_type: 'button', text: reason, buttons: [{ type: 'web_url', url, title: 'Continue securely', webview_height_ratio: 'tall', webview_share_button: 'hide' }] },
          },
        },
      });
    },
  },
  {
    channel: 'whatsapp',
    user: () => `+1555${uniqueDigits(7)}`,
    ok: () => ({ status: 200, body: { ...fixture<Record<string, unknown>>('whatsapp/send-response.json'), messages: [{ id: `wamid.${uniqueDigits(30)}` }] } }),
    rateLimited: { status: 429, body: { error: { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429, fbtrace_id: 'B1' } } },
    serverError: { status: 503, body: { error: { message: 'Service temporarily unavailable', type: 'OAuthException', code: 131016, fbtrace_id: 'B2' } } },
    badRequest: { status: 400, body: { error: { message: '(#131030) Recipient phone number not in allowed list', type: 'OAuthException', code: 131030, fbtrace_id: 'B3' } } },
    badRequestWords: /whatsapp 400 \(#131030\): \(#131030\) Recipient phone number not in allowed list/,
    checkText: (request, user, text) => {
      expect(request.method).toBe('POST');
      expect(request.path).toBe(`/v24.0/${TEST_SECRETS.WHATSAPP_PHONE_NUMBER_ID}/messages`);
      checkGraphAuth(request, TEST_SECRETS.WHATSAPP_ACCESS_TOKEN, TEST_SECRETS.WHATSAPP_APP_SECRET);
      expect(json(request)).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to: user, type: 'text', text: { preview_url: false, body: text } });
    },
    checkInvite: (request, user, url, reason) => {
      expect(request.path).toBe(`/v24.0/${TEST_SECRETS.WHATSAPP_PHONE_NUMBER_ID}/messages`);
      expect(json(request)).toEqual({
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: user,
        type: 'interactive',
        interactive: { type: 'cta_url', body: { text: reason }, action: { name: 'cta_url', parameters: { display_text: 'Continue securely', url } } },
      });
    },
  },
];

describe.each(PLATFORMS)('outbox → $channel', (platform) => {
  let standIn: PlatformStandIn;
  let rig: Rig;

  beforeAll(async () => {
    standIn = await new PlatformStandIn(platform.ok).start();
    rig = await buildRig(standIn);
  });
  beforeEach(() => {
    standIn.requests.length = 0;
  });
  afterAll(async () => {
    await rig.queue.close();
    await rig.store.close();
    await standIn.stop();
  });

  it('sends text with the documented request and marks the message sent', async () => {
    standIn.respondWith(platform.ok);
    const user = platform.user();
    const { message } = await botMessage(rig, platform.channel, user, 'Your card is on its way.');
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(1);
    platform.checkText(standIn.requests[0]!, user, 'Your card is on its way.');
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'sent' });
    expect(rig.changes.filter((c) => c.message?.id === message.id).map((c) => c.message?.delivery?.status)).toEqual(['sent']);
  });

  it('sends the invite natively: the link opens from the platform\'s button (or SMS text)', async () => {
    standIn.respondWith(platform.ok);
    const user = platform.user();
    const reason = "To transfer money safely, let's continue in our secure chat.";
    const url = `https://gw.example/secure/#t=eyJhbGciOiJFZERTQSJ9.${randomUUID()}.sig`;
    const { message } = await botMessage(rig, platform.channel, user, reason);
    await rig.outbox.sendInvite(message.conversationId, message.id, url);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(1);
    platform.checkInvite(standIn.requests[0]!, user, url, reason);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'sent' });
  });

  it('429 then success: retried, sent once', async () => {
    let calls = 0;
    standIn.respondWith((request) => (calls++ === 0 ? platform.rateLimited : platform.ok(request)));
    const { message } = await botMessage(rig, platform.channel, platform.user(), 'after a pause');
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(2);
    expect(await deliveryOf(rig, message)).toMatchObject({ status: 'sent' });
    expect((await deliveryOf(rig, message))?.error).toBeUndefined();
  });

  it('5xx three times: three tries, then failed with the platform\'s words', async () => {
    standIn.respondWith(() => platform.serverError);
    const { message } = await botMessage(rig, platform.channel, platform.user(), 'never arrives');
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(3);
    const delivery = await deliveryOf(rig, message);
    expect(delivery?.status).toBe('failed');
    expect(delivery?.error).toContain(`${platform.channel === 'sms' ? 'twilio' : platform.channel} ${platform.serverError.status}`);
    expect(delivery?.error).toContain('(gave up after 3 attempts)');
    // Announced with its outcome, so a console watching redraws it as failed, with the reason.
    const announced = rig.changes.filter((c) => c.message?.id === message.id);
    expect(announced.map((c) => [c.event, c.message?.delivery?.status])).toEqual([['message', 'failed']]);
    expect(announced[0]!.message?.delivery?.error).toContain('(gave up after 3 attempts)');
    const counted = (await rig.metrics.outbound.get()).values.filter((v) => v.labels.channel === platform.channel);
    expect(counted.find((v) => v.labels.result === 'retry')?.value).toBeGreaterThanOrEqual(2);
    expect(counted.find((v) => v.labels.result === 'failed')?.value).toBeGreaterThanOrEqual(1);
    expect(counted.find((v) => v.labels.result === 'sent')?.value).toBeGreaterThanOrEqual(1); // the tests before this one
  });

  it('a 4xx is not retried: failed at once, with the platform\'s reason', async () => {
    standIn.respondWith(() => platform.badRequest);
    const { message } = await botMessage(rig, platform.channel, platform.user(), 'refused');
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    expect(standIn.requests).toHaveLength(1);
    const delivery = await deliveryOf(rig, message);
    expect(delivery?.status).toBe('failed');
    expect(delivery?.error).toMatch(platform.badRequestWords);
  });

  it('enqueuing the same message twice sends it once', async () => {
    standIn.respondWith(platform.ok);
    const { message } = await botMessage(rig, platform.channel, platform.user(), 'only once');
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.outbox.sendText(message.conversationId, message.id);
    await rig.queue.idle();
    // A re-run of the job itself (stalled-job recovery after the send) finds the sent marker.
    await rig.outbox.deliver({ v: 1, kind: 'text', conversationId: message.conversationId, messageId: message.id }, { attempt: 1, final: false });
    expect(standIn.requests).toHaveLength(1);
  });
});

describe('outbox behind a dead worker\'s lease', () => {
  it('waits for the lease to expire without using up a try, then sends exactly once', async () => {
    const standIn = await new PlatformStandIn(PLATFORMS[0]!.ok).start();
    // One try only: before the fix the lease conflict was that try, and the message stayed `queued` with nothing sent.
    const rig = await buildRig(standIn, { attempts: 1 });
    try {
      const user = `+1555${uniqueDigits(7)}`;
      const { message } = await botMessage(rig, 'sms', user, 'after the dead worker');
      // What a worker killed with kill -9 during the platform call leaves: its claim, here with 1 s left.
      const marker = keys.outboundMarker(message.conversationId, message.id);
      expect(await rig.store.setIfAbsent(marker, `sending:${Date.now() + 1000}:dead-worker`, 1)).toBe(true);
      await rig.outbox.sendText(message.conversationId, message.id);
      await rig.queue.idle();
      expect(standIn.requests).toHaveLength(1);
      PLATFORMS[0]!.checkText(standIn.requests[0]!, user, 'after the dead worker');
      expect(await deliveryOf(rig, message)).toEqual({ status: 'sent', updatedAt: expect.any(String) });
      expect(await rig.store.get(marker)).toMatch(/^sent:SM/);
    } finally {
      await rig.queue.close();
      await rig.store.close();
      await standIn.stop();
    }
  });
});

describe('outbox when the platform cannot be reached', () => {
  it('network errors are retried, then recorded as failed', async () => {
    const standIn = await new PlatformStandIn(() => ({ status: 200, body: {} })).start();
    const rig = await buildRig(standIn, { attempts: 2 });
    await standIn.stop(); // nothing listens any more
    try {
      const { message } = await botMessage(rig, 'messenger', uniqueDigits(16), 'into the void');
      await rig.outbox.sendText(message.conversationId, message.id);
      await rig.queue.idle();
      const delivery = await deliveryOf(rig, message);
      expect(delivery?.status).toBe('failed');
      expect(delivery?.error).toMatch(/^messenger network error: .*\(gave up after 2 attempts\)$/);
    } finally {
      await rig.queue.close();
      await rig.store.close();
    }
  });

  it('a conversation whose channel has no connector fails at once with GW_ERR_CHANNEL_UNAVAILABLE words', async () => {
    const standIn = await new PlatformStandIn(() => ({ status: 200, body: {} })).start();
    const rig = await buildRig(standIn);
    try {
      const { message } = await botMessage(rig, 'botframework', `user-${uniqueDigits(8)}`, 'nobody home');
      await rig.outbox.sendText(message.conversationId, message.id);
      await rig.queue.idle();
      expect(await deliveryOf(rig, message)).toMatchObject({ status: 'failed', error: expect.stringContaining('botframework') });
      expect(standIn.requests).toHaveLength(0);
    } finally {
      await rig.queue.close();
      await rig.store.close();
      await standIn.stop();
    }
  });
});
