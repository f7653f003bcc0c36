/*
 * imap_push.h - restoring a version into an IMAP account.
 *
 * Each selected folder of the version goes to a target folder: the same
 * UTF-8 path (re-encoded in modified UTF-7 with the target's hierarchy
 * delimiter), or the target's folder with the same special-use role
 * (\Sent goes to the target's \Sent whatever its name), or what --map
 * says.  Missing folders are created.  Each message is appended with its
 * exact stored bytes (literal8 when it holds NUL, a bare CR or a bare LF
 * and the target offers BINARY: servers normalise line ends of text
 * literals; Dovecot still serves them normalised, srvform.h), its flags and keywords and its INTERNALDATE string as stored;
 * MULTIAPPEND batches when offered, else LITERAL+ literals, else
 * synchronising literals.
 *
 * Idempotent: a message counts as present in the target folder when a
 * message there has the same RFC822.SIZE and INTERNALDATE (a cheap
 * prefilter) and the same bytes (fetched with BODY.PEEK[] and hashed
 * under the archive's content key), or the same date and the size and
 * bytes of the message as the server renders it (srvform.h: line ends,
 * NUL; the message is read for that only when no target message matches
 * its exact size and bytes while one has its date), or when push's
 * memory of its own APPENDUID
 * answers (this run's, and the record's of earlier runs) names a UID the
 * folder still holds.  So push can run again after a crash and creates no
 * duplicate.  Nothing is deleted or changed on the target.
 *
 * A lost connection (MV_E_NET: reset, closed, BYE, timeout) is not the end:
 * push connects again after 1 s, 2 s, 4 s ... 30 s (at most max_reconnects
 * attempts in a row without an append between them), looks at the folder
 * in progress again and carries on.  Messages whose APPEND the loss
 * interrupted (a MULTIAPPEND batch may or may not have been stored) count
 * as appended only when that look finds them; the others are appended
 * again.
 *
 * A refused MULTIAPPEND batch (atomic: nothing of it went in) is appended
 * again one message at a time.  A refused message whose answer does not
 * blame its size or the quota ([OVERQUOTA], [LIMIT], [TOOBIG]) is tried
 * again without each of its keywords in turn, then without all of them;
 * a keyword found refused is left out of the folder's later messages at
 * once.  Each dropped keyword and each refused message is an event
 * ("dropped", "refused") and counted in the report.
 */
#ifndef MV_IMAP_PUSH_H
#define MV_IMAP_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "index.h"
#include "push_report.h"
#include "transport.h"
#include "vault.h"
/* verify --against (mv_compare_imap) shares these options; its report
 * types are declared there. */
#include "imap_compare.h"

struct mv_imap_push_opts {
	struct mv_conn_opts conn;
	/* Source folder patterns as in imap_pull.h (UTF-8, '/'). */
	const char *const *include;
	size_t ninclude;
	const char *const *exclude;
	size_t nexclude;
	/* --map FROM=TO: a source folder FROM (and its subfolders) goes to
	 * TO (UTF-8, '/').  Checked in order; the first match wins. */
	const char *const *map;
	size_t nmap;
	int dry_run;                   /* say what would happen, change nothing */
	/* push's record of its appends to this account (pushstate.h), or
	 * NULL for none: content alone then decides what is present. */
	const char *state_path;
	unsigned batch;                /* messages per MULTIAPPEND; 0 = 50 */
	unsigned max_reconnects;       /* attempts in a row; 0 = 8 */
	void (*event)(void *ctx, const char *kind, const char *text);
	void *event_ctx;
};

/*
 * Pushes the folders of ix (a version loaded with mv_vault_load_index;
 * the vault unlocked for reading) into the account.  MV_OK when every
 * message is present on the target or was refused and reported
 * (r->refused, r->dropped_keywords: the caller's "partial").  Errors as
 * imap_client.h (MV_E_NET once the reconnection attempts are spent; the
 * message says so) and the vault's.  *r (which the caller releases
 * whatever the result) counts what was done up to an error.
 */
enum mv_err mv_push_imap(struct mv_vault *v, const struct mv_index *ix,
			 const struct mv_imap_push_opts *o,
			 struct mv_push_report *r, struct mv_error *e);

#endif
