/**
 * Bot Framework (Azure Bot Service channels: Web Chat, Teams, Direct Line,
 * the Bot Framework Emulator) at `POST /api/messages`, on botbuilder's
 * `CloudAdapter`, so those conversations join the same threads and pivot too.
 *
 * Inbound: the adapter authenticates the request (the channel's JWT, with
 * botbuilder's own `MicrosoftAppId`/`MicrosoftAppPassword`/`MicrosoftAppType`/
 * `MicrosoftAppTenantId`), then each `message` activity is stored through the
 * same `ingest` as every connector (channel `botframework`, `from.id` as the
 * user, `activity.id` as the dedupe key) together with the conversation
 * reference needed to answer later; the request is acknowledged (200) only
 * then. 401 when the channel's token is missing or invalid, 400 for an
 * activity we cannot read, 503 when it could not be stored (the channel
 * redelivers). Nothing is sent inside the request: the bot answers from its
 * durable job, through the outbox.
 *
 * Outbound: `send`/`sendInvite` continue the stored conversation proactively
 * (`continueConversationAsync`): `POST {serviceUrl}/v3/conversations/{id}/activities`.
 * The invite is a hero card whose `openUrl` button ("Continue securely")
 * opens the pivot link.
 *
 * Authentication is off only when no `MicrosoftAppId` is configured, which
 * botbuilder (and the Emulator) treat as local development; the registry
 * enables that unauthenticated channel outside production only.
 */
import express, { Router, type Request, type Response } from 'express';
import { ActivityTypes, CardFactory, CloudAdapter, ConfigurationBotFrameworkAuthentication, type Activity, type InvokeResponse, type TurnContext } from 'botbuilder';
import { ConfigError, type Config } from '../../src/config';
import { GatewayError } from '../../src/errors';
import { errorHandler, sendProblem } from '../../src/http-errors';
import { PermanentJobError } from '../../src/jobs/job-queue';
import type { Conversation } from '../../src/messages';
import type { Logger } from '../../src/ops/logger';
import { PlatformError } from '../../src/outbound/platform-error';
import type { Connector, ConnectorContext, Invite, OutboundReceipt } from '../connector';
import { asRecord, type Json, notStored } from '../webhook';
import { readActivity } from './botframework.activity';
import { ConversationReferences } from './botframework.reference';

export const BOTFRAMEWORK_WEBHOOK_PATH = '/api/messages';
/** The label of the invite card's button. */
export const INVITE_BUTTON_TITLE = 'Continue securely';
/** Activities are small JSON; Teams' largest (with entities and attachments' metadata) stay far below this. */
const BODY_LIMIT = '256kb';

type Settings = Config['botFramework'];
type BotFrameworkAuthentication = ConstructorParameters<typeof CloudAdapter>[0] & object;
type AuthenticateRequestResult = Awaited<ReturnType<BotFrameworkAuthentication['authenticateRequest']>>;
type TurnLogic = (context: TurnContext) => Promise<void>;

/**
 * CloudAdapter with its two inbound steps apart, so each failure gets its
 * own answer (401 vs 503): `process()` joins them, answers 500 for a store
 * failure and writes to the console.
 */
class GatewayCloudAdapter extends CloudAdapter {
  authenticate(activity: Activity, authHeader: string): Promise<AuthenticateRequestResult> {
    return this.botFrameworkAuthentication.authenticateRequest(activity, authHeader);
  }

  run(authenticated: AuthenticateRequestResult, activity: Activity, logic: TurnLogic): Promise<InvokeResponse | undefined> {
    return this.processActivity(authenticated, activity, logic);
  }
}

