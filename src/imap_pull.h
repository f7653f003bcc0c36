/*
 * imap_pull.h - an IMAP account into a new version.
 *
 * Read-only: folders are opened with EXAMINE and bodies fetched with
 * BODY.PEEK[], so a pull never changes the source.  BODY[] is the message
 * as the server stores it, except that some servers (Dovecot) send NUL
 * bytes as 0x80.  When the server offers BINARY (RFC 3516), a message
 * whose BODY[] holds 0x80 is fetched again as BODY[] and BINARY[], and
 * BINARY[] is kept when it differs only by NULs where BODY[] has 0x80
 * (BINARY[] of a message with base64 or quoted-printable parts is their
 * decoded form, not the message, and is never kept).  Every selectable
 * folder (or those --folder / --exclude choose) is copied with its IMAP
 * identity (name bytes, delimiter, special-use, UIDVALIDITY,
 * HIGHESTMODSEQ, UIDNEXT); \Noselect folders are recorded without
 * messages.  Only UIDs not yet stored (same UIDVALIDITY, in the previous
 * complete version or a later partial checkpoint) are fetched; flags of
 * the others are refreshed with CHANGEDSINCE (CONDSTORE) or one
 * FETCH 1:* FLAGS; UIDs gone from the server are left out of the new
 * version.  A dropped connection is reopened with backoff and the pull
 * goes on where it was.  The TLS facts of the connection and the body form
 * used go into the version's info (signed with it).
 */
#ifndef MV_IMAP_PULL_H
#define MV_IMAP_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pull.h"
#include "transport.h"
#include "vault.h"

struct mv_imap_pull_opts {
	struct mv_conn_opts conn;
	/* UTF-8 folder patterns with '/' as the separator whatever the
	 * server's delimiter: '*' matches anything, '%' anything but '/'.
	 * A folder is pulled when it matches an include (or there is none)
	 * and no exclude.  "INBOX" matches in any case. */
	const char *const *include;
	size_t ninclude;
	const char *const *exclude;
	size_t nexclude;
	unsigned batch;                /* UIDs per UID FETCH; 0 = 250 */
	unsigned max_reconnects;       /* 0 = 8 */
	/* Notes for the user as they happen: kind is "reconnect",
	 * "throttled", "skipped" or "warning"; text names folder and UID. */
	void (*event)(void *ctx, const char *kind, const char *text);
	void *event_ctx;
};

struct mv_imap_folder_report {
	char *name;                    /* UTF-8 with '/', for display */
	uint64_t messages, bytes;      /* in the new version */
	uint64_t fetched, fetched_bytes;   /* bodies fetched this time */
	uint64_t gone;                 /* UIDs of the last version now gone */
	uint64_t skipped;              /* messages that could not be stored */
	char *why;                     /* the first skip's reason, or NULL */
};

struct mv_imap_report {
	struct mv_imap_folder_report *f;
	size_t nf;
	uint64_t skipped;              /* total; non-zero means partial */
	uint64_t reconnects, throttled, size_mismatches;
	uint64_t bytes_read;           /* from the server, all connections */
	struct mv_tls_info tls;        /* of the first connection */
	int binary;                    /* the server offers BINARY */
	uint64_t nul_restored;         /* messages whose NULs BINARY[] restored */
};

void mv_imap_report_release(struct mv_imap_report *r);

/*
 * Pulls the account into a new complete version through w (see
 * mv_pull_local for the pipeline; o->source is ignored, the version's
 * source is the URL without user).  Returns MV_OK when the version was
 * committed, even if some messages were skipped: the caller checks
 * rep->skipped.  Errors as transport.h and imap_client.h, plus the
 * writer's.  rep is filled as far as the pull got; release it always.
 */
enum mv_err mv_pull_imap(struct mv_vault *v, struct mv_writer *w,
			 const struct mv_pull_opts *o,
			 const struct mv_imap_pull_opts *io,
			 struct mv_pull_stats *st, struct mv_imap_report *rep,
			 struct mv_error *e);

/* Folder pattern match as described above (exported for tests). */
int mv_imap_folder_match(const char *pattern, const char *name);
/* 1 when utf8 matches an include (or there is none) and no exclude. */
int mv_imap_folder_wanted(const char *const *include, size_t ninclude,
			  const char *const *exclude, size_t nexclude, const char *utf8);

#endif
