/**
 * The advisor REST API (PRODUCT.md, "Advisor REST API") as the console uses
 * it: Bearer token on every call, `Idempotency-Key` on every POST, problem
 * JSON turned into `ApiError` with its `GW_ERR_*` code.
 */
import type { Conversation, Message } from '../../src/chat/events';

export interface Page<T> {
  items: T[];
  next: string | null;
}

/** One entry of `GET /api/conversations/:id/audit` (src/audit/audit-trail.ts). */
export interface AuditEntry {
  id: string;
  at: string;
  type: string;
  reason?: string;
  actor?: { kind: string; id?: string };
  client?: { ip?: string; userAgent?: string };
  pivotId?: string;
  sessionId?: string;
  intent?: string;
  tier?: number;
  detail?: Record<string, string | number | boolean | null>;
}

export interface PivotResult {
  pivotId: string;
  url: string;
  expiresAt: string;
}

export type ConversationAction = 'lock' | 'unlock' | 'close';

/** `identity` of `GET /api/conversations/:id` (src/identity/stepup.ts `IdentityView`): read-only. */
export interface IdentityView {
  stepUp: { available: true; issuer: string } | { available: false; reason: string };
  linkedCustomer?: { subject: string; issuer: string; linkedAt: string; conversationId: string };
  verified?: { subject: string; issuer?: string; acr?: string; amr?: string[]; authTime?: string; mfa: boolean; fresh: boolean; tier: number; sessionId: string };
  binding?: { platform: string; psid: string; verifiedAt: string; sessionId: string };
}

export type ConversationDetail = Conversation & { identity?: IdentityView };

/**
 * A refused call. `status` 0 means the request never got an answer (network,
 * server down): it is safe to retry with the same `Idempotency-Key`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
  ) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
  }

  /** True when retrying the same request (same key) may succeed. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

async function problemOf(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const p = isRecord(body) ? body : {};
  return new ApiError(
    response.status,
    typeof p.code === 'string' ? p.code : `HTTP_${response.status}`,
    typeof p.title === 'string' ? p.title : response.statusText || 'Request failed',
    typeof p.detail === 'string' ? p.detail : undefined,
  );
}

export class AdvisorApi {
  constructor(
    private readonly token: string,
    /** Called on any 401: the token expired or was revoked. */
    private readonly onUnauthenticated: () => void,
    private readonly base = '/api',
  ) {}

  private async call<T>(method: 'GET' | 'POST', path: string, options: { body?: unknown; idempotencyKey?: string } = {}): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    if (method === 'POST') {
      headers['Content-Type'] = 'application/json';
      if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    }
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: method === 'POST' ? JSON.stringify(options.body ?? {}) : undefined,
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
      });
    } catch {
      throw new ApiError(0, 'NETWORK', 'The gateway could not be reached');
    }
    if (!response.ok) {
      const error = await problemOf(response);
      if (response.status === 401) this.onUnauthenticated();
      throw error;
    }
    return (await response.json()) as T;
  }

  listConversations(query: { status?: 'open' | 'closed'; cursor?: string; limit?: number }): Promise<Page<Conversation>> {
    const params = new URLSearchParams({ limit: String(query.limit ?? 50) });
    if (query.status) params.set('status', query.status);
    if (query.cursor) params.set('cursor', query.cursor);
    return this.call('GET', `/conversations?${params.toString()}`);
  }

  getConversation(id: string): Promise<ConversationDetail> {
    return this.call('GET', `/conversations/${encodeURIComponent(id)}`);
  }

  /** The thread, oldest first, strictly after `after`. */
  messages(id: string, after: string | undefined, limit = 200): Promise<Page<Message>> {
    const params = new URLSearchParams({ limit: String(limit) });
    if (after) params.set('after', after);
    return this.call('GET', `/conversations/${encodeURIComponent(id)}/messages?${params.toString()}`);
  }

  async reply(id: string, text: string, idempotencyKey: string): Promise<Message> {
    const result = await this.call<{ message: Message }>('POST', `/conversations/${encodeURIComponent(id)}/messages`, { body: { text }, idempotencyKey });
    return result.message;
  }

  pivot(id: string, intent: string, idempotencyKey: string): Promise<PivotResult> {
    return this.call('POST', `/conversations/${encodeURIComponent(id)}/pivot`, { body: { intent }, idempotencyKey });
  }

  act(id: string, action: ConversationAction, idempotencyKey: string): Promise<Conversation> {
    return this.call('POST', `/conversations/${encodeURIComponent(id)}/${action}`, { body: {}, idempotencyKey });
  }

  audit(id: string, cursor: string | undefined, limit = 200): Promise<Page<AuditEntry>> {
    const params = new URLSearchParams({ limit: String(limit) });
    if (cursor) params.set('cursor', cursor);
    return this.call('GET', `/conversations/${encodeURIComponent(id)}/audit?${params.toString()}`);
  }
}
