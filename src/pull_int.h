/*
 * pull_int.h - the pull pipeline shared by the sources (pull.c: Maildir
 * and mbox; imap_pull.c: IMAP).  Internal to the pull module: a source
 * adds folders and entries to p->ix and hands message bytes to the
 * pipeline, which hashes, deduplicates, compresses on worker threads,
 * encrypts, writes, and commits partial checkpoints as it goes.
 */
#ifndef MV_PULL_INT_H
#define MV_PULL_INT_H

#include <pthread.h>
#include <stdint.h>

#include "buf.h"
#include "compress.h"
#include "index.h"
#include "msgmeta.h"
#include "pull.h"
#include "vault.h"

/* Messages up to this size are held whole, hashed, and skipped when their
 * content is already stored; larger ones are streamed (P10). */
#define SMALL_MAX (8u << 20)
#define IOBUF (256u << 10)

/*
 * zstd is the most expensive step of a pull.  Messages that fit in memory
 * are compressed by worker threads while the main thread reads the next
 * ones; the main thread hands finished messages to the writer in the
 * order it read them, so the archive is the same as a single thread's.
 * A message is cut into segments of MV_ZSTD_SEGMENT bytes, each its own
 * zstd frame (format-spec 5.2), and the workers take segments, not
 * messages: with whole messages, one worker compressing a 5 MB
 * attachment held up the queue while the other had nothing to do (each
 * worker idle ~3.4 s of a 5.5 s pull of the bench corpus).
 */
#define JOBS 64
/* Raw bytes queued for compression at most (P10: bounded memory): the
 * size of the ring the jobs' buffers are cut from, so that the largest
 * message held whole (SMALL_MAX) fits when the ring is empty. */
#define INFLIGHT_MAX SMALL_MAX
#define WORKERS 2
/*
 * How a kind of source is best pulled.  worker_nice: the compression
 * workers' nice value (pool_main says why local pulls lower it and IMAP
 * pulls do not).  ckpt_bytes: a partial checkpoint after this many
 * message bytes read, unless --checkpoint-mb says otherwise.  A
 * checkpoint drains the pipeline and writes the whole index so far
 * (20-30 ms at 20,000 messages, growing with the mailbox); every 64 MiB
 * that cost a 1.1 GB local pull 16 stalls, to save a rerun after a kill
 * from reading and compressing again at most 0.2 s of local work
 * (alternating runs, 256 against 64: 3.29 against 3.65 s).  Over IMAP,
 * 64 MiB are half a second or more of a server's time, and the issue's
 * resume bound.
 */
struct mv_pull_pace {
	int worker_nice;
	uint64_t ckpt_bytes;
};
#define MV_PACE_LOCAL { 5, (uint64_t)256 << 20 }
#define MV_PACE_IMAP { 0, (uint64_t)64 << 20 }
/* Segments of a job at most. */
#define JOB_SEGS (SMALL_MAX / MV_ZSTD_SEGMENT)

/* Blobs by content hash.  A slot names the index entry that holds the
 * blob reference instead of copying it: the indexes hold every reference
 * anyway, and a 104-byte copy per slot, in a table kept at most half
 * full, was the largest per-message cost of a pull (P10). */
struct bmslot {
	uint64_t key;              /* the content hash's first 8 bytes */
	uint32_t src;              /* 0 empty, 1 p->ix, 2 p->prev, 3+k p->parts[k] */
	uint32_t fno, eno;
};

struct blobmap {
	struct bmslot *slot;
	size_t cap, n;
};

