/**
 * The connectors this deployment has: each is enabled exactly when its
 * credentials are configured (PRODUCT.md); the sandbox only outside
 * production, and so is a Bot Framework channel without `MicrosoftAppId`
 * (botbuilder then disables authentication). The composition root mounts
 * every distinct connector's `router()` at its `webhookPath` and hands the
 * map to the outbox.
 *
 * `whatsapp` is served by the Cloud API, by Twilio's WhatsApp senders, or by
 * both: then a `WhatsAppRoute` answers each customer through the door they
 * last came in by (reply-route.ts).
 *
 * @example
 *   const connectors = createConnectors({ config, ingest, store, logger, cipher, outboxStatus: deliveries.report });
 *   for (const c of new Set(connectors.values())) if (c.webhookPath) app.use(c.webhookPath, c.router());
 */
import type { PublicChannel } from '../src/messages';
import type { Connector, ConnectorContext } from './connector';
import { createBotFrameworkConnector } from './botframework/botframework.connector';
import { createMessengerConnector } from './messenger/messenger.connector';
import { WhatsAppRoute } from './reply-route';
import { createSandboxConnector } from './sandbox/sandbox.connector';
import { createTwilioConnector } from './twilio/twilio.connector';
import { createWhatsAppConnector } from './whatsapp/whatsapp.connector';

export function createConnectors(ctx: ConnectorContext): Map<PublicChannel, Connector> {
  const connectors = new Map<PublicChannel, Connector>();
  const { config } = ctx;
  const twilio = config.twilio ? createTwilioConnector(ctx) : undefined;
  const cloud = config.whatsapp ? createWhatsAppConnector(ctx) : undefined;

  if (twilio) connectors.set('sms', twilio);
  if (config.messenger) connectors.set('messenger', createMessengerConnector(ctx));
  if (cloud && !twilio) connectors.set('whatsapp', cloud);
  else if (cloud || twilio) connectors.set('whatsapp', new WhatsAppRoute(ctx.store, cloud, twilio?.whatsApp()));
  // Bot Framework: authenticated with MicrosoftAppId; without it only outside production (the Emulator, tests).
  if (config.botFramework || config.devFeatures) connectors.set('botframework', createBotFrameworkConnector(ctx));
  if (config.devFeatures) connectors.set('sandbox', createSandboxConnector(ctx));

  const log = ctx.logger.child({ component: 'connectors' });
  log.info({ channels: [...connectors.keys()] }, 'connectors enabled');
  return connectors;
}
