/**
 * ③ What a customer's message asks for, as one of the canonical intents of
 * PRODUCT.md ("Risk tiers"), in English, Spanish, French or German.
 *
 * How a message is classified:
 * 1. Redaction detectors run first (`./redact`): a secret after its keyword
 *    (PIN, password, one-time code…) means `credential_disclosure`; a card
 *    number or IBAN means `card_payment`. The same holds for text that was
 *    already redacted before it was stored (`[removed]`, `•••• … 1234`).
 * 2. The language is the one whose training vocabulary covers the message
 *    best, each word weighted by how few languages share it (nlp.js's own
 *    trigram guesser only breaks ties: it is unreliable on short chat lines).
 * 3. The text is normalised: chat abbreviations (`xfer`, `acct`, `pls`, `stp`,
 *    `porfa`…) expanded; masks, amounts and numbers turned into placeholder
 *    words; three concept words are added when their pattern matches (a device
 *    next to a loss or theft; a "what is / what does it mean" question; a
 *    "what if / should I" question), so that what the corpus teaches about
 *    them carries over to phrasings it does not contain.
 * 4. Two models trained in process on the same corpus each give a probability
 *    per intent, and the two are averaged (`LINEAR_WEIGHT`):
 *    - nlp.js's NLU (`@nlpjs/nlp`): per-language stemming, bag of stems, a
 *      small neural network, spell-check against the trained vocabulary;
 *    - a softmax regression over word unigrams/bigrams and character 3–5-grams
 *      (below), which copes with typos, German compounds and unseen inflections.
 * 5. The message pivots when the probability of "some sensitive intent"
 *    (1 − P(none)) reaches `PIVOT_THRESHOLD`; the intent is then the most
 *    probable sensitive one. Messages made only of small talk ("hi", "merci",
 *    "schönen Tag noch") or without a single letter are `none`. Rule and
 *    models are merged by keeping the higher tier (a tie goes to the rule).
 *
 * Training takes a few seconds and happens in process at start-up
 * (`IntentClassifier.train()`); it is deterministic; nothing is written to
 * disk and nothing is logged.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LANGUAGES, findPackageRoot, isLanguage, loadCorpusFile, type CorpusSplit, type Language } from './intent-corpus';
import { tierOf, type Tier } from '../pivot/policy';
import { MASK_BULLET, REMOVED_MARKER, redact } from './redact';

export { LANGUAGES, type Language } from './intent-corpus';

export const INTENTS = [
  'none',
  'view_account',
  'update_profile',
  'card_payment',
  'trade',
  'transfer_funds',
  'withdraw',
  'credential_disclosure',
  'lost_device',
] as const;
export type Intent = (typeof INTENTS)[number];

export type { Tier };

/** PRODUCT.md "Risk tiers", as `src/pivot/policy.ts` decides them (one table, not two). */
export const TIER_OF: Readonly<Record<Intent, Tier>> = Object.freeze(Object.fromEntries(INTENTS.map((intent) => [intent, tierOf(intent)])) as Record<Intent, Tier>);

/** Every intent but `none`: each one pivots to the secure chat. */
export const SENSITIVE_INTENTS: readonly Intent[] = INTENTS.filter((i) => i !== 'none');

export function isIntent(value: unknown): value is Intent {
  return typeof value === 'string' && (INTENTS as readonly string[]).includes(value);
}

export function isSensitive(intent: Intent): boolean {
  return intent !== 'none';
}

export interface Classification {
  intent: Intent;
  tier: Tier;
  /** Confidence in [0, 1]: the model's normalised score, or 1 when a redaction rule decided. */
  score: number;
  language: Language;
}

export interface LabelledExample {
  text: string;
  intent: Intent;
}

/** Labelled messages per language. */
export type IntentCorpus = Readonly<Record<Language, readonly LabelledExample[]>>;

/** One split of `data/intents/*.json`, labels checked against `INTENTS`. */
export function loadIntentCorpus(split: CorpusSplit, dir?: string): IntentCorpus {
  const corpus: Record<Language, LabelledExample[]> = { en: [], es: [], fr: [], de: [] };
  for (const language of LANGUAGES) {
    const file = dir === undefined ? loadCorpusFile(language) : loadCorpusFile(language, dir);
    for (const { text, intent } of file[split]) {
      if (!isIntent(intent)) throw new Error(`data/intents/${language}.json ${split}: unknown intent "${intent}"`);
      corpus[language].push({ text, intent });
    }
  }
  return corpus;
}

