// A node:test reporter for scripts/test-page.sh's summary: one line per top-level test,
// "suite<TAB>pass|fail|skip<TAB>milliseconds<TAB>name" (skip: left out by --test-name-pattern, say), the suite being the test file's name without
// ".test.mjs". A file that fails before its tests run shows up as one failed test named after it.
import path from 'node:path';

export default async function* summary(source) {
  for await (const event of source) {
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0) continue;
    const suite = path.basename(event.data.file || 'unknown').replace(/\.test\.mjs$/, '');
    const status = event.type === 'test:fail' ? 'fail' : event.data.skip || event.data.todo ? 'skip' : 'pass';
    const ms = Math.round(event.data.details?.duration_ms ?? 0);
    yield `${suite}\t${status}\t${ms}\t${event.data.name.replace(/\s+/g, ' ')}\n`;
  }
}
