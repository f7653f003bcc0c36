#!/usr/bin/env python3
"""gen_merkle.py - writes the Merkle proof vectors in vectors/merkle/.

This is a second, independent implementation of RFC 9162 section 2.1 in
Python (hashlib only).  It follows the RFC's recursive definitions of MTH,
PATH and SUBPROOF literally and verifies proofs by rebuilding the roots
along the same recursion, where src/merkle.c uses loops and the RFC's
bit-shifting verifiers: the two agree only if both are right.

Every good vector is checked to verify here, and every mutated copy to
fail here, before it is written; tests/unit/test_merkle_vectors.c then
checks the C code against the files.  The file format is described in
vectors/merkle/README.md.

Usage: gen_merkle.py [OUTDIR]   (default: vectors/merkle beside tests/)
The output is deterministic; commit it.
"""

import hashlib
import os
import sys

def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def split_point(n):
    """RFC 9162 k: the largest power of two strictly below n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes):
    """MTH over a list of leaf hashes (RFC 9162 section 2.1.1)."""
    n = len(hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hashes[0]
    k = split_point(n)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def path(m, hashes):
    """PATH(m, D[n]) (RFC 9162 section 2.1.3.1)."""
    n = len(hashes)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return path(m, hashes[:k]) + [mth(hashes[k:])]
    return path(m - k, hashes[k:]) + [mth(hashes[:k])]


def subproof(m, hashes, b):
    """SUBPROOF(m, D[n], b) (RFC 9162 section 2.1.4.1)."""
    n = len(hashes)
    if m == n:
        return [] if b else [mth(hashes)]
    k = split_point(n)
    if m <= k:
        return subproof(m, hashes[:k], b) + [mth(hashes[k:])]
    return subproof(m - k, hashes[k:], False) + [mth(hashes[:k])]


def proof(m, hashes):
    """PROOF(m, D[n]) for 0 < m <= n."""
    return subproof(m, hashes, True)


def root_from_path(index, size, leaf, p):
    """Rebuilds the root along PATH's recursion; None if p has the wrong
    shape for (index, size)."""
    if size == 1:
        return leaf if not p else None
    if not p:
        return None
    k = split_point(size)
    if index < k:
        r = root_from_path(index, k, leaf, p[:-1])
        return None if r is None else node_hash(r, p[-1])
    r = root_from_path(index - k, size - k, leaf, p[:-1])
    return None if r is None else node_hash(p[-1], r)


def verify_inclusion(index, size, leaf, p, root):
    if size < 1 or size > 1 << 63 or index >= size:
        return False
    return root_from_path(index, size, leaf, p) == root


def roots_from_subproof(m, n, p, b, old_root):
    """Rebuilds (old subtree root, new subtree root) along SUBPROOF's
    recursion; None if p has the wrong shape for (m, n)."""
    if m == n:
        if b:
            return (old_root, old_root) if not p else None
        return (p[0], p[0]) if len(p) == 1 else None
    if not p:
        return None
    k = split_point(n)
    if m <= k:
        r = roots_from_subproof(m, k, p[:-1], b, old_root)
        return None if r is None else (r[0], node_hash(r[1], p[-1]))
    r = roots_from_subproof(m - k, n - k, p[:-1], False, old_root)
    if r is None:
        return None
    return (node_hash(p[-1], r[0]), node_hash(p[-1], r[1]))


def verify_consistency(m, n, old_root, new_root, p):
    # The project's contract refuses m == 0 (RFC 9162 would accept it).
    if m < 1 or m > n or n > 1 << 63:
        return False
    if m == n:
        return not p and old_root == new_root
    r = roots_from_subproof(m, n, p, True, old_root)
    return r is not None and r == (old_root, new_root)


# ---- leaf data ------------------------------------------------------------

# The RFC 6962 test leaves used by the Certificate Transparency and
# transparency-dev test suites; the roots are the published ones.
RFC6962_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
RFC6962_ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]


def decimal_leaves(count):
    """The default leaf data: leaf i is the ASCII decimal of i."""
    return [str(i).encode("ascii") for i in range(count)]


# ---- mutations ------------------------------------------------------------

def flip(h, byte=0, bit=0):
    b = bytearray(h)
    b[byte] ^= 1 << bit
    return bytes(b)


def inclusion_mutants(v):
    """Yields (tag, reason, changes) for an inclusion vector."""
    i, n, p = v["index"], v["size"], v["path"]
    if p:
        yield ("flip-path0", "bit 0 of byte 0 of path[0] flipped",
               {"path": [flip(p[0])] + p[1:]})
        if len(p) > 1:
            yield ("flip-pathlast", "bit 7 of byte 31 of the last path hash flipped",
                   {"path": p[:-1] + [flip(p[-1], 31, 7)]})
        yield ("drop-last", "last path hash removed", {"path": p[:-1]})
    if len(p) > 1 and p[0] != p[1]:
        yield ("swap01", "path[0] and path[1] swapped",
               {"path": [p[1], p[0]] + p[2:]})
    yield ("append-root", "root appended to the path", {"path": p + [v["root"]]})
    if i > 0:
        yield ("index-minus1", "index - 1", {"index": i - 1})
    if i + 1 < n:
        yield ("index-plus1", "index + 1", {"index": i + 1})
    yield ("index-eq-size", "index equal to the size (out of range)",
           {"index": n})
    yield ("size-plus1", "size + 1", {"size": n + 1})
    yield ("size-double", "size * 2", {"size": n * 2})
    yield ("flip-root", "bit 0 of byte 0 of the root flipped",
           {"root": flip(v["root"])})
    yield ("flip-leaf", "bit 3 of byte 5 of the leaf hash flipped",
           {"leaf-hash": flip(v["leaf-hash"], 5, 3)})
    yield ("raw-leaf", "leaf data hashed without the 0x00 prefix",
           {"leaf-hash": sha256(v["leaf-data"])})


def consistency_mutants(v):
    m, n, p = v["old"], v["new"], v["path"]
    r1, r2 = v["old-root"], v["new-root"]
    if p:
        yield ("flip-path0", "bit 4 of byte 0 of path[0] flipped",
               {"path": [flip(p[0], 0, 4)] + p[1:]})
        if len(p) > 1:
            yield ("flip-pathlast", "bit 7 of byte 31 of the last path hash flipped",
                   {"path": p[:-1] + [flip(p[-1], 31, 7)]})
        yield ("drop-last", "last path hash removed", {"path": p[:-1]})
        yield ("empty-path", "empty path", {"path": []})
    if len(p) > 1 and p[0] != p[1]:
        yield ("swap01", "path[0] and path[1] swapped",
               {"path": [p[1], p[0]] + p[2:]})
    yield ("append-newroot", "new root appended to the path", {"path": p + [r2]})
    if m > 1:
        yield ("old-minus1", "old size - 1", {"old": m - 1})
    if m < n:
        yield ("old-plus1", "old size + 1", {"old": m + 1})
    yield ("old-zero", "old size 0", {"old": 0})
    yield ("old-gt-new", "old size greater than new size", {"old": n + 1})
    yield ("new-plus1", "new size + 1", {"new": n + 1})
    yield ("new-double", "new size * 2", {"new": n * 2})
    if r1 != r2:
        yield ("swap-roots", "old and new roots swapped",
               {"old-root": r2, "new-root": r1})
    yield ("flip-oldroot", "bit 0 of byte 0 of the old root flipped",
           {"old-root": flip(r1)})
    yield ("flip-newroot", "bit 0 of byte 0 of the new root flipped",
           {"new-root": flip(r2)})


# ---- vectors --------------------------------------------------------------

def inclusion_vector(data, explicit, index, reason):
    hashes = [leaf_hash(d) for d in data]
    v = {"kind": "inclusion", "expect": "ok", "reason": reason,
         "leaves": len(data), "explicit": explicit, "data": data,
         "size": len(data), "index": index,
         "leaf-data": data[index], "leaf-hash": hashes[index],
         "root": mth(hashes), "path": path(index, hashes)}
    assert verify_inclusion(v["index"], v["size"], v["leaf-hash"], v["path"],
                            v["root"]), v
    return v


def consistency_vector(data, explicit, m, reason):
    hashes = [leaf_hash(d) for d in data]
    v = {"kind": "consistency", "expect": "ok", "reason": reason,
         "leaves": len(data), "explicit": explicit, "data": data,
         "old": m, "new": len(data), "old-root": mth(hashes[:m]),
         "new-root": mth(hashes), "path": proof(m, hashes)}
    assert verify_consistency(v["old"], v["new"], v["old-root"],
                              v["new-root"], v["path"]), v
    return v


def verifies(v):
    if v["kind"] == "inclusion":
        return verify_inclusion(v["index"], v["size"], v["leaf-hash"],
                                v["path"], v["root"])
    return verify_consistency(v["old"], v["new"], v["old-root"],
                              v["new-root"], v["path"])


def render(v):
    out = ["# Generated by tests/vectors/gen_merkle.py; do not edit.",
           "kind: " + v["kind"],
           "expect: " + v["expect"],
           "reason: " + v["reason"],
           "leaves: %d" % v["leaves"]]
    if v["explicit"]:
        out += ["leaf: " + d.hex() for d in v["data"]]
    if v["kind"] == "inclusion":
        out += ["size: %d" % v["size"], "index: %d" % v["index"],
                "leaf-hash: " + v["leaf-hash"].hex(),
                "root: " + v["root"].hex()]
    else:
        out += ["old: %d" % v["old"], "new: %d" % v["new"],
                "old-root: " + v["old-root"].hex(),
                "new-root: " + v["new-root"].hex()]
    out += ["path: " + h.hex() for h in v["path"]]
    return "\n".join(out) + "\n"


def good_vectors():
    rfc = RFC6962_LEAVES
    hashes = [leaf_hash(d) for d in rfc]
    for n in range(len(rfc) + 1):
        assert mth(hashes[:n]) == RFC6962_ROOTS[n], n
    # Two of the published paths, as a check on this implementation.
    assert [h.hex()[:8] for h in path(5, hashes)] == \
        ["bc1a0643", "ca854ea1", "d37ee418"]
    assert [h.hex()[:8] for h in proof(6, hashes[:7])] == \
        ["0ebc5d34", "b08693ec", "d37ee418"]

    # (name, vector)
    for n, i in ((1, 0), (2, 0), (2, 1), (3, 2), (5, 1), (8, 0), (8, 5)):
        yield ("rfc6962-incl-n%d-i%d" % (n, i),
               inclusion_vector(rfc[:n], True, i,
                                "RFC 6962 test leaves, published path"))
    for m, n in ((1, 1), (1, 8), (2, 5), (6, 8), (6, 7)):
        yield ("rfc6962-cons-m%d-n%d" % (m, n),
               consistency_vector(rfc[:n], True, m,
                                  "RFC 6962 test leaves, published proof"))

    for n, indices in ((1, (0,)), (2, (0, 1)), (7, (0, 3, 6)),
                       (8, (0, 5, 7)), (9, (0, 7, 8)),
                       (1000, (0, 511, 512, 733, 999))):
        data = decimal_leaves(n)
        for i in indices:
            yield ("incl-n%04d-i%04d" % (n, i),
                   inclusion_vector(data, False, i,
                                    "leaf %d of %d decimal leaves" % (i, n)))

    for m, n, why in ((1, 1, "m = n = 1"), (7, 7, "m = n"),
                      (1, 2, "m = 1"), (1, 7, "m = 1"), (2, 7, "m power of two"),
                      (3, 7, "m not a power of two"),
                      (4, 9, "m power of two"), (7, 8, "m not a power of two"),
                      (8, 9, "m power of two, n = m + 1"),
                      (5, 9, "m not a power of two"),
                      (1, 1000, "m = 1"), (512, 1000, "m power of two"),
                      (333, 1000, "m not a power of two"),
                      (999, 1000, "m = n - 1"), (1000, 1000, "m = n")):
        yield ("cons-m%04d-n%04d" % (m, n),
               consistency_vector(decimal_leaves(n), False, m,
                                  "%s (decimal leaves)" % why))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
        os.path.join(here, "..", "..", "vectors", "merkle"))
    os.makedirs(outdir, exist_ok=True)
    for name in os.listdir(outdir):
        if name.endswith(".vec"):
            os.remove(os.path.join(outdir, name))

    files = {}
    n_ok = n_fail = n_skip = 0
    for name, v in good_vectors():
        files[name + "-ok.vec"] = render(v)
        n_ok += 1
        muts = inclusion_mutants(v) if v["kind"] == "inclusion" \
            else consistency_mutants(v)
        seen = {render(v)}
        before = n_fail
        for tag, reason, changes in muts:
            w = dict(v)
            w.update(changes)
            w["expect"] = "fail"
            w["reason"] = reason
            text = render(w)
            # A wrong size can still verify when it gives the proof the
            # same shape (for example leaf 0 of 8 and of 7): such a claim
            # is equivalent, not forged, so it is not a must-fail vector.
            if verifies(w) or text in seen:
                n_skip += 1
                continue
            seen.add(text)
            files[name + "-fail-" + tag + ".vec"] = text
            n_fail += 1
        assert n_fail - before >= 3, name

    for fname in sorted(files):
        with open(os.path.join(outdir, fname), "w", encoding="ascii") as f:
            f.write(files[fname])
    print("wrote %d files (%d ok, %d fail; %d mutations skipped as "
          "equivalent or duplicate) to %s" %
          (len(files), n_ok, n_fail, n_skip, outdir))


if __name__ == "__main__":
    main()
