/**
 * The one protocol between the bench and the processes it starts for its Node runners (the
 * tfjs peers, hydranet's MultiMNIST runner): the child prints ONE JSON line on stdout (its
 * result, or {error}); everything else it says goes to stderr. Each measured run is its own
 * process so that its memory, devices and thread pools are its own.
 */
import { spawnSync } from 'node:child_process';

export type ChildResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Runs `node script args…` and parses the JSON line it prints; a reason when there is none or it
 * holds {error}. With `inheritStderr` the child's stderr (its progress) goes straight to ours.
 */
export function runJsonChild<T>(script: string, args: readonly string[], timeoutS: number, env: NodeJS.ProcessEnv = process.env, inheritStderr = false): ChildResult<T> {
  const r = spawnSync(process.execPath, [script, ...args], {
    env,
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    maxBuffer: 1 << 24,
    stdio: ['ignore', 'pipe', inheritStderr ? 'inherit' : 'pipe'],
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('{'));
  if (!line) {
    const why = r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`);
    const said = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    return { ok: false, reason: `${script.split('/').pop()} printed no result (${why}): ${said || 'no output'}` };
  }
  try {
    const v = JSON.parse(line) as T & { error?: string };
    return v.error ? { ok: false, reason: v.error } : { ok: true, value: v };
  } catch (e) {
    return { ok: false, reason: `${script.split('/').pop()} printed invalid JSON (${(e as Error).message})` };
  }
}

/**
 * The child's side: runs `main` and prints its result as the JSON line ({...context, error} on
 * failure), then exits. Libraries' chatter through console.log/warn (tfjs banners) goes to stderr.
 */
export function childMain<T extends object>(main: () => Promise<T>, context: Record<string, unknown>): void {
  const print = console.log.bind(console);
  console.log = (...a: unknown[]) => console.error(...a);
  console.warn = (...a: unknown[]) => console.error(...a);
  main()
    .then((r) => print(JSON.stringify(r)))
    .catch((e: Error) => print(JSON.stringify({ ...context, error: `${e?.name ?? 'Error'}: ${(e?.message ?? String(e)).split('\n')[0]}` })))
    .finally(() => process.exit(0));
}

/** Peak resident set of this process so far, bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}
