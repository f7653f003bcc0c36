/*
 * mailhdr.h - what the mailbox readers learn from a message's text besides
 * its bytes: the date of an mbox From_ line, the flags and keywords of the
 * Status / X-Status / X-Keywords header fields, and whether a keyword is
 * one IMAP can carry.
 *
 * Pure functions over caller-supplied bytes, bounded by an explicit length
 * (the bytes need not be NUL-terminated); none of them does I/O.  The fuzz
 * target fuzz_mbox drives the two parsers.
 */
#ifndef MV_MAILHDR_H
#define MV_MAILHDR_H

#include <stddef.h>
#include <stdint.h>

/* ---- keywords ---- */

/*
 * Returns 1 if s[0..n) is a keyword mbox-vault keeps: an IMAP atom
 * (RFC 9051 9 flag-keyword: plain ASCII, no SP or CTL, none of
 * ( ) { % * " \ ]) of 1..MV_MAX_KEYWORD_LEN bytes; else 0.
 */
int mv_keyword_valid(const char *s, size_t n);

/* ---- header field names ---- */

/*
 * Returns 1 if p[0..n) begins with pre, ASCII letters matched without
 * regard to case; pre must be lower case.  0 if n is shorter than pre.
 */
int mv_mail_prefix_ci(const uint8_t *p, size_t n, const char *pre);

/* ---- From_ line dates ---- */

/*
 * Parses a From_ line's date (asctime form, e.g. "Thu Nov 26 01:02:03 2026",
 * optionally followed by a zone or year variants) into seconds since the
 * epoch.  Returns 0 or -1 when there is no date it understands.
 * Accepted: "Www Mmm d hh:mm[:ss] [zone] yyyy [zone] [anything]" anywhere
 * after the sender, zone "+hhmm"/"-hhmm" (applied) or 1..5 letters
 * (ignored); without a numeric zone the time is taken as UTC.  The weekday
 * is not checked against the date; years 1900..9999.
 */
int mv_mbox_from_date(const char *from_line, size_t n, int64_t *when);

/* ---- Status / X-Status / X-Keywords ---- */

/*
 * Reads flags and keywords from a header block (the bytes up to the first
 * empty line): Status (R -> Seen, O -> not recent), X-Status (A -> Answered,
 * F -> Flagged, T -> Draft, D -> Deleted) and X-Keywords (comma or space
 * separated).  kw receives up to MV_MAX_KEYWORDS malloc'd strings
 * (caller frees each and the array).  Never fails on odd headers: what it
 * cannot read it leaves out.  Header names match without regard to case;
 * folded lines continue the field before them.  Keywords must be IMAP
 * atoms (ASCII, no SP/CTL, none of ( ) { % * " \ ]) of 1..MV_MAX_KEYWORD_LEN
 * bytes; others are skipped, as are duplicates (ignoring case).  *kw is
 * NULL when *nkw is 0.
 */
void mv_mail_header_flags(const uint8_t *hdr, size_t n, uint32_t *flags,
			  char ***kw, size_t *nkw);

#endif
