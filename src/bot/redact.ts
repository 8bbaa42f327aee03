/**
 * What must never be stored or echoed from a public channel (PRODUCT.md, "Risk
 * tiers"): card numbers, IBANs, and secrets (passwords, PINs, one-time codes)
 * typed after their keyword, in English, Spanish, French and German.
 *
 * Formats written in place of what is removed (stable: the classifier and the
 * webviews recognise them):
 * - card number (13–19 digits, spaces/dashes allowed, Luhn-valid) → `•••• •••• •••• 1234`
 *   (last four kept, whatever the real length);
 * - IBAN (country table length, spaces allowed, ISO 7064 mod-97 valid) → `DE•• •••• •••• 3000`
 *   (country code and last four kept; fixed shape, so the length is not kept either);
 * - secret → `[removed]` (the keyword before it stays, so the thread still reads).
 *
 * Pure functions over strings: nothing here logs or keeps what it saw.
 */

export type RedactionKind = 'pan' | 'iban' | 'secret';

export interface Redaction {
  text: string;
  redacted: boolean;
  /** What was found, each kind once, in the order pan, iban, secret. */
  kinds: RedactionKind[];
}

export const MASK_BULLET = '•';
export const REMOVED_MARKER = '[removed]';
const B4 = MASK_BULLET.repeat(4);

/** A card number masked by this module, e.g. `•••• •••• •••• 1234`. */
export const MASKED_PAN_PATTERN = /•••• •••• •••• \d{4}/u;
/** An IBAN masked by this module, e.g. `DE•• •••• •••• 3000`. */
export const MASKED_IBAN_PATTERN = /\b[A-Z]{2}•• •••• •••• [A-Z0-9]{4}/u;

// ---------------------------------------------------------------------------
// Card numbers

/** Luhn (ISO/IEC 7812-1) check over a string of digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * What joins two groups of a card number or an IBAN as people type and paste
 * them beyond a single space or dash: up to three spaces (tabs, no-break and
 * narrow no-break spaces too: phones and banking apps paste those), or one
 * dash (hyphen, non-breaking hyphen, en dash) with up to three spaces on
 * either side. Bounded, so a long run of spaces costs linear time.
 */
const GROUP_SPACE = '[ \\t\\u00a0\\u2007\\u202f]';
const GROUP_SEPARATOR = `(?:${GROUP_SPACE}{0,3}[-\\u2010\\u2011\\u2013]${GROUP_SPACE}{0,3}|${GROUP_SPACE}{1,3})`;
/** The same, for a sticky test at one position of an IBAN being read (groups of four, checked by mod-97). */
const IBAN_SEPARATOR = new RegExp(GROUP_SEPARATOR, 'uy');

/**
 * A run of digit groups joined by single spaces or dashes: `4111 1111-1111 1111`.
 * Card numbers are searched for inside such runs, on group boundaries, so
 * `4111 1111 1111 1111 0927` (number then expiry) is still found, while a
 * contiguous group of more than 19 digits is never taken for a card.
 */
const DIGIT_RUN = /(?<!\d)\d+(?:[ -]\d+)*(?!\d)/gu;
/**
 * A card number written in its own groups with any GROUP_SEPARATOR:
 * 4-4-4-4 (up to 4-4-4-4-3) or Amex's 4-6-5. Only these shapes take the wide
 * separators: a phone number, a date and an amount in one sentence are
 * groups of other sizes, and joined by " - " they must not read as a card.
 */
const CARD_SHAPED_RUN = new RegExp(`(?<!\\d)\\d{4}(?:(?:${GROUP_SEPARATOR}\\d{4}){3}(?:${GROUP_SEPARATOR}\\d{1,3})?|${GROUP_SEPARATOR}\\d{6}${GROUP_SEPARATOR}\\d{5})(?!\\d)`, 'gu');
const DIGITS = /\d+/gu;
const ACCOUNT_DIGIT_RUN = /(?<!\d)\d(?:[ -]?\d){7,}(?!\d)/gu;
const NINE_DIGITS = /(?<!\d)\d{9}(?!\d)/gu;

