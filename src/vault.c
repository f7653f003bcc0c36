/* vault.c - opening, reading and appending archives; see vault.h. */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "fileio.h"
#include "frame.h"
#include "sha256.h"

static const char commit_magic[8] = { 'M', 'V', 'C', 'O', 'M', 'M', 'I', 'T' };
static const char index_label[] = "mbox-vault/v1 index";

uint64_t mv_now(void)
{
#ifdef MV_TEST_HOOKS
	const char *t = getenv("MV_TEST_TIME");

	if (t && *t)
		return (uint64_t)strtoull(t, NULL, 10);
#endif
	return (uint64_t)time(NULL);
}

void mv_vault_free(struct mv_vault *v)
{
	if (!v)
		return;
	if (v->fd >= 0)
		close(v->fd);
	mv_header_release(&v->h);
	mv_stanza_store_release(&v->stanza_store);
	mv_keyring_free(v->kr);
	free(v->authentic);
	free(v->path);
	free(v);
}

static struct mv_vault *vault_new(const char *path)
{
	struct mv_vault *v = calloc(1, sizeof *v);

	if (!v)
		return NULL;
	v->fd = -1;
	mv_header_init(&v->h);
	mv_buf_init(&v->stanza_store, 64 * sizeof(void *));
	v->path = strdup(path);
	if (!v->path) {
		mv_vault_free(v);
		return NULL;
	}
	return v;
}

/* ---- commits ---- */

enum mv_err mv_commit_parse(const struct mv_vault *v, const uint8_t *p, size_t n,
			    uint64_t offset, uint64_t seq, struct mv_commit_info *ci,
			    struct mv_error *e)
{
	struct mv_rd r;
	const uint8_t *q;
	unsigned k;
	uint16_t nl;
	size_t body_len;
	struct mv_checkpoint cp;
	uint8_t bh[32];
	enum mv_err rc;

	memset(ci, 0, sizeof *ci);
	mv_rd_init(&r, p, n);
	ci->number = mv_rd_u32(&r);
	ci->kind = mv_rd_u8(&r);
	q = mv_rd_take(&r, 3);
	ci->time = mv_rd_u64(&r);
	ci->prev = mv_rd_u64(&r);
	ci->tree_size = mv_rd_u64(&r);
	k = mv_rd_u8(&r);
	if (r.bad || (q && (q[0] | q[1] | q[2])))
		goto bad;
	if (ci->kind < MV_COMMIT_COMPLETE || ci->kind > MV_COMMIT_GRANT || ci->number == 0)
		goto bad;
	if (ci->tree_size != seq)
		return mv_fail(e, MV_E_MERKLE, "commit %u declares tree size %llu at record %llu",
			       ci->number, (unsigned long long)ci->tree_size,
			       (unsigned long long)seq);
	if (k != (unsigned)__builtin_popcountll(ci->tree_size))
		return mv_fail(e, MV_E_MERKLE, "commit %u has %u frontier hashes, expected %d",
			       ci->number, k, __builtin_popcountll(ci->tree_size));
	ci->frontier.size = ci->tree_size;
	ci->frontier.count = k;
	for (unsigned i = 0; i < k; i++)
		mv_rd_copy(&r, ci->frontier.hash[i], MV_MERKLE_HASH);
	ci->index_seq = mv_rd_u64(&r);
	ci->index_off = mv_rd_u64(&r);
	mv_rd_copy(&r, ci->entries_root, 32);
	ci->entries = mv_rd_u64(&r);
	ci->cut_bytes = mv_rd_u64(&r);
	mv_rd_copy(&r, ci->cut_hash, 32);
	ci->nstanzas = mv_rd_u16(&r);
	if (r.bad)
		goto bad;
	if (ci->nstanzas > MV_MAX_STANZA_RECORDS)
		return mv_fail(e, MV_E_LIMIT, "commit lists %u stanza records", ci->nstanzas);
	for (unsigned i = 0; i < ci->nstanzas; i++)
		ci->stanza_off[i] = mv_rd_u64(&r);
	body_len = (size_t)(r.p - p);
	nl = mv_rd_u16(&r);
	if (r.bad || nl > MV_NOTE_MAX)
		goto bad;
	q = mv_rd_take(&r, nl);
	if (!q)
		goto bad;
	memcpy(ci->note, q, nl);
	ci->note[nl] = '\0';
	ci->note_len = nl;
	if (mv_rd_u64(&r) != offset)
		return mv_fail(e, MV_E_FRAME, "commit record does not name its own offset");
	q = mv_rd_take(&r, 8);
	if (r.bad || memcmp(q, commit_magic, 8) != 0 || mv_rd_left(&r) != 0)
		goto bad;
	ci->offset = offset;
	if (ci->index_seq >= seq || (ci->index_seq == 0 && ci->kind != MV_COMMIT_GRANT) ||
	    ci->index_off >= offset || ci->prev >= offset)
		return mv_fail(e, MV_E_CHAIN, "commit %u points forward or nowhere", ci->number);
	rc = mv_note_verify(ci->note, ci->note_len, v->h.owner_pk, &cp, e);
	if (rc)
		return mv_error_prefix(e, "commit %u", ci->number);
	mv_sha256(bh, p, body_len);
	if (memcmp(cp.archive_id, v->h.archive_id, 16) != 0)
		return mv_fail(e, MV_E_SIGNATURE, "commit %u is signed for another archive",
			       ci->number);
	if (cp.tree_size != ci->tree_size || cp.commit != ci->number ||
	    cp.kind != ci->kind || memcmp(cp.body_hash, bh, 32) != 0)
		return mv_fail(e, MV_E_SIGNATURE,
			       "commit %u does not match its signed checkpoint", ci->number);
	if (!mv_frontier_valid(&ci->frontier))
		return mv_fail(e, MV_E_MERKLE, "commit %u has an invalid frontier", ci->number);
	mv_frontier_root(&ci->frontier, ci->root);
	if (memcmp(ci->root, cp.root, MV_MERKLE_HASH) != 0)
		return mv_fail(e, MV_E_MERKLE,
			       "commit %u: frontier does not give the signed root", ci->number);
	return MV_OK;
bad:
	return mv_fail(e, MV_E_FRAME, "commit record at offset %llu is malformed",
		       (unsigned long long)offset);
}

