// A node:test reporter for the VM tier: counts passed, failed and skipped tests per test file
// and writes them as one line, `nlkit-tally {json}`, when the run ends. Node's own summary has
// no per-file counts, and does not count a skipped describe() at all, so a file whose every test
// skipped (the guest did not load ip_vs) would pass unseen. Read back with parseTally().
export default async function* fileTally(source) {
  const files = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { file = '?', skip, todo, details } = event.data;
    const t = (files[file] ??= { pass: 0, fail: 0, skip: 0 });
    if (skip !== undefined && skip !== false) t.skip++;
    else if (todo !== undefined && todo !== false) continue;
    else if (event.type === 'test:fail') t.fail++;
    else if (details?.type !== 'suite') t.pass++;
  }
  yield `nlkit-tally ${JSON.stringify(files)}\n`;
}
