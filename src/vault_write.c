/* vault_write.c - creating archives and appending versions; see vault.h. */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "compress.h"
#include "fileio.h"
#include "frame.h"
#include "sha256.h"

static const char commit_magic[8] = { 'M', 'V', 'C', 'O', 'M', 'M', 'I', 'T' };
static const char index_label[] = "mbox-vault/v1 index";
#define INDEX_AD_LEN (sizeof index_label - 1 + 16 + 1 + 8)

/* Messages below this size are stored uncompressed: zstd's frame would
 * outweigh any gain. */
#define MV_MIN_COMPRESS 64
/* Index pages close at this many bytes even before 4096 entries. */
#define PAGE_TARGET (1u << 20)

/*
 * Chunks are sealed and hashed by SEALERS threads while the caller's
 * thread goes on, and written in order by whichever sealer finishes the
 * oldest one: sealing and hashing cost as much as compressing, and one
 * thread doing them for all chunks was the slowest stage of a pull.  The
 * producer assigns every chunk its sequence number, offset and nonce, so
 * the file is byte-for-byte what a single thread would write.  A chunk is
 * sealed in place: its slot holds the whole record, with room for the
 * frame header and chunk head before the plaintext and for the tag and
 * trailer after it.
 *
 * The queue holds 32 chunks (8 MiB at the default chunk size): with 8, a
 * large message filled it at once and the producer, blocked on it, left
 * the compression workers without work (20,000-message Maildir pull: 6.0-
 * 6.35 s with 8, 4.9-5.1 s with 32, peak RSS 48 -> 54 MiB).
 */
#define QSLOTS 32
#define SEALERS 2
/* Sleeping sealers are woken once this many chunks wait (or the producer
 * waits): a wake per chunk of a small message was a futex call and a
 * context switch per message, dear on this VM and paid for by an IMAP
 * server on the other core. */
#define SEAL_BATCH 4
/*
 * The syncer thread fdatasyncs after every this many bytes written.  On
 * this VM an fdatasync costs ~0.55 ms per MiB written since the last one
 * (the host flushes them), whoever asks: the sync before a checkpoint's
 * COMMIT took ~140 ms after 256 MiB, and the pipeline stood still behind
 * it (the writer queue holds 8 MiB).  Synced along the way, the data
 * leaves a COMMIT ~20 ms at most to wait for.  Durability is unchanged:
 * the COMMIT's own syncs still order it after what it names.
 */
#define BG_SYNC_BYTES (32u << 20)

enum { SL_FREE, SL_QUEUED, SL_SEALING, SL_SEALED };

struct slot {
	struct mv_chunk_ctx cc;       /* holds the message key */
	uint8_t nonce[MV_NONCE_LEN];
	uint64_t seq;
	uint32_t index;
	int last;
	int state;                    /* SL_*, under the writer's mutex */
	int used;                     /* has held message bytes (to wipe) */
	size_t len;
	uint8_t *rec;                 /* the record, once sealed */
	size_t rec_len;
	mv_mhash hash;                /* its leaf hash */
	uint8_t *plain;               /* 2^c bytes inside rec */
	/* A record built whole by the producer (a COMMIT), written from
	 * here instead of rec; with ci, the file is synced before and
	 * after it and ci becomes the archive's newest commit. */
	uint8_t *ext;
	struct mv_commit_info *ci;
};

/* Bytes of a slot's record buffer around the plaintext. */
#define SLOT_BEFORE (MV_FRAME_HDR + MV_CHUNK_HEAD)
#define SLOT_AFTER (MV_TAG_LEN + sizeof(mv_mhash))
#define SLOT_SIZE(chunk_log) (SLOT_BEFORE + ((size_t)1 << (chunk_log)) + SLOT_AFTER)

struct mv_writer {
	struct mv_vault *v;
	struct mv_wfile *wf;
	uint64_t seq;                 /* next record's sequence number */
	uint64_t pseq, poff;          /* the producer's view: next seq/offset */
	/* The chunk queue. */
	pthread_t sealer[SEALERS];
	int nsealers;
	pthread_t syncer;
	int have_syncer;
	pthread_cond_t cv_sync;
	uint64_t written, bg_mark;    /* bytes written; at the syncer's last start */
	int writing;                  /* a sealer is writing slots out */
	int have_mu;
	pthread_mutex_t mu;
	pthread_cond_t cv_filled, cv_free;
	struct slot *slots;           /* QSLOTS, secure memory */
	size_t head, tail, count;     /* ring: producer fills at head */
	size_t nqueued;               /* slots SL_QUEUED (not yet taken) */
	int stop;
	enum mv_err werr;             /* first error in a sealer */
	struct mv_error werr_info;
	struct mv_frontier fr;
	uint64_t start_off;
	uint64_t cut_bytes;
	uint8_t cut_hash[32];
	struct mv_buf rec;            /* scratch for one record payload */
	/* Current blob. */
	int in_blob;
	struct mv_zc *zc;
	struct mv_hmac *hash;
	struct mv_chunk_ctx *cc;      /* secure memory: holds the message key */
	uint8_t *chunk;               /* the head slot's plain, once taken */
	size_t chunk_len;
	uint32_t chunk_index;
	uint64_t raw_expected, raw_seen, stored, padded;
	int comp, pad;
	struct mv_blobref cur;
};

uint64_t mv_writer_bytes(const struct mv_writer *w)
{
	return w->poff - w->start_off;
}

