// What `hosttune report` shows while it works. Each event is a line; on a terminal a status line
// stays under them (hosts done of all, those being read or measured, elapsed time), redrawn in
// place; in a log (not a terminal) each finished host's line carries the count instead.

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private readonly started: number;
  private readonly busy = new Map<string, string>();
  private done = 0;
  private failed = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly total: number,
    private readonly out: ProgressStream,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
    if (out.isTTY) this.timer = setInterval(() => this.draw(), 1000).unref();
  }

  /** A line that stays (a host's problem, a step of the report). */
  line(text: string): void {
    this.clear();
    this.out.write(`hosttune report: ${text}\n`);
    this.draw();
  }

  /** A host is being read or measured (`what`: what it waits on now). */
  working(host: string, what: string): void {
    this.busy.set(host, what);
    if (this.out.isTTY) this.draw();
    else this.out.write(`hosttune report: ${host}: ${what}\n`);
  }

  /** A host is finished: read (ok) or not. */
  finished(host: string, ok: boolean, note?: string): void {
    this.busy.delete(host);
    this.done++;
    if (!ok) this.failed++;
    const text = `${host}: ${ok ? "done" : `cannot be read: ${note}`}`;
    if (this.out.isTTY && ok) this.draw();
    else this.line(this.out.isTTY ? text : `${text} (${this.count()})`);
  }

  stop(): void {
    clearInterval(this.timer);
    this.clear();
  }

  private count(): string {
    return `${this.done}/${this.total} hosts${this.failed ? `, ${this.failed} unreachable` : ""}`;
  }

  /** The status line: a bar, the count, what the first hosts in progress wait on, the time. */
  status(): string {
    const width = 20;
    const filled = this.total ? Math.floor((width * this.done) / this.total) : width;
    const seconds = Math.floor((this.now() - this.started) / 1000);
    const doing = [...this.busy].map(([h, w]) => `${h} ${w}`);
    const shown = doing.slice(0, 2).join(", ") + (doing.length > 2 ? ` (+${doing.length - 2})` : "");
    const text = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${this.count()} ${seconds}s${shown ? ` · ${shown}` : ""}`;
    const columns = this.out.columns || 80;
    return text.length < columns ? text : `${text.slice(0, columns - 2)}…`;
  }

  private draw(): void {
    if (this.out.isTTY) this.out.write(`\r\x1b[K${this.status()}`);
  }

  private clear(): void {
    if (this.out.isTTY) this.out.write("\r\x1b[K");
  }
}
