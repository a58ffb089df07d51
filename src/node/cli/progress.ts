/**
 * Progress on stderr: on a TTY one bar redrawn in place, otherwise plain lines
 * ("progress 3/20 Analysing…") that logs and tests can read.
 */
import type { Progress } from '../../core/ipc-manager.js';

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const REDRAW_MS = 50;

export class ProgressReporter {
  private drawn = false;
  private lastDraw = 0;
  private pending: Progress | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly out: ProgressOutput) {}

  update(progress: Progress): void {
    if (!this.out.isTTY) {
      this.out.write(`${plainLine(progress)}\n`);
      return;
    }
    this.pending = progress;
    const wait = this.lastDraw + REDRAW_MS - Date.now();
    if (wait <= 0) this.draw();
    else this.timer ??= setTimeout(() => this.draw(), wait);
  }

  /** A status line (e.g. a task's "task working: Gathering sources…"), between progress updates. */
  status(text: string): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
    this.out.write(`${oneLine(text)}\n`);
  }

  /** Draws the last state and ends the bar's line (TTY); call once the call settles. */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending) this.draw();
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private draw(): void {
    this.timer = undefined;
    const progress = this.pending;
    if (!progress) return;
    this.pending = undefined;
    this.lastDraw = Date.now();
    this.out.write(`\r\x1b[2K${barLine(progress, this.out.columns ?? 80)}`);
    this.drawn = true;
  }
}

const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

export function plainLine(p: Progress): string {
  const count = p.total !== undefined ? `${num(p.progress)}/${num(p.total)}` : num(p.progress);
  return `progress ${count}${p.message ? ` ${oneLine(p.message)}` : ''}`;
}

export function barLine(p: Progress, columns: number): string {
  const known = p.total !== undefined && p.total > 0;
  const fraction = known ? Math.min(1, Math.max(0, p.progress / (p.total as number))) : 0;
  const count = known ? `${num(p.progress)}/${num(p.total as number)} ${Math.floor(fraction * 100)}%` : num(p.progress);
  const width = Math.max(10, Math.min(30, columns - count.length - 20));
  const filled = Math.round(fraction * width);
  const bar = known ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]` : '[…]';
  const line = `${bar} ${count}${p.message ? ` ${oneLine(p.message)}` : ''}`;
  return line.length >= columns ? `${line.slice(0, Math.max(0, columns - 2))}…` : line;
}

export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
