/**
 * Bot Framework test helpers: documented activities (fixtures/), a local
 * stand-in for the Bot Framework connector service (the `serviceUrl` a
 * channel names), and posting activities the way a channel does.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PlatformStandIn, type RecordedRequest, type Responder } from '../support/platform-stand-in';

type Json = Record<string, unknown>;

/** A documented payload from ./fixtures, without its `_source`/`_note` bookkeeping. */
export function bfFixture(name: string): Json {
  const parsed = JSON.parse(readFileSync(join(__dirname, 'fixtures', name), 'utf8')) as Json;
  const { _source: source, _note: note, ...payload } = parsed;
  if (typeof source !== 'string') throw new Error(`fixture ${name} does not name its documentation page`);
  void note;
  return payload;
}

export interface ActivityOptions {
  serviceUrl: string;
  from?: string;
  text?: string;
  id?: string;
  conversationId?: string;
  extra?: Json;
}

/** The documented message activity, addressed from `from` in a fresh 1:1 conversation. */
export function messageActivity(options: ActivityOptions): Json {
  const base = bfFixture('message-text.json');
  const from = options.from ?? `user-${randomUUID()}`;
  return {
    ...base,
    id: options.id ?? randomUUID().replace(/-/g, ''),
    timestamp: new Date().toISOString(),
    serviceUrl: options.serviceUrl,
    from: { id: from, name: 'A Customer' },
    conversation: { id: options.conversationId ?? `conv-${randomUUID()}`, name: 'chat' },
    text: options.text ?? (base.text as string),
    ...options.extra,
  };
}

export async function postActivity(baseUrl: string, activity: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}/api/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: typeof activity === 'string' ? activity : JSON.stringify(activity),
  });
}

/** What the bot POSTed to `/v3/conversations/{id}/activities`. */
export interface SentActivity {
  conversationId: string;
  path: string;
  activity: Json;
}

const SEND_PATH = /^\/v3\/conversations\/([^/]+)\/activities(\/[^/]+)?$/;

/** How the connector service answers: a ResourceResponse for each sent activity, 404 for anything else. */
export function connectorServiceResponder(): Responder {
  let next = 0;
  return (request: RecordedRequest) => {
    if (request.method === 'POST' && SEND_PATH.test(request.path)) return { status: 200, body: { id: `${bfFixture('send-response.json').id as string}-${++next}` } };
    return { status: 404, body: { error: { code: 'NotFound', message: 'no such route on the stand-in' } } };
  };
}

/** The Bot Framework connector service, as a channel's `serviceUrl` points to it. */
export async function startConnectorService(): Promise<PlatformStandIn> {
  return new PlatformStandIn(connectorServiceResponder()).start();
}

export function sentActivities(service: PlatformStandIn): SentActivity[] {
  return service.requests.flatMap((request) => {
    const match = SEND_PATH.exec(request.path);
    return request.method === 'POST' && match ? [{ conversationId: decodeURIComponent(match[1]!), path: request.path, activity: JSON.parse(request.body) as Json }] : [];
  });
}

/** The hero card's `openUrl` button of a sent activity, when it has one. */
export function openUrlButton(activity: Json): { title: string; value: string; text: string } | undefined {
  const attachments = Array.isArray(activity.attachments) ? (activity.attachments as Json[]) : [];
  for (const attachment of attachments) {
    if (attachment.contentType !== 'application/vnd.microsoft.card.hero') continue;
    const content = attachment.content as { text?: string; buttons?: Array<{ type?: string; title?: string; value?: string }> };
    const button = content.buttons?.find((b) => b.type === 'openUrl');
    if (button?.value) return { title: button.title ?? '', value: button.value, text: content.text ?? '' };
  }
  return undefined;
}

/** Polls `probe` until it gives a value and resolves with it; rejects after `ms`, naming `what`. */
export async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