/* Reads and checks the commit record at off. */
static enum mv_err read_commit(struct mv_vault *v, uint64_t off, int64_t seq,
			       struct mv_commit_info *ci, struct mv_error *e)
{
	struct mv_buf pl;
	struct mv_frame f;
	enum mv_err rc;

	mv_buf_init(&pl, 1u << 20);
	rc = mv_record_read(v->fd, v->path, off, v->h.chunk_log, seq, &f, &pl, e);
	if (rc == MV_OK && f.type != MV_R_COMMIT)
		rc = mv_fail(e, MV_E_CHAIN, "record at offset %llu is a %s, not a commit",
			     (unsigned long long)off, mv_rtype_name(f.type));
	if (rc == MV_OK)
		rc = mv_commit_parse(v, pl.data, pl.len, off, f.seq, ci, e);
	if (rc == MV_OK) {
		ci->end = off + MV_FRAME_OVERHEAD + f.len;
		memcpy(ci->leaf, f.hash, MV_MERKLE_HASH);
	} else {
		e->offset = (int64_t)off;
	}
	mv_buf_release(&pl);
	return rc;
}

/*
 * Walks frames from the first record after the header to the end, checking
 * each record's hash, and returns the last commit that parses.  What is
 * left after it must be a torn write: a strict prefix of one more record,
 * or zero bytes (what a file system may leave after a crash).
 */
static enum mv_err walk_for_commit(struct mv_vault *v, uint64_t start,
				   struct mv_error *e)
{
	uint64_t off = start, seq = 1;
	int zero_fill = 0;
	struct mv_buf pl;
	enum mv_err rc = MV_OK;

	mv_buf_init(&pl, 128u << 20);
	v->has_commit = 0;
	while (off < v->file_size) {
		uint8_t hdr[MV_FRAME_HDR];
		struct mv_frame f;
		struct mv_error e2;

		if (v->file_size - off < MV_FRAME_HDR)
			break;   /* torn inside a frame header */
		if ((rc = mv_pread_full(v->fd, hdr, sizeof hdr, off, v->path, e)))
			goto out;
		mv_error_clear(&e2);
		if (mv_frame_parse(hdr, off, v->h.chunk_log, &f, &e2) != MV_OK) {
			if (mv_is_zero(hdr, sizeof hdr)) {
				zero_fill = 1;   /* checked below */
				break;
			}
			rc = mv_fail(e, e2.code, "%s", e2.msg);
			e->offset = (int64_t)off;
			goto out;
		}
		if ((uint64_t)MV_FRAME_OVERHEAD + f.len > v->file_size - off) {
			uint8_t tail[16];

			/* A commit whose own tail ends the file was written
			 * whole: a length that runs past it is damage, not a
			 * torn write, and must never be cut away. */
			if (v->file_size - off >= 48 &&
			    mv_pread_full(v->fd, tail, sizeof tail, v->file_size - 48, v->path, e) == MV_OK &&
			    mv_ld64(tail) == off && memcmp(tail + 8, commit_magic, 8) == 0) {
				rc = mv_fail(e, MV_E_FRAME,
					     "commit record at offset %llu has a damaged length",
					     (unsigned long long)off);
				e->offset = (int64_t)off;
				e->record = (int64_t)seq;
				goto out;
			}
			break;   /* torn inside the record */
		}
		rc = mv_record_read(v->fd, v->path, off, v->h.chunk_log, (int64_t)seq, &f,
				    &pl, e);
		if (rc) {
			e->offset = (int64_t)off;
			e->record = (int64_t)seq;
			goto out;
		}
		if (f.type == MV_R_COMMIT) {
			struct mv_commit_info ci;

			rc = mv_commit_parse(v, pl.data, pl.len, off, seq, &ci, e);
			if (rc) {
				e->offset = (int64_t)off;
				e->record = (int64_t)seq;
				goto out;
			}
			ci.end = off + MV_FRAME_OVERHEAD + f.len;
			memcpy(ci.leaf, f.hash, MV_MERKLE_HASH);
			v->last = ci;
			v->has_commit = 1;
		}
		off += MV_FRAME_OVERHEAD + f.len;
		seq++;
	}
	/* Zero fill, as a file system may leave after a crash, must be zero
	 * to the end of the file; anything else was already accepted as a
	 * strict prefix of one more record. */
	if (zero_fill) {
		uint8_t buf[4096];

		for (uint64_t o = off; o < v->file_size; o += sizeof buf) {
			size_t n = v->file_size - o < sizeof buf ? (size_t)(v->file_size - o)
								 : sizeof buf;

			if ((rc = mv_pread_full(v->fd, buf, n, o, v->path, e)))
				goto out;
			if (!mv_is_zero(buf, n)) {
				rc = mv_fail(e, MV_E_FRAME,
					     "unexpected bytes after a zero-filled area at offset %llu",
					     (unsigned long long)o);
				goto out;
			}
		}
	}
	v->torn = v->file_size - (v->has_commit ? v->last.end : start);
out:
	mv_buf_release(&pl);
	return rc;
}