/* Appends one record: frame, payload, trailer; feeds the frontier. */
static enum mv_err put_record(struct mv_writer *w, uint8_t type, uint8_t flags,
			      const uint8_t *payload, size_t len, uint64_t *offp,
			      struct mv_error *e)
{
	uint8_t hdr[MV_FRAME_HDR];
	mv_mhash h;
	enum mv_err rc;

	if (len > mv_frame_max_payload(type, w->v->h.chunk_log))
		return mv_fail(e, MV_E_LIMIT, "%s record of %zu bytes is over the limit",
			       mv_rtype_name(type), len);
	mv_frame_encode(hdr, type, flags, (uint32_t)len, w->seq);
	mv_record_hash(h, hdr, payload, len);
	if (offp)
		*offp = mv_wfile_offset(w->wf);
	if ((rc = mv_wfile_append(w->wf, hdr, sizeof hdr, e)) ||
	    (rc = mv_wfile_append(w->wf, payload, len, e)) ||
	    (rc = mv_wfile_append(w->wf, h, sizeof h, e)))
		return rc;
	mv_frontier_add(&w->fr, h);
	w->seq++;
	return MV_OK;
}

/* ---- the sealers ---- */

/* Seals a queued chunk in place into the CHUNK record put_record would
 * write, leaf hash included. */
static enum mv_err seal_slot(const struct mv_writer *w, struct slot *sl, struct mv_error *e)
{
	size_t len = MV_CHUNK_HEAD + sl->len + MV_TAG_LEN;
	uint8_t *p = sl->rec;

	if (len > mv_frame_max_payload(MV_R_CHUNK, w->v->h.chunk_log))
		return mv_fail(e, MV_E_LIMIT, "chunk record of %zu bytes is over the limit", len);
	mv_frame_encode(p, MV_R_CHUNK, sl->last ? MV_RF_LAST : 0, (uint32_t)len, sl->seq);
	mv_chunk_seal_nonce(p + MV_FRAME_HDR, &sl->cc, sl->seq, sl->index, sl->last,
			    sl->plain, sl->len, sl->nonce);
	mv_record_hash(sl->hash, p, p + MV_FRAME_HDR, len);
	memcpy(p + MV_FRAME_HDR + len, sl->hash, sizeof sl->hash);
	sl->rec_len = MV_FRAME_HDR + len + sizeof sl->hash;
	return MV_OK;
}

/* Under w->mu: the oldest queued slot, or NULL. */
static struct slot *next_queued(struct mv_writer *w)
{
	for (size_t k = 0; k < w->count; k++) {
		struct slot *sl = &w->slots[(w->tail + k) % QSLOTS];

		if (sl->state == SL_QUEUED)
			return sl;
	}
	return NULL;
}

/*
 * Writes one sealed slot (the writing sealer only).  A COMMIT waits for
 * the data and index it names to reach the disk, and is synced itself,
 * here rather than in the producer: the fdatasync of a partial checkpoint
 * (~0.55 ms per MiB written since the last sync on this VM, see
 * BG_SYNC_BYTES) then overlaps the compression and sealing of the next
 * messages instead of stopping them (20,000-message pull: 16 checkpoints
 * of ~45 ms each, most of it that sync, with both workers idle).  The
 * bytes and their order on disk are the same as when the producer synced.
 */
static enum mv_err write_slot(struct mv_writer *w, struct slot *sl, struct mv_error *e)
{
	struct mv_vault *v = w->v;
	enum mv_err rc;

	if (sl->ci && (rc = mv_wfile_sync(w->wf, e)))
		return rc;
	if ((rc = mv_wfile_append(w->wf, sl->ext ? sl->ext : sl->rec, sl->rec_len, e)))
		return rc;
	mv_frontier_add(&w->fr, sl->hash);
	w->seq++;
	if (!sl->ci)
		return MV_OK;
	if ((rc = mv_wfile_sync(w->wf, e)))
		return rc;
	/* The producer reads v->last only after drain(). */
	v->last = *sl->ci;
	v->has_commit = 1;
	v->file_size = sl->ci->end;
	return MV_OK;
}

/* Under w->mu: writes the sealed slots at the tail, in order, unless
 * another sealer is at it (it will take these too). */
static void write_sealed(struct mv_writer *w)
{
	while (!w->writing && w->count && w->slots[w->tail].state == SL_SEALED) {
		struct slot *sl = &w->slots[w->tail];
		enum mv_err rc = w->werr;
		struct mv_error e;

		w->writing = 1;
		pthread_mutex_unlock(&w->mu);
		mv_error_clear(&e);
		if (rc == MV_OK)
			rc = write_slot(w, sl, &e);
		free(sl->ext);
		free(sl->ci);
		sl->ext = NULL;
		sl->ci = NULL;
		pthread_mutex_lock(&w->mu);
		if (rc && !w->werr) {
			w->werr = rc;
			w->werr_info = e;
		}
		if (rc == MV_OK) {
			w->written += sl->rec_len;
			if (w->written - w->bg_mark >= BG_SYNC_BYTES)
				pthread_cond_signal(&w->cv_sync);
		}
		sl->state = SL_FREE;
		w->tail = (w->tail + 1) % QSLOTS;
		w->count--;
		w->writing = 0;
		pthread_cond_broadcast(&w->cv_free);
	}
}

