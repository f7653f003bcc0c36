#!/usr/bin/env python3
"""gen_maildir.py - deterministic generator of a realistic Maildir++ corpus.

    python3 bench/gen_maildir.py OUTDIR [--messages N] [--target-mb MB] [--seed S]

Defaults: 20000 messages, 1100 MB (so the corpus is >= 1 GB), seed 1.
Everything (structure, text, binary attachment bytes, file names, mtimes)
comes from one seeded PRNG, so the same arguments give the same bytes on
any machine with Python >= 3.9.  --urandom takes attachment bytes from
os.urandom instead (a little faster, no longer reproducible).

What it writes (message count split roughly 62% plain text, 25% HTML
multipart/alternative, 13% multipart/mixed with base64 attachments; the
attachments are sized so that the whole corpus hits --target-mb):

  * plain text mails, 1-20 KB, English-like text drawn from a Zipf-weighted
    word list (compresses ~3-4x with zstd, like real prose), greetings,
    quoted replies ("> "), signatures;
  * HTML mails: multipart/alternative, text/plain + text/html
    (quoted-printable-free 8bit HTML with inline styles, tables, links);
  * attachment mails: a text body plus 1-3 base64 parts that look like
    PDFs, JPEGs, ZIPs or DOCX files: mostly incompressible bytes (a PDF-like
    part mixes in ~15% text objects), 50 KB - 5 MB, ~0.3% of them 6-20 MB;
  * realistic headers: Return-Path, Delivered-To, 2-5 Received lines,
    DKIM-Signature on some, Message-ID, Date, From, To, Cc, Subject,
    In-Reply-To/References on replies, List-Id on list folders, X-Mailer;
  * 11 Maildir++ folders (INBOX, .Sent, .Drafts, .Trash, .Junk, .Archive,
    .Archive.2023, .Archive.2024, .Work, .Work.Projects,
    .Lists.debian-devel), each with cur/ new/ tmp/; most messages in cur/
    with ":2,FLAGS" (S, R, F, T, D and Dovecot keyword letters a-c, with a
    dovecot-keywords file), a few unread ones in new/; ",S=size" in names;
    file mtimes set to the message date.

Prints one line: "messages N bytes B folders F".
"""

import argparse
import base64
import os
import random
import sys
import time

WORDS = """
the of and to a in is that for it as was with be by on not he i this are or
his from at which but have an they you were her she there been one all we
their has would when if so no will what up can more out about other into
some could them than then only its time new these two may first also do
any my now such like our over man me even most made after many must well
back through years much where your way down should because each just those
people how too little state good very make world still own see men work
long here get both between life being under never day same another know
while last might us great old year off come since against go came right
used take three himself few house use during without again place around
however home small found thought went say part once general high upon
school every does got united left number course war until always away
something fact though water less public put think almost hand enough far
took head yet government system better set told nothing night end why
called didn't eyes find going look asked later knew point next program
city business give group toward young days let room president side social
given present several order national possible rather second face per
among form important often things looking early white case john become
large big need four within felt along children saw best church ever least
power development light thing seemed family interest want members mind
country area others done turned although open god service certain kind
problem began different door thus help sense means whole matter perhaps
itself york times law human line above name example action company hands
local show whether five history gave today either act feet across taken
past quite anything seen having death week experience body word half
really field am car words already themselves information tell together
college shall money period held keep sure free seems political real behind
cannot miss question air office making brought whose special major heard
problems ago became federal moment study available known result street
economic boy position reason change south board individual job society
areas west close turn love community true court force full seem wife
future age wanted department voice center woman control common necessary
following front sometimes six girl clear further land run students provide
feel party able mother music education university child effect level stood
military short town morning total outside rate figure class art century
washington north usually leave therefore evidence plan million sound top
black strong hard various says believe type value play surface soon mean
near table lines peace modern tax road red book personal process situation
minutes increase schools idea english alone women gone nor food living
private cost third stage heart report meeting release patch kernel build
server client message mail backup archive folder version review merge
branch commit deadline project meeting schedule invoice contract budget
quarterly update attached please thanks regards team customer support
ticket issue request feature bug fix test release notes agenda minutes
draft proposal design document spec database network storage cluster
deployment config migration security password account login access
offer discount newsletter unsubscribe weekend holiday flight hotel booking
reservation receipt order shipping delivery payment invoice refund
""".split()

