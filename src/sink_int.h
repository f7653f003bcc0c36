/*
 * sink_int.h - private to the sink module (sink.c, sink_mbox.c,
 * sink_archive.c); the contract for everyone else is sink.h.
 *
 * sink.c owns the state below, the dispatch of every mv_sink_* call, the
 * folder-name mapping, the Maildir writer and the Maildir naming that the
 * tar/zip writer shares (base names, ":2,FLAGS", dovecot-keywords).
 * sink_mbox.c writes mboxrd; sink_archive.c writes tar and zip and is the
 * only file that includes archive.h, so libarchive's types stay out of
 * this header (struct archive is only pointed to).
 *
 * The functions here keep the conventions of sink.h: errors go to e with
 * a message naming the path, and a failure inside a message leaves it for
 * the caller (sink.c) to abandon with mv_sink_abort.
 */
#ifndef MV_SINK_INT_H
#define MV_SINK_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "msgmeta.h"
#include "sink.h"

#define STR_MAX 65536           /* cap on any name or path we build */
#define NLETTERS 26             /* dovecot-keywords letters a..z */

struct archive;
struct sink_writer;

/* ---- state ---- */

/* A set of strings (base names already used in a folder). */
struct nameset {
	char **slot;
	size_t cap, n;          /* cap is 0 or a power of two */
};

struct folder {
	char *name;             /* source bytes; "INBOX" for any case of it */
	char delim;             /* '\0' for INBOX */
	char *label;            /* printable form of name, for warnings */
	/* maildir: directory path; tar/zip: member prefix ("" or ".X/");
	 * mbox: file path. */
	char *where;
	char *kw[NLETTERS];     /* keyword of each letter a..z, or NULL */
	int kw_dirty;           /* kw changed since dovecot-keywords was written */
	int cur_dirty;          /* maildir: cur/ gained entries since the last sync */
	int dir_dirty;          /* maildir: the folder directory changed */
	int mbox_created;       /* mbox: this session created the file */
	struct nameset names;   /* maildir, tar, zip: base names in the folder */
};

enum quote_state { Q_START, Q_MATCH, Q_MID };

struct mv_sink {
	enum mv_sink_kind kind;
	int append;                 /* mbox: existing folder files are appended to (push) */
	uint64_t dropped_kw;        /* keywords left off messages (sink.h) */
	const struct sink_writer *w;    /* the kind's operations */
	char *root;                 /* OUT, or the tar/zip file */
	int64_t now;                /* time of open: directory member mtimes */
	uint64_t counter;           /* for generated names */

	struct folder **folders;
	size_t nfolders, capfolders;
	struct folder *last;        /* lookup cache: mail comes folder by folder */

	char **dirty;               /* directories to fsync at close */
	size_t ndirty, capdirty;

	char **warn;
	size_t nwarn, nmore;    /* stored, and left out past the cap */

	/* The message being written. */
	int active;
	struct folder *cur;
	uint64_t size, got;
	int64_t when;
	uint8_t last_byte;          /* last message byte (mbox) */
	int fd;                     /* maildir tmp file */
	char *tmp_path;             /* maildir */
	char *base;                 /* maildir, tar, zip: chosen base name */
	char info[3 + 6 + NLETTERS + 1];  /* ":2,FLAGS" */
	uint8_t *obuf;
	size_t olen;

	/* mbox: the open file, kept while messages stay in its folder. */
	struct folder *mbox_folder;
	int mbox_fd;
	off_t mbox_start;           /* where the current message began */
	enum quote_state q;
	size_t qk;                  /* bytes of "From " held in Q_MATCH */

	/* tar / zip */
	struct archive *ar;
	int ar_fd;
	enum mv_err broken;         /* non-zero: a member is incomplete */
};

/* The subdirectories of every Maildir folder, on disk and in archives. */
extern const char *const mv_sink_subdirs[3];

/* ---- helpers (sink.c) ---- */

/* Creates path exclusively, 0600 whatever the umask.  Returns the fd or
 * -1 with errno set. */
int mv_sink_create_file(const char *path);

