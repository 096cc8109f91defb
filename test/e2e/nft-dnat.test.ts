// Real traffic through an nftables DNAT that nlkit built: a client namespace connects to a
// service address that exists nowhere; nlkit's kube-proxy-shaped rules (a numgen vmap to an
// endpoint chain that DNATs) send it over a veth pair to a server namespace, which answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import * as nft from '../../lib/nft/index.js';
import { kernelSkipReason, withNetns } from '../helpers/netns.js';

const skip = kernelSkipReason('python3');

const SERVER = `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.77.0.2', 8080)); s.listen(1); print('ready', flush=True)
c, a = s.accept(); c.sendall(b'pong from ' + a[0].encode()); c.close()
`;
const CLIENT = `
import socket
c = socket.create_connection(('10.96.0.10', 80), timeout=5); print(c.recv(100).decode())
`;

describe('nft DNAT built by nlkit carries traffic', { skip }, () => {
  it('client -> 10.96.0.10:80 reaches the server at 10.77.0.2:8080', () => withNetns(2, async (client, server) => {
    const ip = (...a: string[]) => execFileSync('ip', a);
    ip('link', 'add', 'nlkc0', 'netns', client.name, 'type', 'veth', 'peer', 'name', 'nlks0', 'netns', server.name);
    client.run('ip', ['addr', 'add', '10.77.0.1/24', 'dev', 'nlkc0']);
    client.run('ip', ['link', 'set', 'nlkc0', 'up']);
    // The service address needs a route out of the client for the packet to reach the output hook.
    client.run('ip', ['route', 'add', '10.96.0.0/16', 'via', '10.77.0.2']);
    server.run('ip', ['addr', 'add', '10.77.0.2/24', 'dev', 'nlks0']);
    server.run('ip', ['link', 'set', 'nlks0', 'up']);

    const T = { family: 'ip', table: 'svc' };
    const h = nft.open({ netns: client.name });
    try {
      await h.apply([
        { add: { table: { family: 'ip', name: 'svc' } } },
        { add: { chain: { ...T, name: 'nat-output', type: 'nat', hook: 'output', prio: -100, policy: 'accept' } } },
        { add: { chain: { ...T, name: 'endpoint-a' } } },
        { add: { chain: { ...T, name: 'service-a' } } },
        { add: { map: { ...T, name: 'service-ips', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict' } } },
        { add: { rule: { ...T, chain: 'nat-output', expr: [{ vmap: { key: { concat: [{ payload: { protocol: 'ip', field: 'daddr' } }, { meta: { key: 'l4proto' } }, { payload: { protocol: 'th', field: 'dport' } }] }, data: '@service-ips' } }] } } },
        { add: { rule: { ...T, chain: 'service-a', expr: [{ vmap: { key: { numgen: { mode: 'random', mod: 1, offset: 0 } }, data: { set: [[0, { goto: { target: 'endpoint-a' } }]] } } }] } } },
        { add: { rule: { ...T, chain: 'endpoint-a', expr: [{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } }, { counter: null }, { dnat: { addr: '10.77.0.2', port: 8080 } }] } } },
        { add: { element: { ...T, name: 'service-ips', elem: [[{ concat: ['10.96.0.10', 'tcp', 80] }, { goto: { target: 'service-a' } }]] } } },
      ]);
    } finally {
      await h.close();
    }

    const srv = spawn('ip', ['netns', 'exec', server.name, 'python3', '-c', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [first] = await once(srv.stdout, 'data') as [Buffer];
      assert.match(first.toString(), /ready/);
      assert.equal(client.run('python3', ['-c', CLIENT]).trim(), 'pong from 10.77.0.1');
      await once(srv, 'exit');
    } finally {
      srv.kill();
    }
    // The endpoint rule's counter saw the connection's packets.
    assert.match(client.run('nft', ['list', 'chain', 'ip', 'svc', 'endpoint-a']), /counter packets [1-9]\d* bytes/);
  }));
});