static void *sealer_main(void *arg)
{
	struct mv_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct slot *sl = next_queued(w);
		struct mv_error e;
		enum mv_err rc;

		if (!sl) {
			/* A record queued already sealed (a COMMIT) at the
			 * tail has no sealer to write it otherwise. */
			if (!w->writing && w->count && w->slots[w->tail].state == SL_SEALED) {
				write_sealed(w);
				continue;
			}
			if (w->stop)
				break;
			pthread_cond_wait(&w->cv_filled, &w->mu);
			continue;
		}
		sl->state = SL_SEALING;
		w->nqueued--;
		/* More queued: the other sealer may take them. */
		if (next_queued(w))
			pthread_cond_signal(&w->cv_filled);
		rc = w->werr;
		pthread_mutex_unlock(&w->mu);
		mv_error_clear(&e);
		if (rc == MV_OK)
			rc = seal_slot(w, sl, &e);
		pthread_mutex_lock(&w->mu);
		if (rc && !w->werr) {
			w->werr = rc;
			w->werr_info = e;
		}
		sl->state = SL_SEALED;
		write_sealed(w);
	}
	pthread_mutex_unlock(&w->mu);
	mv_sha256_thread_done();
	return NULL;
}

/* Syncs what the sealers wrote, BG_SYNC_BYTES at a time.  A failure is
 * the writer's (after a failed fdatasync a later one may not report the
 * loss again). */
static void *syncer_main(void *arg)
{
	struct mv_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct mv_error e;
		enum mv_err rc;

		if (w->werr || w->written - w->bg_mark < BG_SYNC_BYTES) {
			if (w->stop)
				break;
			pthread_cond_wait(&w->cv_sync, &w->mu);
			continue;
		}
		w->bg_mark = w->written;
		pthread_mutex_unlock(&w->mu);
		mv_error_clear(&e);
		rc = mv_wfile_datasync(w->wf, &e);
		pthread_mutex_lock(&w->mu);
		if (rc && !w->werr) {
			w->werr = rc;
			w->werr_info = e;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Waits until the sealers have written everything queued. */
static enum mv_err drain(struct mv_writer *w, struct mv_error *e)
{
	enum mv_err rc;

	if (!w->nsealers)
		return MV_OK;
	pthread_mutex_lock(&w->mu);
	if (w->nqueued)
		pthread_cond_broadcast(&w->cv_filled);
	while (w->count)
		pthread_cond_wait(&w->cv_free, &w->mu);
	rc = w->werr;
	pthread_mutex_unlock(&w->mu);
	if (rc)
		return mv_fail(e, rc, "%s", w->werr_info.msg);
	return MV_OK;
}

enum mv_err mv_writer_wait(struct mv_writer *w, struct mv_error *e)
{
	return drain(w, e);
}

enum mv_err mv_vault_create(struct mv_vault **out, const char *path,
			    const struct mv_create_opts *o, const struct mv_creds *c,
			    struct mv_error *e)
{
	struct mv_vault *v = NULL;
	struct mv_keyring *kr = NULL;
	struct mv_header h;
	uint8_t hdr[MV_FRAME_HDR];
	mv_mhash hash;
	int fd = -1;
	enum mv_err rc;
	struct stat st;

	mv_header_init(&h);
	rc = mv_header_create(&h, o, c, &kr, e);
	if (rc)
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = mv_fail(e, MV_E_IO, "cannot create '%s': %s", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rc = mv_fail(e, MV_E_IO, "'%s' is in use by another mbox-vault process", path);
		goto out;
	}
	/* Only an empty file or one that never got a commit may be (re)made:
	 * the caller checked the latter; refuse anything else here. */
	if (fstat(fd, &st) != 0 || (st.st_size > 0 && !o->replace_uncommitted)) {
		rc = mv_fail(e, MV_E_EXISTS, "'%s' already exists", path);
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || ftruncate(fd, 0) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot prepare '%s': %s", path, strerror(errno));
		goto out;
	}
	mv_frame_encode(hdr, MV_R_HEADER, 0, (uint32_t)h.payload.len, 0);
	mv_record_hash(hash, hdr, h.payload.data, h.payload.len);
	{
		struct mv_wfile *wf = NULL;

		rc = mv_wfile_new(&wf, fd, path, 0, 1u << 16, e);
		if (rc == MV_OK)
			rc = mv_wfile_append(wf, mv_file_magic, MV_MAGIC_LEN, e);
		if (rc == MV_OK)
			rc = mv_wfile_append(wf, hdr, sizeof hdr, e);
		if (rc == MV_OK)
			rc = mv_wfile_append(wf, h.payload.data, h.payload.len, e);
		if (rc == MV_OK)
			rc = mv_wfile_append(wf, hash, sizeof hash, e);
		if (rc == MV_OK)
			rc = mv_wfile_sync(wf, e);
		mv_wfile_free(wf);
		if (rc)
			goto out;
	}
	close(fd);
	fd = -1;
	rc = mv_vault_open(&v, path, 1, e);
	if (rc)
		goto out;
	v->kr = kr;
	kr = NULL;
	*out = v;
out:
	if (fd >= 0)
		close(fd);
	mv_keyring_free(kr);
	mv_header_release(&h);
	return rc;
}

void mv_writer_free(struct mv_writer *w)
{
	if (!w)
		return;
	if (w->nsealers) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_broadcast(&w->cv_filled);
		pthread_mutex_unlock(&w->mu);
		for (int i = 0; i < w->nsealers; i++)
			pthread_join(w->sealer[i], NULL);
	}
	if (w->have_syncer) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv_sync);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->syncer, NULL);
	}
	if (w->have_mu) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv_filled);
		pthread_cond_destroy(&w->cv_free);
		pthread_cond_destroy(&w->cv_sync);
	}
	if (w->slots) {
		/* Message bytes, compressed or not, are wiped like keys. */
		for (size_t i = 0; i < QSLOTS; i++)
			if (w->slots[i].rec && w->slots[i].used) {
				mv_wipe(w->slots[i].rec, SLOT_SIZE(w->v->h.chunk_log));
			}
		for (size_t i = 0; i < QSLOTS; i++) {
			free(w->slots[i].rec);
			free(w->slots[i].ext);
			free(w->slots[i].ci);
		}
		mv_secure_free(w->slots);
	}
	mv_wfile_free(w->wf);
	mv_zc_free(w->zc);
	mv_hmac_free(w->hash);
	mv_secure_free(w->cc);
	mv_buf_release(&w->rec);
	free(w);
}

