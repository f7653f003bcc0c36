/*
 * test_compress.c - the segmented zstd stream of compress.h (format-spec
 * 5.2): both encoders (streaming mv_zc_feed, and mv_zc_segment per
 * segment as the pull workers use it) round-trip at every segment
 * boundary, fed whole and in odd pieces; the decoder refuses streams a
 * writer never makes: a frame over a segment, a short frame followed by
 * another, an empty frame after others, bytes after the last frame.
 * Hostile streams are made with zstd itself, as any other writer would.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "compress.h"
#include "t.h"

#define SEG MV_ZSTD_SEGMENT

struct out {
	uint8_t *b;
	size_t n, cap;
};

static enum mv_err collect(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct out *o = ctx;

	if (n > o->cap - o->n)
		return mv_fail(e, MV_E_LENGTH, "too much output");
	memcpy(o->b + o->n, p, n);
	o->n += n;
	return MV_OK;
}

/* Mail-like bytes: text lines with some repetition and some noise. */
static void fill(uint8_t *b, size_t n, unsigned seed)
{
	static const char words[] = "Received: from mx.example.org by mail with ESMTP "
				    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkrLw==\r\n";
	unsigned x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (x >> 24) < 40 ? (uint8_t)(x >> 16) : (uint8_t)words[i % (sizeof words - 1)];
	}
}

/* Decodes stream s[0..n) fed in pieces of `piece` bytes; MV_OK and the
 * bytes in *o, or the first error.  done = frame boundary at the end. */
static enum mv_err decode(const uint8_t *s, size_t n, size_t piece, struct out *o, int *done)
{
	struct mv_zd *z = mv_zd_new();
	struct mv_error e;
	enum mv_err rc = MV_OK;

	mv_error_clear(&e);
	*done = 0;
	if (!z)
		return MV_E_NOMEM;
	mv_zd_begin(z);
	for (size_t off = 0; off < n && rc == MV_OK; off += piece) {
		size_t k = n - off < piece ? n - off : piece;

		rc = mv_zd_feed(z, s + off, k, done, collect, o, &e);
	}
	mv_zd_free(z);
	return rc;
}

/* Streaming encoder, fed in pieces of `piece` bytes. */
static int encode_stream(const uint8_t *m, size_t n, size_t piece, struct out *o)
{
	struct mv_zc *z = mv_zc_new();
	struct mv_error e;
	int ok;

	mv_error_clear(&e);
	ok = z && mv_zc_begin(z, n, &e) == MV_OK;

	for (size_t off = 0; ok && off < n; off += piece) {
		size_t k = n - off < piece ? n - off : piece;

		ok = mv_zc_feed(z, m + off, k, 0, collect, o, &e) == MV_OK;
	}
	ok = ok && mv_zc_feed(z, NULL, 0, 1, collect, o, &e) == MV_OK;
	mv_zc_free(z);
	return ok;
}

/* Segment encoder: one frame per segment, concatenated. */
static int encode_segments(const uint8_t *m, size_t n, struct out *o)
{
	struct mv_zc *z = mv_zc_new();
	struct mv_error e;
	int ok = z != NULL;

	mv_error_clear(&e);

	for (size_t off = 0; ok && (off < n || off == 0); off += SEG) {
		size_t k = n - off < SEG ? n - off : SEG, len = 0;

		ok = mv_zc_segment(z, o->b + o->n, o->cap - o->n, m + off, k, &len, &e) == MV_OK;
		o->n += len;
		if (n == 0)
			break;
	}
	mv_zc_free(z);
	return ok;
}

/* A raw zstd frame of m[0..n) (content size declared). */
static size_t zframe(uint8_t *dst, size_t cap, const uint8_t *m, size_t n)
{
	size_t r = ZSTD_compress(dst, cap, m, n, 1);

	return ZSTD_isError(r) ? 0 : r;
}

