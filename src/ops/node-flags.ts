/**
 * The V8 flags the gateway process runs with: `npm start` and the Docker
 * image pass them (package.json, Dockerfile; test/ops/node-flags.test.ts
 * keeps the three alike), and the secure-chat bench starts its gateway with
 * them. A flag for V8's heap must be given when the process starts, so they
 * cannot live in src/config.ts.
 *
 * `--max-semi-space-size=64` (MB): a busy node allocates tens of MB per second
 * (each message is encrypted, stored, encoded for every audience); with V8's
 * default young generation it collects it about twice a second, each pause a
 * few ms, and at 1,000 messages/s those pauses set the 99th percentile of
 * delivery latency. A larger young generation collects four times less often
 * for the same work per collection; the cost is up to 128 MB more RSS per
 * process once it has grown (README, "Measured").
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