FIRST = ("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj "
         "Olivia Peggy Rupert Sybil Trent Victor Walter Yolanda Zoe Mark Anna "
         "Lukas Sofia Mateo Chen Priya Omar Fatima Kenji Ingrid Pierre").split()
LAST = ("Smith Jones Brown Taylor Wilson Davies Evans Thomas Johnson Roberts "
        "Walker Wright Robinson Thompson White Hughes Edwards Green Hall Wood "
        "Harris Martin Jackson Clarke Muller Rossi Garcia Tanaka Kumar "
        "Novak Larsen Dubois").split()
DOMAINS = ("example.com example.org example.net mail.example.com "
           "lists.example.org corp.example.com university.example.edu "
           "shop.example.net news.example.com").split()
MAILERS = ["Mozilla Thunderbird 115.6.0", "Apple Mail (2.3731.700.6)",
           "Microsoft Outlook 16.0", "Evolution 3.46.4", "mutt 2.2.9",
           "Roundcube Webmail/1.6.5", "K-9 Mail for Android"]
RELAYS = ["mx1.example.net", "mx2.example.net", "smtp.example.com",
          "relay.example.org", "out.mail.example.com", "filter.example.net",
          "mail-lf1-f54.example.com", "spamgw.example.org"]

FOLDERS = [  # (dir name, weight, list folder?)
    ("", 30, False), (".Sent", 12, False), (".Drafts", 1, False),
    (".Trash", 5, False), (".Junk", 4, False), (".Archive", 10, False),
    (".Archive.2023", 12, False), (".Archive.2024", 12, False),
    (".Work", 8, False), (".Work.Projects", 6, False),
    (".Lists.debian-devel", 10, True),
]
KEYWORDS = ["$Forwarded", "$Label1", "Work"]

ATT_KINDS = [("application/pdf", "pdf", 0.40), ("image/jpeg", "jpg", 0.35),
             ("application/zip", "zip", 0.10),
             ("application/vnd.openxmlformats-officedocument."
              "wordprocessingml.document", "docx", 0.15)]