static enum mv_err load_stanza_records(struct mv_vault *v, struct mv_error *e)
{
	struct mv_buf pl;
	enum mv_err rc = MV_OK;

	mv_buf_init(&pl, 8192);
	for (unsigned i = 0; i < v->last.nstanzas; i++) {
		struct mv_frame f;

		rc = mv_record_read(v->fd, v->path, v->last.stanza_off[i], v->h.chunk_log, -1,
				    &f, &pl, e);
		if (rc == MV_OK && f.type != MV_R_STANZA)
			rc = mv_fail(e, MV_E_CHAIN, "commit lists a %s record as a stanza",
				     mv_rtype_name(f.type));
		if (rc == MV_OK)
			rc = mv_header_add_stanza_record(&v->h, &v->stanza_store, pl.data, pl.len,
							 f.seq, e);
		if (rc)
			break;
	}
	mv_buf_release(&pl);
	return rc;
}

enum mv_err mv_vault_open(struct mv_vault **out, const char *path, int writable,
			  struct mv_error *e)
{
	struct mv_vault *v = vault_new(path);
	uint8_t magic[MV_MAGIC_LEN], tail[48];
	struct stat st;
	struct mv_frame f;
	struct mv_buf pl;
	enum mv_err rc = MV_OK;
	uint64_t hdr_end;

