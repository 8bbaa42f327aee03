/**
 * A local HTTP server standing in for a platform's REST API (Graph API,
 * Twilio): it records every request as received and answers from a script
 * (status + JSON body), so tests can play "429 then 200" or "500 x3", or
 * leave a request unanswered (what a worker killed during the call saw).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface ScriptedAnswer {
  status: number;
  body: unknown;
}

/** `undefined`: no answer at all, until `stop()`. */
export type Responder = (request: RecordedRequest, index: number) => ScriptedAnswer | undefined;

export class PlatformStandIn {
  readonly requests: RecordedRequest[] = [];
  private responder: Responder;
  private server?: Server;
  url = '';

  constructor(responder: Responder) {
    this.responder = responder;
  }

  /** Answers in order from `answers`, repeating the last one. */
  static sequence(answers: ScriptedAnswer[], fill?: (request: RecordedRequest, answer: ScriptedAnswer) => ScriptedAnswer): Responder {
    return (request, index) => {
      const answer = answers[Math.min(index, answers.length - 1)]!;
      return fill ? fill(request, answer) : answer;
    };
  }

  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://stand-in');
        const recorded: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        const index = this.requests.length;
        this.requests.push(recorded);
        const answer = this.responder(recorded, index);
        if (!answer) return;
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
