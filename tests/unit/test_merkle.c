/*
 * test_merkle.c - src/merkle.c against the RFC 6962 test leaves and the
 * hashes, inclusion paths and consistency proofs published for them by the
 * Certificate Transparency and transparency-dev/merkle test suites; then an
 * exhaustive cross-check of every proof in every tree of 1..70 leaves
 * against a literal recursive transcription of RFC 9162; then trees of up
 * to 2^63 leaves, built from identical leaves so that every subtree root
 * is known without hashing the leaves.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"
#include "sha256.h"
#include "t.h"

#define TWO63 ((uint64_t)1 << 63)

static void unhex(mv_mhash out, const char *hex)
{
	for (size_t i = 0; i < MV_MERKLE_HASH; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			fprintf(stderr, "bad hex in test data: %s\n", hex);
			exit(2);
		}
		out[i] = (uint8_t)v;
	}
}

static int eq(const mv_mhash a, const mv_mhash b)
{
	return memcmp(a, b, MV_MERKLE_HASH) == 0;
}

/* ---- published data -------------------------------------------------- */

/* The eight RFC 6962 test leaf inputs, as hex. */
static const char *const rfc_leaves[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

/* Hashes of every perfect subtree of the eight leaves, by level. */
static const char *const rfc_nodes[4][8] = {
	{ "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	  "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	  "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
	  "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
	  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	  "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
	  "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	  "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1" },
	{ "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	  "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0" },
	{ "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" },
	{ "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328" },
};

/* Roots of the trees of the first 0..8 leaves. */
static const char *const rfc_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

#define H_96A2 "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
#define H_6E34 "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
#define H_FAC5 "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
#define H_5F08 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
#define H_BC1A "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
#define H_6B47 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
#define H_CA85 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
#define H_D37E "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
#define H_0EBC "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
#define H_B086 "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"

/* Published inclusion paths: leaf index, tree size, path. */
static const struct {
	uint64_t index, size;
	size_t len;
	const char *path[3];
} rfc_incl[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 2, 1, { H_96A2 } },
	{ 1, 2, 1, { H_6E34 } },
	{ 2, 3, 1, { H_FAC5 } },
	{ 1, 5, 3, { H_6E34, H_5F08, H_BC1A } },
	{ 0, 8, 3, { H_96A2, H_5F08, H_6B47 } },
	{ 5, 8, 3, { H_BC1A, H_CA85, H_D37E } },
};

/* Published consistency proofs: old size, new size, proof. */
static const struct {
	uint64_t m, n;
	size_t len;
	const char *path[3];
} rfc_cons[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, { H_96A2, H_5F08, H_6B47 } },
	{ 2, 5, 2, { H_5F08, H_BC1A } },
	{ 6, 8, 3, { H_0EBC, H_CA85, H_D37E } },
	{ 6, 7, 3, { H_0EBC, H_B086, H_D37E } },
};

static mv_mhash rfc_leaf[8];

static void rfc_setup(void)
{
	for (size_t i = 0; i < 8; i++) {
		uint8_t data[16];
		size_t n = strlen(rfc_leaves[i]) / 2;

		for (size_t j = 0; j < n; j++) {
			unsigned v;

			sscanf(rfc_leaves[i] + 2 * j, "%2x", &v);
			data[j] = (uint8_t)v;
		}
		mv_merkle_leaf_hash(rfc_leaf[i], data, n);
	}
}

static void test_known_hashes(void)
{
	mv_mhash want, got;
	struct mv_frontier f;

	for (size_t i = 0; i < 8; i++) {
		unhex(want, rfc_nodes[0][i]);
		T_CHECK("leaf hash of RFC 6962 test leaf equals published",
			eq(rfc_leaf[i], want));
	}
	/* Every perfect subtree: the root over its leaves is the node hash. */
	for (unsigned level = 1; level < 4; level++) {
		for (uint64_t pos = 0; pos < (8u >> level); pos++) {
			uint64_t width = (uint64_t)1 << level;

			unhex(want, rfc_nodes[level][pos]);
			mv_merkle_root(rfc_leaf + pos * width, width, got);
			T_CHECK("perfect subtree root equals published node", eq(got, want));
		}
	}
	mv_frontier_init(&f);
	for (uint64_t n = 0; n <= 8; n++) {
		unhex(want, rfc_roots[n]);
		mv_merkle_root(rfc_leaf, n, got);
		T_CHECK("mv_merkle_root of the first n test leaves equals published",
			eq(got, want));
		mv_frontier_root(&f, got);
		T_CHECK("frontier root after n adds equals published", eq(got, want));
		T_CHECK("frontier after n adds is valid", mv_frontier_valid(&f));
		/* The frontier holds the perfect subtrees, largest first. */
		{
			uint64_t offset = 0;
			unsigned j = 0;
			int ok = f.size == n;

			for (unsigned level = 4; level-- > 0;) {
				if (!(n >> level & 1))
					continue;
				unhex(want, rfc_nodes[level][offset >> level]);
				ok = ok && j < f.count && eq(f.hash[j], want);
				offset += (uint64_t)1 << level;
				j++;
			}
			T_CHECK("frontier holds the published subtree hashes, largest first",
				ok && j == f.count);
		}
		if (n < 8)
			mv_frontier_add(&f, rfc_leaf[n]);
	}
	unhex(want, rfc_roots[0]);
	mv_sha256(got, "", 0);
	T_CHECK("empty root is SHA-256 of the empty string", eq(got, want));
}

static void test_leaf_hash2(void)
{
	static const uint8_t data[] = "frame|payload of a record";
	size_t n = sizeof data - 1;
	mv_mhash whole, split, node, want;
	uint8_t buf[1 + 2 * MV_MERKLE_HASH];
	int ok = 1;

	mv_merkle_leaf_hash(whole, data, n);
	for (size_t cut = 0; cut <= n; cut++) {
		mv_merkle_leaf_hash2(split, data, cut, data + cut, n - cut);
		ok = ok && eq(split, whole);
	}
	T_CHECK("leaf hash of two pieces equals leaf hash of their concatenation", ok);
	buf[0] = 0x00;
	memcpy(buf + 1, data, n);
	mv_sha256(want, buf, 1 + n);
	T_CHECK("leaf hash is SHA-256 of 0x00 || data", eq(whole, want));
	buf[0] = 0x01;
	memcpy(buf + 1, rfc_leaf[0], MV_MERKLE_HASH);
	memcpy(buf + 1 + MV_MERKLE_HASH, rfc_leaf[1], MV_MERKLE_HASH);
	mv_sha256(want, buf, sizeof buf);
	mv_merkle_node_hash(node, rfc_leaf[0], rfc_leaf[1]);
	T_CHECK("node hash is SHA-256 of 0x01 || left || right", eq(node, want));
	/* The frontier code hashes in place, so out may alias an input. */
	memcpy(node, rfc_leaf[0], MV_MERKLE_HASH);
	mv_merkle_node_hash(node, node, rfc_leaf[1]);
	T_CHECK("node hash with out aliasing left is correct", eq(node, want));
}

static void test_published_proofs(void)
{
	mv_mhash path[MV_MERKLE_MAX_DEPTH], want, root, root_m;
	size_t len;

	for (size_t t = 0; t < sizeof rfc_incl / sizeof rfc_incl[0]; t++) {
		uint64_t n = rfc_incl[t].size, i = rfc_incl[t].index;
		int same;

		T_CHECK("inclusion proof of published case generates",
			mv_merkle_inclusion_proof(rfc_leaf, n, i, path, &len) == MV_OK);
		same = len == rfc_incl[t].len;
		for (size_t j = 0; same && j < len; j++) {
			unhex(want, rfc_incl[t].path[j]);
			same = eq(path[j], want);
		}
		T_CHECK("inclusion proof equals the published path", same);
		unhex(root, rfc_roots[n]);
		T_CHECK("published inclusion path verifies",
			mv_merkle_inclusion_verify(i, n, rfc_leaf[i], path, len, root));
	}
	for (size_t t = 0; t < sizeof rfc_cons / sizeof rfc_cons[0]; t++) {
		uint64_t m = rfc_cons[t].m, n = rfc_cons[t].n;
		int same;

		T_CHECK("consistency proof of published case generates",
			mv_merkle_consistency_proof(rfc_leaf, n, m, path, &len) == MV_OK);
		same = len == rfc_cons[t].len;
		for (size_t j = 0; same && j < len; j++) {
			unhex(want, rfc_cons[t].path[j]);
			same = eq(path[j], want);
		}
		T_CHECK("consistency proof equals the published proof", same);
		unhex(root_m, rfc_roots[m]);
		unhex(root, rfc_roots[n]);
		T_CHECK("published consistency proof verifies",
			mv_merkle_consistency_verify(m, n, root_m, root, path, len));
	}
}

static void test_contract_edges(void)
{
	mv_mhash path[MV_MERKLE_MAX_DEPTH + 2], root, r3, empty;
	size_t len = 99;

	mv_merkle_root(rfc_leaf, 8, root);
	mv_merkle_root(rfc_leaf, 3, r3);
	mv_merkle_root(NULL, 0, empty);

	T_CHECK("inclusion proof for index == n is MV_E_USAGE",
		mv_merkle_inclusion_proof(rfc_leaf, 8, 8, path, &len) == MV_E_USAGE);
	T_CHECK("failed inclusion proof sets pathlen to 0", len == 0);
	T_CHECK("inclusion proof in the empty tree is MV_E_USAGE",
		mv_merkle_inclusion_proof(rfc_leaf, 0, 0, path, &len) == MV_E_USAGE);
	len = 99;
	T_CHECK("consistency proof with m == 0 is MV_E_USAGE",
		mv_merkle_consistency_proof(rfc_leaf, 8, 0, path, &len) == MV_E_USAGE);
	T_CHECK("failed consistency proof sets pathlen to 0", len == 0);
	T_CHECK("consistency proof with m > n is MV_E_USAGE",
		mv_merkle_consistency_proof(rfc_leaf, 3, 4, path, &len) == MV_E_USAGE);
	len = 99;
	T_CHECK("consistency proof with m == n is empty",
		mv_merkle_consistency_proof(rfc_leaf, 5, 5, path, &len) == MV_OK &&
		len == 0);

	T_CHECK("inclusion verify rejects size 0",
		!mv_merkle_inclusion_verify(0, 0, empty, path, 0, empty));
	T_CHECK("inclusion verify rejects index == size",
		!mv_merkle_inclusion_verify(1, 1, rfc_leaf[0], path, 0, rfc_leaf[0]));
	T_CHECK("inclusion verify rejects index > size",
		!mv_merkle_inclusion_verify(UINT64_MAX, 1, rfc_leaf[0], path, 0,
					    rfc_leaf[0]));
	T_CHECK("inclusion verify accepts the one-leaf tree with an empty path",
		mv_merkle_inclusion_verify(0, 1, rfc_leaf[0], path, 0, rfc_leaf[0]));
	T_CHECK("inclusion verify rejects size above 2^63",
		!mv_merkle_inclusion_verify(0, TWO63 + 1, rfc_leaf[0], path, 63,
					    root));
	/* A path far longer than any tree allows must be refused, not read. */
	T_CHECK("inclusion verify rejects a path longer than the maximum",
		!mv_merkle_inclusion_verify(0, 8, rfc_leaf[0], path,
					    MV_MERKLE_MAX_DEPTH + 2, root));
	T_CHECK("inclusion verify rejects SIZE_MAX path length",
		!mv_merkle_inclusion_verify(0, 8, rfc_leaf[0], path, SIZE_MAX, root));

	T_CHECK("consistency verify rejects m == 0 even with equal roots",
		!mv_merkle_consistency_verify(0, 0, empty, empty, path, 0));
	T_CHECK("consistency verify rejects m == 0, n > 0",
		!mv_merkle_consistency_verify(0, 3, empty, r3, path, 0));
	T_CHECK("consistency verify rejects m > n",
		!mv_merkle_consistency_verify(4, 3, r3, r3, path, 0));
	T_CHECK("consistency verify accepts m == n, equal roots, empty path",
		mv_merkle_consistency_verify(3, 3, r3, r3, path, 0));
	T_CHECK("consistency verify rejects m == n with unequal roots",
		!mv_merkle_consistency_verify(3, 3, r3, root, path, 0));
	memcpy(path[0], r3, MV_MERKLE_HASH);
	T_CHECK("consistency verify rejects m == n with a non-empty path",
		!mv_merkle_consistency_verify(3, 3, r3, r3, path, 1));
	T_CHECK("consistency verify rejects n above 2^63",
		!mv_merkle_consistency_verify(1, TWO63 + 1, r3, root, path, 64));
	T_CHECK("consistency verify rejects SIZE_MAX path length",
		!mv_merkle_consistency_verify(3, 8, r3, root, path, SIZE_MAX));
}

/* ---- reference: RFC 9162 section 2.1 read literally ------------------ */

static uint64_t ref_split(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

/* MTH(D[n]) by the recursive definition. */
static void ref_root(const mv_mhash *d, uint64_t n, mv_mhash out)
{
	mv_mhash l, r;
	uint64_t k;

	if (n == 0) {
		mv_sha256(out, NULL, 0);
		return;
	}
	if (n == 1) {
		memcpy(out, d[0], MV_MERKLE_HASH);
		return;
	}
	k = ref_split(n);
	ref_root(d, k, l);
	ref_root(d + k, n - k, r);
	mv_merkle_node_hash(out, l, r);
}

/* PATH(m, D[n]), appended to out. */
static void ref_path(uint64_t m, const mv_mhash *d, uint64_t n, mv_mhash *out,
		     size_t *len)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = ref_split(n);
	if (m < k) {
		ref_path(m, d, k, out, len);
		ref_root(d + k, n - k, out[(*len)++]);
	} else {
		ref_path(m - k, d + k, n - k, out, len);
		ref_root(d, k, out[(*len)++]);
	}
}

/* SUBPROOF(m, D[n], b), appended to out. */
static void ref_subproof(uint64_t m, const mv_mhash *d, uint64_t n, int b,
			 mv_mhash *out, size_t *len)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			ref_root(d, n, out[(*len)++]);
		return;
	}
	k = ref_split(n);
	if (m <= k) {
		ref_subproof(m, d, k, b, out, len);
		ref_root(d + k, n - k, out[(*len)++]);
	} else {
		ref_subproof(m - k, d + k, n - k, 0, out, len);
		ref_root(d, k, out[(*len)++]);
	}
}

