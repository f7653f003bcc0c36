#!/usr/bin/env python3
"""oauth_server.py - a local OAuth2 token-introspection endpoint (RFC 7662)
for the test Dovecot (tests/imap/dovecot.sh, dv_start_oauth).

Dovecot's oauth2 passdb, configured with `introspection_mode = post`, sends
`POST /introspect` with the form body `token=TOKEN`; this answers
{"active": true, "username": USER} when TOKEN is the content (first line) of
a file `token.USER` in the --tokens directory, else {"active": false}.  The
files are read on every request, so a test can revoke or rotate a token by
rewriting its file.

It listens on 127.0.0.1 only, on a free port it writes to --port-file once
it is ready.  The log names users and outcomes, never tokens.
"""
import argparse
import http.server
import json
import os
import sys
import urllib.parse


def load_tokens(d):
    out = {}
    for name in os.listdir(d):
        if not name.startswith("token."):
            continue
        with open(os.path.join(d, name), "rb") as f:
            tok = f.read().split(b"\n")[0].decode("ascii", "replace")
        if tok:
            out[tok] = name[len("token."):]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--tokens", required=True, help="directory of token.USER files")
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            # The default line holds the request line only (no body, so no
            # token), but keep our own wording anyway.
            pass

        def answer(self, obj, code=200):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if self.path.split("?")[0] != "/introspect" or n > 65536:
                log.write("POST %s refused\n" % self.path.split("?")[0])
                self.answer({"error": "not found"}, 404)
                return
            form = urllib.parse.parse_qs(self.rfile.read(n).decode("ascii", "replace"))
            tok = (form.get("token") or [""])[0]
            user = load_tokens(a.tokens).get(tok)
            if user:
                log.write("introspect: active token of %s\n" % user)
                self.answer({"active": True, "username": user})
            else:
                log.write("introspect: unknown token\n")
                self.answer({"active": False})

        def do_GET(self):
            self.answer({"error": "use POST /introspect"}, 405)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    log.write("listening on 127.0.0.1:%d\n" % srv.server_address[1])
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
