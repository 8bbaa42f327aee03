/**
 * `npm run eval:intents`: trains the intent classifier on the `train` split of
 * `data/intents/*.json` only, classifies the `heldout` split, and reports per
 * language and overall: accuracy, per-intent precision/recall, sensitive
 * recall (a sensitive message detected as any sensitive intent) and the
 * false-pivot rate (a `none` message detected as sensitive). Exits 1 when a
 * target in `TARGETS` is missed, per language or overall.
 *
 * `--verbose` also lists the held-out messages that were misclassified.
 *
 * The metric code is pure (`computeMetrics`, `evaluatePredictions`,
 * `missedTargets`, `formatReport`) so tests run it on the same split.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { INTENTS, IntentClassifier, isIntent, isSensitive, loadIntentCorpus, type Intent } from './intents';
import { LANGUAGES, findPackageRoot, type Language } from './intent-corpus';

export interface Prediction {
  language: Language;
  text: string;
  expected: Intent;
  predicted: Intent;
}

export interface IntentStats {
  intent: Intent;
  /** Messages labelled with this intent. */
  support: number;
  /** Messages predicted as this intent. */
  predicted: number;
  truePositives: number;
  /** `null` when nothing was predicted as this intent. */
  precision: number | null;
  /** `null` when no message carries this label. */
  recall: number | null;
}

export interface Metrics {
  total: number;
  accuracy: number | null;
  /** Of the sensitive messages, the share detected as any sensitive intent. */
  sensitiveRecall: number | null;
  /** Of the `none` messages, the share detected as sensitive. */
  falsePivotRate: number | null;
  perIntent: IntentStats[];
}

export interface EvalReport {
  languages: Record<Language, Metrics>;
  overall: Metrics;
}

export const TARGETS = Object.freeze({ sensitiveRecall: 0.97, falsePivotRate: 0.05, accuracy: 0.9 });
export type Targets = typeof TARGETS;

function ratio(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : numerator / denominator;
}

export function computeMetrics(predictions: readonly Prediction[]): Metrics {
  let correct = 0;
  let sensitive = 0;
  let sensitiveCaught = 0;
  let none = 0;
  let falsePivots = 0;
  for (const p of predictions) {
    if (p.expected === p.predicted) correct += 1;
    if (isSensitive(p.expected)) {
      sensitive += 1;
      if (isSensitive(p.predicted)) sensitiveCaught += 1;
    } else {
      none += 1;
      if (isSensitive(p.predicted)) falsePivots += 1;
    }
  }
  const perIntent = INTENTS.map((intent): IntentStats => {
    const support = predictions.filter((p) => p.expected === intent).length;
    const predicted = predictions.filter((p) => p.predicted === intent).length;
    const truePositives = predictions.filter((p) => p.expected === intent && p.predicted === intent).length;
    return { intent, support, predicted, truePositives, precision: ratio(truePositives, predicted), recall: ratio(truePositives, support) };
  });
  return {
    total: predictions.length,
    accuracy: ratio(correct, predictions.length),
    sensitiveRecall: ratio(sensitiveCaught, sensitive),
    falsePivotRate: ratio(falsePivots, none),
    perIntent,
  };
}

export function evaluatePredictions(predictions: readonly Prediction[]): EvalReport {
  const of = (language: Language): Metrics => computeMetrics(predictions.filter((p) => p.language === language));
  return { languages: { en: of('en'), es: of('es'), fr: of('fr'), de: of('de') }, overall: computeMetrics(predictions) };
}

/** One line per missed target, e.g. `es: sensitive recall 0.950 < 0.97`; empty when all are met. */
export function missedTargets(report: EvalReport, targets: Targets = TARGETS): string[] {
  const missed: string[] = [];
  const scopes: Array<[string, Metrics]> = [...LANGUAGES.map((l): [string, Metrics] => [l, report.languages[l]]), ['overall', report.overall]];
  for (const [scope, m] of scopes) {
    if (m.total === 0) {
      missed.push(`${scope}: no held-out messages`);
      continue;
    }
    if (m.sensitiveRecall !== null && m.sensitiveRecall < targets.sensitiveRecall) {
      missed.push(`${scope}: sensitive recall ${fmt(m.sensitiveRecall)} < ${targets.sensitiveRecall}`);
    }
    if (m.falsePivotRate !== null && m.falsePivotRate > targets.falsePivotRate) {
      missed.push(`${scope}: false-pivot rate ${fmt(m.falsePivotRate)} > ${targets.falsePivotRate}`);
    }
    if (m.accuracy !== null && m.accuracy < targets.accuracy) {
      missed.push(`${scope}: accuracy ${fmt(m.accuracy)} < ${targets.accuracy}`);
    }
  }
  return missed;
}

