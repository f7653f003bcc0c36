/* pull.c - local mailboxes into a version; see pull.h. */
#include "pull.h"
#include "pull_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "imapdate.h"
#include "maildir.h"
#include "msgmeta.h"
#include "utf7.h"


/* ---- content hash -> blob map (open addressing) ---- */

#define SRC_IX 1u
#define SRC_PREV 2u
#define SRC_PART 3u

static const struct mv_index *bm_index(const struct pull *p, uint32_t src)
{
	return src == SRC_IX ? &p->ix : src == SRC_PREV ? &p->prev : &p->parts[src - SRC_PART];
}

static const struct mv_blobref *bm_blob(const struct pull *p, const struct bmslot *s)
{
	return &bm_index(p, s->src)->f[s->fno].e[s->eno].blob;
}

static uint64_t bm_key(const uint8_t *h)
{
	uint64_t k;

	memcpy(&k, h, sizeof k);
	return k;
}

static struct bmslot *bm_find(const struct pull *p, const struct blobmap *m,
			      const uint8_t *h)
{
	uint64_t k = bm_key(h);

	if (!m->cap)
		return NULL;
	for (size_t i = (size_t)k & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct bmslot *s = &m->slot[i];

		if (!s->src)
			return NULL;
		if (s->key == k && memcmp(bm_blob(p, s)->content_hash, h, 32) == 0)
			return s;
	}
}

/* The blob stored with content hash h, or NULL.  The pointer is into an
 * index: valid until that index's folder grows. */
static const struct mv_blobref *bm_get(const struct pull *p, const struct blobmap *m,
				       const uint8_t *h)
{
	const struct bmslot *s = bm_find(p, m, h);

	return s ? bm_blob(p, s) : NULL;
}

static void bm_insert(struct bmslot *slot, size_t cap, const struct bmslot *s)
{
	for (size_t i = (size_t)s->key & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!slot[i].src) {
			slot[i] = *s;
			return;
		}
}

/* Maps the blob of entry (fno, eno) of index src, unless its content hash
 * is mapped already.  -1 when out of memory. */
static int bm_put(const struct pull *p, struct blobmap *m, uint32_t src, size_t fno,
		  size_t eno)
{
	struct bmslot s = { 0, src, (uint32_t)fno, (uint32_t)eno };
	const uint8_t *h;

	s.key = bm_key(h = bm_blob(p, &s)->content_hash);
	if (bm_find(p, m, h))
		return 0;
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		struct bmslot *ns = calloc(cap, sizeof *ns);

		if (!ns)
			return -1;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i].src)
				bm_insert(ns, cap, &m->slot[i]);
		free(m->slot);
		m->slot = ns;
		m->cap = cap;
	}
	bm_insert(m->slot, m->cap, &s);
	m->n++;
	return 0;
}

/* Maps the blob just stored as b, the blob of an entry of p->ix (found
 * from the newest folder back: nearly always the folder being pulled). */
/* The entry of p->ix whose blob reference b is: 0 and its place, or -1. */
static int entry_at(const struct pull *p, const struct mv_blobref *b, size_t *fnop,
		    size_t *enop)
{
	const struct mv_entry *en = (const void *)((const char *)b -
						   offsetof(struct mv_entry, blob));

	for (size_t fno = p->ix.nf; fno-- > 0;) {
		const struct mv_folder *f = &p->ix.f[fno];

		if (en >= f->e && en < f->e + f->n) {
			*fnop = fno;
			*enop = (size_t)(en - f->e);
			return 0;
		}
	}
	return -1;
}

static int map_new(struct pull *p, const struct mv_blobref *b)
{
	size_t fno, eno;

	if (entry_at(p, b, &fno, &eno))
		return -1;
	return bm_put(p, &p->map, SRC_IX, fno, eno);
}

int mv_pull_folder_moved(struct pull *p)
{
	struct blobmap old = p->map;

	/* Open addressing cannot drop single slots: map every entry of
	 * this run again.  Only a folder met again after a reconnect has
	 * entries to reorder, so this is rare. */
	memset(&p->map, 0, sizeof p->map);
	for (size_t fno = 0; fno < p->ix.nf; fno++)
		for (size_t eno = 0; eno < p->ix.f[fno].n; eno++) {
			const struct mv_entry *en = &p->ix.f[fno].e[eno];

			if (en->blob.nchunks && bm_put(p, &p->map, SRC_IX, fno, eno)) {
				free(p->map.slot);
				p->map = old;
				return -1;
			}
		}
	free(old.slot);
	return 0;
}

