/* compress.c - zstd and Padme; see compress.h. */
#include "compress.h"

#include <stdlib.h>
#include <zstd.h>

uint64_t mv_padme(uint64_t n)
{
	unsigned e = 0, s = 0, z;
	uint64_t mask;

	if (n < 2)
		return n;
	while ((n >> e) > 1)
		e++;               /* e = floor(log2 n) */
	while ((e >> s) > 1)
		s++;
	s += 1;                    /* s = floor(log2 e) + 1 */
	z = e - s;
	mask = ((uint64_t)1 << z) - 1;
	return (n + mask) & ~mask;
}

/* Output is staged through a fixed buffer so memory stays bounded. */
#define ZBUF (128 * 1024)

struct mv_zc {
	ZSTD_CCtx *cctx;
	uint8_t *out;
	uint64_t left;             /* message bytes still to come */
	size_t seg_left;           /* of them, in the current frame */
	int open;                  /* a frame is started */
};

struct mv_zc *mv_zc_new(void)
{
	struct mv_zc *z = calloc(1, sizeof *z);

	if (!z)
		return NULL;
	z->cctx = ZSTD_createCCtx();
	z->out = malloc(ZBUF);
	if (!z->cctx || !z->out) {
		mv_zc_free(z);
		return NULL;
	}
	return z;
}

void mv_zc_free(struct mv_zc *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	free(z->out);
	free(z);
}

/* The parameters of every frame: level, no checksum (chunks are
 * authenticated), the content size in the header.  A segment is at most
 * 2^20 bytes, so zstd picks a window of at most 2^20 (format-spec 9). */
static enum mv_err frame_params(struct mv_zc *z, size_t n, struct mv_error *e)
{
	size_t r;

	ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_and_parameters);
	r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, MV_ZSTD_LEVEL);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setPledgedSrcSize(z->cctx, n);
	if (ZSTD_isError(r))
		return mv_fail(e, MV_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(r));
	return MV_OK;
}

static enum mv_err next_frame(struct mv_zc *z, struct mv_error *e)
{
	z->seg_left = z->left < MV_ZSTD_SEGMENT ? (size_t)z->left : MV_ZSTD_SEGMENT;
	z->open = 1;
	return frame_params(z, z->seg_left, e);
}

enum mv_err mv_zc_begin(struct mv_zc *z, uint64_t size, struct mv_error *e)
{
	z->left = size;
	return next_frame(z, e);
}

size_t mv_zc_bound(size_t n)
{
	return ZSTD_compressBound(n);
}

enum mv_err mv_zc_segment(struct mv_zc *z, uint8_t *dst, size_t cap, const uint8_t *src,
			  size_t n, size_t *len, struct mv_error *e)
{
	enum mv_err rc;
	size_t r;

	if (n > MV_ZSTD_SEGMENT)
		return mv_fail(e, MV_E_INTERNAL, "zstd segment of %zu bytes", n);
	if ((rc = frame_params(z, n, e)))
		return rc;
	r = ZSTD_compress2(z->cctx, dst, cap, src, n);
	if (ZSTD_isError(r))
		return mv_fail(e, MV_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(r));
	*len = r;
	return MV_OK;
}

/* Runs the compressor over ib with mode until done, passing output on. */
static enum mv_err pump(struct mv_zc *z, ZSTD_inBuffer *ib, ZSTD_EndDirective mode,
			mv_out_fn out, void *ctx, struct mv_error *e)
{
	enum mv_err rc;

	for (;;) {
		ZSTD_outBuffer ob = { z->out, ZBUF, 0 };
		size_t left = ZSTD_compressStream2(z->cctx, &ob, ib, mode);

		if (ZSTD_isError(left))
			return mv_fail(e, MV_E_INTERNAL, "zstd: %s",
				       ZSTD_getErrorName(left));
		if (ob.pos && (rc = out(ctx, z->out, ob.pos, e)) != MV_OK)
			return rc;
		if (mode == ZSTD_e_end ? left == 0 : ib->pos == ib->size)
			return MV_OK;
	}
}

