/**
 * A Bot Framework conversation through the real gateway (`startGateway` on
 * the test Redis): an activity posted to `/api/messages` (mounted before the
 * advisor `/api` router) joins a thread, the bot reads it from its durable
 * job and answers a sensitive intent with a hero card whose `openUrl` button
 * is the pivot link, sent proactively to the stand-in connector service.
 */
import { decodeJwt } from 'jose';
import { loadConfig } from '../../../src/config';
import { startGateway, type Gateway } from '../../../src/gateway';
import { silentLogger } from '../../../src/ops/logger';
import { keys } from '../../../src/store/keys';
import type { PlatformStandIn } from '../support/platform-stand-in';
import { eventually, messageActivity, openUrlButton, postActivity, sentActivities, startConnectorService } from './support';

const PUBLIC_URL = 'https://bank.example';

let gateway: Gateway;
let service: PlatformStandIn;

beforeAll(async () => {
  service = await startConnectorService();
  const config = loadConfig({ NODE_ENV: 'test', PUBLIC_URL, REDIS_URL: process.env.TEST_REDIS_URL! });
  gateway = await startGateway(config, silentLogger(), { port: 0, host: '127.0.0.1', defaultMetrics: false });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await service?.stop();
});

async function conversationIdOf(from: string): Promise<string> {
  return eventually(() => gateway.services.store.get(keys.userConversation('botframework', from)), `the conversation of ${from}`);
}

it('a Bot Framework activity joins a thread and a sensitive intent gets an invite card', async () => {
  expect(gateway.services.connectors.has('botframework')).toBe(true);
  const from = `webchat-user-${Date.now()}`;
  const conversationId = `dl-${Date.now()}`;

  // Tier 0: stored, read by the bot, left to advisors: nothing is sent.
  const hello = messageActivity({ serviceUrl: service.url, from, conversationId, text: 'Hello, what are your opening hours?' });
  expect((await postActivity(gateway.url, hello)).status).toBe(200);
  const threadId = await conversationIdOf(from);
  const [helloMessage] = (await gateway.services.store.readMessagesAfter(threadId, undefined, 10)).messages;
  await eventually(() => gateway.services.store.get(keys.botAnswered(threadId, helloMessage!.id)), 'the bot to read the greeting');
  expect(sentActivities(service).filter((s) => s.conversationId === conversationId)).toEqual([]);

  // Tier 4: an invite card, proactively, to the conversation the activity came from.
  const transfer = messageActivity({ serviceUrl: service.url, from, conversationId, text: 'I want to transfer $500 to my brother' });
  expect((await postActivity(gateway.url, transfer)).status).toBe(200);
  const sent = await eventually(() => sentActivities(service).find((s) => s.conversationId === conversationId && openUrlButton(s.activity)), 'the invite card');
  const button = openUrlButton(sent.activity)!;
  expect(sent.path).toBe(`/v3/conversations/${conversationId}/activities`);
  expect(button.title).toBe('Continue securely');
  expect(button.text).toBe("To transfer money safely, let's continue in our secure chat.");
  expect(button.value.startsWith(`${PUBLIC_URL}/secure/#t=`)).toBe(true);
  const claims = decodeJwt(button.value.slice(`${PUBLIC_URL}/secure/#t=`.length));
  expect(claims).toMatchObject({ sub: threadId, intent: 'transfer_funds', iss: PUBLIC_URL, aud: `${PUBLIC_URL}/secure` });

  // One thread: both customer messages and the bot's reason (never the link).
  const thread = (await gateway.services.store.readMessagesAfter(threadId, undefined, 10)).messages;
  expect(thread.map((m) => [m.author, m.channel, m.text])).toEqual([
    ['customer', 'botframework', 'Hello, what are your opening hours?'],
    ['customer', 'botframework', 'I want to transfer $500 to my brother'],
    ['bot', 'botframework', "To transfer money safely, let's continue in our secure chat."],
  ]);
  const conversation = await gateway.services.store.getConversation(threadId);
  expect(conversation).toMatchObject({ channel: 'botframework', externalUserId: from, secure: 'invited' });
  await eventually(async () => ((await gateway.services.store.getMessage(threadId, thread[2]!.id))?.delivery?.status === 'sent' ? true : undefined), 'the invite delivery to be recorded');
});

it('a card number typed in Web Chat is masked before it is stored and pivots to card_payment', async () => {
  const from = `webchat-user-${Date.now()}-card`;
  const conversationId = `dl-${Date.now()}-card`;
  const pan = '4539 1488 0343 6467';
  const activity = messageActivity({ serviceUrl: service.url, from, conversationId, text: `please charge ${pan} for my bill` });
  expect((await postActivity(gateway.url, activity)).status).toBe(200);
  const sent = await eventually(() => sentActivities(service).find((s) => s.conversationId === conversationId && openUrlButton(s.activity)), 'the invite card');
  expect(openUrlButton(sent.activity)!.text).toBe("To pay by card safely, let's continue in our secure chat.");
  const threadId = await conversationIdOf(from);
  const [stored] = (await gateway.services.store.readMessagesAfter(threadId, undefined, 10)).messages;
  expect(stored).toMatchObject({ text: 'please charge •••• •••• •••• 6467 for my bill', redacted: true });
  expect(JSON.stringify(sentActivities(service))).not.toContain('4539');
});

it('the advisor API still owns the rest of /api', async () => {
  expect((await fetch(`${gateway.url}/api/conversations`)).status).toBe(401);
});
