// Runs a TypeScript program in a child node process, so that a crash, abort or hang in native
// code shows as a failed test (exit status, signal) instead of taking the test runner down.
import { spawn } from 'node:child_process';

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runTs(script: string, args: string[] = [], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; argv0?: string[] } = {}): Promise<ChildResult> {
  // Under `node --test` a child would think it is a test file of the runner.
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  delete env.NODE_TEST_CONTEXT;
  const cmd = [...(opts.argv0 ?? []), process.execPath, '--import', 'tsx', script, ...args];
  const p = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => { stdout += d; });
  p.stderr.on('data', (d: Buffer) => { stderr += d; });
  const timer = opts.timeoutMs ? setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs) : undefined;
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** The last line of a child's stdout that is JSON: the figures it reports. */
export function lastJson<T = Record<string, unknown>>(stdout: string): T | undefined {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as T) : undefined;
}
