// A vitest reporter that ends every run with what was skipped and why, so that a suite that passed
// only because the GPU or browser half did not run says so (vitest.config.ts adds it after 'default').
// Reasons come from ctx.skip(note) or from a suite named `… [skipped: reason]` (describeGpu,
// describeBrowser); anything else says it has no reason (give one: ctx.skip(note) or a
// `[skipped: …]` name).
import type { Reporter, TestModule } from 'vitest/node';

export default class SkipSummary implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const reasons = new Map<string, { count: number; files: Set<string> }>();
    let skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const r = t.result();
        if (r.state !== 'skipped') continue;
        skipped++;
        const why = r.note ?? /\[skipped: (.+?)\]/.exec(t.fullName)?.[1] ??
          (t.options.mode === 'todo' ? 'todo' : 'no reason given (.skip or .skipIf in the file, or a -t filter / .only)');
        const entry = reasons.get(why) ?? { count: 0, files: new Set<string>() };
        entry.count++;
        entry.files.add(m.relativeModuleId);
        reasons.set(why, entry);
      }
    }
    if (skipped === 0) {
      process.stdout.write('\nskips: none\n');
      return;
    }
    const lines = [...reasons].sort((a, b) => b[1].count - a[1].count).map(([why, { count, files }]) =>
      `  ${count} × ${why}  (${[...files].slice(0, 3).join(', ')}${files.size > 3 ? `, +${files.size - 3} files` : ''})`);
    process.stdout.write(`\nskips: ${skipped} test${skipped === 1 ? '' : 's'} did not run\n${lines.join('\n')}\n`);
  }
}