struct job {
	int state;                 /* 0 free, 1 queued, 3 done */
	/* A Maildir file (path; NULL when raw is filled already) the worker
	 * opens and reads into raw before hashing it, checking that it still
	 * has the size and mtime the listing found: opening and reading
	 * 20,000 files were two thirds of the main thread's time. */
	char *path;
	int64_t mtime;
	uint8_t *raw;              /* n bytes in the raw ring, at raw_off */
	size_t n, raw_off;
	uint8_t hash[32];
	/* need_hash: a worker hashes (Maildir files; their UIDs do not
	 * depend on the hash) while the other compresses: when an earlier
	 * version holds the bytes, dup is set and dupref is that blob. */
	int need_hash, hashing, hashed, dup;
	int loaded;                /* raw holds the bytes (segments may go) */
	struct mv_blobref dupref;
	/* Segment k's frame goes to out + k * stride (mv_zc_bound of a full
	 * segment), so the workers write apart without locking. */
	uint8_t *out;              /* out_len bytes in the out ring */
	size_t out_off, out_len;
	size_t nseg, seg_next, seg_done, busy;
	size_t seg_len[JOB_SEGS];
	enum mv_err rc;
	char err[sizeof(((struct mv_error *)0)->msg)];
	size_t fno, eno;           /* the entry waiting for this blob */
	/* A message streamed in pieces (mv_pull_stream_*) is several jobs in
	 * a row: first starts its blob, last ends it (hash then known);
	 * total is the message's size; an orphan's blob (an abandoned
	 * stream) goes to no entry.  A whole message is first and last. */
	int first, last, orphan;
	uint64_t total;
};

struct pull;

struct pool {
	struct pull *p;            /* for the workers: vault and prevmap */
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	struct job job[JOBS];
	size_t head, tail, count;  /* ring of jobs in submission order */
	/* The jobs' buffers are cut from two rings, freed in the order they
	 * were taken (jobs retire in order): malloc and free of a buffer
	 * per large message cost page faults and TLB shootdowns that made
	 * up a tenth of a pull's CPU time. */
	struct ring {
		uint8_t *mem;
		size_t cap, head, high;  /* high: bytes ever used (wiped) */
	} rraw, rout;
	size_t stride;             /* room for one segment's frame */
	/* The main thread waits on cv_done: for the oldest job (wait_tail)
	 * or for room (wait_room; see pool_wake). */
	int wait_tail, wait_room;
	size_t unsignaled;         /* small jobs queued since workers were woken */
	int stop;
	pthread_t th[WORKERS];
	int nth;
	int nice;                  /* raised by this much in each worker */
};

struct pull {
	struct mv_vault *v;
	struct mv_writer *w;
	const struct mv_pull_opts *o;
	struct mv_pull_stats *st;
	struct mv_index prev;        /* previous version's index, if any */
	struct mv_index ix;          /* the version being built */
	/* Blobs by content hash: prevmap holds the earlier versions' (filled
	 * on first use, before any job is queued, then only read, by every
	 * thread); map holds this run's (main thread only). */
	struct blobmap prevmap, map;
	int prevmap_state;           /* 0 not filled yet, 1 filled, -1 failed */
	uint8_t *buf;                /* SMALL_MAX bytes */
	uint64_t last_ckpt;
	uint64_t bytes_at_ckpt;
	uint64_t ckpt_every;        /* checkpoint pacing: bytes read (mv_pull_pace) */
	uint64_t reused_bytes;       /* counted in st->bytes but not read */
	char display[MV_MAX_FOLDER_NAME * 4 + 1];
	struct pool pool;
	int have_pool;
	/* Partial checkpoints after the previous complete version, oldest
	 * first: what an interrupted pull already stored (IMAP resumes
	 * from them by UID). */
	struct mv_index *parts;
	size_t nparts;
	/* prev and parts load on a thread of their own while the source
	 * starts (an IMAP connection's TLS handshake and login take as long
	 * as reading a 20,000-message index: ~35 ms each of a 0.15 s no-op
	 * pull); mv_pull_prev() joins it before either is read. */
	pthread_t loader;
	int loading;
	enum mv_err load_rc;
	struct mv_error load_err;
	int streaming;               /* between mv_pull_stream_begin and end */
	uint64_t stream_size, stream_seen;
	/* A stream through the pool: the hash so far, and the piece being
	 * filled (piece_len bytes, piece_fill so far). */
	int stream_pool;
	struct mv_hmac *stream_hash;
	struct job *piece;
	size_t piece_len, piece_fill;
};