/**
 * The message pivots when 1 − P(none) reaches this. Chosen with `LINEAR_WEIGHT`
 * by 5-fold cross-validation on the training data (never on the held-out
 * split): the lowest threshold keeping the false-pivot rate near 5%, since
 * sensitive recall matters more. The averaged scores are not calibrated
 * probabilities (nlp.js squares and renormalises its own), hence not 0.5.
 */
export const PIVOT_THRESHOLD = 0.55;
/** Share of the softmax regression in the averaged probabilities; nlp.js has the rest. */
export const LINEAR_WEIGHT = 0.8;

// ---------------------------------------------------------------------------
// nlp.js, typed by the little of it used here (it ships no type declarations)

interface NlpJsClassification {
  intent: string;
  score: number;
}
interface NlpJsResult {
  intent?: string;
  score?: number;
  classifications?: NlpJsClassification[];
}
interface NlpJs {
  use(plugin: unknown): void;
  addDocument(locale: string, utterance: string, intent: string): void;
  train(): Promise<unknown>;
  process(locale: string, utterance: string): Promise<NlpJsResult>;
  guessLanguage(utterance: string): string | undefined;
  export(minified?: boolean): string;
  import(data: string): void;
}
interface NlpJsSettings {
  languages: string[];
  autoSave: boolean;
  autoLoad: boolean;
  forceNER: boolean;
  calculateSentiment: boolean;
  nlu: { log: boolean; spellCheck: boolean; useNoneFeature: boolean };
}
type NlpJsConstructor = new (settings: NlpJsSettings) => NlpJs;

const requireCjs = createRequire(__filename);

const NLP_SETTINGS: NlpJsSettings = {
  languages: [...LANGUAGES],
  autoSave: false,
  autoLoad: false,
  forceNER: false,
  calculateSentiment: false,
  nlu: { log: false, spellCheck: true, useNoneFeature: true },
};

function loadNlpJs(): { Nlp: NlpJsConstructor; plugins: unknown[] } {
  const nlp: unknown = requireCjs('@nlpjs/nlp');
  const langs: unknown = requireCjs('@nlpjs/lang-all');
  const Nlp: unknown = typeof nlp === 'object' && nlp !== null ? Reflect.get(nlp, 'Nlp') : undefined;
  if (typeof Nlp !== 'function' || typeof langs !== 'object' || langs === null) {
    throw new Error('@nlpjs/nlp or @nlpjs/lang-all has an unexpected shape');
  }
  const plugins = ['LangEn', 'LangEs', 'LangFr', 'LangDe'].map((name) => Reflect.get(langs, name));
  return { Nlp: Nlp as NlpJsConstructor, plugins };
}

// ---------------------------------------------------------------------------
// Text normalisation shared by training and classification