/* Hashes the torn bytes about to be cut, so the next commit records them. */
static enum mv_err hash_tail(struct mv_vault *v, uint64_t from, uint8_t out[32],
			     struct mv_error *e)
{
	struct mv_sha256 *h = mv_sha256_new();
	uint8_t buf[65536];
	enum mv_err rc = MV_OK;

	if (!h)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (uint64_t o = from; o < v->file_size; o += sizeof buf) {
		size_t n = v->file_size - o < sizeof buf ? (size_t)(v->file_size - o) : sizeof buf;

		if ((rc = mv_pread_full(v->fd, buf, n, o, v->path, e)))
			break;
		mv_sha256_update(h, buf, n);
	}
	if (rc == MV_OK)
		mv_sha256_final(h, out);
	mv_sha256_free(h);
	return rc;
}

enum mv_err mv_writer_begin(struct mv_vault *v, struct mv_writer **out,
			    struct mv_error *e)
{
	struct mv_writer *w = NULL;
	uint64_t at;
	enum mv_err rc = MV_OK;

	if (!v->writable)
		return mv_fail(e, MV_E_USAGE, "archive is open read-only");
	if (!v->kr || !v->kr->can_sign)
		return mv_fail(e, MV_E_NEED_OWNER,
			       "appending to '%s' needs the owner's key (a reader key cannot sign)",
			       v->path);
	w = calloc(1, sizeof *w);
	if (!w)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	w->v = v;
	mv_buf_init(&w->rec, 65u << 20);
	w->zc = mv_zc_new();
	w->cc = mv_secure_alloc(sizeof *w->cc);
	if (!w->zc || !w->cc) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	mv_frontier_init(&w->fr);
	if (v->has_commit) {
		w->fr = v->last.frontier;
		mv_frontier_add(&w->fr, v->last.leaf);
		at = v->last.end;
	} else {
		/* Header only: leaf 0 is the header record. */
		struct mv_buf pl;
		struct mv_frame f;

		mv_buf_init(&pl, 65536 + 64);
		rc = mv_record_read(v->fd, v->path, MV_MAGIC_LEN, 0, 0, &f, &pl, e);
		mv_buf_release(&pl);
		if (rc)
			goto out;
		mv_frontier_add(&w->fr, f.hash);
		at = MV_MAGIC_LEN + MV_FRAME_OVERHEAD + f.len;
	}
	w->seq = w->fr.size;
	if (v->file_size > at) {
		w->cut_bytes = v->file_size - at;
		if ((rc = hash_tail(v, at, w->cut_hash, e)))
			goto out;
		if (ftruncate(v->fd, (off_t)at) != 0 || fsync(v->fd) != 0) {
			rc = mv_fail(e, MV_E_IO, "cannot cut the torn tail of '%s': %s", v->path,
				     strerror(errno));
			goto out;
		}
		v->file_size = at;
		v->torn = 0;
	}
	rc = mv_wfile_new(&w->wf, v->fd, v->path, at, 4u << 20, e);
	if (rc)
		goto out;
	w->start_off = at;
	w->pseq = w->seq;
	w->poff = at;
	mv_error_clear(&w->werr_info);
	w->slots = mv_secure_alloc(QSLOTS * sizeof *w->slots);
	if (!w->slots) {
		rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
		goto out;
	}
	memset(w->slots, 0, QSLOTS * sizeof *w->slots);
	for (size_t i = 0; i < QSLOTS; i++) {
		w->slots[i].rec = malloc(SLOT_SIZE(v->h.chunk_log));
		if (!w->slots[i].rec) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		w->slots[i].plain = w->slots[i].rec + SLOT_BEFORE;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv_filled, NULL);
	pthread_cond_init(&w->cv_free, NULL);
	pthread_cond_init(&w->cv_sync, NULL);
	w->have_mu = 1;
	/* Without it a COMMIT only waits longer. */
	w->have_syncer = pthread_create(&w->syncer, NULL, syncer_main, w) == 0;
	for (int i = 0; i < SEALERS; i++) {
		if (pthread_create(&w->sealer[i], NULL, sealer_main, w) != 0)
			break;
		w->nsealers++;
	}
	if (!w->nsealers) {
		rc = mv_fail(e, MV_E_INTERNAL, "cannot start the sealer threads");
		goto out;
	}
	*out = w;
	w = NULL;
out:
	mv_writer_free(w);
	return rc;
}

/* ---- blobs ---- */

/* Under w->mu: waits for a free slot (waking the sealers for what is
 * queued, see SEAL_BATCH); the sealers' first error, if any. */
static enum mv_err wait_free_slot(struct mv_writer *w)
{
	if (w->count == QSLOTS && w->nqueued)
		pthread_cond_broadcast(&w->cv_filled);
	while (w->count == QSLOTS && !w->werr)
		pthread_cond_wait(&w->cv_free, &w->mu);
	return w->werr;
}

/* Makes the slot at the head of the queue the producer's, waiting for
 * the worker to free one: stored bytes are cut into chunks right in the
 * slot they will be sealed from. */
