/**
 * `pivot-gateway keys generate [--alg EdDSA|ES256]`: prints a new private JWK
 * Set for PIVOT_SIGNING_KEYS on stdout (and nothing else there, so it can be
 * piped into a secret store). To rotate, merge its key into the existing set
 * as described in src/pivot/keys.ts.
 */
import { generateJwkSet, SIGNING_ALGORITHMS, type SigningAlg } from '../pivot/keys';

export const KEYS_USAGE = `Usage: pivot-gateway keys generate [--alg EdDSA|ES256]

Prints a new private JWK Set (one key, with kid, alg and use "sig") for
PIVOT_SIGNING_KEYS. Default algorithm: EdDSA (Ed25519).

To rotate keys without breaking links in flight:
  1. add the new key SECOND in PIVOT_SIGNING_KEYS and deploy (it is published, not yet signing);
  2. after the JWKS cache (5 min), move it FIRST and deploy (it signs now);
  3. after PIVOT_TTL_SECONDS, remove the old key.
`;

export interface KeysCommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

function isSigningAlg(value: string): value is SigningAlg {
  return (SIGNING_ALGORITHMS as readonly string[]).includes(value);
}

function fail(io: KeysCommandIo, reason: string): number {
  io.stderr.write(`pivot-gateway keys: ${reason}\n`);
  return 2;
}

export async function keysCommand(args: string[], io: KeysCommandIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(KEYS_USAGE);
    return 0;
  }
  const [sub, ...options] = args;
  if (sub === undefined) return fail(io, 'missing subcommand: expected "generate" (try --help)');
  if (sub !== 'generate') return fail(io, `unknown subcommand ${JSON.stringify(sub)}: expected "generate"`);

  let alg: SigningAlg = 'EdDSA';
  for (let i = 0; i < options.length; i++) {
    const option = options[i]!;
    let value: string | undefined;
    if (option === '--alg') value = options[++i];
    else if (option.startsWith('--alg=')) value = option.slice('--alg='.length);
    else return fail(io, `unexpected argument ${JSON.stringify(option)} (try --help)`);
    if (value === undefined || value === '') return fail(io, '--alg needs a value: EdDSA or ES256');
    if (!isSigningAlg(value)) return fail(io, `unsupported --alg ${JSON.stringify(value)}: expected EdDSA or ES256`);
    alg = value;
  }
  io.stdout.write(`${JSON.stringify(await generateJwkSet(alg))}\n`);
  return 0;
}
