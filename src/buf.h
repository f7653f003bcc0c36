/*
 * buf.h - a growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * The cap is the defence against unbounded growth from untrusted input:
 * an append that would pass it fails with MV_E_LIMIT and leaves the buffer
 * as it was.  Never holds secrets (it is not wiped); use crypto.h's secure
 * memory for those.
 */
#ifndef MV_BUF_H
#define MV_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct mv_buf {
	uint8_t *data;
	size_t len;
	size_t cap;   /* allocated */
	size_t max;   /* hard limit on len */
};

void mv_buf_init(struct mv_buf *b, size_t max);
/* Frees the memory and re-initialises with the same max. */
void mv_buf_release(struct mv_buf *b);
/* Sets len to 0, keeps the memory. */
static inline void mv_buf_reset(struct mv_buf *b) { b->len = 0; }

/* All return MV_OK, MV_E_NOMEM, or MV_E_LIMIT (when max would be passed). */
enum mv_err mv_buf_reserve(struct mv_buf *b, size_t extra);
enum mv_err mv_buf_add(struct mv_buf *b, const void *p, size_t n);
enum mv_err mv_buf_addc(struct mv_buf *b, uint8_t c);
enum mv_err mv_buf_add16(struct mv_buf *b, uint16_t v);
enum mv_err mv_buf_add32(struct mv_buf *b, uint32_t v);
enum mv_err mv_buf_add64(struct mv_buf *b, uint64_t v);
enum mv_err mv_buf_addstr(struct mv_buf *b, const char *s);
enum mv_err mv_buf_addf(struct mv_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends a NUL without counting it in len, so data can be used as a string. */
enum mv_err mv_buf_cstr(struct mv_buf *b);
/* Appends n zero bytes and returns a pointer to them through *out. */
enum mv_err mv_buf_grow(struct mv_buf *b, size_t n, uint8_t **out);

/* vasprintf that returns the string (the caller frees it) or NULL when out
 * of memory: for paths and names built once, not grown. */
char *mv_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
