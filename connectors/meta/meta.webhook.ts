/**
 * The webhook router both Meta connectors use: `GET /` answers the
 * subscription challenge, `POST /` verifies `X-Hub-Signature-256` over the raw
 * bytes, then parses and stores every event of the (batched) delivery in
 * order, and answers 200 only after all of them were stored.
 */
import { Router } from 'express';
import { GatewayError } from '../../src/errors';
import { errorHandler, sendProblem } from '../../src/http-errors';
import type { Logger } from '../../src/ops/logger';
import { clientNetworkOf, createLimiter, rateLimitedError } from '../../src/ops/rate-limits';
import type { ConnectorContext } from '../connector';
import { bodyBytes, deliverEvents, notStored, rawBody, type WebhookEvent } from '../webhook';
import { answerChallenge, META_SIGNATURE_HEADER, verifyMetaSignature } from './meta.signature';

/**
 * Meta batches up to 1,000 events in one delivery; 1 MB leaves room for that
 * (a refused oversized delivery would be redelivered and refused forever).
 */
export const META_BODY_LIMIT = '1mb';

/**
 * Wrong verify tokens per client network: the token is chosen by an operator
 * and can be guessed, so guesses are slowed down. Meta's own challenge (the
 * right token) is never refused for it.
 */
const CHALLENGE_FAILURES = { points: 10, durationSeconds: 600 };

export interface MetaWebhookOptions {
  appSecret: string;
  verifyToken: string;
  /** Platform payload → events, in payload order. Throws GW_ERR_WEBHOOK_PAYLOAD when it cannot read it. */
  parse: (payload: unknown) => WebhookEvent[];
  ctx: ConnectorContext;
  logger: Logger;
}

export function metaWebhookRouter(options: MetaWebhookOptions): Router {
  const { ctx, logger } = options;
  const router = Router();
  const challengeFailures = createLimiter(ctx.store, 'meta-challenge', CHALLENGE_FAILURES);

  router.get('/', async (req, res) => {
    const query = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
    const answer = answerChallenge(query, options.verifyToken);
    if (!answer.ok) {
      const network = clientNetworkOf(req.ip ?? '');
      let problem = new GatewayError('GW_ERR_WEBHOOK_VERIFY_TOKEN');
      try {
        const decision = await challengeFailures.peek(network);
        if (decision.allowed) await challengeFailures.penalize(network);
        else problem = rateLimitedError(decision.retryAfterMs);
      } catch {
        // The store is down: the challenge is refused all the same, only not counted.
      }
      logger.warn({ code: problem.code }, 'webhook verification challenge refused');
      sendProblem(res, problem, req.originalUrl.split('?')[0]);
      return;
    }
    res.status(200).type('text/plain').set('X-Content-Type-Options', 'nosniff').send(answer.challenge);
  });

  router.post('/', rawBody(META_BODY_LIMIT), async (req, res) => {
    const body = bodyBytes(req);
    if (!verifyMetaSignature(options.appSecret, req.get(META_SIGNATURE_HEADER), body)) {
      logger.warn({ bytes: body.length, signed: req.get(META_SIGNATURE_HEADER) !== undefined }, 'webhook signature refused');
      sendProblem(res, new GatewayError('GW_ERR_WEBHOOK_SIGNATURE'), req.originalUrl);
      return;
    }
    let events: WebhookEvent[];
    try {
      events = options.parse(JSON.parse(body.toString('utf8')) as unknown);
    } catch (err) {
      const problem = err instanceof GatewayError ? err : new GatewayError('GW_ERR_WEBHOOK_PAYLOAD', 'the body is not JSON');
      logger.warn({ bytes: body.length, code: problem.code }, 'signed webhook payload not understood');
      sendProblem(res, problem, req.originalUrl);
      return;
    }
    try {
      const outcome = await deliverEvents(ctx, events);
      logger.debug({ events: events.length, ...outcome }, 'webhook delivery stored');
    } catch (err) {
      const problem = notStored(err);
      logger.warn({ events: events.length, code: problem.code }, 'webhook delivery not stored; the platform will retry');
      sendProblem(res, problem, req.originalUrl);
      return;
    }
    res.status(200).type('text/plain').send('EVENT_RECEIVED');
  });

  router.use(errorHandler(logger));
  return router;
}
