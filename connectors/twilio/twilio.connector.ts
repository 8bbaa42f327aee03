/**
 * SMS through Twilio, and WhatsApp through Twilio's WhatsApp senders.
 *
 * Webhooks, mounted at `/webhooks/twilio`:
 * - `POST /` inbound SMS and WhatsApp: `X-Twilio-Signature` checked against
 *   `PUBLIC_URL` + path + query, the message stored, then an empty TwiML
 *   `<Response/>` (replies go out later through the outbox, never inline);
 * - `POST /status`: delivery status callbacks for the messages we sent.
 * Twilio does not retry a failed SMS webhook by default: operators add
 * connection overrides (`#rc=3&rp=all`) and a fallback URL on another node
 * (README), and redeliveries deduplicate on `MessageSid`.
 *
 * Outbound: the Messages API through the twilio SDK (`To`, `From` or
 * `MessagingServiceSid`, `Body`, `StatusCallback`). An invite on SMS is plain
 * text with the link (see `smsInviteText`); WhatsApp over Twilio sends the
 * same text (a native button there needs a pre-approved Content template).
 * WhatsApp replies come from the bank's WhatsApp sender the customer last
 * wrote to (the inbound `To`, recorded by the webhook); with none recorded,
 * from the Messaging Service when `TWILIO_FROM` is one (it picks a WhatsApp
 * sender of its pool), else from `whatsapp:` + `TWILIO_FROM`.
 * A body over Twilio's 1,600-character limit is refused, never cut: the send
 * fails for good and the message shows why.
 */
import { Router, type Response } from 'express';
import type twilio from 'twilio';
import { GatewayError } from '../../src/errors';
import { errorHandler, sendProblem } from '../../src/http-errors';
import type { Conversation } from '../../src/messages';
import type { Logger } from '../../src/ops/logger';
import { PlatformError } from '../../src/outbound/platform-error';
import type { Connector, ConnectorContext, Invite, OutboundReceipt } from '../connector';
import { readWhatsAppWay, rememberWhatsAppWay } from '../reply-route';
import { bodyBytes, deliverEvents, notStored, rawBody, type WebhookEvent } from '../webhook';
import { createTwilioClient } from './twilio.client';
import { parseTwilioInbound, parseTwilioStatus, WHATSAPP_PREFIX } from './twilio.payload';
import { parseTwilioForm, signedTwilioUrl, TWILIO_SIGNATURE_HEADER, verifyTwilioSignature } from './twilio.signature';

export const TWILIO_WEBHOOK_PATH = '/webhooks/twilio';
/** Twilio's form bodies are small (a message is at most 1,600 characters). */
export const TWILIO_BODY_LIMIT = '256kb';
/**
 * A string, not a Buffer: Node's http joins a string body onto the header
 * block, one chunk for the socket instead of a header string and a Buffer.
 */
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
/** What `res.type('text/xml').send(EMPTY_TWIML)` would set, written directly (no content-type parsing per request). */
const TWIML_HEADERS = { 'content-type': 'text/xml; charset=utf-8', 'content-length': String(Buffer.byteLength(EMPTY_TWIML, 'utf8')) };

function sendEmptyTwiml(res: Response): void {
  res.writeHead(200, TWIML_HEADERS).end(EMPTY_TWIML);
}
const IDEMPOTENCY_HEADER = 'i-twilio-idempotency-token';
/** Twilio's Body limit (docs: "up to 1,600 characters"; longer is refused with error 21617). */
const MAX_BODY = 1600;
const BODY_TOO_LONG_CODE = 21617;

/** Who a message comes from: one sender (number or `whatsapp:` sender), or a Messaging Service that picks one from its pool. */
export type TwilioSender = { from: string } | { messagingServiceSid: string };

/** `TWILIO_FROM` may be a Messaging Service SID (`MG` + 32 hex) rather than an E.164 number. */
function isMessagingService(from: string): boolean {
  return from.startsWith('MG');
}

/**
 * The SMS invite: the reason, then the link on its own line so every phone
 * makes it tappable. Plain GSM-7 when the reason is, so it costs as few
 * segments as the link allows (see `smsSegments`).
 */
