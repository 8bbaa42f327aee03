/**
 * The link between a platform identity (`channel` + `externalUserId`) and
 * the bank's customer id (the provider's `iss` + `sub`), made by the first
 * successful step-up. Later conversations of that platform user show
 * "linked to customer …" to advisors, and a step-up that returns another
 * customer is refused (someone else's phone, or a shared device).
 *
 * Kept as long as threads are (THREAD_RETENTION_DAYS), renewed by every
 * step-up that confirms it. Creation is `SET NX`: two concurrent first
 * step-ups agree on one link.
 */
import { keys } from '../store/keys';
import type { Store } from '../store/store';

export interface IdentityLink {
  subject: string;
  issuer: string;
  /** ISO 8601. */
  linkedAt: string;
  /** The conversation whose step-up made the link. */
  conversationId: string;
}

export type LinkOutcome = { outcome: 'linked' | 'confirmed'; link: IdentityLink } | { outcome: 'mismatch'; link: IdentityLink };

export class IdentityLinks {
  constructor(
    private readonly store: Store,
    private readonly opts: { ttlSeconds: number; now?: () => number },
  ) {}

  async get(channel: string, externalUserId: string): Promise<IdentityLink | undefined> {
    const raw = await this.store.get(keys.identityLink(channel, externalUserId));
    return raw === undefined ? undefined : (JSON.parse(raw) as IdentityLink);
  }

  /** Links on first use; afterwards compares. A mismatch changes nothing. */
  async linkOrCompare(channel: string, externalUserId: string, claim: { subject: string; issuer: string; conversationId: string }): Promise<LinkOutcome> {
    const key = keys.identityLink(channel, externalUserId);
    const link: IdentityLink = { subject: claim.subject, issuer: claim.issuer, linkedAt: new Date((this.opts.now ?? Date.now)()).toISOString(), conversationId: claim.conversationId };
    if (await this.store.setIfAbsent(key, JSON.stringify(link), this.opts.ttlSeconds)) return { outcome: 'linked', link };
    const existing = await this.get(channel, externalUserId);
    if (!existing) return this.linkOrCompare(channel, externalUserId, claim); // expired in between: try again
    if (existing.subject !== claim.subject || existing.issuer !== claim.issuer) return { outcome: 'mismatch', link: existing };
    await this.store.expire(key, this.opts.ttlSeconds);
    return { outcome: 'confirmed', link: existing };
  }
}