/** Chat abbreviations, per language, expanded before the model sees a message. */
const ABBREVIATIONS: Readonly<Record<Language, Readonly<Record<string, string>>>> = {
  en: {
    xfer: 'transfer', xfr: 'transfer', trf: 'transfer', trsf: 'transfer', tfr: 'transfer',
    acct: 'account', acc: 'account', accnt: 'account', acnt: 'account',
    pls: 'please', plz: 'please', pl: 'please', bal: 'balance', txn: 'transaction', txns: 'transactions',
    trx: 'transaction', stmt: 'statement', pwd: 'password', pw: 'password', addr: 'address', tel: 'telephone',
    ph: 'phone', u: 'you', ur: 'your', r: 'are', thx: 'thanks', ty: 'thanks', wanna: 'want to', gonna: 'going to',
    mob: 'mobile', cc: 'credit card', dd: 'direct debit', wd: 'withdraw', amt: 'amount', info: 'information',
    hv: 'have', abt: 'about', cuz: 'because', bc: 'because', im: 'i am', cant: 'cannot', dont: 'do not',
    whats: 'what is', hows: 'how is', ive: 'i have', asap: 'urgently', bday: 'birthday',
  },
  es: {
    q: 'que', k: 'que', xq: 'porque', pq: 'porque', porfa: 'por favor', porfavor: 'por favor', xfa: 'por favor',
    pls: 'por favor', tb: 'también', tmb: 'también', cta: 'cuenta', ctas: 'cuentas', transf: 'transferencia',
    trf: 'transferencia', tlf: 'teléfono', tfno: 'teléfono', tel: 'teléfono', cel: 'celular', msj: 'mensaje',
    d: 'de', x: 'por', dnd: 'dónde', pa: 'para', info: 'información',
  },
  fr: {
    stp: "s'il te plaît", svp: "s'il vous plaît", cpt: 'compte', cpte: 'compte', vir: 'virement', slt: 'salut',
    bjr: 'bonjour', bsr: 'bonsoir', mdp: 'mot de passe', tel: 'téléphone', tél: 'téléphone', pr: 'pour',
    ds: 'dans', qd: 'quand', pk: 'pourquoi', pq: 'pourquoi', jsp: 'je ne sais pas', mrc: 'merci', mci: 'merci',
    c: "c'est", dab: 'distributeur', tt: 'tout', bcp: 'beaucoup', rdv: 'rendez-vous', infos: 'informations',
  },
  de: {
    überw: 'überweisung', ueberw: 'überweisung', kto: 'konto', pw: 'passwort', pwd: 'passwort',
    bzw: 'beziehungsweise', pls: 'bitte', plz: 'postleitzahl', tel: 'telefon', nr: 'nummer', hab: 'habe',
    gibts: 'gibt es', ne: 'eine', nen: 'einen', nem: 'einem', mfg: 'grüße', lg: 'grüße', vllt: 'vielleicht',
    info: 'information', infos: 'informationen',
  },
};

const CURRENCY = String.raw`(?:€|\$|£|¥|eur\b|euros?\b|usd\b|gbp\b|aud\b|cad\b|chf\b|mxn\b|dollars?\b|bucks\b|quid\b|pounds?\b|pesos?\b|francs?\b|pence\b)`;
const NUMBER = String.raw`\d[\d.,']*(?:\s?(?:k|m|mil|mille)\b)?`;
const AMOUNT = new RegExp(String.raw`(?:[€$£¥]\s*${NUMBER})|(?:${NUMBER}\s*${CURRENCY})|(?:\b\d+k\b)`, 'giu');
const RETIREMENT_PLAN = /\b(?:401|403|457)\s*\(?\s*[kb]\s*\)?(?![\p{L}])/giu;
const MASKED_PAN = new RegExp(`${MASK_BULLET}{4} ${MASK_BULLET}{4} ${MASK_BULLET}{4} \\d{4}`, 'gu');
const MASKED_IBAN = new RegExp(`[a-z]{2}${MASK_BULLET}{2} ${MASK_BULLET}{4} ${MASK_BULLET}{4} [a-z0-9]{4}`, 'giu');

/**
 * A device word and a loss/theft word in the same message add the concept word
 * `xdevicelossx`: the model learns its weight like any other word, but it
 * carries across phrasings and languages that the training data did not spell
 * out (`dropped my phone in the sea`, `mir wurde das Handy entrissen`).
 * Matched on accent-free words, as prefixes.
 */
const DEVICE_WORDS = /^(?:phone|mobile|cell|smartphone|iphone|android|samsung|pixel|ipad|tablet|laptop|computer|device|handset|movil|telefon|teleph|celular|portatil|ordenador|computadora|dispositivo|portable|ordi|appareil|handy|gerat|mobiltelefon|diensthandy)/u;
const LOSS_WORDS = /^(?:lost|lose|losing|stolen|stole|steal|nicked|pinched|swiped|robbed|mugged|snatched|pickpocket|missing|misplaced|gone|dropped|left|forgot|perd|robad|robaron|robo|quitaron|quitad|extravi|mangaron|mangad|olvid|deje|dejado|desapareci|cayo|caido|arrebat|asalt|atrac|vole|vola|piqu|egar|oubli|laiss|arrach|introuvable|dispar|tomb|chour|verlor|verlier|gestohlen|geklaut|klau|stehl|weg|verlegt|vergessen|liegen|verschwunden|gefallen|geraubt|uberfallen|entrissen|gerissen)/u;

/**
 * Greetings, thanks and other small talk, accent-free, all languages together.
 * A message made only of these is `none` whatever the models say: they appear
 * in front of many requests in the training data, which would otherwise make
 * a bare "hello" look like the start of one.
 */