/**
 * Every match of a global regex, as `text.matchAll(re)` gives them, without
 * the copy of `re` that matchAll makes (and compiles) on every call: redact
 * runs on every inbound message. Eager, so the caller's loop may use `re`.
 */
function matches(re: RegExp, text: string): RegExpExecArray[] {
  if (!re.global) throw new Error('matches() needs a global regex'); // exec would never advance
  const found: RegExpExecArray[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    found.push(m);
    if (m[0].length === 0) re.lastIndex += 1; // never loop on an empty match
  }
  re.lastIndex = 0;
  return found;
}

/**
 * Like `matches`, but a match may start inside the previous one: card-shaped
 * runs overlap (`4821 4517  2867  5678  1283` holds two), and the card may be
 * the later one.
 */
function overlappingMatches(re: RegExp, text: string): RegExpExecArray[] {
  if (!re.global) throw new Error('overlappingMatches() needs a global regex');
  const found: RegExpExecArray[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    found.push(m);
    re.lastIndex = m.index + 1;
  }
  re.lastIndex = 0;
  return found;
}

interface Span {
  start: number;
  end: number;
}

/** Spans (into `text`) of Luhn-valid 13–19 digit windows of whole groups, leftmost-longest, not overlapping. */
function findPans(text: string): Span[] {
  const spans: Span[] = [];
  // Narrow runs first, then card-shaped runs with wide separators; a span overlapping one already found is skipped.
  for (const run of [...matches(DIGIT_RUN, text), ...overlappingMatches(CARD_SHAPED_RUN, text)]) {
    const groups: Array<{ start: number; end: number; digits: string }> = [];
    const base = run.index;
    for (const g of matches(DIGITS, run[0])) {
      groups.push({ start: base + g.index, end: base + g.index + g[0].length, digits: g[0] });
    }
    let i = 0;
    while (i < groups.length) {
      let found: Span | undefined;
      let digits = '';
      for (let j = i; j < groups.length; j += 1) {
        const gj = groups[j];
        const gi = groups[i];
        if (gj === undefined || gi === undefined) break;
        digits += gj.digits;
        if (digits.length > 19) break;
        if (digits.length >= 13 && luhnValid(digits)) found = { start: gi.start, end: gj.end };
      }
      if (found && !spans.some((s) => found.start < s.end && s.start < found.end)) {
        spans.push(found);
        // continue after the groups that were taken
        while (i < groups.length && (groups[i]?.start ?? Infinity) < found.end) i += 1;
      } else {
        i += 1;
      }
    }
  }
  return spans;
}

function maskPan(raw: string): string {
  const digits = raw.replace(/\D/gu, '');
  return `${B4} ${B4} ${B4} ${digits.slice(-4)}`;
}

function replaceSpans(text: string, spans: Span[], replace: (raw: string) => string): string {
  let out = '';
  let at = 0;
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    out += text.slice(at, s.start) + replace(text.slice(s.start, s.end));
    at = s.end;
  }
  return out + text.slice(at);
}

/**
 * Masks card numbers only, to their last four digits. Repeats until none is left,
 * since a kept last four next to more digits could itself complete a number.
 * Used on the secure channel, where other text is kept.
 *
 * @example maskPans('card 4111 1111 1111 1111 thanks') === 'card •••• •••• •••• 1111 thanks'
 */
export function maskPans(text: string): string {
  return maskPansCounting(text).text;
}

function maskPansCounting(text: string): { text: string; found: boolean } {
  let out = text;
  let found = false;
  // Terminates: every round replaces at least 13 digits by 4.
  for (let spans = findPans(out); spans.length > 0; spans = findPans(out)) {
    found = true;
    out = replaceSpans(out, spans, maskPan);
  }
  return { text: out, found };
}

// ---------------------------------------------------------------------------
// IBANs

/** IBAN length per country (SWIFT IBAN registry). */
const IBAN_LENGTH: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27,
  GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27,
  MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25,
  QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23,
  TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/** ISO 7064 mod-97-10 over an IBAN without spaces (any case). */
