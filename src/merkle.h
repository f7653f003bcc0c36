/*
 * merkle.h - RFC 6962 / RFC 9162 Merkle trees over SHA-256.
 *
 * Leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left ||
 * right), the empty tree's root = SHA-256("").  Proofs are the standard
 * inclusion (audit) paths and consistency proofs of RFC 9162 section 2.1,
 * so an auditor can check them with tooling we did not write.
 *
 * The frontier is the list of roots of the perfect subtrees that make up a
 * tree of `size` leaves (one per set bit of size, largest first).  It is
 * what a commit stores so that an appending writer never rehashes the file
 * (format-spec/FORMAT.md section 7).
 */
#ifndef MV_MERKLE_H
#define MV_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MV_MERKLE_HASH 32
/* A tree has at most 2^63 leaves, so at most 63 subtrees and path nodes. */
#define MV_MERKLE_MAX_DEPTH 64

typedef uint8_t mv_mhash[MV_MERKLE_HASH];

void mv_merkle_leaf_hash(mv_mhash out, const void *data, size_t n);
/* Leaf hash of data given in two pieces (a frame and its payload). */
void mv_merkle_leaf_hash2(mv_mhash out, const void *a, size_t alen,
			  const void *b, size_t blen);
/* out may be the same array as left or right. */
void mv_merkle_node_hash(mv_mhash out, const mv_mhash left, const mv_mhash right);

struct mv_frontier {
	uint64_t size;               /* leaves so far */
	unsigned count;              /* == popcount(size) */
	mv_mhash hash[MV_MERKLE_MAX_DEPTH]; /* largest subtree first */
};

void mv_frontier_init(struct mv_frontier *f);
/*
 * Appends one leaf hash (already leaf-hashed).  It cannot fail loudly: if
 * f is not valid (see below), or already holds 2^63 - 1 leaves, f is left
 * unchanged, which the caller sees as size not growing.
 */
void mv_frontier_add(struct mv_frontier *f, const mv_mhash leaf);
/*
 * Root of the tree so far (SHA-256("") for size 0).  A frontier that is
 * not valid gets 32 zero bytes, never a real root, and count is not
 * trusted, so one read from a file may be passed here unchecked.
 */
void mv_frontier_root(const struct mv_frontier *f, mv_mhash root);
/* 1 if count matches popcount(size) and size < 2^63. */
int mv_frontier_valid(const struct mv_frontier *f);

/*
 * Root of leaves[0..n) (leaf hashes).  n may be 0.  The proof functions
 * below, like this one, cost at most n - 1 node hashes and O(log n) stack.
 */
void mv_merkle_root(const mv_mhash *leaves, uint64_t n, mv_mhash root);

/*
 * Inclusion proof for leaf `index` in the tree of the first n leaves.
 * path must have room for MV_MERKLE_MAX_DEPTH hashes; *pathlen gets the
 * number written (0 on error).  MV_E_USAGE if index >= n or n > 2^63.
 * (Both proof functions also guard their own arithmetic with
 * MV_E_INTERNAL, which the tests show never happens.)
 */
enum mv_err mv_merkle_inclusion_proof(const mv_mhash *leaves, uint64_t n,
				      uint64_t index, mv_mhash *path,
				      size_t *pathlen);
/*
 * 1 if path proves `leaf` is leaf `index` of the tree of size n with root
 * (RFC 9162 section 2.1.3.2); 0 if index >= n, n > 2^63, pathlen is not
 * exactly the length (index, n) calls for, or the hashes do not check.
 * The proof binds the leaf to the root; it binds (index, n) only through
 * the shape of the path, so another size with the same shape (leaf 0 of
 * 7 and of 8, say) also verifies.  Trust n from the signed root, not
 * from the proof.
 */
int mv_merkle_inclusion_verify(uint64_t index, uint64_t n, const mv_mhash leaf,
			       const mv_mhash *path, size_t pathlen,
			       const mv_mhash root);

/*
 * Consistency proof that the tree of the first m leaves is a prefix of the
 * tree of the first n leaves (0 < m <= n), RFC 9162 section 2.1.4.  path
 * must have room for MV_MERKLE_MAX_DEPTH hashes; *pathlen gets the number
 * written: 0 when m == n, and 0 on error.  MV_E_USAGE if m == 0, m > n or
 * n > 2^63.
 */
enum mv_err mv_merkle_consistency_proof(const mv_mhash *leaves, uint64_t n,
					uint64_t m, mv_mhash *path,
					size_t *pathlen);
/*
 * 1 if valid (RFC 9162 section 2.1.4.2).  m == n requires an empty path
 * and equal roots.  0 if m == 0 (where RFC 9162 would accept anything),
 * m > n, n > 2^63, or pathlen is not exactly the length (m, n) calls for.
 */
int mv_merkle_consistency_verify(uint64_t m, uint64_t n, const mv_mhash root_m,
				 const mv_mhash root_n, const mv_mhash *path,
				 size_t pathlen);

#endif
