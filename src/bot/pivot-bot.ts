/**
 * ③ The brain: a botbuilder `ActivityHandler` that reads each customer
 * message from a public channel and decides whether the conversation must
 * pivot to the secure chat.
 *
 * It only decides and speaks in Activities: a plain text reply, or a hero
 * card whose `openUrl` button is the pivot link. `gateway-adapter.ts` turns
 * those into stored bot messages and native platform sends, so the same bot
 * also runs behind botbuilder's CloudAdapter (Bot Framework channels).
 *
 * Rules, in order:
 * - `LOCK` (not STOP: carriers reserve it for SMS opt-out) locks the secure
 *   channel and ends its sessions until an advisor unlocks it.
 * - What redaction removed is a signal even though the text no longer holds
 *   it: a masked card number or IBAN is a `card_payment`, a removed secret is
 *   a `credential_disclosure`.
 * - Tier 0: left to the advisor (no reply).
 * - Tier >= 1: a pivot invite with a one-line reason, unless an unredeemed
 *   invite is still valid and the customer did not ask for a new link.
 *   "new link" keeps the intent of the invite it replaces ("new link" alone
 *   reads as anything to the classifier), or the message's own when that
 *   needs a higher tier.
 * - A locked secure channel mints nothing: the customer is told it is locked.
 * - `credential_disclosure`: warn first; `lost_device`: revoke every secure
 *   session of that platform user and alert advisors, then pivot.
 */
import { ActivityHandler, ActivityTypes, CardFactory, type TurnContext } from 'botbuilder';
import { isGatewayError } from '../errors';
import type { Conversation } from '../messages';
import type { PivotIntent, Tier } from '../pivot/policy';
import { covers, highestIntent, tierOf } from '../pivot/policy';
import { MASKED_IBAN_PATTERN, MASKED_PAN_PATTERN, REMOVED_MARKER } from './redact';
import { CONTINUE_SECURELY, languageOf, replies, type ReplyLanguage } from './replies';

export interface Classification {
  intent: PivotIntent;
  tier: number;
  score: number;
  language?: string;
}

export interface PivotBotDeps {
  classify: (text: string) => Promise<Classification> | Classification;
  /** The tier of the conversation's unredeemed, unexpired invite, if it has one. */
  validInviteTier: (conversationId: string) => Promise<Tier | undefined>;
  /** The intent of the conversation's newest invite while its record lives (redeemed or not). */
  currentInviteIntent: (conversationId: string) => Promise<PivotIntent | undefined>;
  /** Mints a pivot (revoking an older unredeemed one) and returns its link. */
  issuePivot: (conversation: Conversation, intent: Exclude<PivotIntent, 'none'>) => Promise<{ url: string }>;
  /** Revokes every secure session of every conversation of this platform user; alerts advisors. */
  lostDevice: (conversation: Conversation) => Promise<void>;
  /** The customer replied LOCK. */
  lockByCustomer: (conversation: Conversation) => Promise<void>;
}

/** What the adapter puts in `activity.channelData` for the bot. */
export interface GatewayChannelData {
  conversation: Conversation;
  messageId: string;
  redacted: boolean;
}

const LOCK_WORDS = new Set(['lock', 'bloquear', 'verrouiller', 'sperren']);
const NEW_LINK = /\b(new|another|fresh|resend|send again)\b.{0,20}\b(link|url)\b|\b(nuevo enlace|otro enlace|nouveau lien|autre lien|neuer link|neuen link)\b/iu;

/** The bot's own reading of what redaction left behind (see src/bot/redact.ts formats). */
export function intentFromRedaction(text: string): PivotIntent | undefined {
  if (MASKED_PAN_PATTERN.test(text) || MASKED_IBAN_PATTERN.test(text)) return 'card_payment';
  if (text.includes(REMOVED_MARKER)) return 'credential_disclosure';
  return undefined;
}

export class PivotBot extends ActivityHandler {
  constructor(private readonly deps: PivotBotDeps) {
    super();
    this.onMessage(async (context, next) => {
      await this.decide(context);
      await next();
    });
  }

  private async invite(context: TurnContext, conversation: Conversation, intent: Exclude<PivotIntent, 'none'>, lang: ReplyLanguage, askedForNewLink: boolean): Promise<void> {
    // One invite at a time, unless the customer asks for a new link or now wants something the outstanding
    // link does not cover: a session opened from a lower-tier link would never be asked for the step-up this needs.
    const outstanding = askedForNewLink ? undefined : await this.deps.validInviteTier(conversation.id);
    if (outstanding !== undefined && covers(outstanding, tierOf(intent))) {
      await context.sendActivity(replies.inviteStillValid(lang));
      return;
    }
    let url: string;
    try {
      ({ url } = await this.deps.issuePivot(conversation, intent));
    } catch (err) {
      // Locked (customer LOCK, replayed link): only an advisor unlocks; a retry of this job would not help.
      if (!isGatewayError(err, 'GW_ERR_CONVERSATION_LOCKED')) throw err;
      await context.sendActivity(replies.locked(lang));
      return;
    }
    const card = CardFactory.heroCard('', replies.why(intent, lang), undefined, [{ type: 'openUrl', title: CONTINUE_SECURELY[lang], value: url }]);
    await context.sendActivity({ type: ActivityTypes.Message, text: replies.why(intent, lang), attachments: [card] });
  }

  private async decide(context: TurnContext): Promise<void> {
    const data = context.activity.channelData as GatewayChannelData | undefined;
    const text = (context.activity.text ?? '').trim();
    if (!data?.conversation || text === '') return;
    const conversation = data.conversation;

    if (LOCK_WORDS.has(text.toLowerCase().replace(/[.!\s]+$/u, ''))) {
      await this.deps.lockByCustomer(conversation);
      const lang: ReplyLanguage = text.toLowerCase().startsWith('lock') ? 'en' : text.toLowerCase().startsWith('bloq') ? 'es' : text.toLowerCase().startsWith('verr') ? 'fr' : 'de';
      await context.sendActivity(replies.locked(lang));
      return;
    }

    const classified = await this.deps.classify(text);
    const lang = languageOf(classified.language);
    const fromRedaction = data.redacted ? intentFromRedaction(text) : undefined;
    const removedSecret = data.redacted && text.includes(REMOVED_MARKER);
    const askedForNewLink = NEW_LINK.test(text);
    const previous = askedForNewLink ? await this.deps.currentInviteIntent(conversation.id) : undefined;
    // The highest tier of what redaction found, what the text asks for, and the link asked for again:
    // an IBAN inside a transfer request is still a transfer (tier 4), not a card payment (tier 2).
    const intent: PivotIntent = highestIntent([fromRedaction, previous, classified.intent]) ?? 'none';
    if (intent === 'none' || tierOf(intent) === 0) return; // tier 0 stays on the public channel, for the advisor

    // A secret shared is answered whatever link follows; "we removed it" only when redaction did remove one.
    if (removedSecret || classified.intent === 'credential_disclosure') await context.sendActivity(replies.credentialWarning(lang, removedSecret));
    if (intent === 'lost_device') {
      await this.deps.lostDevice(conversation);
      await context.sendActivity(replies.lostDevice(lang));
    }
    await this.invite(context, conversation, intent, lang, askedForNewLink);
  }
}