static enum mv_err map_index(struct pull *p, const struct mv_index *ix, uint32_t src,
			     struct mv_error *e)
{
	for (size_t i = 0; i < ix->nf; i++)
		for (size_t j = 0; j < ix->f[i].n; j++)
			if (bm_put(p, &p->prevmap, src, i, j))
				return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

/*
 * Fills prevmap with the blobs of the previous version and the partial
 * checkpoints, the first time a content hash is looked up: a pull whose
 * folders all turn out unchanged never needs it (20,000 insertions were
 * a twentieth of a no-op pull).  Main thread only, before any job that
 * a worker may look up is queued.  -1 when out of memory.
 */
static int prevmap_ready(struct pull *p)
{
	struct mv_error e;

	if (p->prevmap_state)
		return p->prevmap_state > 0 ? 0 : -1;
	mv_error_clear(&e);
	p->prevmap_state = -1;
	if (mv_pull_prev(p, &e) || map_index(p, &p->prev, SRC_PREV, &e))
		return -1;
	for (size_t i = 0; i < p->nparts; i++)
		if (map_index(p, &p->parts[i], SRC_PART + (uint32_t)i, &e))
			return -1;
	p->prevmap_state = 1;
	return 0;
}

/* A blob stored by an earlier version or this run, copied to *out. */
static int lookup(struct pull *p, const uint8_t *h, struct mv_blobref *out)
{
	const struct mv_blobref *b;

	/* Out of memory, the map stays empty: the bytes are stored again
	 * (mv_pull_run then fails the pull). */
	if (prevmap_ready(p))
		return 0;
	b = bm_get(p, &p->prevmap, h);
	if (!b)
		b = bm_get(p, &p->map, h);
	if (b)
		*out = *b;
	return b != NULL;
}

/* ---- compression ahead of the writer ----
 *
 * zstd is the most expensive step of a pull.  Messages that fit in memory
 * are compressed by worker threads while the main thread reads and hashes
 * the next ones; the main thread hands finished messages to the writer in
 * the order it read them, so the archive is the same as a single thread's.
 */


/* Under pl->mu: the oldest job with work to hand out, and that work:
 * *seg = the segment to compress, or JOB_SEGS for the hash (with segment
 * 0 too when it is the only one). */
static struct job *pool_take(struct pool *pl, size_t *seg)
{
	for (size_t k = 0; k < pl->count; k++) {
		struct job *c = &pl->job[(pl->tail + k) % JOBS];

		if (c->state != 1 || c->rc || c->dup)
			continue;
		if (c->need_hash && !c->hashing) {
			c->hashing = 1;
			if (c->nseg == 1)
				c->seg_next = 1;
			*seg = JOB_SEGS;
		} else if (c->loaded && c->seg_next < c->nseg) {
			*seg = c->seg_next++;
		} else {
			continue;
		}
		c->busy++;
		return c;
	}
	return NULL;
}

static enum mv_err read_full(int fd, uint8_t *b, size_t n, const char *path,
			     struct mv_error *e);

static void job_unfile(struct job *j)
{
	free(j->path);
	j->path = NULL;
}

/* A job's file into its raw buffer (see struct job). */
static enum mv_err job_load(struct job *j, struct mv_error *e)
{
	struct stat sb;
	enum mv_err rc;
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return mv_fail(e, MV_E_IO, "cannot open '%s': %s", j->path, strerror(errno));
	if (fstat(fd, &sb) != 0)
		rc = mv_fail(e, MV_E_IO, "cannot stat '%s': %s", j->path, strerror(errno));
	else if ((uint64_t)sb.st_size != j->n || (int64_t)sb.st_mtime != j->mtime)
		rc = mv_fail(e, MV_E_IO, "'%s' changed while being read", j->path);
	else
		rc = read_full(fd, j->raw, j->n, j->path, e);
	close(fd);
	return rc;
}

static enum mv_err compress_seg(struct pool *pl, struct mv_zc *zc, struct job *j,
				size_t k, struct mv_error *e)
{
	size_t off = k * MV_ZSTD_SEGMENT;
	size_t n = j->n - off < MV_ZSTD_SEGMENT ? j->n - off : MV_ZSTD_SEGMENT;

	if (!zc)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return mv_zc_segment(zc, j->out + k * pl->stride, j->out_len - k * pl->stride,
			     j->raw + off, n, &j->seg_len[k], e);
}

/* A batch of finished jobs worth waking the main thread for, when it
 * waits for room. */
#define WAKE_BATCH 16
/* Queued jobs (or one of this size) worth waking an idle worker for. */
#define WAKE_JOBS 4
#define WAKE_BYTES (64u << 10)

/* Under pl->mu, before the main thread waits on cv_done: the workers
 * must know of every job it waits for. */
static void pool_kick(struct pool *pl)
{
	if (pl->unsignaled) {
		pthread_cond_broadcast(&pl->cv_work);
		pl->unsignaled = 0;
	}
}

/*
 * Under pl->mu: whether the main thread, waiting on cv_done, should wake.
 * Waiting for room, it is woken once a batch of jobs at the tail is done
 * (or all are, or the workers are about to run out of work), not for
 * every job: each wake is a futex call and a context switch, which this
 * VM's paravirtualised kernel makes dear (20,000-message pull: 6,700
 * waits for room, ~13% of its CPU samples in the interrupt and switch
 * paths).
 */
static int pool_wake(const struct pool *pl)
{
	size_t done = 0, open = 0;

	if (!pl->count || pl->job[pl->tail].state != 3)
		return 0;
	if (pl->wait_tail)
		return 1;
	if (!pl->wait_room)
		return 0;
	for (size_t k = 0; k < pl->count; k++) {
		const struct job *c = &pl->job[(pl->tail + k) % JOBS];

		if (c->state != 3)
			open++;
		else if (done == k)
			done++;
	}
	return done >= WAKE_BATCH || open <= 2;
}

static void *pool_main(void *arg)
{
	struct pool *pl = arg;
	struct mv_zc *zc = mv_zc_new();

	/*
	 * Workers yield to the main thread and the writer, which hand
	 * messages on in order: on two cores, four busy threads left each
	 * of those waiting for a core behind a compression, and the
	 * workers then waiting for them (20,000-message pull 4.2 -> 3.9 s).
	 * Not in an IMAP pull, where the server is the slowest stage and
	 * niced workers let the pool fill and the socket go unread (a
	 * 20,000-message imaps pull 12.2-17.6 s niced against 11.4-12.8 s
	 * not, alternating runs).  Linux keeps a nice value per thread;
	 * lowering our own priority needs no privilege, and failing to is
	 * harmless.
	 */
	if (pl->nice)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), pl->nice);
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		size_t seg = 0;
		struct job *j = pool_take(pl, &seg);
		struct mv_error e;
		enum mv_err rc = MV_OK;
		int dup = 0, segs_done = 0;

		if (!j) {
			if (pl->stop)
				break;
			pthread_cond_wait(&pl->cv_work, &pl->mu);
			continue;
		}
		pthread_mutex_unlock(&pl->mu);
		mv_error_clear(&e);
		if (seg == JOB_SEGS) {
			const struct mv_blobref *b;

			if (j->path)
				rc = job_load(j, &e);
			/* The segments need not wait for the hash: the other
			 * worker starts on them now.  Bytes an earlier version
			 * holds are then compressed for nothing, which only a
			 * message moved to another Maildir folder costs. */
			if (rc == MV_OK && j->nseg > 1 && !j->loaded) {
				pthread_mutex_lock(&pl->mu);
				j->loaded = 1;
				pthread_cond_broadcast(&pl->cv_work);
				pthread_mutex_unlock(&pl->mu);
			}
			if (rc == MV_OK)
				rc = mv_vault_content_hash(pl->p->v, j->raw, j->n, j->hash, &e);
			if (rc == MV_OK && (b = bm_get(pl->p, &pl->p->prevmap, j->hash))) {
				dup = 1;
				j->dupref = *b;
			}
			if (rc == MV_OK && !dup && j->nseg == 1 &&
			    (rc = compress_seg(pl, zc, j, 0, &e)) == MV_OK)
				segs_done = 1;
		} else if ((rc = compress_seg(pl, zc, j, seg, &e)) == MV_OK) {
			segs_done = 1;
		}
		pthread_mutex_lock(&pl->mu);
		if (seg == JOB_SEGS) {
			j->hashed = 1;
			j->dup = dup;
		}
		j->seg_done += (size_t)segs_done;
		if (rc && !j->rc) {
			j->rc = rc;
			snprintf(j->err, sizeof j->err, "%s", e.msg);
		}
		j->busy--;
		if (!j->busy && (j->rc || j->dup || (j->hashed && j->seg_done == j->nseg))) {
			j->state = 3;
			if (pool_wake(pl))
				pthread_cond_broadcast(&pl->cv_done);
		}
	}
	pthread_mutex_unlock(&pl->mu);
	mv_zc_free(zc);
	mv_sha256_thread_done();
	return NULL;
}

/* Segments (zstd frames) of an n-byte message: at least one. */
static size_t segs_of(size_t n)
{
	return n ? (n + MV_ZSTD_SEGMENT - 1) / MV_ZSTD_SEGMENT : 1;
}

/*
 * Where n bytes can start in ring r, given where its oldest live buffer
 * starts (tail; empty = none live): after the newest buffer, or at the
 * ring's start when the end has no room.  -1 when they do not fit yet.
 */
static long ring_fit(const struct ring *r, size_t n, size_t tail, int empty)
{
	if (empty)
		return n <= r->cap ? 0 : -1;
	if (r->head >= tail) {
		if (n <= r->cap - r->head)
			return (long)r->head;
		return n < tail ? 0 : -1;
	}
	return n < tail - r->head ? (long)r->head : -1;
}

