/*
 * test_imap_parse.c - the streaming IMAP response parser (imap_parse.h).
 *
 * Each input is parsed several times: handed over whole, one byte per
 * read, and in pieces of random sizes with several seeds.  Every response
 * is rendered to a line of text, body items as the sink saw them, and the
 * first error as "!name @offset message"; all read patterns must give the
 * same transcript, which is then compared with the one written here.  So
 * every test also proves that a literal, a CRLF or a quoted escape split
 * across reads changes nothing.  The sink checks its own promises (begin,
 * pieces of 1..MV_IMAP_PIECE bytes adding up to the size, then end) on
 * every call.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "t.h"

#include "buf.h"
#include "err.h"
#include "imap_parse.h"

/* ---- Reading --------------------------------------------------------- */

enum { WHOLE, ONE_BYTE, RANDOM };

struct src {
	const uint8_t *data;
	size_t len, pos;
	int mode;
	uint32_t rng;
	unsigned calls;
	enum mv_err fail_at_end;   /* returned at the end instead of EOF */
	int silent;                /* ... without filling e */
	int overrun;               /* claims more bytes than cap */
};

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static enum mv_err src_read(void *ctx, uint8_t *buf, size_t cap, size_t *got,
			    struct mv_error *e)
{
	struct src *s = ctx;
	size_t n = s->len - s->pos;

	s->calls++;
	if (s->overrun) {
		*got = cap + 1;
		return MV_OK;
	}
	if (n == 0 && s->fail_at_end)
		return s->silent ? s->fail_at_end
				 : mv_fail(e, s->fail_at_end, "test reader fails");
	if (s->mode == ONE_BYTE && n > 1)
		n = 1;
	if (s->mode == RANDOM && n > 0) {
		size_t k = rnd(&s->rng) % 8 == 0 ? rnd(&s->rng) % 70000
						  : rnd(&s->rng) % 40;
		if (k + 1 < n)
			n = k + 1;
	}
	if (n > cap)
		n = cap;
	if (n)
		memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	*got = n;
	return MV_OK;
}

/* ---- Rendering ------------------------------------------------------- */