/*
 * The shape of a proof: which side each path hash joins on, leaf end
 * first ('L' when the path hash is the left child), and for consistency
 * whether the walk is seeded by the old root ('=') or by the proof ('+').
 * A verifier computes the same roots for two claims with the same shape,
 * so a proof for one claim also proves every claim of the same shape:
 * such a claim is equivalent, not forged.  Claims of any other shape must
 * be refused.
 */
struct shape {
	size_t len;
	char s[MV_MERKLE_MAX_DEPTH + 1];
};

static void incl_shape(uint64_t i, uint64_t n, struct shape *sh)
{
	char top[MV_MERKLE_MAX_DEPTH];
	size_t d = 0;

	while (n > 1) {
		uint64_t k = ref_split(n);

		if (i < k) {
			top[d++] = 'R';
			n = k;
		} else {
			top[d++] = 'L';
			i -= k;
			n -= k;
		}
	}
	sh->len = d;
	for (size_t j = 0; j < d; j++)
		sh->s[j] = top[d - 1 - j];
}

static void cons_shape(uint64_t m, uint64_t n, struct shape *sh)
{
	char top[MV_MERKLE_MAX_DEPTH];
	size_t d = 0;
	int whole = 1;

	while (m != n) {
		uint64_t k = ref_split(n);

		if (m <= k) {
			top[d++] = 'R';
			n = k;
		} else {
			top[d++] = 'L';
			m -= k;
			n -= k;
			whole = 0;
		}
	}
	sh->s[0] = whole ? '=' : '+';
	sh->len = d + 1;
	for (size_t j = 0; j < d; j++)
		sh->s[1 + j] = top[d - 1 - j];
}

