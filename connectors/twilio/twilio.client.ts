/**
 * The twilio SDK's REST client, pointed at `TWILIO_API_URL`. The SDK has no
 * base-URL option (STACK-NOTES pitfall 5), but it accepts an `httpClient`: this
 * `RequestClient` rewrites every request's origin (and prepends the base
 * URL's path, for a proxy mounted under one), keeping the SDK's own request
 * shapes, auth and error parsing. With the default URL it changes nothing.
 */
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type Response from 'twilio/lib/http/response';

export class ApiUrlRequestClient extends twilio.RequestClient {
  private readonly base: URL;

  constructor(apiUrl: string, options: RequestClient.RequestClientOptions = {}) {
    super(options);
    this.base = new URL(apiUrl);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<Response<TData>> {
    const original = new URL(opts.uri);
    const path = this.base.pathname.replace(/\/$/, '') + original.pathname;
    return super.request({ ...opts, uri: `${this.base.origin}${path}${original.search}` });
  }
}

export function createTwilioClient(accountSid: string, authToken: string, apiUrl: string, timeoutMs = 10_000): twilio.Twilio {
  return twilio(accountSid, authToken, {
    // No SDK-level retries: the outbox owns retry policy, and its job records each try.
    httpClient: new ApiUrlRequestClient(apiUrl, { timeout: timeoutMs, keepAlive: true, autoRetry: false }),
  });
}