static void add(struct mv_buf *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(struct mv_buf *o, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		mv_buf_add(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void esc(struct mv_buf *o, const void *p, size_t n)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r')
			add(o, "\\r");
		else if (s[i] == '\n')
			add(o, "\\n");
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			add(o, "\\x%02x", s[i]);
		else
			mv_buf_addc(o, s[i]);
	}
}

static void escs(struct mv_buf *o, const char *s)
{
	esc(o, s, strlen(s));
}

static const char *const type_names[] = {
	"NONE", "OTHER", "OK", "NO", "BAD", "PREAUTH", "BYE", "CAPABILITY",
	"ENABLED", "FLAGS", "LIST", "LSUB", "STATUS", "EXISTS", "RECENT",
	"EXPUNGE", "FETCH", "VANISHED",
};

static int bad_shape;   /* a response broke the header's promises */

static void shape(int ok, const char *what)
{
	if (!ok) {
		bad_shape++;
		printf("shape: %s\n", what);
	}
}

static void dump(struct mv_buf *o, const struct mv_imap_resp *r)
{
	const struct mv_imap_fetch *f = &r->fetch;

	shape(r->tag && r->name && r->code && r->code_arg && r->text &&
	      r->mailbox && r->set && r->rest && f->internaldate,
	      "a string is NULL");
	shape(strlen(r->mailbox) == r->mailbox_len, "mailbox_len");
	shape(r->rest[r->rest_len] == '\0', "rest not NUL-terminated");
	shape(r->natoms <= MV_IMAP_MAX_ATOMS, "natoms");
	for (size_t i = 0; i < r->natoms; i++)
		shape(r->atoms[i][0] && strlen(r->atoms[i]) <= MV_IMAP_MAX_ATOM_LEN,
		      "atom length");
	shape(r->kind == MV_IMAP_TAGGED ? r->tag[0] != '\0' : r->tag[0] == '\0',
	      "tag");
	shape(r->kind == MV_IMAP_UNTAGGED ? r->name[0] != '\0' : r->name[0] == '\0',
	      "name");
	if (r->kind == MV_IMAP_UNTAGGED && r->type > MV_IMAP_BAD - 1 &&
	    r->type != MV_IMAP_OTHER)
		shape(strcmp(r->name, type_names[r->type]) == 0, "name vs type");
	if (r->type == MV_IMAP_FETCH)
		shape(f->flags == r->atoms && f->nflags == r->natoms, "flags");
	else
		shape(f->nflags == 0, "nflags outside FETCH");

	add(o, "%c %s", r->kind == MV_IMAP_TAGGED ? 'T' :
	    r->kind == MV_IMAP_UNTAGGED ? 'U' : 'C', type_names[r->type]);
	if (r->tag[0])
		add(o, " tag=%s", r->tag);
	if (r->type == MV_IMAP_OTHER)
		add(o, " name=%s", r->name);
	if (r->has_num)
		add(o, " num=%u", r->num);
	if (r->code[0])
		add(o, " code=%s", r->code);
	if (r->code_arg[0]) {
		add(o, " arg=[");
		escs(o, r->code_arg);
		add(o, "]");
	}
	for (unsigned i = 0; i < r->ncode_num; i++)
		add(o, " n=%llu", (unsigned long long)r->code_num[i]);
	if (r->text[0]) {
		add(o, " text=[");
		escs(o, r->text);
		add(o, "]");
	}
	if (r->throttled)
		add(o, " throttled");
	if (r->backoff_ms)
		add(o, " backoff=%u", r->backoff_ms);
	if (r->natoms) {
		add(o, " atoms=[");
		for (size_t i = 0; i < r->natoms; i++) {
			if (i)
				add(o, " ");
			escs(o, r->atoms[i]);
		}
		add(o, "]");
	}
	if (r->type == MV_IMAP_LIST || r->type == MV_IMAP_LSUB) {
		if (r->delim)
			add(o, " delim=%c", r->delim);
		else
			add(o, " delim=NIL");
	}
	if (r->type == MV_IMAP_LIST || r->type == MV_IMAP_LSUB ||
	    r->type == MV_IMAP_STATUS) {
		add(o, " mailbox=[");
		escs(o, r->mailbox);
		add(o, "]");
	}
	if (r->type == MV_IMAP_STATUS) {
		const struct mv_imap_status *s = &r->status;

		if (s->have & MV_IMAP_ST_MESSAGES)
			add(o, " messages=%u", s->messages);
		if (s->have & MV_IMAP_ST_RECENT)
			add(o, " recent=%u", s->recent);
		if (s->have & MV_IMAP_ST_UIDNEXT)
			add(o, " uidnext=%u", s->uidnext);
		if (s->have & MV_IMAP_ST_UIDVALIDITY)
			add(o, " uidvalidity=%u", s->uidvalidity);
		if (s->have & MV_IMAP_ST_UNSEEN)
			add(o, " unseen=%u", s->unseen);
		if (s->have & MV_IMAP_ST_DELETED)
			add(o, " deleted=%u", s->deleted);
		if (s->have & MV_IMAP_ST_SIZE)
			add(o, " size=%llu", (unsigned long long)s->size);
		if (s->have & MV_IMAP_ST_HIGHESTMODSEQ)
			add(o, " highestmodseq=%llu",
			    (unsigned long long)s->highestmodseq);
	}
	if (r->type == MV_IMAP_VANISHED) {
		const char *s = r->set;
		uint32_t lo, hi;

		if (r->earlier)
			add(o, " earlier");
		add(o, " set=%s ranges=", r->set);
		while (mv_imap_set_next(&s, &lo, &hi))
			add(o, "%u-%u;", lo, hi);
		shape(*s == '\0', "set walk stopped early");
	}
	if (r->type == MV_IMAP_FETCH) {
		if (f->have & MV_IMAP_F_UID)
			add(o, " uid=%u", f->uid);
		if (f->have & MV_IMAP_F_FLAGS)
			add(o, " FLAGS");
		if (f->recent)
			add(o, " recent");
		if (f->have & MV_IMAP_F_INTERNALDATE)
			add(o, " date=[%s]", f->internaldate);
		if (f->have & MV_IMAP_F_SIZE)
			add(o, " size=%llu", (unsigned long long)f->rfc822_size);
		if (f->have & MV_IMAP_F_MODSEQ)
			add(o, " modseq=%llu", (unsigned long long)f->modseq);
		if (f->have & MV_IMAP_F_BODY)
			add(o, " bodies=%u last=%llu%s%s", f->nbodies,
			    (unsigned long long)f->body_size,
			    f->body_literal8 ? " l8" : "",
			    f->body_nil ? " nil" : "");
		shape(!(f->have & MV_IMAP_F_BODY) == (f->nbodies == 0), "F_BODY");
	}
	if (r->type == MV_IMAP_OTHER) {
		add(o, " rest=[");
		esc(o, r->rest, r->rest_len);
		add(o, "]");
	}
	add(o, "\n");
}

/* ---- A sink that records and checks ---------------------------------- */

struct rec {
	struct mv_buf *out;
	int open;
	char item[MV_IMAP_MAX_ITEM + 1];
	uint32_t seq, uid;
	int l8;
	uint64_t size, got, fnv;
	size_t max_piece, pieces;
	uint8_t head[300];
	enum mv_err fail_begin, fail_data, fail_end;
};

static enum mv_err rec_begin(void *ctx, const struct mv_imap_body *b,
			     struct mv_error *e)
{
	struct rec *r = ctx;

	shape(!r->open, "begin while a body is open");
	shape(strlen(b->item) <= MV_IMAP_MAX_ITEM, "item length");
	snprintf(r->item, sizeof r->item, "%s", b->item);
	r->seq = b->seq;
	r->uid = b->uid;
	r->l8 = b->literal8;
	r->size = b->size;
	r->got = 0;
	r->fnv = 1469598103934665603u;
	r->open = 1;
	if (r->fail_begin)
		return mv_fail(e, r->fail_begin, "sink refuses to begin");
	return MV_OK;
}

static enum mv_err rec_data(void *ctx, const uint8_t *p, size_t n,
			    struct mv_error *e)
{
	struct rec *r = ctx;

	shape(r->open, "data outside a body");
	shape(n >= 1 && n <= MV_IMAP_PIECE, "piece size");
	shape(r->got + n <= r->size, "more data than announced");
	for (size_t i = 0; i < n; i++) {
		if (r->got + i < sizeof r->head)
			r->head[r->got + i] = p[i];
		r->fnv = (r->fnv ^ p[i]) * 1099511628211u;
	}
	r->got += n;
	r->pieces++;
	if (n > r->max_piece)
		r->max_piece = n;
	if (r->fail_data)
		return mv_fail(e, r->fail_data, "sink refuses data");
	return MV_OK;
}

static void rec_line(struct rec *r, const char *state)
{
	add(r->out, "  %s %s seq=%u uid=%u size=%llu%s got=", state, r->item,
	    r->seq, r->uid, (unsigned long long)r->size, r->l8 ? " l8" : "");
	if (r->got <= sizeof r->head) {
		add(r->out, "[");
		esc(r->out, r->head, (size_t)r->got);
		add(r->out, "]\n");
	} else {
		add(r->out, "%llu#%016llx\n", (unsigned long long)r->got,
		    (unsigned long long)r->fnv);
	}
}

static enum mv_err rec_end(void *ctx, struct mv_error *e)
{
	struct rec *r = ctx;

	shape(r->open, "end without begin");
	shape(r->got == r->size, "end before all the data");
	rec_line(r, "body");
	r->open = 0;
	if (r->fail_end)
		return mv_fail(e, r->fail_end, "sink refuses to end");
	return MV_OK;
}

/* ---- Running --------------------------------------------------------- */

struct opts {
	uint64_t max_body;
	int no_sink;
	int silent_fail;
	enum mv_err fail_at_end, fail_begin, fail_data, fail_end;
};

/*
 * Parses in[0..len) to its end in one read pattern and returns the
 * transcript (malloc'd).  The error, if any, is copied to *err.
 */
static char *transcript(const void *in, size_t len, int mode, uint32_t seed,
			const struct opts *o, struct mv_error *err)
{
	struct src s = { .data = in, .len = len, .mode = mode,
			 .rng = seed * 2654435761u + 1,
			 .fail_at_end = o->fail_at_end, .silent = o->silent_fail };
	struct mv_buf out;
	struct rec rec;
	struct mv_imap_body_sink sink = { rec_begin, rec_data, rec_end, &rec };
	struct mv_imap *p = NULL;
	const struct mv_imap_resp *r;
	struct mv_error e;
	enum mv_err rc;
	unsigned calls;

	mv_buf_init(&out, 64u << 20);
	memset(&rec, 0, sizeof rec);
	rec.out = &out;
	rec.fail_begin = o->fail_begin;
	rec.fail_data = o->fail_data;
	rec.fail_end = o->fail_end;
	mv_error_clear(&e);
	if (mv_imap_new(&p, src_read, &s, o->max_body ? o->max_body : 1u << 20,
			&e) != MV_OK)
		abort();
	mv_imap_set_body_sink(p, o->no_sink ? NULL : &sink);
	for (int i = 0; i < 100000; i++) {
		mv_error_clear(&e);
		rc = mv_imap_next_response(p, &r, &e);
		if (rc != MV_OK) {
			shape(r == NULL, "out set on error");
			shape(rc == e.code, "returned code vs e.code");
			break;
		}
		dump(&out, r);
	}
	if (rec.open)
		rec_line(&rec, "unfinished");
	if (e.code == MV_E_NET && strcmp(e.msg, "imap: connection closed") == 0)
		add(&out, "!eof\n");
	else
		add(&out, "!%s @%lld %s\n", mv_err_name(e.code),
		    (long long)e.offset, e.msg);
	if (err)
		*err = e;
	/* The error sticks, and nothing more is read. */
	calls = s.calls;
	mv_error_clear(&e);
	shape(mv_imap_next_response(p, &r, &e) == rc && e.code == rc &&
	      r == NULL && s.calls == calls, "error is not sticky");
	if (rc == MV_E_NET && s.pos == s.len && !o->fail_at_end)
		shape(mv_imap_bytes_read(p) == len, "bytes_read at the end");
	mv_imap_free(p);
	mv_buf_addc(&out, 0);
	return (char *)out.data;
}

/* Parses in every read pattern; all must agree.  Returns the whole-read
 * transcript. */
static char *parse_with(const void *in, size_t len, const struct opts *o,
			struct mv_error *err)
{
	char *t0 = transcript(in, len, WHOLE, 0, o, err);
	int same = 1;

	for (int m = 0; m < 7 && same; m++) {
		int mode = m == 0 ? ONE_BYTE : RANDOM;
		char *t;

		if (mode == ONE_BYTE && len > (4u << 20))
			continue;
		t = transcript(in, len, mode, (uint32_t)m, o, NULL);
		if (strcmp(t, t0) != 0) {
			same = 0;
			printf("mode %d differs:\n%s--- whole:\n%s", m, t, t0);
		}
		free(t);
	}
	T_ASSERT("all read patterns give the same transcript", same);
	return t0;
}

static char *parse(const char *in, size_t len)
{
	struct opts o = { 0 };

	return parse_with(in, len, &o, NULL);
}

static int check(const char *name, const char *got, const char *want)
{
	int ok = strcmp(got, want) == 0 && bad_shape == 0;

	if (!ok)
		printf("--- %s: got:\n%s--- want:\n%s---\n", name, got, want);
	T_CHECK(name, ok);
	bad_shape = 0;
	return ok;
}

#define S(lit) lit, sizeof lit - 1

/* Parses a string literal and compares the transcript. */
#define EXPECT(name, in, want)                                               \
	do {                                                                 \
		char *t_ = parse(S(in));                                     \
		check(name, t_, want);                                       \
		free(t_);                                                    \
	} while (0)

/* Parses and checks only the final error's name and where it points. */
static void expect_err(const char *name, const void *in, size_t len,
		       const struct opts *o, enum mv_err code,
		       const char *msg_has)
{
	struct opts o0 = { 0 };
	struct mv_error e;
	char *t = parse_with(in, len, o ? o : &o0, &e);
	int ok = e.code == code && (!msg_has || strstr(e.msg, msg_has)) &&
		 bad_shape == 0;

	if (!ok)
		printf("--- %s: want %s, got:\n%.2000s\n", name,
		       mv_err_name(code), t);
	T_CHECK(name, ok);
	bad_shape = 0;
	free(t);
}

#define EXPECT_ERR(name, in, code, msg_has)                                  \
	expect_err(name, S(in), NULL, code, msg_has)

/* Builds prefix, n copies of c, suffix into a fresh buffer. */
static char *fill_str(const char *prefix, char c, size_t n, const char *suffix,
		      size_t *len)
{
	size_t a = strlen(prefix), b = strlen(suffix);
	char *s = malloc(a + n + b + 1);

	if (!s)
		abort();
	memcpy(s, prefix, a);
	memset(s + a, c, n);
	memcpy(s + a + n, suffix, b + 1);
	*len = a + n + b;
	return s;
}

/* Parses prefix + n * c + suffix and checks the final error. */
static void limit_case(const char *name, const char *prefix, char c, size_t n,
		       const char *suffix, enum mv_err code, const char *msg_has)
{
	size_t len;
	char *s = fill_str(prefix, c, n, suffix, &len);

	expect_err(name, s, len, NULL, code, msg_has);
	free(s);
}

/* ---- A 50 MB body from a generator ----------------------------------- */

#define BIG ((uint64_t)50 << 20)

struct gen {
	const char *head, *tail;
	uint64_t pos, total;
	uint32_t rng;
};

static uint8_t gen_byte(uint64_t i)
{
	return (uint8_t)((i * 31 + 7) ^ (i >> 9));
}

static enum mv_err gen_read(void *ctx, uint8_t *buf, size_t cap, size_t *got,
			    struct mv_error *e)
{
	struct gen *g = ctx;
	size_t hl = strlen(g->head), n = 0;

	(void)e;
	if (g->rng && cap > 1)
		cap = 1 + rnd(&g->rng) % cap;
	while (n < cap && g->pos < g->total) {
		uint64_t i = g->pos;

		if (i < hl)
			buf[n] = (uint8_t)g->head[i];
		else if (i < hl + BIG)
			buf[n] = gen_byte(i - hl);
		else
			buf[n] = (uint8_t)g->tail[i - hl - BIG];
		n++;
		g->pos++;
	}
	*got = n;
	return MV_OK;
}

static long max_rss_kb(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

static void big_body(void)
{
	struct gen g = { "* 1 FETCH (UID 9 BODY[] {52428800}\r\n",
			 ")\r\na1 OK done\r\n", 0, 0, 0x1234567u };
	struct mv_buf out;
	struct rec rec;
	struct mv_imap_body_sink sink = { rec_begin, rec_data, rec_end, &rec };
	struct mv_imap *p = NULL;
	const struct mv_imap_resp *r;
	struct mv_error e;
	uint64_t fnv = 1469598103934665603u;
	long rss0 = max_rss_kb();
	int ok;

	g.total = strlen(g.head) + BIG + strlen(g.tail);
	for (uint64_t i = 0; i < BIG; i++)
		fnv = (fnv ^ gen_byte(i)) * 1099511628211u;
	mv_buf_init(&out, 1 << 20);
	memset(&rec, 0, sizeof rec);
	rec.out = &out;
	mv_error_clear(&e);
	ok = mv_imap_new(&p, gen_read, &g, BIG, &e) == MV_OK;
	mv_imap_set_body_sink(p, &sink);
	ok = ok && mv_imap_next_response(p, &r, &e) == MV_OK &&
	     r->type == MV_IMAP_FETCH && r->fetch.body_size == BIG &&
	     r->fetch.uid == 9;
	ok = ok && mv_imap_next_response(p, &r, &e) == MV_OK &&
	     r->type == MV_IMAP_OK;
	T_CHECK("50 MB body streams to the sink in pieces", ok && bad_shape == 0 &&
		rec.got == BIG && rec.fnv == fnv && rec.max_piece <= MV_IMAP_PIECE &&
		rec.pieces >= BIG / MV_IMAP_PIECE);
	/* Peak memory would grow by 50 MB if the body were held anywhere. */
	T_CHECK("50 MB body is never held in memory",
		max_rss_kb() - rss0 < 16 * 1024);
	T_CHECK("bytes_read counts the whole stream",
		mv_imap_bytes_read(p) == g.total);
	mv_imap_free(p);
	mv_buf_release(&out);
	bad_shape = 0;
}

/* ---- Parsing one response for direct inspection ---------------------- */

struct one {
	struct src s;
	struct mv_imap *p;
	const struct mv_imap_resp *r;
	struct mv_error e;
};

static int one(struct one *o, const char *in)
{
	memset(o, 0, sizeof *o);
	o->s.data = (const uint8_t *)in;
	o->s.len = strlen(in);
	mv_error_clear(&o->e);
	if (mv_imap_new(&o->p, src_read, &o->s, 1000, &o->e) != MV_OK)
		return 0;
	return mv_imap_next_response(o->p, &o->r, &o->e) == MV_OK;
}

/* ---- The tests ------------------------------------------------------- */

static void status_responses(void)
{
	EXPECT("greeting with [CAPABILITY]",
	       "* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n",
	       "U OK code=CAPABILITY arg=[IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ AUTH=PLAIN] "
	       "text=[Dovecot ready.] atoms=[IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ AUTH=PLAIN]\n"
	       "!eof\n");
	EXPECT("SELECT: counts, codes with numbers, FLAGS, PERMANENTFLAGS",
	       "* 172 EXISTS\r\n"
	       "* 1 RECENT\r\n"
	       "* OK [UNSEEN 12] Message 12 is first unseen\r\n"
	       "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
	       "* OK [UIDNEXT 4392] Predicted next UID\r\n"
	       "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
	       "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
	       "* OK [HIGHESTMODSEQ 715194045007] Highest\r\n"
	       "* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences\r\n"
	       "A142 OK [READ-WRITE] SELECT completed\r\n",
	       "U EXISTS num=172\n"
	       "U RECENT num=1\n"
	       "U OK code=UNSEEN arg=[12] n=12 text=[Message 12 is first unseen]\n"
	       "U OK code=UIDVALIDITY arg=[3857529045] n=3857529045 text=[UIDs valid]\n"
	       "U OK code=UIDNEXT arg=[4392] n=4392 text=[Predicted next UID]\n"
	       "U FLAGS atoms=[\\Answered \\Flagged \\Deleted \\Seen \\Draft]\n"
	       "U OK code=PERMANENTFLAGS arg=[(\\Deleted \\Seen \\*)] text=[Limited] atoms=[\\Deleted \\Seen \\*]\n"
	       "U OK code=HIGHESTMODSEQ arg=[715194045007] n=715194045007 text=[Highest]\n"
	       "U OK code=NOMODSEQ text=[Sorry, this mailbox format doesn't support modsequences]\n"
	       "T OK tag=A142 code=READ-WRITE text=[SELECT completed]\n"
	       "!eof\n");
	EXPECT("APPENDUID and COPYUID numbers",
	       "a3 OK [APPENDUID 38505 3955] APPEND completed\r\n"
	       "a4 OK [APPENDUID 38505 3955:3957] done\r\n"
	       "a5 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
	       "T OK tag=a3 code=APPENDUID arg=[38505 3955] n=38505 n=3955 text=[APPEND completed]\n"
	       "T OK tag=a4 code=APPENDUID arg=[38505 3955:3957] n=38505 text=[done]\n"
	       "T OK tag=a5 code=COPYUID arg=[38505 304,319:320 3956:3958] n=38505 text=[Done]\n"
	       "!eof\n");
	EXPECT("resp-text: no text, bare code, '[' that is not a code, case",
	       "a6 NO\r\n"
	       "a7 BAD [ALERT]\r\n"
	       "a8 OK [not a code\r\n"
	       "a9 OK [] empty\r\n"
	       "b1 OK [X ]y\r\n"
	       "b2 OK see [ALERT] later\r\n"
	       "b3 OK [ALERT] \r\n"
	       "b4 ok [uidnext 7] lower\r\n"
	       "b5 OK [ALERT]no space\r\n"
	       "]] OK tag of resp-specials\r\n",
	       "T NO tag=a6\n"
	       "T BAD tag=a7 code=ALERT\n"
	       "T OK tag=a8 text=[[not a code]\n"
	       "T OK tag=a9 text=[[] empty]\n"
	       "T OK tag=b1 text=[[X ]y]\n"
	       "T OK tag=b2 text=[see [ALERT] later]\n"
	       "T OK tag=b3 code=ALERT\n"
	       "T OK tag=b4 code=UIDNEXT arg=[7] n=7 text=[lower]\n"
	       "T OK tag=b5 code=ALERT text=[no space]\n"
	       "T OK tag=]] text=[tag of resp-specials]\n"
	       "!eof\n");
	EXPECT("continuations",
	       "+ idling\r\n"
	       "+\r\n"
	       "+ YWJj\r\n"
	       "+ [ALERT] hi\r\n",
	       "C NONE text=[idling]\n"
	       "C NONE\n"
	       "C NONE text=[YWJj]\n"
	       "C NONE code=ALERT text=[hi]\n"
	       "!eof\n");
	EXPECT("PREAUTH, BYE, untagged NO and BAD; UTF-8 text",
	       "* PREAUTH [CAPABILITY IMAP4rev1] Logged in as Smith\r\n"
	       "* NO [ALERT] disk full\r\n"
	       "* BAD junk \xc3\xa9\r\n"
	       "* BYE Autologout; idle for too long\r\n",
	       "U PREAUTH code=CAPABILITY arg=[IMAP4rev1] text=[Logged in as Smith] atoms=[IMAP4rev1]\n"
	       "U NO code=ALERT text=[disk full]\n"
	       "U BAD text=[junk \\xc3\\xa9]\n"
	       "U BYE text=[Autologout; idle for too long]\n"
	       "!eof\n");
}

static void throttling(void)
{
	uint32_t ms = 7;

	EXPECT("throttling: Gmail's code, Gmail's suffix, Microsoft 365's text",
	       "a1 NO [THROTTLED] Too many simultaneous connections\r\n"
	       "* BAD Account exceeded command or bandwidth limits. [THROTTLED]\r\n"
	       "a2 NO Some messages could not be FETCHed (Failure) [THROTTLED] \r\n"
	       "a3 BAD Request is throttled. Suggested Backoff Time: 1234 milliseconds\r\n"
	       "a4 NO Request is throttled.\r\n"
	       "a5 OK [THROTTLED]\r\n"
	       "a6 OK not [THROTTLED] at the end\r\n"
	       "* BYE [throttled] bye\r\n"
	       "+ [THROTTLED] not a status response\r\n",
	       "T NO tag=a1 code=THROTTLED text=[Too many simultaneous connections] throttled\n"
	       "U BAD text=[Account exceeded command or bandwidth limits. [THROTTLED]] throttled\n"
	       "T NO tag=a2 text=[Some messages could not be FETCHed (Failure) [THROTTLED] ] throttled\n"
	       "T BAD tag=a3 text=[Request is throttled. Suggested Backoff Time: 1234 milliseconds] throttled backoff=1234\n"
	       "T NO tag=a4 text=[Request is throttled.] throttled\n"
	       "T OK tag=a5 code=THROTTLED throttled\n"
	       "T OK tag=a6 text=[not [THROTTLED] at the end]\n"
	       "U BYE code=THROTTLED text=[bye] throttled\n"
	       "C NONE code=THROTTLED text=[not a status response]\n"
	       "!eof\n");
	T_CHECK("backoff: found",
		mv_imap_backoff_ms("Suggested Backoff Time: 250 milliseconds", &ms) && ms == 250);
	T_CHECK("backoff: case and 'ms'",
		mv_imap_backoff_ms("x suggested backoff time:5 MS.", &ms) && ms == 5);
	T_CHECK("backoff: capped at UINT32_MAX",
		mv_imap_backoff_ms("Suggested Backoff Time: 99999999999999999999999 milliseconds", &ms) &&
		ms == UINT32_MAX);
	ms = 7;
	T_CHECK("backoff: no number, wrong unit, NULL",
		!mv_imap_backoff_ms("Suggested Backoff Time: milliseconds", &ms) &&
		!mv_imap_backoff_ms("Suggested Backoff Time: 12 seconds", &ms) &&
		!mv_imap_backoff_ms("Suggested Backoff Time: 12 msec", &ms) &&
		!mv_imap_backoff_ms(NULL, &ms) && ms == 7);
}

static void data_responses(void)
{
	struct one o;

	EXPECT("CAPABILITY and ENABLED",
	       "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 "
	       "XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER\r\n"
	       "* ENABLED CONDSTORE QRESYNC\r\n"
	       "* ENABLED\r\n"
	       "* capability IMAP4rev1  BINARY \r\n",
	       "U CAPABILITY atoms=[IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 "
	       "XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER]\n"
	       "U ENABLED atoms=[CONDSTORE QRESYNC]\n"
	       "U ENABLED\n"
	       "U CAPABILITY atoms=[IMAP4rev1 BINARY]\n"
	       "!eof\n");
	T_CHECK("has_atom ignores ASCII case",
		one(&o, "* CAPABILITY IMAP4rev1 AUTH=PLAIN binary\r\n") &&
		mv_imap_has_atom(o.r, "imap4REV1") && mv_imap_has_atom(o.r, "BINARY") &&
		mv_imap_has_atom(o.r, "auth=plain") && !mv_imap_has_atom(o.r, "AUTH") &&
		!mv_imap_has_atom(o.r, "IMAP4rev2") && !mv_imap_has_atom(NULL, "x"));
	mv_imap_free(o.p);
	EXPECT("LIST and LSUB: delimiters, atom, quoted and literal names, extended data",
	       "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
	       "* LIST (\\Noselect \\HasChildren) \".\" \"Public Folders\"\r\n"
	       "* LIST () NIL {11}\r\nfoo bar baz\r\n"
	       "* LIST (\\HasNoChildren) \"\\\\\" \"a\\\\b \\\"q\\\"\"\r\n"
	       "* LIST (\\Subscribed) \"/\" \"x\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
	       "* LSUB () \".\" #news.comp.mail.misc\r\n"
	       "* LIST (\\HasNoChildren \\All) \"/\" \"[Gmail]/All Mail\"\r\n"
	       "* LIST (\\HasNoChildren) \"/\" [Gmail]/Sent\r\n"
	       "* LIST (\\HasNoChildren) \"/\" \"&AOk-t&AOk-\"\r\n"
	       "* LIST ( \\Marked ) \"/\" \"caf\xc3\xa9\"\r\n"
	       "* LIST () \"/\" \"\"\r\n"
	       "* list (\\hasnochildren) nil x \r\n",
	       "U LIST atoms=[\\HasNoChildren] delim=/ mailbox=[INBOX]\n"
	       "U LIST atoms=[\\Noselect \\HasChildren] delim=. mailbox=[Public Folders]\n"
	       "U LIST delim=NIL mailbox=[foo bar baz]\n"
	       "U LIST atoms=[\\HasNoChildren] delim=\\ mailbox=[a\\b \"q\"]\n"
	       "U LIST atoms=[\\Subscribed] delim=/ mailbox=[x]\n"
	       "U LSUB delim=. mailbox=[#news.comp.mail.misc]\n"
	       "U LIST atoms=[\\HasNoChildren \\All] delim=/ mailbox=[[Gmail]/All Mail]\n"
	       "U LIST atoms=[\\HasNoChildren] delim=/ mailbox=[[Gmail]/Sent]\n"
	       "U LIST atoms=[\\HasNoChildren] delim=/ mailbox=[&AOk-t&AOk-]\n"
	       "U LIST atoms=[\\Marked] delim=/ mailbox=[caf\\xc3\\xa9]\n"
	       "U LIST delim=/ mailbox=[]\n"
	       "U LIST atoms=[\\hasnochildren] delim=NIL mailbox=[x]\n"
	       "!eof\n");
	EXPECT("STATUS: every attribute, unknown ones skipped, literal name",
	       "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
	       "* STATUS \"INBOX\" (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY 4294967295 UNSEEN 0 "
	       "DELETED 3 SIZE 9223372036854775807 HIGHESTMODSEQ 0 X-GUID (abc (def)) MAILBOXID (F12))\r\n"
	       "* STATUS {5}\r\nA B C ()\r\n"
	       "* STATUS INBOX (messages 1) \r\n",
	       "U STATUS mailbox=[blurdybloop] messages=231 uidnext=44292\n"
	       "U STATUS mailbox=[INBOX] messages=0 recent=0 uidnext=1 uidvalidity=4294967295 unseen=0 "
	       "deleted=3 size=9223372036854775807 highestmodseq=0\n"
	       "U STATUS mailbox=[A B C]\n"
	       "U STATUS mailbox=[INBOX] messages=1\n"
	       "!eof\n");
	EXPECT("EXISTS, RECENT, EXPUNGE",
	       "* 0 EXISTS\r\n"
	       "* 4294967295 EXISTS\r\n"
	       "* 3 EXPUNGE\r\n"
	       "* 22 recent\r\n",
	       "U EXISTS num=0\n"
	       "U EXISTS num=4294967295\n"
	       "U EXPUNGE num=3\n"
	       "U RECENT num=22\n"
	       "!eof\n");
	EXPECT("VANISHED with and without EARLIER; the set walks",
	       "* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n"
	       "* VANISHED 405,407,410,425\r\n"
	       "* VANISHED 9:3\r\n"
	       "* vanished (earlier) 4294967295\r\n",
	       "U VANISHED earlier set=41,43:116,118,120:211,214:540 ranges=41-41;43-116;118-118;120-211;214-540;\n"
	       "U VANISHED set=405,407,410,425 ranges=405-405;407-407;410-410;425-425;\n"
	       "U VANISHED set=9:3 ranges=3-9;\n"
	       "U VANISHED earlier set=4294967295 ranges=4294967295-4294967295;\n"
	       "!eof\n");
	{
		const char *s = "1:2,x";
		uint32_t lo = 0, hi = 0;
		int ok = mv_imap_set_next(&s, &lo, &hi) && lo == 1 && hi == 2 &&
			 !mv_imap_set_next(&s, &lo, &hi);

		s = "";
		ok = ok && !mv_imap_set_next(&s, &lo, &hi);
		s = "0";
		ok = ok && !mv_imap_set_next(&s, &lo, &hi);
		s = "4294967296";
		ok = ok && !mv_imap_set_next(&s, &lo, &hi);
		s = "5:";
		ok = ok && !mv_imap_set_next(&s, &lo, &hi);
		s = "5x";
		ok = ok && !mv_imap_set_next(&s, &lo, &hi) && strcmp(s, "5x") == 0;
		s = "1:4294967296";
		ok = ok && !mv_imap_set_next(&s, &lo, &hi);
		T_CHECK("set_next stops on malformed sets", ok);
		s = "7:5,9 COUNT 4";
		ok = mv_imap_set_next(&s, &lo, &hi) && lo == 5 && hi == 7 &&
		     mv_imap_set_next(&s, &lo, &hi) && lo == 9 && hi == 9 &&
		     strcmp(s, " COUNT 4") == 0 && !mv_imap_set_next(&s, &lo, &hi);
		T_CHECK("set_next walks a set followed by other text (ESEARCH)", ok);
	}
	EXPECT("OTHER: name and rest exactly as sent, literals inline",
	       "* SEARCH 2 84 882\r\n"
	       "* SEARCH\r\n"
	       "* ESEARCH (TAG \"a1\") UID ALL 1:3\r\n"
	       "* ID (\"name\" \"Dovecot\" \"x\" {3}\r\nabc)\r\n"
	       "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
	       "* 5 XFOO ~{2}\r\n\0z and {1}\r\n\r\r\n"
	       "* XAPPLEPUSHSERVICE\r\n"
	       "* METADATA \"INBOX\" (/private/comment \"text {3}\")\r\n",
	       "U OTHER name=SEARCH rest=[2 84 882]\n"
	       "U OTHER name=SEARCH rest=[]\n"
	       "U OTHER name=ESEARCH rest=[(TAG \"a1\") UID ALL 1:3]\n"
	       "U OTHER name=ID rest=[(\"name\" \"Dovecot\" \"x\" {3}\\r\\nabc)]\n"
	       "U OTHER name=NAMESPACE rest=[((\"\" \"/\")) NIL NIL]\n"
	       "U OTHER name=XFOO num=5 rest=[~{2}\\r\\n\\x00z and {1}\\r\\n\\r]\n"
	       "U OTHER name=XAPPLEPUSHSERVICE rest=[]\n"
	       "U OTHER name=METADATA rest=[\"INBOX\" (/private/comment \"text {3}\")]\n"
	       "!eof\n");
}

static void fetches(void)
{
	EXPECT("Dovecot FETCH: every item, \\Recent noted not kept, body streamed",
	       "* 3 FETCH (UID 7 FLAGS (\\Seen $Forwarded \\Recent) INTERNALDATE \"01-Jan-2020 10:00:00 +0000\" "
	       "RFC822.SIZE 12 MODSEQ (5) BODY[] {12}\r\nHello world!)\r\n"
	       "a1 OK Fetch completed (0.001 + 0.000 secs).\r\n",
	       "  body BODY[] seq=3 uid=7 size=12 got=[Hello world!]\n"
	       "U FETCH num=3 atoms=[\\Seen $Forwarded] uid=7 FLAGS recent "
	       "date=[01-Jan-2020 10:00:00 +0000] size=12 modseq=5 bodies=1 last=12\n"
	       "T OK tag=a1 text=[Fetch completed (0.001 + 0.000 secs).]\n"
	       "!eof\n");
	EXPECT("untagged responses interleaved between FETCHes",
	       "* 1 FETCH (UID 10 BODY[] {5}\r\nhello)\r\n"
	       "* 2 EXISTS\r\n"
	       "* 1 EXPUNGE\r\n"
	       "* 1 FETCH (BODY[] {0}\r\n UID 11)\r\n"
	       "* OK [HIGHESTMODSEQ 9] x\r\n"
	       "* 2 FETCH (FLAGS (\\Seen) UID 12)\r\n"
	       "* 3 FETCH (UID 13 BODY[] {3}\r\n)\r\n FLAGS (\\Recent \\recent))\r\n"
	       "a1 OK done\r\n",
	       "  body BODY[] seq=1 uid=10 size=5 got=[hello]\n"
	       "U FETCH num=1 uid=10 bodies=1 last=5\n"
	       "U EXISTS num=2\n"
	       "U EXPUNGE num=1\n"
	       "  body BODY[] seq=1 uid=0 size=0 got=[]\n"
	       "U FETCH num=1 uid=11 bodies=1 last=0\n"
	       "U OK code=HIGHESTMODSEQ arg=[9] n=9 text=[x]\n"
	       "U FETCH num=2 atoms=[\\Seen] uid=12 FLAGS\n"
	       "  body BODY[] seq=3 uid=13 size=3 got=[)\\r\\n]\n"
	       "U FETCH num=3 uid=13 FLAGS recent bodies=1 last=3\n"
	       "T OK tag=a1 text=[done]\n"
	       "!eof\n");
	EXPECT("Gmail FETCH: X-GM items skipped, header section item",
	       "* 1 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334865 "
	       "X-GM-LABELS (\\Inbox \"\\\\Important\" \"Work/Q1\") UID 4 RFC822.SIZE 1234 "
	       "BODY[HEADER.FIELDS (FROM SUBJECT)] {20}\r\nFrom: a@b\r\nSubj: x\r\n FLAGS (\\Seen))\r\n",
	       "  body BODY[HEADER.FIELDS (FROM SUBJECT)] seq=1 uid=4 size=20 got=[From: a@b\\r\\nSubj: x\\r\\n]\n"
	       "U FETCH num=1 atoms=[\\Seen] uid=4 FLAGS size=1234 bodies=1 last=20\n"
	       "!eof\n");
	EXPECT("ENVELOPE, BODY and BODYSTRUCTURE skipped: nesting, NIL, a literal holding ')'",
	       "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 "
	       "ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" {26}\r\nIMAP4rev1 WG mtg (summary) "
	       "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
	       "\"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	       "((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
	       "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") "
	       "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92) "
	       "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)"
	       "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
	       "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) \"MIXED\") "
	       "EMAILID (M6d99ac3275bb4e) THREADID NIL X-Q \"a \\\" ) (\" UID 99)\r\n",
	       "U FETCH num=12 atoms=[\\Seen] uid=99 FLAGS date=[17-Jul-1996 02:44:25 -0700] size=4286\n"
	       "!eof\n");
	EXPECT("several bodies: section, origin, quoted, literal8 with NUL, NIL",
	       "* 5 FETCH (UID 50 BODY[HEADER] {4}\r\nH: 1 BODY[TEXT]<0> \"quoted \\\"body\\\" \\\\ ok\" "
	       "BINARY[1] ~{5}\r\na\0" "b\r\n RFC822 NIL BODY[1.MIME] NIL)\r\n",
	       "  body BODY[HEADER] seq=5 uid=50 size=4 got=[H: 1]\n"
	       "  body BODY[TEXT]<0> seq=5 uid=50 size=18 got=[quoted \"body\" \\ ok]\n"
	       "  body BINARY[1] seq=5 uid=50 size=5 l8 got=[a\\x00b\\r\\n]\n"
	       "U FETCH num=5 uid=50 bodies=5 last=0 nil\n"
	       "!eof\n");
	EXPECT("item names upper-cased up to '[', sections as sent, BINARY.SIZE skipped",
	       "* 6 FETCH (uid 7 body[header.fields (from)] {0}\r\n rfc822 {1}\r\nx binary.size[1] 77 "
	       "rfc822.header {2}\r\nab Rfc822.Text \"t\" BODY[HEADER.FIELDS (\"X]Y\")] {1}\r\nz "
	       "BODY[]<1024> ~{1}\r\nq)\r\n",
	       "  body BODY[header.fields (from)] seq=6 uid=7 size=0 got=[]\n"
	       "  body RFC822 seq=6 uid=7 size=1 got=[x]\n"
	       "  body RFC822.HEADER seq=6 uid=7 size=2 got=[ab]\n"
	       "  body RFC822.TEXT seq=6 uid=7 size=1 got=[t]\n"
	       "  body BODY[HEADER.FIELDS (\"X]Y\")] seq=6 uid=7 size=1 got=[z]\n"
	       "  body BODY[]<1024> seq=6 uid=7 size=1 l8 got=[q]\n"
	       "U FETCH num=6 uid=7 bodies=6 last=1 l8\n"
	       "!eof\n");
	EXPECT("FETCH spacing slack; an 8-bit keyword; empty FLAGS",
	       "* 8 FETCH ( UID 1  FLAGS ()  )  \r\n"
	       "* 9 FETCH (FLAGS ($Label\xc3\xa9 \\Flagged))\r\n",
	       "U FETCH num=8 uid=1 FLAGS\n"
	       "U FETCH num=9 atoms=[$Label\\xc3\\xa9 \\Flagged] FLAGS\n"
	       "!eof\n");
	{
		/* A 200 KB body comes in pieces no bigger than MV_IMAP_PIECE. */
		size_t n = 200000, len;
		char *in = fill_str("* 1 FETCH (BODY[] {200000}\r\n", 'x', n, ")\r\n", &len);
		uint64_t fnv = 1469598103934665603u;
		char want[256];
		char *t;

		for (size_t i = 0; i < n; i++)
			fnv = (fnv ^ 'x') * 1099511628211u;
		snprintf(want, sizeof want,
			 "  body BODY[] seq=1 uid=0 size=200000 got=200000#%016llx\n"
			 "U FETCH num=1 bodies=1 last=200000\n!eof\n",
			 (unsigned long long)fnv);
		t = parse(in, len);
		check("200 KB body in pieces of at most MV_IMAP_PIECE", t, want);
		free(t);
		free(in);
	}
	{
		struct opts o = { .no_sink = 1 };
		char *t = parse_with(S("* 1 FETCH (UID 3 BODY[] {5}\r\nhello)\r\n"), &o, NULL);

		check("no sink: the body is read and dropped", t,
		      "U FETCH num=1 uid=3 bodies=1 last=5\n!eof\n");
		free(t);
	}
}

static void errors(void)
{
	struct opts o = { 0 };
	char *t;

	/* Where: "byte N" counts from the response's first byte; @ is the
	 * offset in the stream. */
	EXPECT("garbage: an HTTP reply, with where it failed",
	       "* OK hi\r\nHTTP/1.1 200 OK\r\n",
	       "U OK text=[hi]\n"
	       "!parse @21 imap response, byte 12: tagged response is not OK, NO or BAD\n");
	EXPECT("garbage: NUL first",
	       "\0\1",
	       "!parse @0 imap response, byte 0: expected tag (got 0x00)\n");
	EXPECT_ERR("bare LF ends nothing", "* OK hi\n", MV_E_PARSE, "bare LF");
	EXPECT_ERR("CR without LF", "* OK hi\rX\r\n", MV_E_PARSE, "LF after CR");
	EXPECT_ERR("NUL in text", "* OK h\0i\r\n", MV_E_PARSE, "NUL");
	EXPECT_ERR("'*' without a name", "a1 OK\r\n* \r\n", MV_E_PARSE, "response name");
	EXPECT_ERR("')' is not a tag", ")\r\n", MV_E_PARSE, "tag");
	EXPECT_ERR("tag without status", "a1\r\n", MV_E_PARSE, "SP after the tag");
	EXPECT_ERR("tagged PREAUTH", "a1 PREAUTH x\r\n", MV_E_PARSE, "not OK, NO or BAD");
	EXPECT_ERR("status glued to text", "a1 OKAY\r\n", MV_E_PARSE, "not OK, NO or BAD");
	EXPECT_ERR("non-synchronising literal from the server",
		   "* LIST () \"/\" {3+}\r\nabc\r\n", MV_E_PARSE, "non-synchronising");
	EXPECT_ERR("non-synchronising literal in OTHER",
		   "* XFOO {3+}\r\nabc\r\n", MV_E_PARSE, "non-synchronising");
	EXPECT_ERR("bad quoted escape", "* LIST () \"/\" \"a\\b\"\r\n", MV_E_PARSE, "escape");
	EXPECT_ERR("quoted string across CRLF", "* LIST () \"/\" \"a\r\nb\"\r\n",
		   MV_E_PARSE, "unterminated");
	EXPECT_ERR("NUL in a literal mailbox name", "* LIST () \"/\" {3}\r\na\0b\r\n",
		   MV_E_PARSE, "NUL in mailbox");
	EXPECT_ERR("two-byte delimiter", "* LIST (\\Noselect) \"ab\" x\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("delimiter neither quoted nor NIL", "* LIST () NOL x\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("LIST without a name", "* LIST (\\Noselect) \"/\" \r\n", MV_E_PARSE, "mailbox");
	EXPECT_ERR("\\* outside PERMANENTFLAGS", "* FLAGS (\\*)\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("lone backslash flag", "* 1 FETCH (FLAGS (\\))\r\n", MV_E_PARSE, "flag");
	EXPECT_ERR("FETCH 0", "* 0 FETCH (UID 1)\r\n", MV_E_PARSE, "message number 0");
	EXPECT_ERR("EXPUNGE 0", "* 0 EXPUNGE\r\n", MV_E_PARSE, "message number 0");
	EXPECT_ERR("UID 0", "* 1 FETCH (UID 0)\r\n", MV_E_PARSE, "UID is 0");
	EXPECT_ERR("an item given twice", "* 1 FETCH (UID 1 UID 2)\r\n", MV_E_PARSE, "twice");
	EXPECT_ERR("FLAGS given twice", "* 1 FETCH (FLAGS () FLAGS ())\r\n", MV_E_PARSE, "twice");
	EXPECT_ERR("FETCH not closed", "* 1 FETCH (UID 1\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("bytes after FETCH", "* 1 FETCH (UID 1)(\r\n", MV_E_PARSE, "CRLF");
	EXPECT_ERR("'~' without literal", "* 1 FETCH (BODY[] ~3}\r\n", MV_E_PARSE, "'~'");
	EXPECT_ERR("body that is an atom", "* 1 FETCH (BODY[] xyz)\r\n", MV_E_PARSE, "body");
	EXPECT_ERR("body NIX", "* 1 FETCH (BODY[] NIX)\r\n", MV_E_PARSE, "body");
	EXPECT_ERR("unterminated section", "* 1 FETCH (BODY[ {3}\r\nabc)\r\n", MV_E_PARSE, "section");
	EXPECT_ERR("empty origin", "* 1 FETCH (BODY[]<> {1}\r\nx)\r\n", MV_E_PARSE, "origin");
	EXPECT_ERR("unclosed origin", "* 1 FETCH (BODY[]<5 {1}\r\nx)\r\n", MV_E_PARSE, "'>'");
	EXPECT_ERR("MODSEQ without parentheses", "* 1 FETCH (MODSEQ 5)\r\n", MV_E_PARSE, "'('");
	EXPECT_ERR("unterminated skipped list", "* 1 FETCH (X-FOO (a (b c)\r\n", MV_E_PARSE, "list");
	EXPECT_ERR("FETCH without items", "* 1 FETCH\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("[UIDNEXT 0]", "* OK [UIDNEXT 0] x\r\n", MV_E_PARSE, "UIDNEXT");
	EXPECT_ERR("[UIDNEXT abc]", "* OK [UIDNEXT abc] x\r\n", MV_E_PARSE, "UIDNEXT");
	EXPECT_ERR("[UIDVALIDITY 2^32]", "* OK [UIDVALIDITY 4294967296] x\r\n", MV_E_LIMIT, "UIDVALIDITY");
	EXPECT_ERR("[HIGHESTMODSEQ 2^63]", "* OK [HIGHESTMODSEQ 9223372036854775808] x\r\n",
		   MV_E_LIMIT, NULL);
	EXPECT_ERR("[UIDNEXT] without a number", "* OK [UIDNEXT] x\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("[PERMANENTFLAGS] without a list", "* OK [PERMANENTFLAGS \\Seen] x\r\n",
		   MV_E_PARSE, "PERMANENTFLAGS");
	EXPECT_ERR("[APPENDUID 0 1]", "a1 OK [APPENDUID 0 1] x\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("[APPENDUID] with one number", "a1 OK [APPENDUID 5] x\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("STATUS attribute twice", "* STATUS INBOX (MESSAGES 1 MESSAGES 2)\r\n",
		   MV_E_PARSE, "twice");
	EXPECT_ERR("STATUS UIDNEXT 0", "* STATUS INBOX (UIDNEXT 0)\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("STATUS MESSAGES 2^32", "* STATUS INBOX (MESSAGES 4294967296)\r\n", MV_E_LIMIT, NULL);
	EXPECT_ERR("STATUS attribute without value", "* STATUS INBOX (MESSAGES)\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("VANISHED 0", "* VANISHED 0\r\n", MV_E_PARSE, "VANISHED");
	EXPECT_ERR("VANISHED 2^32", "* VANISHED 4294967296\r\n", MV_E_LIMIT, "VANISHED");
	EXPECT_ERR("VANISHED 1,,2", "* VANISHED 1,,2\r\n", MV_E_PARSE, "VANISHED");
	EXPECT_ERR("VANISHED 1:", "* VANISHED 1:\r\n", MV_E_PARSE, "VANISHED");
	EXPECT_ERR("VANISHED *", "* VANISHED *\r\n", MV_E_PARSE, "VANISHED");
	EXPECT_ERR("VANISHED (LATER)", "* VANISHED (LATER) 1\r\n", MV_E_PARSE, "EARLIER");
	EXPECT_ERR("VANISHED without a set", "* VANISHED\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("EXISTS with more", "* 3 EXISTS x\r\n", MV_E_PARSE, NULL);
	EXPECT_ERR("NUL in a quoted string", "* LIST () \"/\" \"a\0b\"\r\n", MV_E_PARSE,
		   "NUL in a quoted string");
	EXPECT_ERR("bad escape in the delimiter", "* LIST () \"\\x\" a\r\n", MV_E_PARSE,
		   "delimiter");
	EXPECT_ERR("empty delimiter", "* LIST () \"\" a\r\n", MV_E_PARSE, "delimiter");
	EXPECT_ERR("flags not separated", "* FLAGS (\\Seen\"x\")\r\n", MV_E_PARSE, "flag list");
	EXPECT_ERR("status list not separated", "* STATUS a (MESSAGES 1,UIDNEXT 2)\r\n",
		   MV_E_PARSE, "status list");
	EXPECT_ERR("malformed [CAPABILITY]", "* OK [CAPABILITY IMAP4rev1 a\\b] x\r\n",
		   MV_E_PARSE, "malformed capabilities");
	EXPECT_ERR("[PERMANENTFLAGS (\\)]", "* OK [PERMANENTFLAGS (\\)] x\r\n", MV_E_PARSE,
		   "malformed flags");
	EXPECT_ERR("VANISHED 1:2:3", "* VANISHED 1:2:3\r\n", MV_E_PARSE, "VANISHED");
	EXPECT_ERR("bare LF in OTHER", "* XFOO a\nb\r\n", MV_E_PARSE, "bare LF");
	EXPECT_ERR("NUL in OTHER outside literals", "* XFOO a\0b\r\n", MV_E_PARSE, "NUL");
	EXPECT_ERR("FETCH item that is a string", "* 1 FETCH (\"x\" 1)\r\n", MV_E_PARSE,
		   "expected a FETCH item");
	EXPECT_ERR("bad escape in a section", "* 1 FETCH (BODY[HEADER.FIELDS (\"a\\b\")] NIL)\r\n",
		   MV_E_PARSE, "escape in a section");
	EXPECT_ERR("UID that is not a number", "* 1 FETCH (UID x)\r\n", MV_E_PARSE, "expected UID");
	EXPECT_ERR("skipped item without a value", "* 1 FETCH (X-B )\r\n", MV_E_PARSE,
		   "expected a value");
	EXPECT("a skipped token may start with '~'", "* 1 FETCH (X-A ~x X-B ~)\r\n",
	       "U FETCH num=1\n!eof\n");
	EXPECT_ERR("OTHER glued to '('", "* XFOO(1)\r\n", MV_E_PARSE, NULL);

	/* The connection closing. */
	EXPECT("disconnect mid-literal in a body: begin without end",
	       "* 1 FETCH (UID 7 BODY[] {100}\r\nabc",
	       "  unfinished BODY[] seq=1 uid=7 size=100 got=[abc]\n"
	       "!net @34 imap response, byte 34: connection closed mid-literal\n");
	EXPECT_ERR("disconnect mid-literal in a name", "* LIST () \"/\" {10}\r\nabc",
		   MV_E_NET, "mid-literal");
	EXPECT_ERR("disconnect mid-literal in OTHER", "* SEARCH {5}\r\nab", MV_E_NET, "mid-literal");
	EXPECT_ERR("disconnect mid-literal in a skipped item",
		   "* 1 FETCH (ENVELOPE ({5}\r\nab", MV_E_NET, "mid-literal");
	EXPECT_ERR("disconnect mid-response", "* 1 FETCH (UID 7", MV_E_NET, "mid-response");
	EXPECT_ERR("disconnect before CRLF", "a1 OK done", MV_E_NET, "mid-response");
	EXPECT_ERR("disconnect after CR", "a1 OK done\r", MV_E_NET, "mid-response");
	EXPECT("nothing at all", "", "!eof\n");
	EXPECT("BYE then close", "* BYE server shutting down\r\n",
	       "U BYE text=[server shutting down]\n!eof\n");

	/* Callback failures pass through with their own code. */
	o.fail_at_end = MV_E_TLS;
	t = parse_with(S("* 1 FETCH (BODY[] {10}\r\nabc"), &o, NULL);
	check("read callback failure mid-body passes through", t,
	      "  unfinished BODY[] seq=1 uid=0 size=10 got=[abc]\n"
	      "!tls @27 imap response, byte 27: reading: test reader fails\n");
	free(t);
	o.fail_at_end = MV_E_NET;
	expect_err("read callback MV_E_NET between responses", S("a1 OK x\r\n"), &o,
		   MV_E_NET, "test reader fails");
	o.fail_at_end = MV_E_TLS;
	o.silent_fail = 1;
	t = parse_with(S("a1 OK x"), &o, NULL);
	check("read callback that fails without a message", t, "!tls @7 imap response, byte 7: reading failed\n");
	free(t);
	{
		struct src s = { .data = (const uint8_t *)"", .overrun = 1 };
		struct mv_imap *p = NULL;
		const struct mv_imap_resp *r;
		struct mv_error e;

		mv_error_clear(&e);
		T_CHECK("a read callback claiming more than asked is an internal error",
			mv_imap_new(&p, src_read, &s, 1, &e) == MV_OK &&
			mv_imap_next_response(p, &r, &e) == MV_E_INTERNAL &&
			strstr(e.msg, "read callback claims"));
		mv_imap_free(p);
	}
	memset(&o, 0, sizeof o);
	o.fail_data = MV_E_IO;
	{
		/* How much the sink saw depends on the reads: check both. */
		char *t1 = transcript(S("* 1 FETCH (BODY[] {3}\r\nabc)\r\n* 2 EXISTS\r\n"),
				      ONE_BYTE, 0, &o, NULL);

		t = transcript(S("* 1 FETCH (BODY[] {3}\r\nabc)\r\n* 2 EXISTS\r\n"),
			       WHOLE, 0, &o, NULL);
		check("sink data failure: no end, error returned", t,
		      "  unfinished BODY[] seq=1 uid=0 size=3 got=[abc]\n"
		      "!io @23 imap response, byte 23: the body sink: sink refuses data\n");
		check("sink data failure on the first of 1-byte pieces", t1,
		      "  unfinished BODY[] seq=1 uid=0 size=3 got=[a]\n"
		      "!io @23 imap response, byte 23: the body sink: sink refuses data\n");
		free(t);
		free(t1);
	}
	memset(&o, 0, sizeof o);
	o.fail_begin = MV_E_NOMEM;
	t = parse_with(S("* 1 FETCH (BODY[] {3}\r\nabc)\r\n"), &o, NULL);
	check("sink begin failure", t,
	      "  unfinished BODY[] seq=1 uid=0 size=3 got=[]\n"
	      "!nomem @23 imap response, byte 23: the body sink: sink refuses to begin\n");
	free(t);
	memset(&o, 0, sizeof o);
	o.fail_end = MV_E_IO;
	t = parse_with(S("* 1 FETCH (BODY[] {3}\r\nabc)\r\n"), &o, NULL);
	check("sink end failure", t,
	      "  body BODY[] seq=1 uid=0 size=3 got=[abc]\n"
	      "!io @26 imap response, byte 26: the body sink: sink refuses to end\n");
	free(t);
}

static void limits(void)
{
	struct opts o = { 0 };
	char *t;
	size_t len;
	char *s;

	/* MV_IMAP_MAX_TAG */
	limit_case("64-byte tag", "", 't', 64, " OK x\r\n", MV_E_NET, "connection closed");
	limit_case("65-byte tag", "", 't', 65, " OK x\r\n", MV_E_LIMIT, "tag over 64");

	/* MV_IMAP_MAX_ATOM_LEN: flags, capabilities, a LIST attribute. */
	limit_case("255-byte flag", "* FLAGS (\\", 'f', 254, ")\r\n", MV_E_NET, "connection closed");
	limit_case("256-byte flag", "* FLAGS (\\", 'f', 255, ")\r\n", MV_E_LIMIT, "flag over 255");
	limit_case("255-byte capability", "* CAPABILITY ", 'C', 255, "\r\n", MV_E_NET, "connection closed");
	limit_case("256-byte capability", "* CAPABILITY ", 'C', 256, "\r\n", MV_E_LIMIT, "over 255");
	limit_case("256-byte [CAPABILITY] atom", "* OK [CAPABILITY ", 'C', 256, "] x\r\n",
		   MV_E_LIMIT, "over 255");
	limit_case("256-byte LIST attribute", "* LIST (\\", 'a', 255, ") \"/\" x\r\n",
		   MV_E_LIMIT, "over 255");
	limit_case("256-byte response name", "* ", 'N', 256, "\r\n", MV_E_LIMIT, "over 255");
	limit_case("256-byte response code", "* OK [", 'C', 256, "] x\r\n", MV_E_LIMIT,
		   "response code over 255");

	/* MV_IMAP_MAX_ATOMS */
	{
		char *a = malloc(300 * 8 + 100), *b = malloc(300 * 8 + 100);
		size_t n = 0, m = 0;

		n += (size_t)sprintf(a + n, "* CAPABILITY");
		m += (size_t)sprintf(b + m, "* 1 FETCH (FLAGS (\\Recent");
		for (int i = 0; i < 256; i++) {
			n += (size_t)sprintf(a + n, " C%d", i);
			m += (size_t)sprintf(b + m, " k%d", i);
		}
		strcpy(a + n, "\r\n");
		strcpy(b + m, "))\r\n");
		expect_err("256 capabilities", a, n + 2, NULL, MV_E_NET, "connection closed");
		expect_err("256 flags and \\Recent", b, m + 4, NULL, MV_E_NET, "connection closed");
		strcpy(a + n, " C256\r\n");
		strcpy(b + m, " k256))\r\n");
		expect_err("257 capabilities", a, n + 7, NULL, MV_E_LIMIT, "more than 256");
		expect_err("257 flags", b, m + 9, NULL, MV_E_LIMIT, "more than 256");
		n = (size_t)sprintf(a, "* OK [PERMANENTFLAGS (");
		for (int i = 0; i < 257; i++)
			n += (size_t)sprintf(a + n, "%sk%d", i ? " " : "", i);
		n += (size_t)sprintf(a + n, ")] x\r\n");
		expect_err("257 PERMANENTFLAGS", a, n, NULL, MV_E_LIMIT, "more than 256");
		free(a);
		free(b);
	}

	/* MV_IMAP_MAX_LINE, CRLF included, and literals start a new line. */
	limit_case("line of exactly MV_IMAP_MAX_LINE", "* OK ", 'x', MV_IMAP_MAX_LINE - 7, "\r\n",
		   MV_E_NET, "connection closed");
	limit_case("line one byte over", "* OK ", 'x', MV_IMAP_MAX_LINE - 6, "\r\n",
		   MV_E_LIMIT, "line over 1048576");
	limit_case("skipped item line over", "* 1 FETCH (X-PAD ", 'x', MV_IMAP_MAX_LINE, ")\r\n",
		   MV_E_LIMIT, "line over");
	{
		/* Two near-limit segments around a literal are fine. */
		size_t k = MV_IMAP_MAX_LINE - 40;
		char *a = malloc(2 * k + 200);
		size_t n = 0;

		n += (size_t)sprintf(a, "* 1 FETCH (X-PAD ");
		memset(a + n, 'x', k);
		n += k;
		n += (size_t)sprintf(a + n, " BODY[] {3}\r\nabc X-PAD2 ");
		memset(a + n, 'y', k);
		n += k;
		n += (size_t)sprintf(a + n, ")\r\n");
		t = parse(a, n);
		check("a literal starts a new line", t,
		      "  body BODY[] seq=1 uid=0 size=3 got=[abc]\n"
		      "U FETCH num=1 bodies=1 last=3\n!eof\n");
		free(t);
		free(a);
	}

	/* MV_IMAP_MAX_STRING for quoted strings and kept or skipped literals. */
	limit_case("64 KiB quoted name", "* LIST () \"/\" \"", 'q', MV_IMAP_MAX_STRING, "\"\r\n",
		   MV_E_NET, "connection closed");
	limit_case("quoted name over 64 KiB", "* LIST () \"/\" \"", 'q', MV_IMAP_MAX_STRING + 1,
		   "\"\r\n", MV_E_LIMIT, "quoted string over 65536");
	limit_case("64 KiB literal name", "* LIST () \"/\" {65536}\r\n", 'q', MV_IMAP_MAX_STRING,
		   "\r\n", MV_E_NET, "connection closed");
	EXPECT("literal name over 64 KiB fails before its bytes are read",
	       "* LIST () \"/\" {65537}\r\n",
	       "!limit @21 imap response, byte 21: mailbox name literal of 65537 bytes over the limit of 65536\n");
	EXPECT_ERR("skipped literal over 64 KiB", "* 1 FETCH (X-FOO {65537}\r\n", MV_E_LIMIT, "65537");
	EXPECT_ERR("OTHER literal over 64 KiB", "* XFOO {65537}\r\n", MV_E_LIMIT, "65537");
	EXPECT_ERR("literal size over 2^63", "* XFOO {99999999999999999999}\r\n", MV_E_LIMIT, NULL);
	EXPECT_ERR("skipped literal size over 2^63", "* 1 FETCH (X-FOO {99999999999999999999}\r\n",
		   MV_E_LIMIT, "literal size over");

	/* MV_IMAP_MAX_RESPONSE: literals in OTHER add up. */
	{
		size_t cap = 40 * (MV_IMAP_MAX_STRING + 20), n;
		char *a = malloc(cap);

		for (int count = 31; count <= 32; count++) {
			n = (size_t)sprintf(a, "* XFOO");
			for (int i = 0; i < count; i++) {
				n += (size_t)sprintf(a + n, " {65536}\r\n");
				memset(a + n, 'z', MV_IMAP_MAX_STRING);
				n += MV_IMAP_MAX_STRING;
			}
			n += (size_t)sprintf(a + n, "\r\n");
			if (count == 31)
				expect_err("31 literals of 64 KiB in one response", a, n, NULL,
					   MV_E_NET, "connection closed");
			else
				expect_err("32 literals of 64 KiB: over MV_IMAP_MAX_RESPONSE", a, n,
					   NULL, MV_E_LIMIT, "response keeps over 2097152");
		}
		free(a);
	}

	/* MV_IMAP_MAX_DEPTH counts the FETCH list itself. */
	{
		char a[400];
		size_t n;

		for (int k = 63; k <= 64; k++) {
			n = (size_t)sprintf(a, "* 1 FETCH (BODYSTRUCTURE ");
			memset(a + n, '(', (size_t)k);
			n += (size_t)k;
			a[n++] = 'x';
			memset(a + n, ')', (size_t)k);
			n += (size_t)k;
			n += (size_t)sprintf(a + n, " UID 5)\r\n");
			if (k == 63)
				expect_err("lists nested 64 deep", a, n, NULL, MV_E_NET,
					   "connection closed");
			else
				expect_err("lists nested 65 deep", a, n, NULL, MV_E_LIMIT,
					   "nested over 64");
		}
	}

	/* MV_IMAP_MAX_ITEM */
	limit_case("1024-byte FETCH item", "* 1 FETCH (BODY[HEADER.FIELDS (", 'A', 1002, ")] NIL)\r\n",
		   MV_E_NET, "connection closed");
	limit_case("1025-byte FETCH item", "* 1 FETCH (BODY[HEADER.FIELDS (", 'A', 1003, ")] NIL)\r\n",
		   MV_E_LIMIT, "item name over 1024");

	/* max_body, and a huge size announced: refused before any byte of it. */
	o.max_body = 100;
	s = fill_str("* 1 FETCH (BODY[] {100}\r\n", 'b', 100, ")\r\n", &len);
	expect_err("body of exactly max_body", s, len, &o, MV_E_NET, "connection closed");
	free(s);
	s = fill_str("* 1 FETCH (BODY[] {101}\r\n", 'b', 101, ")\r\n", &len);
	expect_err("body over max_body", s, len, &o, MV_E_LIMIT, "body literal of 101 bytes");
	free(s);
	s = fill_str("* 1 FETCH (BODY[] \"", 'b', 101, "\")\r\n", &len);
	expect_err("quoted body over max_body", s, len, &o, MV_E_LIMIT, "body of 101 bytes");
	free(s);
	o.max_body = 1u << 20;
	t = parse_with(S("* 1 FETCH (UID 1 BODY[] {9223372036854775807}\r\n"), &o, NULL);
	check("a 2^63-1 byte body is refused before it is read", t,
	      "!limit @45 imap response, byte 45: body literal of 9223372036854775807 bytes over the limit of 1048576\n");
	free(t);

	/* Numbers. */
	EXPECT("largest UID, RFC822.SIZE and MODSEQ",
	       "* 1 FETCH (UID 4294967295 RFC822.SIZE 9223372036854775807 MODSEQ (9223372036854775807))\r\n",
	       "U FETCH num=1 uid=4294967295 size=9223372036854775807 modseq=9223372036854775807\n!eof\n");
	EXPECT_ERR("UID 2^32", "* 1 FETCH (UID 4294967296)\r\n", MV_E_LIMIT, "UID over 4294967295");
	EXPECT_ERR("RFC822.SIZE 2^63", "* 1 FETCH (RFC822.SIZE 9223372036854775808)\r\n",
		   MV_E_LIMIT, "RFC822.SIZE over");
	EXPECT_ERR("MODSEQ 2^63", "* 1 FETCH (MODSEQ (9223372036854775808))\r\n", MV_E_LIMIT, "MODSEQ");
	EXPECT_ERR("EXISTS 2^32", "* 4294967296 EXISTS\r\n", MV_E_LIMIT, "message number");
	EXPECT_ERR("origin over 2^63", "* 1 FETCH (BODY[]<99999999999999999999> NIL)\r\n",
		   MV_E_LIMIT, "origin");
}

static void api(void)
{
	struct mv_imap *p = (struct mv_imap *)1;
	const struct mv_imap_resp *r = (const struct mv_imap_resp *)1;
	struct mv_error e;
	struct src s = { .data = (const uint8_t *)"* 1 FETCH (BODY[] {1}\r\na)\r\n"
		"* 2 FETCH (BODY[] {1}\r\nb)\r\n* 3 FETCH (BODY[] {1}\r\nc)\r\n"
		"junk\r\n* 4 EXISTS\r\n", .mode = WHOLE };
	struct mv_buf out;
	struct rec rec;
	struct mv_imap_body_sink sink = { rec_begin, rec_data, rec_end, &rec };
	unsigned calls;
	int ok;

	s.len = strlen((const char *)s.data);
	mv_error_clear(&e);
	T_CHECK("new: NULL read is a usage error",
		mv_imap_new(&p, NULL, NULL, 1, &e) == MV_E_USAGE && p == NULL);
	mv_error_clear(&e);
	T_CHECK("new: max_body 0 is a usage error",
		mv_imap_new(&p, src_read, &s, 0, &e) == MV_E_USAGE && e.code == MV_E_USAGE);
	mv_error_clear(&e);
	T_CHECK("next_response: NULL parser is a usage error",
		mv_imap_next_response(NULL, &r, &e) == MV_E_USAGE && r == NULL);
	mv_imap_free(NULL);
	{
		/* e may be NULL: the codes still come back. */
		struct src s2 = { .data = (const uint8_t *)"* 1 EXISTS\r\n)\r\n", .len = 14 };

		ok = mv_imap_new(&p, src_read, &s2, 1, NULL) == MV_OK &&
		     mv_imap_next_response(p, &r, NULL) == MV_OK && r->num == 1 &&
		     mv_imap_next_response(p, &r, NULL) == MV_E_PARSE &&
		     mv_imap_next_response(p, &r, NULL) == MV_E_PARSE;
		T_CHECK("a NULL error record is allowed", ok);
		mv_imap_free(p);
	}

	/* The sink set takes effect from the next response; NULL discards. */
	mv_buf_init(&out, 1 << 20);
	memset(&rec, 0, sizeof rec);
	rec.out = &out;
	mv_error_clear(&e);
	ok = mv_imap_new(&p, src_read, &s, 10, &e) == MV_OK;
	mv_imap_set_body_sink(p, &sink);
	ok = ok && mv_imap_next_response(p, &r, &e) == MV_OK && r->fetch.body_size == 1;
	mv_imap_set_body_sink(p, NULL);
	ok = ok && mv_imap_next_response(p, &r, &e) == MV_OK && r->fetch.nbodies == 1;
	mv_imap_set_body_sink(p, &sink);
	ok = ok && mv_imap_next_response(p, &r, &e) == MV_OK;
	mv_buf_addc(&out, 0);
	T_CHECK("set_body_sink applies per response",
		ok && strcmp((char *)out.data,
			     "  body BODY[] seq=1 uid=0 size=1 got=[a]\n"
			     "  body BODY[] seq=3 uid=0 size=1 got=[c]\n") == 0);

	/* After an error, nothing more is read and the code repeats. */
	mv_error_clear(&e);
	ok = mv_imap_next_response(p, &r, &e) == MV_E_PARSE && r == NULL;
	calls = s.calls;
	mv_error_clear(&e);
	ok = ok && mv_imap_next_response(p, &r, &e) == MV_E_PARSE &&
	     e.code == MV_E_PARSE && strstr(e.msg, "out of step") && s.calls == calls;
	T_CHECK("errors are sticky and read nothing more", ok);
	mv_imap_free(p);
	mv_buf_release(&out);
}

int main(void)
{
	big_body();   /* first, so that peak memory is still low */
	status_responses();
	throttling();
	data_responses();
	fetches();
	errors();
	limits();
	api();
	return T_DONE();
}