/* Entries of p->ix were reordered (mv_folder_sort): the blob map's slots
 * that name them are made to follow.  -1 when out of memory. */
int mv_pull_folder_moved(struct pull *p);

/* Hands finished compression jobs to the writer; all = 1 waits for all. */
enum mv_err mv_pull_retire(struct pull *p, int all, struct mv_error *e);

/* Waits until p->prev and p->parts are loaded; their loading's error, if
 * any.  mv_pull_begin_folder calls it; a source that reads them before
 * its first folder calls it first. */
enum mv_err mv_pull_prev(struct pull *p, struct mv_error *e);

/* Starts folder name in p->ix, carrying UIDVALIDITY and UIDNEXT over from
 * the previous version's folder of the same name (*prevf, or NULL). */
struct mv_folder *mv_pull_begin_folder(struct pull *p, const char *name, char delim,
				       struct mv_folder **prevf, struct mv_error *e);

/* Stores n bytes held in memory as the blob of entry (fno, eno) of p->ix,
 * or reuses a stored blob with the same content hash. */
enum mv_err mv_pull_store_buffer(struct pull *p, const uint8_t *b, size_t n,
				 size_t fno, size_t eno, struct mv_error *e);

/*
 * A buffer of n bytes in the next compression job, for a source that
 * receives a message piece by piece (IMAP): *buf is NULL when the pool is
 * not in use (no compression, or n < 64), and the caller then uses
 * mv_pull_store_buffer.  Nothing else may touch the pipeline until
 * mv_pull_job_queue() hands the filled buffer over (the worker hashes
 * it), or the caller drops it by not queuing it.
 */
enum mv_err mv_pull_job_begin(struct pull *p, size_t n, uint8_t **buf,
			      struct mv_error *e);
void mv_pull_job_queue(struct pull *p, size_t n, size_t fno, size_t eno);

/*
 * Streams a message too large to hold: begin (exact size), feed, end
 * (which fills *out, the blob of an entry of p->ix).  After a failure between begin and end, abort
 * completes the blob with zero bytes so that the file stays well formed;
 * the orphan blob is never referenced.
 */
enum mv_err mv_pull_stream_begin(struct pull *p, uint64_t size, struct mv_error *e);
enum mv_err mv_pull_stream_feed(struct pull *p, const uint8_t *b, size_t n,
				struct mv_error *e);
enum mv_err mv_pull_stream_end(struct pull *p, struct mv_blobref *out,
			       struct mv_error *e);
void mv_pull_stream_abort(struct pull *p);

/* 1 and the blob in *out when one is stored with this content hash. */
int mv_pull_lookup(struct pull *p, const uint8_t hash[32], struct mv_blobref *out);

/* Reports progress (event NULL or "checkpoint"). */
void mv_pull_progress(struct pull *p, const char *event);

/* Commits a partial checkpoint when 64 MiB or 30 s have passed. */
enum mv_err mv_pull_checkpoint(struct pull *p, struct mv_error *e);

enum mv_err mv_pull_set_keywords(struct mv_entry *en, char **kw, size_t n,
				 struct mv_error *e);
enum mv_err mv_pull_set_srcmeta(struct mv_entry *en, const char *s, size_t n,
				struct mv_error *e);

/* Runs source(p, ctx) while the previous versions load (mv_pull_prev),
 * then the final commit; label is recorded as the version's source; pace
 * is the source's kind's. */
typedef enum mv_err (*mv_pull_source_fn)(struct pull *p, void *ctx,
					 struct mv_error *e);
enum mv_err mv_pull_run(struct mv_vault *v, struct mv_writer *w,
			const struct mv_pull_opts *o, const char *label,
			mv_pull_source_fn source, void *ctx,
			const struct mv_pull_pace *pace, struct mv_pull_stats *st,
			struct mv_error *e);

#endif
