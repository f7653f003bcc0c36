#!/usr/bin/env python3
"""crash.py - crash safety of pull (format-spec section 10), driven from t30.

usage:
  crash.py sweep V1 SRC SRC_V1 WORK [--checkpoint-mb N]
      Finds W, the number of write(2) calls a pull of Maildir SRC onto a
      copy of archive V1 (made from Maildir SRC_V1) makes (test build,
      MV_TEST_CRASH_WRITES), then for N in 0..W-1 (every N when W <= 60,
      else about 60 spread evenly, the last writes always) kills that pull
      at its N-th write and checks what is left (see check_after_crash).
      V1 "-": the pull creates the archive.
  crash.py timed V1 SRC SRC_V1 WORK RUNS
      Same checks after kill -9 of a sanitizer-build pull at random times.
  crash.py truncate ARCHIVE
      `log` of the archive cut at every byte offset.

The archive is read independently (frames, trailers, COMMIT records) to
know which versions are wholly on disk and how long the torn tail is.
Rollback state lives in $HOME/.local/state; it is reset to a snapshot
(HOME/state-v1) before each crash run, as if the crash happened right after
version 1 had been seen.
"""
import concurrent.futures
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mvlib import (FLAG_NAME, MAGIC, Report, Runner, crashed, errtext, imap_date,  # noqa: E402
                   load, parse_ls, read_maildir)

rep = Report()
run = Runner(rep)
MV_TEST = os.environ["MV_TEST"]
HOME = os.environ["HOME"]
STATE = os.path.join(HOME, ".local", "state")
SNAP = os.path.join(HOME, "state-v1")


def committed(data):
    """Walks valid records from the start: returns (list of (commit number,
    kind, end offset)), end of the last valid COMMIT (or None)."""
    out = []
    if data[:8] != MAGIC:
        return out, None
    off = 8
    seq = 0
    last_end = None
    while off + 16 <= len(data):
        ln = int.from_bytes(data[off + 4:off + 8], "little")
        end = off + 16 + ln + 32
        if end > len(data):
            break
        body = data[off:off + 16 + ln]
        if hashlib.sha256(b"\x00" + body).digest() != data[off + 16 + ln:end]:
            break
        if int.from_bytes(data[off + 8:off + 16], "little") != seq:
            break
        if data[off] == 6:
            n = int.from_bytes(data[off + 16:off + 20], "little")
            out.append((n, data[off + 20], end))
            last_end = end
        off = end
        seq += 1
    return out, last_end


LOG_LINE = re.compile(r"^version (\d+)  (\S+)")


def log_versions(text):
    return [int(m.group(1)) for m in (LOG_LINE.match(l) for l in text.split("\n")) if m]


def reset_state():
    """The rollback state as it was right after version 1."""
    shutil.rmtree(STATE, ignore_errors=True)
    if os.path.isdir(SNAP):
        shutil.copytree(SNAP, STATE)


def reset(v1, arch):
    if v1 == "-":
        if os.path.exists(arch):
            os.unlink(arch)
    else:
        shutil.copyfile(v1, arch)
        os.chmod(arch, 0o600)
    reset_state()


def pull_args(src, arch, ckpt):
    a = ["pull", "maildir:" + src, arch]
    if ckpt:
        a += ["--checkpoint-mb", str(ckpt)]
    return a


def crash_pull(src, arch, ckpt, n):
    env = dict(os.environ, MV_TEST_CRASH_WRITES=str(n))
    p = subprocess.run([MV_TEST] + pull_args(src, arch, ckpt), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL)
    return p.returncode


def expected_listing(src, src_v1):
    """(folder, uid) -> (size, date, flags) from Python reading the Maildirs:
    names already in version 1 (src_v1) keep UIDs 1..k in name order, new
    names follow in name order (UIDs stay with Maildir unique names)."""
    old = {}
    if src_v1:
        for f in read_maildir(src_v1):
            old[f["display"]] = [m["base"] for m in f["messages"]]
    out, names = {}, {}
    for f in read_maildir(src):
        known = old.get(f["display"], [])
        fresh = [m for m in f["messages"] if m["base"] not in known]
        uid = {b: i + 1 for i, b in enumerate(known)}
        for i, m in enumerate(fresh):
            uid[m["base"]] = len(known) + i + 1
        for m in f["messages"]:
            key = (f["display"], uid[m["base"]])
            out[key] = (m["size"], imap_date(m["mtime"]),
                        " ".join(sorted(set(FLAG_NAME[c] for c in m["sys"]) | m["keywords"])))
            names[key] = m
    return out, names


