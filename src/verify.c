/*
 * verify.c - whole-archive verification; see verify.h.
 *
 * The keyless walk reads the file once, front to back, through one large
 * buffer (a pread per record would cost a system call per 256 KiB chunk
 * and defeat read-ahead), and parses frames out of that buffer against an
 * explicit end: the end of the newest commit.  Per record it keeps only
 * the offset and type (9 bytes), which the chain and the keyed checks
 * need to resolve pointers; the Merkle tree is followed with a frontier.
 */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "crypto.h"
#include "frame.h"
#include "msgmeta.h"
#include "utf7.h"

/* How much of the file one read brings in. */
#define READ_CHUNK ((size_t)4 << 20)

/* ---- a sequential reader over the archive ---- */

struct rdr {
	int fd;
	const char *path;
	uint8_t *buf;
	size_t cap;         /* allocated bytes */
	size_t len;         /* bytes of buf that hold file data */
	uint64_t base;      /* file offset of buf[0] */
	uint64_t limit;     /* never read at or past this offset */
};

static void rdr_init(struct rdr *r, struct mv_vault *v, uint64_t limit)
{
	memset(r, 0, sizeof *r);
	r->fd = v->fd;
	r->path = v->path;
	r->limit = limit;
	r->base = MV_MAGIC_LEN;
#ifdef POSIX_FADV_SEQUENTIAL
	(void)posix_fadvise(v->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
}

static void rdr_release(struct rdr *r)
{
	free(r->buf);
	r->buf = NULL;
}

/*
 * Makes file bytes [off, off + n) available and points *p at them.  Reads
 * only move forward: bytes before off are dropped.  n is at most one
 * record (64 MiB + 48, format-spec 9), which bounds the buffer.
 * MV_E_LENGTH if the range passes the limit or the end of the file.
 */
static enum mv_err rdr_need(struct rdr *r, uint64_t off, size_t n, const uint8_t **p,
			    struct mv_error *e)
{
	size_t keep = 0, want;

	if (off >= r->base && off - r->base <= r->len && n <= r->len - (off - r->base)) {
		*p = r->buf + (off - r->base);
		return MV_OK;
	}
	if (off > r->limit || n > r->limit - off)
		return mv_fail(e, MV_E_LENGTH,
			       "record runs past the end of the newest commit (offset %llu)",
			       (unsigned long long)r->limit);
	if (off >= r->base && off - r->base < r->len) {
		keep = r->len - (size_t)(off - r->base);
		memmove(r->buf, r->buf + (off - r->base), keep);
	}
	r->base = off;
	r->len = keep;
	if (r->cap < n || r->cap < READ_CHUNK) {
		size_t nc = n > READ_CHUNK ? n : READ_CHUNK;
		uint8_t *nb = realloc(r->buf, nc);

		if (!nb)
			return mv_fail(e, MV_E_NOMEM, "out of memory reading '%s'", r->path);
		r->buf = nb;
		r->cap = nc;
	}
	want = r->limit - r->base < r->cap ? (size_t)(r->limit - r->base) : r->cap;
	while (r->len < want) {
		ssize_t got = pread(r->fd, r->buf + r->len, want - r->len,
				    (off_t)(r->base + r->len));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return mv_fail(e, MV_E_IO, "cannot read '%s': %s", r->path,
				       strerror(errno));
		if (got == 0)
			break;
		r->len += (size_t)got;
	}
	if (r->len < n)
		return mv_fail(e, MV_E_LENGTH, "the file ends inside a record");
	*p = r->buf;
	return MV_OK;
}

/* One record as the walk sees it: the frame (trailer in f.hash) and its
 * bytes, valid until the next read. */
struct rec {
	struct mv_frame f;
	const uint8_t *raw;       /* frame header then payload */
	const uint8_t *payload;
};

/*
 * Reads and checks record `seq` at `off`: frame (format-spec 2), trailer,
 * sequence number.  The header record is read with chunk_log 0, as
 * mv_frame_parse asks.
 */
static enum mv_err rec_read(struct rdr *r, uint64_t off, uint64_t seq, unsigned chunk_log,
			    struct rec *rec, struct mv_error *e)
{
	const uint8_t *p;
	mv_mhash want;
	enum mv_err rc;

	rec->f.type = 0;
	if ((rc = rdr_need(r, off, MV_FRAME_HDR, &p, e)))
		return rc;
	rec->f.type = p[0];
	if ((rc = mv_frame_parse(p, off, seq ? chunk_log : 0, &rec->f, e)))
		return rc;
	if ((rc = rdr_need(r, off, (size_t)MV_FRAME_OVERHEAD + rec->f.len, &p, e)))
		return rc;
	/* The header and payload are contiguous here: one leaf hash. */
	mv_merkle_leaf_hash(want, p, (size_t)MV_FRAME_HDR + rec->f.len);
	memcpy(rec->f.hash, p + MV_FRAME_HDR + rec->f.len, MV_TRAILER);
	if (memcmp(want, rec->f.hash, MV_TRAILER) != 0)
		return mv_fail(e, MV_E_RECORD_HASH, "%s record does not match its hash",
			       mv_rtype_name(rec->f.type));
	if (rec->f.seq != seq)
		return mv_fail(e, MV_E_SEQUENCE, "record carries sequence number %llu",
			       (unsigned long long)rec->f.seq);
	rec->raw = p;
	rec->payload = p + MV_FRAME_HDR;
	return MV_OK;
}

/* Number of records up to and including the newest commit, bounded by
 * the bytes they must occupy. */
static enum mv_err record_count(const struct mv_vault *v, uint64_t *n, struct mv_error *e)
{
	if (!v->has_commit)
		return mv_fail(e, MV_E_EMPTY, "'%s' has no committed version", v->path);
	if (v->last.tree_size >= (v->last.end - MV_MAGIC_LEN) / MV_FRAME_OVERHEAD)
		return mv_fail(e, MV_E_MERKLE,
			       "newest commit declares %llu records, more than the file holds",
			       (unsigned long long)v->last.tree_size);
	*n = v->last.tree_size + 1;
	return MV_OK;
}

enum mv_err mv_vault_leaf_hashes(struct mv_vault *v, uint64_t upto, mv_mhash **out,
				 uint64_t *n, struct mv_error *e)
{
	struct rdr r;
	struct rec rec;
	mv_mhash *h = NULL;
	uint64_t total, off = MV_MAGIC_LEN;
	struct mv_error scratch;
	enum mv_err rc;

	if (!e) {
		mv_error_clear(&scratch);
		e = &scratch;
	}
	*out = NULL;
	*n = 0;
	rdr_init(&r, v, v->has_commit ? v->last.end : MV_MAGIC_LEN);
	if ((rc = record_count(v, &total, e)))
		goto out;
	if (upto == 0 || upto > total) {
		rc = mv_fail(e, MV_E_USAGE, "asked for %llu leaf hashes of %llu records",
			     (unsigned long long)upto, (unsigned long long)total);
		goto out;
	}
	h = malloc(upto * sizeof *h);
	if (!h) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory for %llu leaf hashes",
			     (unsigned long long)upto);
		goto out;
	}
	for (uint64_t seq = 0; seq < upto; seq++) {
		rc = rec_read(&r, off, seq, v->h.chunk_log, &rec, e);
		if (rc == MV_OK && (seq == 0) != (rec.f.type == MV_R_HEADER))
			rc = mv_fail(e, MV_E_FRAME, seq ? "a second header record"
						       : "first record is not the header");
		if (rc) {
			e->record = (int64_t)seq;
			e->offset = (int64_t)off;
			mv_error_prefix(e, "record %llu (%s) at offset %llu",
					(unsigned long long)seq, mv_rtype_name(rec.f.type),
					(unsigned long long)off);
			goto out;
		}
		memcpy(h[seq], rec.f.hash, MV_MERKLE_HASH);
		off += MV_FRAME_OVERHEAD + (uint64_t)rec.f.len;
	}
	*out = h;
	*n = upto;
	h = NULL;