function fmt(value: number | null): string {
  return value === null ? '  -  ' : value.toFixed(3);
}

/** A plain-text table: a summary row per language and overall, then per-intent precision/recall. */
export function formatReport(report: EvalReport): string {
  const scopes: Array<[string, Metrics]> = [...LANGUAGES.map((l): [string, Metrics] => [l, report.languages[l]]), ['overall', report.overall]];
  const lines: string[] = [];
  lines.push('held-out split, classifier trained on the train split only');
  lines.push(`targets: sensitive recall >= ${TARGETS.sensitiveRecall}, false-pivot rate <= ${TARGETS.falsePivotRate}, accuracy >= ${TARGETS.accuracy}`);
  lines.push('');
  lines.push(`${'scope'.padEnd(8)} ${'n'.padStart(5)}  ${'accuracy'.padStart(8)}  ${'sens.recall'.padStart(11)}  ${'false-pivot'.padStart(11)}`);
  for (const [scope, m] of scopes) {
    lines.push(`${scope.padEnd(8)} ${String(m.total).padStart(5)}  ${fmt(m.accuracy).padStart(8)}  ${fmt(m.sensitiveRecall).padStart(11)}  ${fmt(m.falsePivotRate).padStart(11)}`);
  }
  lines.push('');
  lines.push('per-intent precision / recall');
  lines.push(`${'intent'.padEnd(22)} ${scopes.map(([s]) => s.padStart(13)).join(' ')}`);
  for (const intent of INTENTS) {
    const cells = scopes.map(([, m]) => {
      const s = m.perIntent.find((x) => x.intent === intent);
      return `${fmt(s?.precision ?? null)}/${fmt(s?.recall ?? null)}`.padStart(13);
    });
    lines.push(`${intent.padEnd(22)} ${cells.join(' ')}`);
  }
  return lines.join('\n');
}

/**
 * Scores `classifier` (default: one freshly trained on the train split) on
 * the held-out split, or on `messages` when given (e.g. the independent set
 * in data/intents-independent/, written without seeing the training data).
 */
export async function evaluateHeldout(given?: IntentClassifier, messages?: Readonly<Record<Language, ReadonlyArray<{ text: string; intent: Intent }>>>): Promise<{ report: EvalReport; predictions: Prediction[] }> {
  const classifier = given ?? (await IntentClassifier.train(loadIntentCorpus('train')));
  const heldout = messages ?? loadIntentCorpus('heldout');
  const predictions: Prediction[] = [];
  for (const language of LANGUAGES) {
    for (const { text, intent } of heldout[language]) {
      const result = await classifier.classify(text);
      predictions.push({ language, text, expected: intent, predicted: result.intent });
    }
  }
  return { report: evaluatePredictions(predictions), predictions };
}

/** data/intents-independent/<lang>.json: `{messages: [{text, intent}]}`, written by someone who never saw the training data. */
export function loadIndependentSet(): Record<Language, Array<{ text: string; intent: Intent }>> {
  const dir = join(findPackageRoot(), 'data', 'intents-independent');
  const read = (language: Language) => {
    const file = JSON.parse(readFileSync(join(dir, `${language}.json`), 'utf8')) as { messages?: Array<{ text?: unknown; intent?: unknown }> };
    return (file.messages ?? []).map((m, i) => {
      if (typeof m.text !== 'string' || !isIntent(m.intent)) throw new Error(`${language}.json message ${i + 1}: needs text and a canonical intent`);
      return { text: m.text, intent: m.intent };
    });
  };
  return { en: read('en'), es: read('es'), fr: read('fr'), de: read('de') };
}

async function main(argv: readonly string[]): Promise<number> {
  const independent = argv.includes('--independent');
  const { report, predictions } = await evaluateHeldout(undefined, independent ? loadIndependentSet() : undefined);
  const out: string[] = [...(independent ? ['independent set: data/intents-independent/, written by someone who never saw the training data'] : []), formatReport(report), ''];
  if (argv.includes('--verbose')) {
    out.push('misclassified:');
    for (const p of predictions) {
      if (p.expected !== p.predicted) out.push(`  [${p.language}] ${p.expected} -> ${p.predicted}: ${p.text}`);
    }
    out.push('');
  }
  const missed = missedTargets(report);
  out.push(missed.length === 0 ? 'all targets met' : `targets missed:\n${missed.map((m) => `  ${m}`).join('\n')}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return missed.length === 0 ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`eval-intents failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