class Gen:
    def __init__(self, seed, use_urandom):
        self.r = random.Random(seed)
        self.use_urandom = use_urandom
        cw, s = [], 0.0
        for i in range(len(WORDS)):
            s += 1.0 / (i + 2.7) ** 1.12   # Zipf-like
            cw.append(s)
        self.cw = cw
        # words with attached punctuation, so sentences come out of one
        # choices() call
        self.names = [(f, l) for f in FIRST for l in LAST]
        self.uniq = 0

    # ---- text -----------------------------------------------------------
    def words(self, n):
        return self.r.choices(WORDS, cum_weights=self.cw, k=n)

    def paragraph(self, nbytes):
        """English-like paragraph of about nbytes, wrapped at 72 columns."""
        r = self.r
        nw = max(4, nbytes // 6)
        ws = self.words(nw)
        out, i = [], 0
        while i < nw:
            k = r.randint(5, 18)
            sent = ws[i:i + k]
            i += k
            if not sent:
                break
            sent[0] = sent[0].capitalize()
            if len(sent) > 7 and r.random() < 0.4:
                j = r.randint(2, len(sent) - 2)
                sent[j] += ","
            sent[-1] += r.choice(".....?!")
            out.extend(sent)
        # wrap
        lines, cur, cl = [], [], 0
        for w in out:
            if cl + len(w) + 1 > 72 and cur:
                lines.append(" ".join(cur))
                cur, cl = [], 0
            cur.append(w)
            cl += len(w) + 1
        if cur:
            lines.append(" ".join(cur))
        return "\n".join(lines)

    def body_text(self, nbytes, who, me):
        r = self.r
        parts = ["Hi %s," % who[0], ""]
        size = 0
        while size < nbytes:
            p = self.paragraph(r.randint(200, 900))
            if r.random() < 0.25 and size > 0:
                p = "\n".join("> " + l for l in p.split("\n"))
                p = "On %s, %s %s wrote:\n%s" % (
                    self.datestr(self.r.randint(1500000000, 1730000000)),
                    who[0], who[1], p)
            parts.append(p)
            parts.append("")
            size += len(p) + 1
        parts.append("Best regards,\n%s %s\n-- \n%s %s | %s\n+1 555 %04d"
                     % (me[0], me[1], me[0], me[1],
                        r.choice(["Engineering", "Sales", "Operations",
                                  "Research", "Support"]),
                        r.randint(0, 9999)))
        return "\n".join(parts) + "\n"

    def body_html(self, text):
        r = self.r
        paras = text.split("\n\n")
        out = ['<!DOCTYPE html>', '<html><head><meta charset="utf-8">',
               '<style>body{font-family:Arial,Helvetica,sans-serif;'
               'font-size:14px;color:#222}p{margin:0 0 12px 0}'
               'td{padding:4px 8px;border:1px solid #ddd}</style>',
               '</head><body>',
               '<table width="100%" cellpadding="0" cellspacing="0">'
               '<tr><td style="background:#f4f4f4">']
        for p in paras:
            p = p.replace("&", "&amp;").replace("<", "&lt;")
            if r.random() < 0.2:
                w = self.words(2)
                p += ' <a href="https://www.%s/%s/%s?utm_source=mail&amp;' \
                     'utm_medium=email">%s</a>' % (r.choice(DOMAINS), w[0],
                                                   w[1], w[0])
            if r.random() < 0.1:
                out.append('<p style="font-weight:bold;color:#%06x">%s</p>'
                           % (r.randint(0, 0xffffff), p.replace("\n", "<br>\n")))
            else:
                out.append("<p>%s</p>" % p.replace("\n", "<br>\n"))
        out.append('</td></tr></table></body></html>')
        return "\n".join(out) + "\n"

    # ---- headers --------------------------------------------------------
    @staticmethod
    def datestr(t):
        return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))

    def person(self):
        f, l = self.r.choice(self.names)
        return f, l, "%s.%s@%s" % (f.lower(), l.lower(), self.r.choice(DOMAINS))

    def msgid(self, t):
        self.uniq += 1
        return "<%d.%x.%d@%s>" % (t, self.r.getrandbits(48), self.uniq,
                                  self.r.choice(DOMAINS))

    def headers(self, t, frm, to, subject, ctype, listf):
        r = self.r
        h = ["Return-Path: <%s>" % frm[2], "Delivered-To: %s" % to[2]]
        hop_t = t + r.randint(1, 30)
        for _ in range(r.randint(2, 5)):
            a, b = r.sample(RELAYS, 2)
            h.append("Received: from %s (%s [192.0.2.%d])\n\tby %s (Postfix) "
                     "with ESMTPS id %X\n\tfor <%s>; %s"
                     % (a, a, r.randint(1, 254), b, r.getrandbits(40), to[2],
                        self.datestr(hop_t)))
            hop_t -= r.randint(0, 5)
        if r.random() < 0.5:
            h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
                     "d=%s; s=sel1;\n\th=from:to:subject:date:message-id; "
                     "bh=%s;\n\tb=%s" % (
                         frm[2].split("@")[1],
                         base64.b64encode(r.randbytes(32)).decode(),
                         base64.b64encode(r.randbytes(128)).decode()))
        mid = self.msgid(t)
        h += ["Message-ID: %s" % mid, "Date: %s" % self.datestr(t),
              "From: %s %s <%s>" % frm, "To: %s %s <%s>" % to]
        if r.random() < 0.3:
            c = self.person()
            h.append("Cc: %s %s <%s>" % c)
        h.append("Subject: %s" % subject)
        if subject.startswith("Re:"):
            ref = self.msgid(t - 3600)
            h += ["In-Reply-To: %s" % ref, "References: %s" % ref]
        if listf:
            h += ["List-Id: Debian Development <debian-devel.lists.example.org>",
                  "List-Unsubscribe: <mailto:debian-devel-request@lists."
                  "example.org?subject=unsubscribe>",
                  "Precedence: list"]
        h.append("X-Mailer: %s" % r.choice(MAILERS))
        h.append("MIME-Version: 1.0")
        h.append("Content-Type: %s" % ctype)
        return "\n".join(h) + "\n"

    # ---- binary ---------------------------------------------------------
    def rand(self, n):
        return os.urandom(n) if self.use_urandom else self.r.randbytes(n)

    def att_bytes(self, ext, n):
        if ext == "pdf":     # PDF-like: mostly deflate-ish streams, some text
            head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
            txt = self.paragraph(max(64, n // 7)).encode()
            obj = (b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
                   b"3 0 obj\n<< /Length %d >>\nstream\nBT /F1 12 Tf (" % len(txt)
                   + txt + b") Tj ET\nendstream\nendobj\n")
            rest = max(0, n - len(head) - len(obj) - 6)
            return head + obj + self.rand(rest) + b"%%EOF\n"
        if ext == "jpg":
            return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + self.rand(max(0, n - 13)) \
                + b"\xff\xd9"
        return b"PK\x03\x04" + self.rand(max(0, n - 4))

    @staticmethod
    def b64lines(data):
        enc = base64.b64encode(data)
        return b"\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def plan(args, r):
    """Per message: (kind, size parameter).  Attachment sizes are scaled so
    the whole corpus lands near the target."""
    n = args.messages
    kinds = []
    for _ in range(n):
        x = r.random()
        kinds.append("text" if x < 0.62 else "html" if x < 0.87 else "att")
    sizes = []
    est = 0
    for k in kinds:
        if k == "text":
            s = int(1000 * 20 ** r.random())          # 1-20 KB, log-uniform
            est += s + 1500
        elif k == "html":
            s = int(1500 * 8 ** r.random())           # text part 1.5-12 KB
            est += int(s * 2.3) + 2500
        else:
            s = 0
        sizes.append(s)
    target = args.target_mb * 1000 * 1000
    att_idx = [i for i, k in enumerate(kinds) if k == "att"]
    budget = max(len(att_idx) * 60000, target - est)
    # raw attachment bytes per message (base64 grows them by 4/3 + newlines)
    raw_budget = budget * 0.75 * 76 / 77
    raw = []
    for i in att_idx:
        if r.random() < 0.003:
            raw.append(r.uniform(6e6, 20e6))           # a few large ones
        else:
            raw.append(50e3 * 100 ** (r.random() ** 1.6))  # 50 KB-5 MB, skewed small
    # the large ones keep their size; the others are scaled (within
    # 50 KB - 5 MB) so that the total hits the budget
    big = sum(x for x in raw if x > 5e6)
    for _ in range(10):
        s = sum(x for x in raw if x <= 5e6)
        f = max(raw_budget - big, 0) / s
        raw = [min(max(x * f, 50e3), 5e6) if x <= 5e6 else x for x in raw]
        if abs(sum(raw) - raw_budget) < raw_budget * 0.005:
            break
    for i, x in zip(att_idx, raw):
        sizes[i] = int(x)
    return kinds, sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--target-mb", type=int, default=1100,
                    help="corpus size in MB (10^6 bytes), default 1100")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--urandom", action="store_true",
                    help="attachment bytes from os.urandom (not reproducible)")
    args = ap.parse_args()
    if os.path.exists(args.out) and os.listdir(args.out):
        sys.exit("gen_maildir: %s exists and is not empty" % args.out)
    g = Gen(args.seed, args.urandom)
    r = g.r
    kinds, sizes = plan(args, r)

    fw = [w for _, w, _ in FOLDERS]
    for name, _, _ in FOLDERS:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(args.out, name, sub), exist_ok=True)
        with open(os.path.join(args.out, name, "dovecot-keywords"), "w") as f:
            f.write("".join("%d %s\n" % (i, k) for i, k in enumerate(KEYWORDS)))
    with open(os.path.join(args.out, "subscriptions"), "w") as f:
        f.write("".join(n[1:] + "\n" for n, _, _ in FOLDERS if n))

    me = ("Sam", "Archer", "sam.archer@example.com")
    t0 = 1577836800            # 2020-01-01
    span = 1730000000 - t0
    total = 0
    times = sorted(t0 + r.randint(0, span) for _ in kinds)
    for i, (kind, size) in enumerate(zip(kinds, sizes)):
        t = times[i]
        fi = r.choices(range(len(FOLDERS)), weights=fw)[0]
        fname, _, listf = FOLDERS[fi]
        other = g.person()
        frm, to = (me, other) if fname in (".Sent", ".Drafts") else (other, me)
        subj = " ".join(g.words(r.randint(3, 9))).capitalize()
        if r.random() < 0.35:
            subj = "Re: " + subj
        if listf:
            subj = "[debian-devel] " + subj
        if kind == "text":
            body = g.body_text(size, other, me)
            msg = g.headers(t, frm, to, subj, "text/plain; charset=utf-8; "
                            "format=flowed", listf) \
                + "Content-Transfer-Encoding: 8bit\n\n" + body
            data = msg.encode()
        elif kind == "html":
            text = g.body_text(size, other, me)
            html = g.body_html(text)
            b = "----=_Part_%d_%d" % (r.getrandbits(31), i)
            msg = g.headers(t, frm, to, subj, 'multipart/alternative;\n\t'
                            'boundary="%s"' % b, listf) + \
                "\nThis is a multi-part message in MIME format.\n\n" \
                "--%s\nContent-Type: text/plain; charset=utf-8\n" \
                "Content-Transfer-Encoding: 8bit\n\n%s\n--%s\n" \
                "Content-Type: text/html; charset=utf-8\n" \
                "Content-Transfer-Encoding: 8bit\n\n%s\n--%s--\n" \
                % (b, text, b, html, b)
            data = msg.encode()
        else:
            b = "----=_Mixed_%d_%d" % (r.getrandbits(31), i)
            text = g.body_text(r.randint(300, 3000), other, me)
            nparts = 1 if size < 400e3 else r.choice((1, 1, 2, 3))
            chunks = [b"%s\nThis is a multi-part message in MIME format.\n\n"
                      b"--%s\nContent-Type: text/plain; charset=utf-8\n"
                      b"Content-Transfer-Encoding: 8bit\n\n%s\n"
                      % (g.headers(t, frm, to, subj, 'multipart/mixed;\n\t'
                                   'boundary="%s"' % b, listf).encode(),
                         b.encode(), text.encode())]
            left = size
            for p in range(nparts):
                n = left if p == nparts - 1 else int(left * r.uniform(0.2, 0.7))
                left -= n
                ctype, ext, _ = r.choices(ATT_KINDS,
                                          weights=[k[2] for k in ATT_KINDS])[0]
                fn = "%s_%s_%d.%s" % tuple(g.words(2) + [i, ext])
                chunks.append(b"--%s\nContent-Type: %s; name=\"%s\"\n"
                              b"Content-Disposition: attachment; filename=\"%s\"\n"
                              b"Content-Transfer-Encoding: base64\n\n"
                              % (b.encode(), ctype.encode(), fn.encode(),
                                 fn.encode()))
                chunks.append(g.b64lines(g.att_bytes(ext, max(n, 1000))))
                chunks.append(b"\n")
            chunks.append(b"--%s--\n" % b.encode())
            data = b"".join(chunks)
        if r.random() < 0.12:       # about one in eight has CRLF line ends
            data = data.replace(b"\n", b"\r\n")
        # Maildir name: time.M<usec>P<pid>Q<n>.host,S=size:2,FLAGS
        base = "%d.M%dP%dQ%d.bench.example,S=%d" % (
            t, r.randint(0, 999999), r.randint(1000, 60000), i + 1, len(data))
        if r.random() < 0.03 and fname not in (".Sent", ".Drafts"):
            path = os.path.join(args.out, fname, "new", base)
        else:
            fl = ""
            if fname == ".Drafts":
                fl += "D"
            if r.random() < 0.08:
                fl += "F"
            if r.random() < 0.25:
                fl += "R"
            if r.random() < 0.85 or fname == ".Sent":
                fl += "S"
            if fname == ".Trash" and r.random() < 0.5:
                fl += "T"
            kw = "".join(c for c in "abc" if r.random() < 0.05)
            path = os.path.join(args.out, fname, "cur",
                                "%s:2,%s" % (base, "".join(sorted(fl)) + kw))
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (t, t))
        total += len(data)
    print("messages %d bytes %d folders %d" % (len(kinds), total, len(FOLDERS)))


if __name__ == "__main__":
    main()
