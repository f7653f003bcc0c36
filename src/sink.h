/*
 * sink.h - writing messages out as plaintext: Maildir, mbox, tar, zip.
 *
 * Used by `export` and `push maildir:|mbox:`.  These are the only places
 * where mbox-vault writes message content in plaintext, because the user
 * asked for it: files are created 0600 and directories 0700 whatever the
 * umask, and archive members carry the same modes, uid/gid 0 and empty
 * owner names.  Files are fsynced before they are renamed into place and
 * the directories that changed are fsynced by mv_sink_close.  Memory is
 * bounded: a message is streamed, never held whole.
 *
 * Layout (README "export"):
 *
 *  - maildir: Maildir++ (Dovecot's layout) under OUT.  INBOX (any case) is
 *    OUT itself; folder "A<d>B" is OUT/.A.B.  Every folder gets cur/ new/
 *    tmp/, and every subfolder a "maildirfolder" marker file.  A name is
 *    split at the source delimiter d (a modified UTF-7 run "&...-" is
 *    never split) and the components keep their modified UTF-7 bytes,
 *    joined by '.'.  Inside a component these bytes are written as the
 *    modified UTF-7 run of the same character, so that no component can
 *    add a level, leave OUT or be hidden: '.' -> "&AC4-", '/' -> "&AC8-",
 *    a leading '~' -> "&AH4-", and any byte b outside 0x20..0x7e (not
 *    valid modified UTF-7 anyway) -> the run for U+00bb ("	" -> "&AAk-").
 *    A name with an empty component (leading, trailing or doubled
 *    delimiter, e.g. "/x" or "a//b") is not split at all: it becomes one
 *    component with its delimiters escaped as above ("/x" -> ".&AC8-x").
 *    The mapping is one-to-one for valid modified UTF-7 names, which never
 *    hold such runs.  Example: "Evil/../x" with '/' -> ".Evil.&AC4-&AC4-.x".
 *    A message is written to tmp/ and renamed (never over an existing
 *    file) to cur/BASE:2,FLAGS, mtime and atime = INTERNALDATE.  FLAGS are
 *    the system flags in ASCII order (D draft, F flagged, P passed,
 *    R answered, S seen, T deleted) then the keyword letters a..z in
 *    order.  BASE is meta->maildir_name when it is 1..200 printable ASCII
 *    bytes without '/' or ':', does not start with '.' and is not yet the
 *    base of a file in the folder's cur/ or new/; otherwise it is made as
 *    "TIME.M<usec>P<pid>_<counter>.mbox-vault" with TIME the INTERNALDATE
 *    (so sorting by name sorts by date).  Keywords get letters in each
 *    folder's dovecot-keywords ("0 name\n1 other\n"), a..z in order of
 *    first use after the letters an existing file already gives; the file
 *    is replaced atomically (tmp/ then rename) before the first message
 *    that uses a new letter lands in cur/.  A folder holds at most 26
 *    keywords: further ones, and keywords that are not IMAP atoms of
 *    1..255 bytes, are left off that message with a warning that names
 *    the folder, the keyword and the message's BASE.  OUT may already be a
 *    Maildir: existing messages, names and letters are kept.
 *
 *  - mbox: one mboxrd file per folder under OUT, named by the folder's
 *    UTF-8 path (mv_utf7_decode; a name that is not modified UTF-7 is used
 *    byte for byte) split at the delimiter, components joined with '/'
 *    and ".mbox" appended ("INBOX.mbox", "Work/Projects.mbox"); missing
 *    directories are created.  In each component '%', '/', bytes below
 *    0x20 and 0x7f (and, for a name that was not modified UTF-7, bytes
 *    above 0x7f) are written %XX (upper-case hex), as are a leading '.'
 *    (no "..", no hidden files) and, in a directory component, the '.' of
 *    a trailing ".mbox" (so no directory takes a folder's file name:
 *    "Arch.mbox/Sub" -> "Arch%2Embox/Sub.mbox").  Empty components are
 *    handled as for maildir ("/abs" -> "%2Fabs.mbox").  A file that
 *    exists before this sink created it is MV_E_EXISTS: mbox export never
 *    appends to someone else's file.  A sink opened with
 *    mv_sink_open_push(append = 1) appends to such a file instead (push
 *    decides first what it already holds), provided it is a regular file
 *    that is empty or ends in LF (else MV_E_PARSE: a "From " line would
 *    join its last line).
 *    Each message is written as: "From " + meta->mbox_from + "\n" (when
 *    mbox_from is NULL, empty, over 4000 bytes or holds CR or LF:
 *    "From MAILER-DAEMON " + the asctime() form of INTERNALDATE in UTC,
 *    e.g. "Sat Jan  1 00:00:00 2000", with a warning if one was given);
 *    then the message with every line (after LF, or at the start) that
 *    matches ^>*From  given one more leading '>'; then "\n" if the
 *    message is not empty and does not end in LF; then the separator
 *    "\n".  mv_mbox_open(MV_MBOXRD) therefore returns every message that
 *    ends in LF, and the empty message, byte for byte; a message whose
 *    last byte is not LF comes back with one LF added.  Status, X-Status
 *    and X-Keywords are not added, so flags and keywords are not kept.
 *
 *  - tar (pax, restricted) / zip: the maildir layout as members, without
 *    a top directory: "cur/BASE:2,FLAGS" for INBOX,
 *    ".Folder/cur/BASE:2,FLAGS" for others, directory members for
 *    cur/ new/ tmp/ and each folder, "maildirfolder" markers, member
 *    mtime = INTERNALDATE, and each folder's dovecot-keywords written at
 *    close.  Zip keeps the ':' of the Maildir names, although Windows
 *    cannot extract such names, so that both archives are the same tree.
 *    The file must not exist (MV_E_EXISTS).  A member cannot be taken back
 *    once its header is out: after mv_sink_abort, or a failure inside a
 *    message, the sink accepts no more messages and mv_sink_close removes
 *    the file and fails; mv_sink_free without mv_sink_close removes it
 *    too.  A caller that wants to skip a damaged message must check it
 *    before mv_sink_begin.
 *
 * Errors: messages name the path ("cannot create 'x': reason").  After a
 * failed mv_sink_begin, mv_sink_write or mv_sink_end the message has been
 * abandoned as by mv_sink_abort.
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

/*
 * As mv_sink_open; append = 1 (push, maildir and mbox only: MV_E_USAGE for
 * tar/zip) lets mbox folder files that exist be appended to (see above).
 * A Maildir sink always adds to what is there.
 */
