// Protocol names that ipset and iptables take (their names in netbase's /etc/protocols), as a type
// so that a typo ('tpc') fails to compile. A protocol missing here can be given by its number.

/**
 * An IP protocol by name, or its number as text (`'47'`).
 * @example const p: ProtocolName = 'tcp';
 */
export type ProtocolName = KnownProtocol | Uppercase<KnownProtocol> | `${number}`;

/** Names in netbase's /etc/protocols (their upper-case aliases are listed there too). */
type KnownProtocol =
  | 'tcp' | 'udp' | 'udplite' | 'sctp' | 'dccp' | 'icmp' | 'icmpv6' | 'ipv6-icmp' | 'igmp' | 'gre'
  | 'esp' | 'ah' | 'ipip' | 'ipencap' | 'ipv6' | 'ospf' | 'pim' | 'vrrp' | 'l2tp' | 'mh' | 'ipv6-mh'
  | 'ipcomp' | 'etherip' | 'encap' | 'egp' | 'rsvp' | 'ipv6-route' | 'ipv6-frag' | 'ipv6-nonxt' | 'ipv6-opts'
  | 'hopopt' | 'mpls-in-ip' | 'manet' | 'hip' | 'shim6' | 'wesp' | 'rohc' | 'ethernet' | 'mptcp';
