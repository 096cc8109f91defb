// One backend of the demo: answers every request with its own name and the address the
// connection came from (so a masqueraded one shows), one connection per request; and every UDP
// datagram to the same port likewise.
// Plain JavaScript so it starts fast inside `ip netns exec` (and under the emulated VM).
// Usage: node backend.mjs NAME PORT   (prints "ready" once listening)
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

const [name, port] = process.argv.slice(2);
const serve = (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
  res.end(`${name} ${req.socket.remoteAddress}`);
};
// One server per family (IPv6 only on the IPv6 one), so IPv4 peers show as IPv4 addresses.
const servers = [createServer(serve), createServer(serve)];
for (const s of servers) s.keepAliveTimeout = 0;
const udp = [createSocket('udp4'), createSocket({ type: 'udp6', ipv6Only: true })];
for (const u of udp) u.on('message', (_msg, from) => u.send(`${name} ${from.address}`, from.port, from.address));
const listen = (fn) => new Promise((resolve) => fn(resolve));
await listen((r) => udp[0].bind(Number(port), '0.0.0.0', r));
await listen((r) => udp[1].bind(Number(port), '::', r));
await listen((r) => servers[0].listen(Number(port), '0.0.0.0', r));
await listen((r) => servers[1].listen({ port: Number(port), host: '::', ipv6Only: true }, r));
process.stdout.write('ready\n');
// Ends with its parent: the demo closes our stdin (or dies, which closes it too).
process.stdin.on('end', () => process.exit(0)).resume();