export function smsInviteText(invite: Invite): string {
  return `${invite.reason}\nContinue securely: ${invite.url}`;
}

type Settings = NonNullable<ConnectorContext['config']['twilio']>;

export class TwilioConnector implements Connector {
  readonly channel = 'sms' as const;
  readonly webhookPath = TWILIO_WEBHOOK_PATH;
  private readonly client: twilio.Twilio;
  private readonly logger: Logger;
  private cached?: Router;

  constructor(
    private readonly ctx: ConnectorContext,
    private readonly settings: Settings,
  ) {
    this.logger = ctx.logger.child({ component: 'connector', channel: 'twilio' });
    this.client = createTwilioClient(settings.accountSid, settings.authToken, ctx.config.twilioApiUrl);
  }

  router(): Router {
    this.cached ??= this.buildRouter();
    return this.cached;
  }

  private buildRouter(): Router {
    const router = Router();
    router.post('/', rawBody(TWILIO_BODY_LIMIT), async (req, res) => {
      const params = this.verified(req.originalUrl, req.get(TWILIO_SIGNATURE_HEADER), bodyBytes(req));
      if (!params) {
        sendProblem(res, new GatewayError('GW_ERR_WEBHOOK_SIGNATURE'), req.originalUrl);
        return;
      }
      let parsed: ReturnType<typeof parseTwilioInbound>;
      try {
        parsed = parseTwilioInbound(params, req.get(IDEMPOTENCY_HEADER));
      } catch (err) {
        sendProblem(res, err instanceof GatewayError ? err : new GatewayError('GW_ERR_WEBHOOK_PAYLOAD'), req.originalUrl);
        return;
      }
      try {
        // Always, not only when the Cloud API is configured too: the reply must come from the sender the customer
        // wrote to. Written beside the message, not before it (no extra round trip); both before the answer.
        await Promise.all([
          parsed.whatsAppSender ? rememberWhatsAppWay(this.ctx.store, parsed.event.inbound.externalUserId, { via: 'twilio', from: parsed.whatsAppSender }, this.ctx.config.threadRetentionDays * 86_400) : undefined,
          deliverEvents(this.ctx, [parsed.event]),
        ]);
      } catch (err) {
        const problem = notStored(err);
        this.logger.warn({ code: problem.code, channel: parsed.event.inbound.channel }, 'inbound not stored; Twilio may retry');
        sendProblem(res, problem, req.originalUrl);
        return;
      }
      sendEmptyTwiml(res);
    });

    router.post('/status', rawBody(TWILIO_BODY_LIMIT), async (req, res) => {
      const params = this.verified(req.originalUrl, req.get(TWILIO_SIGNATURE_HEADER), bodyBytes(req));
      if (!params) {
        sendProblem(res, new GatewayError('GW_ERR_WEBHOOK_SIGNATURE'), req.originalUrl);
        return;
      }
      const event: WebhookEvent | undefined = parseTwilioStatus(params);
      try {
        if (event) await deliverEvents(this.ctx, [event]);
      } catch (err) {
        sendProblem(res, notStored(err), req.originalUrl);
        return;
      }
      sendEmptyTwiml(res);
    });

    router.use(errorHandler(this.logger));
    return router;
  }

  /**
   * Twilio signs the form parameters, so the form is split into key/value
   * pairs first, but nothing in it is interpreted before the signature holds.
   */
  private verified(originalUrl: string, signature: string | undefined, body: Buffer): ReturnType<typeof parseTwilioForm> | undefined {
    const params = parseTwilioForm(body);
    const url = signedTwilioUrl(this.ctx.config.publicUrl, originalUrl);
    if (verifyTwilioSignature(this.settings.authToken, signature, url, body, params)) return params;
    this.logger.warn({ bytes: body.length, signed: signature !== undefined }, 'webhook signature refused');
    return undefined;
  }

  async send(conversation: Conversation, text: string): Promise<OutboundReceipt> {
    return this.deliver(conversation.externalUserId, text, this.smsSender());
  }