enum mv_err mv_zc_feed(struct mv_zc *z, const uint8_t *in, size_t n, int end,
		       mv_out_fn out, void *ctx, struct mv_error *e)
{
	enum mv_err rc;

	if (n > z->left)
		return mv_fail(e, MV_E_LENGTH, "message is longer than announced");
	/* A frame ends as soon as its segment is in; the empty message
	 * still gets its one (empty) frame at the end. */
	while (n || (end && z->open)) {
		size_t take = n < z->seg_left ? n : z->seg_left;
		ZSTD_inBuffer ib = { in, take, 0 };
		int last = take == z->seg_left;

		if (!last && !n)
			break;
		if ((rc = pump(z, &ib, last ? ZSTD_e_end : ZSTD_e_continue, out, ctx, e)))
			return rc;
		in += take;
		n -= take;
		z->left -= take;
		z->seg_left -= take;
		if (last) {
			z->open = 0;
			if (z->left && (rc = next_frame(z, e)))
				return rc;
		}
	}
	if (end && (z->left || z->open))
		return mv_fail(e, MV_E_LENGTH, "message ended %llu bytes short",
			       (unsigned long long)z->left);
	return MV_OK;
}

struct mv_zd {
	ZSTD_DCtx *dctx;
	uint8_t *out;
	uint64_t frame_out;        /* bytes the current frame gave so far */
	uint64_t frames;           /* frames ended */
	int boundary;              /* the input so far ends a frame */
	int ended_short;           /* the last frame held under a segment */
};

struct mv_zd *mv_zd_new(void)
{
	struct mv_zd *z = calloc(1, sizeof *z);

	if (!z)
		return NULL;
	z->dctx = ZSTD_createDCtx();
	z->out = malloc(ZBUF);
	if (!z->dctx || !z->out) {
		mv_zd_free(z);
		return NULL;
	}
	return z;
}

void mv_zd_free(struct mv_zd *z)
{
	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	free(z->out);
	free(z);
}

void mv_zd_begin(struct mv_zd *z)
{
	ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_and_parameters);
	ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax, MV_ZSTD_WINDOW_LOG_MAX);
	z->frame_out = 0;
	z->frames = 0;
	z->boundary = 0;
	z->ended_short = 0;
}

enum mv_err mv_zd_feed(struct mv_zd *z, const uint8_t *in, size_t n,
		       int *done, mv_out_fn out, void *ctx, struct mv_error *e)
{
	ZSTD_inBuffer ib = { in, n, 0 };
	int flush = 0;             /* output may be pending in zstd */
	enum mv_err rc;

	while (ib.pos < ib.size || flush) {
		ZSTD_outBuffer ob = { z->out, ZBUF, 0 };
		size_t r;

		/* zstd would start another frame after the short one. */
		if (z->ended_short)
			return mv_fail(e, MV_E_COMPRESS, "data after the last zstd frame");
		r = ZSTD_decompressStream(z->dctx, &ob, &ib);
		if (ZSTD_isError(r))
			return mv_fail(e, MV_E_COMPRESS, "zstd: %s",
				       ZSTD_getErrorName(r));
		if (ob.pos > MV_ZSTD_SEGMENT - z->frame_out)
			return mv_fail(e, MV_E_COMPRESS,
				       "zstd frame %llu holds more than %zu bytes",
				       (unsigned long long)z->frames + 1, MV_ZSTD_SEGMENT);
		z->frame_out += ob.pos;
		if (ob.pos && (rc = out(ctx, z->out, ob.pos, e)) != MV_OK)
			return rc;
		flush = ob.pos == ob.size;
		z->boundary = r == 0;
		if (r == 0) {
			if (z->frame_out < MV_ZSTD_SEGMENT) {
				if (z->frame_out == 0 && z->frames)
					return mv_fail(e, MV_E_COMPRESS, "empty zstd frame %llu",
						       (unsigned long long)z->frames + 1);
				z->ended_short = 1;
			}
			z->frames++;
			z->frame_out = 0;
			flush = 0;
		}
	}
	if (z->ended_short && ib.pos < ib.size)
		return mv_fail(e, MV_E_COMPRESS, "data after the last zstd frame");
	*done = z->boundary;
	return MV_OK;
}
