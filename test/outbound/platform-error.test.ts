/** Retry vs give up, decided from what the platform answered. */
import { PlatformError } from '../../src/outbound/platform-error';

describe('PlatformError', () => {
  it.each([
    ['twilio', 429, undefined, true],
    ['twilio', 500, 20500, true],
    ['twilio', 0, undefined, true],
    ['twilio', 400, 21211, false],
    ['twilio', 401, 20003, false],
    ['messenger', 400, 613, true], // "calls to this API have exceeded the rate limit" comes as HTTP 400
    ['messenger', 400, 4, true],
    ['messenger', 400, 10, false],
    ['whatsapp', 400, 131056, true], // pair rate limit
    ['whatsapp', 400, 131030, false],
    ['whatsapp', 503, 131016, true],
  ] as const)('%s HTTP %i code %s → retryable %s', (platform, status, code, retryable) => {
    expect(new PlatformError(platform, { status, message: 'x', ...(code === undefined ? {} : { code }) }).retryable).toBe(retryable);
  });

  it('describes itself for the advisor, naming the 24-hour window when that is the cause', () => {
    expect(new PlatformError('messenger', { status: 400, code: 10, subcode: 2018278, message: '(#10) This message is sent outside of allowed window.' }).describe()).toBe(
      "messenger 400 (#10/2018278): (#10) This message is sent outside of allowed window. [outside the platform's 24-hour customer service window]",
    );
    expect(new PlatformError('twilio', { status: 0, message: 'request failed: ECONNRESET' }).describe()).toBe('twilio network error: request failed: ECONNRESET');
  });
});
