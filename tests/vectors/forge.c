/*
 * forge.c - makes the must-fail archive vectors in vectors/archive/bad/
 * from the good ones (see vectors/README.md).
 *
 *   forge [--identity FILE | --passphrase-file FILE] [--other FILE]
 *         IN OUT SCENARIO
 *
 * IN must be a good archive that the key opens.  forge decodes every
 * record into a model (chunks and index records decrypted, commits parsed),
 * lets SCENARIO change exactly one thing, and writes the model back: every
 * record at its position with its sequence number, chunks and index records
 * re-encrypted under their (possibly new) sequence number with their
 * original nonces, pointers (blob references, page references, commit
 * index / predecessor / stanza offsets) moved with the records they name,
 * trailers recomputed, and every commit's frontier and entries root
 * recomputed and its checkpoint re-signed with the owner key.  Everything a scenario does not
 * break is therefore valid, and the scenario `identity` reproduces IN byte
 * for byte (gen.sh checks that first).  A scenario opts out of repairs per
 * record (`raw` keeps a record's bytes, `keep_seq` its sequence number,
 * `keep_trailer` its trailer, `keep_note` a commit's signed note, ...), and
 * may change bytes after encoding (`patch`, `post`, `body_post`) or cut or
 * extend the file.  The scenarios are the table `scenarios` below; the
 * vectors name them in their .meta files.
 *
 * --other names a second identity: the "other key" of the re-signing
 * scenarios.  Randomness (only the X25519 re-wrap of a stanza uses any)
 * comes from MV_TEST_SEED, as the library is built with test hooks.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "bytes.h"
#include "crypto.h"
#include "frame.h"
#include "header.h"
#include "identity.h"
#include "index.h"
#include "merkle.h"
#include "msgmeta.h"
#include "note.h"
#include "sha256.h"
#include "vault.h"

#define MAXREC 4096

static const char chunk_label[] = "mbox-vault/v1 chunk";
static const char index_label[] = "mbox-vault/v1 index";
static const char entry_label[] = "mbox-vault/v1 entry";

struct commit {
	uint32_t number;
	uint8_t kind;
	uint8_t res[3];
	uint64_t time, prev, tree_size;
	unsigned k;
	mv_mhash fr[MV_MERKLE_MAX_DEPTH];
	uint64_t index_seq, index_off;
	mv_mhash eroot;
	uint64_t entries, cut_bytes;
	uint8_t cut_hash[32];
	uint16_t nst;
	uint64_t st_off[MV_MAX_GRANTS + 2];
	uint8_t note[MV_NOTE_MAX + 64];
	size_t note_len;
	uint64_t self_off;
	uint8_t magic[8];
	/* Encoding controls. */
	int fix_tree_size;        /* write tree_size as given, not the seq */
	int fix_frontier;         /* write k / fr as given */
	int fix_self_off;         /* write self_off as given */
	int keep_note;            /* write note as given (no re-signing) */
	int keep_eroot;           /* write eroot / entries as given (else they
				   are computed from the index it names, or
				   for a grant taken from the previous commit) */
	int sign_root_set;        /* sign sign_root instead of the tree root */
	mv_mhash sign_root;
	int note_number_set;      /* the note names note_number */
	uint32_t note_number;
	int other_key;            /* sign with the --other key */
	int16_t nst_written;      /* >= 0: stanza count field written */
	int leaf_xor_set;         /* frontier as if record leaf_rec had another hash */
	size_t leaf_rec;
};

struct rec {
	uint8_t type, flags, res2, res3;
	uint64_t old_off, old_seq;
	uint8_t old_trailer[32];
	struct mv_buf pl;          /* payload as read; written as is when raw */
	int raw, keep_seq, keep_trailer;
	int64_t set_seq;           /* >= 0: write this sequence number */
	int64_t set_len;           /* >= 0: write this length in the frame */
	int trailer_xor;
	size_t patch_off[8];
	uint8_t patch_x[8];
	int npatch;                /* XORs applied to the encoded payload */
	void (*post)(struct rec *r, struct mv_buf *pl);   /* after encoding */
	void (*body_post)(struct rec *r, struct mv_buf *body); /* index body,
				   after pointers are moved, before sealing */
	/* CHUNK */
	uint8_t blob_id[16];
	uint32_t cindex, plen;
	uint8_t commitment[32];
	uint8_t nonce[MV_NONCE_LEN];
	uint8_t *plain;
	size_t plain_len;
	/* INDEX_PAGE / INDEX_ROOT (nonce above); STANZA (stanza bytes) */
	struct mv_buf body;
	/* COMMIT */
	struct commit c;
	/* layout */
	uint64_t new_off, new_seq;
	uint8_t out_trailer[32];
};

