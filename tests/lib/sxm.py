#!/usr/bin/env python3
"""XAPI's hand-over of a storage migration's NBD connection, for the tests (tests/lib/sxm.sh):
one connected socket pair; one end passed with SCM_RIGHTS to the destination tapdisk's
nbdserver[-new]<pid>.<minor> (message: the destination's datapath), the other to the source
tapdisk's nbdclient<pid> (message: the source's datapath, without a NUL, as XAPI sends it).

usage: sxm.py DEST_RECEIVER DEST_MSG SOURCE_RECEIVER SOURCE_MSG"""
import socket
import sys


def pass_fd(path, sock, msg):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    socket.send_fds(s, [msg.encode()], [sock.fileno()])
    s.close()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    dest, source = socket.socketpair()
    pass_fd(sys.argv[1], dest, sys.argv[2])
    pass_fd(sys.argv[3], source, sys.argv[4])


main()
