/*
 * test_merkle_vectors.c - checks src/merkle.c against the Merkle proof
 * vector files (vectors/merkle/README.md describes the format).
 *
 * Usage: test_merkle_vectors [DIR]     (default: vectors/merkle)
 *
 * Every *.vec file in DIR is read with a small parser that checks each
 * byte against the end of the file and bounds every count.  A file with
 * "expect: ok" must verify and, regenerated from its leaves, give exactly
 * its roots and path; a file with "expect: fail" must not verify.  One
 * PASS or FAIL line per file; a malformed file is a FAIL, and so is a
 * directory with no vectors in it.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"
#include "t.h"

/* Bounds.  The generator writes nothing near them. */
#define MAX_FILE (64 * 1024)
#define MAX_LINE 512
#define MAX_PATH (2 * MV_MERKLE_MAX_DEPTH)
#define MAX_EXPLICIT 64          /* explicit `leaf:` lines */
#define MAX_LEAF_DATA 64         /* bytes of one explicit leaf */
#define MAX_LEAVES (1u << 20)    /* leaves regenerated for an ok vector */

enum kind { KIND_NONE, KIND_INCLUSION, KIND_CONSISTENCY };

/* One bit per scalar key, so a repeated or missing key is caught. */
enum {
	K_KIND = 1 << 0, K_EXPECT = 1 << 1, K_REASON = 1 << 2, K_LEAVES = 1 << 3,
	K_SIZE = 1 << 4, K_INDEX = 1 << 5, K_LEAF_HASH = 1 << 6, K_ROOT = 1 << 7,
	K_OLD = 1 << 8, K_NEW = 1 << 9, K_OLD_ROOT = 1 << 10,
	K_NEW_ROOT = 1 << 11,
};

struct vec {
	enum kind kind;
	int expect_ok;
	unsigned have;
	uint64_t leaves, size, index, old, new;
	mv_mhash leaf_hash, root, old_root, new_root;
	mv_mhash path[MAX_PATH];
	size_t pathlen;
	size_t nexplicit;
	uint8_t data[MAX_EXPLICIT][MAX_LEAF_DATA];
	size_t datalen[MAX_EXPLICIT];
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes exactly n hex digits into n / 2 bytes; 0 on a bad digit. */
static int unhex(uint8_t *out, const char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return n % 2 == 0;
}

static int parse_hash(mv_mhash out, const char *s, size_t n)
{
	return n == 2 * MV_MERKLE_HASH && unhex(out, s, n);
}

/* A decimal uint64 with no sign, no spaces and no overflow. */
static int parse_u64(uint64_t *out, const char *s, size_t n)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return 0;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = v;
	return 1;
}

static const struct {
	const char *name;
	unsigned bit;
} scalar_keys[] = {
	{ "kind", K_KIND }, { "expect", K_EXPECT }, { "reason", K_REASON },
	{ "leaves", K_LEAVES }, { "size", K_SIZE }, { "index", K_INDEX },
	{ "leaf-hash", K_LEAF_HASH }, { "root", K_ROOT }, { "old", K_OLD },
	{ "new", K_NEW }, { "old-root", K_OLD_ROOT }, { "new-root", K_NEW_ROOT },
};

static int key_is(const char *k, size_t klen, const char *name)
{
	return strlen(name) == klen && memcmp(k, name, klen) == 0;
}

static int value_is(const char *val, size_t vlen, const char *word)
{
	return key_is(val, vlen, word);
}

