/**
 * Prometheus metrics (prom-client) on a registry of our own, so tests can
 * build several gateways in one process. Labels are low-cardinality enums
 * (channel, intent, result): never a user id, a token or message text.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly inboundMessages = new Counter({ name: 'pg_inbound_messages_total', help: 'Customer messages stored, by channel and outcome', labelNames: ['channel', 'outcome'] as const, registers: [this.registry] });
  readonly pivotsIssued = new Counter({ name: 'pg_pivots_issued_total', help: 'Pivot tokens minted, by intent and issuer', labelNames: ['intent', 'by'] as const, registers: [this.registry] });
  readonly redemptions = new Counter({ name: 'pg_pivot_redemptions_total', help: 'Pivot redemption attempts by result', labelNames: ['result'] as const, registers: [this.registry] });
  readonly secureSockets = new Gauge({ name: 'pg_secure_sockets', help: 'Connected secure chat sockets on this node', registers: [this.registry] });
  readonly advisorSockets = new Gauge({ name: 'pg_advisor_sockets', help: 'Connected advisor sockets on this node', registers: [this.registry] });
  readonly outbound = new Counter({ name: 'pg_outbound_messages_total', help: 'Outbound sends by channel and result', labelNames: ['channel', 'result'] as const, registers: [this.registry] });
  /** Read at scrape time from whatever `watchInbox` was given (the Redis inbox's length); absent without Redis. */
  readonly inboxBacklog = new Gauge({
    name: 'pg_inbox_backlog',
    help: 'Inbound messages stored but not yet handed to the bot job queue (should stay near 0; grows when no relay runs)',
    registers: [this.registry],
    collect: async () => {
      if (this.inboxSource) this.inboxBacklog.set(await this.inboxSource().catch(() => Number.NaN));
    },
  });
  private inboxSource?: () => Promise<number>;
  readonly httpDuration = new Histogram({ name: 'pg_http_request_duration_seconds', help: 'HTTP request duration by route group and status class', labelNames: ['route', 'status'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });

  constructor(options: { defaultMetrics: boolean }) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  watchInbox(backlog: () => Promise<number>): void {
    this.inboxSource = backlog;
  }
}
