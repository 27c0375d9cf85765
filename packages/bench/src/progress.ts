/** Off a terminal (CI logs, pipes) a phase's line is printed again this often, not redrawn. */
const LOG_INTERVAL_MS = 10_000;

/**
 * One live progress line per scenario on stderr: redrawn in place on a terminal, and printed
 * when a phase starts and every LOG_INTERVAL_MS during it otherwise, so stdout carries only
 * the results table.
 */
export class ProgressLine {
  private readonly tty = Boolean(process.stderr.isTTY);
  private phase = '';
  private lastDraw = 0;

  constructor(private readonly label: string) {}

  /** `fraction` of the current phase done (0..1); `detail` is free text after the bar. */
  update(phase: string, fraction: number, detail: string): void {
    const now = Date.now();
    const newPhase = phase !== this.phase;
    if (!newPhase && now - this.lastDraw < (this.tty ? 100 : LOG_INTERVAL_MS)) return;
    this.lastDraw = now;
    this.phase = phase;
    const line = `${this.label} ${phase.padEnd(10)} ${bar(fraction)} ${detail}`;
    process.stderr.write(this.tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  done(summary: string): void {
    process.stderr.write(this.tty ? `\r\x1b[2K${this.label} ${summary}\n` : `${this.label} ${summary}\n`);
    this.phase = '';
  }
}

function bar(fraction: number): string {
  const width = 24;
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%`;
}
