/**
 * Picks the store from the configuration: Redis when `REDIS_URL` is set, the
 * embedded memory store otherwise (one process only, said in the log).
 */
import type { Config } from '../config';
import type { Logger } from '../ops/logger';
import { MemoryStore } from './memory.store';
import { RedisStore } from './redis.store';
import type { Store } from './store';
import { TextCipher } from './text-cipher';

export interface StoreBundle {
  store: Store;
  cipher: TextCipher;
}

export async function createStore(config: Config, logger: Logger): Promise<StoreBundle> {
  const log = logger.child({ component: 'store' });
  let cipher: TextCipher;
  if (config.dataKeys) {
    cipher = new TextCipher(config.dataKeys);
  } else {
    // config.ts refuses production without DATA_ENCRYPTION_KEYS, so this is dev/test only.
    log.warn('DATA_ENCRYPTION_KEYS is not set: message text is encrypted with an ephemeral key and unreadable after a restart');
    cipher = TextCipher.ephemeral();
  }
  if (config.redisUrl) {
    const store = await RedisStore.connect(config.redisUrl, { cipher, threadRetentionDays: config.threadRetentionDays });
    log.info({ kind: 'redis' }, 'store: Redis');
    return { store, cipher };
  }
  log.warn({ kind: 'memory' }, 'store: embedded in-memory store (REDIS_URL is unset): one process only, nothing survives a restart');
  return { store: new MemoryStore({ cipher, threadRetentionDays: config.threadRetentionDays }), cipher };
}
