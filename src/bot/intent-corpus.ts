/**
 * The labelled messages the intent classifier learns from and is measured on:
 * `data/intents/<language>.json`, one file per language, each with a `train`
 * split (what the classifier is trained on) and a `heldout` split (written
 * separately, in other words, never trained on; only `eval-intents` reads it).
 *
 * The files are found by walking up from this module's folder to the first
 * folder holding a `package.json`, so the same code works from `src/bot/*.ts`
 * (Jest) and from `dist/src/bot/*.js` (the compiled gateway).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const LANGUAGES = ['en', 'es', 'fr', 'de'] as const;
export type Language = (typeof LANGUAGES)[number];

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

export type CorpusSplit = 'train' | 'heldout';

/** One labelled message as written in the corpus files (the label is checked by the caller). */
export interface LabelledText {
  text: string;
  intent: string;
}

export interface CorpusFile {
  language: Language;
  train: LabelledText[];
  heldout: LabelledText[];
}

/** The nearest folder at or above `start` that holds a `package.json`. */
export function findPackageRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
}

/** `data/intents` of the package this module belongs to. */
export function intentDataDir(): string {
  return join(findPackageRoot(), 'data', 'intents');
}

function labelledTexts(value: unknown, where: string): LabelledText[] {
  if (!Array.isArray(value)) throw new Error(`${where}: expected an array`);
  return value.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null) throw new Error(`${where}[${i}]: expected an object`);
    const text: unknown = Reflect.get(item, 'text');
    const intent: unknown = Reflect.get(item, 'intent');
    if (typeof text !== 'string' || text.trim() === '' || typeof intent !== 'string') {
      throw new Error(`${where}[${i}]: expected { text, intent } strings`);
    }
    return { text, intent };
  });
}

/** Reads and shape-checks one language's corpus file. */
export function loadCorpusFile(language: Language, dir: string = intentDataDir()): CorpusFile {
  const path = join(dir, `${language}.json`);
  const json: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (typeof json !== 'object' || json === null) throw new Error(`${path}: expected an object`);
  const declared: unknown = Reflect.get(json, 'language');
  if (declared !== language) throw new Error(`${path}: "language" must be "${language}"`);
  return {
    language,
    train: labelledTexts(Reflect.get(json, 'train'), `${path} train`),
    heldout: labelledTexts(Reflect.get(json, 'heldout'), `${path} heldout`),
  };
}
