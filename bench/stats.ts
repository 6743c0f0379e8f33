/**
 * Timing windows and their summary. A measurement is: a warm-up (excluded), then `windows`
 * windows, each running the operation until at least `minSeconds` have passed (and at least
 * one iteration), synchronising the backend before the clock is read. Each window yields a
 * rate (iterations per second); the summary is the median, min and max of those rates.
 */

export interface WindowPlan {
  /** Number of timed windows. */
  windows: number;
  /** Each window runs until at least this long (and at least one iteration). */
  minSeconds: number;
  /** Warm-up time before the first window (at least `warmupIters` iterations). */
  warmupSeconds: number;
  /** Iterations of warm-up however long they take (0: none). Default 1. */
  warmupIters?: number;
  /**
   * Total seconds the measurement should take. When the first warm-up iteration shows that
   * the plan would overrun it (a very slow backend), the warm-up stops there and fewer
   * windows are run (at least one); the summary says so (`reduced`).
   */
  budgetSeconds?: number;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** The per-window rates, in window order. */
  samples: number[];
  /** Iterations timed across all windows. */
  iterations: number;
  /** Seconds spent in timed windows. */
  seconds: number;
  /** Set when the budget cut the warm-up or the windows short. */
  reduced?: string;
}

/** Median (mean of the two middle values for an even count), min and max. */
export function summarize(samples: readonly number[], iterations = 0, seconds = 0): Summary {
  if (samples.length === 0) throw new RangeError('summarize needs at least one sample');
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], samples: [...samples], iterations, seconds };
}

const now = (): number => performance.now() / 1000;

/**
 * Measures `run(k)` (k iterations back to back, no readbacks) followed by `sync()` in timed
 * windows. Between clock reads the work is queued in chunks sized from the warm-up so that a
 * chunk takes about 1/10 of a window: the timer overhead stays negligible for microsecond
 * kernels, and a slow iteration is never repeated needlessly.
 */
export async function measure(
  run: (iterations: number) => void,
  sync: () => Promise<void>,
  plan: WindowPlan,
): Promise<Summary> {
  // Warm-up: at least warmupIters iterations and warmupSeconds seconds, one at a time.
  let perIter = 0;
  let windows = plan.windows;
  let reduced: string | undefined;
  const warmIters = plan.warmupIters ?? 1;
  if (warmIters > 0 || plan.warmupSeconds > 0) {
    const t0 = now();
    let done = 0;
    let last = t0;
    while (done < Math.max(1, warmIters) || now() - t0 < plan.warmupSeconds) {
      const chunk = perIter > 0 ? Math.max(1, Math.floor((plan.warmupSeconds * 0.1) / perIter)) : 1;
      run(chunk);
      await sync();
      const t = now();
      perIter = (t - last) / chunk; // the latest estimate: later iterations are the warmer ones
      last = t;
      done += chunk;
      const budget = plan.budgetSeconds;
      if (done === 1 && budget !== undefined) {
        const planned = Math.max(warmIters, plan.warmupSeconds / perIter) * perIter + plan.windows * Math.max(perIter, plan.minSeconds);
        if (planned > budget) {
          windows = Math.max(1, Math.min(plan.windows, Math.floor((budget - perIter) / perIter)));
          reduced = `slow, ${perIter.toFixed(2)} s/iteration: 1 warm-up iteration, ${windows} window${windows > 1 ? 's' : ''} (budget ${budget} s)`;
          break;
        }
      }
    }
  }
  const chunk = perIter > 0 ? Math.max(1, Math.floor((plan.minSeconds * 0.1) / perIter)) : 1;
  const rates: number[] = [];
  let iterations = 0;
  let seconds = 0;
  for (let w = 0; w < windows; w++) {
    let n = 0;
    const t0 = now();
    let elapsed = 0;
    do {
      run(chunk);
      n += chunk;
      await sync();
      elapsed = now() - t0;
    } while (elapsed < plan.minSeconds);
    rates.push(n / elapsed);
    iterations += n;
    seconds += elapsed;
  }
  const summary = summarize(rates, iterations, seconds);
  if (reduced) summary.reduced = reduced;
  return summary;
}
