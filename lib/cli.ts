#!/usr/bin/env node
// The `nlkit` command: `npx nlkit doctor [--netns NAME] [--json]`.
import { diagnose, type Finding } from './doctor/index.js';

const USAGE = 'usage: nlkit doctor [--netns NAME|PATH] [--json]';

function format(f: Finding): string {
  const mark = f.status === 'ok' ? 'ok  ' : f.status === 'missing' ? 'MISS' : 'info';
  return `${mark} ${f.area.padEnd(15)} ${f.name.padEnd(22)} ${f.detail}${f.fix ? `\n${' '.repeat(43)}fix: ${f.fix}` : ''}`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== 'doctor') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let netns: string | undefined;
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--json') json = true;
    else if (rest[i] === '--netns' && rest[i + 1]) netns = rest[++i];
    else {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
  }
  const findings = await diagnose({ netns });
  process.stdout.write(json ? `${JSON.stringify(findings, null, 2)}\n` : `${findings.map(format).join('\n')}\n`);
  return findings.some((f) => f.status === 'missing') ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`nlkit: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
});
