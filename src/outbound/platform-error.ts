/**
 * The one error shape every connector's `send`/`sendInvite` rejects with, so
 * the outbox can decide retry vs give up without knowing any platform, and
 * can show advisors the platform's own words.
 *
 * Retry policy (issue 5): 429, 5xx and network failures are retried with
 * exponential backoff; any other 4xx is permanent. Meta also signals
 * throttling inside HTTP 400 bodies (error codes 4, 17, 32, 613, 80007,
 * 130429, 131056): those are retried too, because the next try can succeed.
 */
export type Platform = 'twilio' | 'messenger' | 'whatsapp' | 'sandbox' | 'botframework';

/** Meta error codes that mean "slow down", whatever the HTTP status. */
const META_THROTTLING_CODES = new Set([4, 17, 32, 613, 80007, 130429, 131056]);
/** Meta error codes that mean a transient failure on Meta's side. */
const META_TRANSIENT_CODES = new Set([1, 2, 131000, 131016]);

export class PlatformError extends Error {
  /** HTTP status of the platform's answer; 0 when no answer came (network error, timeout). */
  readonly status: number;
  /** The platform's own error code (Twilio 21211, Meta 131047...), when it gave one. */
  readonly platformCode?: number;
  readonly platformSubcode?: number;
  /** True when another try may succeed. */
  readonly retryable: boolean;

  constructor(
    readonly platform: Platform,
    options: { status: number; message: string; code?: number; subcode?: number; retryable?: boolean; cause?: unknown },
  ) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PlatformError';
    this.status = options.status;
    this.platformCode = options.code;
    this.platformSubcode = options.subcode;
    this.retryable = options.retryable ?? PlatformError.retryableStatus(platform, options.status, options.code);
  }

  static retryableStatus(platform: Platform, status: number, code?: number): boolean {
    if (status === 0 || status === 408 || status === 429 || status >= 500) return true;
    if ((platform === 'messenger' || platform === 'whatsapp') && code !== undefined) {
      return META_THROTTLING_CODES.has(code) || META_TRANSIENT_CODES.has(code);
    }
    return false;
  }

  /**
   * One line for the message's delivery record, shown to advisors, e.g.
   * `messenger 400 (#10/2018278): This message is sent outside of allowed window.`
   * Platform texts never carry our tokens (they echo ids at most).
   */
  describe(): string {
    const code = this.platformCode === undefined ? '' : ` (#${this.platformCode}${this.platformSubcode === undefined ? '' : `/${this.platformSubcode}`})`;
    const status = this.status === 0 ? 'network error' : String(this.status);
    const hint = outsideWindow(this) ? " [outside the platform's 24-hour customer service window]" : '';
    return `${this.platform} ${status}${code}: ${this.message}${hint}`.slice(0, 500);
  }
}

/** Meta's "outside the 24-hour window" answers: Messenger (#10 / 2018278, #551) and WhatsApp 131047 / Twilio 63016. */
export function outsideWindow(err: PlatformError): boolean {
  const code = err.platformCode;
  if (err.platform === 'messenger') return (code === 10 && err.platformSubcode === 2018278) || code === 551;
  if (err.platform === 'whatsapp') return code === 131047;
  if (err.platform === 'twilio') return code === 63016;
  return false;
}

export function isPlatformError(err: unknown): err is PlatformError {
  return err instanceof PlatformError;
}
