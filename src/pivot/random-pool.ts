/**
 * Random bytes for pivot ids (`jti`) and session tokens, drawn from a pooled
 * CSPRNG buffer.
 *
 * `crypto.randomBytes` takes OpenSSL's RNG lock on every call, and the pivot
 * path draws twice per pivot while the libuv threadpool signs and verifies
 * beside it: under load each small call cost tens of microseconds
 * (bench/pivot.bench.ts). Filling 4 KiB at once (the pattern Node's own
 * `randomUUID` uses) makes that one call per ~85 pivots. Every byte is handed
 * out once and zeroed in the pool as it leaves, so the pool never holds a
 * value that was already given out.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `size` fresh random bytes as base64url.
 * @example randomBase64url(32) // 43 characters, 256 bits
 */
export function randomBase64url(size: number): string {
  if (!Number.isInteger(size) || size < 1 || size > POOL_BYTES) throw new RangeError(`size must be an integer 1-${POOL_BYTES}, got ${size}`);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const slice = pool.subarray(offset, offset + size);
  const encoded = slice.toString('base64url');
  slice.fill(0);
  offset += size;
  return encoded;
}
