/*
 * bytes.h - little-endian load/store and a bounded reader.
 *
 * On-disk structures are byte arrays, never C structs (format-spec/
 * section 2).  struct mv_rd walks untrusted bytes against an explicit end;
 * once a read would pass the end it sets `bad` and every later read
 * returns zeros, so a parser checks `bad` once at the end of a structure.
 */
#ifndef MV_BYTES_H
#define MV_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void mv_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void mv_st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void mv_st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t mv_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t mv_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline uint64_t mv_ld64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

struct mv_rd {
	const uint8_t *p;
	const uint8_t *end;
	int bad;
};

static inline void mv_rd_init(struct mv_rd *r, const void *p, size_t n)
{
	r->p = p;
	r->end = r->p + n;
	r->bad = 0;
}

static inline size_t mv_rd_left(const struct mv_rd *r)
{
	return r->bad ? 0 : (size_t)(r->end - r->p);
}

/* Returns a pointer to the next n bytes and advances, or NULL (and bad). */
static inline const uint8_t *mv_rd_take(struct mv_rd *r, size_t n)
{
	const uint8_t *q;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	q = r->p;
	r->p += n;
	return q;
}

static inline uint8_t mv_rd_u8(struct mv_rd *r)
{
	const uint8_t *q = mv_rd_take(r, 1);
	return q ? q[0] : 0;
}

static inline uint16_t mv_rd_u16(struct mv_rd *r)
{
	const uint8_t *q = mv_rd_take(r, 2);
	return q ? mv_ld16(q) : 0;
}

static inline uint32_t mv_rd_u32(struct mv_rd *r)
{
	const uint8_t *q = mv_rd_take(r, 4);
	return q ? mv_ld32(q) : 0;
}

static inline uint64_t mv_rd_u64(struct mv_rd *r)
{
	const uint8_t *q = mv_rd_take(r, 8);
	return q ? mv_ld64(q) : 0;
}

/* Copies n bytes into out (zero-filled when the input runs short). */
static inline void mv_rd_copy(struct mv_rd *r, void *out, size_t n)
{
	const uint8_t *q = mv_rd_take(r, n);

	if (q)
		memcpy(out, q, n);
	else
		memset(out, 0, n);
}

#endif
