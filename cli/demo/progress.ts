/**
 * What the demo shows while it works: on a terminal, a task list whose running line ticks
 * with its elapsed time and latest detail; elsewhere (CI logs, pipes), one plain line when a
 * task starts and one when it ends, so a log reads the same story without control codes.
 */

export interface TaskContext {
  /** Replaces the running task's detail (e.g. "7 of 20 cohorts settled"). */
  update(detail: string): void;
}

export interface TaskList {
  run<T>(title: string, work: (task: TaskContext) => Promise<T>, done?: (result: T) => string): Promise<T>;
  /** A line between tasks, above the running one on a terminal. */
  note(line: string): void;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function createTaskList(stream: NodeJS.WriteStream = process.stderr): TaskList {
  const live = Boolean(stream.isTTY) && !process.env.CI;
  let clearRunning: () => void = () => {};
  return {
    note(line) {
      clearRunning();
      stream.write(`${line}\n`);
    },
    async run(title, work, done) {
      const started = Date.now();
      let detail = '';
      let frame = 0;
      const draw = () => {
        const text = `${SPINNER[frame++ % SPINNER.length]} ${title}${detail ? ` — ${detail}` : ''} (${seconds(Date.now() - started)})`;
        stream.write(`\r\x1b[2K${text.slice(0, Math.max(20, (stream.columns ?? 100) - 1))}`);
      };
      let timer: NodeJS.Timeout | undefined;
      if (live) {
        draw();
        timer = setInterval(draw, 100);
        clearRunning = () => stream.write('\r\x1b[2K');
      } else {
        stream.write(`… ${title}\n`);
      }
      const finish = (mark: string, text: string) => {
        if (timer) clearInterval(timer);
        clearRunning = () => {};
        stream.write(`${live ? '\r\x1b[2K' : ''}${mark} ${title}${text ? ` — ${text}` : ''} (${seconds(Date.now() - started)})\n`);
      };
      try {
        const result = await work({
          update(next) {
            if (next === detail) return;
            detail = next;
            if (!live) stream.write(`  ${title}: ${next}\n`);
          },
        });
        finish('✔', done ? done(result) : detail);
        return result;
      } catch (error) {
        finish('✖', (error as Error).message.split('\n')[0] ?? '');
        throw error;
      }
    },
  };
}
