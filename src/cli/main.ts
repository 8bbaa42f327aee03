/**
 * `pivot-gateway <command>`: start | classify | keys generate | simulate.
 * Every command has `--help`; bad input exits non-zero with a one-line reason.
 */
import { readEnvironment } from '../config';
import { runServer } from '../main';
import { classifyCommand } from './classify';
import { keysCommand } from './keys';
import { simulateCommand } from './simulate';

export const USAGE = `Usage: pivot-gateway <command> [options]

Commands:
  start                      run the gateway (the same as npm start)
  classify                   read messages from stdin, one per line; write JSON lines {text, intent, tier, score}
  keys generate [--alg A]    print a new private JWK Set for PIVOT_SIGNING_KEYS (A: EdDSA or ES256)
  simulate <channel> <text>  send a correctly signed webhook to a running gateway (channel: messenger, whatsapp, sms)

Run "pivot-gateway <command> --help" for a command's options.
`;

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const defaultIo: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      (command === undefined ? io.stderr : io.stdout).write(USAGE);
      return command === undefined ? 2 : 0;
    case 'start': {
      if (rest.includes('--help') || rest.includes('-h')) {
        io.stdout.write('Usage: pivot-gateway start\n\nRuns the gateway with the configuration from the environment (and .env). See README.md for the variables.\n');
        return 0;
      }
      if (rest.length > 0) {
        io.stderr.write(`pivot-gateway start: unexpected argument ${JSON.stringify(rest[0])}\n`);
        return 2;
      }
      return runServer();
    }
    case 'classify':
      return classifyCommand(rest, io);
    case 'keys':
      return keysCommand(rest, io);
    case 'simulate':
      return simulateCommand(rest, io, readEnvironment());
    default:
      io.stderr.write(`pivot-gateway: unknown command ${JSON.stringify(command)} (try --help)\n`);
      return 2;
  }
}
