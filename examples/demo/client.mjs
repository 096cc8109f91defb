// The demo's client: for each line "COUNT ADDRESS PORT" on stdin, opens COUNT new TCP
// connections (no keep-alive) to ADDRESS:PORT, CONCURRENCY at a time, and prints one JSON line:
// {"answers":{"backend-1":n,...},"sources":{"10.244.1.1":n,...},"errors":{"ECONNREFUSED":n,...}}
// (sources: where the backends saw the connections come from). Plain JavaScript so it
// starts fast inside `ip netns exec`. Usage: node client.mjs [CONCURRENCY]
import { request } from 'node:http';
import { createInterface } from 'node:readline';

const concurrency = Number(process.argv[2] ?? 8);

function once(address, port) {
  return new Promise((resolve) => {
    const req = request({ host: address, port: Number(port), path: '/', agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ answer: body }));
      res.on('error', (e) => resolve({ error: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

async function run(count, address, port) {
  const answers = {};
  const sources = {};
  const errors = {};
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const r = await once(address, port);
      if (r.answer !== undefined) {
        const [name, from] = r.answer.split(' ');
        answers[name] = (answers[name] ?? 0) + 1;
        sources[from] = (sources[from] ?? 0) + 1;
      } else errors[r.error] = (errors[r.error] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { answers, sources, errors };
}

const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) {
  const [count, address, port] = line.trim().split(/\s+/);
  process.stdout.write(`${JSON.stringify(await run(Number(count), address, Number(port)))}\n`);
}