int main(void)
{
	size_t max = 3 * SEG + 17;
	uint8_t *m = malloc(max);
	struct out enc = { malloc(2 * max + 65536), 0, 2 * max + 65536 };
	struct out dec = { malloc(max + 1), 0, max + 1 };
	static const size_t sizes[] = { 0, 1, 64, 4097, SEG - 1, SEG, SEG + 1,
					2 * SEG, 2 * SEG + 5, 3 * SEG + 17 };
	int done;

	if (!m || !enc.b || !dec.b)
		return 1;
	fill(m, max, 7);

	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t n = sizes[i];
		char name[96];
		int ok;

		for (int way = 0; way < 3; way++) {
			enc.n = 0;
			ok = way == 0 ? encode_stream(m, n, n ? n : 1, &enc)
			   : way == 1 ? encode_stream(m, n, 65521, &enc)
			   : encode_segments(m, n, &enc);
			dec.n = 0;
			ok = ok && decode(enc.b, enc.n, 7919, &dec, &done) == MV_OK && done &&
			     dec.n == n && memcmp(dec.b, m, n) == 0;
			snprintf(name, sizeof name, "%zu bytes round-trip (%s)", n,
				 way == 0 ? "stream, one piece" : way == 1 ? "stream, pieces"
				 : "segments");
			T_CHECK(name, ok);
		}
		/* Frames are counted by the decoder: ceil(n / SEG), at least 1. */
		{
			size_t want = n ? (n + SEG - 1) / SEG : 1, got = 0;
			size_t off = 0;

			while (off < enc.n) {
				size_t fs = ZSTD_findFrameCompressedSize(enc.b + off, enc.n - off);
				size_t seg = n - got * SEG < SEG ? n - got * SEG : SEG;

				if (ZSTD_isError(fs) ||
				    ZSTD_getFrameContentSize(enc.b + off, enc.n - off) != seg)
					break;
				off += fs;
				got++;
			}
			snprintf(name, sizeof name, "%zu bytes: %zu frames, each declaring its size", n,
				 want);
			T_CHECK(name, off == enc.n && got == want);
		}
	}

	/* A cut stream is not at a frame boundary. */
	enc.n = 0;
	encode_segments(m, 2 * SEG + 5, &enc);
	dec.n = 0;
	T_CHECK("cut inside the second frame: decodes without error but not done",
		decode(enc.b, enc.n - (enc.n / 3), 4096, &dec, &done) == MV_OK && !done);
	{
		size_t f1 = ZSTD_findFrameCompressedSize(enc.b, enc.n);

		dec.n = 0;
		T_CHECK("cut at the first frame's end: done (the size check is the caller's)",
			decode(enc.b, f1, 4096, &dec, &done) == MV_OK && done && dec.n == SEG);
	}

	/* Streams a writer never makes. */
	{
		uint8_t *s = enc.b;
		size_t n;

		n = zframe(s, enc.cap, m, SEG + 1);
		dec.n = 0;
		T_CHECK("a frame of a segment plus one byte is refused",
			n && decode(s, n, 65536, &dec, &done) == MV_E_COMPRESS);

		n = zframe(s, enc.cap, m, 100);
		n += zframe(s + n, enc.cap - n, m + 100, 100);
		dec.n = 0;
		T_CHECK("a short frame followed by another is refused",
			decode(s, n, 65536, &dec, &done) == MV_E_COMPRESS);
		dec.n = 0;
		T_CHECK("... also when fed one byte at a time",
			decode(s, n, 1, &dec, &done) == MV_E_COMPRESS);

		n = zframe(s, enc.cap, m, SEG);
		n += zframe(s + n, enc.cap - n, m, 0);
		dec.n = 0;
		T_CHECK("an empty frame after a full one is refused",
			decode(s, n, 65536, &dec, &done) == MV_E_COMPRESS);

		n = zframe(s, enc.cap, m, 0);
		dec.n = 0;
		T_CHECK("one empty frame (the empty message) is accepted",
			decode(s, n, 65536, &dec, &done) == MV_OK && done && dec.n == 0);

		n = zframe(s, enc.cap, m, 300);
		s[n++] = 0;
		dec.n = 0;
		T_CHECK("a byte after the last frame is refused",
			decode(s, n, 65536, &dec, &done) == MV_E_COMPRESS);
	}

	/* The encoder holds callers to the announced size. */
	{
		struct mv_zc *z = mv_zc_new();
		struct mv_error e;

		mv_error_clear(&e);
		enc.n = 0;
		T_CHECK("feeding more than announced is MV_E_LENGTH",
			z && mv_zc_begin(z, 10, &e) == MV_OK &&
			mv_zc_feed(z, m, 11, 0, collect, &enc, &e) == MV_E_LENGTH);
		enc.n = 0;
		mv_error_clear(&e);
		T_CHECK("ending short of the announced size is MV_E_LENGTH",
			z && mv_zc_begin(z, SEG + 10, &e) == MV_OK &&
			mv_zc_feed(z, m, SEG, 0, collect, &enc, &e) == MV_OK &&
			mv_zc_feed(z, NULL, 0, 1, collect, &enc, &e) == MV_E_LENGTH);
		mv_zc_free(z);
	}

	free(m);
	free(enc.b);
	free(dec.b);
	return T_DONE();
}
