#!/usr/bin/env python3
"""roundtrip.py - compares what the archive gives back with the source.

usage:
  roundtrip.py ls-cat-maildir MAILDIR ARCHIVE
  roundtrip.py ls-cat-mbox MBOXFILE ARCHIVE mboxrd|mboxo
  roundtrip.py export-maildir MAILDIR ARCHIVE OUTDIR [FORMAT...]
  roundtrip.py export-mbox MBOXFILE ARCHIVE OUTDIR [FORMAT...]

Expected values come only from Python reading the source (os.walk,
mailbox.mbox) and the exports (os.walk, mailbox.mbox, tarfile, zipfile).
The binary is $MV (keys from the environment).
"""
import io
import os
import re
import stat
import struct
import sys
import tarfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mvlib import (FLAG_NAME, Report, Runner, asctime_utc, errtext, imap_date,  # noqa: E402
                   load, ls, mboxrd_unquote, parse_asctime, parse_info, read_keywords_file,
                   read_maildir, read_mbox, utf7_decode)

rep = Report()
run = Runner(rep)


# ---- expected from a Maildir ------------------------------------------------

def maildir_expect(src):
    """display folder -> list of (uid, message dict) in UID order."""
    out = {}
    for f in read_maildir(src):
        out[f["display"]] = [(i + 1, m) for i, m in enumerate(f["messages"])]
    return out


def flagset(m):
    return set(FLAG_NAME[c] for c in m["sys"]) | set(m["keywords"])


# ---- expected from an mbox ----------------------------------------------------

def header_block(b):
    """Bytes up to the first empty line (LF or CRLF)."""
    m = re.search(rb"\n\r?\n", b)
    return b[:m.start() + 1] if m else b


def mbox_flags(b):
    """Status / X-Status / X-Keywords, read independently of the project."""
    flags, kws = set(), []
    for line in header_block(b).split(b"\n"):
        line = line.rstrip(b"\r")
        name, sep, val = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        val = val.strip()
        if name == b"status":
            if b"R" in val:
                flags.add("\\Seen")
        elif name == b"x-status":
            for c, fl in ((b"A", "\\Answered"), (b"F", "\\Flagged"), (b"T", "\\Draft"),
                          (b"D", "\\Deleted")):
                if c in val:
                    flags.add(fl)
        elif name == b"x-keywords":
            for k in re.split(rb"[,\s]+", val):
                if k and k.decode() not in kws:
                    kws.append(k.decode())
    return flags, kws


def mbox_expect(path, fmt):
    """list of dicts from, data (what the archive must give back), flags, kws."""
    out = []
    for frm, data in read_mbox(path):
        if fmt == "mboxrd":
            data = mboxrd_unquote(data)
        fl, kws = mbox_flags(data)
        out.append({"from": frm, "data": data, "flags": fl, "kws": kws})
    return out


# ---- ls and cat ---------------------------------------------------------------

def cat_check(archive, ref, want, label, problems):
    p = run.run(["cat", archive, ref])
    if p.returncode != 0:
        problems.append("cat %s (%s): exit %d: %s" % (ref, label, p.returncode, errtext(p)))
    elif p.stdout != want:
        d = next((i for i in range(min(len(p.stdout), len(want))) if p.stdout[i] != want[i]),
                 min(len(p.stdout), len(want)))
        problems.append("cat %s (%s): %d bytes, want %d, first difference at byte %d"
                        % (ref, label, len(p.stdout), len(want), d))