const SMALL_TALK = new Set(
  (
    'hi hey hello hiya yo morning good afternoon evening night day thanks thank you ty thx cheers bye goodbye ok okay ' +
    'great cool perfect sure yes no yeah yep nope please much so very lot all that s is it for now there again see later ' +
    'take care have a nice lovely and wonderful awesome fine alright right oh ah hmm lol ' +
    'hola buenas buenos dias tardes noches gracias muchas mil vale adios chao hasta luego pronto perfecto genial si ' +
    'saludos que tal bien muy un saludo igualmente de nada bueno claro ' +
    'bonjour bonsoir salut coucou merci beaucoup fois au revoir a bientot d accord daccord super parfait oui non ' +
    'bonne journee soiree ca va re cordialement bon apres midi tres bien top genial rien ' +
    'hallo moin servus gruss grusse gott guten morgen tag abend danke vielen dank tausend schon schonen tschuss ciao ' +
    'wiedersehen auf alles klar perfekt ja nein noch nachmittag bis bald spater gut prima toll bitte gerne'
  ).split(' '),
);

function isSmallTalk(text: string): boolean {
  const words = plainWords(text);
  return words.length > 0 && words.every((w) => SMALL_TALK.has(w));
}

/** Placeholder and concept words; they are language-neutral, so they never decide a language. */
const PLACEHOLDERS = new Set(['xsecretx', 'xcardx', 'xibanx', 'xamountx', 'xnumx', 'xcodex', 'xlongnumx', 'xretirementplanx', 'xdevicelossx', 'xdefinitionx', 'xhypotheticalx']);

/**
 * A number by its length: up to 4 digits is a count, an amount or a PIN
 * (`xnumx`), 5–7 looks like a one-time code (`xcodex`), longer like an account
 * or phone number (`xlongnumx`).
 */
function numberWord(number: string): string {
  const digits = number.replace(/\D/gu, '').length;
  return digits <= 4 ? ' xnumx ' : digits <= 7 ? ' xcodex ' : ' xlongnumx ';
}

/**
 * A question about what something is or means (`what's the difference between…`,
 * `qué significa…`, `c'est quoi un…`, `was bedeutet…`) adds `xdefinitionx`:
 * such questions are general, not requests, even when they name a sensitive
 * thing. "What is *my*…" is not one. Matched on accent-free lower-case text.
 */
const DEFINITION_QUESTION = new RegExp(
  [
    String.raw`\bwhat(?:'?s| is| are)\s+(?:a|an|the)\b(?!\s+(?:balance|status)\b)`,
    String.raw`\bwhat does\b.*\b(?:mean|stand for)\b`,
    String.raw`\b(?:difference between|meaning of|explain|definition)\b`,
    String.raw`\bque (?:es|son|significa|quiere decir)\s+(?:un|una|el|la|los|las)?\b(?!\s*(?:mi|mis)\b)`,
    String.raw`\b(?:diferencia entre|explica)`,
    String.raw`\bc'?est quoi\b(?!\s+(?:mon|ma|mes)\b)`,
    String.raw`\bqu'?est-ce qu(?:'|e )?(?:un|une|c'est)\b`,
    String.raw`\bque (?:veut dire|signifie)\b`,
    String.raw`\b(?:difference entre|expliqu)`,
    String.raw`\bwas (?:ist|sind|bedeutet|heisst)\s+(?:ein|eine|der|die|das)?\b(?!\s*(?:mein|meine)\b)`,
    String.raw`\b(?:unterschied zwischen|erklar)`,
  ].join('|'),
  'u',
);

/**
 * A hypothetical or advice question (`what happens if…`, `qué hago si…`,
 * `que faire si…`, `was tun wenn…`, `should I…`) adds `xhypotheticalx`: it
 * asks about a situation, it does not report or request one.
 */
const HYPOTHETICAL_QUESTION = new RegExp(
  [
    String.raw`\bwhat (?:happens|should i do|do i do|to do|can i do|if)\b.*\b(?:if|when|in case)\b`,
    String.raw`\bwhat if\b`,
    String.raw`\bshould i\b`,
    String.raw`\bque (?:pasa|hago|hay que hacer|debo hacer|tengo que hacer)\b.*\bsi\b`,
    String.raw`\bdeberia\b`,
    String.raw`\bque (?:se passe-t-il|faire|dois-je faire)\b.*\bsi\b`,
    String.raw`\bqu'?est-ce qui se passe si\b`,
    String.raw`\b(?:est-ce que je devrais|devrais-je)\b`,
    String.raw`\bwas (?:passiert|tun|mache ich|soll ich tun)\b.*\bwenn\b`,
    String.raw`\bsollte ich\b`,
  ].join('|'),
  'u',
);

