/**
 * ⑤⑥ How a conversation change reaches every node's sockets: ONE adapter
 * publish per change, whoever is watching.
 *
 * A stored message must reach three audiences: the conversation's customer
 * sockets (`/secure`, room `conv:<id>`), the advisors watching it (`/advisor`,
 * room `watch:<id>`), and every advisor (`conversation` event). Emitting to
 * each through the adapter cost three publishes per message (each encoded,
 * sent to Redis, and decoded again by every subscribed node, the sender
 * included). Here the change is published once, as a server-side event on
 * the `/advisor` namespace channel, which every node subscribes to anyway
 * (the `conversation` event already went to every node). Each node then
 * emits to its own sockets only (`local`), skipping rooms it has no socket
 * in, so no packet is encoded for nobody.
 *
 * Delivery semantics are unchanged: pub/sub is at most once, and a client
 * that missed a packet catches up from the stored thread (see io.ts).
 */
import type { ConversationChange } from '../conversation-events';
import type { Logger } from '../ops/logger';
import type { AdvisorNamespace } from './io';

/** The server-side event that carries a change between nodes. */
export const CHANGE_EVENT = 'conversation-change';

/** What one node tells the others (typed server-side events of the carrier namespace). */
export interface ClusterEvents {
  [CHANGE_EVENT]: (change: ConversationChange) => void;
}

export interface ChangeFanOut {
  /** Delivers a change made on this node to the sockets of every node. */
  publish(change: ConversationChange): void;
  close(): void;
}

/**
 * @param carrier the namespace whose adapter carries the change (every node has it)
 * @param deliverLocally emits a change to this node's sockets only
 * @param clustered false without a cluster adapter (one process: local delivery is all)
 * @example
 *   const fanOut = createChangeFanOut(advisorNsp, (change) => { secureHandle.relay(...); advisorHandle.announce(change); }, Boolean(redisUrl), log);
 *   events.subscribe((change) => fanOut.publish(change));
 */
export function createChangeFanOut(carrier: AdvisorNamespace, deliverLocally: (change: ConversationChange) => void, clustered: boolean, log: Logger): ChangeFanOut {
  // A change from another node arrives from the adapter's Redis handler: a throw here must not reach it.
  const onRemote = (change: ConversationChange) => {
    try {
      deliverLocally(change);
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err), event: change?.event }, 'a change from another node could not be delivered');
    }
  };
  if (clustered) carrier.on(CHANGE_EVENT, onRemote);
  return {
    publish(change) {
      deliverLocally(change);
      // The adapter does not hand a node its own publish back: local delivery above is this node's share.
      if (clustered) carrier.serverSideEmit(CHANGE_EVENT, change);
    },
    close() {
      carrier.off(CHANGE_EVENT, onRemote);
    },
  };
}
