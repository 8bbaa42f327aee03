/**
 * The advisor REST API (PRODUCT.md, "Advisor REST API"), mounted at `/api`.
 * JSON in and out; errors are problem JSON with a `GW_ERR_*` code; lists are
 * `{items, next}`; POSTs honour `Idempotency-Key`.
 *
 * It is a thin layer: input validation (zod) and HTTP shapes here, the work
 * in the modules it is given (ledger, delivery, audit), so the socket and
 * REST paths behave the same.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { AuditClient } from '../audit/audit-trail';
import { GatewayError } from '../errors';
import type { Conversation, Message } from '../messages';
import type { Store } from '../store/store';
import { isMessageId } from '../store/store';
import type { TextCipher } from '../store/text-cipher';
import { idempotency } from './idempotency';

/** Who is calling, from the verified bearer token. */
export interface Advisor {
  sub: string;
  name?: string;
}

export interface AdvisorApiDeps {
  store: Store;
  cipher: TextCipher;
  authenticate: (token: string) => Promise<Advisor>;
  /** Appends an advisor reply and routes it (secure channel or public platform, guard rail included). */
  reply: (conversation: Conversation, text: string, advisor: Advisor) => Promise<Message>;
  /** Mints a pivot for the conversation and sends its native invite. */
  pivot: (conversation: Conversation, intent: string, advisor: Advisor, client: AuditClient) => Promise<{ pivotId: string; url: string; expiresAt: string }>;
  /** `client`: where the advisor's request came from, for the audit trail. */
  lock: (conversation: Conversation, advisor: Advisor, client: AuditClient) => Promise<Conversation>;
  unlock: (conversation: Conversation, advisor: Advisor, client: AuditClient) => Promise<Conversation>;
  close: (conversation: Conversation, advisor: Advisor, client: AuditClient) => Promise<Conversation>;
  audit: (conversationId: string, after: string | undefined, limit: number) => Promise<{ items: unknown[]; next: string | null }>;
  /** Extra read-only views (e.g. the identity a conversation is linked to). */
  describe?: (conversation: Conversation) => Promise<Record<string, unknown>>;
  /** A short-lived identity assertion for the bank (`typ: pivot-assertion+jwt`), when a live session proved one. */
  assertion?: (conversation: Conversation, advisor: Advisor) => Promise<{ assertion: string; expiresAt: string }>;
  intents: readonly string[];
}

declare module 'express-serve-static-core' {
  interface Request {
    advisor?: Advisor;
  }
}

