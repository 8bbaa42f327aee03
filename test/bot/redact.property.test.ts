import fc from 'fast-check';
import { maskPans, redact } from '../../src/bot/redact';

// Checkers written independently of src/bot/redact.ts, from the definitions:
// - a card number is a window of whole digit groups holding 13–19 digits
//   that pass Luhn, the groups joined by single spaces or dashes; or a number
//   in a card's own groups (4-4-4-4, up to 4-4-4-4-3, or 4-6-5) joined by a
//   wide separator: 1-3 spaces (plain, tab, no-break, figure or narrow
//   no-break) or one dash (hyphen, non-breaking hyphen, en dash) with 0-3
//   spaces around it;
// - an IBAN is a country code, two check digits and the country's number of
//   alphanumerics (the same separators allowed between them, after the first
//   four) that pass mod-97.

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

const SPACE = '[ \\t\\u00a0\\u2007\\u202f]';
const SEPARATOR = `(?:${SPACE}{0,3}[-\\u2010\\u2011\\u2013]${SPACE}{0,3}|${SPACE}{1,3})`;

const NARROW_RUN = /\d+(?:[ -]\d+)*/g;
const CARD_SHAPED = new RegExp(`\\d{4}(?:(?:${SEPARATOR}\\d{4}){3}(?:${SEPARATOR}\\d{1,3})?|${SEPARATOR}\\d{6}${SEPARATOR}\\d{5})(?!\\d)`, 'g');

function luhnValidRuns(text: string): string[] {
  const found: string[] = [];
  // Card-shaped runs may overlap: every start is tried.
  const cardShaped = Array.from(text, (_, i) => new RegExp(`^${CARD_SHAPED.source}`).exec(i > 0 && /\d/.test(text[i - 1]!) ? '' : text.slice(i))).filter((m): m is RegExpExecArray => m !== null);
  for (const run of [...text.matchAll(NARROW_RUN), ...cardShaped]) {
    const groups = run[0].split(/\D+/);
    for (let i = 0; i < groups.length; i += 1) {
      let digits = '';
      for (let j = i; j < groups.length && digits.length <= 19; j += 1) {
        digits += groups[j];
        if (digits.length >= 13 && digits.length <= 19 && luhn(digits)) found.push(digits);
      }
    }
  }
  return found;
}

const IBAN_LENGTHS: Record<string, number> = { DE: 22, GB: 22, FR: 27, ES: 24, NL: 18, BE: 16, IT: 27, CH: 21, NO: 15 };

function mod97(iban: string): number {
  const rearranged = (iban.slice(4) + iban.slice(0, 4)).toUpperCase();
  let rem = 0;
  for (const ch of rearranged) {
    const v = /[A-Z]/.test(ch) ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rem = (rem * 10 + Number(d)) % 97;
  }
  return rem;
}

function validIbansIn(text: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 4 <= text.length; i += 1) {
    const head = /^([A-Za-z]{2})\d{2}/.exec(text.slice(i));
    const length = head ? IBAN_LENGTHS[(head[1] ?? '').toUpperCase()] : undefined;
    if (length === undefined) continue;
    let compact = '';
    let k = i;
    while (k < text.length && compact.length < length) {
      const ch = text[k] ?? '';
      if (/[A-Za-z0-9]/.test(ch)) {
        compact += ch;
        k += 1;
        continue;
      }
      const separator = compact.length >= 4 ? new RegExp(`^${SEPARATOR}(?=[A-Za-z0-9])`).exec(text.slice(k)) : null;
      if (!separator) break;
      k += separator[0].length;
    }
    if (compact.length === length && /^[A-Za-z]{2}\d{2}[A-Za-z0-9]+$/.test(compact) && mod97(compact) === 1) found.push(compact);
  }
  return found;
}

// Generators

const digitString = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));

const luhnPan = fc
  .integer({ min: 13, max: 19 })
  .chain((length) => digitString(length - 1))
  .map((body) => {
    for (let check = 0; check <= 9; check += 1) if (luhn(body + String(check))) return body + String(check);
    throw new Error('unreachable');
  });

/** Formats a digit/alnum string in groups of `size`, joined by `sep`. */
function grouped(s: string, size: number, sep: string): string {
  const parts: string[] = [];
  for (let i = 0; i < s.length; i += size) parts.push(s.slice(i, i + size));
  return parts.join(sep);
}