static void ring_take(struct ring *r, size_t off, size_t n)
{
	r->head = off + n;
	if (r->head > r->high)
		r->high = r->head;
}

static void ring_free(struct ring *r)
{
	if (r->mem)
		mv_wipe(r->mem, r->high);
	free(r->mem);
	r->mem = NULL;
}

static int pool_start(struct pool *pl)
{
	struct pull *p = pl->p;
	int nice = pl->nice;

	memset(pl, 0, sizeof *pl);
	pl->p = p;
	pl->nice = nice;
	pl->stride = mv_zc_bound(MV_ZSTD_SEGMENT);
	pl->rraw.cap = INFLIGHT_MAX;
	pl->rout.cap = (SMALL_MAX / MV_ZSTD_SEGMENT) * pl->stride;
	pl->rraw.mem = malloc(pl->rraw.cap);
	pl->rout.mem = malloc(pl->rout.cap);
	if (!pl->rraw.mem || !pl->rout.mem) {
		ring_free(&pl->rraw);
		ring_free(&pl->rout);
		return -1;
	}
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->cv_work, NULL);
	pthread_cond_init(&pl->cv_done, NULL);
	for (int i = 0; i < WORKERS; i++) {
		if (pthread_create(&pl->th[i], NULL, pool_main, pl) != 0)
			break;
		pl->nth++;
	}
	return pl->nth ? 0 : -1;
}

static void pool_stop(struct pool *pl)
{
	pthread_mutex_lock(&pl->mu);
	pl->stop = 1;
	pthread_cond_broadcast(&pl->cv_work);
	pthread_mutex_unlock(&pl->mu);
	for (int i = 0; i < pl->nth; i++)
		pthread_join(pl->th[i], NULL);
	for (size_t i = 0; i < JOBS; i++)
		job_unfile(&pl->job[i]);
	ring_free(&pl->rraw);
	ring_free(&pl->rout);
	pthread_mutex_destroy(&pl->mu);
	pthread_cond_destroy(&pl->cv_work);
	pthread_cond_destroy(&pl->cv_done);
}

/* ---- the pull ---- */


/* The stored stream of job j: its segments' frames, in order. */
static size_t job_parts(const struct pool *pl, const struct job *j, struct mv_span *parts)
{
	for (size_t k = 0; k < j->nseg; k++) {
		parts[k].p = j->out + k * pl->stride;
		parts[k].n = j->seg_len[k];
	}
	return j->nseg;
}

/* A piece of a streamed message to the writer; the last one fills in
 * the entry (en, NULL for an orphan) and the map. */
static enum mv_err retire_piece(struct pull *p, const struct job *j, struct mv_entry *en,
				struct mv_error *e)
{
	struct mv_span parts[JOB_SEGS];
	struct mv_blobref b;
	enum mv_err rc = MV_OK;

	if (j->first)
		rc = mv_writer_stored_begin(p->w, j->total, MV_COMP_ZSTD, p->o->pad, e);
	if (rc == MV_OK)
		rc = mv_writer_stored_add(p->w, parts, job_parts(&p->pool, j, parts), e);
	if (rc || !j->last)
		return rc;
	if ((rc = mv_writer_stored_end(p->w, j->hash, &b, e)) || !en)
		return rc;
	en->blob = b;
	/* The same bytes may be stored already (they could not be hashed
	 * before being stored); either copy serves. */
	if (!bm_get(p, &p->map, j->hash) && bm_put(p, &p->map, SRC_IX, j->fno, j->eno))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

/* Hands the oldest finished jobs to the writer; with all = 1, waits for
 * every job. */
enum mv_err mv_pull_retire(struct pull *p, int all, struct mv_error *e)
{
	struct pool *pl = &p->pool;
	enum mv_err rc = MV_OK;

	if (!p->have_pool)
		return MV_OK;
	pthread_mutex_lock(&pl->mu);
	while (pl->count) {
		struct job *j = &pl->job[pl->tail];
		struct mv_entry *en;
		const struct mv_blobref *have = NULL;

		if (j->state != 3) {
			/* Waiting for room is job_acquire's. */
			if (!all)
				break;
			pool_kick(pl);
			pl->wait_tail = 1;
			pthread_cond_wait(&pl->cv_done, &pl->mu);
			pl->wait_tail = 0;
			continue;
		}
		pthread_mutex_unlock(&pl->mu);
		en = j->orphan ? NULL : &p->ix.f[j->fno].e[j->eno];
		if (j->rc) {
			rc = mv_fail(e, j->rc, "%s", j->err);
		} else if (!j->first || !j->last) {
			rc = retire_piece(p, j, en, e);
		} else if (j->dup || (have = bm_get(p, &p->map, j->hash))) {
			/* Already stored: by an earlier version, or by a job
			 * of this run retired before this one. */
			en->blob = j->dup ? j->dupref : *have;
			p->st->deduplicated++;
		} else {
			struct mv_span parts[JOB_SEGS];

			rc = mv_writer_blob_stored(p->w, j->n, MV_COMP_ZSTD, parts,
						   job_parts(pl, j, parts), j->hash, p->o->pad,
						   &en->blob, e);
			if (rc == MV_OK && bm_put(p, &p->map, SRC_IX, j->fno, j->eno))
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			if (rc == MV_OK) {
				p->st->stored_messages++;
				p->st->stored_bytes += j->n;
			}
		}
		pthread_mutex_lock(&pl->mu);
		job_unfile(j);
		j->state = 0;
		pl->tail = (pl->tail + 1) % JOBS;
		pl->count--;
		if (rc)
			break;
	}
	pthread_mutex_unlock(&pl->mu);
	return rc;
}

/*
 * Waits for a free job slot with room for n more raw bytes (retiring
 * finished jobs meanwhile) and makes its buffer hold n bytes.  The slot
 * stays the caller's until job_queue(): workers only look at queued
 * jobs.
 */
static enum mv_err job_acquire(struct pull *p, size_t n, struct job **out,
			       struct mv_error *e)
{
	struct pool *pl = &p->pool;
	struct job *j;
	size_t nseg, need;
	long roff, ooff;
	enum mv_err rc;

