// The shapes of DESIGN.md's conntrack API: flows as the kernel's ctnetlink reports them, with
// field names and values that read like `conntrack -L` (state and status names are the tool's).

export type Family = 'inet' | 'inet6';

/** Protocols nlkit names; any other IP protocol is its number. */
export type ProtocolName = 'tcp' | 'udp' | 'udplite' | 'sctp' | 'dccp' | 'icmp' | 'icmpv6' | 'gre';
export type Protocol = ProtocolName | number;

/** One direction of a flow. Ports for tcp, udp, udplite, sctp and dccp; type/code/id for icmp(v6). */
export interface Tuple {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** icmp and icmpv6 only. */
  type?: number;
  code?: number;
  id?: number;
}

/** TCP states as the kernel numbers them (CTA_PROTOINFO_TCP_STATE); SYN_SENT2 is what conntrack(8) prints as LISTEN. */
export type TcpState = 'NONE' | 'SYN_SENT' | 'SYN_RECV' | 'ESTABLISHED' | 'FIN_WAIT' | 'CLOSE_WAIT' | 'LAST_ACK'
  | 'TIME_WAIT' | 'CLOSE' | 'SYN_SENT2';
/** SCTP states (CTA_PROTOINFO_SCTP_STATE). */
export type SctpState = 'NONE' | 'CLOSED' | 'COOKIE_WAIT' | 'COOKIE_ECHOED' | 'ESTABLISHED' | 'SHUTDOWN_SENT'
  | 'SHUTDOWN_RECD' | 'SHUTDOWN_ACK_SENT' | 'HEARTBEAT_SENT' | 'HEARTBEAT_ACKED';
export type State = TcpState | SctpState;

/** Bits of the kernel's ct->status (enum ip_conntrack_status), by the names `conntrack -u` takes. */
export type Status = 'EXPECTED' | 'SEEN_REPLY' | 'ASSURED' | 'CONFIRMED' | 'SRC_NAT' | 'DST_NAT' | 'SEQ_ADJUST'
  | 'SRC_NAT_DONE' | 'DST_NAT_DONE' | 'DYING' | 'FIXED_TIMEOUT' | 'TEMPLATE' | 'NAT_CLASH' | 'HELPER' | 'OFFLOAD'
  | 'HW_OFFLOAD';

export interface Counter {
  packets: number;
  bytes: number;
}

/** A conntrack entry. */
export interface Flow {
  /** The kernel's id for the entry (CTA_ID): stable while the entry lives. */
  id: number;
  family: Family;
  protocol: Protocol;
  original: Tuple;
  reply: Tuple;
  /** tcp and sctp only. */
  state?: State;
  status: Status[];
  mark: number;
  zone: number;
  /** Remaining lifetime in milliseconds (the kernel counts whole seconds). */
  timeout: number;
  /** Present when accounting is on (net.netfilter.nf_conntrack_acct=1). */
  counters?: { original: Counter; reply: Counter };
  /** Reference count (CTA_USE), as `conntrack -L` prints it in `use=`. */
  use?: number;
  /** Connection labels (CTA_LABELS): the numbers of the bits that are set. */
  labels?: number[];
}

/** What create() and update() take: a flow without what only the kernel knows. */
export interface FlowInput {
  /** Taken from the addresses when left out. */
  family?: Family;
  protocol: Protocol;
  original: Tuple;
  /** Defaults to the original tuple reversed (as `conntrack -I` does when -r/-q are left out). */
  reply?: Tuple;
  state?: State;
  status?: Status[];
  mark?: number;
  zone?: number;
  /** Milliseconds; required by create(). The kernel keeps whole seconds: rounded up. */
  timeout?: number;
  labels?: number[];
}

/** Which flows list/count/delete concern. Every given field must match. */
export interface Filter {
  family?: Family;
  protocol?: Protocol;
  original?: Partial<Tuple>;
  reply?: Partial<Tuple>;
  /** A number matches exactly; { value, mask } matches when (mark & mask) === value. */
  mark?: number | { value: number; mask: number };
  zone?: number;
  /** Every listed status bit must be set. */
  status?: Status[];
  state?: State;
  /** Every listed label bit must be set. */
  labels?: number[];
}

export type EventType = 'new' | 'update' | 'destroy';

/** One change to the table, from the kernel's ctnetlink multicast groups. */
export interface FlowEvent {
  type: EventType;
  flow: Flow;
}

/** One CPU's counters (IPCTNL_MSG_CT_GET_STATS_CPU), named as `conntrack -S` prints them. */
export interface CpuStats {
  cpu: number;
  found: number;
  invalid: number;
  insert: number;
  insert_failed: number;
  drop: number;
  early_drop: number;
  error: number;
  search_restart: number;
  clash_resolve: number;
  chaintoolong: number;
}