/** botbuilder's own checks, said the way the gateway's configuration errors are. */
function validated(settings: NonNullable<Settings>): NonNullable<Settings> {
  const problems: string[] = [];
  const msi = settings.appType === 'UserAssignedMSI';
  if (!msi && !settings.appPassword) problems.push(`MicrosoftAppPassword: required with MicrosoftAppId for MicrosoftAppType=${settings.appType}`);
  if (msi && settings.appPassword) problems.push('MicrosoftAppPassword: must not be set for MicrosoftAppType=UserAssignedMSI');
  if ((msi || settings.appType === 'SingleTenant') && !settings.tenantId) problems.push(`MicrosoftAppTenantId: required for MicrosoftAppType=${settings.appType}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}

/** No settings: authentication disabled (botbuilder's rule: no MicrosoftAppId). */
export function botFrameworkAuthentication(settings: Settings): ConfigurationBotFrameworkAuthentication {
  if (!settings) return new ConfigurationBotFrameworkAuthentication({});
  return new ConfigurationBotFrameworkAuthentication({
    MicrosoftAppId: settings.appId,
    MicrosoftAppPassword: settings.appPassword,
    MicrosoftAppType: settings.appType,
    MicrosoftAppTenantId: settings.tenantId,
  });
}

/** The connector service's answer as the outbox's one error shape. Its cause is dropped: the request it holds carries our bearer token. */
function platformErrorOf(err: unknown): PlatformError {
  if (err instanceof PlatformError) return err;
  const { statusCode, code, message } = (asRecord(err) ?? {}) as { statusCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof statusCode === 'number' ? statusCode : 0;
  const words = typeof message === 'string' && message !== '' ? message : 'the Bot Framework connector service failed';
  return new PlatformError('botframework', { status, message: (typeof code === 'string' ? `${code}: ${words}` : words).slice(0, 300) });
}

function statusOf(err: unknown): number | undefined {
  const status = asRecord(err)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * What is checked of an activity before authentication: a JSON object with a
 * `type`. botbuilder's `authenticate` and the handlers read the rest.
 */
function isActivity(value: Json | undefined): value is Json & Activity {
  return value !== undefined && typeof value.type === 'string' && value.type !== '';
}

export class BotFrameworkConnector implements Connector {
  readonly channel = 'botframework' as const;
  readonly webhookPath = BOTFRAMEWORK_WEBHOOK_PATH;
  private readonly logger: Logger;
  private readonly adapter: GatewayCloudAdapter;
  private readonly references: ConversationReferences;
  private readonly appId: string;
  private cached?: Router;

  constructor(
    private readonly ctx: ConnectorContext,
    settings: Settings,
  ) {
    this.logger = ctx.logger.child({ component: 'connector', channel: 'botframework' });
    this.adapter = new GatewayCloudAdapter(botFrameworkAuthentication(settings));
    this.references = new ConversationReferences(ctx.store, ctx.cipher, ctx.config.threadRetentionDays * 86_400);
    this.appId = settings?.appId ?? '';
  }

  /** True when activities are accepted without the channel's token (no MicrosoftAppId; development only). */
  get authenticationDisabled(): boolean {
    return this.appId === '';
  }

  router(): Router {
    this.cached ??= this.buildRouter();
    return this.cached;
  }

  private buildRouter(): Router {
    const router = Router();
    router.post('/', express.json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'] }), (req, res) => this.receive(req, res));
    router.all('/', (_req, res) => {
      res.set('Allow', 'POST').status(405).end();
    });
    router.use(errorHandler(this.logger));
    return router;
  }

  private async receive(req: Request, res: Response): Promise<void> {
    const activity = asRecord(req.body);
    if (!isActivity(activity)) {
      sendProblem(res, new GatewayError('GW_ERR_WEBHOOK_PAYLOAD', 'not a Bot Framework activity'), req.originalUrl);
      return;
    }

    let authenticated: AuthenticateRequestResult;
    try {
      authenticated = await this.adapter.authenticate(activity, req.get('authorization') ?? '');
    } catch (err) {
      const status = statusOf(err);
      if (status === 401 || status === 403) {
        this.logger.info({ channelId: activity.channelId }, 'activity refused: missing or invalid channel token');
        sendProblem(res, new GatewayError('GW_ERR_WEBHOOK_SIGNATURE', 'the Bot Framework token is missing or invalid'), req.originalUrl);
      } else {
        // E.g. the channel's OpenID keys could not be fetched: not stored, so the channel may redeliver.
        this.logger.warn({ err: err instanceof Error ? err.name : typeof err }, 'activity could not be authenticated');
        sendProblem(res, new GatewayError('GW_ERR_INTERNAL', 'the Bot Framework token could not be checked'), req.originalUrl);
      }
      return;
    }

    try {
      const invoke = await this.adapter.run(authenticated, activity, (context) => this.onTurn(context));
      if (!invoke) res.status(200).end();
      else if (invoke.body === undefined) res.status(invoke.status).end();
      else res.status(invoke.status).json(invoke.body);
    } catch (err) {
      sendProblem(res, notStored(err), req.originalUrl);
    }
  }

  /** One inbound turn: remember how to answer, then store. Never replies inline. */
  private async onTurn(context: TurnContext): Promise<void> {
    const reading = readActivity(context.activity);
    if (reading.kind === 'invalid') throw new GatewayError('GW_ERR_WEBHOOK_PAYLOAD', reading.reason);
    if (reading.kind === 'ignored') {
      this.logger.debug({ type: context.activity.type, reason: reading.reason }, 'activity acknowledged, not stored');
      return;
    }
    await this.references.remember(reading.inbound.externalUserId, reading.reference);
    const { duplicate } = await this.ctx.ingest(reading.inbound);
    this.logger.debug({ channelId: reading.reference.channelId, duplicate, length: reading.inbound.text.length }, 'activity stored');
  }

  async send(conversation: Conversation, text: string): Promise<OutboundReceipt> {
    return this.deliver(conversation, { type: ActivityTypes.Message, text });
  }

  async sendInvite(conversation: Conversation, invite: Invite): Promise<OutboundReceipt> {
    const card = CardFactory.heroCard('', invite.reason, undefined, [{ type: 'openUrl', title: INVITE_BUTTON_TITLE, value: invite.url }]);
    return this.deliver(conversation, { type: ActivityTypes.Message, attachments: [card] });
  }

  private async deliver(conversation: Conversation, activity: Partial<Activity>): Promise<OutboundReceipt> {
    const reference = await this.references.find(conversation.externalUserId);
    if (!reference) throw new PermanentJobError('botframework: no conversation reference for this user (none received, or it expired)');
    let sentId: string | undefined;
    try {
      await this.adapter.continueConversationAsync(this.appId, reference, async (context) => {
        // A proactive message answers nothing: without this the continuation activity's random id would become its `replyToId`.
        context.onSendActivities(async (_context, activities, next) => {
          for (const outgoing of activities) delete outgoing.replyToId;
          return next();
        });
        sentId = (await context.sendActivity(activity))?.id;
      });
    } catch (err) {
      throw platformErrorOf(err);
    }
    return sentId ? { platformMessageId: `botframework:${reference.conversation.id}:${sentId}` } : {};
  }
}

/**
 * Enabled with `MicrosoftAppId` (authenticated), or without it outside
 * production (unauthenticated, for the Emulator and tests).
 * @example connectors.set('botframework', createBotFrameworkConnector(ctx));
 */
export function createBotFrameworkConnector(ctx: ConnectorContext): BotFrameworkConnector {
  const settings = ctx.config.botFramework;
  if (!settings && !ctx.config.devFeatures) {
    throw new Error('the Bot Framework channel needs MicrosoftAppId and its credentials when NODE_ENV=production: unauthenticated activities are a development feature');
  }
  const connector = new BotFrameworkConnector(ctx, settings ? validated(settings) : undefined);
  if (connector.authenticationDisabled) ctx.logger.child({ component: 'connector', channel: 'botframework' }).warn('Bot Framework activities are accepted without authentication (no MicrosoftAppId): development only');
  return connector;
}