  async sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt> {
    return this.deliver(conversation.externalUserId, smsInviteText(invite), this.smsSender());
  }

  /**
   * One Messages API call. `to` is as Twilio wants it (`+E164`, or
   * `whatsapp:+E164` for WhatsApp). A body Twilio would refuse for its length
   * is refused here with the answer Twilio gives (HTTP 400, error 21617), so
   * the outbox fails the send for good and the advisor reads why, exactly as
   * for Twilio's own 4xx. Characters are counted as code points; a body
   * within 1,600 of them but longer in Twilio's own count gets Twilio's 400,
   * recorded the same way.
   */
  async deliver(to: string, body: string, sender: TwilioSender): Promise<OutboundReceipt> {
    const length = [...body].length;
    if (length > MAX_BODY) {
      throw new PlatformError('twilio', {
        status: 400,
        code: BODY_TOO_LONG_CODE,
        message: `text longer than Twilio's 1,600-character limit (${length.toLocaleString('en-US')} characters); not sent, shorten or split it`,
        retryable: false,
      });
    }
    try {
      const message = await this.client.messages.create({
        to,
        body,
        statusCallback: `${this.ctx.config.publicUrl}${TWILIO_WEBHOOK_PATH}/status`,
        ...sender,
      });
      return { platformMessageId: message.sid };
    } catch (err) {
      throw toPlatformError(err);
    }
  }

  /** The same account, as the `whatsapp` channel's Twilio door (no webhook of its own: `/webhooks/twilio` serves both). */
  whatsApp(): Connector {
    return new TwilioWhatsApp(this);
  }

  private smsSender(): TwilioSender {
    const from = this.settings.from;
    return isMessagingService(from) ? { messagingServiceSid: from } : { from };
  }

  /**
   * The sender the customer last wrote to on WhatsApp (recorded by every
   * WhatsApp-over-Twilio webhook); without one, the Messaging Service when
   * `TWILIO_FROM` is one, else `whatsapp:` + `TWILIO_FROM`.
   */
  async whatsAppSenderFor(externalUserId: string): Promise<TwilioSender> {
    const way = await readWhatsAppWay(this.ctx.store, externalUserId);
    if (way?.via === 'twilio') return { from: way.from };
    const from = this.settings.from;
    if (isMessagingService(from)) return { messagingServiceSid: from };
    return { from: from.startsWith(WHATSAPP_PREFIX) ? from : `${WHATSAPP_PREFIX}${from}` };
  }
}

class TwilioWhatsApp implements Connector {
  readonly channel = 'whatsapp' as const;
  readonly webhookPath = undefined;

  constructor(private readonly twilio: TwilioConnector) {}

  router(): Router {
    return Router();
  }

  async send(conversation: Conversation, text: string): Promise<OutboundReceipt> {
    return this.twilio.deliver(`${WHATSAPP_PREFIX}${conversation.externalUserId}`, text, await this.twilio.whatsAppSenderFor(conversation.externalUserId));
  }

  async sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt> {
    return this.twilio.deliver(`${WHATSAPP_PREFIX}${conversation.externalUserId}`, smsInviteText(invite), await this.twilio.whatsAppSenderFor(conversation.externalUserId));
  }
}

/** The SDK's RestException carries `status`, `code` and Twilio's message; anything else is a network failure. */
function toPlatformError(err: unknown): PlatformError {
  const e = err as { status?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.status === 'number') {
    return new PlatformError('twilio', {
      status: e.status,
      message: typeof e.message === 'string' ? e.message : `HTTP ${e.status}`,
      ...(typeof e.code === 'number' ? { code: e.code } : {}),
      cause: err,
    });
  }
  return new PlatformError('twilio', { status: 0, message: `request failed: ${(err as Error)?.message ?? 'unknown'}`, cause: err });
}

/** @example registry: `if (config.twilio) connectors.set('sms', createTwilioConnector(ctx))` */
export function createTwilioConnector(ctx: ConnectorContext): TwilioConnector {
  if (!ctx.config.twilio) throw new Error('the Twilio connector needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM');
  return new TwilioConnector(ctx, ctx.config.twilio);
}
