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
void mv_merkle_node_hash(mv_mhash out, const mv_mhash left, const mv_mhash right);

struct mv_frontier {
	uint64_t size;               /* leaves so far */
	unsigned count;              /* == popcount(size) */
	mv_mhash hash[MV_MERKLE_MAX_DEPTH]; /* largest subtree first */
};

void mv_frontier_init(struct mv_frontier *f);
/* Appends one leaf hash (already leaf-hashed). */
void mv_frontier_add(struct mv_frontier *f, const mv_mhash leaf);
/* Root of the tree so far. */
void mv_frontier_root(const struct mv_frontier *f, mv_mhash root);
/* 1 if count matches popcount(size) and size < 2^63. */
int mv_frontier_valid(const struct mv_frontier *f);

/* Root of leaves[0..n) (leaf hashes).  n may be 0. */
void mv_merkle_root(const mv_mhash *leaves, uint64_t n, mv_mhash root);

/*
 * Inclusion proof for leaf `index` in the tree of the first n leaves.
 * path must have room for MV_MERKLE_MAX_DEPTH hashes; *pathlen gets the
 * number written.  MV_E_USAGE if index >= n.
 */
enum mv_err mv_merkle_inclusion_proof(const mv_mhash *leaves, uint64_t n,
				      uint64_t index, mv_mhash *path,
				      size_t *pathlen);
/* 1 if path proves `leaf` is leaf `index` of the tree of size n with root. */
int mv_merkle_inclusion_verify(uint64_t index, uint64_t n, const mv_mhash leaf,
			       const mv_mhash *path, size_t pathlen,
			       const mv_mhash root);

/*
 * Consistency proof that the tree of the first m leaves is a prefix of the
 * tree of the first n leaves (0 < m <= n), RFC 9162 section 2.1.4.
 */
enum mv_err mv_merkle_consistency_proof(const mv_mhash *leaves, uint64_t n,
					uint64_t m, mv_mhash *path,
					size_t *pathlen);
/* 1 if valid.  m == n requires an empty path and equal roots. */
int mv_merkle_consistency_verify(uint64_t m, uint64_t n, const mv_mhash root_m,
				 const mv_mhash root_n, const mv_mhash *path,
				 size_t pathlen);

#endif