static enum mv_err take_slot(struct mv_writer *w, struct mv_error *e)
{
	enum mv_err rc;

	pthread_mutex_lock(&w->mu);
	rc = wait_free_slot(w);
	pthread_mutex_unlock(&w->mu);
	if (rc)
		return mv_fail(e, rc, "%s", w->werr_info.msg);
	/* The slot is ours: the sealers only touch slots in [tail, head).
	 * Wiping untouched slots at the end would only fault their pages in
	 * (8 MiB: 40 ms of a 0.3 s pull that stores nothing). */
	w->chunk = w->slots[w->head].plain;
	w->slots[w->head].used = 1;
	return MV_OK;
}

static enum mv_err emit_chunk(struct mv_writer *w, int last, struct mv_error *e)
{
	struct slot *sl;
	enum mv_err rc;

	if (!w->chunk && (rc = take_slot(w, e)))
		return rc;
	sl = &w->slots[w->head];
	sl->cc = *w->cc;
	mv_random(sl->nonce, sizeof sl->nonce);
	sl->seq = w->pseq;
	sl->index = w->chunk_index;
	sl->last = last;
	sl->len = w->chunk_len;
	sl->state = SL_QUEUED;
	if (w->chunk_index == 0) {
		w->cur.first_seq = w->pseq;
		w->cur.first_off = w->poff;
	}
	w->pseq++;
	w->poff += MV_FRAME_OVERHEAD + MV_CHUNK_HEAD + w->chunk_len + MV_TAG_LEN;
	w->chunk = NULL;
	pthread_mutex_lock(&w->mu);
	w->head = (w->head + 1) % QSLOTS;
	w->count++;
	if (++w->nqueued >= SEAL_BATCH)
		pthread_cond_signal(&w->cv_filled);
	pthread_mutex_unlock(&w->mu);
	w->chunk_index++;
	w->chunk_len = 0;
	return MV_OK;
}

/* Receives stored-stream bytes (compressed or raw) and cuts chunks. */
static enum mv_err stored_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct mv_writer *w = ctx;
	size_t full = (size_t)1 << w->v->h.chunk_log;
	enum mv_err rc;

	w->stored += n;
	while (n) {
		size_t take;

		/* A full chunk is sealed only once more bytes follow, so the
		 * final chunk is always the one marked LAST. */
		if (w->chunk_len == full && (rc = emit_chunk(w, 0, e)))
			return rc;
		if (!w->chunk && (rc = take_slot(w, e)))
			return rc;
		take = full - w->chunk_len < n ? full - w->chunk_len : n;
		memcpy(w->chunk + w->chunk_len, p, take);
		w->chunk_len += take;
		p += take;
		n -= take;
	}
	return MV_OK;
}

/* A new blob ID and its key, in the producer thread (format-spec 5.1). */
static void blob_keys(struct mv_writer *w)
{
	struct mv_vault *v = w->v;

	memset(&w->cur, 0, sizeof w->cur);
	mv_random(w->cur.id, MV_BLOB_ID_LEN);
	memcpy(w->cc->archive_id, v->h.archive_id, 16);
	memcpy(w->cc->blob_id, w->cur.id, 16);
	w->cc->chunk_log = v->h.chunk_log;
	mv_message_key(w->cc->mk, v->kr, w->cur.id);
	mv_key_commitment(w->cc->commitment, w->cc->mk, v->h.archive_id, w->cur.id);
	w->stored = 0;
	w->chunk_len = 0;
	w->chunk_index = 0;
}

/* Pads the stored stream and seals its last chunk. */
static enum mv_err blob_finish(struct mv_writer *w, struct mv_error *e)
{
	static const uint8_t zeros[4096];
	uint64_t stored = w->stored;
	enum mv_err rc;

	w->padded = w->pad ? mv_padme(stored) : stored;
	while (w->stored < w->padded) {
		uint64_t left = w->padded - w->stored;
		size_t n = left < sizeof zeros ? (size_t)left : sizeof zeros;

		if ((rc = stored_out(w, zeros, n, e)))
			return rc;
	}
	if ((rc = emit_chunk(w, 1, e)))
		return rc;
	w->cur.nchunks = w->chunk_index;
	w->cur.stored_size = stored;
	w->cur.padded_size = w->padded;
	return MV_OK;
}

/* in_blob: 1 between mv_writer_blob_begin and _end (compressing here),
 * 2 between mv_writer_stored_begin and _end (stored stream made elsewhere). */
enum mv_err mv_writer_stored_begin(struct mv_writer *w, uint64_t raw_size, int comp,
				   int pad, struct mv_error *e)
{
	if (w->in_blob)
		return mv_fail(e, MV_E_USAGE, "a message is already being stored");
	if (raw_size > MV_MAX_MESSAGE)
		return mv_fail(e, MV_E_LIMIT, "message of %llu bytes cannot be stored",
			       (unsigned long long)raw_size);
	blob_keys(w);
	w->pad = pad;
	w->comp = comp;
	w->raw_expected = raw_size;
	w->in_blob = 2;
	return MV_OK;
}

enum mv_err mv_writer_stored_add(struct mv_writer *w, const struct mv_span *parts,
				 size_t nparts, struct mv_error *e)
{
	enum mv_err rc;

	if (w->in_blob != 2)
		return mv_fail(e, MV_E_USAGE, "no stored message started");
	for (size_t i = 0; i < nparts; i++)
		if ((rc = stored_out(w, parts[i].p, parts[i].n, e)))
			return rc;
	return MV_OK;
}

