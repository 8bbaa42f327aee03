/**
 * The Bot Framework connector on its own: `POST /api/messages` through the
 * real CloudAdapter (authentication on and off), the real Redis store behind
 * the minimal ingest, and proactive sends recorded by a local stand-in for
 * the Bot Framework connector service (the activities' `serviceUrl`).
 */
import { SignJWT } from 'jose';
import type { ConnectorContext } from '../../../connectors/connector';
import { BotFrameworkConnector, createBotFrameworkConnector } from '../../../connectors/botframework/botframework.connector';
import { createConnectors } from '../../../connectors/registry';
import { ConfigError } from '../../../src/config';
import { GatewayError } from '../../../src/errors';
import { PermanentJobError } from '../../../src/jobs/job-queue';
import { isPlatformError } from '../../../src/outbound/platform-error';
import { keys } from '../../../src/store/keys';
import { buildParts, startApp, TEST_SECRETS, threadOf, type App, type Parts } from '../support/gateway-parts';
import type { PlatformStandIn } from '../support/platform-stand-in';
import { connectorServiceResponder, messageActivity, openUrlButton, postActivity, sentActivities, startConnectorService } from './support';

const NO_PLATFORMS = Object.fromEntries(Object.keys(TEST_SECRETS).map((k) => [k, undefined]));
const PRODUCTION = {
  NODE_ENV: 'production',
  REDIS_URL: 'redis://127.0.0.1:1',
  PIVOT_SIGNING_KEYS: '{"keys":[{"kty":"OKP"}]}',
  DATA_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  ADVISOR_JWKS_URL: 'https://idp.example/jwks',
  ADVISOR_ISSUER: 'https://idp.example',
  ADVISOR_AUDIENCE: 'pivot',
};
const APP_CREDENTIALS = { MicrosoftAppId: '00000000-0000-0000-0000-0000000000aa', MicrosoftAppPassword: 'app-password-for-tests' };

async function problemCode(res: Response): Promise<string | undefined> {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return ((await res.json()) as { code?: string }).code;
}

