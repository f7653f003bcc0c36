#!/usr/bin/env python3
"""cutproxy.py - a TCP relay that loses one server answer (stdlib only).

usage: cutproxy.py PORT_FILE TARGET_PORT THRESHOLD LOG

Listens on a free port of 127.0.0.1 (written to PORT_FILE, atomically, once
listening) and relays every connection to 127.0.0.1:TARGET_PORT byte for
byte; it does not look inside (TLS passes through untouched).  On the first
connection only: once the client has sent THRESHOLD bytes, the next bytes
the server sends are not passed on -- the client's connection is reset
(RST) and the server's closed instead, and a line saying so goes to LOG.

Under TLS the proxy cannot read the commands, but it needs not: a client
that uploads a large APPEND gets nothing back until the server has stored
the messages, so the first answer after a large upload is the tagged OK
of a command the server carried out -- which the client never sees.  Runs
until killed.
"""
import os
import select
import socket
import sys
import threading


def relay(c, tport, thresh, log, cut):
    s = socket.create_connection(("127.0.0.1", tport))
    up = 0
    try:
        while True:
            r, _, _ = select.select([c, s], [], [], 120)
            if not r:
                break
            if c in r:
                d = c.recv(65536)
                if not d:
                    break
                up += len(d)
                s.sendall(d)
            if s in r:
                d = s.recv(65536)
                if not d:
                    break
                if cut and up >= thresh:
                    with open(log, "a") as f:
                        f.write("cut: %d bytes from the client, the server's next %d "
                                "bytes dropped\n" % (up, len(d)))
                    # l_onoff 1, l_linger 0: close() resets the connection.
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 (1).to_bytes(4, sys.byteorder) + (0).to_bytes(4, sys.byteorder))
                    break
                c.sendall(d)
    except OSError:
        pass
    c.close()
    s.close()


def main():
    pf, tport, thresh, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    with open(pf + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(pf + ".tmp", pf)
    first = True
    while True:
        c, _ = ls.accept()
        threading.Thread(target=relay, args=(c, tport, thresh, log, first), daemon=True).start()
        first = False


if __name__ == "__main__":
    main()