static int same_shape(const struct shape *a, const struct shape *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* ---- exhaustive small trees ------------------------------------------ */

/* Override with -DBF_MAX=n for a quicker run (under valgrind, say). */
#ifndef BF_MAX
#define BF_MAX 70
#endif

static mv_mhash bf_leaf[BF_MAX + 1];
static mv_mhash bf_root[BF_MAX + 2];

static void bf_setup(void)
{
	struct mv_frontier f;
	mv_mhash r;
	int ok_ref = 1, ok_front = 1;

	for (uint32_t i = 0; i <= BF_MAX; i++) {
		char data[16];
		int len = snprintf(data, sizeof data, "%u", (unsigned)i);

		mv_merkle_leaf_hash(bf_leaf[i], data, (size_t)len);
	}
	mv_frontier_init(&f);
	for (uint64_t n = 0; n <= BF_MAX + 1; n++) {
		mv_merkle_root(bf_leaf, n, bf_root[n]);
		ref_root(bf_leaf, n, r);
		ok_ref = ok_ref && eq(r, bf_root[n]);
		mv_frontier_root(&f, r);
		ok_front = ok_front && eq(r, bf_root[n]) && mv_frontier_valid(&f);
		if (n <= BF_MAX)
			mv_frontier_add(&f, bf_leaf[n]);
	}
	T_CHECK("mv_merkle_root equals the recursive MTH for every n up to BF_MAX + 1",
		ok_ref);
	T_CHECK("frontier root equals mv_merkle_root for every n up to BF_MAX + 1",
		ok_front);
}

static void test_bf_inclusion(void)
{
	mv_mhash path[MV_MERKLE_MAX_DEPTH + 1], ref[MV_MERKLE_MAX_DEPTH];
	mv_mhash root, leaf;
	long gen_bad = 0, ref_bad = 0, good_bad = 0, bit_bad = 0, len_bad = 0;
	long claim_bad = 0, equiv = 0, refused = 0, huge_bad = 0;

	for (uint64_t n = 1; n <= BF_MAX; n++) {
		for (uint64_t i = 0; i < n; i++) {
			struct shape want;
			size_t len = 0, rlen = 0;

			if (mv_merkle_inclusion_proof(bf_leaf, n, i, path, &len) != MV_OK) {
				gen_bad++;
				continue;
			}
			ref_path(i, bf_leaf, n, ref, &rlen);
			if (rlen != len || memcmp(ref, path, len * MV_MERKLE_HASH))
				ref_bad++;
			memcpy(root, bf_root[n], MV_MERKLE_HASH);
			memcpy(leaf, bf_leaf[i], MV_MERKLE_HASH);
			if (!mv_merkle_inclusion_verify(i, n, leaf, path, len, root))
				good_bad++;

			/*
			 * Every single-bit change to every path hash; one bit
			 * per byte of the leaf and the root, which the walk
			 * uses whole and which cost as much to try.
			 */
			for (size_t j = 0; j < len + 2; j++) {
				uint8_t *h = j < len ? path[j] : j == len ? leaf : root;
				unsigned step = j < len ? 1 : 9;

				for (unsigned bit = 0; bit < 8 * MV_MERKLE_HASH; bit += step) {
					h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
					if (mv_merkle_inclusion_verify(i, n, leaf, path,
								       len, root))
						bit_bad++;
					h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				}
			}

			/* One hash short, one extra (root, a copy, zeros). */
			if (len > 0 && mv_merkle_inclusion_verify(i, n, leaf, path,
								  len - 1, root))
				len_bad++;
			memcpy(path[len], root, MV_MERKLE_HASH);
			if (mv_merkle_inclusion_verify(i, n, leaf, path, len + 1, root))
				len_bad++;
			if (len > 0) {
				memcpy(path[len], path[len - 1], MV_MERKLE_HASH);
				if (mv_merkle_inclusion_verify(i, n, leaf, path,
							       len + 1, root))
					len_bad++;
			}
			memset(path[len], 0, MV_MERKLE_HASH);
			if (mv_merkle_inclusion_verify(i, n, leaf, path, len + 1, root))
				len_bad++;

			/* Every other (index, size) claim with this proof. */
			incl_shape(i, n, &want);
			for (uint64_t n2 = 0; n2 <= BF_MAX + 1; n2++) {
				for (uint64_t i2 = 0; i2 <= n2; i2++) {
					struct shape got;
					int expect = 0, res;

					if (i2 == i && n2 == n)
						continue;
					if (i2 < n2) {
						incl_shape(i2, n2, &got);
						expect = same_shape(&got, &want);
					}
					res = mv_merkle_inclusion_verify(i2, n2, leaf, path,
									 len, root);
					if (res != expect)
						claim_bad++;
					else if (res)
						equiv++;
					else
						refused++;
				}
			}
			/* Sizes far beyond the tree, and beyond 2^63. */
			{
				static const uint64_t big[] = {
					TWO63 - 1, TWO63, TWO63 + 1, UINT64_MAX,
				};

				for (size_t b = 0; b < 4; b++)
					if (mv_merkle_inclusion_verify(i, big[b], leaf,
								       path, len, root))
						huge_bad++;
			}
		}
	}
	T_CHECK("inclusion proofs generate for every leaf of n = 1..BF_MAX", gen_bad == 0);
	T_CHECK("inclusion proofs equal the recursive PATH", ref_bad == 0);
	T_CHECK("every generated inclusion proof verifies", good_bad == 0);
	T_CHECK("every single-bit change to the path, and to leaf or root, fails",
		bit_bad == 0);
	T_CHECK("inclusion paths one hash short or long fail", len_bad == 0);
	T_CHECK("every wrong (index, size) claim fails unless its shape is equal",
		claim_bad == 0);
	T_CHECK("wrong claims were tried and refused", refused > 0);
	T_CHECK("sizes of 2^63 - 1 and above never verify a small proof",
		huge_bad == 0);
	printf("# inclusion: %ld wrong claims refused, %ld equivalent claims "
	       "(same proof shape) accepted\n", refused, equiv);
}

static void test_bf_consistency(void)
{
	mv_mhash path[MV_MERKLE_MAX_DEPTH + 1], ref[MV_MERKLE_MAX_DEPTH + 1];
	mv_mhash root_m, root_n;
	long gen_bad = 0, ref_bad = 0, good_bad = 0, bit_bad = 0, len_bad = 0;
	long claim_bad = 0, equiv = 0, refused = 0, huge_bad = 0;

	for (uint64_t n = 1; n <= BF_MAX; n++) {
		for (uint64_t m = 1; m <= n; m++) {
			struct shape want;
			size_t len = 0, rlen = 0;

			if (mv_merkle_consistency_proof(bf_leaf, n, m, path, &len) != MV_OK) {
				gen_bad++;
				continue;
			}
			ref_subproof(m, bf_leaf, n, 1, ref, &rlen);
			if (rlen != len || memcmp(ref, path, len * MV_MERKLE_HASH))
				ref_bad++;
			memcpy(root_m, bf_root[m], MV_MERKLE_HASH);
			memcpy(root_n, bf_root[n], MV_MERKLE_HASH);
			if (!mv_merkle_consistency_verify(m, n, root_m, root_n, path, len))
				good_bad++;

			/* As for inclusion: every bit of the proof, some of the roots. */
			for (size_t j = 0; j < len + 2; j++) {
				uint8_t *h = j < len ? path[j] : j == len ? root_m : root_n;
				unsigned step = j < len ? 1 : 9;

				for (unsigned bit = 0; bit < 8 * MV_MERKLE_HASH; bit += step) {
					h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
					if (mv_merkle_consistency_verify(m, n, root_m, root_n,
									 path, len))
						bit_bad++;
					h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				}
			}

			if (len > 0 && mv_merkle_consistency_verify(m, n, root_m, root_n,
								    path, len - 1))
				len_bad++;
			memcpy(path[len], root_n, MV_MERKLE_HASH);
			if (mv_merkle_consistency_verify(m, n, root_m, root_n, path,
							 len + 1))
				len_bad++;
			memcpy(path[len], root_m, MV_MERKLE_HASH);
			if (mv_merkle_consistency_verify(m, n, root_m, root_n, path,
							 len + 1))
				len_bad++;
			if (m != n && mv_merkle_consistency_verify(m, n, root_n, root_m,
								   path, len))
				len_bad++;

			cons_shape(m, n, &want);
			for (uint64_t n2 = 0; n2 <= BF_MAX + 1; n2++) {
				for (uint64_t m2 = 0; m2 <= BF_MAX + 1; m2++) {
					struct shape got;
					int expect = 0, res;

					if (m2 == m && n2 == n)
						continue;
					if (m2 >= 1 && m2 <= n2) {
						cons_shape(m2, n2, &got);
						expect = same_shape(&got, &want);
					}
					res = mv_merkle_consistency_verify(m2, n2, root_m,
									   root_n, path,
									   len);
					if (res != expect)
						claim_bad++;
					else if (res)
						equiv++;
					else
						refused++;
				}
			}
			{
				static const uint64_t big[] = {
					TWO63 - 1, TWO63, TWO63 + 1, UINT64_MAX,
				};

				for (size_t b = 0; b < 4; b++)
					if (mv_merkle_consistency_verify(m, big[b], root_m,
									 root_n, path, len))
						huge_bad++;
			}
		}
	}
	T_CHECK("consistency proofs generate for every 1 <= m <= n <= BF_MAX",
		gen_bad == 0);
	T_CHECK("consistency proofs equal the recursive SUBPROOF", ref_bad == 0);
	T_CHECK("every generated consistency proof verifies", good_bad == 0);
	T_CHECK("every single-bit change to the proof, and to either root, fails",
		bit_bad == 0);
	T_CHECK("consistency proofs one hash short or long, or roots swapped, fail",
		len_bad == 0);
	T_CHECK("every wrong (m, n) claim fails unless its shape is equal",
		claim_bad == 0);
	T_CHECK("wrong consistency claims were tried and refused", refused > 0);
	T_CHECK("new sizes of 2^63 - 1 and above never verify a small proof",
		huge_bad == 0);
	printf("# consistency: %ld wrong claims refused, %ld equivalent claims "
	       "(same proof shape) accepted\n", refused, equiv);
}

/* ---- trees of up to 2^63 identical leaves ---------------------------- */

/* perfect[k] is the root of 2^k identical leaves. */
static mv_mhash perfect[64];

static void big_setup(void)
{
	mv_merkle_leaf_hash(perfect[0], "x", 1);
	for (unsigned k = 1; k < 64; k++)
		mv_merkle_node_hash(perfect[k], perfect[k - 1], perfect[k - 1]);
}

/* The root of s identical leaves: the frontier's right fold, by hand. */
static void big_root(uint64_t s, mv_mhash out)
{
	unsigned bit = 0;

	if (s == 0) {
		mv_sha256(out, NULL, 0);
		return;
	}
	while (!(s >> bit & 1))
		bit++;
	memcpy(out, perfect[bit], MV_MERKLE_HASH);
	for (bit++; bit < 64; bit++)
		if (s >> bit & 1)
			mv_merkle_node_hash(out, perfect[bit], out);
}

/* PATH and SUBPROOF over identical leaves, where MTH(D[a:b]) is big_root(b - a). */
static size_t big_path(uint64_t i, uint64_t n, mv_mhash *out)
{
	mv_mhash top[MV_MERKLE_MAX_DEPTH];
	size_t d = 0;

	while (n > 1) {
		uint64_t k = ref_split(n);

		if (i < k) {
			big_root(n - k, top[d++]);
			n = k;
		} else {
			big_root(k, top[d++]);
			i -= k;
			n -= k;
		}
	}
	for (size_t j = 0; j < d; j++)
		memcpy(out[j], top[d - 1 - j], MV_MERKLE_HASH);
	return d;
}

static size_t big_proof(uint64_t m, uint64_t n, mv_mhash *out)
{
	mv_mhash top[MV_MERKLE_MAX_DEPTH];
	size_t d = 0, len = 0;
	int whole = 1;

	while (m != n) {
		uint64_t k = ref_split(n);

		if (m <= k) {
			big_root(n - k, top[d++]);
			n = k;
		} else {
			big_root(k, top[d++]);
			m -= k;
			n -= k;
			whole = 0;
		}
	}
	if (!whole)
		big_root(n, out[len++]);
	for (size_t j = 0; j < d; j++)
		memcpy(out[len++], top[d - 1 - j], MV_MERKLE_HASH);
	return len;
}

static void test_big_trees(void)
{
	static const struct { uint64_t i, n; } incl[] = {
		{ 0, TWO63 }, { TWO63 - 1, TWO63 }, { ((uint64_t)1 << 62) + 12345, TWO63 },
		{ 0, TWO63 - 1 }, { TWO63 - 2, TWO63 - 1 }, { 5000000000000000000u, TWO63 - 1 },
		{ 4611686018427387904u, 6917529027641081857u },
		{ 6917529027641081856u, 6917529027641081857u },
	};
	static const struct { uint64_t m, n; } cons[] = {
		{ 1, TWO63 }, { (uint64_t)1 << 62, TWO63 }, { TWO63 - 1, TWO63 },
		{ 12345, TWO63 - 1 }, { 3, TWO63 }, { TWO63 - 2, TWO63 - 1 },
		{ 6917529027641081857u, TWO63 }, { TWO63, TWO63 },
	};
	mv_mhash path[MV_MERKLE_MAX_DEPTH + 1], root, root_m, got;
	struct mv_frontier f;
	size_t len;

	for (size_t t = 0; t < sizeof incl / sizeof incl[0]; t++) {
		uint64_t i = incl[t].i, n = incl[t].n;

		len = big_path(i, n, path);
		big_root(n, root);
		T_CHECK("inclusion proof in a tree of ~2^63 leaves verifies",
			mv_merkle_inclusion_verify(i, n, perfect[0], path, len, root));
		T_CHECK("... and its path has at most 63 hashes", len <= 63);
		path[len - 1][7] ^= 0x40;
		T_CHECK("... and fails with the top path hash changed",
			!mv_merkle_inclusion_verify(i, n, perfect[0], path, len, root));
		path[len - 1][7] ^= 0x40;
		T_CHECK("... and fails one hash short",
			!mv_merkle_inclusion_verify(i, n, perfect[0], path, len - 1, root));
	}
	for (size_t t = 0; t < sizeof cons / sizeof cons[0]; t++) {
		uint64_t m = cons[t].m, n = cons[t].n;

		len = big_proof(m, n, path);
		big_root(m, root_m);
		big_root(n, root);
		T_CHECK("consistency proof between trees of ~2^63 leaves verifies",
			mv_merkle_consistency_verify(m, n, root_m, root, path, len));
		T_CHECK("... and has at most 64 hashes", len <= MV_MERKLE_MAX_DEPTH);
		if (len > 0) {
			path[0][0] ^= 1;
			T_CHECK("... and fails with its first hash changed",
				!mv_merkle_consistency_verify(m, n, root_m, root, path, len));
			path[0][0] ^= 1;
		}
		T_CHECK("... and fails with new size + 2^62",
			!mv_merkle_consistency_verify(m, n + ((uint64_t)1 << 62),
						      root_m, root, path, len));
	}

	/*
	 * Genuine proofs in trees just past 2^63 leaves: the arithmetic
	 * would accept them, the contract refuses them.
	 */
	len = big_path(12345, TWO63 + 5, path);
	big_root(TWO63 + 5, root);
	T_CHECK("a genuine inclusion proof in a tree of 2^63 + 5 leaves is refused",
		len == 64 && !mv_merkle_inclusion_verify(12345, TWO63 + 5,
							 perfect[0], path, len,
							 root));
	len = big_proof(3, TWO63 + 5, path);
	big_root(3, root_m);
	T_CHECK("a genuine consistency proof to 2^63 + 5 leaves is refused",
		len == 65 && !mv_merkle_consistency_verify(3, TWO63 + 5, root_m,
							   root, path, len));

	/* A frontier of 2^63 - 2 leaves, then one more, then the cap. */
	mv_frontier_init(&f);
	f.size = TWO63 - 2;
	for (unsigned bit = 62; bit >= 1; bit--)
		memcpy(f.hash[f.count++], perfect[bit], MV_MERKLE_HASH);
	T_CHECK("frontier of 2^63 - 2 leaves is valid", mv_frontier_valid(&f));
	mv_frontier_root(&f, got);
	big_root(TWO63 - 2, root);
	T_CHECK("root of the 2^63 - 2 leaf frontier is right", eq(got, root));
	mv_frontier_add(&f, perfect[0]);
	mv_frontier_root(&f, got);
	big_root(TWO63 - 1, root);
	T_CHECK("frontier grows to 2^63 - 1 leaves, 63 subtrees",
		f.size == TWO63 - 1 && f.count == 63 && eq(got, root));
	mv_frontier_add(&f, perfect[0]);
	T_CHECK("frontier refuses to grow past 2^63 - 1 leaves",
		f.size == TWO63 - 1 && f.count == 63 && mv_frontier_valid(&f));
}

static void test_frontier_invalid(void)
{
	struct mv_frontier f;
	mv_mhash got, zero, before;

	memset(zero, 0, sizeof zero);
	mv_frontier_init(&f);
	T_CHECK("new frontier is valid and empty",
		mv_frontier_valid(&f) && f.size == 0 && f.count == 0);
	mv_frontier_root(&f, got);
	mv_merkle_root(NULL, 0, before);
	T_CHECK("root of the empty frontier is the empty root", eq(got, before));

	mv_frontier_add(&f, rfc_leaf[0]);
	mv_frontier_add(&f, rfc_leaf[1]);
	mv_frontier_add(&f, rfc_leaf[2]);
	f.count = 1;
	T_CHECK("frontier whose count is not popcount(size) is invalid",
		!mv_frontier_valid(&f));
	memcpy(before, f.hash[0], MV_MERKLE_HASH);
	mv_frontier_add(&f, rfc_leaf[3]);
	T_CHECK("adding to an invalid frontier changes nothing",
		f.size == 3 && f.count == 1 && eq(f.hash[0], before));
	mv_frontier_root(&f, got);
	T_CHECK("root of an invalid frontier is all zeros", eq(got, zero));

	f.count = 200;
	T_CHECK("frontier with count 200 is invalid", !mv_frontier_valid(&f));
	mv_frontier_root(&f, got);
	T_CHECK("root of a frontier with count 200 is all zeros, no overread",
		eq(got, zero));
	mv_frontier_add(&f, rfc_leaf[3]);
	T_CHECK("adding to a frontier with count 200 writes nothing",
		f.count == 200 && f.size == 3);

	mv_frontier_init(&f);
	f.size = TWO63;
	f.count = 1;
	T_CHECK("frontier of 2^63 leaves is invalid (the contract is < 2^63)",
		!mv_frontier_valid(&f));
	f.size = UINT64_MAX;
	f.count = 64;
	T_CHECK("frontier of 2^64 - 1 leaves is invalid", !mv_frontier_valid(&f));
}

int main(void)
{
	rfc_setup();
	test_known_hashes();
	test_leaf_hash2();
	test_published_proofs();
	test_contract_edges();
	bf_setup();
	test_bf_inclusion();
	test_bf_consistency();
	big_setup();
	test_big_trees();
	test_frontier_invalid();
	return T_DONE();
}
