/** Loads a documented platform payload from test/fixtures/, without its `_source`/`_note` bookkeeping. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function fixture<T = Record<string, unknown>>(name: string): T {
  const parsed = JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', name), 'utf8')) as Record<string, unknown>;
  const { _source: source, _note: note, ...payload } = parsed;
  if (typeof source !== 'string') throw new Error(`fixture ${name} does not name its documentation page`);
  void note;
  return payload as T;
}

/** A deep copy to modify per test. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}
