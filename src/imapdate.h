/*
 * imapdate.h - IMAP INTERNALDATE strings (RFC 9051 date-time):
 * "dd-Mon-yyyy hh:mm:ss +zzzz" with the day space-padded (" 1-Jan-2026").
 * The archive stores the string exactly as received; these helpers make
 * one for local sources and read one for file times.
 */
#ifndef MV_IMAPDATE_H
#define MV_IMAPDATE_H

#include <stddef.h>
#include <stdint.h>

#define MV_IMAPDATE_LEN 26   /* without the NUL */

/* Formats t (UTC seconds) shown in zone tzoff_min; out gets 27 bytes.
 * Always exactly MV_IMAPDATE_LEN characters: a zone beyond +-99:59 and a
 * local time outside years 1900..9999 are clamped into range. */
void mv_imapdate_format(char out[MV_IMAPDATE_LEN + 1], int64_t t, int tzoff_min);

/*
 * Parses s[0..n): accepts the space-padded and the zero-padded day and a
 * 1-digit day without padding.  Returns 0 and sets *t (UTC) and *tzoff_min,
 * or -1 when malformed or out of range (year 1900..9999).  The month name
 * matches without regard to case; seconds may be 60; zone minutes 00..59.
 */
int mv_imapdate_parse(const char *s, size_t n, int64_t *t, int *tzoff_min);

#endif
