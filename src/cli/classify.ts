/**
 * `pivot-gateway classify`: one message per line on stdin, one JSON object
 * per line on stdout (`{text, intent, tier, score}`), for teams tuning their
 * intents. The text printed is the redacted text: a card number or a PIN
 * typed into a sample file is not echoed back.
 */
import { createInterface } from 'node:readline';
import { IntentClassifier } from '../bot/intents';
import { redact } from '../bot/redact';
import type { CliIo } from './main';

const HELP = `Usage: pivot-gateway classify [--help]

Reads customer messages from stdin, one per line, and writes one JSON object per
line: {"text": <redacted text>, "intent": <canonical intent or "none">, "tier": 0-4, "score": 0-1}.
Empty lines are skipped.

Example:
  printf 'I want to send 200 to my sister\\nwhat are your opening hours\\n' | npx pivot-gateway classify
`;

export async function classifyCommand(args: string[], io: Pick<CliIo, 'stdin' | 'stdout' | 'stderr'>): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(HELP);
    return 0;
  }
  if (args.length > 0) {
    io.stderr.write(`pivot-gateway classify: unexpected argument ${JSON.stringify(args[0])} (it reads stdin; try --help)\n`);
    return 2;
  }
  const classifier = await IntentClassifier.train();
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      if (line.includes('\u0000')) {
        io.stderr.write('pivot-gateway classify: input is not text (NUL byte found)\n');
        return 2;
      }
      const result = await classifier.classify(line);
      io.stdout.write(`${JSON.stringify({ text: redact(line).text, intent: result.intent, tier: result.tier, score: Number(result.score.toFixed(3)) })}\n`);
    }
  } catch (err) {
    io.stderr.write(`pivot-gateway classify: cannot read stdin: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
