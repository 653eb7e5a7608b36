// Progress on stderr: redrawn in place (`\r`) on a terminal; into a pipe or a log file, where `\r`
// piles up as one endless line, a whole line at each quarter of the work instead.

export interface Progress {
  /** `fraction` of the work done (0..1), described by `text`. */
  update(text: string, fraction: number): void;
}

export function progress(err: (s: string) => void, tty: boolean = process.stderr.isTTY === true): Progress {
  let logged = -1;
  let finished = false;
  return {
    update(text, fraction) {
      if (finished) return;
      const done = fraction >= 1;
      if (tty) err(`\r${text}${done ? '\n' : ''}`);
      else {
        const quarter = Math.floor(Math.min(1, fraction) * 4);
        if (quarter > logged) {
          logged = quarter;
          err(`${text.trimEnd()}\n`);
        }
      }
      finished = done;
    },
  };
}