/* Parses one "key: value" line into v; on failure sets *why. */
static int parse_line(struct vec *v, const char *k, size_t klen, const char *val,
		      size_t vlen, const char **why)
{
	for (size_t i = 0; i < sizeof scalar_keys / sizeof scalar_keys[0]; i++) {
		if (!key_is(k, klen, scalar_keys[i].name))
			continue;
		if (v->have & scalar_keys[i].bit) {
			*why = "repeated key";
			return 0;
		}
		v->have |= scalar_keys[i].bit;
		break;
	}
	*why = "bad value";
	if (key_is(k, klen, "kind")) {
		if (value_is(val, vlen, "inclusion"))
			v->kind = KIND_INCLUSION;
		else if (value_is(val, vlen, "consistency"))
			v->kind = KIND_CONSISTENCY;
		else
			return 0;
		return 1;
	}
	if (key_is(k, klen, "expect")) {
		if (value_is(val, vlen, "ok"))
			v->expect_ok = 1;
		else if (value_is(val, vlen, "fail"))
			v->expect_ok = 0;
		else
			return 0;
		return 1;
	}
	if (key_is(k, klen, "reason"))
		return 1;
	if (key_is(k, klen, "leaves"))
		return parse_u64(&v->leaves, val, vlen);
	if (key_is(k, klen, "size"))
		return parse_u64(&v->size, val, vlen);
	if (key_is(k, klen, "index"))
		return parse_u64(&v->index, val, vlen);
	if (key_is(k, klen, "old"))
		return parse_u64(&v->old, val, vlen);
	if (key_is(k, klen, "new"))
		return parse_u64(&v->new, val, vlen);
	if (key_is(k, klen, "leaf-hash"))
		return parse_hash(v->leaf_hash, val, vlen);
	if (key_is(k, klen, "root"))
		return parse_hash(v->root, val, vlen);
	if (key_is(k, klen, "old-root"))
		return parse_hash(v->old_root, val, vlen);
	if (key_is(k, klen, "new-root"))
		return parse_hash(v->new_root, val, vlen);
	if (key_is(k, klen, "path")) {
		if (v->pathlen >= MAX_PATH) {
			*why = "too many path lines";
			return 0;
		}
		return parse_hash(v->path[v->pathlen++], val, vlen);
	}
	if (key_is(k, klen, "leaf")) {
		if (v->nexplicit >= MAX_EXPLICIT || vlen > 2 * MAX_LEAF_DATA) {
			*why = "too many or too long leaf lines";
			return 0;
		}
		v->datalen[v->nexplicit] = vlen / 2;
		return unhex(v->data[v->nexplicit++], val, vlen);
	}
	*why = "unknown key";
	return 0;
}

/* Parses buf[0..n) into v; returns NULL or what is wrong. */
static const char *parse(struct vec *v, const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n, *why = NULL;
	unsigned need;

	memset(v, 0, sizeof *v);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line = p, *colon, *val;
		size_t len;

		if (!eol)
			return "last line has no newline";
		len = (size_t)(eol - line);
		p = eol + 1;
		if (len > MAX_LINE)
			return "line too long";
		if (len == 0 || line[0] == '#')
			continue;
		colon = memchr(line, ':', len);
		if (!colon)
			return "line without ':'";
		val = colon + 1;
		if (val < eol && *val == ' ')
			val++;
		if (!parse_line(v, line, (size_t)(colon - line), val,
				(size_t)(eol - val), &why))
			return why;
	}

	need = K_KIND | K_EXPECT | K_REASON | K_LEAVES;
	if (v->kind == KIND_INCLUSION)
		need |= K_SIZE | K_INDEX | K_LEAF_HASH | K_ROOT;
	else if (v->kind == KIND_CONSISTENCY)
		need |= K_OLD | K_NEW | K_OLD_ROOT | K_NEW_ROOT;
	if (v->have != need)
		return "keys missing or of the other kind";
	if (v->nexplicit != 0 && v->nexplicit != v->leaves)
		return "number of leaf lines is not the leaves count";
	return NULL;
}

/* Leaf hashes of the vector's leaves: explicit data, else decimal i. */
static mv_mhash *leaf_hashes(const struct vec *v)
{
	mv_mhash *h = NULL;

	if (v->leaves == 0 || v->leaves > MAX_LEAVES)
		return NULL;
	h = malloc((size_t)v->leaves * sizeof *h);
	if (!h)
		return NULL;
	for (uint64_t i = 0; i < v->leaves; i++) {
		char dec[24];
		int len;

		if (v->nexplicit) {
			mv_merkle_leaf_hash(h[i], v->data[i], v->datalen[i]);
			continue;
		}
		len = snprintf(dec, sizeof dec, "%llu", (unsigned long long)i);
		mv_merkle_leaf_hash(h[i], dec, (size_t)len);
	}
	return h;
}

