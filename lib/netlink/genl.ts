// Generic netlink's controller ("nlctrl", id GENL_ID_CTRL): a family's id by its name, what
// every generic netlink family (IPVS, ...) needs before its first message, since the kernel
// hands ids out as families register. Asked with CTRL_CMD_GETFAMILY over the worker's
// NETLINK_GENERIC socket (native/netlink), built and parsed here.
import { constants } from 'node:os';
import type { NativeFailure, RawWorker } from '../core/native.js';
import { AttrWriter } from './attr-writer.js';
import { GENL_HDRLEN, GENL_ID_CTRL, NETLINK_GENERIC, NLMSG_HDRLEN } from './headers.js';
import { forEachAttr, forEachMessage, u16 } from './reader.js';
import { dump, type MessageBatch } from './transport.js';

/** linux/genetlink.h: the controller's command and attributes used here. */
export const CTRL_CMD_GETFAMILY = 3, CTRL_ATTR_FAMILY_ID = 1, CTRL_ATTR_FAMILY_NAME = 2;
/** NativeFailure.kind when the kernel has no family of that name (its module is not loaded). */
export const GENL_FAMILY_MISSING = 'genl-family-missing';

/**
 * CTRL_CMD_GETFAMILY for `name`: one message, ready for transport.dump().
 * @example const r = await dump(worker, NETLINK_GENERIC, getFamilyRequest('IPVS'));
 */
export function getFamilyRequest(name: string): MessageBatch {
  const w = new AttrWriter(64);
  w.ensure(NLMSG_HDRLEN + GENL_HDRLEN);
  w.buf.fill(0, 0, NLMSG_HDRLEN + GENL_HDRLEN);
  w.buf.writeUInt16LE(GENL_ID_CTRL, 4);
  w.buf[NLMSG_HDRLEN] = CTRL_CMD_GETFAMILY;
  w.buf[NLMSG_HDRLEN + 1] = 1;  // the controller's version
  w.pos = NLMSG_HDRLEN + GENL_HDRLEN;
  w.str(CTRL_ATTR_FAMILY_NAME, name);
  w.buf.writeUInt32LE(w.pos, 0);
  return { bytes: w.buf.subarray(0, w.pos), ends: Uint32Array.of(w.pos) };
}

/**
 * The family id in the controller's reply (b[from, to): its messages), or undefined.
 * @example const id = parseFamilyId(r.data, 0, r.sections[0]!);
 */
export function parseFamilyId(b: Buffer, from: number, to: number): number | undefined {
  let id: number | undefined;
  forEachMessage(b, from, to, (type, at, len) => {
    if (type !== GENL_ID_CTRL) return;
    forEachAttr(b, at + NLMSG_HDRLEN + GENL_HDRLEN, at + len, (t, p, n) => {
      if (t === CTRL_ATTR_FAMILY_ID && n >= 2) id = u16(b, p);
    });
  });
  return id;
}

/**
 * Writes the family id into every message of a batch (their nlmsg_type), as the kernel wants it.
 * @example send(worker, NETLINK_GENERIC, stampFamily(w.batch(), id));
 */
export function stampFamily(msgs: MessageBatch, id: number): MessageBatch {
  const v = new DataView(msgs.bytes.buffer, msgs.bytes.byteOffset, msgs.bytes.byteLength);
  let start = 0;
  for (const end of msgs.ends) {
    v.setUint16(start + 4, id, true);
    start = end;
  }
  return msgs;
}

/**
 * One generic netlink family as a handle sees it: its id is asked of the kernel on first use
 * (one crossing) and kept, per worker; a missing family is not kept, so that after
 * `modprobe` the next call finds it. A failure rejects with the native failure record
 * (kind GENL_FAMILY_MISSING when there is no such family), as a native job would.
 * @example
 * const ipvsFamily = new GenlFamily('IPVS');
 * const id = await ipvsFamily.id(worker);
 */
export class GenlFamily {
  private readonly ids = new WeakMap<RawWorker, number>();

  constructor(readonly name: string) {}

  async id(worker: RawWorker): Promise<number> {
    const known = this.ids.get(worker);
    if (known !== undefined) return known;
    const r = await dump(worker, NETLINK_GENERIC, getFamilyRequest(this.name), { attempts: 1, reportInterrupted: true });
    const e = r.errnos[0] ?? 0;
    const id = e ? undefined : parseFamilyId(r.data, 0, r.sections[0] ?? 0);
    if (id === undefined) {
      const missing = !e || e === constants.errno.ENOENT;
      const f: NativeFailure = {
        nativeFailure: true, errno: e || constants.errno.ENOENT,
        message: `generic netlink family ${this.name} ${missing ? 'not found' : 'cannot be resolved'}${r.messages[0] ? `: ${r.messages[0]}` : ''}`,
        ...(missing ? { kind: GENL_FAMILY_MISSING } : {}),
      };
      throw f;
    }
    this.ids.set(worker, id);
    return id;
  }

  /** The batch with the family's id in every message, once the id is known. */
  async stamp(worker: RawWorker, msgs: MessageBatch): Promise<MessageBatch> {
    return stampFamily(msgs, await this.id(worker));
  }
}