def listing(stdout):
    ls = parse_ls(stdout.decode("utf-8", "surrogateescape"))
    got = {(f, uid): (e["size"], e["date"], " ".join(sorted(e["flags"])))
           for f, d in ls["folders"].items() for uid, e in d["entries"].items()}
    uv = {f: d.get("uidvalidity") for f, d in ls["folders"].items()}
    return got, uv


def listing_problems(got, want, names):
    probs = []
    for k in sorted(want):
        if k not in got:
            probs.append("%s/%d (%s) not listed" % (k[0], k[1], names[k]["base"]))
        elif got[k] != want[k]:
            probs.append("%s/%d (%s) listed as %s, want %s" % (k[0], k[1], names[k]["base"],
                                                             got[k], want[k]))
    extra = sorted(set(got) - set(want))
    if extra:
        probs.append("unexpected %s" % ", ".join("%s/%d" % e for e in extra[:5]))
    return probs


class Baseline:
    """What the archive must hold: version 1's listing as the binary printed
    it before any crash, and the full listing Python expects."""

    def __init__(self, v1, src, src_v1, work, ckpt):
        self.v1 = v1
        self.src = src
        self.ls_v1 = None
        self.uv_v1 = {}
        self.v1_count = 0
        if v1 != "-":
            reset_state()
            p = run.run(["ls", v1, "--version", "1"])
            if p.returncode != 0 or not p.stdout:
                rep.bad("ls --version 1 of the version-1 archive works before any crash", errtext(p))
            self.ls_v1 = p.stdout
            _, self.uv_v1 = listing(p.stdout)
            self.v1_count = sum(len(f["messages"]) for f in read_maildir(src_v1))
        self.want, self.names = expected_listing(src, src_v1 if v1 != "-" else None)
        self.nmsg = len(self.want)
        self.nnew = self.nmsg - self.v1_count
        arch = os.path.join(work, "base.mv")
        reset(v1, arch)
        p = subprocess.run([MV_TEST] + pull_args(src, arch, ckpt), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.pull_rc = p.returncode
        # The newest message of the source: its bytes are read back after
        # recovery.
        self.last_ref = max(self.names, key=lambda k: self.names[k]["base"])
        self.last_msg = self.names[self.last_ref]


def check_after_crash(base, arch, label, probs, heavy=None):
    """The checks of t30 on the archive a crash left behind.  probs is a dict
    of lists, one per behaviour."""
    data = load(arch) if os.path.exists(arch) else b""
    commits, last_end = committed(data)
    torn = len(data) - last_end if last_end is not None else len(data)
    nums = [c[0] for c in commits]
    if base.v1 != "-" and (not nums or nums[0] != 1):
        probs["v1"].append("%s: version 1 is not wholly on disk (independent reader)" % label)

    # log: every version wholly on disk, no other.
    p = run.run(["log", arch])
    if nums:
        got = log_versions(p.stdout.decode("utf-8", "replace"))
        if p.returncode != 0 or got != nums:
            probs["log"].append("%s: log exit %d versions %s, on disk %s %s" % (
                label, p.returncode, got, nums, errtext(p)))
        want_torn = "torn tail: %d bytes after version %d" % (torn, nums[-1])
        if torn and want_torn not in p.stdout.decode("utf-8", "replace"):
            probs["log"].append("%s: log does not say '%s'" % (label, want_torn))
    elif p.returncode == 0 or p.returncode >= 128:
        probs["log"].append("%s: log of an archive with no commit exits %d" % (label, p.returncode))

    # verify without a key: 0, or 5 naming the tail as recoverable.
    p = run.run(["verify", arch])
    err = p.stderr.decode("utf-8", "replace")
    if torn == 0 and nums:
        if p.returncode != 0:
            probs["verify"].append("%s: verify exit %d with no torn tail: %s" % (label, p.returncode, errtext(p)))
    elif p.returncode != 5 or "recoverable" not in err:
        probs["verify"].append("%s: verify exit %d, want 5 and 'recoverable' (tail %d bytes): %s"
                               % (label, p.returncode, torn, errtext(p)))
    elif nums and "%d bytes after version %d" % (torn, nums[-1]) not in err:
        probs["verify"].append("%s: verify does not say '%d bytes after version %d': %s"
                               % (label, torn, nums[-1], errtext(p)))

    # Version 1 still lists exactly as before; it is the default (partial
    # checkpoints are never the default).
    if base.ls_v1 is not None:
        p = run.run(["ls", arch, "--version", "1"])
        if p.returncode != 0 or p.stdout != base.ls_v1:
            probs["ls"].append("%s: ls --version 1 exit %d, %s" % (
                label, p.returncode, "same listing" if p.stdout == base.ls_v1 else "listing differs"))
        complete = [c[0] for c in commits if c[1] == 1]
        if complete and complete[-1] == 1:
            p = run.run(["ls", arch])
            if p.stdout.split(b"\n", 1)[-1] != base.ls_v1.split(b"\n", 1)[-1]:
                probs["ls"].append("%s: plain ls does not show version 1 (the newest complete)" % label)

    # The next pull completes, stores only what is not yet stored, and the
    # archive verifies.  (heavy: the binary for these 30 MB steps.)
    p = run.run(pull_args(base.src, arch, None), mv=heavy)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0 or ("%d messages" % base.nmsg) not in out:
        probs["pull"].append("%s: next pull exit %d: %s %s" % (label, p.returncode, out.strip()[:100], errtext(p)))
    m = re.search(r"stored (\d+) new", out)
    if base.v1 != "-" and m and int(m.group(1)) > base.nnew:
        probs["dedup"].append("%s: the next pull stored %s messages again, though only %d are not in "
                              "version 1" % (label, m.group(1), base.nnew))
    data2 = load(arch) if os.path.exists(arch) else b""
    commits2, end2 = committed(data2)
    if end2 != len(data2) or not commits2 or commits2[-1][1] != 1:
        probs["pull"].append("%s: after the next pull the file does not end in a complete version" % label)
    elif nums and torn and commits2[-1][0] == nums[-1] + 1:
        p = run.run(["log", arch])
        if ("(cut a torn tail of %d bytes before this version)" % torn) not in p.stdout.decode():
            probs["pull"].append("%s: log does not record the %d bytes cut" % (label, torn))
    p = run.run(["verify", arch], mv=heavy)
    if p.returncode != 0:
        probs["verify2"].append("%s: verify after the next pull exit %d: %s" % (label, p.returncode, errtext(p)))
    p = run.run(["ls", arch])
    got, uv = listing(p.stdout)
    lp = listing_problems(got, base.want, base.names)
    if lp:
        probs["all"].append("%s: %s" % (label, "; ".join(lp[:3]) + ("; ... %d more" % (len(lp) - 3) if len(lp) > 3 else "")))
    for f, v in base.uv_v1.items():
        if uv.get(f) != v:
            probs["uidvalidity"].append("%s: folder %s UIDVALIDITY %s, was %s in version 1" % (label, f, uv.get(f), v))
    p = run.run(["cat", arch, "%s/%d" % base.last_ref])
    if p.returncode != 0 or p.stdout != load(base.last_msg["path"]):
        probs["cat"].append("%s: cat %s/%d after recovery: exit %d, %d bytes" % (
            label, base.last_ref[0], base.last_ref[1], p.returncode, len(p.stdout)))


def report(probs, what, runs):
    rep.all("%s: every version on disk is in `log` and nothing else; a torn tail is reported "
            "with its exact length (%d crashes)" % (what, runs), probs["log"])
    if "creat" not in what:
        rep.all("%s: version 1 stays wholly on disk (%d crashes)" % (what, runs), probs["v1"])
        rep.all("%s: `ls --version 1` lists exactly what it did before, and is the default while "
                "only partial checkpoints follow it (%d crashes)" % (what, runs), probs["ls"])
    rep.all("%s: keyless `verify` exits 0, or 5 saying 'recoverable: N bytes after version K' "
            "(%d crashes)" % (what, runs), probs["verify"])
    rep.all("%s: the next pull exits 0, cuts the tail and records its length (%d crashes)"
            % (what, runs), probs["pull"])
    rep.all("%s: `verify` exits 0 after the next pull (%d crashes)" % (what, runs), probs["verify2"])
    rep.all("%s: after recovery `ls` lists every message under the UID Python expects (v1 names keep "
            "theirs), with its size, date and flags (%d crashes)" % (what, runs), probs["all"])
    rep.all("%s: after recovery the newest message reads back byte for byte (%d crashes)" % (what, runs),
            probs["cat"])
    if "creat" not in what:
        rep.all("%s: after recovery every folder keeps its version-1 UIDVALIDITY (%d crashes)" % (what, runs),
                probs["uidvalidity"])
        rep.all("%s: the next pull does not store version-1 messages again (dedup, %d crashes)" % (what, runs),
                probs["dedup"])


def new_probs():
    return {k: [] for k in ("v1", "log", "verify", "ls", "pull", "verify2", "all", "cat",
                            "uidvalidity", "dedup")}


def sweep(v1, src, src_v1, work, ckpt, what):
    arch = os.path.join(work, "crash.mv")
    base = Baseline(v1, src, src_v1, work, ckpt)
    if not rep.check(base.pull_rc == 0, "%s: a pull without a crash point exits 0" % what):
        return
    # W: the smallest N at which the pull is not killed.
    lo, hi = 0, 1
    while True:
        reset(v1, arch)
        rc = crash_pull(src, arch, ckpt, hi)
        if rc == 0:
            break
        if rc != -signal.SIGKILL or hi > 1 << 20:
            rep.bad("%s: a pull with MV_TEST_CRASH_WRITES=%d dies by SIGKILL or succeeds" % (what, hi),
                    "exit %d" % rc)
            return
        lo, hi = hi, hi * 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        reset(v1, arch)
        if crash_pull(src, arch, ckpt, mid) == 0:
            hi = mid
        else:
            lo = mid
    writes = hi
    print("# %s: the pull makes %d write calls" % (what, writes), flush=True)
    probs = new_probs()
    kills, early = [], []
    n = -1
    zeros = 0
    # Up to three N in a row at which the pull finishes: the number of
    # writes varies from run to run (see the reproducibility check in t30).
    # About 60 crash points spread evenly over the writes (every write
    # when there are fewer), so that the whole suite stays within its
    # time budget; the last writes (commit) are always hit.
    step = max(1, writes // 60)
    ran = 0
    while zeros < 3 and n < 4 * writes:
        n = n + 1 if n < 0 or n + step >= writes - 4 else n + step
        reset(v1, arch)
        rc = crash_pull(src, arch, ckpt, n)
        if rc == 0:
            zeros += 1
            early.append(n)
            continue
        zeros = 0
        if rc != -signal.SIGKILL:
            kills.append("N=%d: exit %d" % (n, rc))
            continue
        # The 30 MB steps run under the sanitizer build for every 4th N and
        # at the end, else with the test build (time budget).
        heavy = None if ran % 4 == 0 else MV_TEST
        check_after_crash(base, arch, "N=%d" % n, probs, heavy)
        ran += 1
    early = early[:-3]
    if early:
        print("# %s: the pull finished before write N for N in %s" % (what, early), flush=True)
    rep.all("%s: MV_TEST_CRASH_WRITES=N kills the pull by SIGKILL (or it finished first) for every "
            "N up to %d" % (what, n - 3), kills)
    rep.check(ran >= 50 or "creat" in what or not ckpt,
              "%s: the crash lands at %d distinct write calls (at least 50)" % (what, ran))
    report(probs, "%s, killed at %d of its %d write calls" % (what, ran, writes), ran)
    return writes


def timed(v1, src, src_v1, work, runs):
    arch = os.path.join(work, "timed.mv")
    base = Baseline(v1, src, src_v1, work, None)
    # How long a whole pull takes with the binary under test.
    reset(v1, arch)
    t0 = time.monotonic()
    run.run(pull_args(src, arch, 1))
    dur = time.monotonic() - t0
    rng = random.Random(os.getpid())
    probs = new_probs()
    killed = 0
    for i in range(runs):
        reset(v1, arch)
        delay = rng.uniform(0.05, 0.9) * dur
        p = subprocess.Popen([run.mv] + pull_args(src, arch, 1), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        check_after_crash(base, arch, "kill after %.3fs" % delay, probs)
    rep.check(killed >= runs - 1, "kill -9 landed while the pull ran (%d of %d runs; a pull takes %.2fs)"
              % (killed, runs, dur))
    report(probs, "kill -9 at random times", runs)


def truncate(archive):
    data = load(archive)
    commits, _ = committed(data)
    rep.check(len(commits) >= 2, "the archive to cut has at least 2 versions (%d)" % len(commits))
    cutdir = os.path.join(os.path.dirname(os.path.abspath(archive)), "cuts")
    os.makedirs(cutdir, exist_ok=True)
    # No rollback state: each cut is judged on its own bytes.
    blocker = os.path.join(cutdir, "not-a-directory")
    open(blocker, "w").close()
    env = {"XDG_STATE_HOME": os.path.join(blocker, "x")}

    def one(c):
        path = os.path.join(cutdir, "cut-%d.mv" % c)
        with open(path, "wb") as f:
            f.write(data[:c])
        p = run.run(["log", path], env=env)
        os.unlink(path)
        return c, p

    crashes, wrong, clean, unread = [], [], [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        for c, p in ex.map(one, range(0, len(data) + 1)):
            whole = [n for n, k, end in commits if end <= c]
            if crashed(p.returncode, p.stderr):
                crashes.append("cut %d: exit %d" % (c, p.returncode))
                continue
            out = p.stdout.decode("utf-8", "replace")
            if p.returncode == 0:
                got = log_versions(out)
                if got != whole:
                    wrong.append("cut %d: versions %s, wholly before the cut %s" % (c, got, whole))
                elif whole:
                    end = max(e for n, k, e in commits if n == whole[-1])
                    tail = "torn tail: %d bytes after version %d" % (c - end, whole[-1])
                    if (c > end) != (tail in out):
                        wrong.append("cut %d: torn tail not reported as '%s'" % (c, tail))
            else:
                if not p.stderr.startswith(b"mbox-vault: ") or b"\n" not in p.stderr:
                    clean.append("cut %d: exit %d without a one-line message: %r" % (c, p.returncode, p.stderr[:80]))
                if whole:
                    unread.append("cut %d: exit %d although version(s) %s lie before it: %s"
                                  % (c, p.returncode, whole, errtext(p)))
    n = len(data) + 1
    rep.all("log of the archive cut at each of %d offsets never crashes (no signal, no sanitizer report)" % n,
            crashes)
    rep.all("log of a cut archive shows exactly the versions whose COMMIT lies wholly before the cut "
            "(%d cuts)" % n, wrong)
    rep.all("log of a cut archive that it cannot read fails with one 'mbox-vault: ...' line (%d cuts)" % n,
            clean)
    rep.all("log reads every cut that keeps version 1 (the rest is a torn tail, section 10)", unread)


def main():
    a = sys.argv[1:]
    try:
        if a[0] == "sweep":
            ckpt = None
            if "--checkpoint-mb" in a:
                ckpt = int(a[a.index("--checkpoint-mb") + 1])
            what = "pull creating the archive" if a[1] == "-" else \
                "pull onto version 1%s" % (" with --checkpoint-mb %d" % ckpt if ckpt else "")
            sweep(a[1], a[2], a[3], a[4], ckpt, what)
        elif a[0] == "timed":
            timed(a[1], a[2], a[3], a[4], int(a[5]))
        elif a[0] == "truncate":
            truncate(a[1])
        else:
            print(__doc__)
            sys.exit(2)
    finally:
        run.summary()
    rep.exit()


if __name__ == "__main__":
    main()