const limitSchema = z.coerce.number().int().min(1).max(200).default(50);
const listQuery = z.object({ status: z.enum(['open', 'closed']).optional(), cursor: z.string().max(200).optional(), limit: limitSchema }).strict();
const messagesQuery = z.object({ after: z.string().max(40).optional(), limit: limitSchema }).strict();
const auditQuery = z.object({ cursor: z.string().max(40).optional(), limit: limitSchema }).strict();
const replyBody = z.object({ text: z.string().trim().min(1, 'text must not be empty').max(4096) }).strict();
const noBody = z.union([z.object({}).strict(), z.undefined()]);

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : where}: ${i.message}`).join('; ');
    throw new GatewayError('GW_ERR_VALIDATION', detail);
  }
  return result.data;
}

function bearer(req: Request): string | undefined {
  const header = req.get('authorization');
  const match = header ? /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header.trim()) : null;
  return match?.[1];
}

export function advisorApi(deps: AdvisorApiDeps): Router {
  const router = Router();
  const pivotBody = z.object({ intent: z.enum(deps.intents.filter((i) => i !== 'none') as [string, ...string[]]) }).strict();

  router.use(async (req: Request, res: Response, next: NextFunction) => {
    // RFC 6750 §3: a 401 for a bearer-protected resource names the scheme.
    const refuse = (err: GatewayError) => {
      res.setHeader('WWW-Authenticate', err.code === 'GW_ERR_UNAUTHENTICATED' ? 'Bearer realm="advisor-api"' : 'Bearer');
      next(err);
    };
    const token = bearer(req);
    if (!token) {
      refuse(new GatewayError('GW_ERR_UNAUTHENTICATED'));
      return;
    }
    try {
      req.advisor = await deps.authenticate(token);
      next();
    } catch (err) {
      // An outage (IdP keys unreachable, store down) is the server's problem, answered 503: not a bad token.
      if (err instanceof GatewayError && err.status >= 500) next(err);
      else refuse(new GatewayError('GW_ERR_UNAUTHENTICATED', 'the bearer token is invalid or expired'));
    }
  });
  router.use(idempotency({ store: deps.store, cipher: deps.cipher, scopeOf: (req) => req.advisor?.sub ?? 'anonymous' }));

  async function conversationOf(req: Request): Promise<Conversation> {
    const id = String(req.params.id);
    const conversation = /^[0-9a-f-]{36}$/.test(id) ? await deps.store.getConversation(id) : undefined;
    if (!conversation) throw new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', id);
    return conversation;
  }
  const advisorOf = (req: Request): Advisor => req.advisor!;
  /** The advisor's address as Express computes it (TRUST_PROXY) and user agent: audited with what they change. */
  const clientOf = (req: Request): AuditClient => ({ ip: req.ip ?? '', userAgent: (req.get('user-agent') ?? '').slice(0, 256) });

  router.get('/conversations', async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    res.json(await deps.store.listConversations(query));
  });

  router.get('/conversations/:id', async (req, res) => {
    const conversation = await conversationOf(req);
    res.json(deps.describe ? { ...conversation, ...(await deps.describe(conversation)) } : conversation);
  });

  router.get('/conversations/:id/messages', async (req, res) => {
    const query = parse(messagesQuery, req.query, 'query');
    if (query.after !== undefined && !isMessageId(query.after)) throw new GatewayError('GW_ERR_VALIDATION', 'after: not a message id');
    const conversation = await conversationOf(req);
    const slice = await deps.store.readMessagesAfter(conversation.id, query.after, query.limit);
    const last = slice.messages[slice.messages.length - 1];
    res.json({ items: slice.messages, next: slice.hasMore && last ? last.id : null });
  });

  router.post('/conversations/:id/messages', async (req, res) => {
    const body = parse(replyBody, req.body, 'body');
    const conversation = await conversationOf(req);
    if (conversation.status === 'closed') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED');
    const message = await deps.reply(conversation, body.text, advisorOf(req));
    res.status(201).json({ message });
  });

  router.post('/conversations/:id/pivot', async (req, res) => {
    const body = parse(pivotBody, req.body, 'body');
    const conversation = await conversationOf(req);
    if (conversation.status === 'closed') throw new GatewayError('GW_ERR_CONVERSATION_CLOSED');
    res.status(201).json(await deps.pivot(conversation, body.intent, advisorOf(req), clientOf(req)));
  });

  for (const action of ['lock', 'unlock', 'close'] as const) {
    router.post(`/conversations/:id/${action}`, async (req, res) => {
      parse(noBody, req.body && Object.keys(req.body as object).length === 0 ? undefined : req.body, 'body');
      const conversation = await conversationOf(req);
      res.json(await deps[action](conversation, advisorOf(req), clientOf(req)));
    });
  }

  router.get('/conversations/:id/assertion', async (req, res) => {
    parse(noBody, Object.keys(req.query).length === 0 ? undefined : req.query, 'query');
    const conversation = await conversationOf(req);
    if (!deps.assertion) throw new GatewayError('GW_ERR_STEPUP_UNAVAILABLE');
    res.set('Cache-Control', 'no-store');
    res.json(await deps.assertion(conversation, advisorOf(req)));
  });

  router.get('/conversations/:id/audit', async (req, res) => {
    const query = parse(auditQuery, req.query, 'query');
    const conversation = await conversationOf(req);
    res.json(await deps.audit(conversation.id, query.cursor, query.limit));
  });

  return router;
}
