/**
 * The bench's plan and progress: every phase is known before the first runs, with an estimate
 * of its seconds, so the bench can say up front how long it will take and, as it goes, which
 * phase is running, how long it has run, and about how long is left. Estimates come from the
 * plans' own budgets and caps (a measurement cannot run past its budget) and, where the cost
 * depends on this machine's speed, from figures measured earlier in the same run (see
 * `refine`).
 */

/** Writes a progress line to stderr (stdout holds the tables, or the JSON alone). */
export const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

/** One step of the plan: what it is, its estimated seconds, and what it runs. */
export interface Phase {
  label: string;
  /** Estimated seconds (refined when earlier phases have measured what it depends on). */
  estimate: number;
  run: () => Promise<void>;
  /** Called before the phase starts: a better estimate from what the run measured so far. */
  refine?: () => number | undefined;
}

/** "1:05", "12:30", "1:02:03" */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** Runs the phases in order, printing progress lines through `log`; returns each phase's seconds. */
export async function runPhases(phases: readonly Phase[], log: (line: string) => void): Promise<{ label: string; seconds: number; estimate: number }[]> {
  const total = phases.reduce((s, p) => s + p.estimate, 0);
  log(`${phases.length} phases, about ${clock(total)} (min:s) on this machine's estimates`);
  const t0 = performance.now();
  const done: { label: string; seconds: number; estimate: number }[] = [];
  for (let i = 0; i < phases.length; i++) {
    const p = phases[i];
    const refined = p.refine?.();
    if (refined !== undefined && Number.isFinite(refined)) p.estimate = refined;
    const left = phases.slice(i).reduce((s, q) => s + q.estimate, 0);
    const elapsed = (performance.now() - t0) / 1000;
    log(`[${String(i + 1).padStart(String(phases.length).length)}/${phases.length}] ${p.label}  (${clock(elapsed)} elapsed, about ${clock(left)} left)`);
    const s0 = performance.now();
    await p.run();
    done.push({ label: p.label, seconds: (performance.now() - s0) / 1000, estimate: p.estimate });
  }
  return done;
}