enum mv_err mv_writer_stored_end(struct mv_writer *w, const uint8_t content_hash[32],
				 struct mv_blobref *out, struct mv_error *e)
{
	enum mv_err rc;

	if (w->in_blob != 2)
		return mv_fail(e, MV_E_USAGE, "no stored message started");
	w->in_blob = 0;
	if (w->comp == MV_COMP_NONE && w->stored != w->raw_expected)
		return mv_fail(e, MV_E_LENGTH, "uncompressed message of %llu bytes stored as %llu",
			       (unsigned long long)w->raw_expected,
			       (unsigned long long)w->stored);
	if ((rc = blob_finish(w, e)))
		return rc;
	w->cur.raw_size = w->raw_expected;
	w->cur.comp = (uint8_t)w->comp;
	memcpy(w->cur.content_hash, content_hash, 32);
	*out = w->cur;
	return MV_OK;
}

enum mv_err mv_writer_blob_stored(struct mv_writer *w, uint64_t raw_size, int comp,
				  const struct mv_span *parts, size_t nparts,
				  const uint8_t content_hash[32], int pad,
				  struct mv_blobref *out, struct mv_error *e)
{
	enum mv_err rc;

	if ((rc = mv_writer_stored_begin(w, raw_size, comp, pad, e)) ||
	    (rc = mv_writer_stored_add(w, parts, nparts, e)))
		return rc;
	return mv_writer_stored_end(w, content_hash, out, e);
}

enum mv_err mv_writer_blob_begin(struct mv_writer *w, uint64_t raw_size,
				 int compress, int pad, struct mv_error *e)
{
	struct mv_vault *v = w->v;
	enum mv_err rc;

	if (raw_size > MV_MAX_MESSAGE)
		return mv_fail(e, MV_E_LIMIT, "message of %llu bytes is over the 1 TiB limit",
			       (unsigned long long)raw_size);
	blob_keys(w);
	mv_hmac_free(w->hash);
	w->hash = mv_vault_content_hasher(v);
	if (!w->hash)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	w->comp = compress && raw_size >= MV_MIN_COMPRESS ? MV_COMP_ZSTD : MV_COMP_NONE;
	w->pad = pad;
	w->raw_expected = raw_size;
	w->raw_seen = 0;
	if (w->comp == MV_COMP_ZSTD && (rc = mv_zc_begin(w->zc, raw_size, e)))
		return rc;
	w->in_blob = 1;
	return MV_OK;
}

enum mv_err mv_writer_blob_feed(struct mv_writer *w, const uint8_t *p, size_t n,
				struct mv_error *e)
{
	if (w->in_blob != 1)
		return mv_fail(e, MV_E_USAGE, "no message started");
	if (n > w->raw_expected - w->raw_seen)
		return mv_fail(e, MV_E_LENGTH, "message is longer than the %llu bytes announced",
			       (unsigned long long)w->raw_expected);
	w->raw_seen += n;
	mv_hmac_update(w->hash, p, n);
	if (w->comp == MV_COMP_ZSTD)
		return n ? mv_zc_feed(w->zc, p, n, 0, stored_out, w, e) : MV_OK;
	return stored_out(w, p, n, e);
}

enum mv_err mv_writer_blob_end(struct mv_writer *w, struct mv_blobref *out,
			       struct mv_error *e)
{
	enum mv_err rc;

	if (w->in_blob != 1)
		return mv_fail(e, MV_E_USAGE, "no message started");
	w->in_blob = 0;
	if (w->raw_seen != w->raw_expected)
		return mv_fail(e, MV_E_LENGTH, "message ended after %llu of %llu bytes",
			       (unsigned long long)w->raw_seen,
			       (unsigned long long)w->raw_expected);
	if (w->comp == MV_COMP_ZSTD && (rc = mv_zc_feed(w->zc, NULL, 0, 1, stored_out, w, e)))
		return rc;
	if ((rc = blob_finish(w, e)))
		return rc;
	w->cur.raw_size = w->raw_expected;
	w->cur.comp = (uint8_t)w->comp;
	mv_hmac_final(w->hash, w->cur.content_hash);
	*out = w->cur;
	return MV_OK;
}

/* ---- index and commit ---- */

static enum mv_err put_index_record(struct mv_writer *w, uint8_t type,
				    const struct mv_buf *body, uint64_t *seq,
				    uint64_t *off, struct mv_error *e)
{
	uint8_t ad[INDEX_AD_LEN];
	uint8_t *p;
	size_t o = sizeof index_label - 1;
	enum mv_err rc = drain(w, e);

	if (rc)
		return rc;
	mv_buf_reset(&w->rec);
	if (mv_buf_grow(&w->rec, MV_NONCE_LEN + body->len + MV_TAG_LEN, &p))
		return mv_fail(e, MV_E_LIMIT, "index record of %zu bytes is too large",
			       body->len);
	memcpy(ad, index_label, o);
	memcpy(ad + o, w->v->h.archive_id, 16);
	ad[o + 16] = type;
	mv_st64(ad + o + 17, w->seq);
	mv_random(p, MV_NONCE_LEN);
	mv_aead_seal(p + MV_NONCE_LEN, body->data, body->len, ad, sizeof ad, p,
		     w->v->kr->index);
	*seq = w->seq;
	rc = put_record(w, type, 0, w->rec.data, w->rec.len, off, e);
	w->pseq = w->seq;
	w->poff = mv_wfile_offset(w->wf);
	return rc;
}

/*
 * Queues a record built whole by the producer (rec: frame, payload and
 * leaf hash; its frame's sequence number is the next one), with ci for a
 * COMMIT; takes rec and ci, also on failure.
 */
