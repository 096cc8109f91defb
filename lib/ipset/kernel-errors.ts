// The kernel's ipset errno values, worded as libipset's errcode table words them (so users
// read what the ipset tool would have printed), each with the error class it maps to.
import { constants } from 'node:os';
import {
  ExistsError, InUseError, InvalidArgumentError, NlkitError, NotFoundError, PermissionError,
  UnsupportedError, errnoName,
} from '../core/errors.js';
import { Cmd } from './wire.js';

type Ctor = typeof NlkitError;
type Row = [errno: number, cmd: Cmd | 0, cls: Ctor, code: string, message: string];

const E = constants.errno;
const P = 4096, T = 4352;  // IPSET_ERR_PRIVATE, IPSET_ERR_TYPE_SPECIFIC

const ROWS: Row[] = [
  [E.ENOENT, 0, NotFoundError, 'ENOENT', 'The set with the given name does not exist'],
  [E.EMSGSIZE, 0, NlkitError, 'EMSGSIZE', 'Kernel error received: message could not be created'],
  [E.ERANGE, 0, InvalidArgumentError, 'ERANGE', 'The specified range is too large, split it up into smaller ranges'],
  [E.EPERM, 0, PermissionError, 'EPERM', 'Kernel error received: Operation not permitted (CAP_NET_ADMIN is needed)'],
  [E.EEXIST, Cmd.Create, ExistsError, 'EEXIST', 'Set cannot be created: set with the same name already exists'],
  [P + 1, 0, UnsupportedError, 'EPROTO', 'Kernel error received: ipset protocol error'],
  [P + 2, 0, UnsupportedError, 'EOPNOTSUPP', 'Kernel error received: set type not supported'],
  [P + 3, 0, NlkitError, 'ENOSPC', 'Kernel error received: maximal number of sets reached, cannot create more.'],
  [P + 4, Cmd.Destroy, InUseError, 'EBUSY', 'Set cannot be destroyed: it is in use by a kernel component'],
  [P + 5, Cmd.Rename, ExistsError, 'EEXIST', 'Set cannot be renamed: a set with the new name already exists'],
  [P + 5, Cmd.Swap, NotFoundError, 'ENOENT', 'Sets cannot be swapped: the second set does not exist'],
  [P + 6, Cmd.Swap, InvalidArgumentError, 'EINVAL', 'The sets cannot be swapped: their type does not match'],
  [P + 7, Cmd.Add, ExistsError, 'EEXIST', "Element cannot be added to the set: it's already added"],
  [P + 7, Cmd.Del, NotFoundError, 'ENOENT', "Element cannot be deleted from the set: it's not added"],
  [P + 8, 0, InvalidArgumentError, 'EINVAL', 'The value of the CIDR parameter of the IP address is invalid'],
  [P + 9, 0, InvalidArgumentError, 'EINVAL', 'The value of the netmask parameter is invalid'],
  [P + 10, 0, InvalidArgumentError, 'EINVAL', 'Protocol family not supported by the set type'],
  [P + 11, 0, InvalidArgumentError, 'EINVAL', 'Timeout cannot be used: set was created without timeout support'],
  [P + 12, Cmd.Rename, InUseError, 'EBUSY', 'Set cannot be renamed: it is in use by another system'],
  [P + 13, 0, InvalidArgumentError, 'EINVAL', 'An IPv4 address is expected, but not received'],
  [P + 14, 0, InvalidArgumentError, 'EINVAL', 'An IPv6 address is expected, but not received'],
  [P + 15, 0, InvalidArgumentError, 'EINVAL', 'Packet/byte counters cannot be used: set was created without counter support'],
  [P + 16, 0, InvalidArgumentError, 'EINVAL', 'Comment cannot be used: set was created without comment support'],
  [P + 17, 0, InvalidArgumentError, 'EINVAL', 'The value of the markmask parameter is invalid'],
  [P + 18, 0, InvalidArgumentError, 'EINVAL', 'Skbinfo mapping cannot be used: set was created without skbinfo support'],
];

/** Type-specific codes overlap (4352+ means something else per type family). */
const TYPE_ROWS: Record<'bitmap' | 'hash' | 'list', Row[]> = {
  bitmap: [
    [T, 0, InvalidArgumentError, 'ERANGE', 'Element is out of the range of the set'],
    [T + 1, Cmd.Create, InvalidArgumentError, 'ERANGE', 'The range you specified exceeds the size limit of the set type'],
  ],
  hash: [
    [T, 0, NlkitError, 'ENOSPC', 'Hash is full, cannot add more elements'],
    [T + 1, 0, InvalidArgumentError, 'EINVAL', 'Null-valued element, cannot be stored in a hash type of set'],
    [T + 2, 0, InvalidArgumentError, 'EINVAL', 'Invalid protocol specified'],
    [T + 3, 0, InvalidArgumentError, 'EINVAL', 'Protocol missing, but must be specified'],
    [T + 4, 0, InvalidArgumentError, 'EINVAL', 'Range is not supported in the "net" component of the element'],
    [T + 5, 0, InvalidArgumentError, 'EINVAL', 'Invalid range, covers the whole address space'],
  ],
  list: [
    [T, 0, NotFoundError, 'ENOENT', 'Set to be added/deleted/tested as element does not exist.'],
    [T + 1, 0, InvalidArgumentError, 'ELOOP', 'Sets with list:set type cannot be added to the set.'],
    [T + 2, Cmd.Del, NotFoundError, 'ENOENT', 'Set to be deleted is not added before the reference set'],
    [T + 3, 0, NotFoundError, 'ENOENT', 'Set to be added/deleted/tested as reference does not exist'],
    [T + 4, 0, NlkitError, 'ENOSPC', 'The set is full, more elements cannot be added'],
    [T + 5, 0, ExistsError, 'EEXIST', 'Set to be added/deleted/tested as reference already exists'],
  ],
};

export interface KernelRefusal {
  errno: number;
  /** The command refused; 0 when unknown (only the rows for any command apply). */
  cmd: Cmd | 0;
  /** The set's type name, for the type-specific codes. */
  type?: string;
  /** The entry (0-based) the kernel refused, when a batch said which. */
  entry?: number;
  /** The line of restore text the kernel refused. */
  line?: number;
}

export function kernelError(op: string, r: KernelRefusal): NlkitError {
  const family = r.type?.startsWith('bitmap:') ? 'bitmap' : r.type?.startsWith('hash:') ? 'hash' : r.type?.startsWith('list:') ? 'list' : undefined;
  const rows = r.errno >= T ? (family ? TYPE_ROWS[family] : []) : ROWS;
  const row = rows.find((x) => x[0] === r.errno && x[1] === r.cmd) ?? rows.find((x) => x[0] === r.errno && x[1] === 0);
  const where = r.line !== undefined ? `line ${r.line}: ` : r.entry !== undefined ? `entry ${r.entry}: ` : '';
  let err: NlkitError;
  if (row) {
    const [, , Cls, code, message] = row;
    err = new Cls(`${op}: ${where}${message}`, { op, subsystem: 'ipset', code, detail: message });
  } else {
    const code = errnoName(r.errno);
    const detail = code ? `Kernel error received: ${code}` : `Undecoded error ${r.errno} received from kernel`;
    err = new NlkitError(`${op}: ${where}${detail}`, { op, subsystem: 'ipset', detail, ...(code ? { code } : {}) });
  }
  if (r.entry !== undefined) err.entry = r.entry;
  if (r.line !== undefined) err.line = r.line;
  return err;
}