export function ibanValid(iban: string): boolean {
  const s = iban.toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/u.test(s)) return false;
  if (IBAN_LENGTH[s.slice(0, 2)] !== s.length) return false;
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? String(code - 55) : ch;
    for (const d of value) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

/**
 * Country code and check digits; the rest is read as alphanumerics with group
 * separators between them (GROUP_SEPARATOR), exactly as many as the country's length. No word boundary is asked
 * for on either side (`IBAN:DE89…`, `…3000.`): mod-97 is what decides.
 */
const IBAN_START = /([A-Za-z]{2})(\d{2})/gu;

function findIbans(text: string): Span[] {
  const spans: Span[] = [];
  for (const m of matches(IBAN_START, text)) {
    const country = (m[1] ?? '').toUpperCase();
    const length = IBAN_LENGTH[country];
    if (length === undefined) continue;
    const start = m.index;
    if (spans.some((s) => start < s.end)) continue;
    let compact = '';
    let end = start;
    let i = start;
    while (i < text.length && compact.length < length) {
      const ch = text[i] ?? '';
      if (/[A-Za-z0-9]/u.test(ch)) {
        compact += ch;
        i += 1;
        end = i;
      } else if (compact.length >= 4 && ((IBAN_SEPARATOR.lastIndex = i), IBAN_SEPARATOR.test(text)) && /[A-Za-z0-9]/u.test(text[IBAN_SEPARATOR.lastIndex] ?? '')) {
        i = IBAN_SEPARATOR.lastIndex;
      } else {
        break;
      }
    }
    if (compact.length === length && ibanValid(compact)) spans.push({ start, end });
  }
  return spans;
}

function maskIban(raw: string): string {
  const compact = raw.replace(/[^A-Za-z0-9]/gu, '').toUpperCase();
  return `${compact.slice(0, 2)}${MASK_BULLET.repeat(2)} ${B4} ${B4} ${compact.slice(-4)}`;
}

// ---------------------------------------------------------------------------
// Secrets after their keyword

/**
 * Keywords after which a run of 4–8 digits (or 3+3, 2+2+2) is a PIN or a
 * one-time code. German compounds (`Bestätigungscode`, `pushTAN`) are matched
 * by their ending; words that merely end in "code" are excluded below.
 */
const NUMERIC_KEYWORD =
  /(?<![\p{L}\p{N}])(\p{L}*code|c[oó]digo|pin(?:[ -]?(?:code|number|nummer|n[uú]mero))?|nip|otp|(?:push|sms|m|mobile|chip|photo)?[ -]?tan|passcode|pass code|clave|geheimzahl|kennwort)(?![\p{L}])/giu;

/**
 * What every NUMERIC_KEYWORD match contains (its alternatives without the
 * `\p{L}*` prefix and the lookarounds), with the same flags. Tested first on
 * the whole text: the `\p{L}*` start makes the full pattern try a match at
 * every letter, which costs several µs on every inbound message, while most
 * messages hold none of these words.
 */
const NUMERIC_KEYWORD_HINT = /code|c[oó]digo|pin|nip|otp|tan|clave|geheimzahl|kennwort/iu;

/** CVV-like keywords take 3–4 digits. */
const CVV_KEYWORD =
  /(?<![\p{L}\p{N}])(cvv2?|cvc2?|cvn|cid|cryptogramme|pr[uü]fziffer|kartenpr[uü]fnummer|pr[uü]fnummer|security number|security code|c[oó]digo de seguridad de la tarjeta)(?![\p{L}])/giu;

/** "…code" words that do not name a secret. */
const NOT_A_SECRET_CODE = new Set([
  'postcode', 'zipcode', 'barcode', 'qrcode', 'promocode', 'sortcode', 'swiftcode', 'biccode', 'areacode',
  'gutscheincode', 'rabattcode', 'ländercode', 'landercode', 'vorwahlcode', 'fehlercode', 'errorcode', 'sourcecode',
  'dresscode', 'bankcode', 'zahlencode', 'strichcode', 'quellcode',
]);
/** Words that, just before "code", make it not a secret (`sort code 12-34-56`, `código postal`). */
const NOT_A_SECRET_BEFORE = /(?:sort|post|zip|swift|bic|area|promo|discount|voucher|referral|country|branch|dialling|dialing|reference|ref|error|qr|bar|tracking|product|routing|clearing)\s*$/iu;

