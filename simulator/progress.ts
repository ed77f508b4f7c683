/** A progress bar on stderr: redrawn in place on a terminal, a line every few seconds otherwise. */
export interface ProgressLine {
  fraction: number;
  text: string;
}

export function createProgress(out: NodeJS.WriteStream = process.stderr, enabled = true) {
  const tty = out.isTTY === true;
  let lastLine = 0;
  let drawn = false;
  return {
    update(p: ProgressLine, force = false): void {
      if (!enabled) return;
      const now = Date.now();
      if (!tty && !force && now - lastLine < 5000) return;
      lastLine = now;
      const width = 28;
      const filled = Math.max(0, Math.min(width, Math.round(p.fraction * width)));
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(p.fraction * 100).toFixed(0).padStart(3)}% ${p.text}`;
      if (tty) {
        out.write(`\r\x1b[2K${bar}`);
        drawn = true;
      } else {
        out.write(bar + '\n');
      }
    },
    done(): void {
      if (enabled && tty && drawn) out.write('\n');
      drawn = false;
    },
  };
}
