/**
 * A fixed-window counter of one socket's incoming packets. It lives with the
 * socket (one node, one connection), so it is in-process by design; the
 * per-session message limit that must hold across reconnects and nodes is in
 * the store (see secure.namespace.ts).
 */
export type WindowVerdict = 'ok' | 'limited' | 'flood';

export class EventWindow {
  private windowStart = 0;
  private count = 0;

  constructor(
    /** Packets allowed per window; above it `limited`. */
    private readonly limit: number,
    private readonly windowMs: number,
    /** Above `limit * floodFactor` in one window the socket is dropped. */
    private readonly floodFactor = 5,
    private readonly now: () => number = Date.now,
  ) {}

  hit(): WindowVerdict {
    const at = this.now();
    if (at - this.windowStart >= this.windowMs) {
      this.windowStart = at;
      this.count = 0;
    }
    this.count++;
    if (this.count > this.limit * this.floodFactor) return 'flood';
    return this.count > this.limit ? 'limited' : 'ok';
  }
}