out:
	free(h);
	rdr_release(&r);
	return rc;
}

int mv_fingerprint_normalize(char out[65], const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		out[i] = c;
	}
	if (s[64] != '\0')
		return -1;
	out[64] = '\0';
	return 0;
}

/* ---- the keyless walk ---- */

/* What the keyed pass needs of each commit. */
struct commit_lite {
	uint32_t number;
	int kind;
	uint64_t offset, tree_size, index_seq, index_off, entries;
	mv_mhash entries_root;
};

struct walk {
	struct mv_vault *v;
	struct mv_verify_report *r;
	uint64_t nrec;             /* records up to the newest commit */
	uint64_t *off;             /* nrec offsets */
	uint8_t *type;             /* nrec types */
	struct mv_frontier fr;
	int have_prev;
	struct mv_commit_info prev;
	struct commit_lite *commits;
	size_t ncommits, capcommits;
	/* STANZA records since the previous commit (format-spec 4.4). */
	uint64_t new_stanza[MV_MAX_STANZA_RECORDS];
	size_t nnew;
	/* The blob whose chunks are being walked (format-spec 5.4). */
	int in_blob;
	uint8_t blob_id[MV_BLOB_ID_LEN];
	uint8_t commitment[MV_HASH_LEN];
	uint32_t next_index;
};

