import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, GatewayError, toProblem } from '../src/errors';

describe('error catalog', () => {
  test('README lists exactly the catalog, with the same statuses (npm run docs:errors rewrites it)', () => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const section = /<!-- errors:start -->([\s\S]*)<!-- errors:end -->/.exec(readme)?.[1] ?? '';
    const listed = [...section.matchAll(/^\| `(GW_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(listed).toEqual(Object.entries(ERRORS).map(([code, { status }]) => [code, status]));
  });

  test('problem JSON carries RFC 9457 members and the stable code', () => {
    const problem = toProblem(new GatewayError('GW_ERR_CONVERSATION_NOT_FOUND', 'abc'), '/api/conversations/abc');
    expect(problem).toEqual({ type: 'https://pivot-gateway.dev/errors/GW_ERR_CONVERSATION_NOT_FOUND', title: 'No such conversation', status: 404, detail: 'abc', code: 'GW_ERR_CONVERSATION_NOT_FOUND', instance: '/api/conversations/abc' });
  });

  test('every code is GW_ERR_* with a 4xx/5xx status', () => {
    for (const [code, { status }] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^GW_ERR_[A-Z_]+$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
    }
  });
});