static struct mv_vault *V;
static struct mv_keyring *KR;
static struct mv_identity *ID, *OTHER;
static uint8_t other_sk[MV_ED_SK_LEN], other_pk[MV_ED_PK_LEN];
static struct rec *R[MAXREC];
static size_t NR;
static struct mv_buf OUTB;
static long long truncate_to = -1;
static mv_mhash last_eroot;          /* of the commit encoded last */
static uint64_t last_entries;
static uint8_t append_bytes[4096];
static size_t append_len;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("forge: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void need(enum mv_err rc, const char *what)
{
	if (rc != MV_OK)
		die("%s failed (%s)", what, mv_err_name(rc));
}

/* ---- reading the model ---- */

static void chunk_ad(uint8_t *ad, size_t *adlen, uint64_t seq, const uint8_t blob_id[16],
		     uint32_t index, int last, uint32_t plen)
{
	size_t o = sizeof chunk_label - 1;

	memcpy(ad, chunk_label, o);
	memcpy(ad + o, V->h.archive_id, 16);
	o += 16;
	ad[o++] = MV_R_CHUNK;
	mv_st64(ad + o, seq);
	o += 8;
	memcpy(ad + o, blob_id, 16);
	o += 16;
	mv_st32(ad + o, index);
	o += 4;
	ad[o++] = last ? 1 : 0;
	mv_st32(ad + o, plen);
	o += 4;
	*adlen = o;
}

static void index_ad(uint8_t *ad, size_t *adlen, uint8_t type, uint64_t seq)
{
	size_t o = sizeof index_label - 1;

	memcpy(ad, index_label, o);
	memcpy(ad + o, V->h.archive_id, 16);
	ad[o + 16] = type;
	mv_st64(ad + o + 17, seq);
	*adlen = o + 25;
}

static void decode_commit(struct rec *r)
{
	struct mv_rd rd;
	struct commit *c = &r->c;
	const uint8_t *q;

	memset(c, 0, sizeof *c);
	c->nst_written = -1;
	mv_rd_init(&rd, r->pl.data, r->pl.len);
	c->number = mv_rd_u32(&rd);
	c->kind = mv_rd_u8(&rd);
	mv_rd_copy(&rd, c->res, 3);
	c->time = mv_rd_u64(&rd);
	c->prev = mv_rd_u64(&rd);
	c->tree_size = mv_rd_u64(&rd);
	c->k = mv_rd_u8(&rd);
	for (unsigned i = 0; i < c->k && i < MV_MERKLE_MAX_DEPTH; i++)
		mv_rd_copy(&rd, c->fr[i], 32);
	c->index_seq = mv_rd_u64(&rd);
	c->index_off = mv_rd_u64(&rd);
	mv_rd_copy(&rd, c->eroot, 32);
	c->entries = mv_rd_u64(&rd);
	c->cut_bytes = mv_rd_u64(&rd);
	mv_rd_copy(&rd, c->cut_hash, 32);
	c->nst = mv_rd_u16(&rd);
	for (unsigned i = 0; i < c->nst && i < MV_MAX_GRANTS + 2; i++)
		c->st_off[i] = mv_rd_u64(&rd);
	c->note_len = mv_rd_u16(&rd);
	q = mv_rd_take(&rd, c->note_len);
	if (!q || c->note_len > MV_NOTE_MAX)
		die("commit at %llu is malformed", (unsigned long long)r->old_off);
	memcpy(c->note, q, c->note_len);
	c->self_off = mv_rd_u64(&rd);
	mv_rd_copy(&rd, c->magic, 8);
	if (rd.bad || mv_rd_left(&rd))
		die("commit at %llu is malformed", (unsigned long long)r->old_off);
}

static void decode(struct rec *r)
{
	uint8_t ad[128];
	size_t adlen;

	mv_buf_init(&r->body, 64u << 20);
	switch (r->type) {
	case MV_R_CHUNK: {
		uint8_t mk[MV_KEY_LEN];

		memcpy(r->blob_id, r->pl.data, 16);
		r->cindex = mv_ld32(r->pl.data + 16);
		r->plen = mv_ld32(r->pl.data + 20);
		memcpy(r->commitment, r->pl.data + 24, 32);
		memcpy(r->nonce, r->pl.data + 56, MV_NONCE_LEN);
		r->plain_len = r->pl.len - MV_CHUNK_HEAD - MV_TAG_LEN;
		r->plain = malloc(r->plain_len + 1);
		if (!r->plain)
			die("out of memory");
		mv_message_key(mk, KR, r->blob_id);
		chunk_ad(ad, &adlen, r->old_seq, r->blob_id, r->cindex, r->flags & MV_RF_LAST,
			 r->plen);
		if (mv_aead_open(r->plain, r->pl.data + MV_CHUNK_HEAD, r->pl.len - MV_CHUNK_HEAD,
				 ad, adlen, r->pl.data + 56, mk) != MV_OK)
			die("chunk record %llu does not decrypt", (unsigned long long)r->old_seq);
		break;
	}
	case MV_R_PAGE:
	case MV_R_ROOT: {
		uint8_t *p;

		memcpy(r->nonce, r->pl.data, MV_NONCE_LEN);
		need(mv_buf_grow(&r->body, r->pl.len - MV_NONCE_LEN - MV_TAG_LEN, &p), "alloc");
		index_ad(ad, &adlen, r->type, r->old_seq);
		if (mv_aead_open(p, r->pl.data + MV_NONCE_LEN, r->pl.len - MV_NONCE_LEN, ad,
				 adlen, r->pl.data, KR->index) != MV_OK)
			die("index record %llu does not decrypt", (unsigned long long)r->old_seq);
		break;
	}
	case MV_R_STANZA:
		need(mv_buf_add(&r->body, r->pl.data, r->pl.len - 32), "alloc");
		break;
	case MV_R_COMMIT:
		decode_commit(r);
		break;
	default:
		break;
	}
}

static void load(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *b;
	size_t n, off;

	if (fd < 0 || fstat(fd, &st) != 0)
		die("cannot open %s", path);
	n = (size_t)st.st_size;
	b = malloc(n + 1);
	if (!b || read(fd, b, n) != (ssize_t)n)
		die("cannot read %s", path);
	close(fd);
	if (n < MV_MAGIC_LEN || memcmp(b, mv_file_magic, MV_MAGIC_LEN) != 0)
		die("%s is not an archive", path);
	off = MV_MAGIC_LEN;
	while (off < n) {
		struct rec *r;
		uint32_t len;

		if (n - off < MV_FRAME_OVERHEAD || NR == MAXREC)
			die("%s: cannot parse at %zu", path, off);
		len = mv_ld32(b + off + 4);
		if (n - off - MV_FRAME_OVERHEAD < len)
			die("%s: record at %zu runs past the end", path, off);
		r = calloc(1, sizeof *r);
		if (!r)
			die("out of memory");
		r->type = b[off];
		r->flags = b[off + 1];
		r->res2 = b[off + 2];
		r->res3 = b[off + 3];
		r->old_seq = mv_ld64(b + off + 8);
		r->old_off = off;
		r->set_seq = -1;
		r->set_len = -1;
		mv_buf_init(&r->pl, 64u << 20);
		need(mv_buf_add(&r->pl, b + off + MV_FRAME_HDR, len), "alloc");
		memcpy(r->old_trailer, b + off + MV_FRAME_HDR + len, 32);
		decode(r);
		R[NR++] = r;
		off += MV_FRAME_OVERHEAD + len;
	}
	free(b);
}

/* ---- writing the model ---- */

static struct rec *by_old_off(uint64_t off)
{
	for (size_t i = 0; i < NR; i++)
		if (R[i]->old_off == off)
			return R[i];
	return NULL;
}

static void remap(uint8_t *seqp, uint8_t *offp)
{
	struct rec *t = by_old_off(mv_ld64(offp));

	if (!t)
		return;
	if (seqp)
		mv_st64(seqp, t->new_seq);
	mv_st64(offp, t->new_off);
}

/* Byte offsets of the entries of a page body (and their number). */
static size_t page_entries(const struct mv_buf *body, size_t *starts, size_t *ends, size_t max)
{
	const uint8_t *p = body->data;
	size_t n = mv_ld32(p + 4), o = 8;

	if (n > max)
		die("page with %zu entries", n);
	for (size_t i = 0; i < n; i++) {
		size_t kw;

		starts[i] = o;
		o += 8;
		o += 1 + p[o];
		kw = mv_ld16(p + o);
		o += 2;
		for (size_t k = 0; k < kw; k++)
			o += 1 + p[o];
		o += 2 + mv_ld16(p + o);
		o += MV_BLOBREF_LEN;
		ends[i] = o;
		if (o > body->len)
			die("page body is malformed");
	}
	return n;
}

struct folder_ref {
	size_t name_at, name_len, delim_at, uidv_at, count_at, np_at, pages_at;
	uint32_t np;
};

/* Byte offsets of the folders of a root body. */
static size_t root_folders(const struct mv_buf *body, struct folder_ref *fr, size_t max)
{
	const uint8_t *p = body->data;
	size_t o = 4, nf;

	o += 2 + mv_ld16(p + o);
	o += 4 + mv_ld32(p + o);
	nf = mv_ld32(p + o);
	o += 4;
	if (nf > max)
		die("root with %zu folders", nf);
	for (size_t i = 0; i < nf; i++) {
		fr[i].name_len = mv_ld16(p + o);
		fr[i].name_at = o + 2;
		o += 2 + fr[i].name_len;
		fr[i].delim_at = o;
		fr[i].uidv_at = o + 2;
		fr[i].count_at = o + 2 + 4 + 4 + 8;
		fr[i].np_at = fr[i].count_at + 4;
		fr[i].np = mv_ld32(p + fr[i].np_at);
		fr[i].pages_at = fr[i].np_at + 4;
		o = fr[i].pages_at + 24u * fr[i].np;
	}
	return nf;
}

static void remap_index_body(struct rec *r, struct mv_buf *b)
{
	if (r->type == MV_R_PAGE) {
		size_t s[MV_PAGE_MAX_ENTRIES], e[MV_PAGE_MAX_ENTRIES];
		size_t n = page_entries(b, s, e, MV_PAGE_MAX_ENTRIES);

		for (size_t i = 0; i < n; i++) {
			uint8_t *br = b->data + e[i] - MV_BLOBREF_LEN;

			remap(br + 16, br + 24);
		}
	} else {
		struct folder_ref fr[64];
		size_t nf = root_folders(b, fr, 64);

		for (size_t i = 0; i < nf; i++)
			for (uint32_t j = 0; j < fr[i].np; j++) {
				uint8_t *pr = b->data + fr[i].pages_at + 24u * j;

				remap(pr, pr + 8);
			}
	}
}

/* Entries root and count of the index a commit names (format-spec 6.4). */
static void entries_root(const struct commit *c, mv_mhash root, uint64_t *count)
{
	struct rec *rr = by_old_off(c->index_off);
	struct folder_ref fr[64];
	mv_mhash *leaves = calloc(65536, sizeof *leaves);
	size_t nf, nl = 0;
	struct mv_buf leaf, moved;
	uint32_t commit;

	if (!rr || rr->type != MV_R_ROOT || !leaves)
		die("commit %u: no index root to compute entries from", c->number);
	mv_buf_init(&leaf, 1u << 20);
	mv_buf_init(&moved, 64u << 20);
	commit = mv_ld32(rr->body.data);
	nf = root_folders(&rr->body, fr, 64);
	for (size_t i = 0; i < nf; i++)
		for (uint32_t j = 0; j < fr[i].np; j++) {
			const uint8_t *pr = rr->body.data + fr[i].pages_at + 24u * j;
			struct rec *pg = by_old_off(mv_ld64(pr + 8));
			size_t s[MV_PAGE_MAX_ENTRIES], e[MV_PAGE_MAX_ENTRIES], n;

			if (!pg || pg->type != MV_R_PAGE)
				die("page reference to a non-page");
			/* The entries as written: with their pointers moved. */
			mv_buf_reset(&moved);
			need(mv_buf_add(&moved, pg->body.data, pg->body.len), "alloc");
			remap_index_body(pg, &moved);
			n = page_entries(&moved, s, e, MV_PAGE_MAX_ENTRIES);
			for (size_t k = 0; k < n; k++) {
				mv_buf_reset(&leaf);
				need(mv_buf_add(&leaf, entry_label, sizeof entry_label - 1), "alloc");
				need(mv_buf_add32(&leaf, commit), "alloc");
				need(mv_buf_add16(&leaf, (uint16_t)fr[i].name_len), "alloc");
				need(mv_buf_add(&leaf, rr->body.data + fr[i].name_at, fr[i].name_len), "alloc");
				need(mv_buf_addc(&leaf, rr->body.data[fr[i].delim_at]), "alloc");
				need(mv_buf_add(&leaf, rr->body.data + fr[i].uidv_at, 4), "alloc");
				need(mv_buf_add(&leaf, moved.data + s[k], e[k] - s[k]), "alloc");
				if (nl == 65536)
					die("too many entries");
				mv_merkle_leaf_hash(leaves[nl++], leaf.data, leaf.len);
			}
		}
	mv_merkle_root(leaves, nl, root);
	*count = nl;
	mv_buf_release(&leaf);
	mv_buf_release(&moved);
	free(leaves);
}

static void encode_commit(struct rec *r, struct mv_buf *out, const struct mv_frontier *run)
{
	struct commit *c = &r->c;
	struct mv_frontier fr;
	struct mv_checkpoint cp;
	struct mv_buf note;
	uint8_t tmp[16];
	size_t body_len;
	uint64_t tree = c->fix_tree_size ? c->tree_size : r->new_seq;
	struct rec *t;

	mv_buf_init(&note, MV_NOTE_MAX + 64);
	if (c->fix_frontier) {
		memset(&fr, 0, sizeof fr);
		fr.size = tree;
		fr.count = c->k;
		memcpy(fr.hash, c->fr, sizeof fr.hash);
	} else if (c->leaf_xor_set) {
		/* The frontier of the same records, one leaf hash changed. */
		mv_frontier_init(&fr);
		for (size_t i = 0; i < NR && R[i] != r; i++) {
			mv_mhash h;

			memcpy(h, R[i]->out_trailer, 32);
			if (i == c->leaf_rec)
				h[0] ^= 1;
			mv_frontier_add(&fr, h);
		}
	} else {
		fr = *run;
	}
	need(mv_buf_add32(out, c->number), "enc");
	need(mv_buf_addc(out, c->kind), "enc");
	need(mv_buf_add(out, c->res, 3), "enc");
	need(mv_buf_add64(out, c->time), "enc");
	if ((t = by_old_off(c->prev)) && c->prev)
		need(mv_buf_add64(out, t->new_off), "enc");
	else
		need(mv_buf_add64(out, c->prev), "enc");
	need(mv_buf_add64(out, tree), "enc");
	need(mv_buf_addc(out, (uint8_t)fr.count), "enc");
	for (unsigned i = 0; i < fr.count; i++)
		need(mv_buf_add(out, fr.hash[i], 32), "enc");
	mv_st64(tmp, c->index_seq);
	mv_st64(tmp + 8, c->index_off);
	remap(tmp, tmp + 8);
	need(mv_buf_add(out, tmp, 16), "enc");
	if (!c->keep_eroot) {
		if (c->kind == MV_COMMIT_GRANT) {
			memcpy(c->eroot, last_eroot, 32);
			c->entries = last_entries;
		} else {
			entries_root(c, c->eroot, &c->entries);
		}
	}
	memcpy(last_eroot, c->eroot, 32);
	last_entries = c->entries;
	need(mv_buf_add(out, c->eroot, 32), "enc");
	need(mv_buf_add64(out, c->entries), "enc");
	need(mv_buf_add64(out, c->cut_bytes), "enc");
	need(mv_buf_add(out, c->cut_hash, 32), "enc");
	need(mv_buf_add16(out, c->nst_written >= 0 ? (uint16_t)c->nst_written : c->nst), "enc");
	for (unsigned i = 0; i < c->nst; i++) {
		uint8_t o8[8];

		mv_st64(o8, c->st_off[i]);
		remap(NULL, o8);
		need(mv_buf_add(out, o8, 8), "enc");
	}
	body_len = out->len;
	if (!c->keep_note) {
		memcpy(cp.archive_id, V->h.archive_id, 16);
		cp.tree_size = tree;
		if (c->sign_root_set)
			memcpy(cp.root, c->sign_root, 32);
		else
			mv_frontier_root(&fr, cp.root);
		cp.commit = c->note_number_set ? c->note_number : c->number;
		cp.kind = c->kind;
		mv_sha256(cp.body_hash, out->data, body_len);
		if (c->other_key)
			need(mv_note_sign(&note, &cp, other_sk, other_pk, NULL), "sign");
		else
			need(mv_note_sign(&note, &cp, KR->ed_sk, V->h.owner_pk, NULL), "sign");
		memcpy(c->note, note.data, note.len);
		c->note_len = note.len;
	}
	need(mv_buf_add16(out, (uint16_t)c->note_len), "enc");
	need(mv_buf_add(out, c->note, c->note_len), "enc");
	need(mv_buf_add64(out, c->fix_self_off ? c->self_off : r->new_off), "enc");
	need(mv_buf_add(out, c->magic, 8), "enc");
	mv_buf_release(&note);
}

static void encode_payload(struct rec *r, struct mv_buf *out, const struct mv_frontier *run)
{
	uint8_t ad[128];
	size_t adlen;
	uint8_t *p;

	mv_buf_reset(out);
	if (r->raw) {
		need(mv_buf_add(out, r->pl.data, r->pl.len), "enc");
		return;
	}
	switch (r->type) {
	case MV_R_CHUNK: {
		uint8_t mk[MV_KEY_LEN];

		need(mv_buf_grow(out, MV_CHUNK_HEAD + r->plain_len + MV_TAG_LEN, &p), "enc");
		memcpy(p, r->blob_id, 16);
		mv_st32(p + 16, r->cindex);
		mv_st32(p + 20, r->plen);
		memcpy(p + 24, r->commitment, 32);
		memcpy(p + 56, r->nonce, MV_NONCE_LEN);
		mv_message_key(mk, KR, r->blob_id);
		chunk_ad(ad, &adlen, r->new_seq, r->blob_id, r->cindex, r->flags & MV_RF_LAST,
			 r->plen);
		mv_aead_seal(p + MV_CHUNK_HEAD, r->plain, r->plain_len, ad, adlen, r->nonce, mk);
		break;
	}
	case MV_R_PAGE:
	case MV_R_ROOT: {
		struct mv_buf b;

		mv_buf_init(&b, 64u << 20);
		need(mv_buf_add(&b, r->body.data, r->body.len), "enc");
		remap_index_body(r, &b);
		if (r->body_post)
			r->body_post(r, &b);
		need(mv_buf_grow(out, MV_NONCE_LEN + b.len + MV_TAG_LEN, &p), "enc");
		memcpy(p, r->nonce, MV_NONCE_LEN);
		index_ad(ad, &adlen, r->type, r->new_seq);
		mv_aead_seal(p + MV_NONCE_LEN, b.data, b.len, ad, adlen, p, KR->index);
		mv_buf_release(&b);
		break;
	}
	case MV_R_STANZA: {
		struct mv_buf in;
		uint8_t mac[32];

		mv_buf_init(&in, 8192);
		need(mv_buf_add64(&in, r->new_seq), "enc");
		need(mv_buf_add(&in, r->body.data, r->body.len), "enc");
		mv_blake2b(mac, 32, KR->stanza_mac, MV_KEY_LEN, in.data, in.len);
		need(mv_buf_add(out, r->body.data, r->body.len), "enc");
		need(mv_buf_add(out, mac, 32), "enc");
		mv_buf_release(&in);
		break;
	}
	case MV_R_COMMIT:
		encode_commit(r, out, run);
		break;
	default:
		need(mv_buf_add(out, r->pl.data, r->pl.len), "enc");
		break;
	}
}

/* One pass over the model; returns 1 if any record moved. */
static int encode_all(void)
{
	struct mv_frontier run;
	struct mv_buf pl;
	uint64_t off = MV_MAGIC_LEN;
	int moved = 0;

	mv_buf_init(&pl, 65u << 20);
	mv_buf_reset(&OUTB);
	need(mv_buf_add(&OUTB, mv_file_magic, MV_MAGIC_LEN), "enc");
	mv_frontier_init(&run);
	for (size_t i = 0; i < NR; i++) {
		struct rec *r = R[i];
		uint8_t hdr[MV_FRAME_HDR];
		uint64_t seq = r->set_seq >= 0 ? (uint64_t)r->set_seq : r->keep_seq ? r->old_seq : i;

		if (r->new_off != off || r->new_seq != seq)
			moved = 1;
		r->new_off = off;
		r->new_seq = seq;
		encode_payload(r, &pl, &run);
		if (r->post)
			r->post(r, &pl);
		for (int k = 0; k < r->npatch; k++) {
			if (r->patch_off[k] >= pl.len)
				die("patch past the payload");
			pl.data[r->patch_off[k]] ^= r->patch_x[k];
		}
		hdr[0] = r->type;
		hdr[1] = r->flags;
		hdr[2] = r->res2;
		hdr[3] = r->res3;
		mv_st32(hdr + 4, r->set_len >= 0 ? (uint32_t)r->set_len : (uint32_t)pl.len);
		mv_st64(hdr + 8, seq);
		if (r->keep_trailer)
			memcpy(r->out_trailer, r->old_trailer, 32);
		else
			mv_record_hash(r->out_trailer, hdr, pl.data, pl.len);
		if (r->trailer_xor)
			r->out_trailer[7] ^= 0x20;
		need(mv_buf_add(&OUTB, hdr, sizeof hdr), "enc");
		need(mv_buf_add(&OUTB, pl.data, pl.len), "enc");
		need(mv_buf_add(&OUTB, r->out_trailer, 32), "enc");
		mv_frontier_add(&run, r->out_trailer);
		off += MV_FRAME_OVERHEAD + pl.len;
	}
	mv_buf_release(&pl);
	return moved;
}

static void save(const char *path)
{
	int fd;
	size_t n;

	for (int pass = 0; encode_all(); pass++)
		if (pass > 8)
			die("layout does not settle");
	n = OUTB.len;
	if (truncate_to >= 0) {
		if ((size_t)truncate_to > n)
			die("truncating past the end");
		n = (size_t)truncate_to;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, OUTB.data, n) != (ssize_t)n ||
	    (append_len && write(fd, append_bytes, append_len) != (ssize_t)append_len) ||
	    close(fd) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* ---- helpers for scenarios ---- */

/* The position of the k-th record of a type (k from 0); dies if none. */
static size_t nth(uint8_t type, unsigned k)
{
	for (size_t i = 0; i < NR; i++)
		if (R[i]->type == type && k-- == 0)
			return i;
	die("no record of type %u number %u", type, k);
}

static size_t last_of(uint8_t type)
{
	for (size_t i = NR; i-- > 0;)
		if (R[i]->type == type)
			return i;
	die("no record of type %u", type);
}

/* Records of the first blob with at least `min` chunks: index of chunk 0. */
static size_t blob_with_chunks(unsigned min, unsigned *count)
{
	for (size_t i = 0; i < NR; i++) {
		unsigned n = 0;

		if (R[i]->type != MV_R_CHUNK || R[i]->cindex != 0)
			continue;
		while (i + n < NR && R[i + n]->type == MV_R_CHUNK &&
		       memcmp(R[i + n]->blob_id, R[i]->blob_id, 16) == 0)
			n++;
		if (n >= min) {
			if (count)
				*count = n;
			return i;
		}
	}
	die("no message with %u chunks", min);
}

/* A single-chunk, compressed blob (stored stream starts with zstd magic). */
static size_t zstd_single_chunk(void)
{
	static const uint8_t zmagic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

	for (size_t i = 0; i < NR; i++)
		if (R[i]->type == MV_R_CHUNK && R[i]->cindex == 0 && (R[i]->flags & MV_RF_LAST) &&
		    R[i]->plain_len > 4 && memcmp(R[i]->plain, zmagic, 4) == 0)
			return i;
	die("no compressed single-chunk message");
}

static void insert_at(size_t pos, struct rec *r)
{
	if (NR == MAXREC)
		die("too many records");
	memmove(&R[pos + 1], &R[pos], (NR - pos) * sizeof R[0]);
	R[pos] = r;
	NR++;
}

static struct rec *clone_rec(const struct rec *s)
{
	struct rec *r = malloc(sizeof *r);

	if (!r)
		die("out of memory");
	*r = *s;
	mv_buf_init(&r->pl, 64u << 20);
	mv_buf_init(&r->body, 64u << 20);
	need(mv_buf_add(&r->pl, s->pl.data, s->pl.len), "alloc");
	need(mv_buf_add(&r->body, s->body.data, s->body.len), "alloc");
	if (s->plain) {
		r->plain = malloc(s->plain_len + 1);
		if (!r->plain)
			die("out of memory");
		memcpy(r->plain, s->plain, s->plain_len);
	}
	/* The clone is a different record: it must not be found by offset. */
	r->old_off = UINT64_MAX;
	return r;
}

static void remove_at(size_t pos)
{
	struct rec *r = R[pos];

	mv_buf_release(&r->pl);
	mv_buf_release(&r->body);
	free(r->plain);
	free(r);
	memmove(&R[pos], &R[pos + 1], (NR - pos - 1) * sizeof R[0]);
	NR--;
}

static void patch(struct rec *r, size_t off, uint8_t x)
{
	if (r->npatch == 8)
		die("too many patches");
	r->patch_off[r->npatch] = off;
	r->patch_x[r->npatch] = x;
	r->npatch++;
}

/* The n-th entry (0-based) of the page record at position `page`. */
static uint8_t *entry_at(size_t page, unsigned n, size_t *len)
{
	size_t s[MV_PAGE_MAX_ENTRIES], e[MV_PAGE_MAX_ENTRIES];
	size_t cnt = page_entries(&R[page]->body, s, e, MV_PAGE_MAX_ENTRIES);

	if (n >= cnt)
		die("page has no entry %u", n);
	if (len)
		*len = e[n] - s[n];
	return R[page]->body.data + s[n];
}

/* The first entry (in file order) naming the blob whose chunk is at `chunk`. */
static uint8_t *entry_of_blob(size_t chunk, size_t *page_out)
{
	for (size_t i = 0; i < NR; i++) {
		size_t s[MV_PAGE_MAX_ENTRIES], e[MV_PAGE_MAX_ENTRIES], n;

		if (R[i]->type != MV_R_PAGE)
			continue;
		n = page_entries(&R[i]->body, s, e, MV_PAGE_MAX_ENTRIES);
		for (size_t k = 0; k < n; k++)
			if (memcmp(R[i]->body.data + e[k] - MV_BLOBREF_LEN, R[chunk]->blob_id, 16) == 0) {
				*page_out = i;
				return R[i]->body.data + s[k];
			}
	}
	die("no entry for that message");
}

static uint8_t *blobref_of(uint8_t *entry, size_t page)
{
	size_t s[MV_PAGE_MAX_ENTRIES], e[MV_PAGE_MAX_ENTRIES];
	size_t n = page_entries(&R[page]->body, s, e, MV_PAGE_MAX_ENTRIES);
	size_t at = (size_t)(entry - R[page]->body.data);

	for (size_t k = 0; k < n; k++)
		if (s[k] == at)
			return R[page]->body.data + e[k] - MV_BLOBREF_LEN;
	die("entry not found");
}

/* Header payload: offset of stanza i (0-based), its kind/role/len at +0..3. */
static size_t stanza_at(const struct mv_buf *h, unsigned i)
{
	size_t o = 66;

	for (unsigned k = 0; k < i; k++)
		o += 4 + mv_ld16(h->data + o + 2);
	return o;
}

static size_t stanza_of_kind(const struct mv_buf *h, uint8_t kind)
{
	unsigned n = mv_ld16(h->data + 64);

	for (unsigned i = 0; i < n; i++) {
		size_t o = stanza_at(h, i);

		if (h->data[o] == kind)
			return o;
	}
	die("header has no stanza of kind %u", kind);
}

static void header_remac(void)
{
	struct mv_buf *h = &R[0]->pl;

	mv_blake2b(h->data + h->len - 32, 32, KR->header_mac, MV_KEY_LEN, h->data, h->len - 32);
}

/* The order-8 point: small order, and not 0 or 1. */
static const uint8_t low_order_point[32] = {
	0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
	0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
	0x5f, 0x49, 0xb8, 0x00,
};

/* Re-signs a commit's note with a changed Ed25519 signature byte. */
static void flip_signature(struct commit *c)
{
	/* The signature line is the last line: "— mbox-vault <base64>\n". */
	char *s = (char *)c->note, *sp;
	uint8_t sig[4 + MV_SIG_LEN + 8];
	long got;
	char b64[128];
	size_t n = c->note_len;

	sp = memrchr(s, ' ', n);
	if (!sp)
		die("note has no signature");
	got = mv_b64_decode(sig, sizeof sig, sp + 1, (size_t)(s + n - 1 - (sp + 1)));
	if (got != 4 + MV_SIG_LEN)
		die("note signature does not decode");
	sig[4 + 10] ^= 0x01;
	mv_b64_encode(b64, sizeof b64, sig, (size_t)got);
	memcpy(sp + 1, b64, strlen(b64));
	c->keep_note = 1;
}

/* ---- scenarios ---- */

typedef void (*scen_fn)(void);

/* File level. */
static void s_identity(void) { }

static void s_magic_bad(void) { /* the first byte is changed in main */ }

static void s_header_version(void)
{
	mv_st16(R[0]->pl.data, 2);
	header_remac();
}

static void s_header_feature(void)
{
	mv_st16(R[0]->pl.data + 2, 1);
	header_remac();
}

static void s_header_chunk_log(void)
{
	R[0]->pl.data[4] = 21;
	header_remac();
}

static void s_header_reserved(void)
{
	R[0]->pl.data[6] = 1;
	header_remac();
}

static void s_header_mac(void)
{
	/* The creation time changes; the MAC is left as it was. */
	R[0]->pl.data[24] ^= 0x01;
}

static void s_header_trailing(void)
{
	need(mv_buf_addc(&R[0]->pl, 0), "alloc");
}

static void s_header_length_limit(void)
{
	R[0]->set_len = 65537;
}

static void s_stanza_length(void)
{
	struct mv_buf *h = &R[0]->pl, nb;
	size_t o = stanza_of_kind(h, MV_STANZA_X25519);
	uint16_t b = mv_ld16(h->data + o + 2);

	/* One more body byte, declared: the header still parses to its MAC. */
	mv_buf_init(&nb, 65536);
	need(mv_buf_add(&nb, h->data, o + 4 + b), "alloc");
	need(mv_buf_addc(&nb, 0), "alloc");
	need(mv_buf_add(&nb, h->data + o + 4 + b, h->len - (o + 4 + b)), "alloc");
	mv_st16(nb.data + o + 2, (uint16_t)(b + 1));
	mv_buf_release(h);
	*h = nb;
	header_remac();
}

static void s_stanza_kind(void)
{
	struct mv_buf *h = &R[0]->pl;

	h->data[stanza_of_kind(h, MV_STANZA_X25519)] = 3;
	header_remac();
}

static void s_stanza_count_zero(void)
{
	mv_st16(R[0]->pl.data + 64, 0);
	header_remac();
}

static void s_stanza_count_over(void)
{
	mv_st16(R[0]->pl.data + 64, 65);
	header_remac();
}

static void s_stanza_low_order(void)
{
	struct mv_buf *h = &R[0]->pl;

	memcpy(h->data + stanza_of_kind(h, MV_STANZA_X25519) + 4, low_order_point, 32);
	header_remac();
}

static void kdf_set(uint32_t ops, uint32_t mem)
{
	struct mv_buf *h = &R[0]->pl;
	size_t o = stanza_of_kind(h, MV_STANZA_PASS) + 4;

	if (ops)
		mv_st32(h->data + o + 16, ops);
	if (mem)
		mv_st32(h->data + o + 20, mem);
	header_remac();
}

static void s_kdf_mem_over(void) { kdf_set(0, 1048576 + 1); }
static void s_kdf_ops_over(void) { kdf_set(17, 0); }
static void s_kdf_mem_under(void) { kdf_set(0, 8191); }

static void s_stanza_record_low_order(void)
{
	memcpy(R[nth(MV_R_STANZA, 0)]->body.data + 4, low_order_point, 32);
}

static void s_stanza_record_owner(void)
{
	R[nth(MV_R_STANZA, 0)]->body.data[1] = MV_ROLE_OWNER;
}

static void s_stanza_record_mac(void)
{
	struct rec *r = R[nth(MV_R_STANZA, 0)];

	/* Encode it as it is, then spoil the MAC's last byte. */
	patch(r, r->body.len + 31, 0x01);
}

/* Records. */
static void s_record_type(void)
{
	R[nth(MV_R_CHUNK, 1)]->type = 7;
}

static void s_record_flags(void)
{
	R[nth(MV_R_CHUNK, 1)]->flags |= 0x02;
}

static void s_record_last_on_page(void)
{
	R[nth(MV_R_PAGE, 0)]->flags |= MV_RF_LAST;
}

static void s_record_reserved(void)
{
	R[nth(MV_R_CHUNK, 1)]->res3 = 1;
}

static void s_record_seq(void)
{
	size_t i = nth(MV_R_CHUNK, 1);

	R[i]->set_seq = (int64_t)i + 1;
}

static void s_record_hash_payload(void)
{
	struct rec *r = R[nth(MV_R_PAGE, 0)];

	r->keep_trailer = 1;
	patch(r, 40, 0x04);
}

static void s_record_hash_trailer(void)
{
	R[nth(MV_R_CHUNK, 1)]->trailer_xor = 1;
}

static void s_record_swapped(void)
{
	/* Two whole records change places, carrying their sequence numbers
	 * and trailers; the tree and signature are made over the new order. */
	size_t a = nth(MV_R_CHUNK, 0), b = a + 1;
	struct rec *t = R[a];

	R[a]->raw = R[b]->raw = 1;
	R[a]->keep_seq = R[b]->keep_seq = 1;
	R[a]->keep_trailer = R[b]->keep_trailer = 1;
	R[a] = R[b];
	R[b] = t;
}

static void s_record_duplicated(void)
{
	/* A verbatim copy of a record right after it; the later records are
	 * renumbered and everything re-made around it. */
	size_t a = nth(MV_R_CHUNK, 0);
	struct rec *c = clone_rec(R[a]);

	c->raw = c->keep_seq = c->keep_trailer = 1;
	insert_at(a + 1, c);
}

static void s_second_header(void)
{
	size_t a = nth(MV_R_PAGE, 0);
	struct rec *c = clone_rec(R[0]);

	insert_at(a, c);
}

static void s_commit_length_limit(void)
{
	R[last_of(MV_R_COMMIT)]->set_len = 8193;
}

static void s_chunk_length_limit(void)
{
	R[nth(MV_R_CHUNK, 1)]->set_len = 96 + (1 << V->h.chunk_log) + 1;
}

static void s_trailing_garbage(void)
{
	/* Bytes that are not a frame: an unknown record type. */
	for (size_t i = 0; i < 100; i++)
		append_bytes[i] = (uint8_t)(0xa5 ^ (i * 7));
	append_len = 100;
}

static void s_trailing_zeros(void)
{
	append_len = 64;
}

static void s_trailing_prefix(void)
{
	/* The first 40 bytes of a copy of the newest commit record: what a
	 * write cut short leaves. */
	encode_all();
	encode_all();
	{
		struct rec *r = R[last_of(MV_R_COMMIT)];

		memcpy(append_bytes, OUTB.data + r->new_off, 40);
		append_len = 40;
	}
}

static void cut_inside(struct rec *r, uint64_t into)
{
	encode_all();
	encode_all();
	truncate_to = (long long)(r->new_off + into);
}

static void s_truncated_commit(void) { cut_inside(R[last_of(MV_R_COMMIT)], 100); }
static void s_truncated_chunk(void)
{
	/* The last version's first chunk, cut inside its ciphertext. */
	size_t c1 = nth(MV_R_COMMIT, 0);
	size_t i = c1 + 1;

	while (R[i]->type != MV_R_CHUNK)
		i++;
	cut_inside(R[i], 90);
}

static void s_file_empty(void) { truncate_to = 0; }
static void s_file_magic_only(void) { truncate_to = MV_MAGIC_LEN; }
static void s_file_header_only(void)
{
	cut_inside(R[1], 0);
}

/* Chunks. */
static void s_chunk_swapped(void)
{
	size_t a = blob_with_chunks(3, NULL);
	struct rec *t = R[a];

	R[a] = R[a + 1];
	R[a + 1] = t;
}

static void s_chunk_duplicated(void)
{
	size_t a = blob_with_chunks(3, NULL);

	insert_at(a + 2, clone_rec(R[a + 1]));
}

static void s_chunk_dropped(void)
{
	size_t a = blob_with_chunks(3, NULL);

	remove_at(a + 1);
}

static void s_chunk_cut_last(void)
{
	/* Drop the last chunk and mark the one before it LAST, re-encrypted
	 * so its AEAD (which binds LAST) verifies.  The index still declares
	 * the original chunk count. */
	unsigned n;
	size_t a = blob_with_chunks(3, &n);

	remove_at(a + n - 1);
	R[a + n - 2]->flags |= MV_RF_LAST;
}

static void s_chunk_cut_last_aad(void)
{
	/* The same cut, the index changed to declare the shorter message
	 * (entries root recomputed), but the new last chunk keeps the
	 * ciphertext sealed with LAST = 0: only the AAD binding shows it. */
	unsigned n;
	size_t a = blob_with_chunks(3, &n), page;
	uint32_t full = 1u << V->h.chunk_log;
	uint8_t *en = entry_of_blob(a, &page), *br = blobref_of(en, page);

	remove_at(a + n - 1);
	R[a + n - 2]->flags |= MV_RF_LAST;
	R[a + n - 2]->raw = 1;
	mv_st32(br + 32, n - 1);
	mv_st64(br + 44, (uint64_t)(n - 1) * full);
	mv_st64(br + 52, (uint64_t)(n - 1) * full);
}

static void truncate_last_chunk(int reencrypt)
{
	unsigned n;
	size_t a = blob_with_chunks(3, &n);
	struct rec *r = R[a + n - 1];

	if (r->plain_len <= 32)
		die("last chunk too short to cut");
	if (reencrypt) {
		r->plain_len -= 16;
		r->plen -= 16;
	} else {
		r->raw = 1;
		r->pl.len -= 16;
		mv_st32(r->pl.data + 20, r->plen - 16);
	}
}

static void s_chunk_truncated(void) { truncate_last_chunk(0); }
static void s_chunk_truncated_reenc(void) { truncate_last_chunk(1); }

static void s_chunk_length_field(void)
{
	size_t a = blob_with_chunks(3, NULL);

	/* Declares one plaintext byte fewer than the record holds. */
	R[a + 2]->plen -= 1;
	R[a + 2]->raw = 0;
}

static void s_chunk_commitment(void)
{
	R[zstd_single_chunk()]->commitment[5] ^= 0x10;
}

static void s_chunk_commitment_mid(void)
{
	R[blob_with_chunks(3, NULL) + 1]->commitment[5] ^= 0x10;
}

static void s_chunk_aead(void)
{
	patch(R[zstd_single_chunk()], MV_CHUNK_HEAD + 3, 0x40);
}

static void s_chunk_padding(void)
{
	unsigned n;
	size_t a = blob_with_chunks(3, &n);
	struct rec *r = R[a + n - 1];
	size_t page;
	uint8_t *en = entry_of_blob(a, &page);
	uint8_t *br = blobref_of(en, page);

	/* The stored stream ends before the padded size: the last byte is
	 * padding. */
	if (mv_ld64(br + 44) >= mv_ld64(br + 52))
		die("that message has no padding");
	r->plain[r->plain_len - 1] = 0x01;
}

static void s_chunk_zstd(void)
{
	struct rec *r = R[zstd_single_chunk()];

	r->plain[0] ^= 0x01;   /* zstd frame magic */
}

/* One byte (0x28, the first of a zstd frame magic) after the last frame,
 * inside the stored size: taken from the padding, and the blob
 * reference's stored size follows.  Content hash and raw size stay:
 * only the framing is wrong (format-spec 5.2). */
static void s_zstd_after_frame(void)
{
	size_t page, a = zstd_single_chunk();
	uint8_t *en = entry_of_blob(a, &page);
	uint8_t *br = blobref_of(en, page);
	uint64_t stored = mv_ld64(br + 44);

	if (stored >= R[a]->plain_len)
		die("no padding after the stored stream");
	R[a]->plain[stored] = 0x28;
	mv_st64(br + 44, stored + 1);
}

static void s_content_hash(void)
{
	size_t page, a = zstd_single_chunk();
	uint8_t *en = entry_of_blob(a, &page);
	uint8_t *br = blobref_of(en, page);

	br[61] ^= 0x01;
}

/* Index. */
static void s_index_page_aead(void)
{
	patch(R[nth(MV_R_PAGE, 0)], MV_NONCE_LEN + 2, 0x01);
}

/* The breaking changes to index bodies are made after the forger has
 * moved their pointers (which needs them parseable). */
static void bp_entry_count(struct rec *r, struct mv_buf *b)
{
	(void)r;
	mv_st32(b->data + 4, MV_PAGE_MAX_ENTRIES + 1);
}

static void s_index_entry_count(void)
{
	R[nth(MV_R_PAGE, 0)]->body_post = bp_entry_count;
}

static void s_index_root_page_count(void)
{
	struct folder_ref fr[64];
	struct rec *r = R[nth(MV_R_ROOT, 0)];

	root_folders(&r->body, fr, 64);
	/* The first page reference's entry count, and the folder's. */
	mv_st32(r->body.data + fr[0].pages_at + 20, MV_PAGE_MAX_ENTRIES + 1);
	mv_st32(r->body.data + fr[0].count_at, MV_PAGE_MAX_ENTRIES + 1);
}

static void bp_keywords(struct rec *r, struct mv_buf *b)
{
	uint8_t *en = b->data + 8;

	(void)r;
	mv_st16(en + 8 + 1 + en[8], MV_MAX_KEYWORDS + 1);
}

static void s_index_keywords(void)
{
	R[nth(MV_R_PAGE, 0)]->body_post = bp_keywords;
}

static void bp_date(struct rec *r, struct mv_buf *b)
{
	(void)r;
	b->data[8 + 8] = MV_MAX_DATE_LEN + 1;
}

static void s_index_date(void)
{
	R[nth(MV_R_PAGE, 0)]->body_post = bp_date;
}

static void bp_folders(struct rec *r, struct mv_buf *b)
{
	size_t o = 4;

	(void)r;
	o += 2 + mv_ld16(b->data + o);
	o += 4 + mv_ld32(b->data + o);
	mv_st32(b->data + o, MV_MAX_FOLDERS + 1);
}

static void s_index_folders(void)
{
	R[nth(MV_R_ROOT, 0)]->body_post = bp_folders;
}

static void s_index_nchunks(void)
{
	size_t page, a = blob_with_chunks(3, NULL);
	uint8_t *en = entry_of_blob(a, &page);
	uint8_t *br = blobref_of(en, page);

	mv_st32(br + 32, mv_ld32(br + 32) - 1);
}

static void s_index_uid_order(void)
{
	size_t page = nth(MV_R_PAGE, 0);
	uint8_t *e1 = entry_at(page, 1, NULL);

	mv_st32(e1, mv_ld32(entry_at(page, 0, NULL)));
}

static void s_index_commit_number(void)
{
	mv_st32(R[nth(MV_R_ROOT, 0)]->body.data, 7);
}

static void s_index_blob_pointer(void)
{
	/* The first message's reference names the first index page. */
	size_t page, a = nth(MV_R_CHUNK, 0), pg = nth(MV_R_PAGE, 0);
	uint8_t *en = entry_of_blob(a, &page);
	uint8_t *br = blobref_of(en, page);

	mv_st64(br + 16, R[pg]->old_seq);
	mv_st64(br + 24, R[pg]->old_off);
}

static void s_index_stale(void)
{
	/* Version 2 names version 1's index (and its entries root). */
	struct commit *c1 = &R[nth(MV_R_COMMIT, 0)]->c, *c2 = &R[nth(MV_R_COMMIT, 1)]->c;

	c2->index_seq = c1->index_seq;
	c2->index_off = c1->index_off;
}

static void s_entries_root(void)
{
	struct commit *c = &R[last_of(MV_R_COMMIT)]->c;

	c->keep_eroot = 1;
	c->eroot[0] ^= 0x01;
}

/* Commits. */
static void s_commit_signature(void)
{
	struct rec *r = R[last_of(MV_R_COMMIT)];

	encode_all();
	flip_signature(&r->c);
}

static void s_commit_other_key(void)
{
	R[last_of(MV_R_COMMIT)]->c.other_key = 1;
}

static void s_commit_body_hash(void)
{
	struct rec *r = R[last_of(MV_R_COMMIT)];

	encode_all();
	r->c.keep_note = 1;
	r->c.time += 1;
}

static void s_resigned(void)
{
	/* A whole, valid archive owned by the other key: owner key in the
	 * header, owner stanza re-wrapped to carry the other seed, header
	 * MAC, and every commit signed by the other key. */
	struct mv_buf *h = &R[0]->pl;
	size_t o = stanza_of_kind(h, MV_STANZA_X25519);
	uint8_t plain[16 + 1 + 64];

	if (!OTHER || !ID)
		die("resigned needs --identity and --other");
	if (h->data[o + 1] != MV_ROLE_OWNER)
		die("first X25519 stanza is not the owner's");
	memcpy(h->data + 32, other_pk, 32);
	memcpy(plain, V->h.archive_id, 16);
	plain[16] = MV_ROLE_OWNER;
	memcpy(plain + 17, KR->fk, 32);
	memcpy(plain + 49, OTHER->ed_seed, 32);
	need(mv_seal(h->data + o + 4, plain, sizeof plain, ID->x_pk), "seal");
	header_remac();
	for (size_t i = 0; i < NR; i++)
		if (R[i]->type == MV_R_COMMIT)
			R[i]->c.other_key = 1;
}

static void s_owner_key_replaced(void)
{
	/* What someone without any key can do: put another owner key in the
	 * header and sign every commit with it.  The header MAC, which needs
	 * the file key, is left as it was. */
	if (!OTHER)
		die("owner-key-replaced needs --other");
	memcpy(R[0]->pl.data + 32, other_pk, 32);
	for (size_t i = 0; i < NR; i++)
		if (R[i]->type == MV_R_COMMIT)
			R[i]->c.other_key = 1;
}

static void s_stanza_sealed_id(void)
{
	/* The owner's X25519 stanza, sealed again to the owner with another
	 * archive ID inside (format-spec 4.2: `stanza`); header MAC redone. */
	struct mv_buf *h = &R[0]->pl;
	size_t o = stanza_of_kind(h, MV_STANZA_X25519);
	uint8_t plain[16 + 1 + 64];

	if (!ID)
		die("stanza-sealed-id needs --identity");
	memcpy(plain, V->h.archive_id, 16);
	plain[0] ^= 0x01;
	plain[16] = MV_ROLE_OWNER;
	memcpy(plain + 17, KR->fk, 32);
	memcpy(plain + 49, KR->ed_seed, 32);
	need(mv_seal(h->data + o + 4, plain, sizeof plain, ID->x_pk), "seal");
	header_remac();
}

static void s_chain_prev(void)
{
	/* Version 2 names the header record as its predecessor. */
	R[nth(MV_R_COMMIT, 1)]->c.prev = MV_MAGIC_LEN;
}

static void s_chain_number(void)
{
	R[nth(MV_R_COMMIT, 1)]->c.number = 3;
}

static void s_chain_first_prev(void)
{
	R[nth(MV_R_COMMIT, 0)]->c.prev = MV_MAGIC_LEN;
}

static void s_merkle_frontier(void)
{
	/* Version 2's frontier and signed root are those of a tree in which
	 * version 1's commit record had another hash: it does not extend
	 * version 1 as written. */
	struct rec *r = R[nth(MV_R_COMMIT, 1)];

	r->c.leaf_xor_set = 1;
	r->c.leaf_rec = nth(MV_R_COMMIT, 0);
}

static void s_merkle_signed_root(void)
{
	struct commit *c = &R[last_of(MV_R_COMMIT)]->c;

	c->sign_root_set = 1;
	memset(c->sign_root, 0x5a, 32);
}

static void s_merkle_tree_size(void)
{
	struct rec *r = R[last_of(MV_R_COMMIT)];

	encode_all();
	r->c.fix_tree_size = 1;
	r->c.tree_size = r->new_seq + 1;
}

static void s_merkle_frontier_count(void)
{
	struct rec *r = R[last_of(MV_R_COMMIT)];
	struct mv_frontier fr;

	encode_all();
	mv_frontier_init(&fr);
	for (size_t i = 0; i + 1 < NR; i++)
		mv_frontier_add(&fr, R[i]->out_trailer);
	r->c.fix_frontier = 1;
	r->c.k = fr.count + 1;
	memcpy(r->c.fr, fr.hash, sizeof r->c.fr);
	memset(r->c.fr[fr.count], 0x33, 32);
}

static void s_commit_stanza_count(void)
{
	R[last_of(MV_R_COMMIT)]->c.nst_written = 65;
}

/* Offset of a commit payload's note length field. */
static size_t note_len_at(const struct mv_buf *pl)
{
	size_t o = 4 + 1 + 3 + 8 + 8 + 8;
	unsigned k = pl->data[o];

	o += 1 + 32u * k + 8 + 8 + 32 + 8 + 8 + 32;
	return o + 2 + 8u * mv_ld16(pl->data + o);
}

static void post_note_length(struct rec *r, struct mv_buf *pl)
{
	(void)r;
	mv_st16(pl->data + note_len_at(pl), MV_NOTE_MAX + 1);
}

static void s_commit_note_length(void)
{
	R[last_of(MV_R_COMMIT)]->post = post_note_length;
}

static void s_commit_self_offset(void)
{
	struct commit *c = &R[last_of(MV_R_COMMIT)]->c;

	c->fix_self_off = 1;
	c->self_off = MV_MAGIC_LEN;
}

static void s_commit_magic(void)
{
	R[last_of(MV_R_COMMIT)]->c.magic[7] = 'X';
}

static void post_kind(struct rec *r, struct mv_buf *pl)
{
	(void)r;
	pl->data[4] = 4;
}

static void s_commit_kind(void)
{
	/* Kind 4 in the record; the note, which cannot name it, is signed
	 * for the original kind. */
	R[last_of(MV_R_COMMIT)]->post = post_kind;
}

static void s_commit_reserved(void)
{
	R[last_of(MV_R_COMMIT)]->c.res[1] = 1;
}

static void s_commit_torn_fields(void)
{
	R[last_of(MV_R_COMMIT)]->c.cut_bytes = 5;
}

static void s_grant_index(void)
{
	struct commit *c = &R[last_of(MV_R_COMMIT)]->c;

	/* The grant names version 1's index instead of keeping version 2's. */
	c->index_seq = R[nth(MV_R_COMMIT, 0)]->c.index_seq;
	c->index_off = R[nth(MV_R_COMMIT, 0)]->c.index_off;
}

static void s_grant_no_stanza(void)
{
	R[last_of(MV_R_COMMIT)]->c.nst = 0;
}

static void s_commit_duplicated(void)
{
	/* Version 1's commit appears again (re-signed at its new place) in
	 * place of version 2's. */
	size_t c1 = nth(MV_R_COMMIT, 0), c2 = nth(MV_R_COMMIT, 1);
	struct rec *c = clone_rec(R[c1]);

	c->c.prev = 0;
	insert_at(c2, c);
	remove_at(c2 + 1);
}

/* What a granted reader can do without the signing key: replace a
 * message's bytes (same length), re-encrypt its chunk, put the new keyed
 * content hash in every index entry that names it, re-encrypt those pages
 * and recompute the record trailers.  No commit is touched: every note,
 * frontier and entries root stays as the owner signed it. */
static void s_reader_forge(void)
{
	static const char fake[] = "Subject: hi\n\nFAKE!\n";
	size_t a = nth(MV_R_CHUNK, 0);
	struct rec *r = R[a];
	uint8_t h[32];

	if (r->plain_len < sizeof fake - 1 || memcmp(r->plain, "Subject: hi\n\nshort\n", 19) != 0)
		die("the first message is not the one expected");
	memcpy(r->plain, fake, sizeof fake - 1);
	if (mv_hmac_sha256(h, KR->content, MV_KEY_LEN, r->plain, 19))
		die("out of memory");
	for (size_t i = 0; i < NR; i++) {
		size_t st[MV_PAGE_MAX_ENTRIES], e[MV_PAGE_MAX_ENTRIES], n;

		if (R[i]->type != MV_R_PAGE)
			continue;
		n = page_entries(&R[i]->body, st, e, MV_PAGE_MAX_ENTRIES);
		for (size_t k = 0; k < n; k++) {
			uint8_t *br = R[i]->body.data + e[k] - MV_BLOBREF_LEN;

			if (memcmp(br, r->blob_id, 16) == 0)
				memcpy(br + 61, h, 32);
		}
	}
	for (size_t i = 0; i < NR; i++)
		if (R[i]->type == MV_R_COMMIT)
			R[i]->raw = 1;
}

static const struct {
	const char *name;
	scen_fn fn;
} scenarios[] = {
	{ "reader-forge", s_reader_forge },
	{ "identity", s_identity },
	{ "magic-bad", s_magic_bad },
	{ "file-empty", s_file_empty },
	{ "file-magic-only", s_file_magic_only },
	{ "file-header-only", s_file_header_only },
	{ "header-version", s_header_version },
	{ "header-feature", s_header_feature },
	{ "header-chunk-log", s_header_chunk_log },
	{ "header-reserved", s_header_reserved },
	{ "header-mac", s_header_mac },
	{ "header-trailing", s_header_trailing },
	{ "header-length-limit", s_header_length_limit },
	{ "stanza-length", s_stanza_length },
	{ "stanza-kind", s_stanza_kind },
	{ "stanza-count-zero", s_stanza_count_zero },
	{ "stanza-count-over", s_stanza_count_over },
	{ "stanza-low-order", s_stanza_low_order },
	{ "kdf-mem-over", s_kdf_mem_over },
	{ "kdf-ops-over", s_kdf_ops_over },
	{ "kdf-mem-under", s_kdf_mem_under },
	{ "stanza-record-low-order", s_stanza_record_low_order },
	{ "stanza-record-owner", s_stanza_record_owner },
	{ "stanza-record-mac", s_stanza_record_mac },
	{ "record-type", s_record_type },
	{ "record-flags", s_record_flags },
	{ "record-last-on-page", s_record_last_on_page },
	{ "record-reserved", s_record_reserved },
	{ "record-seq", s_record_seq },
	{ "record-hash-payload", s_record_hash_payload },
	{ "record-hash-trailer", s_record_hash_trailer },
	{ "record-swapped", s_record_swapped },
	{ "record-duplicated", s_record_duplicated },
	{ "second-header", s_second_header },
	{ "commit-length-limit", s_commit_length_limit },
	{ "chunk-length-limit", s_chunk_length_limit },
	{ "trailing-garbage", s_trailing_garbage },
	{ "trailing-zeros", s_trailing_zeros },
	{ "trailing-prefix", s_trailing_prefix },
	{ "truncated-commit", s_truncated_commit },
	{ "truncated-chunk", s_truncated_chunk },
	{ "chunk-swapped", s_chunk_swapped },
	{ "chunk-duplicated", s_chunk_duplicated },
	{ "chunk-dropped", s_chunk_dropped },
	{ "chunk-cut-last", s_chunk_cut_last },
	{ "chunk-cut-last-aad", s_chunk_cut_last_aad },
	{ "chunk-truncated", s_chunk_truncated },
	{ "chunk-truncated-reenc", s_chunk_truncated_reenc },
	{ "chunk-length-field", s_chunk_length_field },
	{ "chunk-commitment", s_chunk_commitment },
	{ "chunk-commitment-mid", s_chunk_commitment_mid },
	{ "chunk-aead", s_chunk_aead },
	{ "chunk-padding", s_chunk_padding },
	{ "chunk-zstd", s_chunk_zstd },
	{ "zstd-after-frame", s_zstd_after_frame },
	{ "content-hash", s_content_hash },
	{ "index-page-aead", s_index_page_aead },
	{ "index-entry-count", s_index_entry_count },
	{ "index-root-page-count", s_index_root_page_count },
	{ "index-keywords", s_index_keywords },
	{ "index-date", s_index_date },
	{ "index-folders", s_index_folders },
	{ "index-nchunks", s_index_nchunks },
	{ "index-uid-order", s_index_uid_order },
	{ "index-commit-number", s_index_commit_number },
	{ "index-blob-pointer", s_index_blob_pointer },
	{ "index-stale", s_index_stale },
	{ "entries-root", s_entries_root },
	{ "commit-signature", s_commit_signature },
	{ "commit-other-key", s_commit_other_key },
	{ "commit-body-hash", s_commit_body_hash },
	{ "resigned", s_resigned },
	{ "owner-key-replaced", s_owner_key_replaced },
	{ "stanza-sealed-id", s_stanza_sealed_id },
	{ "chain-prev", s_chain_prev },
	{ "chain-number", s_chain_number },
	{ "chain-first-prev", s_chain_first_prev },
	{ "merkle-frontier", s_merkle_frontier },
	{ "merkle-signed-root", s_merkle_signed_root },
	{ "merkle-tree-size", s_merkle_tree_size },
	{ "merkle-frontier-count", s_merkle_frontier_count },
	{ "commit-stanza-count", s_commit_stanza_count },
	{ "commit-note-length", s_commit_note_length },
	{ "commit-self-offset", s_commit_self_offset },
	{ "commit-magic", s_commit_magic },
	{ "commit-kind", s_commit_kind },
	{ "commit-reserved", s_commit_reserved },
	{ "commit-torn-fields", s_commit_torn_fields },
	{ "grant-index", s_grant_index },
	{ "grant-no-stanza", s_grant_no_stanza },
	{ "commit-duplicated", s_commit_duplicated },
};

static struct mv_identity *read_identity(const char *path)
{
	struct mv_identity *id = NULL;
	struct mv_error e;

	mv_error_clear(&e);
	if (mv_identity_read(path, NULL, 0, &id, &e) != MV_OK)
		die("%s: %s", path, e.msg);
	return id;
}

static char *read_pass(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	static char buf[1024];

	if (!f || !fgets(buf, sizeof buf, f))
		die("cannot read %s", path);
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	*len = strlen(buf);
	return buf;
}

int main(int argc, char **argv)
{
	struct mv_creds cr;
	struct mv_error e;
	const char *in = NULL, *out = NULL, *scen = NULL;
	scen_fn fn = NULL;
	int i;

	memset(&cr, 0, sizeof cr);
	mv_error_clear(&e);
	need(mv_crypto_init(&e), "crypto init");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--identity") == 0 && i + 1 < argc) {
			ID = read_identity(argv[++i]);
			cr.x_sk = ID->x_sk;
			cr.x_pk = ID->x_pk;
			cr.ed_seed = ID->ed_seed;
		} else if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc) {
			cr.pass = read_pass(argv[++i], &cr.passlen);
		} else if (strcmp(argv[i], "--other") == 0 && i + 1 < argc) {
			OTHER = read_identity(argv[++i]);
			mv_ed25519_from_seed(other_pk, other_sk, OTHER->ed_seed);
		} else if (!in) {
			in = argv[i];
		} else if (!out) {
			out = argv[i];
		} else if (!scen) {
			scen = argv[i];
		} else {
			die("usage: forge [--identity F | --passphrase-file F] [--other F] IN OUT SCENARIO");
		}
	}
	if (!scen)
		die("usage: forge [--identity F | --passphrase-file F] [--other F] IN OUT SCENARIO");
	for (size_t k = 0; k < sizeof scenarios / sizeof scenarios[0]; k++)
		if (strcmp(scenarios[k].name, scen) == 0)
			fn = scenarios[k].fn;
	if (!fn)
		die("unknown scenario '%s'", scen);
	if (mv_vault_open(&V, in, 0, &e) != MV_OK || mv_vault_unlock(V, &cr, &e) != MV_OK)
		die("%s: %s", in, e.msg);
	KR = V->kr;
	if (!KR->can_sign)
		die("%s: the key given cannot sign", in);
	if ((fn == s_commit_other_key || fn == s_resigned || fn == s_owner_key_replaced) && !OTHER)
		die("%s needs --other", scen);
	mv_buf_init(&OUTB, 1u << 30);
	load(in);
	fn();
	save(out);
	if (fn == s_magic_bad) {
		/* The only change is the first byte of the file. */
		int fd = open(out, O_WRONLY);
		uint8_t b = 0x88;

		if (fd < 0 || pwrite(fd, &b, 1, 0) != 1 || close(fd) != 0)
			die("cannot patch %s", out);
	}
	return 0;
}
