/* buf.c - capped growable buffer; see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

void mv_buf_init(struct mv_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void mv_buf_release(struct mv_buf *b)
{
	free(b->data);
	mv_buf_init(b, b->max);
}

enum mv_err mv_buf_reserve(struct mv_buf *b, size_t extra)
{
	size_t want, ncap;
	uint8_t *p;

	/* +1 keeps room for mv_buf_cstr's terminator without another realloc. */
	if (extra > b->max - b->len)
		return MV_E_LIMIT;
	want = b->len + extra + 1;
	if (want <= b->cap)
		return MV_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	p = realloc(b->data, ncap);
	if (!p)
		return MV_E_NOMEM;
	b->data = p;
	b->cap = ncap;
	return MV_OK;
}

enum mv_err mv_buf_add(struct mv_buf *b, const void *p, size_t n)
{
	enum mv_err rc = mv_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return MV_OK;
}

enum mv_err mv_buf_addc(struct mv_buf *b, uint8_t c)
{
	return mv_buf_add(b, &c, 1);
}

enum mv_err mv_buf_add16(struct mv_buf *b, uint16_t v)
{
	uint8_t t[2];

	mv_st16(t, v);
	return mv_buf_add(b, t, 2);
}

enum mv_err mv_buf_add32(struct mv_buf *b, uint32_t v)
{
	uint8_t t[4];

	mv_st32(t, v);
	return mv_buf_add(b, t, 4);
}

enum mv_err mv_buf_add64(struct mv_buf *b, uint64_t v)
{
	uint8_t t[8];

	mv_st64(t, v);
	return mv_buf_add(b, t, 8);
}

enum mv_err mv_buf_addstr(struct mv_buf *b, const char *s)
{
	return mv_buf_add(b, s, strlen(s));
}

enum mv_err mv_buf_addf(struct mv_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	enum mv_err rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MV_E_INTERNAL;
	rc = mv_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return MV_OK;
}

enum mv_err mv_buf_cstr(struct mv_buf *b)
{
	enum mv_err rc = mv_buf_reserve(b, 0);

	if (rc)
		return rc;
	b->data[b->len] = '\0';
	return MV_OK;
}

enum mv_err mv_buf_grow(struct mv_buf *b, size_t n, uint8_t **out)
{
	enum mv_err rc = mv_buf_reserve(b, n);

	if (rc)
		return rc;
	memset(b->data + b->len, 0, n);
	*out = b->data + b->len;
	b->len += n;
	return MV_OK;
}

char *mv_strf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}