	mv_buf_init(&pl, 65536 + 64);
	if (!v)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	v->writable = writable;
	v->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (v->fd < 0) {
		rc = mv_fail(e, errno == ENOENT ? MV_E_NOTFOUND : MV_E_IO,
			     "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	if (writable && flock(v->fd, LOCK_EX | LOCK_NB) != 0) {
		rc = mv_fail(e, MV_E_IO, "'%s' is in use by another mbox-vault process", path);
		goto out;
	}
	if (fstat(v->fd, &st) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	v->file_size = (uint64_t)st.st_size;
	if (v->file_size < MV_MAGIC_LEN) {
		/* A prefix of the magic (or nothing) is a creation that was
		 * killed before its header was written: no version was lost. */
		if ((rc = mv_pread_full(v->fd, magic, (size_t)v->file_size, 0, path, e)))
			goto out;
		if (memcmp(magic, mv_file_magic, (size_t)v->file_size) == 0)
			rc = mv_fail(e, MV_E_TORN,
				     "'%s' was cut short while being created (%llu bytes, no version): recoverable",
				     path, (unsigned long long)v->file_size);
		else
			rc = mv_fail(e, MV_E_MAGIC, "'%s' is not an mbox-vault archive (too short)", path);
		e->record = 0;
		goto out;
	}
	if ((rc = mv_pread_full(v->fd, magic, sizeof magic, 0, path, e)))
		goto out;
	if (memcmp(magic, mv_file_magic, sizeof magic) != 0) {
		rc = mv_fail(e, MV_E_MAGIC, "'%s' is not an mbox-vault archive", path);
		goto out;
	}
	rc = mv_record_read(v->fd, path, MV_MAGIC_LEN, 0, 0, &f, &pl, e);
	if (rc == MV_E_LENGTH && v->file_size >= 48 &&
	    mv_pread_full(v->fd, tail, sizeof tail, v->file_size - 48, path, e) == MV_OK &&
	    memcmp(tail + 8, commit_magic, 8) == 0) {
		/* A header that seems to run past the end of a file that ends
		 * in a commit was not torn: its length is damaged. */
		mv_error_clear(e);
		rc = mv_fail(e, MV_E_FRAME, "'%s': record 0 (the header, offset %u): its "
			     "length is damaged (the file ends in a commit)", path, MV_MAGIC_LEN);
		e->record = 0;
		e->offset = MV_MAGIC_LEN;
		goto out;
	}
	if (rc == MV_E_LENGTH) {
		/* The file ends inside the header record: a torn creation too. */
		mv_error_clear(e);
		rc = mv_fail(e, MV_E_TORN,
			     "'%s' was cut short while its header was written (%llu bytes, no version): recoverable",
			     path, (unsigned long long)v->file_size);
		e->record = 0;
		goto out;
	}
	if (rc == MV_OK && f.type != MV_R_HEADER)
		rc = mv_fail(e, MV_E_FRAME, "first record is a %s, not the header",
			     mv_rtype_name(f.type));
	if (rc == MV_OK)
		rc = mv_header_parse(&v->h, pl.data, pl.len, e);
	if (rc) {
		e->record = 0;
		e->offset = MV_MAGIC_LEN;
		mv_error_prefix(e, "'%s': header", path);
		goto out;
	}
	hdr_end = MV_MAGIC_LEN + MV_FRAME_OVERHEAD + f.len;
	/* Fast path: the file ends in a commit whose tail names its offset. */
	if (v->file_size >= hdr_end + 48) {
		if ((rc = mv_pread_full(v->fd, tail, sizeof tail, v->file_size - 48, path, e)))
			goto out;
		if (memcmp(tail + 8, commit_magic, 8) == 0) {
			uint64_t off = mv_ld64(tail);
			struct mv_error e2;

			mv_error_clear(&e2);
			if (off >= hdr_end && off < v->file_size &&
			    read_commit(v, off, -1, &v->last, &e2) == MV_OK &&
			    v->last.end == v->file_size) {
				v->has_commit = 1;
				v->torn = 0;
			}
		}
	}
	if (!v->has_commit && (rc = walk_for_commit(v, hdr_end, e)) != MV_OK) {
		mv_error_prefix(e, "'%s'", path);
		goto out;
	}
	if (v->has_commit && (rc = load_stanza_records(v, e)) != MV_OK) {
		mv_error_prefix(e, "'%s'", path);
		goto out;
	}
	*out = v;
	v = NULL;
out:
	mv_buf_release(&pl);
	mv_vault_free(v);
	return rc;
}

/*
 * After a damaged frame at off: the offset of record seq, the first place
 * within one chunk's reach where a frame with that sequence number starts
 * whose bytes give its own trailer; 0 if there is none.
 */
static uint64_t resync(struct mv_vault *v, uint64_t off, uint64_t seq)
{
	size_t win = ((size_t)1 << v->h.chunk_log) + 4096 + 2 * MV_FRAME_OVERHEAD;
	uint64_t end = v->last.offset + MV_FRAME_HDR;
	uint8_t *w;
	size_t n;
	uint64_t found = 0;
	struct mv_buf pl;

	if (off + MV_FRAME_HDR >= end)
		return 0;
	n = end - off - MV_FRAME_HDR < win ? (size_t)(end - off - MV_FRAME_HDR) : win;
	if (!(w = malloc(n)))
		return 0;
	mv_buf_init(&pl, 65u << 20);
	if (mv_pread_full(v->fd, w, n, off + MV_FRAME_HDR, v->path, NULL) == MV_OK)
		for (size_t i = 0; i + MV_FRAME_HDR <= n && !found; i++) {
			struct mv_frame f;
			uint64_t at = off + MV_FRAME_HDR + i;

			if (mv_ld64(w + i + 8) != seq ||
			    mv_frame_parse(w + i, at, v->h.chunk_log, &f, NULL) != MV_OK)
				continue;
			if (mv_record_read(v->fd, v->path, at, v->h.chunk_log, (int64_t)seq, &f,
					   &pl, NULL) == MV_OK)
				found = at;
		}
	mv_buf_release(&pl);
	free(w);
	return found;
}

/*
 * The leaf of a record whose frame is damaged, now that the next record's
 * offset (hence its length) and its sequence number are known: the frame
 * that, over its bytes, gives its stored trailer (type and flags are
 * tried); zeros, which prove nothing, if none does.
 */
static void repair_leaf(struct mv_vault *v, uint64_t off, uint64_t next, uint64_t seq,
			mv_mhash leaf)
{
	uint64_t len = next - off - MV_FRAME_OVERHEAD;
	uint8_t trailer[MV_TRAILER], hdr[MV_FRAME_HDR];
	uint8_t *p = NULL;

	memset(leaf, 0, MV_MERKLE_HASH);
	if (next < off + MV_FRAME_OVERHEAD || len > (64u << 20) || !(p = malloc(len ? len : 1)))
		return;
	if (mv_pread_full(v->fd, p, (size_t)len, off + MV_FRAME_HDR, v->path, NULL) == MV_OK &&
	    mv_pread_full(v->fd, trailer, sizeof trailer, next - MV_TRAILER, v->path,
			  NULL) == MV_OK)
		for (uint8_t type = 1; type <= MV_R_COMMIT; type++)
			for (int last = 0; last < 2; last++) {
				mv_mhash h;

				mv_frame_encode(hdr, type, last ? MV_RF_LAST : 0, (uint32_t)len, seq);
				mv_record_hash(h, hdr, p, (size_t)len);
				if (memcmp(h, trailer, MV_MERKLE_HASH) == 0)
					memcpy(leaf, trailer, MV_MERKLE_HASH);
			}
	free(p);
}

/* Marks records proven by the frontiers of every commit, from the record
 * hashes leaves[0..n) read so far. */
static enum mv_err authenticate_subtrees(struct mv_vault *v, const mv_mhash *leaves,
					 uint64_t n, struct mv_error *e)
{
	struct mv_commit_info *list = NULL;
	size_t nc = 0;
	enum mv_err rc;

	free(v->authentic);
	v->nauthentic = n;
	if (!(v->authentic = calloc(n / 8 + 1, 1)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if ((rc = mv_vault_commits(v, &list, &nc, e))) {
		/* Without the older commits only the newest frontier helps. */
		mv_error_clear(e);
		list = malloc(sizeof *list);
		if (!list)
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		list[0] = v->last;
		nc = 1;
	}
	for (size_t c = 0; c < nc; c++) {
		const struct mv_frontier *fr = &list[c].frontier;
		uint64_t start = 0;
		unsigned k = 0;

		if (!mv_frontier_valid(fr))
			continue;
		for (int bit = 62; bit >= 0 && k < fr->count; bit--) {
			uint64_t len = (uint64_t)1 << bit;
			mv_mhash root;

			if (!(fr->size & len))
				continue;
			if (start + len <= n) {
				mv_merkle_root(leaves + start, len, root);
				if (memcmp(root, fr->hash[k], MV_MERKLE_HASH) == 0)
					for (uint64_t r = start; r < start + len; r++)
						v->authentic[r / 8] |= (uint8_t)(1u << (r % 8));
			}
			start += len;
			k++;
		}
	}
	free(list);
	return MV_OK;
}

int mv_vault_record_proven(const struct mv_vault *v, uint64_t seq)
{
	if (!v->authentic)
		return 1;
	return seq < v->nauthentic && (v->authentic[seq / 8] >> (seq % 8) & 1);
}

/*
 * Reads for the trailer walk.  Most records of a mail archive are small
 * (one short message each), so after a small record the next read takes a
 * window of WALK_WIN bytes and the following trailers usually come from
 * memory: about a tenth of the system calls of one read per record (the
 * walk was most of a no-op pull).  After a large record only the 48 bytes
 * needed are read, so chunks of large messages are not read at all.
 */
#define WALK_WIN (128u << 10)
#define WALK_SMALL (64u << 10)

struct walk {
	uint8_t *buf;                 /* WALK_WIN bytes */
	uint64_t off;                 /* file offset of buf[0] */
	size_t len;                   /* valid bytes */
};

static enum mv_err walk_read(struct mv_vault *v, struct walk *w, uint8_t *dst, size_t n,
			     uint64_t at, int ahead, struct mv_error *e)
{
	size_t want;
	enum mv_err rc;

	if (at >= w->off && at - w->off <= w->len && n <= w->len - (size_t)(at - w->off)) {
		memcpy(dst, w->buf + (at - w->off), n);
		return MV_OK;
	}
	if (!ahead || !w->buf || v->file_size <= at || v->file_size - at < WALK_WIN)
		return mv_pread_full(v->fd, dst, n, at, v->path, e);
	want = WALK_WIN;
	if ((rc = mv_pread_full(v->fd, w->buf, want, at, v->path, e)))
		return rc;
	w->off = at;
	w->len = want;
	memcpy(dst, w->buf, n);
	return MV_OK;
}

/* from: NULL, or a commit whose records (and all before) were proven
 * earlier: the walk then starts after it (see mv_vault_check_records_since). */
static enum mv_err check_records(struct mv_vault *v, const struct mv_commit_info *from,
				 int *damaged, struct mv_error *e)
{
	struct walk wk = { NULL, 0, 0 };
	struct mv_frontier fr;
	uint64_t off = MV_MAGIC_LEN, seq = 0;
	mv_mhash *leaves = NULL;
	uint64_t *offs = NULL;
	enum mv_err rc = MV_OK;
	int bad = 0;
	/* A record's trailer is followed by the next record's frame, so one
	 * 48-byte read per record gives both (the commit's frame ends it). */
	uint8_t buf[MV_TRAILER + MV_FRAME_HDR];

	*damaged = 0;
	if (!v->has_commit)
		return MV_OK;
	if (v->last.tree_size > (v->file_size / MV_FRAME_OVERHEAD) + 1)
		return mv_fail(e, MV_E_MERKLE, "'%s': version %u claims more records than "
			       "the file can hold", v->path, v->last.number);
	if (!(leaves = malloc((size_t)(v->last.tree_size ? v->last.tree_size : 1) *
			      sizeof *leaves)) ||
	    !(offs = malloc((size_t)(v->last.tree_size ? v->last.tree_size : 1) *
			    sizeof *offs))) {
		free(leaves);
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	mv_frontier_init(&fr);
	if (from) {
		fr = from->frontier;
		mv_frontier_add(&fr, from->leaf);
		off = from->end;
		seq = from->tree_size + 1;
	}
	/* Without the window the walk is slower, not wrong. */
	wk.buf = malloc(WALK_WIN);
	if ((rc = mv_pread_full(v->fd, buf + MV_TRAILER, MV_FRAME_HDR, off, v->path, e)))
		goto out;
	while (seq < v->last.tree_size) {
		struct mv_frame f;
		struct mv_error e2;

		mv_error_clear(&e2);
		if (off >= v->last.offset ||
		    mv_frame_parse(buf + MV_TRAILER, off, seq ? v->h.chunk_log : 0, &f, &e2) ||
		    f.seq != seq || (uint64_t)MV_FRAME_OVERHEAD + f.len > v->last.offset - off) {
			uint64_t next;

			/* A damaged frame: find where the next record starts,
			 * so that only this record's leaf is unknown. */
			bad = 1;
			if (off >= v->last.offset || !seq ||
			    (next = resync(v, off, seq + 1)) == 0)
				break;
			repair_leaf(v, off, next, seq, leaves[seq]);
			offs[seq] = UINT64_MAX;
			mv_frontier_add(&fr, leaves[seq]);
			seq++;
			off = next;
			if ((rc = mv_pread_full(v->fd, buf + MV_TRAILER, MV_FRAME_HDR, off,
						v->path, e)))
				goto out;
			continue;
		}
		if ((rc = walk_read(v, &wk, buf, sizeof buf, off + MV_FRAME_HDR + f.len,
				    f.len <= WALK_SMALL, e)))
			goto out;
		memcpy(leaves[seq], buf, MV_MERKLE_HASH);
		offs[seq] = off;
		mv_frontier_add(&fr, buf);
		off += MV_FRAME_OVERHEAD + f.len;
		seq++;
	}
	if (!bad && off == v->last.offset && fr.size == v->last.frontier.size &&
	    fr.count == v->last.frontier.count) {
		unsigned i;

		for (i = 0; i < fr.count; i++)
			if (memcmp(fr.hash[i], v->last.frontier.hash[i], MV_MERKLE_HASH) != 0)
				break;
		if (i == fr.count)
			goto out;    /* every record is proven */
	}
	if (from) {
		/* Something after the proven part does not fit: look at
		 * everything, as if nothing had been proven. */
		free(wk.buf);
		free(leaves);
		free(offs);
		return check_records(v, NULL, damaged, e);
	}
	/* Damaged or forged.  A record whose bytes no longer give its
	 * trailer is damaged: its leaf is what its bytes hash to (a damaged
	 * trailer over intact bytes then still proves them).  A forger's
	 * record hashes to its own trailer and stays unproven.  Then prove
	 * what the signed frontiers still cover. */
	*damaged = 1;
	{
		struct mv_buf pl;

		mv_buf_init(&pl, 65u << 20);
		for (uint64_t i = 0; i < seq; i++) {
			uint8_t hdr[MV_FRAME_HDR];
			struct mv_frame f;

			if (offs[i] == UINT64_MAX ||
			    mv_pread_full(v->fd, hdr, sizeof hdr, offs[i], v->path, e) ||
			    mv_frame_parse(hdr, offs[i], i ? v->h.chunk_log : 0, &f, e) ||
			    mv_buf_reserve(&pl, f.len) ||
			    mv_pread_full(v->fd, pl.data, f.len, offs[i] + MV_FRAME_HDR, v->path, e)) {
				mv_error_clear(e);
				continue;
			}
			mv_record_hash(leaves[i], hdr, pl.data, f.len);
		}
		mv_buf_release(&pl);
	}
	rc = authenticate_subtrees(v, leaves, seq, e);
out:
	free(wk.buf);
	free(leaves);
	free(offs);
	return rc;
}

enum mv_err mv_vault_check_records(struct mv_vault *v, int *damaged, struct mv_error *e)
{
	return check_records(v, NULL, damaged, e);
}

enum mv_err mv_vault_check_records_since(struct mv_vault *v, uint32_t proven,
					 int *damaged, struct mv_error *e)
{
	struct mv_commit_info *list = NULL;
	size_t n = 0;
	enum mv_err rc;

	*damaged = 0;
	if (!v->has_commit || !proven || proven > v->last.number)
		return check_records(v, NULL, damaged, e);
	if (proven == v->last.number)
		return MV_OK;         /* nothing was added since */
	if ((rc = mv_vault_commits(v, &list, &n, e)))
		return rc;
	rc = check_records(v, proven <= n ? &list[proven - 1] : NULL, damaged, e);
	free(list);
	return rc;
}

enum mv_err mv_vault_unlock(struct mv_vault *v, const struct mv_creds *c,
			    struct mv_error *e)
{
	struct mv_keyring *kr = NULL;
	enum mv_err rc;

	rc = mv_header_unlock(&v->h, c, &kr, e);
	if (rc)
		return mv_error_prefix(e, "'%s'", v->path);
	mv_keyring_free(v->kr);
	v->kr = kr;
	return MV_OK;
}

enum mv_err mv_vault_commits(struct mv_vault *v, struct mv_commit_info **out,
			     size_t *n, struct mv_error *e)
{
	struct mv_commit_info *list = NULL;
	size_t cnt;
	enum mv_err rc = MV_OK;

	*out = NULL;
	*n = 0;
	if (!v->has_commit)
		return MV_OK;
	cnt = v->last.number;
	if (cnt > 10000000)
		return mv_fail(e, MV_E_LIMIT, "%zu commits", cnt);
	list = calloc(cnt, sizeof *list);
	if (!list)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	list[cnt - 1] = v->last;
	for (size_t i = cnt - 1; i > 0; i--) {
		struct mv_commit_info *cur = &list[i];

		if (cur->prev == 0) {
			rc = mv_fail(e, MV_E_CHAIN, "commit %u has no predecessor", cur->number);
			goto out;
		}
		rc = read_commit(v, cur->prev, -1, &list[i - 1], e);
		if (rc) {
			e->version = (int64_t)cur->number - 1;
			goto out;
		}
		if (list[i - 1].number != cur->number - 1 ||
		    list[i - 1].tree_size >= cur->tree_size ||
		    list[i - 1].end > cur->offset) {
			rc = mv_fail(e, MV_E_CHAIN, "commit %u does not follow commit %u",
				     cur->number, list[i - 1].number);
			goto out;
		}
	}
	if (list[0].prev != 0) {
		rc = mv_fail(e, MV_E_CHAIN, "the first commit names a predecessor");
		goto out;
	}
	*out = list;
	*n = cnt;
	list = NULL;
out:
	free(list);
	return rc;
}

/* ---- encrypted index records ---- */

static void index_ad(uint8_t *ad, const struct mv_vault *v, uint8_t type, uint64_t seq)
{
	size_t o = sizeof index_label - 1;

	memcpy(ad, index_label, o);
	memcpy(ad + o, v->h.archive_id, 16);
	ad[o + 16] = type;
	mv_st64(ad + o + 17, seq);
}
#define INDEX_AD_LEN (sizeof index_label - 1 + 16 + 1 + 8)

/* Reads and decrypts an index record into plain. */
static enum mv_err unproven(const struct mv_vault *v, uint64_t seq, struct mv_error *e)
{
	enum mv_err rc = mv_fail(e, MV_E_MERKLE, "'%s': record %llu is not covered by any "
				 "intact signed version (damaged or forged; run verify)",
				 v->path, (unsigned long long)seq);

	e->record = (int64_t)seq;
	return rc;
}

static enum mv_err read_index_record(struct mv_vault *v, uint64_t off, uint64_t seq,
				     uint8_t type, struct mv_buf *plain, struct mv_error *e)
{
	struct mv_buf pl;
	struct mv_frame f;
	uint8_t ad[INDEX_AD_LEN];
	uint8_t *p;
	enum mv_err rc;

	mv_buf_init(&pl, 65u << 20);
	if (!mv_vault_record_proven(v, seq)) {
		rc = unproven(v, seq, e);
		goto out;
	}
	rc = mv_record_read(v->fd, v->path, off, v->h.chunk_log, (int64_t)seq, &f, &pl, e);
	if (rc)
		goto out;
	if (f.type != type) {
		rc = mv_fail(e, MV_E_INDEX, "record %llu is a %s, expected an %s",
			     (unsigned long long)seq, mv_rtype_name(f.type), mv_rtype_name(type));
		goto out;
	}
	if (pl.len < MV_NONCE_LEN + MV_TAG_LEN) {
		rc = mv_fail(e, MV_E_LENGTH, "index record %llu is too short",
			     (unsigned long long)seq);
		goto out;
	}
	mv_buf_reset(plain);
	if (mv_buf_grow(plain, pl.len - MV_NONCE_LEN - MV_TAG_LEN, &p)) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	index_ad(ad, v, type, seq);
	if (mv_aead_open(p, pl.data + MV_NONCE_LEN, pl.len - MV_NONCE_LEN, ad, sizeof ad,
			 pl.data, v->kr->index) != MV_OK)
		rc = mv_fail(e, MV_E_DECRYPT, "index record %llu does not authenticate",
			     (unsigned long long)seq);
out:
	if (rc) {
		e->record = (int64_t)seq;
		e->offset = (int64_t)off;
	}
	mv_buf_release(&pl);
	return rc;
}

enum mv_err mv_vault_load_index(struct mv_vault *v, const struct mv_commit_info *c,
				const char *folder, struct mv_index *ix,
				struct mv_error *e)
{
	struct mv_buf plain;
	struct mv_pageref **pages = NULL;
	size_t *npages = NULL, nf = 0;
	enum mv_err rc;

	if (!v->kr)
		return mv_fail(e, MV_E_KEY, "reading the index needs a key");
	mv_buf_init(&plain, 65u << 20);
	rc = read_index_record(v, c->index_off, c->index_seq, MV_R_ROOT, &plain, e);
	if (rc == MV_OK)
		rc = mv_index_root_parse(ix, plain.data, plain.len, &pages, &npages, e);
	if (rc)
		goto out;
	nf = ix->nf;
	for (size_t i = 0; i < nf; i++) {
		struct mv_folder *f = &ix->f[i];

		if (folder && strcmp(folder, f->name) != 0)
			continue;
		for (size_t j = 0; j < npages[i]; j++) {
			const struct mv_pageref *pr = &pages[i][j];

			if (pr->seq >= c->tree_size) {
				rc = mv_fail(e, MV_E_INDEX, "index page pointer past its commit");
				goto out;
			}
			rc = read_index_record(v, pr->off, pr->seq, MV_R_PAGE, &plain, e);
			if (rc == MV_OK)
				rc = mv_index_page_parse(ix, plain.data, plain.len, (uint32_t)i,
							 pr->count, v->h.chunk_log, e);
			if (rc == MV_OK && f->e[f->n - pr->count].uid != pr->first_uid)
				rc = mv_fail(e, MV_E_INDEX, "index page starts at another UID");
			if (rc) {
				if (e->record < 0) {
					e->record = (int64_t)pr->seq;
					e->offset = (int64_t)pr->off;
				}
				goto out;
			}
		}
	}
	if (ix->commit != c->number && c->kind != MV_COMMIT_GRANT)
		rc = mv_fail(e, MV_E_INDEX, "index belongs to commit %u, not %u", ix->commit,
			     c->number);
out:
	if (rc && e->version < 0)
		e->version = c->number;
	mv_pagerefs_free(pages, npages, nf);
	mv_buf_release(&plain);
	return rc;
}

enum mv_err mv_vault_record_bytes(struct mv_vault *v, uint64_t off, uint64_t seq,
				  struct mv_buf *out, struct mv_frame *f,
				  struct mv_error *e)
{
	struct mv_buf pl;
	uint8_t hdr[MV_FRAME_HDR];
	enum mv_err rc;

	mv_buf_init(&pl, 65u << 20);
	rc = mv_record_read(v->fd, v->path, off, v->h.chunk_log, (int64_t)seq, f, &pl, e);
	if (rc == MV_OK) {
		mv_frame_encode(hdr, f->type, f->flags, f->len, f->seq);
		mv_buf_reset(out);
		if (mv_buf_add(out, hdr, sizeof hdr) || mv_buf_add(out, pl.data, pl.len))
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	mv_buf_release(&pl);
	return rc;
}

enum mv_err mv_vault_read_blob(struct mv_vault *v, const struct mv_blobref *b,
			       mv_out_fn out, void *ctx, struct mv_error *e)
{
	struct mv_chunk_ctx *cc = mv_secure_alloc(sizeof *cc);
	struct mv_blob_dec *dec = NULL;
	struct mv_buf pl;
	uint8_t *plain = malloc((size_t)1 << v->h.chunk_log);
	uint64_t off = b->first_off, total = 0;
	enum mv_err rc = MV_OK;
	char idhex[33];

	mv_hex(idhex, b->id, 8);
	mv_buf_init(&pl, 96u + ((size_t)1 << v->h.chunk_log));
	if (!cc || !plain) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (!v->kr) {
		rc = mv_fail(e, MV_E_KEY, "reading a message needs a key");
		goto out;
	}
	memcpy(cc->archive_id, v->h.archive_id, 16);
	memcpy(cc->blob_id, b->id, 16);
	cc->chunk_log = v->h.chunk_log;
	mv_message_key(cc->mk, v->kr, b->id);
	mv_key_commitment(cc->commitment, cc->mk, v->h.archive_id, b->id);
	dec = mv_blob_dec_new(b, v->kr->content, out, ctx);
	if (!dec) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < b->nchunks; i++) {
		struct mv_frame f;
		size_t plen = 0;

		uint64_t seq = b->first_seq + i;

		rc = mv_vault_record_proven(v, seq) ? mv_record_read(v->fd, v->path, off,
			v->h.chunk_log, (int64_t)seq, &f, &pl, e) : unproven(v, seq, e);
		if (rc == MV_OK && f.type != MV_R_CHUNK)
			rc = mv_fail(e, MV_E_CHUNK, "record is a %s, not a chunk",
				     mv_rtype_name(f.type));
		if (rc == MV_OK && ((f.flags & MV_RF_LAST) != 0) != (i + 1 == b->nchunks))
			rc = mv_fail(e, MV_E_CHUNK, i + 1 == b->nchunks
				     ? "message is cut short: its last chunk is not marked last"
				     : "a chunk marked last is followed by more chunks");
		if (rc == MV_OK)
			rc = mv_chunk_open(cc, seq, f.flags, pl.data, pl.len, i, plain, &plen, e);
		if (rc == MV_OK) {
			total += plen;
			rc = mv_blob_dec_feed(dec, plain, plen, e);
		}
		if (rc) {
			e->record = (int64_t)seq;
			e->offset = (int64_t)off;
			mv_error_prefix(e, "message %s, chunk %u (record %llu at offset %llu)",
					idhex, i, (unsigned long long)seq,
					(unsigned long long)off);
			goto out;
		}
		off += MV_FRAME_OVERHEAD + f.len;
	}
	if (total != b->padded_size) {
		rc = mv_fail(e, MV_E_LENGTH, "message %s: chunks hold %llu bytes, its reference declares %llu",
			     idhex, (unsigned long long)total, (unsigned long long)b->padded_size);
		goto out;
	}
	rc = mv_blob_dec_end(dec, e);
	if (rc)
		mv_error_prefix(e, "message %s", idhex);
out:
	mv_blob_dec_free(dec);
	mv_secure_free(cc);
	free(plain);
	mv_buf_release(&pl);
	return rc;
}

enum mv_err mv_vault_content_hash(const struct mv_vault *v, const uint8_t *p, size_t n,
				  uint8_t out[32], struct mv_error *e)
{
	if (mv_hmac_sha256(out, v->kr->content, MV_KEY_LEN, p, n))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

struct mv_hmac *mv_vault_content_hasher(const struct mv_vault *v)
{
	return mv_hmac_new(v->kr->content, MV_KEY_LEN);
}
