/**
 * Small random values on hot paths (pivot ids, session tokens, AES-GCM
 * nonces), drawn from a pooled CSPRNG buffer.
 *
 * `crypto.randomBytes` takes OpenSSL's RNG lock on every call, and the pivot
 * path draws twice per pivot while the libuv threadpool signs and verifies
 * beside it: under load each small call cost tens of microseconds
 * (bench/pivot.bench.ts). Filling 4 KiB at once (the pattern Node's own
 * `randomUUID` uses) makes that one call per many values. Every byte is
 * handed out once and zeroed in the pool as it leaves, so the pool never
 * holds a value that was already given out.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** Hands the next `size` pool bytes to `use` (which must not keep the view), then zeroes them. */
function draw<T>(size: number, use: (bytes: Buffer) => T): T {
  if (!Number.isInteger(size) || size < 1 || size > POOL_BYTES) throw new RangeError(`size must be an integer 1-${POOL_BYTES}, got ${size}`);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const slice = pool.subarray(offset, offset + size);
  offset += size;
  try {
    return use(slice);
  } finally {
    slice.fill(0);
  }
}

/**
 * `size` fresh random bytes as base64url.
 * @example randomBase64url(32) // 43 characters, 256 bits
 */
export function randomBase64url(size: number): string {
  return draw(size, (bytes) => bytes.toString('base64url'));
}

/**
 * `size` fresh random bytes in a Buffer of their own.
 * @example const nonce = randomBytesPooled(12);
 */
export function randomBytesPooled(size: number): Buffer {
  return draw(size, (bytes) => Buffer.from(bytes));
}
