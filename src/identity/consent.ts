/**
 * Tier 3 (trade): the customer's explicit consent in the page.
 *
 * Once the session's identity is established, the page is sent
 * `consent_required` with what the customer is agreeing to — the intent and
 * the advisor's summary (their latest message in the thread, else the
 * intent's own description) — and a `consentId` naming exactly that. The
 * page answers `consent {consentId, accept: true}` with an ack. A consent
 * that answers nothing shown (unknown or expired id), comes before the
 * identity step, or for an intent that asks for none, is refused and
 * audited; an accepted one is audited with its time and session.
 */
import { randomBytes } from 'node:crypto';
import type { AuditTrail } from '../audit/audit-trail';
import { replies, type ReplyLanguage } from '../bot/replies';
import type { ConsentRequestPayload } from '../chat/events';
import type { SecureSession } from '../chat/sessions';
import { PIVOT_INTENTS, type PivotIntent } from '../pivot/policy';
import { keys } from '../store/keys';
import type { Store } from '../store/store';

/** How long a shown consent can be answered. */
export const CONSENT_TTL_SECONDS = 600;
/** How far back in the thread the advisor's summary is looked for. */
const SUMMARY_LOOKBACK = 50;
const MAX_SUMMARY_LENGTH = 1000;
const CONSENT_ID = /^[A-Za-z0-9_-]{16,64}$/;

interface ConsentRecord {
  consentId: string;
  intent: PivotIntent;
  summaryMessageId?: string;
}

const LANGUAGES: readonly ReplyLanguage[] = ['en', 'es', 'fr', 'de'];
/** The invite's own line ("To buy or sell investments safely, ...") is posted as the advisor's: it is no summary. */
const INVITE_TEXTS: ReadonlySet<string> = new Set(LANGUAGES.flatMap((lang) => PIVOT_INTENTS.filter((i) => i !== 'none').map((i) => replies.why(i as Exclude<PivotIntent, 'none'>, lang))));

export function describeIntent(intent: PivotIntent): string {
  return intent === 'none' ? 'Continue the conversation' : replies.why(intent, 'en');
}

export function isConsentAnswer(payload: unknown): payload is { consentId: string; accept: true } {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false;
  const { consentId, accept } = payload as Record<string, unknown>;
  return typeof consentId === 'string' && CONSENT_ID.test(consentId) && accept === true;
}

export class ConsentSteps {
  constructor(
    private readonly store: Store,
    private readonly audit: AuditTrail,
  ) {}

  /** What the page shows; replaces any earlier request of the session. */
  async request(session: SecureSession, tier: number): Promise<ConsentRequestPayload> {
    const latest = await this.store.readLatestMessages(session.conversationId, SUMMARY_LOOKBACK);
    const summary = [...latest.messages].reverse().find((m) => m.author === 'advisor' && !INVITE_TEXTS.has(m.text));
    const consentId = randomBytes(16).toString('base64url');
    const record: ConsentRecord = { consentId, intent: session.intent, ...(summary ? { summaryMessageId: summary.id } : {}) };
    await this.store.set(keys.consentRequest(session.id), JSON.stringify(record), CONSENT_TTL_SECONDS);
    const text = summary ? summary.text : describeIntent(session.intent);
    return { tier, intent: session.intent, summary: text.length > MAX_SUMMARY_LENGTH ? `${text.slice(0, MAX_SUMMARY_LENGTH)}…` : text, consentId };
  }

  /** Takes the shown request when `consentId` answers it (once). */
  async take(session: SecureSession, consentId: string): Promise<ConsentRecord | undefined> {
    const key = keys.consentRequest(session.id);
    const raw = await this.store.get(key);
    if (raw === undefined) return undefined;
    const record = JSON.parse(raw) as ConsentRecord;
    if (record.consentId !== consentId || record.intent !== session.intent) return undefined;
    const taken = await this.store.compareAndSet(key, raw, JSON.stringify({ ...record, consentId: '' }));
    return taken.ok ? record : undefined;
  }

  async recordAccepted(session: SecureSession, record: ConsentRecord, at: string): Promise<void> {
    await this.audit.record(session.conversationId, {
      type: 'consent',
      actor: { kind: 'customer' },
      client: session.client,
      sessionId: session.id,
      intent: record.intent,
      tier: 3,
      detail: { consentId: record.consentId, at, summaryMessageId: record.summaryMessageId ?? null },
    });
  }
}
