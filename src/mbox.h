/*
 * mbox.h - reading mbox files as a stream of messages.
 *
 * Variants (format-spec/FORMAT.md appendix A): mboxrd (default: on read,
 * one '>' is removed from lines matching ^>+From_), mboxo (lines "^>From "
 * are left as they are, since mboxo cannot tell quoted from real ones) and
 * mboxcl2 (Content-Length decides where a message ends; nothing is
 * unquoted).  The From_ line is returned as metadata; every other byte of
 * the message is returned as it is in the file, except that the single
 * line end that separates a message from the next From_ line (or ends the
 * file) is not part of the message.
 *
 * Memory is bounded: bytes are delivered in pieces of the caller's size.
 *
 * Clarification (the exact rules are the comment block at the top of
 * mbox.c, written to match Python 3.11's mailbox.mbox byte for byte): a
 * From_ line is any line that begins with "From ", with or without an
 * empty line before it; lines end at LF only (CR is an ordinary byte).
 * "The single line end that separates" means the LF of an empty "\n" line
 * directly before the next From_ line or the end of the file; a message
 * whose last line is not empty (or is "\r\n") keeps all its bytes.  In
 * mboxcl2 the separator after a Content-Length body may be "\n" or
 * "\r\n", and a missing, duplicated or wrong Content-Length falls back to
 * From_ splitting.  The descriptor must be seekable (a regular file or a
 * memfd): the reader uses pread() from offset 0 and leaves the
 * descriptor's own offset alone.
 */
#ifndef MV_MBOX_H
#define MV_MBOX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
/* mv_mbox_from_date and mv_mail_header_flags, for callers of the reader. */
#include "mailhdr.h"

enum mv_mbox_format { MV_MBOXRD = 0, MV_MBOXO = 1, MV_MBOXCL2 = 2 };

/* Returns 0 and sets *fmt for "mboxrd"/"mboxo"/"mboxcl2", else -1. */
int mv_mbox_format_parse(const char *name, enum mv_mbox_format *fmt);

struct mv_mbox;

/* Opens path for reading.  MV_E_IO if it cannot. */
enum mv_err mv_mbox_open(struct mv_mbox **out, const char *path,
			 enum mv_mbox_format fmt, struct mv_error *e);
/* Same over an already open descriptor (not closed by mv_mbox_free). */
enum mv_err mv_mbox_open_fd(struct mv_mbox **out, int fd, const char *name,
			    enum mv_mbox_format fmt, struct mv_error *e);
void mv_mbox_free(struct mv_mbox *m);

/*
 * Moves to the next message (skipping what is left of the current one).
 * On success *has is 1 and *from_line / *from_len describe the From_ line
 * without the leading "From " and without its line end (valid until the
 * next call), *offset is its byte offset in the file; *has is 0 at the end.
 * MV_E_PARSE if the file does not start with a From_ line (leading blank
 * lines are allowed) or a From_ line is longer than 4096 bytes; the message
 * says at which offset (and e->offset holds it).  *from_line is also
 * NUL-terminated; a CR just before the From_ line's LF is not part of it.
 */
enum mv_err mv_mbox_next(struct mv_mbox *m, int *has, const char **from_line,
			 size_t *from_len, uint64_t *offset, struct mv_error *e);

/*
 * Reads up to cap bytes of the current message into buf; *got is 0 at the
 * end of the message.  cap must be at least 8192.  MV_E_USAGE if cap is
 * smaller or there is no current message; MV_E_IO if a read fails.
 */
enum mv_err mv_mbox_read(struct mv_mbox *m, uint8_t *buf, size_t cap,
			 size_t *got, struct mv_error *e);

/* Starts the current message's bytes over from the beginning.  MV_E_USAGE
 * if there is no current message. */
enum mv_err mv_mbox_rewind(struct mv_mbox *m, struct mv_error *e);

#endif