def ls_cat_maildir(src, archive):
    exp = maildir_expect(src)
    p, got = ls(run, archive)
    if not rep.check(p.returncode == 0, "ls lists the archive", errtext(p)):
        return
    rep.check(set(got["order"]) == set(exp), "ls shows every source folder, by its UTF-8 name",
              "got %s, want %s" % (sorted(got["order"]), sorted(exp)))
    meta, cats = [], []
    nmsg = 0
    for folder, msgs in exp.items():
        g = got["folders"].get(folder, {"entries": {}, "n": None})
        if g.get("n") != len(msgs):
            meta.append("%s: %s messages listed, want %d" % (folder, g.get("n"), len(msgs)))
        for uid, m in msgs:
            nmsg += 1
            e = g["entries"].get(uid)
            ref = "%s/%d" % (folder, uid)
            if e is None:
                meta.append("%s (%s) not listed" % (ref, m["name"]))
                continue
            if e["size"] != m["size"]:
                meta.append("%s size %d, want %d" % (ref, e["size"], m["size"]))
            if e["date"] != imap_date(m["mtime"]):
                meta.append("%s date '%s', want '%s'" % (ref, e["date"], imap_date(m["mtime"])))
            if set(e["flags"]) != flagset(m) or len(e["flags"]) != len(set(e["flags"])):
                meta.append("%s flags %s, want %s" % (ref, sorted(e["flags"]), sorted(flagset(m))))
            cat_check(archive, ref, load(m["path"]), m["name"], cats)
    rep.all("ls gives every Maildir message its UID (name order), size, INTERNALDATE (mtime), "
            "flags and keywords (%d messages)" % nmsg, meta)
    rep.all("cat FOLDER/UID returns every Maildir message byte for byte (%d messages)" % nmsg, cats)
    # A message ID prefix names the same message.
    probs = []
    for folder, msgs in list(exp.items())[:3]:
        for uid, m in msgs[:3]:
            e = got["folders"].get(folder, {"entries": {}})["entries"].get(uid)
            if e:
                cat_check(archive, "#" + e["id"], load(m["path"]), m["name"], probs)
    rep.all("cat #ID returns the same bytes as FOLDER/UID", probs)


def ls_cat_mbox(path, archive, fmt):
    exp = mbox_expect(path, fmt)
    p, got = ls(run, archive)
    if not rep.check(p.returncode == 0, "ls lists the %s archive" % fmt, errtext(p)):
        return
    ent = got["folders"].get("INBOX", {"entries": {}, "n": None})
    rep.check(list(got["order"]) == ["INBOX"] and ent.get("n") == len(exp),
              "an mbox file is one folder INBOX with every message (%s, %d messages)"
              % (fmt, len(exp)), "got %s with %s" % (got["order"], ent.get("n")))
    meta, cats = [], []
    for i, m in enumerate(exp):
        uid = i + 1
        ref = "INBOX/%d" % uid
        e = ent["entries"].get(uid)
        if e is None:
            meta.append(ref + " not listed")
            continue
        if e["size"] != len(m["data"]):
            meta.append("%s size %d, want %d" % (ref, e["size"], len(m["data"])))
        when = parse_asctime(m["from"].decode().split(" ", 1)[1])
        if e["date"] != imap_date(when):
            meta.append("%s date '%s', want '%s' (From_ line)" % (ref, e["date"], imap_date(when)))
        want = m["flags"] | set(m["kws"])
        if set(e["flags"]) != want:
            meta.append("%s flags %s, want %s" % (ref, sorted(e["flags"]), sorted(want)))
        cat_check(archive, ref, m["data"], "message %d" % uid, cats)
    rep.all("ls of the %s pull gives every message its size, From_ date, Status/X-Status flags "
            "and X-Keywords (30+)" % fmt, meta)
    rep.all("cat returns the bytes Python's mailbox.mbox reads (get_bytes%s) for every message "
            "(%d messages)" % (", one '>' unquoted from ^>+From lines" if fmt == "mboxrd" else "",
                              len(exp)), cats)


# ---- exports -------------------------------------------------------------------

def mode_problems(path, problems):
    """Every directory 0700, every file 0600, the top included."""
    for dirpath, dirs, files in os.walk(path):
        st = os.lstat(dirpath)
        if stat.S_IMODE(st.st_mode) != 0o700:
            problems.append("directory %s is %o" % (dirpath, stat.S_IMODE(st.st_mode)))
        for n in files:
            st = os.lstat(os.path.join(dirpath, n))
            if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o600:
                problems.append("file %s is %o" % (os.path.join(dirpath, n), st.st_mode))


class Tree:
    """An exported Maildir++ tree, from a directory, a tar or a zip:
    path (relative, '/' separated) -> (data or None for dirs, mode, mtime)."""

    def __init__(self):
        self.files = {}
        self.dirs = {}

    def folders(self):
        """raw folder name -> {base: (name, data, mtime, mode)}, plus keyword maps."""
        out, kw = {}, {}
        for path, (data, mode, mtime) in self.files.items():
            parts = path.split("/")
            if len(parts) == 2 and parts[0] in ("cur", "new"):
                raw, name = b"INBOX", parts[1]
            elif len(parts) == 3 and parts[0].startswith(".") and parts[1] in ("cur", "new"):
                raw, name = parts[0][1:].encode(), parts[2]
            elif parts[-1] == "dovecot-keywords":
                raw = b"INBOX" if len(parts) == 1 else parts[0][1:].encode()
                kw[raw] = data
                continue
            else:
                continue
            out.setdefault(raw, {})[name] = (data, mtime, mode)
        return out, kw