/* The version that record seq belongs to while walking. */
static uint32_t cur_version(const struct walk *w)
{
	return w->have_prev ? w->prev.number + 1 : 1;
}

/* Names where a failure happened; returns e->code. */
static enum mv_err pin(struct mv_error *e, uint32_t version, uint64_t seq, uint64_t off,
		       uint8_t type)
{
	e->version = version;
	e->record = (int64_t)seq;
	e->offset = (int64_t)off;
	return mv_error_prefix(e, "version %u, record %llu (%s) at offset %llu", version,
			       (unsigned long long)seq, mv_rtype_name(type),
			       (unsigned long long)off);
}

/* CHUNK records, keyless: lengths (5.4) and that a blob's chunks are
 * consecutive records with consecutive indexes and one commitment. */
static enum mv_err check_chunk(struct walk *w, const struct rec *rec, struct mv_error *e)
{
	const uint8_t *p = rec->payload;
	uint32_t full = 1u << w->v->h.chunk_log, plen, index;
	int last = (rec->f.flags & MV_RF_LAST) != 0;

	if (rec->f.len < MV_CHUNK_HEAD + MV_TAG_LEN)
		return mv_fail(e, MV_E_LENGTH, "chunk record of %u bytes is too short", rec->f.len);
	plen = mv_ld32(p + 20);
	index = mv_ld32(p + 16);
	if (plen > full || (!last && plen != full))
		return mv_fail(e, MV_E_LENGTH, "chunk declares %u plaintext bytes", plen);
	if (rec->f.len != (uint64_t)MV_CHUNK_HEAD + MV_TAG_LEN + plen)
		return mv_fail(e, MV_E_LENGTH,
			       "chunk record holds %u bytes but declares %u plaintext bytes",
			       rec->f.len, plen);
	if (index == 0) {
		/* A new blob.  One that stopped without its LAST chunk (a
		 * writer that gave up on a message) is unreferenced: fine. */
		memcpy(w->blob_id, p, MV_BLOB_ID_LEN);
		memcpy(w->commitment, p + 24, MV_HASH_LEN);
	} else if (!w->in_blob || index != w->next_index ||
		   memcmp(w->blob_id, p, MV_BLOB_ID_LEN) != 0) {
		return mv_fail(e, MV_E_CHUNK,
			       "chunk %u does not follow chunk %u of the same message", index,
			       index - 1);
	} else if (memcmp(w->commitment, p + 24, MV_HASH_LEN) != 0) {
		return mv_fail(e, MV_E_COMMITMENT,
			       "chunk's key commitment differs from its message's first chunk");
	}
	w->in_blob = !last;
	w->next_index = index + 1;
	w->r->chunks++;
	return MV_OK;
}

