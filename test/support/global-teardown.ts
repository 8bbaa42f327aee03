export default async function globalTeardown(): Promise<void> {
  await globalThis.__PG_REDIS__?.stop();
}
