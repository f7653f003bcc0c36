/*
 * local_push.h - restoring a version into a local Maildir or mbox target
 * (`push ARCHIVE maildir:PATH|mbox:PATH`), and comparing a version with
 * one (`verify ARCHIVE --against maildir:PATH|mbox:PATH`).
 *
 * Layout: the same as export's (sink.h): Maildir++ under PATH (INBOX is
 * PATH itself, folder "A/B" is PATH/.A.B), or one mboxrd file per folder
 * under PATH ("INBOX.mbox", "A/B.mbox").  A folder goes to the same name,
 * or to what --map says (UTF-8, '/' between levels; the first match wins
 * and subfolders follow).  Local targets have no special-use roles, so
 * those play no part here.  Messages are written by the sink module:
 * exact bytes, and for Maildir the flags in the info suffix, keywords
 * through dovecot-keywords (at most 26 per folder: the rest are left off,
 * counted and reported) and the INTERNALDATE as the file's mtime.  mbox
 * keeps the bytes and a From_ line (the source's, else one made from the
 * INTERNALDATE) and nothing else: no flags, no keywords, and a message
 * whose last byte is not LF reads back with one LF added.
 *
 * Idempotent: a message counts as present when a message of the target
 * folder has the same bytes, hashed under the archive's content key (the
 * hash the index stores), each target message standing for at most one
 * of the version's.  Maildir: the files of cur/ and new/ whose size is
 * the size of a message of the version are read and hashed (file names,
 * flags and mtimes play no part, so files copied by hand count).  mbox:
 * the file is read once as mboxrd and every message hashed; a version
 * message without a final LF also matches its bytes plus that LF.
 * Nothing present is written again, nothing on the target is changed or
 * removed, with one exception: the torn tail of an interrupted mbox push.
 * Before appending to an mbox file, push records the file (device, inode)
 * and its size in PATH/.mbox-vault-push-<hash of the file's path> (no
 * message content, no folder name), synced, and removes the record once
 * the appended messages are synced.  A record still there names bytes that an
 * interrupted push appended: when every message from that offset on but
 * the last one is a message of the version, and the last one is not, the
 * last one is a torn write of push's own and the file is cut back to its
 * From_ line (r->cut_bytes).  Maildir needs no record: a message is
 * written in tmp/ and renamed into cur/ only when complete.
 *
 * Memory is bounded per message (64 KiB buffers; a message is never held
 * whole) but grows with the number of messages in a target folder (one
 * size, hash and name each).
 */
#ifndef MV_LOCAL_PUSH_H
#define MV_LOCAL_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "index.h"
#include "push_report.h"
#include "vault.h"

enum mv_local_kind { MV_LOCAL_MAILDIR, MV_LOCAL_MBOX };

/* 1 if s names a local target ("maildir:PATH" or "mbox:PATH", PATH not
 * empty): sets *kind and *path (pointing into s); else 0. */
int mv_local_target_parse(const char *s, enum mv_local_kind *kind, const char **path);

struct mv_local_opts {
	enum mv_local_kind kind;
	const char *path;              /* the target root directory */
	/* Source folder patterns as in imap_pull.h (UTF-8, '/'). */
	const char *const *include;
	size_t ninclude;
	const char *const *exclude;
	size_t nexclude;
	/* FROM=TO as in imap_push.h; the first match wins. */
	const char *const *map;
	size_t nmap;
	int dry_run;                   /* push: count, write nothing */
	/* Warnings (dropped keywords, a cut torn tail...) as they happen. */
	void (*event)(void *ctx, const char *kind, const char *text);
	void *event_ctx;
};

/*
 * Pushes the folders of ix (loaded with mv_vault_load_index; v unlocked
 * for reading) into the target.  Every folder selected is made to exist
 * (Maildir directories, an empty mbox file), as export does.  MV_OK when
 * every message is present on the target or was written; keywords left
 * off are counted in r (the caller's "partial").  Errors: MV_E_IO,
 * MV_E_NOMEM, MV_E_PARSE (an mbox file that cannot be read as mboxrd, or
 * whose last line has no line end), MV_E_LIMIT, MV_E_USAGE (a --map
 * target that is not UTF-8), and the vault's errors reading a message.
 * r is filled as far as the push got, also on failure; release it with
 * mv_push_report_release.
 */
enum mv_err mv_push_local(struct mv_vault *v, const struct mv_index *ix,
			  const struct mv_local_opts *o, struct mv_push_report *r,
			  struct mv_error *e);

/*
 * Compares the folders of ix with the target, folder by folder (the
 * target folder chosen as push chooses it); changes nothing.  Every
 * message of a target folder is read and hashed.  A version message is
 * matched by its bytes and then checked: Maildir flags and keywords
 * (keywords without regard to case; a keyword letter with no name in
 * dovecot-keywords is a difference) and mtime against the INTERNALDATE;
 * mbox the From_ line's date (none: 0) against the INTERNALDATE, as pull
 * reads it.  Unmatched version messages are "altered" when an unmatched
 * target message has their size and date (mbox: size or size + 1), or,
 * for Maildir, their source file name; the rest are "missing"; target
 * messages left over are "extra".  dst_name of an item names the target
 * message: "cur/NAME" (Maildir) or "message N at offset O" (mbox).
 * Errors as mv_push_local, and MV_E_NOTFOUND when o->path is not a
 * directory.
 */
enum mv_err mv_compare_local(struct mv_vault *v, const struct mv_index *ix,
			     const struct mv_local_opts *o, struct mv_diff_report *r,
			     struct mv_error *e);

#endif
