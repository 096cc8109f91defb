#!/usr/bin/env python3
"""A bare NETLINK_NETFILTER socket for kernel tests of lib/nft's bytes, until nlkit's own
netlink core (native/netlink) carries them: it adds nothing and interprets nothing beyond
nlmsgerr. Run inside the test's namespace (`ip netns exec NS python3 nfnl.py MODE`).

  send: stdin = one nfnetlink batch (binary). One sendmsg, then every error the kernel queued
        (it handles a batch inside sendmsg): JSON lines {"seq", "errno", "msg"}.
  dump: stdin = request messages (binary, concatenated). Each is sent and its replies read up to
        NLMSG_DONE; stdout = every reply message as a hex line.
"""
import errno, json, os, socket, struct, sys

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_CAP_ACK, NETLINK_EXT_ACK = 10, 11
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1

def messages(buf):
    p = 0
    while p + 16 <= len(buf):
        ln, = struct.unpack_from('<I', buf, p)
        if ln < 16: break
        yield buf[p:p + ln]
        p += (ln + 3) & ~3

def error_of(m):
    _, _, flags, seq, _ = struct.unpack_from('<IHHII', m, 0)
    err, = struct.unpack_from('<i', m, 16)
    olen, = struct.unpack_from('<I', m, 20)
    text = None
    if flags & NLM_F_ACK_TLVS:
        p = 20 + 16  # capped: the original header only
        while p + 4 <= len(m):
            alen, atype = struct.unpack_from('<HH', m, p)
            if alen < 4: break
            if atype == NLMSGERR_ATTR_MSG: text = m[p + 4:p + alen].split(b'\0')[0].decode()
            p += (alen + 3) & ~3
    oseq, = struct.unpack_from('<I', m, 28)
    return {'seq': oseq, 'errno': -err, 'msg': text}

def main():
    mode = sys.argv[1]
    data = sys.stdin.buffer.read()
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    s.bind((0, 0))
    if mode == 'send':
        s.sendmsg([data], [], 0, (0, 0))
        while True:
            try:
                buf = s.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            for m in messages(buf):
                if struct.unpack_from('<H', m, 4)[0] == NLMSG_ERROR:
                    e = error_of(m)
                    if e['errno']: print(json.dumps(e))
        return
    out = sys.stdout
    for req in messages(data):
        s.send(req)
        done = False
        while not done:
            buf = s.recv(1 << 20)
            for m in messages(buf):
                t = struct.unpack_from('<H', m, 4)[0]
                if t == NLMSG_DONE: done = True; break
                if t == NLMSG_ERROR:
                    e = error_of(m)
                    if e['errno']: out.write('error ' + json.dumps(e) + '\n')
                    done = True; break
                out.write(m.hex() + '\n')
                # A plain request (no NLM_F_DUMP) has one reply.
                if not struct.unpack_from('<H', req, 6)[0] & 0x100: done = True
main()