/** Separators as people type and paste them (what is not one, four spaces or two dashes, comes in as noise below). */
const groupSeparator = fc.constantFrom('', ' ', '-', '  ', '\u00a0', '\u202f', '\t', ' - ', '\u2013', '   ');
/** Any grouping with a single space or dash; a card's own groups (4-4-4-4[-x], 4-6-5) with any separator. */
const formattedPan = fc.oneof(
  fc.tuple(luhnPan, fc.constantFrom('', ' ', '-'), fc.constantFrom(4, 3, 5)).map(([pan, sep, size]) => grouped(pan, size, sep)),
  fc.tuple(luhnPan.filter((pan) => pan.length >= 16), groupSeparator).map(([pan, sep]) => grouped(pan, 4, sep)),
  fc.tuple(luhnPan.filter((pan) => pan.length === 15), groupSeparator).map(([pan, sep]) => [pan.slice(0, 4), pan.slice(4, 10), pan.slice(10)].join(sep)),
);

const validIban = fc
  .tuple(fc.constantFrom(...Object.keys(IBAN_LENGTHS)), fc.boolean(), fc.boolean())
  .chain(([country, withLetters, lower]) => {
    const length = IBAN_LENGTHS[country] ?? 22;
    const bbanChar = withLetters ? fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')) : fc.constantFrom(...'0123456789'.split(''));
    return fc.array(bbanChar, { minLength: length - 4, maxLength: length - 4 }).map((chars) => {
      const bban = chars.join('');
      const check = String(98 - mod97(`${country}00${bban}`)).padStart(2, '0');
      const iban = `${country}${check}${bban}`;
      return lower ? iban.toLowerCase() : iban;
    });
  });

const formattedIban = fc.tuple(validIban, groupSeparator).map(([iban, sep]) => grouped(iban, 4, sep));

/** Any text at all, with card numbers and IBANs dropped in. */
const textWithSecrets = fc
  .array(fc.oneof(fc.string({ maxLength: 12 }), formattedPan, formattedIban, digitString(4), fc.constantFrom('my pin is 4821', 'code 558201', ' ', '-', '\n', '    ', '--')), { maxLength: 12 })
  .chain((parts) => fc.constantFrom('', ' ', '-', ', ').map((sep) => parts.join(sep)));

/**
 * Text holding none of the redacted kinds: words that are not (and do not
 * contain) a secret keyword, numbers of at most three digits, never two
 * numbers in a row.
 */
const KEYWORDISH = /code|pass|wort|pin|nip|otp|tan|clave|mdp|pwd|cvv|cvc|cvn|cid|digo|geheim|pr[uü]f|crypt|contras|security/i;
const safeWord = fc.stringMatching(/^[a-zA-ZéñüçÄ']{1,9}$/).filter((w) => !KEYWORDISH.test(w));
const safeToken = fc.tuple(safeWord, fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }), fc.constantFrom(' ', ', ', '. ', '! ', '? ', ' - '))
  .map(([word, n, sep]) => `${word}${n === undefined ? '' : ` ${n}`}${sep}`);
const safeText = fc.array(safeToken, { maxLength: 20 }).map((tokens) => tokens.join('').trim());

describe('redaction properties', () => {
  it('never leaves a Luhn-valid 13–19 digit run in its output', () => {
    fc.assert(
      fc.property(textWithSecrets, (text) => {
        expect(luhnValidRuns(redact(text).text)).toEqual([]);
        expect(luhnValidRuns(maskPans(text))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('never leaves a mod-97-valid IBAN in its output', () => {
    fc.assert(
      fc.property(textWithSecrets, (text) => {
        expect(validIbansIn(redact(text).text)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('finds every card number and IBAN dropped into text, and says so', () => {
    fc.assert(
      fc.property(safeText, fc.oneof(formattedPan.map((v) => ['pan', v] as const), formattedIban.map((v) => ['iban', v] as const)), safeText, (before, [kind, value], after) => {
        const r = redact(`${before} ${value} ${after}`);
        expect(r.redacted).toBe(true);
        expect(r.kinds).toContain(kind);
      }),
      { numRuns: 300 },
    );
  });

  it('never changes a message that holds none of the redacted kinds', () => {
    fc.assert(
      fc.property(safeText, (text) => {
        expect(redact(text)).toEqual({ text, redacted: false, kinds: [] });
        expect(maskPans(text)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(textWithSecrets, (text) => {
        const once = redact(text).text;
        expect(redact(once)).toEqual({ text: once, redacted: false, kinds: [] });
      }),
      { numRuns: 300 },
    );
  });
});
