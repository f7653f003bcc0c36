/*
 * utf7.h - IMAP modified UTF-7 (RFC 3501 5.1.3) for folder names.
 *
 * Names are stored exactly as the source gave them; these functions only
 * translate for display, for matching user patterns, and for writing
 * targets.
 */
#ifndef MV_UTF7_H
#define MV_UTF7_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/*
 * Both directions are strict, so that decode succeeds exactly when
 * encode(decode(x)) == x: decoding refuses non-canonical input (printable
 * ASCII inside a base64 run, two runs in a row, non-zero or surplus
 * padding), unpaired surrogates and U+0000; encoding refuses overlong or
 * surrogate UTF-8, code points past U+10FFFF, and NUL.  On any failure out
 * is left as it was; out's cap gives MV_E_LIMIT.
 */

/* Appends the UTF-8 form of in[0..n) to out.  MV_E_PARSE if malformed. */
enum mv_err mv_utf7_decode(struct mv_buf *out, const char *in, size_t n);
/* Appends the modified UTF-7 form of UTF-8 in[0..n).  MV_E_PARSE if the
 * input is not valid UTF-8. */
enum mv_err mv_utf7_encode(struct mv_buf *out, const char *in, size_t n);

/* The UTF-8 display form of folder name (modified UTF-7, levels split by
 * delim) with '/' between levels; a name that is not modified UTF-7 is
 * returned as it is.  malloc'd; NULL when out of memory. */
char *mv_utf7_display(const char *name, char delim);

#endif
