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
import type { ConnectorContext } from '../connector';
import { bodyBytes, deliverEvents, notStored, rawBody, type WebhookEvent } from '../webhook';
import { answerChallenge, META_SIGNATURE_HEADER, verifyMetaSignature } from './meta.signature';

/**
 * Meta batches up to 1,000 events in one delivery; 1 MB leaves room for that
 * (a refused oversized delivery would be redelivered and refused forever).
 */
export const META_BODY_LIMIT = '1mb';

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

  router.get('/', (req, res) => {
    const query = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
    const answer = answerChallenge(query, options.verifyToken);
    if (!answer.ok) {
      logger.warn('webhook verification challenge refused');
      sendProblem(res, new GatewayError('GW_ERR_WEBHOOK_VERIFY_TOKEN'), req.originalUrl.split('?')[0]);
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