def kwmap(data):
    names = {}
    for line in (data or b"").split(b"\n"):
        m = re.match(rb"^(0|[1-9][0-9]?) (\S+)$", line)
        if m and int(m.group(1)) < 26 and int(m.group(1)) not in names:
            names[int(m.group(1))] = m.group(2).decode()
    return names


def tree_from_dir(root):
    t = Tree()
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for n in dirs:
            t.dirs[os.path.normpath(os.path.join(rel, n))] = (None, None)
        for n in files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            t.files[os.path.normpath(os.path.join(rel, n))] = (load(p), stat.S_IMODE(st.st_mode),
                                                                int(st.st_mtime))
    return t


def tree_from_tar(path, problems):
    t = Tree()
    with tarfile.open(path) as tf:
        for m in tf:
            name = m.name.rstrip("/")
            if m.isdir():
                t.dirs[name] = (stat.S_IMODE(m.mode), m.mtime)
                if stat.S_IMODE(m.mode) != 0o700:
                    problems.append("tar directory %s mode %o" % (name, m.mode))
            elif m.isfile():
                t.files[name] = (tf.extractfile(m).read(), stat.S_IMODE(m.mode), int(m.mtime))
                if stat.S_IMODE(m.mode) != 0o600:
                    problems.append("tar member %s mode %o" % (name, m.mode))
            else:
                problems.append("tar member %s is neither file nor directory" % name)
    return t


def zip_mtime(zi):
    """The Unix mtime from the extended-timestamp extra field (0x5455), else
    None (DOS time only)."""
    x = zi.extra
    i = 0
    while i + 4 <= len(x):
        hid, ln = struct.unpack("<HH", x[i:i + 4])
        body = x[i + 4:i + 4 + ln]
        if hid == 0x5455 and ln >= 5 and body[0] & 1:
            return struct.unpack("<i", body[1:5])[0]
        i += 4 + ln
    return None


def tree_from_zip(path, problems):
    import calendar
    t = Tree()
    nodos = 0
    with zipfile.ZipFile(path) as zf:
        for zi in zf.infolist():
            mode = zi.external_attr >> 16
            mt = zip_mtime(zi)
            if mt is None:
                nodos += 1
                mt = calendar.timegm(zi.date_time + (0, 0, -1))
            name = zi.filename.rstrip("/")
            if zi.is_dir():
                t.dirs[name] = (stat.S_IMODE(mode), mt)
                if stat.S_IMODE(mode) != 0o700 or not stat.S_ISDIR(mode):
                    problems.append("zip directory %s mode %o" % (name, mode))
            else:
                t.files[name] = (zf.read(zi), stat.S_IMODE(mode), mt)
                if stat.S_IMODE(mode) != 0o600 or not stat.S_ISREG(mode):
                    problems.append("zip member %s mode %o" % (name, mode))
    if nodos:
        problems.append("%d zip members carry only a DOS time (2-second, local), no Unix mtime"
                        % nodos)
    return t


def export(archive, fmt, out):
    p = run.run(["export", archive, "--format", fmt, out])
    return p


