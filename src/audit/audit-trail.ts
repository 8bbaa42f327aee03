/**
 * A conversation's security events, oldest first (`GET /api/conversations/:id/audit`).
 *
 * One append-only log per conversation in the store (a Redis Stream,
 * `keys.audit`), kept as long as the thread. Entries say who, what, when and
 * from where (IP, user agent) — never a token: the pivot is named by its `jti`
 * and a session by its id (the SHA-256 of its token), neither of which opens
 * anything. As a second line of defence, anything shaped like a JWT is
 * replaced before writing.
 */
import { GatewayError } from '../errors';
import { keys } from '../store/keys';
import { isMessageId, type Page, type Store } from '../store/store';

export const AUDIT_EVENT_TYPES = [
  'pivot_issued',
  'pivot_redeemed',
  'pivot_refused',
  'pivot_revoked',
  'replay_alarm',
  'locked',
  'unlocked',
  'session_opened',
  'session_resumed',
  'session_revoked',
  'consent',
  'stepped_up',
  'lost_device',
  'closed',
  'stepup_refused',
  'identity_linked',
  'binding',
  'binding_refused',
  'assertion_issued',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditActor {
  kind: 'advisor' | 'bot' | 'customer' | 'system';
  id?: string;
}

export interface AuditClient {
  ip: string;
  userAgent: string;
}

/** What a caller records. Every field but `type` is optional; free-form values go in `detail`. */
export interface AuditEntryInput {
  type: AuditEventType;
  /** Machine-readable, e.g. `token_used`, `pivot_replayed`, `superseded`. */
  reason?: string;
  actor?: AuditActor;
  client?: AuditClient;
  /** The pivot's `jti`. */
  pivotId?: string;
  /** A secure session's id (hash of its token). */
  sessionId?: string;
  intent?: string;
  tier?: number;
  detail?: Record<string, string | number | boolean | null>;
}

export interface AuditEntry extends AuditEntryInput {
  /** Ordered log id; also the `after` cursor. */
  id: string;
  /** ISO 8601. */
  at: string;
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;

export class AuditTrail {
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly opts: { retentionSeconds: number; now?: () => number },
  ) {
    this.now = opts.now ?? Date.now;
  }

  get retentionSeconds(): number {
    return this.opts.retentionSeconds;
  }

  /**
   * The stored form of an entry (scrubbed, stamped with `at`). Public so the
   * Redis pivot ledger can append it from inside its atomic script
   * (`XADD <audit key> * v <encoded>`, the layout `Store.appendLog` writes).
   * `at` (ISO 8601, default now): a step that writes several entries stamps them once.
   */
  encode(entry: AuditEntryInput, at: string = new Date(this.now()).toISOString()): string {
    // On the serialised text: JSON escaping never touches base64url characters, so a token anywhere in the entry is caught.
    // `at` is spliced in before the closing brace (same text as stringifying `{ ...entry, at }`) without copying the entry.
    const body = JSON.stringify(entry);
    const encoded = `${body.slice(0, -1)}${body.length > 2 ? ',' : ''}"at":${JSON.stringify(at)}}`;
    // Every match starts with `eyJ`: text without it (nearly every entry) skips the regular expression, which is on the pivot hot path.
    return encoded.includes('eyJ') ? encoded.replace(JWT_SHAPE, '[token]') : encoded;
  }

  /** Appends one entry; returns it as stored. */
  async record(conversationId: string, entry: AuditEntryInput): Promise<AuditEntry> {
    const encoded = this.encode(entry);
    const id = await this.store.appendLog(keys.audit(conversationId), encoded, this.opts.retentionSeconds);
    return { id, ...(JSON.parse(encoded) as Omit<AuditEntry, 'id'>) };
  }

  /**
   * Oldest first, strictly after `after` (an entry id). `next` is the id to
   * pass as `after` for the following page, null at the end.
   */
  async list(conversationId: string, after: string | undefined, limit: number): Promise<Page<AuditEntry>> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new GatewayError('GW_ERR_VALIDATION', 'limit must be an integer 1-1000');
    // Log ids have the message-id shape; anything else would reach Redis as a bad XRANGE bound.
    if (after !== undefined && !isMessageId(after)) throw new GatewayError('GW_ERR_VALIDATION', 'after must be an audit entry id');
    const rows = await this.store.readLog(keys.audit(conversationId), after, limit + 1);
    const items = rows.slice(0, limit).map((row) => ({ id: row.id, ...(JSON.parse(row.value) as Omit<AuditEntry, 'id'>) }));
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? last.id : null };
  }
}
