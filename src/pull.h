/*
 * pull.h - reading local mailboxes (Maildir, mbox) into a new version.
 */
#ifndef MV_PULL_H
#define MV_PULL_H

#include <stdint.h>

#include "err.h"
#include "mbox.h"
#include "vault.h"

struct mv_progress {
	const char *folder;          /* UTF-8 display name */
	uint64_t messages, bytes;    /* done so far, whole pull */
	uint64_t total_messages;     /* 0 when unknown */
	const char *event;           /* NULL, or "checkpoint" */
};

typedef void (*mv_progress_fn)(void *ctx, const struct mv_progress *p);

struct mv_pull_opts {
	const char *source;          /* "maildir:PATH" or "mbox:PATH" */
	enum mv_mbox_format mbox_format;
	int compress;
	int pad;
	uint64_t checkpoint_bytes;   /* 0 = the source's default (pull_int.h) */
	unsigned checkpoint_secs;    /* 0 = 30 */
	mv_progress_fn progress;
	void *progress_ctx;
};

struct mv_pull_stats {
	uint64_t folders;
	uint64_t messages;
	uint64_t bytes;              /* message bytes seen */
	uint64_t stored_messages;    /* new blobs written */
	uint64_t stored_bytes;       /* their raw bytes */
	uint64_t deduplicated;       /* messages that reused a blob */
	uint64_t checkpoints;
	uint32_t commit;             /* number of the version written */
};

/*
 * Reads the source and writes a complete version through w (whose vault
 * must be unlocked with an owner key).  Partial checkpoint commits are
 * written along the way.  The library's dedup makes an unchanged mailbox
 * store no message bytes again.
 */
enum mv_err mv_pull_local(struct mv_vault *v, struct mv_writer *w,
			  const struct mv_pull_opts *o, struct mv_pull_stats *st,
			  struct mv_error *e);

#endif
