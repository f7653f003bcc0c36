/*
 * local_int.h - private to the local-target module (local_scan.c,
 * local_push.c, local_compare.c); the contract for everyone else is
 * local_push.h.
 *
 * local_scan.c learns what a target folder holds and matches a version
 * folder to it; local_push.c writes what is missing (and keeps the mbox
 * torn-tail record); local_compare.c lists the differences.  The
 * functions here keep the conventions of local_push.h: errors go to e
 * with a message naming the path.
 */
#ifndef MV_LOCAL_INT_H
#define MV_LOCAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "index.h"
#include "local_push.h"
#include "sink.h"
#include "vault.h"

/* No match (an index into local_job.t). */
#define MV_LOCAL_NONE ((size_t)-1)

/* A message of the target folder. */
struct local_msg {
	uint64_t size;
	int64_t date;                  /* Maildir: mtime; mbox: From_ line date or 0 */
	uint64_t offset;               /* mbox: where its From_ line starts */
	char *name;                    /* Maildir: "cur/NAME"; mbox: NULL */
	char *base;                    /* Maildir: the name up to ':' */
	uint32_t flags;                /* Maildir */
	char *kw;                      /* Maildir: mv_local_kw_key of its keywords */
	uint8_t last;                  /* mbox: last byte (0 for an empty message) */
	int hashed, used;
	uint8_t hash[32];
};

/* The state of one push or compare. */
struct local_job {
	struct mv_vault *v;
	const struct mv_local_opts *o;
	enum mv_sink_kind sk;
	int mbox_src;                  /* srcmeta is a From_ line, else a Maildir name */
	uint8_t *buf;                  /* BUFSZ */

	/* The current target folder. */
	struct local_msg *t;
	size_t nt, capt;
	size_t *by_hash;               /* indices of hashed t, sorted by hash */
	size_t nby;

	/* The current version folder: the hash of each message plus LF
	 * (mbox), computed when first needed: 0 not yet, 1 done, 2 none
	 * (its last byte is LF, or it is empty). */
	uint8_t (*lf)[32];
	uint8_t *lf_state;
	uint64_t *vsizes;              /* sorted sizes of the version folder */
	size_t nvs;
};

/* ---- the job (local_scan.c) ---- */

/* Sets x up for ix and o; MV_E_USAGE (no path, vault locked), MV_E_NOMEM. */
enum mv_err mv_local_init(struct local_job *x, struct mv_vault *v, const struct mv_index *ix,
			  const struct mv_local_opts *o, struct mv_error *e);
/* Frees what x holds; x may be half set up. */
void mv_local_release(struct local_job *x);

/* Passes a warning or notice to o->event, if any. */
void mv_local_note(struct local_job *x, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 1 if path is a directory (following links). */
int mv_local_is_dir(const char *path);
/* 1 if dir is a Maildir folder (has cur/ or new/), 0 if not, -1 when out
 * of memory. */
int mv_local_maildir_exists(const char *dir);

/* ---- folders (local_scan.c) ---- */

/* The UTF-8 path of a version folder that --folder/--exclude select
 * (malloc'd), or NULL (with *rc MV_OK) when it is not selected. */
char *mv_local_selected(const struct local_job *x, const struct mv_folder *f,
			enum mv_err *rc, struct mv_error *e);

/*
 * The target of version folder f whose UTF-8 path is src: *tpath (UTF-8,
 * '/', after --map) and the name bytes and delimiter the sink gets
 * (*tname, *tdelim).  Unmapped folders keep their stored bytes, so that
 * the layout is export's.  Both malloc'd.  MV_E_USAGE for a --map target
 * that is not UTF-8, empty or too long.
 */
enum mv_err mv_local_target_of(struct local_job *x, const struct mv_folder *f,
			       const char *src, char **tpath, char **tname, char *tdelim,
			       struct mv_error *e);

/* Forgets the target folder and prepares for version folder f. */
enum mv_err mv_local_begin_folder(struct local_job *x, const struct mv_folder *f,
				  struct mv_error *e);

/*
 * Loads the Maildir folder at dir into x->t: every message of cur/ and
 * new/, hashed when its size is that of a message of the version folder
 * (every one when all is set).
 */
enum mv_err mv_local_load_maildir(struct local_job *x, const char *dir, int all,
				  struct mv_error *e);
/* Loads and hashes every message of the mbox file at path (mboxrd).
 * MV_E_PARSE when it is not an mbox. */
enum mv_err mv_local_load_mbox(struct local_job *x, const char *path, struct mv_error *e);

/*
 * Sets match[i] (f->n of them) to the target message with the bytes of
 * f's message i, marking it used, or MV_LOCAL_NONE.  mbox: a message
 * without a final LF also matches its bytes plus LF.
 */
enum mv_err mv_local_match(struct local_job *x, const struct mv_folder *f, size_t *match,
			   struct mv_error *e);

/* The hash of en's bytes plus LF (en is message i of the current
 * folder), as mbox reads back a message whose last byte is not LF; *has
 * is 0 when en does not end that way.  Computed once. */
enum mv_err mv_local_lf_hash(struct local_job *x, const struct mv_entry *en, size_t i,
			     int *has, struct mv_error *e);

/* A keyword list as one string: folded to lower case, sorted,
 * space-separated, then "?x" for each letter of unknown.  malloc'd;
 * NULL when out of memory. */
char *mv_local_kw_key(char *const *kw, size_t n, const char *unknown);

#endif