/* "dir" of "dir/name"; "." when there is no '/'.  Caller frees; NULL when
 * out of memory. */
char *mv_sink_parent_of(const char *path);

/* Records dir for the fsync at mv_sink_close.  MV_E_NOMEM (e untouched). */
enum mv_err mv_sink_dirty_add(struct mv_sink *s, const char *dir);

/* Creates directory path 0700 (umask-independent) unless it exists;
 * records parent for the closing fsync when it creates it.  MV_E_IO,
 * MV_E_EXISTS (not a directory), MV_E_NOMEM. */
enum mv_err mv_sink_make_dir(struct mv_sink *s, const char *path,
			     const char *parent, struct mv_error *e);

/* Adds a warning (sink.h: mv_sink_warning); best effort, never fails. */
void mv_sink_warn(struct mv_sink *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Buffers message bytes for fd (s->obuf, flushed when full); path names
 * the file in errors.  MV_E_IO. */
enum mv_err mv_sink_obuf_add(struct mv_sink *s, int fd, const char *path,
			     const void *p, size_t n, struct mv_error *e);
enum mv_err mv_sink_obuf_flush(struct mv_sink *s, int fd, const char *path,
			       struct mv_error *e);

/* ---- Maildir naming, shared by maildir and tar/zip (sink.c) ---- */

/* Adds a copy of s[0..len) to ns (no-op if present).  MV_E_NOMEM. */
enum mv_err mv_sink_nameset_add(struct nameset *ns, const char *s, size_t len);

/* Sets s->base for the message m in s->cur: the source's name if it is
 * safe and unused in the folder, else a generated one not in use either.
 * MV_E_NOMEM. */
enum mv_err mv_sink_pick_base(struct mv_sink *s, const struct mv_msgmeta *m,
			      struct mv_error *e);

/* Fills s->info (":2,FLAGS") from m; new keywords get letters in s->cur,
 * and keywords that cannot have one are left out with a warning. */
void mv_sink_make_info(struct mv_sink *s, const struct mv_msgmeta *m);

/* Appends f's dovecot-keywords text to b.  MV_E_NOMEM or MV_E_LIMIT. */
enum mv_err mv_sink_keywords_text(const struct folder *f, struct mv_buf *b);

/* ---- writers ---- */

/*
 * What one kind of sink does.  sink.c checks the arguments and the byte
 * count, keeps what all kinds share, and calls these; after a failed
 * begin, write or end it calls abort.  sink.c holds the Maildir writer.
 */
struct sink_writer {
	/* Sets f->where and creates (on disk or as members) what a new
	 * folder at rel (its mapped name, "" for INBOX) needs. */
	enum mv_err (*folder)(struct mv_sink *s, struct folder *f,
			      const char *rel, struct mv_error *e);
	/* Starts the message m in s->cur. */
	enum mv_err (*begin)(struct mv_sink *s, const struct mv_msgmeta *m,
			     struct mv_error *e);
	/* Writes message bytes (n > 0). */
	enum mv_err (*write)(struct mv_sink *s, const uint8_t *p, size_t n,
			     struct mv_error *e);
	/* Ends the message once all its bytes have come. */
	enum mv_err (*end)(struct mv_sink *s, struct mv_error *e);
	/* Undoes what it can of the current message (sink.h mv_sink_abort). */
	void (*abort)(struct mv_sink *s);
	/* Finishes the output at mv_sink_close. */
	enum mv_err (*close)(struct mv_sink *s, struct mv_error *e);
};

/* mboxrd (sink_mbox.c). */
extern const struct sink_writer mv_sink_mbox_writer;

/* tar and zip (sink_archive.c). */
extern const struct sink_writer mv_sink_ar_writer;

/* Creates the file s->root (MV_E_EXISTS if it exists) and starts the
 * archive; par is recorded in s->dirty.  On failure the caller frees s,
 * which removes the file. */
enum mv_err mv_sink_ar_open(struct mv_sink *s, const char *par,
			    struct mv_error *e);
/* Frees the archive; a file never closed is removed (it has no end). */
void mv_sink_ar_free(struct mv_sink *s);

#endif
