/**
 * One live progress line per scenario on stderr: redrawn in place on a terminal, and printed
 * once per phase otherwise (CI logs, pipes), so stdout carries only the results table.
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
    if (!newPhase && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    if (!this.tty && !newPhase) return;
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
