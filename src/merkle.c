/*
 * merkle.c - RFC 9162 Merkle tree hashes, inclusion and consistency proofs;
 * see merkle.h.
 *
 * The RFC defines MTH, PATH and SUBPROOF recursively over slices of the
 * leaf list.  Here each definition is a loop that walks the tree from the
 * root down, keeping only (offset, size) of the current subtree, so a root
 * or a proof over n leaves costs at most n - 1 node hashes and one frontier
 * (about 2 KiB) of stack, and the leaf array is never copied.  Verification
 * follows the bit-shifting algorithms of RFC 9162 sections 2.1.3.2 and
 * 2.1.4.2 step by step, after first checking that the proof has exactly the
 * length the sizes call for.
 */
#include "merkle.h"

#include <string.h>

#include "sha256.h"

/* RFC 9162 section 2.1.1: leaves and nodes are hashed in separate domains. */
static const uint8_t leaf_prefix = 0x00;
static const uint8_t node_prefix = 0x01;

/* The header's bound: a tree has at most 2^63 leaves. */
#define MAX_LEAVES ((uint64_t)1 << 63)

/* Number of significant bits in x: 0 for 0, 64 for 2^63 and above. */
static unsigned bit_length(uint64_t x)
{
	return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static unsigned popcount64(uint64_t x)
{
	return (unsigned)__builtin_popcountll(x);
}

/* x >> s without the undefined behaviour of shifting by 64. */
static uint64_t shr(uint64_t x, unsigned s)
{
	return s >= 64 ? 0 : x >> s;
}

/*
 * The largest power of two strictly below size (size >= 2): RFC 9162's k,
 * the number of leaves in the left subtree of a tree of `size` leaves.
 */
static uint64_t split_point(uint64_t size)
{
	return (uint64_t)1 << (bit_length(size - 1) - 1);
}

/*
 * Length of the inclusion path for leaf index in a tree of n leaves
 * (index < n <= 2^63).  Compare the path from the root to the leaf with the
 * path to the last leaf, n - 1.  Below the level where the two part (the
 * highest bit in which index and n - 1 differ) the leaf sits inside a
 * perfect subtree and every level contributes a sibling: that is `inner`.
 * Above it the leaf's ancestors lie on the right edge of the tree, where a
 * node has a sibling only if it is a right child, that is, for each set
 * bit of index above `inner`.
 */
static size_t inclusion_len(uint64_t index, uint64_t n)
{
	unsigned inner = bit_length(index ^ (n - 1));

	return inner + popcount64(shr(index, inner));
}

/*
 * Length of the consistency proof between sizes m and n (0 < m < n <=
 * 2^63).  It is the inclusion path of the old tree's last leaf, m - 1,
 * less the ctz(m) lowest levels, which lie inside the perfect subtree that
 * ends at leaf m - 1 and that the proof names by its root instead.  That
 * root is the proof's first hash unless m is a power of two, when it is
 * the old root itself and is left out.  (ctz(m) < inner whenever m < n.)
 */
static size_t consistency_len(uint64_t m, uint64_t n)
{
	unsigned inner = bit_length((m - 1) ^ (n - 1));
	unsigned shift = (unsigned)__builtin_ctzll(m);
	size_t seed = (m & (m - 1)) == 0 ? 0 : 1;

	return (inner - shift) + popcount64(shr(m - 1, inner)) + seed;
}

/* ---- hashes ---------------------------------------------------------- */

void mv_merkle_leaf_hash(mv_mhash out, const void *data, size_t n)
{
	mv_sha256_3(out, &leaf_prefix, 1, data, n, NULL, 0);
}

void mv_merkle_leaf_hash2(mv_mhash out, const void *a, size_t alen,
			  const void *b, size_t blen)
{
	mv_sha256_3(out, &leaf_prefix, 1, a, alen, b, blen);
}

void mv_merkle_node_hash(mv_mhash out, const mv_mhash left, const mv_mhash right)
{
	/* A copy lets out alias left or right, which the loops below rely on. */
	mv_mhash h;

	mv_sha256_3(h, &node_prefix, 1, left, MV_MERKLE_HASH, right,
		    MV_MERKLE_HASH);
	memcpy(out, h, MV_MERKLE_HASH);
}

/* ---- frontier -------------------------------------------------------- */

void mv_frontier_init(struct mv_frontier *f)
{
	memset(f, 0, sizeof *f);
}

int mv_frontier_valid(const struct mv_frontier *f)
{
	return f->size < MAX_LEAVES && f->count == popcount64(f->size);
}

void mv_frontier_add(struct mv_frontier *f, const mv_mhash leaf)
{
	/*
	 * There is no error to return: an invalid frontier (one read from a
	 * damaged file, say) or one that would pass 2^63 - 1 leaves is left
	 * as it is, so its size shows the leaf was not taken.
	 */
	if (!mv_frontier_valid(f) || f->size == MAX_LEAVES - 1)
		return;
	memcpy(f->hash[f->count], leaf, MV_MERKLE_HASH);
	f->count++;
	/*
	 * Each trailing one bit of the old size is a perfect subtree of the
	 * same size as the one being completed: merge them, smallest first,
	 * as binary addition carries.
	 */
	for (uint64_t s = f->size; s & 1; s >>= 1) {
		mv_merkle_node_hash(f->hash[f->count - 2], f->hash[f->count - 2],
				    f->hash[f->count - 1]);
		f->count--;
	}
	f->size++;
}

void mv_frontier_root(const struct mv_frontier *f, mv_mhash root)
{
	mv_mhash r;

	if (!mv_frontier_valid(f)) {
		/* Never a real root (short of inverting SHA-256). */
		memset(root, 0, MV_MERKLE_HASH);
		return;
	}
	if (f->count == 0) {
		mv_sha256(root, NULL, 0);
		return;
	}
	/*
	 * RFC 9162 splits n leaves into a perfect left subtree of the
	 * largest power of two below n and the rest, so the root is the
	 * right fold h0 . (h1 . (... . hk)) of the frontier.
	 */
	memcpy(r, f->hash[f->count - 1], MV_MERKLE_HASH);
	for (unsigned i = f->count - 1; i-- > 0;)
		mv_merkle_node_hash(r, f->hash[i], r);
	memcpy(root, r, MV_MERKLE_HASH);
}

/* ---- roots and proofs ------------------------------------------------ */

void mv_merkle_root(const mv_mhash *leaves, uint64_t n, mv_mhash root)
{
	struct mv_frontier f;

	mv_frontier_init(&f);
	for (uint64_t i = 0; i < n; i++)
		mv_frontier_add(&f, leaves[i]);
	mv_frontier_root(&f, root);
}

enum mv_err mv_merkle_inclusion_proof(const mv_mhash *leaves, uint64_t n,
				      uint64_t index, mv_mhash *path,
				      size_t *pathlen)
{
	uint64_t lo = 0, size = n, idx = index;
	size_t len, d = 0;

	*pathlen = 0;
	if (index >= n || n > MAX_LEAVES)
		return MV_E_USAGE;
	len = inclusion_len(index, n);
	/*
	 * RFC 9162 section 2.1.3.1, PATH(m, D[n]): the sibling of each
	 * subtree on the way down.  PATH lists them leaf first, and this
	 * loop meets them root first, so it fills the path from the end.
	 * The siblings are disjoint ranges, so their roots cost < n hashes.
	 */
	while (size > 1) {
		uint64_t k = split_point(size);

		if (d >= len)
			return MV_E_INTERNAL;
		if (idx < k) {
			mv_merkle_root(leaves + lo + k, size - k, path[len - 1 - d]);
			size = k;
		} else {
			mv_merkle_root(leaves + lo, k, path[len - 1 - d]);
			lo += k;
			idx -= k;
			size -= k;
		}
		d++;
	}
	if (d != len)
		return MV_E_INTERNAL;
	*pathlen = len;
	return MV_OK;
}

int mv_merkle_inclusion_verify(uint64_t index, uint64_t n, const mv_mhash leaf,
			       const mv_mhash *path, size_t pathlen,
			       const mv_mhash root)
{
	uint64_t fn, sn;
	mv_mhash r;

	/* RFC 9162 section 2.1.3.2, step 1, plus an exact length check. */
	if (n > MAX_LEAVES || index >= n)
		return 0;
	if (pathlen != inclusion_len(index, n))
		return 0;
	/* Steps 2 and 3. */
	fn = index;
	sn = n - 1;
	memcpy(r, leaf, MV_MERKLE_HASH);
	/* Step 4. */
	for (size_t i = 0; i < pathlen; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			mv_merkle_node_hash(r, path[i], r);
			/* Skip the levels where this node has no sibling. */
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			mv_merkle_node_hash(r, r, path[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* Step 5. */
	return sn == 0 && memcmp(r, root, MV_MERKLE_HASH) == 0;
}

enum mv_err mv_merkle_consistency_proof(const mv_mhash *leaves, uint64_t n,
					uint64_t m, mv_mhash *path,
					size_t *pathlen)
{
	uint64_t lo = 0, size = n, mm = m;
	size_t len, d = 0;
	/* SUBPROOF's b: the current subtree's root is the old root itself. */
	int whole = 1;

	*pathlen = 0;
	if (m == 0 || m > n || n > MAX_LEAVES)
		return MV_E_USAGE;
	if (m == n)
		return MV_OK;
	len = consistency_len(m, n);
	/*
	 * RFC 9162 section 2.1.4.1, SUBPROOF(m, D[n], b), walked root first
	 * like PATH above: siblings are stored from the end of the path, and
	 * the subtree where the walk stops, if it is not the old root, comes
	 * first.  All the ranges hashed are disjoint, so this costs < n hashes.
	 */
	while (mm != size) {
		uint64_t k = split_point(size);

		if (d >= len)
			return MV_E_INTERNAL;
		if (mm <= k) {
			mv_merkle_root(leaves + lo + k, size - k, path[len - 1 - d]);
			size = k;
		} else {
			mv_merkle_root(leaves + lo, k, path[len - 1 - d]);
			lo += k;
			mm -= k;
			size -= k;
			whole = 0;
		}
		d++;
	}
	if (!whole) {
		if (d >= len)
			return MV_E_INTERNAL;
		mv_merkle_root(leaves + lo, size, path[0]);
		d++;
	}
	if (d != len)
		return MV_E_INTERNAL;
	*pathlen = len;
	return MV_OK;
}

int mv_merkle_consistency_verify(uint64_t m, uint64_t n, const mv_mhash root_m,
				 const mv_mhash root_n, const mv_mhash *path,
				 size_t pathlen)
{
	uint64_t fn, sn;
	mv_mhash fr, sr;
	size_t i = 0;

	/* The empty tree is a prefix of everything; the contract refuses it. */
	if (m == 0 || m > n || n > MAX_LEAVES)
		return 0;
	if (m == n)
		return pathlen == 0 &&
		       memcmp(root_m, root_n, MV_MERKLE_HASH) == 0;
	/* RFC 9162 section 2.1.4.2, step 1, as an exact length check. */
	if (pathlen != consistency_len(m, n))
		return 0;
	/*
	 * Steps 2 and 5: a power-of-two old tree is itself a node of the new
	 * one, so the proof leaves it out and the old root seeds the walk;
	 * otherwise the proof's first hash does.
	 */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root_m, MV_MERKLE_HASH);
	} else {
		memcpy(fr, path[0], MV_MERKLE_HASH);
		i = 1;
	}
	memcpy(sr, fr, MV_MERKLE_HASH);
	/* Steps 3 and 4. */
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* Step 6. */
	for (; i < pathlen; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			mv_merkle_node_hash(fr, path[i], fr);
			mv_merkle_node_hash(sr, path[i], sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			mv_merkle_node_hash(sr, sr, path[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* Step 7. */
	return sn == 0 && memcmp(fr, root_m, MV_MERKLE_HASH) == 0 &&
	       memcmp(sr, root_n, MV_MERKLE_HASH) == 0;
}