static enum mv_err queue_record(struct mv_writer *w, uint8_t *rec, size_t len,
				struct mv_commit_info *ci, struct mv_error *e)
{
	struct slot *sl;
	enum mv_err rc;

	pthread_mutex_lock(&w->mu);
	if ((rc = wait_free_slot(w))) {
		pthread_mutex_unlock(&w->mu);
		free(rec);
		free(ci);
		return mv_fail(e, rc, "%s", w->werr_info.msg);
	}
	sl = &w->slots[w->head];
	sl->ext = rec;
	sl->ci = ci;
	sl->rec_len = len;
	memcpy(sl->hash, rec + len - sizeof sl->hash, sizeof sl->hash);
	sl->state = SL_SEALED;
	w->head = (w->head + 1) % QSLOTS;
	w->count++;
	pthread_cond_signal(&w->cv_filled);
	pthread_mutex_unlock(&w->mu);
	return MV_OK;
}

/* Queues the COMMIT record for the current tree: written and synced
 * behind the producer for a partial checkpoint, before returning for
 * any other kind. */
static enum mv_err put_commit(struct mv_writer *w, uint32_t number, int kind,
			      uint64_t index_seq, uint64_t index_off,
			      const mv_mhash entries_root, uint64_t entries,
			      const uint64_t *stanza_off, uint16_t nstanzas,
			      struct mv_error *e)
{
	struct mv_vault *v = w->v;
	struct mv_buf body, note;
	struct mv_checkpoint cp;
	struct mv_commit_info *ci = NULL;
	uint8_t *rec = NULL;
	uint64_t off = mv_wfile_offset(w->wf);
	uint64_t now = mv_now();
	enum mv_err rc = MV_OK;

	mv_buf_init(&body, 8192);
	mv_buf_init(&note, MV_NOTE_MAX + 1);
	if ((rc = drain(w, e)))
		goto out;
	off = mv_wfile_offset(w->wf);
	if (mv_buf_add32(&body, number) || mv_buf_addc(&body, (uint8_t)kind) ||
	    mv_buf_add(&body, "\0\0\0", 3) || mv_buf_add64(&body, now) ||
	    mv_buf_add64(&body, v->has_commit ? v->last.offset : 0) ||
	    mv_buf_add64(&body, w->seq) || mv_buf_addc(&body, (uint8_t)w->fr.count))
		goto nomem;
	for (unsigned i = 0; i < w->fr.count; i++)
		if (mv_buf_add(&body, w->fr.hash[i], MV_MERKLE_HASH))
			goto nomem;
	if (mv_buf_add64(&body, index_seq) || mv_buf_add64(&body, index_off) ||
	    mv_buf_add(&body, entries_root, 32) || mv_buf_add64(&body, entries) ||
	    mv_buf_add64(&body, w->cut_bytes) || mv_buf_add(&body, w->cut_hash, 32) ||
	    mv_buf_add16(&body, nstanzas))
		goto nomem;
	for (unsigned i = 0; i < nstanzas; i++)
		if (mv_buf_add64(&body, stanza_off[i]))
			goto nomem;
	memcpy(cp.archive_id, v->h.archive_id, 16);
	cp.tree_size = w->seq;
	mv_frontier_root(&w->fr, cp.root);
	cp.commit = number;
	cp.kind = kind;
	mv_sha256(cp.body_hash, body.data, body.len);
	if ((rc = mv_note_sign(&note, &cp, v->kr->ed_sk, v->h.owner_pk, e)))
		goto out;
	if (mv_buf_add16(&body, (uint16_t)note.len) || mv_buf_add(&body, note.data, note.len) ||
	    mv_buf_add64(&body, off) || mv_buf_add(&body, commit_magic, 8))
		goto nomem;
	if (body.len > mv_frame_max_payload(MV_R_COMMIT, v->h.chunk_log))
		goto nomem;
	/* The record whole, and the commit as a reader will load it; the
	 * sealer that writes it syncs before and after (write_slot). */
	ci = malloc(sizeof *ci);
	rec = malloc(MV_FRAME_OVERHEAD + body.len);
	if (!ci || !rec) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = mv_commit_parse(v, body.data, body.len, off, w->seq, ci, e)))
		goto out;
	mv_frame_encode(rec, MV_R_COMMIT, 0, (uint32_t)body.len, w->seq);
	memcpy(rec + MV_FRAME_HDR, body.data, body.len);
	mv_record_hash(ci->leaf, rec, rec + MV_FRAME_HDR, body.len);
	memcpy(rec + MV_FRAME_HDR + body.len, ci->leaf, sizeof ci->leaf);
	ci->end = off + MV_FRAME_OVERHEAD + body.len;
	w->pseq = w->seq + 1;
	w->poff = ci->end;
	w->cut_bytes = 0;
	memset(w->cut_hash, 0, sizeof w->cut_hash);
	rc = queue_record(w, rec, MV_FRAME_OVERHEAD + body.len, ci, e);
	rec = NULL;
	ci = NULL;
	/* Only a partial checkpoint is left to finish behind the producer:
	 * every other commit is on disk, and the newest, on return. */
	if (rc == MV_OK && kind != MV_COMMIT_PARTIAL)
		rc = drain(w, e);
	goto out;
nomem:
	rc = mv_fail(e, MV_E_LIMIT, "commit record too large");
out:
	free(rec);
	free(ci);
	mv_buf_release(&body);
	mv_buf_release(&note);
	return rc;
}

/* The entries tree's root, computed on a thread of its own while the
 * producer encodes and seals the index pages (both only read the sorted
 * index): 8 of the 33 ms a 20,000-message commit takes. */
