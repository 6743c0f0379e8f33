/**
 * Runs a compiled test script (a sibling .js of the spec that calls it) in a fresh Node
 * process, so a crash (a signal from native code) fails one test instead of the whole suite.
 * The script prints one JSON value on stdout; before each risky step it writes a line to
 * stderr, so the step a crash interrupted can be named.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ChildResult<T> {
  /** The parsed stdout, when the child exited 0. */
  value: T | null;
  /** How the child ended: 'exit 0', 'exit 1', 'signal SIGSEGV', 'timeout'. */
  ended: string;
  /** The last line the child wrote to stderr (the step it was in), '' if none. */
  lastStep: string;
  stderr: string;
}

/** Runs `script` (a file name beside `fromModule`, e.g. 'native-safety-child.js') with `args` and extra `env`. */
export function runChild<T>(fromModule: string, script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): ChildResult<T> {
  const file = path.join(path.dirname(fileURLToPath(fromModule)), script);
  const r = spawnSync(process.execPath, [file, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    timeout: 60_000,
  });
  const ended = r.error ? 'timeout' : r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
  const lines = r.stderr.trim().split('\n');
  return {
    value: ended === 'exit 0' ? (JSON.parse(r.stdout) as T) : null,
    ended,
    lastStep: lines[lines.length - 1] ?? '',
    stderr: r.stderr,
  };
}