def check_tree_against_maildir(src, tree, what, exact_names=True):
    """Each source message is in the tree under its base name with the same
    bytes, system flags, keywords (through the tree's dovecot-keywords) and
    mtime = the source file's mtime; every source folder is there."""
    exp = read_maildir(src)
    folders, kws = tree.folders()
    probs, fprobs = [], []
    n = 0
    for f in exp:
        have = folders.get(f["raw"], {})
        km = kwmap(kws.get(f["raw"]))
        top = "." + f["raw"].decode()
        present = f["raw"] == b"INBOX" or f["raw"] in folders or \
            any(p.split("/")[0] == top for p in list(tree.files) + list(tree.dirs))
        if not present:
            fprobs.append("folder %s (%s) missing" % (f["raw"].decode(), f["display"]))
        bybase = {}
        for name, v in have.items():
            base, sysf, kwl = parse_info(name)
            bybase[base] = (name, v, sysf, kwl)
        for m in f["messages"]:
            n += 1
            if m["base"] not in bybase:
                probs.append("%s/%s missing (have %d in folder)" % (f["display"], m["base"], len(have)))
                continue
            name, (data, mtime, mode), sysf, kwl = bybase[m["base"]]
            if data != load(m["path"]):
                probs.append("%s/%s: bytes differ (%d vs %d)" % (f["display"], name, len(data), m["size"]))
            if set(sysf) != m["sys"]:
                probs.append("%s/%s: flags '%s', want '%s'" % (f["display"], name, sysf,
                                                              "".join(sorted(m["sys"]))))
            k = set(km.get(ord(c) - 97, "?" + c) for c in kwl)
            if k != m["keywords"]:
                probs.append("%s/%s: keywords %s, want %s" % (f["display"], name, sorted(k),
                                                              sorted(m["keywords"])))
            if mtime != m["mtime"]:
                probs.append("%s/%s: mtime %d, want %d" % (f["display"], name, mtime, m["mtime"]))
            if mode != 0o600:
                probs.append("%s/%s: mode %o" % (f["display"], name, mode))
    rep.all("export %s holds every message under its Maildir name with the same bytes, flags, "
            "keywords and mtime (%d messages)" % (what, n), probs)
    rep.all("export %s keeps every source folder, empty ones included" % what, fprobs)


def export_maildir_archive(src, archive, out, fmts):
    os.makedirs(out, exist_ok=True)
    for fmt in fmts:
        dest = os.path.join(out, fmt + ("" if fmt in ("maildir", "mbox") else "." + fmt))
        p = export(archive, fmt, dest)
        if not rep.check(p.returncode == 0, "export --format %s exits 0" % fmt, errtext(p)):
            if not os.path.exists(dest):
                continue
        mp = []
        if fmt == "maildir":
            mode_problems(dest, mp)
            rep.all("export --format maildir makes files 0600 and directories 0700", mp)
            check_tree_against_maildir(src, tree_from_dir(dest), "maildir")
        elif fmt in ("tar", "zip"):
            st = os.stat(dest)
            if stat.S_IMODE(st.st_mode) != 0o600:
                mp.append("the %s file is %o" % (fmt, stat.S_IMODE(st.st_mode)))
            t = tree_from_tar(dest, mp) if fmt == "tar" else tree_from_zip(dest, mp)
            rep.all("export --format %s: the file is 0600, members 0600 / directories 0700, "
                    "with Unix mtimes" % fmt, mp)
            check_tree_against_maildir(src, t, fmt)
        elif fmt == "mbox":
            mode_problems(dest, mp)
            rep.all("export --format mbox makes files 0600 and directories 0700", mp)
            check_mbox_export_of_maildir(src, dest)


def mbox_file_name(display):
    return "INBOX.mbox" if display == "INBOX" else display + ".mbox"


def check_mbox_export_of_maildir(src, dest):
    probs, fprobs = [], []
    n = 0
    for f in read_maildir(src):
        path = os.path.join(dest, mbox_file_name(f["display"]))
        if not os.path.exists(path):
            if f["messages"]:
                fprobs.append("no %s" % path)
            continue
        got = read_mbox(path)
        if len(got) != len(f["messages"]):
            probs.append("%s: %d messages, want %d" % (path, len(got), len(f["messages"])))
        for (frm, data), m in zip(got, f["messages"]):
            n += 1
            want = load(m["path"])
            # An mbox message ends in a line end: one is added where the
            # message has none (the format cannot say otherwise).
            if want and not want.endswith(b"\n"):
                want += b"\n"
            if mboxrd_unquote(data) != want:
                probs.append("%s: %s: bytes differ (%d vs %d)" % (f["display"], m["name"],
                                                                 len(data), len(want)))
            wf = ("MAILER-DAEMON " + asctime_utc(m["mtime"])).encode()
            if frm != wf:
                probs.append("%s: %s: From_ line '%s', want '%s'" % (f["display"], m["name"],
                                                                     frm.decode(), wf.decode()))
    rep.all("export --format mbox: one mboxrd file per folder, each message's bytes (after "
            "mboxrd unquoting) and a From_ line dated by INTERNALDATE (%d messages)" % n, probs)
    rep.all("export --format mbox has a file for every non-empty folder", fprobs)


