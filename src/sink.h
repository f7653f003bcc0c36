/*
 * sink.h - writing messages out as plaintext: Maildir, mbox, tar, zip.
 *
 * Used by `export` and `push maildir:|mbox:`.  These are the only places
 * where mbox-vault writes message content in plaintext, because the user
 * asked for it: files are created 0600 and directories 0700.
 *
 * Layout (README "export"):
 *  - maildir: Maildir++ under OUT: INBOX is OUT itself, folder "A<d>B" is
 *    OUT/.A.B (components keep their modified UTF-7 bytes; the source
 *    delimiter becomes '.'); a file is cur/BASE:2,FLAGS with mtime =
 *    INTERNALDATE; keywords go through each folder's dovecot-keywords
 *    (at most 26 per folder: further keywords are reported through
 *    mv_sink_warnings and left off).
 *  - mbox: one mboxrd file per folder under OUT, named by the folder's UTF-8
 *    path with '/' between components and ".mbox" appended ("INBOX.mbox",
 *    "Work/Projects.mbox"); the From_ line is the stored one or one made
 *    from INTERNALDATE; Status/X-Status/X-Keywords are not added (the
 *    message bytes are exact).
 *  - tar / zip: the maildir layout as archive members (libarchive).
 */
#ifndef MV_SINK_H
#define MV_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "msgmeta.h"

enum mv_sink_kind { MV_SINK_MAILDIR, MV_SINK_MBOX, MV_SINK_TAR, MV_SINK_ZIP };

/* Returns 0 and sets *k for "maildir"/"mbox"/"tar"/"zip", else -1. */
int mv_sink_kind_parse(const char *name, enum mv_sink_kind *k);

struct mv_sink;

/*
 * Opens a sink.  For maildir/mbox, path is a directory created if missing
 * (0700); for tar/zip, a file that must not exist yet (MV_E_EXISTS).
 */
enum mv_err mv_sink_open(struct mv_sink **out, enum mv_sink_kind kind,
			 const char *path, struct mv_error *e);

/* Starts a message; meta->size must be the exact number of bytes to come. */
enum mv_err mv_sink_begin(struct mv_sink *s, const struct mv_msgmeta *meta,
			  struct mv_error *e);
enum mv_err mv_sink_write(struct mv_sink *s, const void *p, size_t n,
			  struct mv_error *e);
/* Ends the message; MV_E_LENGTH if fewer or more bytes than meta->size came. */
enum mv_err mv_sink_end(struct mv_sink *s, struct mv_error *e);
/* Abandons the current message (removes its partial file where it can). */
void mv_sink_abort(struct mv_sink *s);

/* Flushes and closes (fsyncs files and directories). */
enum mv_err mv_sink_close(struct mv_sink *s, struct mv_error *e);
/* Accepts NULL; does not close cleanly (use mv_sink_close first). */
void mv_sink_free(struct mv_sink *s);

/* Number of warnings so far and the i-th text (e.g. a dropped keyword). */
size_t mv_sink_nwarnings(const struct mv_sink *s);
const char *mv_sink_warning(const struct mv_sink *s, size_t i);

#endif
