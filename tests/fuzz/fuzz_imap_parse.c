/*
 * fuzz_imap_parse.c - the streaming IMAP response parser on arbitrary
 * server bytes, fed in reads of varying sizes.
 *
 * Input:
 *   OFFSET  SIZE  FIELD
 *   0       1     bits 0-1: reads whole (0), one byte at a time (1), or
 *                 of random sizes (2, 3); bit 2: no body sink; bits 4-5:
 *                 the sink fails in begin (1), in its second data call
 *                 (2) or in end (3)
 *   1       1     max_body: this many bytes, or 1 MiB when 0
 *   2       ...   the server's bytes
 *
 * Besides memory errors it checks what imap_parse.h promises, and calls
 * abort() when a promise breaks: the sink sees begin, pieces of
 * 1..MV_IMAP_PIECE bytes adding up to the announced size (at most
 * max_body), then end; strings are non-NULL, NUL-terminated and within
 * their limits; a VANISHED set walks to its end; an error sticks and reads
 * nothing more; the set walker moves forward on any text.  Each input is
 * also parsed in a second read pattern (one byte at a time, or whole),
 * and what the caller and the sink see must not change.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
	const uint8_t *data;
	size_t len, pos;
	int mode;
	uint32_t rng;
	unsigned calls;
};

static enum mv_err src_read(void *ctx, uint8_t *buf, size_t cap, size_t *got,
			    struct mv_error *e)
{
	struct src *s = ctx;
	size_t n = s->len - s->pos;

	(void)e;
	s->calls++;
	if (s->mode == 1 && n > 1)
		n = 1;
	if (s->mode >= 2 && n > 0) {
		size_t k;

		s->rng ^= s->rng << 13;
		s->rng ^= s->rng >> 17;
		s->rng ^= s->rng << 5;
		k = s->rng % 97 + 1;
		if (k < n)
			n = k;
	}
	if (n > cap)
		n = cap;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	*got = n;
	return MV_OK;
}

struct sink {
	int open, fail;
	uint64_t size, got, max_body;
	unsigned datas;
	uint64_t h;           /* everything seen, for the differential check */
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 1099511628211u;
}

static void mix_str(uint64_t *h, const char *s)
{
	mix(h, s, strlen(s) + 1);
}

static void mix_num(uint64_t *h, uint64_t v)
{
	mix(h, &v, sizeof v);
}

static enum mv_err s_begin(void *ctx, const struct mv_imap_body *b,
			   struct mv_error *e)
{
	struct sink *k = ctx;

	if (k->open || !b->item || strlen(b->item) > MV_IMAP_MAX_ITEM ||
	    b->size > k->max_body || b->seq == 0)
		abort();
	k->open = 1;
	k->size = b->size;
	k->got = 0;
	k->datas = 0;
	mix_str(&k->h, b->item);
	mix_num(&k->h, b->size);
	mix_num(&k->h, b->seq);
	mix_num(&k->h, b->uid);
	mix_num(&k->h, (uint64_t)b->literal8);
	if (k->fail == 1)
		return mv_fail(e, MV_E_IO, "fuzz sink: begin");
	return MV_OK;
}

static enum mv_err s_data(void *ctx, const uint8_t *p, size_t n,
			  struct mv_error *e)
{
	struct sink *k = ctx;

	if (!k->open || n == 0 || n > MV_IMAP_PIECE || k->got + n > k->size)
		abort();
	/* Reads every byte, so ASan also sees a piece that is not all there. */
	mix(&k->h, p, n);
	k->got += n;
	if (k->fail == 2 && ++k->datas == 2)
		return mv_fail(e, MV_E_IO, "fuzz sink: data");
	return MV_OK;
}

static enum mv_err s_end(void *ctx, struct mv_error *e)
{
	struct sink *k = ctx;

	if (!k->open || k->got != k->size)
		abort();
	k->open = 0;
	mix_str(&k->h, "end");
	if (k->fail == 3)
		return mv_fail(e, MV_E_IO, "fuzz sink: end");
	return MV_OK;
}

static void check_str(const char *s, size_t max)
{
	if (!s || strlen(s) > max)
		abort();
}