	if (n > SMALL_MAX)
		return mv_fail(e, MV_E_INTERNAL, "job of %zu bytes", n);
	/* A worker may look this job's hash up in prevmap. */
	if (prevmap_ready(p))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	nseg = segs_of(n);
	need = (nseg - 1) * pl->stride + mv_zc_bound(n - (nseg - 1) * MV_ZSTD_SEGMENT);
	for (;;) {
		const struct job *old;
		int empty;

		if ((rc = mv_pull_retire(p, 0, e)))
			return rc;
		pthread_mutex_lock(&pl->mu);
		old = &pl->job[pl->tail];
		empty = pl->count == 0;
		if (pl->count < JOBS &&
		    (roff = ring_fit(&pl->rraw, n, old->raw_off, empty)) >= 0 &&
		    (ooff = ring_fit(&pl->rout, need, old->out_off, empty)) >= 0)
			break;
		if (empty) {
			pthread_mutex_unlock(&pl->mu);
			return mv_fail(e, MV_E_INTERNAL, "job of %zu bytes does not fit", n);
		}
		pool_kick(pl);
		pl->wait_room = 1;
		while (!pool_wake(pl))
			pthread_cond_wait(&pl->cv_done, &pl->mu);
		pl->wait_room = 0;
		pthread_mutex_unlock(&pl->mu);
	}
	j = &pl->job[pl->head];
	ring_take(&pl->rraw, (size_t)roff, n);
	ring_take(&pl->rout, (size_t)ooff, need);
	pthread_mutex_unlock(&pl->mu);
	j->raw_off = (size_t)roff;
	j->raw = pl->rraw.mem + roff;
	j->out_off = (size_t)ooff;
	j->out = pl->rout.mem + ooff;
	j->out_len = need;
	j->first = j->last = 1;
	j->orphan = 0;
	j->total = n;
	*out = j;
	return MV_OK;
}

/* Queues the acquired job j holding n bytes for entry (fno, eno); h is
 * their content hash, or NULL for the worker to compute. */
static void job_queue(struct pull *p, struct job *j, size_t n, const uint8_t *h,
		      size_t fno, size_t eno)
{
	struct pool *pl = &p->pool;

	pthread_mutex_lock(&pl->mu);
	j->n = n;
	j->need_hash = h == NULL;
	j->hashing = 0;
	j->hashed = h != NULL;
	/* A file is read by the worker that hashes it (the hash task). */
	j->loaded = j->path == NULL;
	j->dup = 0;
	if (h)
		memcpy(j->hash, h, 32);
	j->nseg = segs_of(n);
	j->seg_next = j->seg_done = j->busy = 0;
	j->fno = fno;
	j->eno = eno;
	j->rc = MV_OK;
	j->state = 1;
	pl->head = (pl->head + 1) % JOBS;
	pl->count++;
	/* Segments of a known hash may go to both workers at once.  Idle
	 * workers are woken for a batch of small jobs, not each one (see
	 * SEAL_BATCH in vault_write.c: in an IMAP pull the workers mostly
	 * wait for the server, and a wake per message cost the server too);
	 * the main thread wakes them before it waits (pool_kick). */
	if (j->hashed && j->nseg > 1) {
		pthread_cond_broadcast(&pl->cv_work);
		pl->unsignaled = 0;
	} else if (++pl->unsignaled >= WAKE_JOBS || n >= WAKE_BYTES) {
		pthread_cond_signal(&pl->cv_work);
		pl->unsignaled = 0;
	}
	pthread_mutex_unlock(&pl->mu);
}

enum mv_err mv_pull_job_begin(struct pull *p, size_t n, uint8_t **buf,
			      struct mv_error *e)
{
	struct job *j = NULL;
	enum mv_err rc;

	*buf = NULL;
	if (!p->have_pool || !p->o->compress || n < 64)
		return MV_OK;
	if ((rc = job_acquire(p, n, &j, e)))
		return rc;
	*buf = j->raw;
	return MV_OK;
}

void mv_pull_job_queue(struct pull *p, size_t n, size_t fno, size_t eno)
{
	job_queue(p, &p->pool.job[p->pool.head], n, NULL, fno, eno);
}

/* Queues bytes in memory (hash h known) for compression. */
static enum mv_err submit(struct pull *p, const uint8_t *b, size_t n, const uint8_t *h,
			  size_t fno, size_t eno, struct mv_error *e)
{
	struct job *j = NULL;
	enum mv_err rc = job_acquire(p, n, &j, e);

	if (rc)
		return rc;
	memcpy(j->raw, b, n);
	job_queue(p, j, n, h, fno, eno);
	return MV_OK;
}

void mv_pull_progress(struct pull *p, const char *event)
{
	struct mv_progress pr = { p->display, p->st->messages, p->st->bytes, 0, event };

	if (p->o->progress)
		p->o->progress(p->o->progress_ctx, &pr);
}

enum mv_err mv_pull_checkpoint(struct pull *p, struct mv_error *e)
{
	uint64_t every = p->ckpt_every;
	unsigned secs = p->o->checkpoint_secs ? p->o->checkpoint_secs : 30;
	/* Paced by message bytes read (not those reused without reading,
	 * so an unchanged Maildir or IMAP folder adds no checkpoint) and by
	 * mv_now(): both are the same in every run over the same input (the
	 * clock stands still in test builds), so checkpoints land at the
	 * same messages whatever the threads' timing (P11). */
	uint64_t seen = p->st->bytes - p->reused_bytes;
	enum mv_err rc;

