/*
 * fuzz_merkle_proof.c - libFuzzer target for the Merkle proof verifiers
 * and the frontier (src/merkle.c).  Nothing may crash, read out of
 * bounds or overflow; in tree mode, a proof we generate must verify and a
 * proof with one bit changed must not.
 *
 * Input: byte 0 picks the mode (low two bits) and, in claim modes, bit 2
 * folds both sizes modulo 1024 so the fuzzer reaches small trees.
 *
 *   mode 0, 1: claim.  Inclusion (0) or consistency (1) verification of
 *     OFFSET  SIZE  FIELD
 *     1       8     index, or old size m (little-endian)
 *     9       8     tree size n, or new size (little-endian)
 *     17      32    leaf hash, or old root
 *     49      32    root, or new root
 *     81..    32k   path: the last 32 * k bytes of the input, where k is
 *                   (input length - 81) / 32; bytes between are unused
 *   The hashes are passed as pointers into the input itself, so any read
 *   past the path's end meets the sanitizer's red zone.
 *
 *   mode 2: tree.  byte 1: leaf count - 1 (mod 100); byte 2: index and old
 *     size selector; byte 3: which bit to flip; the rest: leaf material
 *     (leaf j = leaf hash of j || material).
 *
 *   mode 3: frontier.  The rest is copied over a struct mv_frontier
 *     (zero-filled), which is then validated, rooted and appended to.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CLAIM_HDR 81
#define TREE_MAX 100

static uint64_t load64le(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void claim(const uint8_t *data, size_t size)
{
	uint64_t a, b;
	size_t k;
	const mv_mhash *path;

	if (size < CLAIM_HDR)
		return;
	a = load64le(data + 1);
	b = load64le(data + 9);
	if (data[0] & 4) {
		a %= 1024;
		b %= 1024;
	}
	k = (size - CLAIM_HDR) / MV_MERKLE_HASH;
	path = (const mv_mhash *)(data + size - k * MV_MERKLE_HASH);
	if ((data[0] & 1) == 0)
		(void)mv_merkle_inclusion_verify(a, b, data + 17, path, k, data + 49);
	else
		(void)mv_merkle_consistency_verify(a, b, data + 17, data + 49,
						   path, k);
}

static void tree(const uint8_t *data, size_t size)
{
	static mv_mhash leaves[TREE_MAX];
	mv_mhash path[MV_MERKLE_MAX_DEPTH], root, root_m, froot;
	struct mv_frontier f;
	uint64_t n, i, m;
	size_t len;
	unsigned flip;

	if (size < 4)
		return;
	n = 1 + data[1] % TREE_MAX;
	i = data[2] % n;
	m = 1 + data[2] % n;
	flip = data[3];
	mv_frontier_init(&f);
	for (uint64_t j = 0; j < n; j++) {
		uint8_t tag = (uint8_t)j;

		mv_merkle_leaf_hash2(leaves[j], &tag, 1, data + 4, size - 4);
		mv_frontier_add(&f, leaves[j]);
	}
	mv_merkle_root(leaves, n, root);
	mv_frontier_root(&f, froot);
	if (memcmp(root, froot, MV_MERKLE_HASH) != 0)
		abort();

	if (mv_merkle_inclusion_proof(leaves, n, i, path, &len) != MV_OK ||
	    !mv_merkle_inclusion_verify(i, n, leaves[i], path, len, root))
		abort();
	if (len > 0) {
		path[(flip >> 3) % len][flip % MV_MERKLE_HASH] ^=
			(uint8_t)(1u << (flip & 7));
		if (mv_merkle_inclusion_verify(i, n, leaves[i], path, len, root))
			abort();
	}

	mv_merkle_root(leaves, m, root_m);
	if (mv_merkle_consistency_proof(leaves, n, m, path, &len) != MV_OK ||
	    !mv_merkle_consistency_verify(m, n, root_m, root, path, len))
		abort();
	if (len > 0) {
		path[(flip >> 3) % len][flip % MV_MERKLE_HASH] ^=
			(uint8_t)(1u << (flip & 7));
		if (mv_merkle_consistency_verify(m, n, root_m, root, path, len))
			abort();
	}
}

static void frontier(const uint8_t *data, size_t size)
{
	struct mv_frontier f;
	mv_mhash root, leaf;
	size_t n = size - 1;
	int was_valid;

	memset(&f, 0, sizeof f);
	if (n > sizeof f)
		n = sizeof f;
	memcpy(&f, data + 1, n);
	memset(leaf, 0xa5, sizeof leaf);
	was_valid = mv_frontier_valid(&f);
	mv_frontier_root(&f, root);
	mv_frontier_add(&f, leaf);
	mv_frontier_root(&f, root);
	/* Appending keeps a valid frontier valid. */
	if (was_valid && !mv_frontier_valid(&f))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
	case 1:
		claim(data, size);
		break;
	case 2:
		tree(data, size);
		break;
	default:
		frontier(data, size);
		break;
	}
	return 0;
}
