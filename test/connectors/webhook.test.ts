/**
 * `rawBody`, the body reader every webhook shares: exact bytes, 413 over the
 * limit, a cut-off body reported once as an error, and nothing after the
 * answer (its listeners stay on the request once it is read).
 */
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import { rawBody } from '../../connectors/webhook';

interface Seen {
  bodies: Buffer[];
  errors: string[];
}

async function start(seen: Seen): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const app = express();
  app.post('/hook', rawBody('1kb'), (req, res) => {
    seen.bodies.push(req.body as Buffer);
    res.status(200).send('ok');
  });
  const onError: ErrorRequestHandler = (err: { type?: string; status?: number }, _req, res, _next) => {
    seen.errors.push(String(err.type));
    if (!res.headersSent) res.status(err.status ?? 500).send(String(err.type));
  };
  app.use(onError);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('rawBody', () => {
  let seen: Seen;
  let app: Awaited<ReturnType<typeof start>>;
  beforeEach(async () => {
    seen = { bodies: [], errors: [] };
    app = await start(seen);
  });
  afterEach(async () => {
    await app.close();
  });

  it('hands over the exact bytes, once, and nothing more happens when the request closes', async () => {
    const bytes = Buffer.from('Body=caf%C3%A9+%F0%9F%91%8B&x=\u00e9', 'utf8');
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${app.url}/hook`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: bytes });
      expect(res.status).toBe(200);
    }
    await settle();
    expect(seen.bodies.map((b) => b.equals(bytes))).toEqual([true, true, true]);
    expect(seen.errors).toEqual([]);
  });

  it('reads a chunked body (no Content-Length) through express.raw', async () => {
    const res = await fetch(`${app.url}/hook`, {
      method: 'POST',
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('a=1&'));
          controller.enqueue(new TextEncoder().encode('b=2'));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    expect(seen.bodies.map((b) => b.toString('utf8'))).toEqual(['a=1&b=2']);
  });

  it('answers 413 over the limit', async () => {
    const res = await fetch(`${app.url}/hook`, { method: 'POST', body: 'x'.repeat(2048) });
    expect(res.status).toBe(413);
    expect(seen.bodies).toEqual([]);
  });

  it('a body cut off before its Content-Length is one error, never a handled body', async () => {
    const socket = connect(app.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part');
    await settle();
    socket.destroy();
    await settle();
    expect(seen.bodies).toEqual([]);
    expect(seen.errors).toEqual(['request.aborted']);
  });
});