enum mv_err mv_sink_open_push(struct mv_sink **out, enum mv_sink_kind kind,
			      const char *path, int append, struct mv_error *e);

/*
 * The path, relative to OUT, that folder name (delimiter delim) maps to
 * under the layout above: maildir "" (INBOX: OUT itself) or ".A.B", mbox
 * "INBOX.mbox" or "A/B.mbox".  Only tells; creates nothing.  *out is
 * malloc'd (the caller frees).  MV_E_USAGE (empty name), MV_E_LIMIT,
 * MV_E_NOMEM.
 */
enum mv_err mv_sink_folder_path(enum mv_sink_kind kind, const char *name, char delim,
				char **out, struct mv_error *e);

/*
 * Makes the folder exist in the output even if no message goes to it
 * (export keeps empty folders): maildir and tar/zip get its directories,
 * mbox an empty file.  Messages may follow.  Errors as mv_sink_begin.
 */
enum mv_err mv_sink_folder(struct mv_sink *s, const char *name, char delim,
			   struct mv_error *e);

/*
 * Starts a message; meta->size must be the exact number of bytes to come.
 * meta is not kept after the call.  MV_E_USAGE for no or an empty folder
 * name, a message already open, or an unusable tar/zip sink; MV_E_LIMIT
 * for a folder name over MV_MAX_FOLDER_NAME or more than MV_MAX_KEYWORDS
 * keywords; MV_E_EXISTS for an mbox file this sink did not create;
 * MV_E_IO, MV_E_NOMEM, MV_E_INTERNAL (libarchive).
 */
enum mv_err mv_sink_begin(struct mv_sink *s, const struct mv_msgmeta *meta,
			  struct mv_error *e);
/* MV_E_LENGTH as soon as more than meta->size bytes come. */
enum mv_err mv_sink_write(struct mv_sink *s, const void *p, size_t n,
			  struct mv_error *e);
/* Ends the message; MV_E_LENGTH if fewer or more bytes than meta->size came. */
enum mv_err mv_sink_end(struct mv_sink *s, struct mv_error *e);
/*
 * Abandons the current message: maildir removes its tmp/ file, mbox cuts
 * the file back to where the message began, tar/zip become unusable (see
 * above).  Accepts NULL and a sink with no message.
 */
void mv_sink_abort(struct mv_sink *s);

/* Flushes and closes (fsyncs files and directories).  Ends a message
 * still open as mv_sink_abort would. */
enum mv_err mv_sink_close(struct mv_sink *s, struct mv_error *e);
/* Accepts NULL; does not close cleanly (use mv_sink_close first): an open
 * message is abandoned and an unclosed tar/zip file is removed. */
void mv_sink_free(struct mv_sink *s);

/* Number of warnings so far and the i-th text (e.g. a dropped keyword),
 * NULL past the end; valid until mv_sink_free.  At most 1000 are kept:
 * the last then says how many more were left out.  Texts show bytes of
 * names outside printable ASCII as \xNN. */
size_t mv_sink_nwarnings(const struct mv_sink *s);
/* Keywords left off messages so far (maildir, tar, zip: past the 26 of a
 * folder, or not IMAP atoms); each one also gave a warning. */
uint64_t mv_sink_dropped_keywords(const struct mv_sink *s);
const char *mv_sink_warning(const struct mv_sink *s, size_t i);

#endif