/* Offset of a STANZA record: 1 if off is one (found by binary search). */
static int is_stanza_at(const struct walk *w, uint64_t upto, uint64_t off)
{
	uint64_t lo = 0, hi = upto;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (w->off[mid] == off)
			return w->type[mid] == MV_R_STANZA;
		if (w->off[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* A COMMIT record (format-spec 8): signature, frontier, chain, pointers. */
static enum mv_err check_commit(struct walk *w, const struct rec *rec, uint64_t seq,
				uint64_t off, struct mv_error *e)
{
	struct mv_commit_info ci;
	const struct mv_commit_info *pc = w->have_prev ? &w->prev : NULL;
	uint32_t want_no = cur_version(w);
	mv_mhash empty;
	enum mv_err rc;

	rc = mv_commit_parse(w->v, rec->payload, rec->f.len, off, seq, &ci, e);
	if (rc)
		return rc;
	if (ci.number != want_no)
		return mv_fail(e, MV_E_CHAIN, "commit is numbered %u, expected %u", ci.number,
			       want_no);
	if (ci.prev != (pc ? pc->offset : 0))
		return mv_fail(e, MV_E_CHAIN,
			       "commit names offset %llu as its predecessor, expected %llu",
			       (unsigned long long)ci.prev,
			       (unsigned long long)(pc ? pc->offset : 0));
	/* The signed root was checked against the stored frontier; now the
	 * stored frontier against the records themselves (format-spec 7). */
	if (w->fr.size != ci.frontier.size || w->fr.count != ci.frontier.count)
		return mv_fail(e, MV_E_MERKLE, "commit's frontier has the wrong shape");
	for (unsigned i = 0; i < w->fr.count; i++)
		if (memcmp(w->fr.hash[i], ci.frontier.hash[i], MV_MERKLE_HASH) != 0)
			return mv_fail(e, MV_E_MERKLE,
				       "commit's frontier does not match the records before it");
	if (ci.kind == MV_COMMIT_GRANT) {
		if (!pc)
			return mv_fail(e, MV_E_CHAIN, "the first version is a grant");
		if (ci.index_seq != pc->index_seq || ci.index_off != pc->index_off ||
		    ci.entries != pc->entries ||
		    memcmp(ci.entries_root, pc->entries_root, MV_MERKLE_HASH) != 0)
			return mv_fail(e, MV_E_CHAIN,
				       "grant does not keep the previous version's index");
	} else {
		if (ci.index_seq == 0 || ci.index_seq >= seq ||
		    w->type[ci.index_seq] != MV_R_ROOT || w->off[ci.index_seq] != ci.index_off)
			return mv_fail(e, MV_E_CHAIN,
				       "commit's index pointer (record %llu at offset %llu) does not name an index root",
				       (unsigned long long)ci.index_seq,
				       (unsigned long long)ci.index_off);
	}
	mv_merkle_root(NULL, 0, empty);
	if (ci.entries == 0 && memcmp(ci.entries_root, empty, MV_MERKLE_HASH) != 0)
		return mv_fail(e, MV_E_MERKLE, "commit has no entries but a non-empty entries root");
	/* Stanza list: inherited unchanged, and a grant appends exactly the
	 * STANZA records written since the previous commit. */
	{
		size_t had = pc ? pc->nstanzas : 0;
		size_t add = ci.kind == MV_COMMIT_GRANT ? w->nnew : 0;

		if (ci.kind == MV_COMMIT_GRANT && (w->nnew == 0 || w->nnew > MV_MAX_STANZA_RECORDS))
			return mv_fail(e, MV_E_CHAIN, "grant comes with %zu new stanza records",
				       w->nnew);
		if (ci.nstanzas != had + add)
			return mv_fail(e, MV_E_CHAIN, "commit lists %u stanza records, expected %zu",
				       ci.nstanzas, had + add);
		for (size_t i = 0; i < had; i++)
			if (ci.stanza_off[i] != pc->stanza_off[i])
				return mv_fail(e, MV_E_CHAIN,
					       "commit changes the stanza records of earlier versions");
		for (size_t i = 0; i < add; i++)
			if (ci.stanza_off[had + i] != w->new_stanza[i] ||
			    !is_stanza_at(w, seq, w->new_stanza[i]))
				return mv_fail(e, MV_E_CHAIN,
					       "grant does not list its new stanza records");
	}
	if ((ci.cut_bytes == 0) != mv_is_zero(ci.cut_hash, sizeof ci.cut_hash))
		return mv_fail(e, MV_E_FRAME, "commit's torn-tail fields disagree");
	ci.end = off + MV_FRAME_OVERHEAD + rec->f.len;
	memcpy(ci.leaf, rec->f.hash, MV_MERKLE_HASH);
	if (w->ncommits == w->capcommits) {
		size_t nc = w->capcommits ? 2 * w->capcommits : 64;
		struct commit_lite *n = realloc(w->commits, nc * sizeof *n);

		if (!n)
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		w->commits = n;
		w->capcommits = nc;
	}
	{
		struct commit_lite *cl = &w->commits[w->ncommits++];

		cl->number = ci.number;
		cl->kind = ci.kind;
		cl->offset = off;
		cl->tree_size = ci.tree_size;
		cl->index_seq = ci.index_seq;
		cl->index_off = ci.index_off;
		cl->entries = ci.entries;
		memcpy(cl->entries_root, ci.entries_root, MV_MERKLE_HASH);
	}
	w->r->commits++;
	if (ci.kind == MV_COMMIT_COMPLETE)
		w->r->complete++;
	else if (ci.kind == MV_COMMIT_PARTIAL)
		w->r->partial++;
	else
		w->r->grants++;
	w->prev = ci;
	w->have_prev = 1;
	w->nnew = 0;
	w->in_blob = 0;
	return MV_OK;
}

/* Checks one record by type; the frame, hash and sequence are done. */
static enum mv_err check_record(struct walk *w, const struct rec *rec, uint64_t seq,
				uint64_t off, struct mv_error *e)
{
	struct mv_vault *v = w->v;

	if ((seq == 0) != (rec->f.type == MV_R_HEADER))
		return mv_fail(e, MV_E_FRAME, seq ? "a second header record"
					       : "first record is not the header");
	if (rec->f.type != MV_R_CHUNK && w->in_blob)
		w->in_blob = 0;   /* an abandoned message: see check_chunk */
	switch (rec->f.type) {
	case MV_R_HEADER:
		/* The keys and signer come from the header parsed at open;
		 * it must be the one in the file. */
		if (rec->f.len != v->h.payload.len ||
		    memcmp(rec->payload, v->h.payload.data, rec->f.len) != 0)
			return mv_fail(e, MV_E_FRAME,
				       "header record differs from the one the archive was opened with");
		return MV_OK;
	case MV_R_CHUNK:
		return check_chunk(w, rec, e);
	case MV_R_PAGE:
	case MV_R_ROOT:
		if (rec->f.len < MV_NONCE_LEN + MV_TAG_LEN)
			return mv_fail(e, MV_E_LENGTH, "index record of %u bytes is too short",
				       rec->f.len);
		return MV_OK;
	case MV_R_STANZA:
		if (w->nnew < MV_MAX_STANZA_RECORDS)
			w->new_stanza[w->nnew] = off;
		w->nnew++;
		return MV_OK;
	case MV_R_COMMIT:
		return check_commit(w, rec, seq, off, e);
	default:
		return mv_fail(e, MV_E_FRAME, "unknown record type");
	}
}

static enum mv_err walk_keyless(struct walk *w, struct mv_error *e)
{
	struct mv_vault *v = w->v;
	struct rdr r;
	struct rec rec;
	uint64_t off = MV_MAGIC_LEN, seq = 0;
	enum mv_err rc = MV_OK;

	rdr_init(&r, v, v->last.end);
	mv_frontier_init(&w->fr);
	while (off < v->last.end) {
		if (seq >= w->nrec) {
			rc = mv_fail(e, MV_E_CHAIN,
				     "more records than the newest commit accounts for");
			rec.f.type = 0;
		} else {
			rc = rec_read(&r, off, seq, v->h.chunk_log, &rec, e);
		}
		if (rc == MV_OK) {
			w->off[seq] = off;
			w->type[seq] = rec.f.type;
			rc = check_record(w, &rec, seq, off, e);
		}
		if (rc) {
			/* A failing commit belongs to the version it would make. */
			pin(e, cur_version(w), seq, off, rec.f.type);
			goto out;
		}
		mv_frontier_add(&w->fr, rec.f.hash);
		w->r->records++;
		off += MV_FRAME_OVERHEAD + (uint64_t)rec.f.len;
		seq++;
	}
	if (!w->have_prev || w->prev.offset != v->last.offset ||
	    w->prev.number != v->last.number || seq != w->nrec) {
		rc = mv_fail(e, MV_E_CHAIN, "walking the file does not end at the newest commit");
		pin(e, cur_version(w), seq ? seq - 1 : 0, v->last.offset, MV_R_COMMIT);
	}
out:
	rdr_release(&r);
	return rc;
}

/* ---- the keyed pass ---- */

/*
 * The set of blobs already read, keyed by blob ID under a random key (the
 * IDs come from the index, which a hostile owner writes: a keyed hash
 * keeps the table from being driven into long probe chains).  Each slot
 * also holds a digest of the whole blob reference, so two references to
 * one blob that disagree are caught.
 */
struct blob_slot {
	uint8_t id[MV_BLOB_ID_LEN];
	uint8_t ref[16];
	uint8_t used;
};

struct blobset {
	struct blob_slot *s;
	size_t cap, n;
	uint8_t key[16];
};

static size_t blobset_hash(const struct blobset *bs, const uint8_t id[MV_BLOB_ID_LEN])
{
	uint8_t h[8];

	mv_blake2b(h, sizeof h, bs->key, sizeof bs->key, id, MV_BLOB_ID_LEN);
	return (size_t)mv_ld64(h);
}

static struct blob_slot *blobset_find(struct blobset *bs, const uint8_t id[MV_BLOB_ID_LEN])
{
	size_t i = blobset_hash(bs, id) & (bs->cap - 1);

	while (bs->s[i].used && memcmp(bs->s[i].id, id, MV_BLOB_ID_LEN) != 0)
		i = (i + 1) & (bs->cap - 1);
	return &bs->s[i];
}

static int blobset_grow(struct blobset *bs)
{
	struct blobset nb = *bs;

	nb.cap = bs->cap ? bs->cap * 2 : 1024;
	nb.n = 0;
	nb.s = calloc(nb.cap, sizeof *nb.s);
	if (!nb.s)
		return -1;
	for (size_t i = 0; i < bs->cap; i++)
		if (bs->s[i].used) {
			*blobset_find(&nb, bs->s[i].id) = bs->s[i];
			nb.n++;
		}
	free(bs->s);
	*bs = nb;
	return 0;
}

/* Renders a folder name for a message: UTF-8 if it is modified UTF-7,
 * else the raw bytes, with control characters shown as '?'. */
static void folder_display(char *out, size_t cap, const struct mv_folder *f)
{
	struct mv_buf b;
	const char *s = f->name;
	size_t n = f->name_len, o = 0;

	mv_buf_init(&b, 4 * (size_t)MV_MAX_FOLDER_NAME + 16);
	if (mv_utf7_decode(&b, f->name, f->name_len) == MV_OK) {
		s = (const char *)b.data;
		n = b.len;
	}
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c < 0x20 || c == 0x7f || c == '\'') ? '?' : (char)c;
	}
	out[o] = '\0';
	mv_buf_release(&b);
}

/* The chunks of a blob must be CHUNK records before the commit. */
static enum mv_err check_blob_place(const struct walk *w, const struct commit_lite *c,
				    const struct mv_blobref *b, struct mv_error *e)
{
	if (b->first_seq == 0 || b->nchunks == 0 || b->nchunks > c->tree_size ||
	    b->first_seq > c->tree_size - b->nchunks)
		return mv_fail(e, MV_E_CHUNK,
			       "message's chunks (records %llu + %u) are not all before the commit",
			       (unsigned long long)b->first_seq, b->nchunks);
	if (w->off[b->first_seq] != b->first_off)
		return mv_fail(e, MV_E_CHUNK,
			       "message's first chunk is record %llu at offset %llu, not %llu",
			       (unsigned long long)b->first_seq,
			       (unsigned long long)w->off[b->first_seq],
			       (unsigned long long)b->first_off);
	for (uint64_t s = b->first_seq; s < b->first_seq + b->nchunks; s++)
		if (w->type[s] != MV_R_CHUNK) {
			e->record = (int64_t)s;
			e->offset = (int64_t)w->off[s];
			return mv_fail(e, MV_E_CHUNK, "record %llu (%s) is not a chunk",
				       (unsigned long long)s, mv_rtype_name(w->type[s]));
		}
	return MV_OK;
}

/* Checks one index entry's message, reading its blob unless done before. */
static enum mv_err check_entry(struct walk *w, struct blobset *bs, const struct commit_lite *c,
			       const struct mv_entry *en, struct mv_error *e)
{
	uint8_t enc[MV_BLOBREF_LEN], ref[16];
	struct blob_slot *sl;
	enum mv_err rc;

	mv_blobref_encode(enc, &en->blob);
	mv_blake2b(ref, sizeof ref, NULL, 0, enc, sizeof enc);
	if ((bs->n + 1) * 2 > bs->cap && blobset_grow(bs) != 0)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	sl = blobset_find(bs, en->blob.id);
	if (sl->used) {
		if (memcmp(sl->ref, ref, sizeof ref) != 0)
			return mv_fail(e, MV_E_INDEX,
				       "two references to one stored message disagree");
		return MV_OK;
	}
	if ((rc = check_blob_place(w, c, &en->blob, e)))
		return rc;
	if ((rc = mv_vault_read_blob(w->v, &en->blob, NULL, NULL, e))) {
		/* A failure of the whole message (its content hash, say) is
		 * located at its first chunk. */
		if (e->record < 0) {
			e->record = (int64_t)en->blob.first_seq;
			e->offset = (int64_t)en->blob.first_off;
		}
		return rc;
	}
	memcpy(sl->id, en->blob.id, MV_BLOB_ID_LEN);
	memcpy(sl->ref, ref, sizeof ref);
	sl->used = 1;
	bs->n++;
	w->r->blobs_checked++;
	w->r->bytes += en->blob.raw_size;
	return MV_OK;
}

/* Loads and checks the index of commit c, then every message in it. */
static enum mv_err check_version(struct walk *w, struct blobset *bs,
				 const struct commit_lite *c, struct mv_error *e)
{
	struct mv_commit_info *ci = NULL;
	struct mv_index ix;
	mv_mhash root;
	uint64_t count = 0;
	enum mv_err rc;

	mv_index_init(&ix);
	ci = calloc(1, sizeof *ci);
	if (!ci) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	ci->number = c->number;
	ci->kind = c->kind;
	ci->offset = c->offset;
	ci->tree_size = c->tree_size;
	ci->index_seq = c->index_seq;
	ci->index_off = c->index_off;
	rc = mv_vault_load_index(w->v, ci, NULL, &ix, e);
	if (rc == MV_OK)
		rc = mv_index_entries_root(&ix, root, &count, e);
	if (rc == MV_OK && (count != c->entries ||
			    memcmp(root, c->entries_root, MV_MERKLE_HASH) != 0))
		rc = mv_fail(e, MV_E_INDEX,
			     "index holds %llu entries whose root is not the commit's entries root (%llu entries)",
			     (unsigned long long)count, (unsigned long long)c->entries);
	if (rc) {
		if (e->record < 0) {
			e->record = (int64_t)c->index_seq;
			e->offset = (int64_t)c->index_off;
		}
		e->version = c->number;
		mv_error_prefix(e, "version %u, index (record %llu at offset %llu)", c->number,
				(unsigned long long)e->record, (unsigned long long)e->offset);
		goto out;
	}
	for (size_t i = 0; i < ix.nf; i++) {
		const struct mv_folder *f = &ix.f[i];

		for (size_t j = 0; j < f->n; j++) {
			const struct mv_entry *en = &f->e[j];

			w->r->messages_checked++;
			rc = check_entry(w, bs, c, en, e);
			if (rc) {
				char name[4 * MV_MAX_FOLDER_NAME + 1], idhex[33];

				folder_display(name, sizeof name, f);
				mv_hex(idhex, en->blob.id, MV_BLOB_ID_LEN);
				e->version = c->number;
				mv_error_prefix(e, "version %u, folder '%s' UID %u (message %s)",
						c->number, name, en->uid, idhex);
				goto out;
			}
		}
	}
out:
	mv_index_release(&ix);
	free(ci);
	return rc;
}

static enum mv_err walk_keyed(struct walk *w, struct mv_error *e)
{
	struct blobset bs;
	enum mv_err rc = MV_OK;

	memset(&bs, 0, sizeof bs);
	mv_random(bs.key, sizeof bs.key);
	for (size_t i = 0; i < w->ncommits && rc == MV_OK; i++) {
		/* A grant keeps the previous index (checked keyless). */
		if (w->commits[i].kind == MV_COMMIT_GRANT)
			continue;
		rc = check_version(w, &bs, &w->commits[i], e);
	}
	free(bs.s);
	return rc;
}

enum mv_err mv_verify(struct mv_vault *v, const char *want_signer,
		      struct mv_verify_report *r, struct mv_error *e)
{
	struct walk w;
	char want[65];
	struct mv_error scratch;
	enum mv_err rc;

	if (!e) {
		mv_error_clear(&scratch);
		e = &scratch;
	}
	memset(r, 0, sizeof *r);
	memset(&w, 0, sizeof w);
	w.v = v;
	w.r = r;
	mv_signer_fingerprint(r->signer, v->h.owner_pk);
	r->torn = v->torn;
	if (want_signer) {
		if (mv_fingerprint_normalize(want, want_signer) != 0) {
			rc = mv_fail(e, MV_E_USAGE, "a signer fingerprint is 64 hex digits");
			goto out;
		}
		if (strcmp(want, r->signer) != 0) {
			rc = mv_fail(e, MV_E_SIGNER, "signed by %s, not by the required %s",
				     r->signer, want);
			goto out;
		}
	}
	if ((rc = record_count(v, &w.nrec, e)))
		goto out;
	w.off = malloc(w.nrec * sizeof *w.off);
	w.type = malloc(w.nrec);
	if (!w.off || !w.type) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory for %llu records",
			     (unsigned long long)w.nrec);
		goto out;
	}
	if ((rc = walk_keyless(&w, e)))
		goto out;
	if (v->kr) {
		if ((rc = walk_keyed(&w, e)))
			goto out;
		r->keyed = 1;
	}
	if (v->torn)
		rc = mv_fail(e, MV_E_TORN, "recoverable: %llu bytes after version %u",
			     (unsigned long long)v->torn, v->last.number);
out:
	if (rc && rc != MV_E_TORN)
		mv_error_prefix(e, "'%s'", v->path);
	free(w.off);
	free(w.type);
	free(w.commits);
	return rc;
}
