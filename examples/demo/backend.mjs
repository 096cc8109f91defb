// One backend of the demo: answers every request with its own name and the address the
// connection came from (so a masqueraded one shows), one connection per request; and every UDP
// datagram to the same port likewise.
// Plain JavaScript so it starts fast inside `ip netns exec` (and under the emulated VM).
// Usage: node backend.mjs NAME PORT   (prints "ready" once listening)
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

const [name, port] = process.argv.slice(2);
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
  res.end(`${name} ${req.socket.remoteAddress}`);
});
server.keepAliveTimeout = 0;
const udp = createSocket('udp4');
udp.on('message', (_msg, from) => udp.send(`${name} ${from.address}`, from.port, from.address));
udp.bind(Number(port), '0.0.0.0', () => server.listen(Number(port), '0.0.0.0', () => process.stdout.write('ready\n')));
// Ends with its parent: the demo closes our stdin (or dies, which closes it too).
process.stdin.on('end', () => process.exit(0)).resume();
