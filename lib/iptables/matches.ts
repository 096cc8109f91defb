// The options of the match modules iptables users reach for most, typed, so that an option
// typo (`dprot`) or a module typo fails to compile. Each option may be written as iptables
// spells it ('destination-port'), in camelCase (destinationPort), and with a leading '!'.
import type { Negatable, OptionValue, Options } from './builder.js';

type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type OptionsOf<K extends string> = { [P in K | Camel<K> | `!${K}` | `!${Camel<K>}`]?: Negatable<OptionValue> };

/** Option names of each typed match module (iptables-extensions(8)). */
interface MatchOptionNames {
  addrtype: 'src-type' | 'dst-type' | 'limit-iface-in' | 'limit-iface-out';
  comment: 'comment';
  connlimit: 'connlimit-upto' | 'connlimit-above' | 'connlimit-mask' | 'connlimit-saddr' | 'connlimit-daddr';
  connmark: 'mark';
  conntrack: 'ctstate' | 'ctproto' | 'ctorigsrc' | 'ctorigdst' | 'ctreplsrc' | 'ctrepldst' | 'ctorigsrcport'
    | 'ctorigdstport' | 'ctreplsrcport' | 'ctrepldstport' | 'ctstatus' | 'ctexpire' | 'ctdir';
  hashlimit: 'hashlimit-upto' | 'hashlimit-above' | 'hashlimit-burst' | 'hashlimit-mode' | 'hashlimit-srcmask'
    | 'hashlimit-dstmask' | 'hashlimit-name' | 'hashlimit-htable-size' | 'hashlimit-htable-max'
    | 'hashlimit-htable-expire' | 'hashlimit-htable-gcinterval';
  icmp: 'icmp-type';
  icmp6: 'icmpv6-type';
  iprange: 'src-range' | 'dst-range';
  length: 'length';
  limit: 'limit' | 'limit-burst';
  mac: 'mac-source';
  mark: 'mark';
  multiport: 'source-ports' | 'sports' | 'destination-ports' | 'dports' | 'ports';
  owner: 'uid-owner' | 'gid-owner' | 'suppl-groups' | 'socket-exists';
  physdev: 'physdev-in' | 'physdev-out' | 'physdev-is-in' | 'physdev-is-out' | 'physdev-is-bridged';
  pkttype: 'pkt-type';
  recent: 'name' | 'set' | 'rsource' | 'rdest' | 'mask' | 'rcheck' | 'update' | 'remove' | 'seconds' | 'reap'
    | 'hitcount' | 'rttl';
  rpfilter: 'loose' | 'validmark' | 'accept-local' | 'invert';
  sctp: 'source-port' | 'sport' | 'destination-port' | 'dport' | 'chunk-types';
  set: 'match-set' | 'return-nomatch' | 'update-counters' | 'update-subcounters' | 'packets-eq' | 'packets-lt'
    | 'packets-gt' | 'bytes-eq' | 'bytes-lt' | 'bytes-gt';
  socket: 'transparent' | 'nowildcard' | 'restore-skmark';
  state: 'state';
  statistic: 'mode' | 'probability' | 'every' | 'packet';
  string: 'algo' | 'from' | 'to' | 'string' | 'hex-string' | 'icase';
  tcp: 'source-port' | 'sport' | 'destination-port' | 'dport' | 'tcp-flags' | 'syn' | 'tcp-option';
  tcpmss: 'mss';
  udp: 'source-port' | 'sport' | 'destination-port' | 'dport';
}

/** A match module whose options nlkit types. */
export type MatchModule = keyof MatchOptionNames;

/** A module nlkit does not type: `{ module: 'ipvs' as UntypedModule, vaddr: '10.0.0.1' }` (or write the rule as a string). */
export type UntypedModule = string & { readonly __untypedMatchModule: unique symbol };

/**
 * `-m module --option value ...`: a typed module with its own options, or an untyped one.
 * @example const m: Match = { module: 'tcp', dport: 80 };
 */
export type Match =
  | { [M in MatchModule]: { module: M } & OptionsOf<MatchOptionNames[M]> }[MatchModule]
  | ({ module: UntypedModule } & Options);