struct eroot_job {
	const struct mv_index *ix;
	mv_mhash root;
	uint64_t count;
	enum mv_err rc;
	struct mv_error e;
};

static void *eroot_main(void *arg)
{
	struct eroot_job *j = arg;

	j->rc = mv_index_entries_root(j->ix, j->root, &j->count, &j->e);
	mv_sha256_thread_done();
	return NULL;
}

enum mv_err mv_writer_commit(struct mv_writer *w, struct mv_index *ix, int kind,
			     struct mv_error *e)
{
	struct mv_vault *v = w->v;
	struct mv_pageref **pages = NULL;
	size_t *npages = NULL;
	struct mv_buf body;
	uint64_t root_seq = 0, root_off = 0;
	struct eroot_job ej;
	pthread_t eth;
	int sorted, eth_on = 0;
	uint32_t number;
	enum mv_err rc;

	mv_buf_init(&body, 64u << 20);
	/* v->last is the previous commit once it is written (write_slot). */
	if ((rc = drain(w, e)))
		goto out;
	number = v->has_commit ? v->last.number + 1 : 1;
	ix->commit = number;
	pages = calloc(ix->nf ? ix->nf : 1, sizeof *pages);
	npages = calloc(ix->nf ? ix->nf : 1, sizeof *npages);
	if (!pages || !npages) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ix->nf; i++)
		if ((sorted = mv_folder_sort(&ix->f[i])) < 0) {
			rc = sorted == -2 ? mv_fail(e, MV_E_NOMEM, "out of memory")
			   : mv_fail(e, MV_E_USAGE, "folder '%s' has two messages with one UID",
				     ix->f[i].name);
			goto out;
		}
	ej.ix = ix;
	mv_error_clear(&ej.e);
	eth_on = pthread_create(&eth, NULL, eroot_main, &ej) == 0;
	for (size_t i = 0; i < ix->nf; i++) {
		struct mv_folder *f = &ix->f[i];
		size_t from = 0;

		pages[i] = calloc(f->n / 64 + 1, sizeof *pages[i]);
		if (!pages[i]) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		while (from < f->n) {
			size_t cnt = 0, bytes = 8;
			struct mv_pageref *pr;

			while (from + cnt < f->n && cnt < MV_PAGE_MAX_ENTRIES && bytes < PAGE_TARGET) {
				const struct mv_entry *en = &f->e[from + cnt];

				bytes += 4 + 4 + 1 + strlen(en->date) + 2 + en->srcmeta_len + 2 +
					 MV_BLOBREF_LEN + 256u * en->nkw;
				cnt++;
			}
			if ((rc = mv_index_page_body(&body, ix, (uint32_t)i, from, cnt)) != MV_OK) {
				rc = mv_fail(e, rc, "index page too large");
				goto out;
			}
			pr = &pages[i][npages[i]++];
			pr->first_uid = f->e[from].uid;
			pr->count = (uint32_t)cnt;
			rc = put_index_record(w, MV_R_PAGE, &body, &pr->seq, &pr->off, e);
			if (rc)
				goto out;
			from += cnt;
		}
	}
	if ((rc = mv_index_root_body(&body, ix, pages, npages)) != MV_OK) {
		rc = mv_fail(e, rc, "index root too large");
		goto out;
	}
	if ((rc = put_index_record(w, MV_R_ROOT, &body, &root_seq, &root_off, e)))
		goto out;
	if (eth_on) {
		pthread_join(eth, NULL);
		eth_on = 0;
	} else {
		ej.rc = mv_index_entries_root(ix, ej.root, &ej.count, &ej.e);
	}
	if ((rc = ej.rc)) {
		*e = ej.e;
		goto out;
	}
	rc = put_commit(w, number, kind, root_seq, root_off, ej.root, ej.count,
			v->has_commit ? v->last.stanza_off : NULL,
			v->has_commit ? v->last.nstanzas : 0, e);
out:
	if (eth_on)
		pthread_join(eth, NULL);
	mv_pagerefs_free(pages, npages, ix->nf);
	mv_buf_release(&body);
	return rc;
}

enum mv_err mv_writer_grant(struct mv_writer *w, const uint8_t recipient[MV_X25519_LEN],
			    struct mv_error *e)
{
	struct mv_vault *v = w->v;
	struct mv_buf st;
	uint64_t offs[MV_MAX_STANZA_RECORDS], off;
	uint16_t n;
	enum mv_err rc;

	if (!v->has_commit)
		return mv_fail(e, MV_E_EMPTY, "'%s' has no version to grant access to", v->path);
	n = v->last.nstanzas;
	if (n >= MV_MAX_STANZA_RECORDS)
		return mv_fail(e, MV_E_LIMIT, "'%s' already has %d granted readers", v->path,
			       MV_MAX_STANZA_RECORDS);
	memcpy(offs, v->last.stanza_off, n * sizeof offs[0]);
	mv_buf_init(&st, 4096);
	if ((rc = drain(w, e))) {
		mv_buf_release(&st);
		return rc;
	}
	rc = mv_stanza_record_build(&st, &v->h, v->kr, w->seq, recipient, e);
	if (rc == MV_OK)
		rc = put_record(w, MV_R_STANZA, 0, st.data, st.len, &off, e);
	if (rc == MV_OK) {
		offs[n++] = off;
		rc = put_commit(w, v->last.number + 1, MV_COMMIT_GRANT, v->last.index_seq,
				v->last.index_off, v->last.entries_root, v->last.entries, offs,
				n, e);
	}
	mv_buf_release(&st);
	return rc;
}
