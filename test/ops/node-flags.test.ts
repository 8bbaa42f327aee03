/**
 * The gateway's V8 flags are written in three places a process starts from:
 * `npm start`, the Docker image and the secure-chat bench (which imports
 * them). A flag changed in one and not the others would make the bench
 * measure a process nobody runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS } from '../../src/ops/node-flags';

const root = join(__dirname, '..', '..');

describe('the gateway V8 flags', () => {
  it('npm start runs the built gateway with them', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain(`node ${GATEWAY_NODE_FLAGS.join(' ')} dist/src/main.js`);
  });

  it('the Docker image runs it with them', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(cmd && JSON.parse(cmd)).toEqual(['node', ...GATEWAY_NODE_FLAGS, 'dist/src/main.js']);
  });
});