	if (seen - p->bytes_at_ckpt < every && mv_now() - p->last_ckpt < (uint64_t)secs)
		return MV_OK;
	if (seen == p->bytes_at_ckpt)
		return MV_OK;
	if ((rc = mv_pull_retire(p, 1, e)))
		return rc;
	rc = mv_writer_commit(p->w, &p->ix, MV_COMMIT_PARTIAL, e);
	if (rc)
		return rc;
	p->st->checkpoints++;
	p->bytes_at_ckpt = seen;
	p->last_ckpt = mv_now();
	mv_pull_progress(p, "checkpoint");
	return MV_OK;
}

/* Reads exactly n bytes (or fails) from fd. */
static enum mv_err read_full(int fd, uint8_t *b, size_t n, const char *path,
			     struct mv_error *e)
{
	while (n) {
		ssize_t r = read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mv_fail(e, MV_E_IO, "cannot read '%s': %s", path, strerror(errno));
		if (r == 0)
			return mv_fail(e, MV_E_IO, "'%s' changed size while being read", path);
		b += r;
		n -= (size_t)r;
	}
	return MV_OK;
}

/* Hands a Maildir file of n <= SMALL_MAX bytes, as listed (size n,
 * mtime), to a job: a worker reads and hashes it, and skips compressing
 * bytes an earlier version holds.  The entry's blob is filled in when the
 * job is retired. */
static enum mv_err submit_file(struct pull *p, const char *path, size_t n, int64_t mtime,
			       size_t fno, size_t eno, struct mv_error *e)
{
	struct job *j = NULL;
	enum mv_err rc = job_acquire(p, n, &j, e);

	if (rc)
		return rc;
	if (!(j->path = strdup(path)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	j->mtime = mtime;
	job_queue(p, j, n, NULL, fno, eno);
	return MV_OK;
}

/*
 * Stores bytes held in memory for entry (fno, eno), or reuses the blob
 * that holds them.  Compressed messages go through the pool, so the
 * entry's blob reference may be filled in later (before any commit).
 */
enum mv_err mv_pull_store_buffer(struct pull *p, const uint8_t *b, size_t n,
				size_t fno, size_t eno, struct mv_error *e)
{
	uint8_t h[32];
	enum mv_err rc;
	struct mv_blobref *out = &p->ix.f[fno].e[eno].blob;

	if ((rc = mv_vault_content_hash(p->v, b, n, h, e)))
		return rc;
	/* A copy still queued is caught when it is retired. */
	if (lookup(p, h, out)) {
		p->st->deduplicated++;
		return MV_OK;
	}
	memcpy(out->content_hash, h, 32);
	if (p->have_pool && p->o->compress && n >= 64)
		return submit(p, b, n, h, fno, eno, e);
	/* Queued messages reach the writer first, so that records (and the
	 * test build's seeded randomness) come in reading order (P11). */
	if ((rc = mv_pull_retire(p, 1, e)))
		return rc;
	if ((rc = mv_writer_blob_begin(p->w, n, p->o->compress, p->o->pad, e)) ||
	    (rc = mv_writer_blob_feed(p->w, b, n, e)) ||
	    (rc = mv_writer_blob_end(p->w, out, e)))
		return rc;
	if (bm_put(p, &p->map, SRC_IX, fno, eno))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	p->st->stored_messages++;
	p->st->stored_bytes += n;
	return MV_OK;
}

/* A large file: one pass to hash, a second to store if new. */
static enum mv_err store_file_large(struct pull *p, int fd, uint64_t size,
				   const char *path, struct mv_blobref *out,
				   struct mv_error *e)
{
	struct mv_hmac *hs = mv_vault_content_hasher(p->v);
	uint8_t h[32];
	enum mv_err rc = MV_OK;
	uint64_t left;

	if (!hs)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	/* The workers go on compressing queued messages meanwhile. */
	for (left = size; left; ) {
		size_t n = left < IOBUF ? (size_t)left : IOBUF;

		if ((rc = read_full(fd, p->buf, n, path, e)))
			goto out;
		mv_hmac_update(hs, p->buf, n);
		left -= n;
	}
	mv_hmac_final(hs, h);
	/* The writer takes one message at a time, queued ones first; and a
	 * copy still queued is in the map only once retired. */
	if ((rc = mv_pull_retire(p, 1, e)))
		goto out;
	if (lookup(p, h, out)) {
		p->st->deduplicated++;
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot rewind '%s': %s", path, strerror(errno));
		goto out;
	}
	/* A failure leaves the stream open: mv_pull_run closes it. */
	if ((rc = mv_pull_stream_begin(p, size, e)))
		goto out;
	for (left = size; left; ) {
		size_t n = left < IOBUF ? (size_t)left : IOBUF;

		if ((rc = read_full(fd, p->buf, n, path, e)) ||
		    (rc = mv_pull_stream_feed(p, p->buf, n, e)))
			goto out;
		left -= n;
	}
	if ((rc = mv_pull_stream_end(p, out, e)))
		goto out;
	if (memcmp(out->content_hash, h, 32) != 0)
		rc = mv_fail(e, MV_E_IO, "'%s' changed while being read", path);
out:
	mv_hmac_free(hs);
	return rc;
}

static uint32_t fresh_uidvalidity(void)
{
	uint32_t u = (uint32_t)mv_now();

	return u ? u : 1;
}

/* Starts folder name in the new index, carrying UIDVALIDITY over. */
struct mv_folder *mv_pull_begin_folder(struct pull *p, const char *name, char delim,
				      struct mv_folder **prevf, struct mv_error *e)
{
	struct mv_folder *f;
	struct mv_buf d;

	*prevf = NULL;
	if (mv_pull_prev(p, e))
		return NULL;
	f = mv_index_add_folder(&p->ix, name, strlen(name), (uint8_t)delim);
	if (!f) {
		mv_fail(e, MV_E_LIMIT, "cannot add folder '%s'", name);
		return NULL;
	}
	*prevf = mv_index_folder(&p->prev, name, strlen(name));
	f->uidvalidity = *prevf ? (*prevf)->uidvalidity : fresh_uidvalidity();
	f->uidnext = *prevf ? (*prevf)->uidnext : 1;
	if (f->uidnext == 0)
		f->uidnext = 1;
	mv_buf_init(&d, sizeof p->display - 1);
	if (mv_utf7_decode(&d, name, strlen(name)) == MV_OK && mv_buf_cstr(&d) == MV_OK)
		snprintf(p->display, sizeof p->display, "%s", (char *)d.data);
	else
		snprintf(p->display, sizeof p->display, "%s", name);
	mv_buf_release(&d);
	p->st->folders++;
	return f;
}

enum mv_err mv_pull_set_keywords(struct mv_entry *en, char **kw, size_t n,
				struct mv_error *e)
{
	if (n > MV_MAX_KEYWORDS)
		n = MV_MAX_KEYWORDS;
	if (!n)
		return MV_OK;
	en->kw = calloc(n, sizeof *en->kw);
	if (!en->kw)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(kw[i]);

		if (l == 0 || l > MV_MAX_KEYWORD_LEN)
			continue;
		if (!(en->kw[en->nkw] = strdup(kw[i])))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		en->nkw++;
	}
	return MV_OK;
}

enum mv_err mv_pull_set_srcmeta(struct mv_entry *en, const char *s, size_t n,
			       struct mv_error *e)
{
	if (n > MV_MAX_SRCMETA)
		n = MV_MAX_SRCMETA;
	en->srcmeta = malloc(n + 1);
	if (!en->srcmeta)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	memcpy(en->srcmeta, s, n);
	en->srcmeta[n] = '\0';
	en->srcmeta_len = (uint16_t)n;
	return MV_OK;
}

/*
 * UIDs stay with messages from one pull to the next: a Maildir message
 * keeps its UID while its unique name stays; an mbox message while its
 * bytes stay (the k-th copy of some bytes keeps the k-th copy's UID).
 * prevsort holds the previous version's entries of the folder sorted by
 * that key, so each lookup is a binary search.
 */
struct prevsort {
	struct mv_entry **e;
	uint8_t *used;
	size_t n;
	int by_hash;
};

static int cmp_name(const void *a, const void *b)
{
	const struct mv_entry *x = *(const struct mv_entry *const *)a;
	const struct mv_entry *y = *(const struct mv_entry *const *)b;

	return strcmp(x->srcmeta, y->srcmeta);
}

static int cmp_hash(const void *a, const void *b)
{
	const struct mv_entry *x = *(const struct mv_entry *const *)a;
	const struct mv_entry *y = *(const struct mv_entry *const *)b;
	int c = memcmp(x->blob.content_hash, y->blob.content_hash, 32);

	return c ? c : (x->uid < y->uid ? -1 : x->uid > y->uid);
}

static int prevsort_init(struct prevsort *ps, struct mv_folder *prevf, int by_hash)
{
	memset(ps, 0, sizeof *ps);
	ps->by_hash = by_hash;
	if (!prevf || !prevf->n)
		return 0;
	ps->e = malloc(prevf->n * sizeof *ps->e);
	ps->used = calloc(prevf->n, 1);
	if (!ps->e || !ps->used)
		return -1;
	for (size_t i = 0; i < prevf->n; i++)
		ps->e[i] = &prevf->e[i];
	ps->n = prevf->n;
	qsort(ps->e, ps->n, sizeof *ps->e, by_hash ? cmp_hash : cmp_name);
	return 0;
}

static void prevsort_free(struct prevsort *ps)
{
	free(ps->e);
	free(ps->used);
}

/* Returns the UID the key had (and its entry in *match, if asked), or
 * the folder's next UID. */
static uint32_t prev_uid(struct prevsort *ps, struct mv_folder *f, const char *name,
			 const uint8_t *hash, const struct mv_entry **match)
{
	size_t lo = 0, hi = ps->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ps->by_hash ? memcmp(ps->e[mid]->blob.content_hash, hash, 32)
				    : strcmp(ps->e[mid]->srcmeta, name);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < ps->n; i++) {
		int c = ps->by_hash ? memcmp(ps->e[i]->blob.content_hash, hash, 32)
				    : strcmp(ps->e[i]->srcmeta, name);

		if (c != 0)
			break;
		if (!ps->used[i]) {
			ps->used[i] = 1;
			if (match)
				*match = ps->e[i];
			return ps->e[i]->uid;
		}
	}
	if (match)
		*match = NULL;
	return f->uidnext++;
}

static enum mv_err pull_maildir(struct pull *p, const char *root, struct mv_error *e)
{
	struct mv_maildir_folder *fl = NULL;
	size_t nf = 0;
	enum mv_err rc;