static int same(const mv_mhash a, const mv_mhash b)
{
	return memcmp(a, b, MV_MERKLE_HASH) == 0;
}

static int same_path(const mv_mhash *a, size_t alen, const mv_mhash *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen * MV_MERKLE_HASH) == 0);
}

/*
 * An ok vector must also come out of our generator unchanged: the roots
 * from its leaves and the very same path.
 */
static const char *regenerate(const struct vec *v)
{
	mv_mhash *h = leaf_hashes(v);
	mv_mhash path[MV_MERKLE_MAX_DEPTH], r;
	size_t len;
	const char *why = NULL;

	if (!h)
		return "leaves count out of range for regeneration";
	if (v->kind == KIND_INCLUSION) {
		if (v->size != v->leaves || v->index >= v->size) {
			why = "ok vector whose size is not its leaves count";
			goto out;
		}
		mv_merkle_root(h, v->size, r);
		if (!same(r, v->root)) {
			why = "root of the leaves differs from root:";
			goto out;
		}
		if (!same(h[v->index], v->leaf_hash)) {
			why = "leaf hash of leaf `index` differs from leaf-hash:";
			goto out;
		}
		if (mv_merkle_inclusion_proof(h, v->size, v->index, path, &len) != MV_OK ||
		    !same_path(path, len, v->path, v->pathlen)) {
			why = "generated inclusion path differs from the file's";
			goto out;
		}
	} else {
		if (v->new != v->leaves || v->old == 0 || v->old > v->new) {
			why = "ok vector whose new size is not its leaves count";
			goto out;
		}
		mv_merkle_root(h, v->old, r);
		if (!same(r, v->old_root)) {
			why = "root of the first `old` leaves differs from old-root:";
			goto out;
		}
		mv_merkle_root(h, v->new, r);
		if (!same(r, v->new_root)) {
			why = "root of the leaves differs from new-root:";
			goto out;
		}
		if (mv_merkle_consistency_proof(h, v->new, v->old, path, &len) != MV_OK ||
		    !same_path(path, len, v->path, v->pathlen)) {
			why = "generated consistency proof differs from the file's";
			goto out;
		}
	}
out:
	free(h);
	return why;
}

/* Reads and checks one file; returns NULL or what went wrong. */
static const char *check_file(const char *file, struct vec *v)
{
	static char buf[MAX_FILE + 1];
	FILE *f = fopen(file, "rb");
	size_t n;
	const char *why;
	int ok;

	if (!f)
		return "cannot open";
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (n > MAX_FILE)
		return "file too large";
	why = parse(v, buf, n);
	if (why)
		return why;
	if (v->kind == KIND_INCLUSION)
		ok = mv_merkle_inclusion_verify(v->index, v->size, v->leaf_hash,
						v->path, v->pathlen, v->root);
	else
		ok = mv_merkle_consistency_verify(v->old, v->new, v->old_root,
						  v->new_root, v->path, v->pathlen);
	if (ok != v->expect_ok)
		return v->expect_ok ? "good vector does not verify" :
				      "mutated vector verifies";
	return v->expect_ok ? regenerate(v) : NULL;
}

static int is_vec(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 4 &&
	       strcmp(d->d_name + n - 4, ".vec") == 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "vectors/merkle";
	struct dirent **names = NULL;
	static struct vec v;
	int count = scandir(dir, &names, is_vec, alphasort);
	int ok_files = 0, fail_files = 0;

	if (count < 0) {
		printf("# cannot read '%s'\n", dir);
		count = 0;
	}
	for (int i = 0; i < count; i++) {
		char file[4096];
		const char *why;

		snprintf(file, sizeof file, "%s/%s", dir, names[i]->d_name);
		why = check_file(file, &v);
		if (why)
			printf("# %s: %s\n", names[i]->d_name, why);
		else if (v.expect_ok)
			ok_files++;
		else
			fail_files++;
		T_CHECK(names[i]->d_name, why == NULL);
		free(names[i]);
	}
	free(names);
	printf("# %d vector files: %d must-verify, %d must-fail\n", count,
	       ok_files, fail_files);
	T_CHECK("vector directory holds vectors of both kinds",
		ok_files > 0 && fail_files > 0);
	return T_DONE();
}
