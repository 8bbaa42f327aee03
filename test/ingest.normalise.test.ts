/**
 * normaliseText: what every stored text goes through (ingest, secure chat,
 * advisor replies). Plain ASCII takes a fast path; it must give exactly what
 * the general path gives.
 */
import fc from 'fast-check';
import { normaliseText } from '../src/ingest';

/** The definition, written out: NFC, control characters other than tab and newline removed, bidi embeddings/overrides/isolates removed, then cut. */
function reference(text: string, maxLength: number): string {
  return text
    .normalize('NFC')
    .replace(/\p{Cc}/gu, (c) => (c === '\n' || c === '\t' ? c : ''))
    .replace(/[\u202A-\u202E\u2066-\u2069]/gu, '')
    .slice(0, maxLength);
}

describe('normaliseText', () => {
  it.each([
    ['plain ASCII', 'Hello, balance please? 100%', 'Hello, balance please? 100%'],
    ['tab and newline kept', 'a\tb\nc', 'a\tb\nc'],
    ['carriage return, NUL, ESC and DEL removed', 'a\r\nb\u0000c\u001bd\u007fe', 'a\nbcde'],
    ['decomposed é composed (NFC)', 'cafe\u0301', 'caf\u00e9'],
    ['C1 controls removed', 'a\u0085b\u009fc', 'abc'],
    ['bidi overrides and isolates removed, marks kept', 'pay \u202Eevil\u202C ok \u2067x\u2069 \u200Fشكرا', 'pay evil ok x \u200Fشكرا'],
  ])('%s', (_name, input, expected) => {
    expect(normaliseText(input, 4096)).toBe(expected);
  });

  it('cuts at maxLength on both paths', () => {
    expect(normaliseText('abcdef', 3)).toBe('abc');
    expect(normaliseText('\u00e9bcdef', 3)).toBe('\u00e9bc');
  });

  it('equals the definition on any text', () => {
    const char = fc.constantFrom('a', 'Z', ' ', '~', '\t', '\n', '\r', '\u0000', '\u007f', '\u0085', 'e\u0301', '\u00e9', '👋', '\u2028', '\u202E', '\u2066', '\u200F');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 30 }), fc.integer({ min: 0, max: 40 }), (chars, max) => {
        const text = chars.join('');
        expect(normaliseText(text, max)).toBe(reference(text, max));
      }),
      { numRuns: 1000 },
    );
  });
});