describe('Bot Framework channel without MicrosoftAppId (authentication off: development and tests)', () => {
  let parts: Parts;
  let connector: BotFrameworkConnector;
  let app: App;
  let service: PlatformStandIn;

  beforeAll(async () => {
    parts = await buildParts(NO_PLATFORMS);
    connector = createBotFrameworkConnector(parts.ctx);
    app = await startApp([connector]);
    service = await startConnectorService();
  });
  afterAll(async () => {
    await app.close();
    await service.stop();
    await parts.store.close();
  });

  it('stores a message activity once, with how to answer it, and acknowledges with 200', async () => {
    expect(connector.authenticationDisabled).toBe(true);
    const activity = messageActivity({ serviceUrl: service.url, text: 'Hello, what are your opening hours?' });
    const from = (activity.from as { id: string }).id;

    const first = await postActivity(app.url, activity);
    expect(first.status).toBe(200);
    const again = await postActivity(app.url, activity); // the channel redelivers
    expect(again.status).toBe(200);

    const thread = await threadOf(parts.store, 'botframework', from);
    expect(thread.map((m) => [m.author, m.channel, m.text])).toEqual([['customer', 'botframework', 'Hello, what are your opening hours?']]);
    // The reference is kept sealed: neither the serviceUrl nor the conversation id reads in clear.
    const sealed = await parts.store.get(keys.botFrameworkReference(from));
    expect(sealed).toBeDefined();
    expect(sealed).not.toContain(service.url);
    expect(sealed).not.toContain((activity.conversation as { id: string }).id);
  });

  it('acknowledges activities that are not customer messages without storing anything', async () => {
    const from = `user-${Date.now()}-update`;
    const update = { ...messageActivity({ serviceUrl: service.url, from }), type: 'conversationUpdate', text: undefined, membersAdded: [{ id: from }] };
    expect((await postActivity(app.url, update)).status).toBe(200);
    const typing = { ...messageActivity({ serviceUrl: service.url, from }), type: 'typing', text: undefined };
    expect((await postActivity(app.url, typing)).status).toBe(200);
    // A group chat: an invite link there could be tapped by anyone in it.
    const group = messageActivity({ serviceUrl: service.url, from, extra: { conversation: { id: 'group-1', isGroup: true, conversationType: 'groupChat' } } });
    expect((await postActivity(app.url, group)).status).toBe(200);
    expect(await threadOf(parts.store, 'botframework', from)).toEqual([]);
    expect(await parts.store.get(keys.botFrameworkReference(from))).toBeUndefined();
  });

  it("removes Teams' mention of the bot and stores a placeholder for an attachment without text", async () => {
    const from = `29:teams-user-${Date.now()}`;
    const mention = messageActivity({
      serviceUrl: service.url,
      from,
      text: '<at>Pivot Bank</at> what is my balance',
      extra: { channelId: 'msteams', entities: [{ type: 'mention', text: '<at>Pivot Bank</at>', mentioned: { id: '12345678', name: 'Pivot Bank' } }] },
    });
    expect((await postActivity(app.url, mention)).status).toBe(200);
    const picture = messageActivity({ serviceUrl: service.url, from, text: '', extra: { attachments: [{ contentType: 'image/png', contentUrl: 'https://example.invalid/card-photo.png' }] } });
    expect((await postActivity(app.url, picture)).status).toBe(200);
    expect((await threadOf(parts.store, 'botframework', from)).map((m) => m.text)).toEqual(['what is my balance', '[image]']);
  });

  it('answers 400 for what is not a readable activity, 405 for other methods', async () => {
    expect(await problemCode(await postActivity(app.url, '{"type": '))).toBe('GW_ERR_BAD_REQUEST');
    expect(await problemCode(await postActivity(app.url, { text: 'no type' }))).toBe('GW_ERR_WEBHOOK_PAYLOAD');
    const from = `user-${Date.now()}-noid`;
    const withoutId = { ...messageActivity({ serviceUrl: service.url, from }), id: undefined };
    const res = await postActivity(app.url, withoutId);
    expect(res.status).toBe(400);
    expect(await problemCode(res)).toBe('GW_ERR_WEBHOOK_PAYLOAD');
    expect(await threadOf(parts.store, 'botframework', from)).toEqual([]);
    const get = await fetch(`${app.url}/api/messages`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('answers 503 when the message could not be stored, so the channel redelivers', async () => {
    const failing: ConnectorContext = { ...parts.ctx, ingest: async () => Promise.reject(new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'redis down')) };
    const down = await startApp([createBotFrameworkConnector(failing)]);
    try {
      const res = await postActivity(down.url, messageActivity({ serviceUrl: service.url }));
      expect(res.status).toBe(503);
      expect(await problemCode(res)).toBe('GW_ERR_STORE_UNAVAILABLE');
    } finally {
      await down.close();
    }
  });

  it('sends text and the invite card proactively to the conversation the customer last wrote in', async () => {
    const from = `user-${Date.now()}-send`;
    const activity = messageActivity({ serviceUrl: service.url, from, text: 'hi' });
    expect((await postActivity(app.url, activity)).status).toBe(200);
    const { conversation } = await parts.store.openConversation('botframework', from);
    const before = sentActivities(service).length;

    const receipt = await connector.send(conversation, 'An advisor will be with you shortly.');
    await connector.sendInvite(conversation, { url: 'https://gw.example/secure/#t=eyJ.test.token', reason: "To transfer money safely, let's continue in our secure chat." });

    const [text, invite] = sentActivities(service).slice(before);
    const conversationId = (activity.conversation as { id: string }).id;
    expect(text!.path).toBe(`/v3/conversations/${conversationId}/activities`); // sendToConversation, not a reply to a made-up id
    expect(text!.activity).toMatchObject({ type: 'message', text: 'An advisor will be with you shortly.', from: { id: '12345678' }, recipient: { id: from }, conversation: { id: conversationId } });
    expect(text!.activity.replyToId).toBeUndefined();
    expect(receipt.platformMessageId).toMatch(new RegExp(`^botframework:${conversationId}:`));

    expect(invite!.path).toBe(`/v3/conversations/${conversationId}/activities`);
    expect(openUrlButton(invite!.activity)).toEqual({ title: 'Continue securely', value: 'https://gw.example/secure/#t=eyJ.test.token', text: "To transfer money safely, let's continue in our secure chat." });
    expect(JSON.stringify(invite!.activity)).not.toContain('A Customer'); // the customer's display name is not kept
  });

  it('cannot send to a user it never heard from (permanent), and reports the service refusing as a PlatformError', async () => {
    const { conversation: stranger } = await parts.store.openConversation('botframework', `user-${Date.now()}-stranger`);
    await expect(connector.send(stranger, 'hello')).rejects.toBeInstanceOf(PermanentJobError);

    const from = `user-${Date.now()}-refused`;
    expect((await postActivity(app.url, messageActivity({ serviceUrl: service.url, from }))).status).toBe(200);
    const { conversation } = await parts.store.openConversation('botframework', from);
    service.respondWith(() => ({ status: 403, body: { error: { code: 'BotNotInConversationRoster', message: 'The bot is not part of the conversation roster.' } } }));
    try {
      const failure: unknown = await connector.send(conversation, 'hello').catch((err: unknown) => err);
      expect(isPlatformError(failure)).toBe(true);
      if (!isPlatformError(failure)) return;
      expect(failure).toMatchObject({ platform: 'botframework', status: 403, retryable: false });
      expect(failure.describe()).toBe('botframework 403: BotNotInConversationRoster: The bot is not part of the conversation roster.');
    } finally {
      service.respondWith(connectorServiceResponder());
    }
  });
});

describe('Bot Framework channel with MicrosoftAppId (authentication on)', () => {
  let parts: Parts;
  let app: App;

  beforeAll(async () => {
    parts = await buildParts({ ...NO_PLATFORMS, ...APP_CREDENTIALS });
    const connector = createBotFrameworkConnector(parts.ctx);
    expect(connector.authenticationDisabled).toBe(false);
    app = await startApp([connector]);
  });
  afterAll(async () => {
    await app.close();
    await parts.store.close();
  });

  it('refuses an activity without the channel token, or with a token no Bot Framework issuer signed, with 401 and stores nothing', async () => {
    const from = `user-${Date.now()}-auth`;
    const activity = messageActivity({ serviceUrl: 'https://smba.trafficmanager.net/teams/', from });
    const bare = await postActivity(app.url, activity);
    expect(bare.status).toBe(401);
    expect(await problemCode(bare)).toBe('GW_ERR_WEBHOOK_SIGNATURE');

    const forged = await new SignJWT({ serviceurl: 'https://smba.trafficmanager.net/teams/' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://attacker.example')
      .setAudience(APP_CREDENTIALS.MicrosoftAppId)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('not-a-bot-framework-key-0123456789'));
    const res = await postActivity(app.url, activity, { authorization: `Bearer ${forged}` });
    expect(res.status).toBe(401);
    expect(await threadOf(parts.store, 'botframework', from)).toEqual([]);
    expect(await parts.store.get(keys.botFrameworkReference(from))).toBeUndefined();
  });
});

describe('Bot Framework in the registry', () => {
  it('is enabled with MicrosoftAppId in production, and not at all in production without it', async () => {
    const withApp = await buildParts({ ...NO_PLATFORMS, ...PRODUCTION, ...APP_CREDENTIALS });
    try {
      expect([...createConnectors(withApp.ctx).keys()]).toEqual(['botframework']);
      const without = await buildParts({ ...NO_PLATFORMS, ...PRODUCTION }, withApp.store);
      expect([...createConnectors(without.ctx).keys()]).toEqual([]);
      expect(() => createBotFrameworkConnector(without.ctx)).toThrow(/MicrosoftAppId/);
    } finally {
      await withApp.store.close();
    }
  });

  it("refuses incomplete credentials at start, naming botbuilder's variable", async () => {
    const parts = await buildParts(NO_PLATFORMS);
    try {
      const attempt = async (env: Record<string, string>) => createBotFrameworkConnector((await buildParts({ ...NO_PLATFORMS, ...env }, parts.store)).ctx);
      await expect(attempt({ MicrosoftAppId: APP_CREDENTIALS.MicrosoftAppId })).rejects.toThrow(ConfigError);
      await expect(attempt({ MicrosoftAppId: APP_CREDENTIALS.MicrosoftAppId })).rejects.toThrow(/MicrosoftAppPassword: required/);
      await expect(attempt({ ...APP_CREDENTIALS, MicrosoftAppType: 'SingleTenant' })).rejects.toThrow(/MicrosoftAppTenantId: required/);
      await expect(attempt({ MicrosoftAppId: APP_CREDENTIALS.MicrosoftAppId, MicrosoftAppType: 'UserAssignedMSI', MicrosoftAppTenantId: 'tenant-1' })).resolves.toBeInstanceOf(BotFrameworkConnector);
    } finally {
      await parts.store.close();
    }
  });
});
