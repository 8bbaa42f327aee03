/**
 * `pivot-gateway simulate <messenger|whatsapp|sms> "text" [--from ID] [--url URL]`
 *
 * Plays the platform: builds the webhook a real Messenger, WhatsApp Cloud API
 * or Twilio delivery would carry, signs it exactly as that platform does,
 * with the secrets from the environment, posts it to a running gateway and
 * prints what the gateway answered. Operators use it to check a deployment
 * (secrets, PUBLIC_URL, proxy) before pointing the real platform at it.
 *
 * Twilio signs the URL it calls; the gateway checks `PUBLIC_URL` + path. So
 * the signature here is computed over `PUBLIC_URL` + `/webhooks/twilio`, while
 * the request may go elsewhere (`--url`, e.g. straight to one node).
 */
import { createHmac, randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { ConfigError, loadConfig, type Config } from '../config';

export interface SimulateIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

const CHANNELS = ['messenger', 'whatsapp', 'sms'] as const;
type SimulatedChannel = (typeof CHANNELS)[number];

export const SIMULATE_USAGE = `Usage: pivot-gateway simulate <messenger|whatsapp|sms> "text" [--from ID] [--url URL]

Sends one customer message to a running gateway as the platform would: the
webhook payload the platform documents, signed the way it signs it.

Options:
  --from ID   the customer: a page-scoped id (digits) for messenger, an E.164
              number (+15551230000) for whatsapp and sms
  --url URL   the gateway's base URL (default: PUBLIC_URL)
  -h, --help  this text

Secrets come from the environment (and .env), as the gateway reads them:
  messenger  MESSENGER_APP_SECRET (with the rest of the MESSENGER_* group)
  whatsapp   WHATSAPP_APP_SECRET, WHATSAPP_PHONE_NUMBER_ID (WHATSAPP_* group)
  sms        TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID, TWILIO_FROM; the signature
             covers PUBLIC_URL + /webhooks/twilio, exactly what the gateway checks

Exit status: 0 when the gateway answered 2xx, 1 when it answered otherwise or
could not be reached, 2 on bad input.
`;

const DEFAULT_FROM: Record<SimulatedChannel, string> = { messenger: '7000000000000001', whatsapp: '+15551230000', sms: '+15551230000' };

class UsageError extends Error {}

interface Parsed {
  channel: SimulatedChannel;
  text: string;
  from: string;
  url?: string;
  help: boolean;
}

function parseArgs(args: string[]): Parsed {
  const positional: string[] = [];
  let from: string | undefined;
  let url: string | undefined;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--from' || arg === '--url') {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      if (arg === '--from') from = value;
      else url = value;
    } else if (arg.startsWith('--from=')) from = arg.slice('--from='.length);
    else if (arg.startsWith('--url=')) url = arg.slice('--url='.length);
    else if (arg.startsWith('-') && arg.length > 1) throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    else positional.push(arg);
  }
  if (help) return { channel: 'sms', text: '', from: '', help };
  const [channel, text, extra] = positional;
  if (channel === undefined) throw new UsageError('missing <channel> (messenger, whatsapp or sms)');
  if (!(CHANNELS as readonly string[]).includes(channel)) throw new UsageError(`unknown channel ${JSON.stringify(channel)} (messenger, whatsapp or sms)`);
  if (text === undefined || text.trim() === '') throw new UsageError('missing "text"');
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)} (quote the text)`);
  const chosen = channel as SimulatedChannel;
  const who = from ?? DEFAULT_FROM[chosen];
  if (chosen === 'messenger' ? !/^\d{1,32}$/.test(who) : !/^\+[1-9]\d{6,14}$/.test(who)) {
    throw new UsageError(`--from: ${chosen === 'messenger' ? 'expected a page-scoped id (digits)' : 'expected an E.164 number like +15551230000'}, got ${JSON.stringify(who)}`);
  }
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--url: expected an absolute http(s) URL, got ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--url: expected http or https, got ${JSON.stringify(url)}`);
  }
  return { channel: chosen, text, from: who, ...(url ? { url: url.replace(/\/+$/, '') } : {}), help };
}

interface Request {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** What the output names as the message id, to find it in the thread. */
  id: string;
}

