/* srvform.c - a message as an IMAP server renders it; see srvform.h. */
#include "srvform.h"

#include <string.h>

#include "sha256.h"

/* ---- the renderings ---- */

void mv_render_init(struct mv_render *r, int form,
		    void (*emit)(void *ctx, const uint8_t *p, size_t n), void *ctx)
{
	memset(r, 0, sizeof *r);
	r->form = form;
	r->emit = emit;
	r->ctx = ctx;
}

static void put(struct mv_render *r, uint8_t c)
{
	if (r->nbuf == sizeof r->buf) {
		r->emit(r->ctx, r->buf, r->nbuf);
		r->nbuf = 0;
	}
	r->buf[r->nbuf++] = c;
}

/* MV_FORM_SERVER's second step: a byte as stored, served. */
static void serve(struct mv_render *r, uint8_t c)
{
	if (c == '\n' && r->prev != '\r')
		put(r, '\r');
	put(r, c == 0 ? 0x80 : c);
	r->prev = c;
}

static void feed_server(struct mv_render *r, uint8_t c)
{
	/* Stored: CRLF as LF; a CR not before LF stays (unless it ends the
	 * message: mv_render_end drops it). */
	if (r->cr) {
		r->cr = 0;
		if (c == '\n') {
			serve(r, '\n');
			return;
		}
		serve(r, '\r');
	}
	if (c == '\r')
		r->cr = 1;
	else
		serve(r, c);
}

static void feed_crlf(struct mv_render *r, uint8_t c)
{
	if (r->cr) {
		r->cr = 0;
		put(r, '\r');
		put(r, '\n');
		if (c == '\n')
			return;
	}
	if (c == '\r') {
		r->cr = 1;
	} else if (c == '\n') {
		put(r, '\r');
		put(r, '\n');
	} else {
		put(r, c);
	}
}

/* Bytes every rendering keeps as they are (no CR waits before them). */
static void put_run(struct mv_render *r, const uint8_t *p, size_t n)
{
	r->prev = p[n - 1];
	while (n) {
		size_t k = sizeof r->buf - r->nbuf;

		if (k == 0) {
			r->emit(r->ctx, r->buf, r->nbuf);
			r->nbuf = 0;
			continue;
		}
		if (k > n)
			k = n;
		memcpy(r->buf + r->nbuf, p, k);
		r->nbuf += k;
		p += k;
		n -= k;
	}
}

void mv_render_feed(struct mv_render *r, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		/* Most of a message is neither CR, LF nor NUL: in runs. */
		while (!r->cr && j < n && p[j] != '\r' && p[j] != '\n' && p[j] != 0)
			j++;
		if (j > i) {
			put_run(r, p + i, j - i);
			i = j;
			continue;
		}
		if (r->form == MV_FORM_SERVER)
			feed_server(r, p[i]);
		else
			feed_crlf(r, p[i]);
		i++;
	}
}

void mv_render_end(struct mv_render *r)
{
	if (r->cr && r->form == MV_FORM_CRLF) {
		put(r, '\r');
		put(r, '\n');
	}
	r->cr = 0;
	if (r->nbuf)
		r->emit(r->ctx, r->buf, r->nbuf);
	r->nbuf = 0;
}

/* ---- one archived message ---- */

struct calc {
	struct mv_srvform *f;
	struct mv_render r[MV_NFORMS];
	struct mv_hmac *h[MV_NFORMS];
	uint64_t n[MV_NFORMS];
	uint8_t last;
};

struct sinkctx {
	struct mv_hmac *h;
	uint64_t *n;
};

static void to_sink(void *ctx, const uint8_t *p, size_t n)
{
	struct sinkctx *s = ctx;

	mv_hmac_update(s->h, p, n);
	*s->n += n;
}

static enum mv_err calc_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct calc *c = ctx;

	(void)e;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];

		if (b == 0)
			c->f->differs = c->f->has_nul = 1;
		else if ((b == '\n' && c->last != '\r') || (c->last == '\r' && b != '\n'))
			c->f->differs = 1;
		c->last = b;
	}
	for (int k = 0; k < MV_NFORMS; k++)
		mv_render_feed(&c->r[k], p, n);
	return MV_OK;
}

enum mv_err mv_srvform_of(struct mv_vault *v, const struct mv_blobref *b,
			  struct mv_srvform *f, struct mv_error *e)
{
	struct calc c;
	struct sinkctx s[MV_NFORMS];
	enum mv_err rc = MV_OK;

	memset(f, 0, sizeof *f);
	memset(&c, 0, sizeof c);
	c.f = f;
	for (int k = 0; k < MV_NFORMS; k++) {
		if (!(c.h[k] = mv_vault_content_hasher(v))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		s[k].h = c.h[k];
		s[k].n = &c.n[k];
		mv_render_init(&c.r[k], k, to_sink, &s[k]);
	}
	if ((rc = mv_vault_read_blob(v, b, calc_out, &c, e)))
		goto out;
	/* A message that ends in a CR ends in a bare CR. */
	if (c.last == '\r')
		f->differs = 1;
	for (int k = 0; k < MV_NFORMS; k++) {
		mv_render_end(&c.r[k]);
		mv_hmac_final(c.h[k], f->hash[k]);
		f->size[k] = c.n[k];
	}
out:
	for (int k = 0; k < MV_NFORMS; k++)
		mv_hmac_free(c.h[k]);
	return rc;
}

int mv_srvform_match(const struct mv_srvform *f, uint64_t size, const uint8_t hash[32])
{
	for (int k = 0; f->differs && k < MV_NFORMS; k++)
		if (f->size[k] == size && memcmp(f->hash[k], hash, 32) == 0)
			return 1;
	return 0;
}

int mv_srvform_size(const struct mv_srvform *f, uint64_t size)
{
	for (int k = 0; f->differs && k < MV_NFORMS; k++)
		if (f->size[k] == size)
			return 1;
	return 0;
}
