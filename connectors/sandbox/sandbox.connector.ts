/**
 * The sandbox: a stand-in messaging platform for development (never in
 * production: the registry adds it only when `config.devFeatures`). A person
 * plays the customer on a phone-like page (webviews/sandbox/) that talks to
 * this API, mounted at `/sandbox/api`:
 *
 * - `POST /sandbox/api/messages` `{from, text, platform?, id?}` → the customer
 *   "sends": the same `ingest` path as every real connector (dedupe by `id`
 *   when given). 202 `{duplicate}`; 503 when it could not be stored.
 * - `GET /sandbox/api/messages?user=<from>&after=<id>&limit=<n>` → what the
 *   phone shows: `{items: [{id, kind: "text"|"invite", text, url?, at}], next}`,
 *   oldest first; `next` is the `after` for the following poll.
 * - `GET /sandbox/api/events?user=<from>&after=<id>` → the same items as
 *   Server-Sent Events (`event: message`, `id:` = item id, so a reconnecting
 *   EventSource resumes with `Last-Event-ID`).
 *
 * `send`/`sendInvite` append to the phone's inbox, a store log per sandbox
 * user (so every node sees it), sealed with the store's cipher: an invite
 * holds a pivot link, i.e. a live token.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { GatewayError } from '../../src/errors';
import { errorHandler, sendProblem } from '../../src/http-errors';
import type { Conversation } from '../../src/messages';
import type { Logger } from '../../src/ops/logger';
import { keys } from '../../src/store/keys';
import type { Connector, ConnectorContext, Invite, OutboundReceipt } from '../connector';
import { notStored } from '../webhook';

export const SANDBOX_API_PATH = '/sandbox/api';
const INBOX_TTL_SECONDS = 24 * 3600;
const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;

export interface SandboxItem {
  id: string;
  kind: 'text' | 'invite';
  text: string;
  /** Invites only: the pivot link the phone's button opens. */
  url?: string;
  at: string;
}

const userId = z.string().regex(/^[\w+.@-]{1,64}$/, 'expected 1-64 letters, digits or + . _ @ -');
const postBody = z.object({
  from: userId,
  text: z.string().trim().min(1).max(4096),
  platform: z.enum(['sms', 'messenger', 'whatsapp']).optional(),
  id: z.string().regex(/^[\w-]{1,64}$/).optional(),
});
const listQuery = z.object({
  user: userId,
  after: z.string().regex(/^\d{1,16}-\d{1,10}$/).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

function invalid(error: z.ZodError): GatewayError {
  const issue = error.issues[0];
  return new GatewayError('GW_ERR_VALIDATION', issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid request');
}

export class SandboxConnector implements Connector {
  readonly channel = 'sandbox' as const;
  readonly webhookPath = SANDBOX_API_PATH;
  private readonly logger: Logger;
  /** Wakes this node's event streams at once; other nodes' streams find new items on their next poll. */
  private readonly wakeups = new EventEmitter();
  private cached?: Router;

  constructor(private readonly ctx: ConnectorContext) {
    this.logger = ctx.logger.child({ component: 'connector', channel: 'sandbox' });
    this.wakeups.setMaxListeners(0);
  }

  router(): Router {
    this.cached ??= this.buildRouter();
    return this.cached;
  }

  private buildRouter(): Router {
    const router = Router();
    router.post('/messages', express.json({ limit: '16kb' }), async (req, res) => {
      const parsed = postBody.safeParse(req.body);
      if (!parsed.success) {
        sendProblem(res, invalid(parsed.error), req.originalUrl);
        return;
      }
      const { from, text, platform, id } = parsed.data;
      try {
        const { duplicate } = await this.ctx.ingest({
          channel: 'sandbox',
          externalUserId: from,
          platformMessageId: id ?? randomUUID(),
          text,
          sentAt: new Date().toISOString(),
          ...(platform ? { replyContext: { platform } } : {}),
        });
        res.status(202).json({ duplicate });
      } catch (err) {
        sendProblem(res, notStored(err), req.originalUrl);
      }
    });

    router.get('/messages', async (req, res) => {
      const parsed = listQuery.safeParse(req.query);
      if (!parsed.success) {
        sendProblem(res, invalid(parsed.error), req.originalUrl);
        return;
      }
      const items = await this.read(parsed.data.user, parsed.data.after, parsed.data.limit);
      res.set('Cache-Control', 'no-store').json({ items, next: items.at(-1)?.id ?? parsed.data.after ?? null });
    });

    router.get('/events', (req, res) => this.stream(req, res));
    router.use(errorHandler(this.logger));
    return router;
  }

  async read(user: string, after: string | undefined, limit: number): Promise<SandboxItem[]> {
    const key = keys.sandboxInbox(user);
    const entries = await this.ctx.store.readLog(key, after, limit);
    return entries.map((entry) => ({ id: entry.id, ...(JSON.parse(this.ctx.cipher.decrypt(entry.value, key)) as Omit<SandboxItem, 'id'>) }));
  }

  private stream(req: Request, res: Response): void {
    const parsed = listQuery.safeParse({ ...req.query, after: req.query.after ?? req.get('last-event-id') });
    if (!parsed.success) {
      sendProblem(res, invalid(parsed.error), req.originalUrl);
      return;
    }
    const { user } = parsed.data;
    let after = parsed.data.after;
    let busy = false;
    let closed = false;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write(': sandbox inbox\n\n');

    const flush = async (): Promise<void> => {
      if (busy || closed) return;
      busy = true;
      try {
        for (const item of await this.read(user, after, 100)) {
          res.write(`id: ${item.id}\nevent: message\ndata: ${JSON.stringify(item)}\n\n`);
          after = item.id;
        }
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'sandbox stream read failed; will retry');
      } finally {
        busy = false;
      }
    };
    const wake = (who: string) => {
      if (who === user) void flush();
    };
    const poll = setInterval(() => void flush(), POLL_MS);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.wakeups.on('item', wake);
    req.on('close', () => {
      closed = true;
      clearInterval(poll);
      clearInterval(heartbeat);
      this.wakeups.off('item', wake);
    });
    void flush();
  }

  private async append(conversation: Conversation, item: Omit<SandboxItem, 'id'>): Promise<OutboundReceipt> {
    const key = keys.sandboxInbox(conversation.externalUserId);
    const id = await this.ctx.store.appendLog(key, this.ctx.cipher.encrypt(JSON.stringify(item), key), INBOX_TTL_SECONDS);
    this.wakeups.emit('item', conversation.externalUserId);
    return { platformMessageId: `sandbox:${conversation.externalUserId}:${id}` };
  }

  async send(conversation: Conversation, text: string): Promise<OutboundReceipt> {
    return this.append(conversation, { kind: 'text', text, at: new Date().toISOString() });
  }

  async sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt> {
    return this.append(conversation, { kind: 'invite', text: invite.reason, url: invite.url, at: new Date().toISOString() });
  }
}

export function createSandboxConnector(ctx: ConnectorContext): SandboxConnector {
  if (!ctx.config.devFeatures) throw new Error('the sandbox is a development feature: it is off when NODE_ENV=production');
  return new SandboxConnector(ctx);
}
