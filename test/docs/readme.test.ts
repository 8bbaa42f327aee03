import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The README is what a newcomer reads first: its two commands must be there,
 * each section once (an edit once pasted a stale second copy of half the
 * file), and every file it points at must exist.
 */
const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README', () => {
  test('gives the install-and-start and the test commands in shell blocks', () => {
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
    expect(blocks).toContain('npm install && npm start');
    expect(blocks).toContain('npm test');
  });

  test('has every section heading once', () => {
    const headings = [...readme.matchAll(/^#{1,3} (.+)$/gm)].map((m) => m[1]!.trim());
    const repeated = headings.filter((heading, i) => headings.indexOf(heading) !== i);
    expect(headings.length).toBeGreaterThan(5);
    expect(repeated).toEqual([]);
  });

  test('points only at files that exist', () => {
    const targets = [...readme.matchAll(/(?:src="|\]\()((?!https?:|#|mailto:)[^")\s]+)/g)].map((m) => m[1]!);
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((target) => !existsSync(join(root, target)))).toEqual([]);
  });
});
