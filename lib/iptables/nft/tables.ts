// The tables iptables-nft knows and their built-in chains: hook, priority and chain type from
// the static xtables_ipv4[] table of iptables 1.8.9's nft.c (IPv6 uses the same one).

export interface BuiltinChain { name: string; hook: number; prio: number; type: 'filter' | 'nat' | 'route' }

const PRE = 0, IN = 1, FWD = 2, OUT = 3, POST = 4;

export const BUILTIN_TABLES: Record<string, BuiltinChain[]> = {
  raw: [
    { name: 'PREROUTING', hook: PRE, prio: -300, type: 'filter' },
    { name: 'OUTPUT', hook: OUT, prio: -300, type: 'filter' },
  ],
  mangle: [
    { name: 'PREROUTING', hook: PRE, prio: -150, type: 'filter' },
    { name: 'INPUT', hook: IN, prio: -150, type: 'filter' },
    { name: 'FORWARD', hook: FWD, prio: -150, type: 'filter' },
    { name: 'OUTPUT', hook: OUT, prio: -150, type: 'route' },
    { name: 'POSTROUTING', hook: POST, prio: -150, type: 'filter' },
  ],
  filter: [
    { name: 'INPUT', hook: IN, prio: 0, type: 'filter' },
    { name: 'FORWARD', hook: FWD, prio: 0, type: 'filter' },
    { name: 'OUTPUT', hook: OUT, prio: 0, type: 'filter' },
  ],
  security: [
    { name: 'INPUT', hook: IN, prio: 150, type: 'filter' },
    { name: 'FORWARD', hook: FWD, prio: 150, type: 'filter' },
    { name: 'OUTPUT', hook: OUT, prio: 150, type: 'filter' },
  ],
  nat: [
    { name: 'PREROUTING', hook: PRE, prio: -100, type: 'nat' },
    { name: 'INPUT', hook: IN, prio: 100, type: 'nat' },
    { name: 'POSTROUTING', hook: POST, prio: 100, type: 'nat' },
    { name: 'OUTPUT', hook: OUT, prio: -100, type: 'nat' },
  ],
};