def export_mbox_archive(src, archive, out, fmts):
    exp = mbox_expect(src, "mboxrd")
    os.makedirs(out, exist_ok=True)
    for fmt in fmts:
        dest = os.path.join(out, fmt + ("" if fmt in ("maildir", "mbox") else "." + fmt))
        p = export(archive, fmt, dest)
        err = p.stderr.decode("utf-8", "replace")
        dropped_possible = any(len(m["kws"]) > 0 for m in exp)
        if fmt == "mbox":
            rep.check(p.returncode == 0, "export --format mbox of an mbox pull exits 0", errtext(p))
            got = read_mbox(os.path.join(dest, "INBOX.mbox")) if \
                os.path.exists(os.path.join(dest, "INBOX.mbox")) else []
            probs = []
            if len(got) != len(exp):
                probs.append("%d messages, want %d" % (len(got), len(exp)))
            for i, ((frm, data), m) in enumerate(zip(got, exp)):
                want = m["data"]
                if want and not want.endswith(b"\n"):
                    want += b"\n"
                if mboxrd_unquote(data) != want:
                    probs.append("message %d: bytes differ (%d vs %d)" % (i + 1, len(data), len(want)))
                if frm != m["from"]:
                    probs.append("message %d: From_ line %r, want %r" % (i + 1, frm, m["from"]))
            rep.all("export --format mbox of an mbox pull gives back every message and its "
                    "original From_ line (%d messages)" % len(exp), probs)
            continue
        # Maildir-shaped exports: more than 26 keywords in a folder cannot be
        # written; the export says which it left out and exits 10.
        nkw = len(set(k for m in exp for k in m["kws"]))
        want_rc = 10 if nkw > 26 else 0
        rep.check(p.returncode == want_rc,
                  "export --format %s of an mbox pull with %d keywords exits %d" % (fmt, nkw, want_rc),
                  "exit %d: %s" % (p.returncode, errtext(p)))
        mp = []
        if fmt == "maildir":
            mode_problems(dest, mp)
            t = tree_from_dir(dest)
        elif fmt == "tar":
            t = tree_from_tar(dest, mp)
        else:
            t = tree_from_zip(dest, mp)
        rep.all("export --format %s of an mbox pull: modes 0600/0700 and Unix mtimes" % fmt, mp)
        folders, kws = t.folders()
        km = kwmap(kws.get(b"INBOX"))
        msgs = folders.get(b"INBOX", {})

        def counter(name):
            m = re.search(r"_(\d+)\.mbox-vault", name)
            return int(m.group(1)) if m else -1

        names = sorted(msgs, key=counter)
        probs = []
        if len(names) != len(exp):
            probs.append("%d messages, want %d" % (len(names), len(exp)))
        kept = set(km.values())
        for name, m in zip(names, exp):
            data, mtime, mode = msgs[name]
            base, sysf, kwl = parse_info(name)
            if data != m["data"]:
                probs.append("%s: bytes differ" % name)
            fl = set(FLAG_NAME[c] for c in sysf)
            if fl != m["flags"]:
                probs.append("%s: flags %s, want %s" % (name, sorted(fl), sorted(m["flags"])))
            k = set(km.get(ord(c) - 97, "?") for c in kwl)
            if k != set(m["kws"]) & kept:
                probs.append("%s: keywords %s, want %s" % (name, sorted(k), sorted(set(m["kws"]) & kept)))
            when = parse_asctime(m["from"].decode().split(" ", 1)[1])
            if mtime != when:
                probs.append("%s: mtime %d, want %d (From_ date)" % (name, mtime, when))
        for k in set(kk for m in exp for kk in m["kws"]) - kept:
            if k not in err:
                probs.append("keyword %s left out without a warning" % k)
        if len(kept) > 26:
            probs.append("%d keywords in one Maildir folder" % len(kept))
        rep.all("export --format %s of an mbox pull: every message's bytes, flags, mtime, and "
                "the keywords that fit (the others named in a warning)" % fmt, probs)


def main():
    a = sys.argv[1:]
    try:
        if a[0] == "ls-cat-maildir":
            ls_cat_maildir(a[1], a[2])
        elif a[0] == "ls-cat-mbox":
            ls_cat_mbox(a[1], a[2], a[3])
        elif a[0] == "export-maildir":
            export_maildir_archive(a[1], a[2], a[3], a[4:] or ["maildir", "mbox", "tar", "zip"])
        elif a[0] == "export-mbox":
            export_mbox_archive(a[1], a[2], a[3], a[4:] or ["maildir", "mbox", "tar", "zip"])
        else:
            print(__doc__)
            sys.exit(2)
    finally:
        run.summary()
    rep.exit()


if __name__ == "__main__":
    main()