	if ((rc = mv_maildir_list(root, &fl, &nf, e)))
		return rc;
	for (size_t i = 0; i < nf && rc == MV_OK; i++) {
		struct mv_maildir_msg *ms = NULL;
		size_t nm = 0;
		struct mv_folder *prevf, *f;

		if ((rc = mv_maildir_scan(&fl[i], &ms, &nm, e)))
			break;
		struct prevsort ps;

		f = mv_pull_begin_folder(p, fl[i].name, '.', &prevf, e);
		if (!f)
			rc = e->code;
		else if (prevsort_init(&ps, prevf, 0) != 0 || mv_folder_reserve(f, nm) != 0)
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		/* Unique names already known keep their UIDs; the uidnext
		 * counter must stay above every UID already handed out. */
		for (size_t j = 0; rc == MV_OK && j < nm; j++) {
			struct mv_maildir_msg *m = &ms[j];
			const struct mv_entry *pe = NULL;
			struct mv_entry *en;
			int fd = -1;
			uint64_t size = m->size;
			int64_t mtime = m->mtime;

			en = mv_folder_add_entry(f);
			if (!en) {
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				break;
			}
			en->uid = prev_uid(&ps, f, m->base, NULL, &pe);
			en->flags = m->flags & MV_FLAG_ALL;
			if ((rc = mv_pull_set_keywords(en, m->keywords, m->nkeywords, e)) ||
			    (rc = mv_pull_set_srcmeta(en, m->base, strlen(m->base), e)))
				break;
			if (pe && pe->blob.raw_size == size) {
				/* Maildir never rewrites a delivered file (a
				 * change of flags renames it, keeping the unique
				 * part): the same unique name and size are the
				 * same bytes, which need not be opened again. */
				en->blob = pe->blob;
				p->st->deduplicated++;
				p->reused_bytes += size;
			} else if (size <= SMALL_MAX && size >= 64 && p->have_pool) {
				/* The worker checks size and mtime against the
				 * listing's when it opens the file. */
				rc = submit_file(p, m->path, (size_t)size, mtime,
						 (size_t)(f - p->ix.f), (size_t)(en - f->e), e);
			} else {
				struct stat sb;

				/* What is read decides size and date, not the
				 * listing: the file may have changed since. */
				fd = open(m->path, O_RDONLY | O_CLOEXEC);
				if (fd < 0) {
					rc = mv_fail(e, MV_E_IO, "cannot open '%s': %s", m->path,
						     strerror(errno));
					break;
				}
				if (fstat(fd, &sb) != 0) {
					rc = mv_fail(e, MV_E_IO, "cannot stat '%s': %s", m->path,
						     strerror(errno));
					close(fd);
					break;
				}
				size = (uint64_t)sb.st_size;
				mtime = (int64_t)sb.st_mtime;
				if (size <= SMALL_MAX) {
					rc = read_full(fd, p->buf, (size_t)size, m->path, e);
					if (rc == MV_OK)
						rc = mv_pull_store_buffer(p, p->buf, (size_t)size,
									  (size_t)(f - p->ix.f),
									  (size_t)(en - f->e), e);
				} else {
					rc = store_file_large(p, fd, size, m->path, &en->blob, e);
				}
				close(fd);
			}
			mv_imapdate_format(en->date, mtime, 0);
			if (rc)
				break;
			p->st->messages++;
			p->st->bytes += size;
			if (en->uid >= f->uidnext)
				f->uidnext = en->uid + 1;
			mv_pull_progress(p, NULL);
			rc = mv_pull_checkpoint(p, e);
		}
		if (f)
			prevsort_free(&ps);
		mv_maildir_msgs_free(ms, nm);
	}
	mv_maildir_folders_free(fl, nf);
	return rc;
}

static enum mv_err pull_mbox_file(struct pull *p, const char *path, const char *folder,
				  struct mv_error *e)
{
	struct mv_mbox *mb = NULL;
	struct mv_folder *prevf, *f;
	struct prevsort ps;
	enum mv_err rc;

	memset(&ps, 0, sizeof ps);

	if ((rc = mv_mbox_open(&mb, path, p->o->mbox_format, e)))
		return rc;
	f = mv_pull_begin_folder(p, folder, '/', &prevf, e);
	if (!f) {
		rc = e->code;
		goto out;
	}
	if (prevsort_init(&ps, prevf, 1) != 0) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		int has = 0;
		const char *from;
		size_t from_len, len = 0, got;
		uint64_t off;
		int64_t when = 0;
		struct mv_entry *en;
		uint32_t flags = 0;
		char **kw = NULL;
		size_t nkw = 0;
		int big = 0;