/** Words that, just after "code", make it not a secret (`código postal`, `code postal`, `code promo`). */
const NOT_A_SECRET_AFTER = /^\s+(?:postal|postale|zip|promo|promocional|de descuento|de réduction|swift|bic|iban|de barras|barre)(?![\p{L}])/iu;

/**
 * Between keyword and digits: up to five short words (`the code you sent me is`,
 * `der code den ihr geschickt habt ist`), `:`, `=`, `#` or `-`; never a sentence break.
 */
const NUMERIC_SECRET_AFTER =
  /^(?:\s*[:=#-]?\s*(?:[\p{L}'’]+[\s:=,#-]+){0,6}?)(\d{4,8}|\d{3}[ -]\d{3}|\d{2}[ -]\d{2}[ -]\d{2})(?![\d\p{L}]|[.,]\d|\s*(?:€|\$|£|¥|eur\b|euros?\b|usd\b|gbp\b|dollars?\b|pounds?\b|quid\b|pesos?\b|francs?\b|bucks\b|k\b))/iu;
const CVV_SECRET_AFTER = /^(?:\s*[:=#-]?\s*(?:[\p{L}'’]+[\s:=,#-]+){0,6}?)(\d{3,4})(?![\d\p{L}])/iu;

/** Keywords after which the next word is a password, in the four languages. */
const PASSWORD_KEYWORD =
  /(?<![\p{L}\p{N}])(\p{L}*passwor[dt]|pass word|passphrase|passwd|pwd|memorable word|contrase[ñn]a|clave(?: de acceso)?|mot de passe|mot-de-passe|mdp|\p{L}*kennwort)(?![\p{L}])/giu;

/** What every PASSWORD_KEYWORD match contains, with the same flags (see NUMERIC_KEYWORD_HINT). */
const PASSWORD_KEYWORD_HINT = /passwor[dt]|pass word|passphrase|passwd|pwd|memorable word|contrase[ñn]a|clave|mot de passe|mot-de-passe|mdp|kennwort/iu;

/**
 * `is`, `:` … between a password keyword and the password, possibly after a
 * few words (`the password for online banking is …`, `das Passwort fürs Onlinebanking ist …`).
 */
const PASSWORD_CONNECTOR =
  /^(?:\s+[\p{L}'’]+){0,4}?\s*(?:(?:is|was|would be|es|era|ser[ií]a|est|c'est|c’est|ce sera|ist|lautet|war|wäre)(?![\p{L}'’])\s*|[:=]\s*)+/iu;

/** Words that follow "my password is" without being a password. */
const NOT_A_PASSWORD = new Set([
  'not', 'no', 'wrong', 'incorrect', 'invalid', 'expired', 'locked', 'blocked', 'forgotten', 'lost', 'stolen', 'too',
  'very', 'the', 'a', 'an', 'my', 'still', 'correct', 'right', 'required', 'needed', 'working', 'weak', 'strong',
  'missing', 'compromised', 'reset', 'changed', 'what', 'why', 'it', 'that', 'this', 'same', 'case', 'being',
  'nicht', 'kein', 'falsch', 'abgelaufen', 'gesperrt', 'zu', 'korrekt', 'richtig', 'vergessen', 'ungültig', 'was',
  'der', 'die', 'das', 'ein', 'eine', 'mein', 'meine', 'noch', 'sehr', 'weg',
  'incorrecta', 'incorrecto', 'caducada', 'caducado', 'bloqueada', 'bloqueado', 'mal', 'olvidada', 'muy',
  'demasiado', 'correcta', 'válida', 'inválida', 'el', 'la', 'un', 'una', 'mi', 'qué', 'que', 'ya',
  'pas', 'faux', 'fausse', 'incorrecte', 'expiré', 'bloqué', 'oublié', 'trop', 'bon', 'bonne', 'valide', 'perdu',
  'ne', "n'est", 'n’est', 'le', 'les', 'une', 'mon', 'quoi', 'toujours', 'encore',
]);

/** A password-looking word right after the keyword without a connector: has a digit or a symbol. */
const PASSWORD_LOOSE_AFTER = /^\s*(?:(?:to|a|à|auf|zu|en)\s+)?(?=\S*[\d!@#$%^&*_+=?~])(\S{4,})/iu;

/** The other way round: `4821 is my pin`, `558201 es el código`, `7731 ist meine PIN`. */
const NUMERIC_SECRET_BEFORE_KEYWORD =
  /(?<![\d\p{L}])(\d{4,8})\s+(?:is|was|es|est|c'est|ist|wäre)\s+(?:(?:my|the|your|mi|el|la|tu|mon|ma|le|la|ton|mein|meine|die|der|das|deine)\s+)?(?:\p{L}+\s+)?(?:pin|nip|otp|tan|code|c[oó]digo|clave|passcode|password|contrase[ñn]a|mot de passe|passwort|kennwort|geheimzahl)(?![\p{L}])/giu;

/** A code reported as received by text message: `I got 402918 by sms`, `me llegó 402918 por sms`. */
const NUMERIC_SECRET_BY_SMS =
  /(?<![\d\p{L}])(\d{4,8}|\d{3} \d{3})\s+(?:by|via|per|por|par|in (?:the|a)|en el|dans le|im)\s+(?:sms|text|txt|message|mensaje|nachricht|texto)(?![\p{L}])/giu;

function findSecrets(text: string): Span[] {
  const spans: Span[] = [];
  const add = (start: number, end: number): void => {
    if (!spans.some((s) => start < s.end && s.start < end)) spans.push({ start, end });
  };

  for (const re of [NUMERIC_SECRET_BEFORE_KEYWORD, NUMERIC_SECRET_BY_SMS]) {
    for (const m of matches(re, text)) add(m.index, m.index + (m[1] ?? '').length);
  }

  for (const m of NUMERIC_KEYWORD_HINT.test(text) ? matches(NUMERIC_KEYWORD, text) : []) {
    const word = (m[1] ?? '').toLowerCase().replace(/[ -]/gu, '');
    if (NOT_A_SECRET_CODE.has(word)) continue;
    if (/^(?:code|c[oó]digo)$/u.test(word) && NOT_A_SECRET_BEFORE.test(text.slice(0, m.index))) continue;
    const after = m.index + m[0].length;
    if (NOT_A_SECRET_AFTER.test(text.slice(after))) continue;
    const s = NUMERIC_SECRET_AFTER.exec(text.slice(after));
    if (s?.[1] !== undefined) {
      const end = after + s[0].length;
      add(end - s[1].length, end);
    }
  }
  for (const m of matches(CVV_KEYWORD, text)) {
    const after = m.index + m[0].length;
    const s = CVV_SECRET_AFTER.exec(text.slice(after));
    if (s?.[1] !== undefined) {
      const end = after + s[0].length;
      add(end - s[1].length, end);
    }
  }
  for (const m of PASSWORD_KEYWORD_HINT.test(text) ? matches(PASSWORD_KEYWORD, text) : []) {
    const after = m.index + m[0].length;
    const rest = text.slice(after);
    const connector = PASSWORD_CONNECTOR.exec(rest);
    if (connector) {
      const token = /^\S+/u.exec(rest.slice(connector[0].length));
      if (token) {
        const bare = token[0].toLowerCase().replace(/[.,;!?]+$/u, '');
        if (bare.length > 0 && !NOT_A_PASSWORD.has(bare) && token[0] !== REMOVED_MARKER && !isMask(token[0])) {
          const start = after + connector[0].length;
          add(start, start + token[0].length);
        }
      }
      continue;
    }
    const loose = PASSWORD_LOOSE_AFTER.exec(rest);
    if (loose?.[1] !== undefined && loose[1] !== REMOVED_MARKER && !isMask(loose[1])) {
      const end = after + loose[0].length;
      add(end - loose[1].length, end);
    }
  }
  return spans;
}

function isMask(token: string): boolean {
  return token.includes(MASK_BULLET);
}

// ---------------------------------------------------------------------------
// Public API

/**
 * Redacts card numbers, IBANs and secrets (see the module comment for the
 * formats). Idempotent: redacting redacted text changes nothing and reports
 * nothing. IBANs are looked for first, so an IBAN's digits are not taken for
 * a card number.
 *
 * @example redact('my pin is 4821') → { text: 'my pin is [removed]', redacted: true, kinds: ['secret'] }
 */
export function redact(text: string): Redaction {
  const kinds: RedactionKind[] = [];
  let out = text;

  const ibans = findIbans(out);
  if (ibans.length > 0) out = replaceSpans(out, ibans, maskIban);

  const pans = maskPansCounting(out);
  out = pans.text;

  const secrets = findSecrets(out);
  if (secrets.length > 0) out = replaceSpans(out, secrets, () => REMOVED_MARKER);

  if (pans.found) kinds.push('pan');
  if (ibans.length > 0) kinds.push('iban');
  if (secrets.length > 0) kinds.push('secret');
  return { text: out, redacted: kinds.length > 0, kinds };
}

/** Keywords next to which an 8+ digit run is an account number. */
const ACCOUNT_KEYWORD =
  /(?<![\p{L}])(account|acct|acc|a\/c|cuenta|cta|compte|cpte|konto|kto|kontonummer|clabe|routing|aba|rtn|sort code|bsb|número de cuenta|numéro de compte|n° de compte|rib)(?![\p{L}])/giu;
const UK_SORT_CODE_AND_ACCOUNT = /(?<!\d)\d{2}[- ]?\d{2}[- ]?\d{2}(?!\d)[\s,/;:-]*(?:[\p{L}.#/]+\s*){0,3}[:#]?\s*\d{8}(?!\d)/iu;
const ROUTING_KEYWORD = /(?<![\p{L}])(routing|aba|rtn|transit)(?![\p{L}])/iu;

/** US ABA routing number checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10). */
export function abaValid(digits: string): boolean {
  if (!/^\d{9}$/u.test(digits)) return false;
  const d = [...digits].map((c) => c.charCodeAt(0) - 48);
  const [a = 0, b = 0, c = 0, e = 0, f = 0, g = 0, h = 0, i = 0, j = 0] = d;
  return (3 * (a + e + h) + 7 * (b + f + i) + (c + g + j)) % 10 === 0;
}

/**
 * Guard rail for what an advisor is about to post on a public channel: true
 * when the text holds a card number, an IBAN, or an account number (8+ digits
 * within a few words of account/acct/cuenta/compte/Konto…, a UK sort code with
 * an account number, or a checksum-valid US routing number next to its name).
 * Errs on the side of saying yes; the caller asks the advisor to use the
 * secure chat instead.
 */
export function containsSensitiveData(text: string): boolean {
  if (findIbans(text).length > 0 || findPans(text).length > 0) return true;
  if (UK_SORT_CODE_AND_ACCOUNT.test(text)) return true;
  for (const m of matches(ACCOUNT_KEYWORD, text)) {
    const start = Math.max(0, m.index - 40);
    const end = Math.min(text.length, m.index + m[0].length + 40);
    const around = text.slice(start, end);
    for (const run of matches(ACCOUNT_DIGIT_RUN, around)) {
      const digits = run[0].replace(/\D/gu, '');
      if (digits.length >= 8) return true;
    }
  }
  for (const run of matches(NINE_DIGITS, text)) {
    if (!abaValid(run[0])) continue;
    const around = text.slice(Math.max(0, run.index - 30), run.index + 9 + 30);
    if (ROUTING_KEYWORD.test(around)) return true;
  }
  return false;
}