/** Meta's `X-Hub-Signature-256` (kept here rather than imported: src/ does not depend on connectors/). */
function metaSignature(appSecret: string, body: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** The documented Messenger `messages` event (developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages). */
function messengerRequest(config: Config, from: string, text: string): Request {
  const secret = config.messenger?.appSecret;
  if (!secret) throw new UsageError('MESSENGER_APP_SECRET is not set (the MESSENGER_* group enables the connector)');
  const mid = `m_sim_${hex(16)}`;
  const now = Date.now();
  const body = JSON.stringify({
    object: 'page',
    entry: [{ id: '0', time: now, messaging: [{ sender: { id: from }, recipient: { id: '0' }, timestamp: now, message: { mid, text } }] }],
  });
  return { path: '/webhooks/messenger', headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(secret, body) }, body, id: mid };
}

/** The documented Cloud API `messages` webhook (developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages). */
function whatsappRequest(config: Config, from: string, text: string): Request {
  const settings = config.whatsapp;
  if (!settings) throw new UsageError('WHATSAPP_APP_SECRET is not set (the WHATSAPP_* group enables the connector)');
  const waId = from.slice(1);
  const wamid = `wamid.SIM${hex(16).toUpperCase()}`;
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '0',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '0', phone_number_id: settings.phoneNumberId },
              contacts: [{ profile: { name: 'Simulated Customer' }, wa_id: waId }],
              messages: [{ from: waId, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
            },
          },
        ],
      },
    ],
  });
  return { path: '/webhooks/whatsapp', headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(settings.appSecret, body) }, body, id: wamid };
}

/** Twilio's incoming-message request (twilio.com/docs/messaging/guides/webhook-request), form-encoded and signed. */
function smsRequest(config: Config, from: string, text: string): Request {
  const settings = config.twilio;
  if (!settings) throw new UsageError('TWILIO_AUTH_TOKEN is not set (the TWILIO_* group enables the connector)');
  const sid = `SM${hex(16)}`;
  const params: Record<string, string> = {
    ToCountry: 'US',
    SmsMessageSid: sid,
    NumMedia: '0',
    SmsSid: sid,
    SmsStatus: 'received',
    Body: text,
    To: settings.from,
    NumSegments: '1',
    MessageSid: sid,
    AccountSid: settings.accountSid,
    From: from,
    ApiVersion: '2010-04-01',
  };
  const path = '/webhooks/twilio';
  const signature = twilio.getExpectedTwilioSignature(settings.authToken, `${config.publicUrl}${path}`, params);
  return {
    path,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'i-twilio-idempotency-token': `sim-${hex(16)}` },
    body: new URLSearchParams(params).toString(),
    id: sid,
  };
}

/**
 * @returns the exit code: 0 on a 2xx answer, 1 otherwise, 2 on bad input.
 * @example await simulateCommand(['sms', 'hello', '--from', '+15551230000'], io, readEnvironment())
 */
export async function simulateCommand(args: string[], io: SimulateIo, env: Record<string, string | undefined>): Promise<number> {
  let parsed: Parsed;
  let config: Readonly<Config>;
  let request: Request;
  try {
    parsed = parseArgs(args);
    if (parsed.help) {
      io.stdout.write(SIMULATE_USAGE);
      return 0;
    }
    config = loadConfig(env);
    const build = parsed.channel === 'messenger' ? messengerRequest : parsed.channel === 'whatsapp' ? whatsappRequest : smsRequest;
    request = build(config, parsed.from, parsed.text);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      io.stderr.write(`pivot-gateway simulate: ${err.message.split('\n')[0]}\n`);
      return 2;
    }
    throw err;
  }

  const target = `${parsed.url ?? config.publicUrl}${request.path}`;
  let response: Response;
  try {
    response = await fetch(target, { method: 'POST', headers: request.headers, body: request.body, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    io.stderr.write(`pivot-gateway simulate: cannot reach ${target}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}\n`);
    return 1;
  }
  const answer = await response.text();
  io.stdout.write(`POST ${target} (${parsed.channel} message ${request.id})\nHTTP ${response.status} ${response.statusText}\n${answer}${answer.endsWith('\n') || answer === '' ? '' : '\n'}`);
  return response.ok ? 0 : 1;
}