		if ((rc = mv_mbox_next(mb, &has, &from, &from_len, &off, e)) || !has)
			break;
		en = mv_folder_add_entry(f);
		if (!en) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		if ((rc = mv_pull_set_srcmeta(en, from, from_len, e)))
			break;
		if (mv_mbox_from_date(from, from_len, &when) != 0)
			when = 0;
		mv_imapdate_format(en->date, when, 0);
		/* Read the message whole while it fits. */
		for (;;) {
			if (len + 65536 > SMALL_MAX) {
				big = 1;
				break;
			}
			if ((rc = mv_mbox_read(mb, p->buf + len, 65536, &got, e)))
				break;
			if (!got)
				break;
			len += got;
		}
		if (rc)
			break;
		if (!big) {
			/* Flags come from the header block (Status, X-Status,
			 * X-Keywords), which stay in the message bytes. */
			const uint8_t *hdr_end = NULL;

			for (size_t k = 0; k + 1 < len; k++)
				if (p->buf[k] == '\n' && (p->buf[k + 1] == '\n' ||
				    (p->buf[k + 1] == '\r' && k + 2 < len && p->buf[k + 2] == '\n'))) {
					hdr_end = p->buf + k + 1;
					break;
				}
			mv_mail_header_flags(p->buf, hdr_end ? (size_t)(hdr_end - p->buf) : len,
					     &flags, &kw, &nkw);
			rc = mv_pull_store_buffer(p, p->buf, len, (size_t)(f - p->ix.f),
					  (size_t)(en - f->e), e);
		} else {
			/* Too big to hold: measure and hash, then rewind and store. */
			struct mv_hmac *hs = mv_vault_content_hasher(p->v);
			uint8_t h[32];
			uint64_t total = len;

			if (!hs) {
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				break;
			}
			mv_mail_header_flags(p->buf, len < 65536 ? len : 65536, &flags, &kw, &nkw);
			mv_hmac_update(hs, p->buf, len);
			while ((rc = mv_mbox_read(mb, p->buf, IOBUF, &got, e)) == MV_OK && got) {
				mv_hmac_update(hs, p->buf, got);
				total += got;
			}
			mv_hmac_final(hs, h);
			mv_hmac_free(hs);
			if (rc)
				break;
			if (lookup(p, h, &en->blob)) {
				p->st->deduplicated++;
			} else {
				/* A failure leaves the stream open: mv_pull_run
				 * closes it. */
				rc = mv_mbox_rewind(mb, e);
				if (rc == MV_OK)
					rc = mv_pull_stream_begin(p, total, e);
				while (rc == MV_OK && (rc = mv_mbox_read(mb, p->buf, IOBUF, &got, e)) == MV_OK && got)
					rc = mv_pull_stream_feed(p, p->buf, got, e);
				if (rc == MV_OK)
					rc = mv_pull_stream_end(p, &en->blob, e);
				if (rc == MV_OK && memcmp(en->blob.content_hash, h, 32) != 0)
					rc = mv_fail(e, MV_E_IO, "'%s' changed while being read", path);
			}
			len = (size_t)total;
		}
		en->flags = flags & MV_FLAG_ALL;
		if (rc == MV_OK)
			rc = mv_pull_set_keywords(en, kw, nkw, e);
		for (size_t k = 0; k < nkw; k++)
			free(kw[k]);
		free(kw);
		if (rc)
			break;
		en->uid = prev_uid(&ps, f, NULL, en->blob.content_hash, NULL);
		p->st->messages++;
		p->st->bytes += len;
		mv_pull_progress(p, NULL);
		if ((rc = mv_pull_checkpoint(p, e)))
			break;
	}
	if (rc == MV_OK)
		for (size_t i = 0; i < f->n; i++)
			if (f->e[i].uid >= f->uidnext)
				f->uidnext = f->e[i].uid + 1;
out:
	if (rc)
		mv_error_prefix(e, "mbox '%s'", path);
	prevsort_free(&ps);
	mv_mbox_free(mb);
	return rc;
}

static enum mv_err pull_mbox(struct pull *p, const char *path, struct mv_error *e)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return mv_fail(e, errno == ENOENT ? MV_E_NOTFOUND : MV_E_IO,
			       "cannot open '%s': %s", path, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return pull_mbox_file(p, path, "INBOX", e);
	return mv_fail(e, MV_E_USAGE, "'%s' is a directory; give one mbox file", path);
}

/*
 * What the new version starts from.  UIDs and UIDVALIDITY carry over from
 * the newest complete version.  Blobs are reused from it and from every
 * partial checkpoint after it: those hold what interrupted pulls already
 * stored, which a rerun must not store again (P6, P8).
 */
static enum mv_err load_previous(struct pull *p, struct mv_error *e)
{
	struct mv_commit_info *list = NULL;
	size_t n = 0, newest = 0;
	int have_complete = 0;
	enum mv_err rc;

	if ((rc = mv_vault_commits(p->v, &list, &n, e)))
		return rc;
	for (size_t i = n; i-- > 0;)
		if (list[i].kind == MV_COMMIT_COMPLETE) {
			newest = i;
			have_complete = 1;
			break;
		}
	if (have_complete) {
		rc = mv_vault_load_index(p->v, &list[newest], NULL, &p->prev, e);
	}
	for (size_t i = have_complete ? newest + 1 : 0; rc == MV_OK && i < n; i++) {
		struct mv_index *part, *np;

		if (list[i].kind != MV_COMMIT_PARTIAL)
			continue;
		np = realloc(p->parts, (p->nparts + 1) * sizeof *np);
		if (!np) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		p->parts = np;
		part = &p->parts[p->nparts++];
		mv_index_init(part);
		rc = mv_vault_load_index(p->v, &list[i], NULL, part, e);
	}
	free(list);
	return rc;
}


static void *loader_main(void *arg)
{
	struct pull *p = arg;

	p->load_rc = load_previous(p, &p->load_err);
	mv_sha256_thread_done();
	return NULL;
}

enum mv_err mv_pull_prev(struct pull *p, struct mv_error *e)
{
	if (p->loading) {
		pthread_join(p->loader, NULL);
		p->loading = 0;
	}
	if (p->load_rc)
		*e = p->load_err;
	return p->load_rc;
}

int mv_pull_lookup(struct pull *p, const uint8_t hash[32], struct mv_blobref *out)
{
	return lookup(p, hash, out);
}

/*
 * A message streamed through the pool goes as pieces of PIECE bytes (four
 * segments), so that two fit in the job ring and both workers compress
 * it.  The main thread hashes the bytes as they come; the last piece is
 * held back until the hash is known (mv_pull_stream_end).
 */
#define PIECE (SMALL_MAX / 2)

enum mv_err mv_pull_stream_begin(struct pull *p, uint64_t size, struct mv_error *e)
{
	enum mv_err rc;