static void check(const struct mv_imap_resp *r, uint64_t *h)
{
	const struct mv_imap_fetch *f = &r->fetch;
	const char *s;
	uint32_t lo, hi, ms;

	check_str(r->tag, MV_IMAP_MAX_TAG);
	check_str(r->name, MV_IMAP_MAX_ATOM_LEN);
	check_str(r->code, MV_IMAP_MAX_ATOM_LEN);
	check_str(r->code_arg, MV_IMAP_MAX_LINE);
	check_str(r->text, MV_IMAP_MAX_LINE);
	check_str(r->mailbox, MV_IMAP_MAX_STRING);
	check_str(r->set, MV_IMAP_MAX_LINE);
	check_str(f->internaldate, MV_IMAP_MAX_STRING);
	if (strlen(r->mailbox) != r->mailbox_len || !r->rest ||
	    r->rest_len > MV_IMAP_MAX_RESPONSE || r->rest[r->rest_len] != '\0' ||
	    r->natoms > MV_IMAP_MAX_ATOMS || r->ncode_num > 2)
		abort();
	if ((r->kind == MV_IMAP_TAGGED) != (r->tag[0] != '\0') ||
	    (r->kind == MV_IMAP_UNTAGGED) != (r->name[0] != '\0'))
		abort();
	for (size_t i = 0; i < r->natoms; i++)
		if (!r->atoms[i][0] || strlen(r->atoms[i]) > MV_IMAP_MAX_ATOM_LEN)
			abort();
	if (r->type == MV_IMAP_FETCH) {
		if (f->flags != r->atoms || f->nflags != r->natoms || r->num == 0 ||
		    ((f->have & MV_IMAP_F_BODY) != 0) != (f->nbodies != 0) ||
		    ((f->have & MV_IMAP_F_UID) && f->uid == 0))
			abort();
	} else if (f->nflags != 0) {
		abort();
	}
	if (r->type == MV_IMAP_VANISHED) {
		s = r->set;
		if (!*s)
			abort();
		while (mv_imap_set_next(&s, &lo, &hi))
			if (lo == 0 || lo > hi)
				abort();
		if (*s)
			abort();
	}
	/* The set walker on any text, as the ESEARCH reader uses it: every
	 * step moves forward and gives a proper range. */
	for (int t = 0; t < 2; t++) {
		size_t n = 0, len;

		s = t ? r->text : r->rest;
		len = strlen(s);
		while (mv_imap_set_next(&s, &lo, &hi))
			if (lo == 0 || lo > hi || ++n > len)
				abort();
	}
	if (r->throttled == 0 && r->backoff_ms)
		abort();
	(void)mv_imap_backoff_ms(r->text, &ms);
	(void)mv_imap_has_atom(r, "IMAP4rev1");

	/* What the caller sees, for the differential check. */
	mix_num(h, (uint64_t)r->kind << 8 | (uint64_t)r->type);
	mix_num(h, (uint64_t)r->has_num << 32 | r->num);
	mix_str(h, r->tag);
	mix_str(h, r->name);
	mix_str(h, r->code);
	mix_str(h, r->code_arg);
	mix_str(h, r->text);
	mix_str(h, r->mailbox);
	mix_str(h, r->set);
	mix_str(h, f->internaldate);
	mix(h, r->rest, r->rest_len);
	for (unsigned i = 0; i < r->ncode_num; i++)
		mix_num(h, r->code_num[i]);
	for (size_t i = 0; i < r->natoms; i++)
		mix_str(h, r->atoms[i]);
	mix_num(h, (uint64_t)r->throttled << 32 | r->backoff_ms);
	mix_num(h, (uint64_t)r->delim << 8 | (uint64_t)r->earlier);
	mix(h, &r->status, sizeof r->status);
	mix_num(h, f->have);
	mix_num(h, f->uid);
	mix_num(h, (uint64_t)f->recent);
	mix_num(h, f->rfc822_size);
	mix_num(h, f->modseq);
	mix_num(h, f->nbodies);
	mix_num(h, f->body_size);
	mix_num(h, (uint64_t)f->body_literal8 << 1 | (uint64_t)f->body_nil);
}

/* Parses the stream read in pattern mode; returns a hash of all the
 * caller and the sink saw. */
static uint64_t run(const uint8_t *data, size_t size, int mode)
{
	struct src s;
	struct sink k;
	struct mv_imap_body_sink bs = { s_begin, s_data, s_end, &k };
	struct mv_imap *p = NULL;
	const struct mv_imap_resp *r = NULL;
	struct mv_error e;
	enum mv_err rc = MV_OK;
	unsigned calls;

	memset(&s, 0, sizeof s);
	s.data = data + 2;
	s.len = size - 2;
	s.mode = mode;
	s.rng = 0x9e3779b9u ^ (uint32_t)size ^ ((uint32_t)data[0] << 8);
	memset(&k, 0, sizeof k);
	k.fail = (data[0] >> 4) & 3;
	k.max_body = data[1] ? data[1] : 1u << 20;
	k.h = 1469598103934665603u;
	mv_error_clear(&e);
	if (mv_imap_new(&p, src_read, &s, k.max_body, &e) != MV_OK)
		abort();
	mv_imap_set_body_sink(p, (data[0] & 4) ? NULL : &bs);
	for (int i = 0; i < 100000; i++) {
		mv_error_clear(&e);
		rc = mv_imap_next_response(p, &r, &e);
		if (rc != MV_OK)
			break;
		if (k.open)
			abort();
		check(r, &k.h);
	}
	if (rc == MV_OK)
		goto out;
	if (r != NULL || e.code != rc || !e.msg[0] ||
	    mv_imap_bytes_read(p) > s.len)
		abort();
	mix_num(&k.h, (uint64_t)rc);
	mix_num(&k.h, (uint64_t)e.offset);
	mix_num(&k.h, (uint64_t)k.open);
	mix_str(&k.h, e.msg);
	calls = s.calls;
	mv_error_clear(&e);
	if (mv_imap_next_response(p, &r, &e) != rc || e.code != rc ||
	    s.calls != calls)
		abort();
out:
	mv_imap_free(p);
	return k.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int mode;
	uint64_t h;

	if (size < 2)
		return 0;
	mode = data[0] & 3;
	h = run(data, size, mode);
	/* The same bytes read in another pattern must give the same
	 * responses, bodies and error, except where the sink's failure is
	 * tied to a piece count. */
	if (((data[0] >> 4) & 3) != 2 && run(data, size, mode == 1 ? 0 : 1) != h)
		abort();
	return 0;
}
