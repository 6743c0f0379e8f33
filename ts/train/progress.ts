/**
 * A one-line progress bar on a terminal: epoch, steps, per-task losses, throughput. Quiet when
 * the stream is not a TTY (CI logs, pipes), where the trainer prints one line per epoch instead.
 */
export class ProgressBar {
  private lastDraw = 0;
  private started = 0;
  readonly enabled: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    enabled?: boolean,
  ) {
    this.enabled = enabled ?? !!stream.isTTY;
  }

  start(): void {
    this.started = performance.now();
    this.lastDraw = 0;
  }

  /** Redraws at most ~10 times a second. */
  update(label: string, done: number, total: number, losses: Record<string, number>): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (done < total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round((width * done) / total);
    const rate = done / Math.max(1e-9, (now - this.started) / 1000);
    const parts = Object.entries(losses).map(([k, v]) => `${k} ${v.toFixed(4)}`);
    const line = `${label} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${parts.join(' ')} ${rate.toFixed(0)} steps/s`;
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
  }

  /** Clears the line. */
  end(): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
  }
}