	p->stream_size = size;
	p->stream_seen = 0;
	p->piece = NULL;
	p->stream_pool = p->have_pool && p->o->compress && size >= 64;
	if (p->stream_pool) {
		mv_hmac_free(p->stream_hash);
		if (!(p->stream_hash = mv_vault_content_hasher(p->v)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		p->streaming = 1;
		return MV_OK;
	}
	/* The writer takes one message at a time: queued ones go first. */
	if ((rc = mv_pull_retire(p, 1, e)) ||
	    (rc = mv_writer_blob_begin(p->w, size, p->o->compress, p->o->pad, e)))
		return rc;
	p->streaming = 1;
	return MV_OK;
}

/* Queues the full piece being filled (not the last: see above). */
static void piece_queue(struct pull *p, const uint8_t *h, size_t fno, size_t eno)
{
	static const uint8_t none[32];

	job_queue(p, p->piece, p->piece_len, h ? h : none, fno, eno);
	p->piece = NULL;
}

enum mv_err mv_pull_stream_feed(struct pull *p, const uint8_t *b, size_t n,
				struct mv_error *e)
{
	enum mv_err rc;

	if (!p->stream_pool) {
		if ((rc = mv_writer_blob_feed(p->w, b, n, e)) == MV_OK)
			p->stream_seen += n;
		return rc;
	}
	if (n > p->stream_size - p->stream_seen)
		return mv_fail(e, MV_E_LENGTH, "message is longer than the %llu bytes announced",
			       (unsigned long long)p->stream_size);
	mv_hmac_update(p->stream_hash, b, n);
	while (n) {
		size_t take;

		if (!p->piece) {
			uint64_t left = p->stream_size - p->stream_seen;

			p->piece_len = left < PIECE ? (size_t)left : PIECE;
			p->piece_fill = 0;
			if ((rc = job_acquire(p, p->piece_len, &p->piece, e)))
				return rc;
			p->piece->first = p->stream_seen == 0;
			p->piece->last = p->piece_len == left;
			p->piece->total = p->stream_size;
			p->piece->orphan = 1;
		}
		take = p->piece_len - p->piece_fill < n ? p->piece_len - p->piece_fill : n;
		memcpy(p->piece->raw + p->piece_fill, b, take);
		p->piece_fill += take;
		p->stream_seen += take;
		b += take;
		n -= take;
		if (p->piece_fill == p->piece_len && !p->piece->last)
			piece_queue(p, NULL, 0, 0);
	}
	return MV_OK;
}

enum mv_err mv_pull_stream_end(struct pull *p, struct mv_blobref *out,
			       struct mv_error *e)
{
	struct mv_blobref have;
	size_t fno, eno;
	enum mv_err rc;

	if (p->stream_pool) {
		if (p->stream_seen != p->stream_size || !p->piece)
			return mv_fail(e, MV_E_LENGTH, "message ended after %llu of %llu bytes",
				       (unsigned long long)p->stream_seen,
				       (unsigned long long)p->stream_size);
		if (entry_at(p, out, &fno, &eno))
			return mv_fail(e, MV_E_INTERNAL, "streamed message has no entry");
		/* The hash now, the rest of the reference when the last
		 * piece is retired (before any commit). */
		mv_hmac_final(p->stream_hash, out->content_hash);
		p->piece->orphan = 0;
		piece_queue(p, out->content_hash, fno, eno);
		p->streaming = 0;
		p->st->stored_messages++;
		p->st->stored_bytes += p->stream_size;
		return MV_OK;
	}
	rc = mv_writer_blob_end(p->w, out, e);
	p->streaming = 0;
	if (rc)
		return rc;
	/* The same bytes may be stored already (they could not be hashed
	 * before being stored); either copy serves. */
	if (!lookup(p, out->content_hash, &have) && map_new(p, out))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	p->st->stored_messages++;
	p->st->stored_bytes += out->raw_size;
	return MV_OK;
}

void mv_pull_stream_abort(struct pull *p)
{
	struct mv_error e;
	struct mv_blobref dummy;

	if (!p->streaming)
		return;
	if (p->stream_pool && (p->stream_seen == 0 || (p->piece && p->piece->first))) {
		/* Nothing reached the writer: the piece is dropped unqueued. */
		p->piece = NULL;
		p->streaming = 0;
		return;
	}
	/* Zero bytes up to the announced size close the blob, so the
	 * chunks already written end with a LAST chunk like any other;
	 * nothing refers to the blob. */
	memset(p->buf, 0, IOBUF);
	mv_error_clear(&e);
	while (p->stream_seen < p->stream_size) {
		uint64_t left = p->stream_size - p->stream_seen;
		size_t n = left < IOBUF ? (size_t)left : IOBUF;

		if (mv_pull_stream_feed(p, p->buf, n, &e) != MV_OK)
			break;
	}
	if (p->stream_pool) {
		/* The held last piece goes as an orphan; without it (a failed
		 * feed) no LAST chunk can be written, and the pull fails. */
		if (p->piece && p->piece_fill == p->piece_len)
			piece_queue(p, NULL, 0, 0);
		p->piece = NULL;
	} else {
		mv_writer_blob_end(p->w, &dummy, &e);
	}
	p->streaming = 0;
}

enum mv_err mv_pull_run(struct mv_vault *v, struct mv_writer *w,
			const struct mv_pull_opts *o, const char *label,
			mv_pull_source_fn source, void *ctx,
			const struct mv_pull_pace *pace, struct mv_pull_stats *st,
			struct mv_error *e)
{
	struct pull p;
	enum mv_err rc = MV_OK;

	memset(&p, 0, sizeof p);
	memset(st, 0, sizeof *st);
	p.v = v;
	p.w = w;
	p.o = o;
	p.st = st;
	p.last_ckpt = mv_now();
	p.ckpt_every = o->checkpoint_bytes ? o->checkpoint_bytes : pace->ckpt_bytes;
	mv_index_init(&p.prev);
	mv_index_init(&p.ix);
	p.buf = malloc(SMALL_MAX);
	if (!p.buf) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	mv_error_clear(&p.load_err);
	if (v->has_commit && pthread_create(&p.loader, NULL, loader_main, &p) == 0)
		p.loading = 1;
	else if (v->has_commit && (rc = load_previous(&p, e)))
		goto out;
	p.pool.p = &p;
	p.pool.nice = pace->worker_nice;
	p.have_pool = o->compress && pool_start(&p.pool) == 0;
	p.ix.source = strdup(label);
	p.ix.info = strdup("");
	if (!p.ix.source || !p.ix.info) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	rc = source(&p, ctx, e);
	/* A source with no folder never asked for them; and a damaged
	 * archive is what to report, before the source's own failure (as
	 * when the previous versions loaded first). */
	{
		struct mv_error le;
		enum mv_err lrc = mv_pull_prev(&p, &le);

		if (lrc) {
			*e = le;
			rc = lrc;
		}
	}
	/* Every queued message reaches the writer before the index does. */
	if (rc == MV_OK)
		rc = mv_pull_retire(&p, 1, e);
	if (rc == MV_OK && p.prevmap_state < 0)
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
	if (rc)
		goto out;
	rc = mv_writer_commit(w, &p.ix, MV_COMMIT_COMPLETE, e);
	if (rc == MV_OK)
		st->commit = v->last.number;
out:
	mv_pull_stream_abort(&p);
	if (p.have_pool)
		pool_stop(&p.pool);
	if (rc) {
		/* The caller looks at v->last (did this run commit at all?):
		 * a partial checkpoint may still be on its way to disk. */
		struct mv_error ignored;

		mv_error_clear(&ignored);
		(void)mv_writer_wait(w, &ignored);
	}
	if (p.loading)
		pthread_join(p.loader, NULL);
	mv_index_release(&p.prev);
	mv_index_release(&p.ix);
	for (size_t i = 0; i < p.nparts; i++)
		mv_index_release(&p.parts[i]);
	free(p.parts);
	free(p.map.slot);
	free(p.prevmap.slot);
	mv_hmac_free(p.stream_hash);
	free(p.buf);
	return rc;
}

static enum mv_err local_source(struct pull *p, void *ctx, struct mv_error *e)
{
	const char *src = ctx;

	if (strncmp(src, "maildir:", 8) == 0)
		return pull_maildir(p, src + 8, e);
	if (strncmp(src, "mbox:", 5) == 0)
		return pull_mbox(p, src + 5, e);
	return mv_fail(e, MV_E_USAGE, "unknown source '%s'", src);
}

enum mv_err mv_pull_local(struct mv_vault *v, struct mv_writer *w,
			  const struct mv_pull_opts *o, struct mv_pull_stats *st,
			  struct mv_error *e)
{
	static const struct mv_pull_pace pace = MV_PACE_LOCAL;

	return mv_pull_run(v, w, o, o->source, local_source, (void *)o->source, &pace, st, e);
}
