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

enum mv_err mv_zc_begin(struct mv_zc *z, uint64_t size, struct mv_error *e)
{
	size_t r;

	ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_and_parameters);
	r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, MV_ZSTD_LEVEL);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1);
	/* Levels may pick windows up to 2^21 or more for big inputs; the cap
	 * keeps decoders' memory bounded whatever the level (format-spec 9). */
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_windowLog,
					   size > ((uint64_t)1 << 21) ? 21 : 0);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setPledgedSrcSize(z->cctx, size);
	if (ZSTD_isError(r))
		return mv_fail(e, MV_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(r));
	return MV_OK;
}

enum mv_err mv_zc_feed(struct mv_zc *z, const uint8_t *in, size_t n, int end,
		       mv_out_fn out, void *ctx, struct mv_error *e)
{
	ZSTD_inBuffer ib = { in, n, 0 };
	ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
	enum mv_err rc;

	for (;;) {
		ZSTD_outBuffer ob = { z->out, ZBUF, 0 };
		size_t left = ZSTD_compressStream2(z->cctx, &ob, &ib, mode);

		if (ZSTD_isError(left))
			return mv_fail(e, MV_E_INTERNAL, "zstd: %s",
				       ZSTD_getErrorName(left));
		if (ob.pos && (rc = out(ctx, z->out, ob.pos, e)) != MV_OK)
			return rc;
		if (end ? left == 0 : ib.pos == ib.size)
			break;
	}
	return MV_OK;
}

struct mv_zd {
	ZSTD_DCtx *dctx;
	uint8_t *out;
	int done;
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
	z->done = 0;
}

enum mv_err mv_zd_feed(struct mv_zd *z, const uint8_t *in, size_t n,
		       int *done, mv_out_fn out, void *ctx, struct mv_error *e)
{
	ZSTD_inBuffer ib = { in, n, 0 };
	enum mv_err rc;

	if (z->done && n)
		return mv_fail(e, MV_E_COMPRESS, "data after the end of the zstd frame");
	while (!z->done && (ib.pos < ib.size || n == 0)) {
		ZSTD_outBuffer ob = { z->out, ZBUF, 0 };
		size_t r = ZSTD_decompressStream(z->dctx, &ob, &ib);

		if (ZSTD_isError(r))
			return mv_fail(e, MV_E_COMPRESS, "zstd: %s",
				       ZSTD_getErrorName(r));
		if (ob.pos && (rc = out(ctx, z->out, ob.pos, e)) != MV_OK)
			return rc;
		if (r == 0)
			z->done = 1;
		else if (ob.pos < ob.size && ib.pos == ib.size)
			break;  /* needs more input */
	}
	if (z->done && ib.pos < ib.size)
		return mv_fail(e, MV_E_COMPRESS, "data after the end of the zstd frame");
	*done = z->done;
	return MV_OK;
}