function conceptWords(redactedText: string): string {
  const words = plainWords(redactedText);
  const flat = redactedText.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/[’`]/gu, "'");
  let concepts = '';
  if (words.some((w) => DEVICE_WORDS.test(w)) && words.some((w) => LOSS_WORDS.test(w))) concepts += ' xdevicelossx';
  if (DEFINITION_QUESTION.test(flat)) concepts += ' xdefinitionx';
  if (HYPOTHETICAL_QUESTION.test(flat)) concepts += ' xhypotheticalx';
  return concepts;
}

/** Lower-case, accents off, split into words (digits-only words dropped). */
function plainWords(text: string): string[] {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0 && !/^\d+$/u.test(w));
}

/**
 * Text as the model sees it: masks, amounts and numbers become placeholder
 * words and chat abbreviations of `language` are expanded. Expects redacted text.
 */
export function normaliseForModel(redactedText: string, language: Language): string {
  const abbreviations = ABBREVIATIONS[language];
  const concepts = conceptWords(redactedText);
  const text = redactedText
    .normalize('NFKC')
    .replaceAll(REMOVED_MARKER, ' xsecretx ')
    .replace(MASKED_PAN, ' xcardx ')
    .replace(MASKED_IBAN, ' xibanx ')
    .toLowerCase()
    .replace(/\ba\/c\b/gu, ' account ')
    .replace(/\bw\/d\b/gu, ' withdraw ')
    .replace(RETIREMENT_PLAN, ' xretirementplanx ')
    .replace(AMOUNT, ' xamountx ')
    .replace(/\d+(?:[.,:/-]\d+)*/gu, numberWord)
    .replace(/[\p{L}]+(?:['’][\p{L}]+)?/gu, (word) => abbreviations[word] ?? word)
    .replace(/\s+/gu, ' ')
    .trim();
  return `${text}${concepts}`.trim();
}

// ---------------------------------------------------------------------------
// Softmax regression over word and character n-grams

/** Sparse features of one normalised message, L2-normalised. */
function linearFeatures(normalised: string, language: Language): Map<string, number> {
  const words = plainWords(normalised);
  const features = new Map<string, number>();
  const add = (key: string, value: number): void => {
    features.set(key, (features.get(key) ?? 0) + value);
  };
  add(`lang:${language}`, 1);
  words.forEach((word, i) => {
    add(`w:${word}`, 1);
    add(`b:${i === 0 ? '^' : (words[i - 1] ?? '')}_${word}`, 1);
    if (PLACEHOLDERS.has(word)) return;
    const padded = `<${word}>`;
    for (let n = 3; n <= 5; n += 1) {
      for (let j = 0; j + n <= padded.length; j += 1) add(`c:${padded.slice(j, j + n)}`, 0.5);
    }
  });
  let norm = 0;
  for (const v of features.values()) norm += v * v;
  norm = Math.sqrt(norm) || 1;
  for (const [k, v] of features) features.set(k, v / norm);
  return features;
}

interface SparseExample {
  ids: Int32Array;
  values: Float64Array;
  label: number;
}

/**
 * Multinomial logistic regression trained with AdaGrad and a little L2, in a
 * fixed order (seeded shuffle), so the same corpus always gives the same model.
 */
interface LinearSnapshot {
  /** Feature keys in id order. */
  vocabulary: string[];
  /** Float64 little-endian, base64. */
  weights: string;
  bias: string;
  classes: number;
}

/** A trained classifier on disk: both models, keyed by what produced them. */
interface ModelSnapshot {
  key: string;
  nlp: string;
  linear: LinearSnapshot;
}

class SoftmaxRegression {
  private constructor(
    private readonly vocabulary: ReadonlyMap<string, number>,
    private readonly weights: Float64Array,
    private readonly bias: Float64Array,
    private readonly classes: number,
  ) {}

  static train(samples: ReadonlyArray<{ features: ReadonlyMap<string, number>; label: number }>, classes: number): SoftmaxRegression {
    const EPOCHS = 12;
    const RATE = 0.5;
    const L2 = 1e-4;
    const vocabulary = new Map<string, number>();
    const examples: SparseExample[] = samples.map(({ features, label }) => {
      const ids = new Int32Array(features.size);
      const values = new Float64Array(features.size);
      let i = 0;
      for (const [key, value] of features) {
        let id = vocabulary.get(key);
        if (id === undefined) {
          id = vocabulary.size;
          vocabulary.set(key, id);
        }
        ids[i] = id;
        values[i] = value;
        i += 1;
      }
      return { ids, values, label };
    });
    const weights = new Float64Array(vocabulary.size * classes);
    const squares = new Float64Array(vocabulary.size * classes).fill(1e-8);
    const bias = new Float64Array(classes);
    const biasSquares = new Float64Array(classes).fill(1e-8);
    const p = new Float64Array(classes);
    const order = examples.map((_, i) => i);
    let seed = 42;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; // 32-bit LCG: the same order on every run
      return seed / 4294967296;
    };
    for (let epoch = 0; epoch < EPOCHS; epoch += 1) {
      for (let i = order.length - 1; i > 0; i -= 1) {
        const j = Math.floor(random() * (i + 1));
        const t = order[i] ?? 0;
        order[i] = order[j] ?? 0;
        order[j] = t;
      }
      for (const index of order) {
        const example = examples[index];
        if (example === undefined) continue;
        SoftmaxRegression.forward(example.ids, example.values, weights, bias, classes, p);
        for (let c = 0; c < classes; c += 1) {
          const g = (p[c] ?? 0) - (c === example.label ? 1 : 0);
          biasSquares[c] = (biasSquares[c] ?? 0) + g * g;
          bias[c] = (bias[c] ?? 0) - (RATE * g) / Math.sqrt(biasSquares[c] ?? 1);
        }
        for (let f = 0; f < example.ids.length; f += 1) {
          const base = (example.ids[f] ?? 0) * classes;
          const v = example.values[f] ?? 0;
          for (let c = 0; c < classes; c += 1) {
            const k = base + c;
            const w = weights[k] ?? 0;
            const g = ((p[c] ?? 0) - (c === example.label ? 1 : 0)) * v + L2 * w;
            squares[k] = (squares[k] ?? 0) + g * g;
            weights[k] = w - (RATE * g) / Math.sqrt(squares[k] ?? 1);
          }
        }
      }
    }
    return new SoftmaxRegression(vocabulary, weights, bias, classes);
  }

  private static forward(ids: Int32Array, values: Float64Array, weights: Float64Array, bias: Float64Array, classes: number, out: Float64Array): void {
    out.set(bias);
    for (let f = 0; f < ids.length; f += 1) {
      const base = (ids[f] ?? 0) * classes;
      const v = values[f] ?? 0;
      for (let c = 0; c < classes; c += 1) out[c] = (out[c] ?? 0) + (weights[base + c] ?? 0) * v;
    }
    let max = -Infinity;
    for (let c = 0; c < classes; c += 1) max = Math.max(max, out[c] ?? 0);
    let sum = 0;
    for (let c = 0; c < classes; c += 1) {
      out[c] = Math.exp((out[c] ?? 0) - max);
      sum += out[c] ?? 0;
    }
    for (let c = 0; c < classes; c += 1) out[c] = (out[c] ?? 0) / sum;
  }

  toJSON(): LinearSnapshot {
    return {
      vocabulary: [...this.vocabulary.keys()],
      weights: Buffer.from(this.weights.buffer, this.weights.byteOffset, this.weights.byteLength).toString('base64'),
      bias: Buffer.from(this.bias.buffer, this.bias.byteOffset, this.bias.byteLength).toString('base64'),
      classes: this.classes,
    };
  }

  static fromJSON(snapshot: LinearSnapshot): SoftmaxRegression {
    const floats = (b64: string) => {
      const bytes = Buffer.from(b64, 'base64');
      return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    };
    return new SoftmaxRegression(new Map(snapshot.vocabulary.map((key, id) => [key, id])), floats(snapshot.weights), floats(snapshot.bias), snapshot.classes);
  }

  /** Class probabilities; features never seen in training are ignored. */
  predict(features: ReadonlyMap<string, number>): Float64Array {
    const known = [...features].filter(([key]) => this.vocabulary.has(key));
    const ids = Int32Array.from(known, ([key]) => this.vocabulary.get(key) ?? 0);
    const values = Float64Array.from(known, ([, value]) => value);
    const out = new Float64Array(this.classes);
    SoftmaxRegression.forward(ids, values, this.weights, this.bias, this.classes, out);
    return out;
  }
}

// ---------------------------------------------------------------------------
// The classifier

type Lexicon = ReadonlyMap<string, ReadonlySet<Language>>;

function buildLexicon(corpus: IntentCorpus): Lexicon {
  const lexicon = new Map<string, Set<Language>>();
  const add = (word: string, language: Language): void => {
    if (PLACEHOLDERS.has(word)) return;
    const langs = lexicon.get(word) ?? new Set<Language>();
    langs.add(language);
    lexicon.set(word, langs);
  };
  for (const language of LANGUAGES) {
    for (const { text } of corpus[language]) for (const w of plainWords(text)) add(w, language);
    for (const abbreviation of Object.keys(ABBREVIATIONS[language])) for (const w of plainWords(abbreviation)) add(w, language);
  }
  return lexicon;
}

/** Probability per intent. */
type IntentScores = Record<Intent, number>;

function emptyScores(): IntentScores {
  return { none: 0, view_account: 0, update_profile: 0, card_payment: 0, trade: 0, transfer_funds: 0, withdraw: 0, credential_disclosure: 0, lost_device: 0 };
}

export class IntentClassifier {
  private constructor(
    private readonly nlp: NlpJs,
    private readonly linear: SoftmaxRegression,
    private readonly lexicon: Lexicon,
  ) {}

  /**
   * Trains both models, in process (a few seconds). Without a corpus, the
   * `train` split of `data/intents/*.json` is used.
   *
   * @example
   * const classifier = await IntentClassifier.train();
   * await classifier.classify('xfer £200 to my savings pls'); // { intent: 'transfer_funds', tier: 4, language: 'en', … }
   */
  static async train(corpus: IntentCorpus = loadIntentCorpus('train')): Promise<IntentClassifier> {
    const { Nlp, plugins } = loadNlpJs();
    const nlp = new Nlp(NLP_SETTINGS);
    for (const plugin of plugins) nlp.use(plugin);
    const samples: Array<{ features: Map<string, number>; label: number }> = [];
    for (const language of LANGUAGES) {
      for (const { text, intent } of corpus[language]) {
        const normalised = normaliseForModel(redact(text).text, language);
        nlp.addDocument(language, normalised, intent);
        samples.push({ features: linearFeatures(normalised, language), label: INTENTS.indexOf(intent) });
      }
    }
    await nlp.train();
    return new IntentClassifier(nlp, SoftmaxRegression.train(samples, INTENTS.length), buildLexicon(corpus));
  }

  private static trained?: Promise<IntentClassifier>;

  /**
   * The classifier of the repository's corpus, trained once per process and
   * cached on disk (`node_modules/.cache/pivot-gateway/`), keyed by a hash of
   * the corpus and of this module's code: `npm install` (the build) trains it,
   * `npm start` and every test process load it in well under a second. A
   * missing or stale cache is retrained, never trusted.
   */
  static shared(): Promise<IntentClassifier> {
    IntentClassifier.trained ??= IntentClassifier.loadOrTrain();
    IntentClassifier.trained.catch(() => {
      IntentClassifier.trained = undefined; // let the next caller try again
    });
    return IntentClassifier.trained;
  }

  private static async loadOrTrain(): Promise<IntentClassifier> {
    const corpus = loadIntentCorpus('train');
    const key = createHash('sha256').update(JSON.stringify(corpus)).update(readFileSync(__filename)).digest('hex').slice(0, 32);
    const file = join(findPackageRoot(), 'node_modules', '.cache', 'pivot-gateway', `intents-${key}.json`);
    try {
      const snapshot = JSON.parse(readFileSync(file, 'utf8')) as ModelSnapshot;
      if (snapshot.key === key) return IntentClassifier.fromSnapshot(snapshot, corpus);
    } catch {
      // no cache yet (or unreadable): train below
    }
    const classifier = await IntentClassifier.train(corpus);
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.${process.pid}`, JSON.stringify({ key, nlp: classifier.nlp.export(true), linear: classifier.linear.toJSON() } satisfies ModelSnapshot));
      renameSync(`${file}.${process.pid}`, file); // atomic: a concurrent reader sees all or nothing
    } catch {
      // a read-only install still works, it just trains at each start
    }
    return classifier;
  }

  private static fromSnapshot(snapshot: ModelSnapshot, corpus: IntentCorpus): IntentClassifier {
    const { Nlp, plugins } = loadNlpJs();
    const nlp = new Nlp(NLP_SETTINGS);
    for (const plugin of plugins) nlp.use(plugin);
    nlp.import(snapshot.nlp);
    return new IntentClassifier(nlp, SoftmaxRegression.fromJSON(snapshot.linear), buildLexicon(corpus));
  }

  /** The language whose training vocabulary covers `text` best; nlp.js's guesser breaks ties. */
  detectLanguage(text: string): Language {
    const scores: Record<Language, number> = { en: 0, es: 0, fr: 0, de: 0 };
    const words = plainWords(text);
    if (words.length === 0) return 'en';
    for (const word of words) {
      const langs = this.lexicon.get(word);
      if (!langs) continue;
      for (const language of langs) scores[language] += 1 / langs.size;
    }
    let best: Language | undefined;
    let bestScore = 0;
    let tie = false;
    for (const language of LANGUAGES) {
      if (scores[language] > bestScore) {
        best = language;
        bestScore = scores[language];
        tie = false;
      } else if (bestScore > 0 && scores[language] === bestScore) {
        tie = true;
      }
    }
    if (best !== undefined && !tie) return best;
    const guessed = this.nlp.guessLanguage(text);
    if (isLanguage(guessed) && (best === undefined || scores[guessed] === bestScore)) return guessed;
    return best ?? 'en';
  }

  /** Classifies one customer message (raw or already redacted). Never throws on odd input. */
  async classify(text: string): Promise<Classification> {
    const { text: redacted, kinds } = redact(text);
    const language = this.detectLanguage(redacted.replaceAll(REMOVED_MARKER, ' '));

    let rule: Intent | undefined;
    if (kinds.includes('secret') || redacted.includes(REMOVED_MARKER)) rule = 'credential_disclosure';
    else if (kinds.includes('pan') || kinds.includes('iban') || redacted.includes(MASK_BULLET)) rule = 'card_payment';

    const model = decide(await this.scores(redacted, language));
    if (rule !== undefined && TIER_OF[rule] >= TIER_OF[model.intent]) {
      return { intent: rule, tier: TIER_OF[rule], score: 1, language };
    }
    return { intent: model.intent, tier: TIER_OF[model.intent], score: model.score, language };
  }

  /** The averaged probabilities of both models for redacted text in `language`. */
  private async scores(redacted: string, language: Language): Promise<IntentScores> {
    const scores = emptyScores();
    // Without a single word (an emoji, a bare number) there is nothing to go on.
    if (!/\p{L}/u.test(redacted) || isSmallTalk(redacted)) {
      scores.none = 1;
      return scores;
    }
    const normalised = normaliseForModel(redacted, language);
    const result = await this.nlp.process(language, normalised);
    const fromNlp = emptyScores();
    let nlpTotal = 0;
    for (const c of result.classifications ?? []) {
      if (isIntent(c.intent) && Number.isFinite(c.score) && c.score > 0) {
        fromNlp[c.intent] += c.score;
        nlpTotal += c.score;
      }
    }
    // nlp.js answers `None` when no word of the message was seen in training.
    if (nlpTotal === 0) fromNlp.none = 1;
    else for (const intent of INTENTS) fromNlp[intent] /= nlpTotal;
    const fromLinear = this.linear.predict(linearFeatures(normalised, language));
    INTENTS.forEach((intent, i) => {
      scores[intent] = LINEAR_WEIGHT * (fromLinear[i] ?? 0) + (1 - LINEAR_WEIGHT) * fromNlp[intent];
    });
    return scores;
  }
}

/** `PIVOT_THRESHOLD` on 1 − P(none), then the most probable sensitive intent. */
function decide(scores: IntentScores): { intent: Intent; score: number } {
  if (1 - scores.none < PIVOT_THRESHOLD) return { intent: 'none', score: scores.none };
  let best: Intent = 'none';
  let bestScore = -1;
  for (const intent of SENSITIVE_INTENTS) {
    if (scores[intent] > bestScore) {
      best = intent;
      bestScore = scores[intent];
    }
  }
  return { intent: best, score: bestScore };
}
