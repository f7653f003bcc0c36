/*
 * imap_parse.c - a streaming reader of IMAP server responses; the contract
 * is imap_parse.h.
 *
 * Bytes arrive through one fixed buffer (RBUF_SIZE) that the read callback
 * refills, and the grammar (RFC 9051 section 9, with RFC 3516 literal8 and
 * RFC 7162 MODSEQ/VANISHED) is walked by recursive descent with one byte of
 * look-ahead.  Nothing holds a response whole: what the caller gets back is
 * copied into a per-response arena capped at MV_IMAP_MAX_RESPONSE, and a
 * body literal goes from the read buffer straight to the sink.  The arena
 * may move while it grows, so the parser keeps offsets into it and
 * finish() turns them into pointers once the response is complete.
 *
 * Where real servers stray from the grammar and the meaning stays plain
 * (spaces before CRLF or around list items, "+" without text, a status
 * without text, 8-bit bytes in atoms and quoted strings), we accept.
 * Where a wrong guess would put the stream out of step (a bare LF, a
 * non-synchronising literal, an unknown escape) we refuse.
 */
#include "imap_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define RBUF_SIZE (64u << 10)
#define NOSTR SIZE_MAX
#define MAX_U32 UINT64_C(0xffffffff)
#define MAX_U63 UINT64_C(0x7fffffffffffffff)

/* Passes a failure up; whoever failed has already filled e. */
#define TRY(x)                                                               \
	do {                                                                 \
		enum mv_err rc_ = (x);                                       \
		if (rc_ != MV_OK)                                            \
			return rc_;                                          \
	} while (0)

struct mv_imap {
	mv_imap_read_fn read;
	void *read_ctx;
	uint64_t max_body;
	struct mv_imap_body_sink sink;      /* for the response being read */
	struct mv_imap_body_sink next_sink; /* takes over at the next one */
	enum mv_err err;                    /* sticky: the first failure */

	size_t rpos, rlen;                  /* unread bytes: rbuf[rpos..rlen) */
	uint64_t consumed;                  /* bytes taken from the stream */
	uint64_t start;                     /* stream offset of this response */
	size_t line_len;                    /* bytes of this line, literals apart */

	struct mv_buf arena;                /* what the caller gets, NUL-ended */
	struct mv_buf tmp;                  /* the atom or string being read */
	struct mv_buf line;                 /* the resp-text being read */
	size_t off_tag, off_name, off_code, off_arg, off_text;
	size_t off_mailbox, off_set, off_date, off_rest;
	size_t natoms;
	size_t atom_off[MV_IMAP_MAX_ATOMS];
	const char *atom_ptr[MV_IMAP_MAX_ATOMS];
	char item[MV_IMAP_MAX_ITEM + 1];    /* the FETCH item being read */
	size_t item_len;
	struct mv_imap_resp resp;
	uint8_t rbuf[RBUF_SIZE];
};

/* ---- Errors ---------------------------------------------------------- */

static enum mv_err fail_at(struct mv_imap *p, struct mv_error *e,
			   enum mv_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Fails with a message saying where in the response we were. */
static enum mv_err fail_at(struct mv_imap *p, struct mv_error *e,
			   enum mv_err code, const char *fmt, ...)
{
	char what[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	mv_fail(e, code, "imap response, byte %llu: %s",
		(unsigned long long)(p->consumed - p->start), what);
	if (e)
		e->offset = (int64_t)p->consumed;
	return code;
}

/* A callback failed with rc: its message stays, we add where. */
static enum mv_err callback_failed(struct mv_imap *p, struct mv_error *e,
				   enum mv_err rc, const char *who)
{
	if (e && e->code != MV_OK)
		mv_error_prefix(e, "imap response, byte %llu: %s",
				(unsigned long long)(p->consumed - p->start), who);
	else
		mv_fail(e, rc, "imap response, byte %llu: %s failed",
			(unsigned long long)(p->consumed - p->start), who);
	if (e)
		e->offset = (int64_t)p->consumed;
	return rc;
}

/* ---- Characters ------------------------------------------------------ */

static uint8_t upc(uint8_t c)
{
	return c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
}

static int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* ATOM-CHAR: any CHAR but atom-specials.  8-bit bytes pass: servers put
 * UTF-8 in keywords and unquoted names, and they cannot confuse the
 * framing. */
static int is_atom(uint8_t c)
{
	return c > 0x20 && c != 0x7f && !strchr("(){%*\"\\]", c);
}

static int is_astring(uint8_t c)
{
	return is_atom(c) || c == ']';
}

/* list-char: mailbox names in LIST may carry wildcards unquoted. */
static int is_listchar(uint8_t c)
{
	return is_astring(c) || c == '%' || c == '*';
}

static int is_tag(uint8_t c)
{
	return is_astring(c) && c != '+';
}

/* A token we skip without interpreting: anything up to a delimiter. */
static int is_bare(uint8_t c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '"';
}

static int prefix_ci(const char *s, const char *pre)
{
	for (; *pre; s++, pre++)
		if (upc((uint8_t)*s) != upc((uint8_t)*pre))
			return 0;
	return 1;
}

static int eq_ci(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (upc((uint8_t)*a) != upc((uint8_t)*b))
			return 0;
	return *a == *b;
}

static int contains_ci(const char *s, const char *needle)
{
	for (; *s; s++)
		if (prefix_ci(s, needle))
			return 1;
	return 0;
}

/* Parses all of s[0..n) as a decimal number in 0..max (1..max with nz):
 * MV_OK, MV_E_PARSE (not a number, or zero with nz) or MV_E_LIMIT. */
static enum mv_err mem_num(const char *s, size_t n, uint64_t max, int nz,
			   uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return MV_E_PARSE;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)((uint8_t)s[i] - '0');

		if (d > 9)
			return MV_E_PARSE;
		if (v > (max - d) / 10)
			return MV_E_LIMIT;
		v = v * 10 + d;
	}
	if (nz && v == 0)
		return MV_E_PARSE;
	*out = v;
	return MV_OK;
}

/* ---- Input ----------------------------------------------------------- */

/* Makes at least one unread byte available. */
static enum mv_err fill(struct mv_imap *p, int in_literal, struct mv_error *e)
{
	size_t got = 0;
	enum mv_err rc;

	if (p->rpos < p->rlen)
		return MV_OK;
	p->rpos = p->rlen = 0;
	rc = p->read(p->read_ctx, p->rbuf, sizeof p->rbuf, &got, e);
	if (rc != MV_OK)
		return callback_failed(p, e, rc, "reading");
	if (got > sizeof p->rbuf)
		return fail_at(p, e, MV_E_INTERNAL,
			       "the read callback claims %zu bytes of %zu",
			       got, sizeof p->rbuf);
	if (got == 0) {
		if (in_literal)
			return fail_at(p, e, MV_E_NET,
				       "connection closed mid-literal");
		if (p->consumed == p->start) {
			mv_fail(e, MV_E_NET, "imap: connection closed");
			if (e)
				e->offset = (int64_t)p->consumed;
			return MV_E_NET;
		}
		return fail_at(p, e, MV_E_NET, "connection closed mid-response");
	}
	p->rlen = got;
	return MV_OK;
}

static enum mv_err peek(struct mv_imap *p, uint8_t *c, struct mv_error *e)
{
	TRY(fill(p, 0, e));
	*c = p->rbuf[p->rpos];
	return MV_OK;
}

/* Consumes the byte peek() showed, counting it against the line limit. */
static enum mv_err skip1(struct mv_imap *p, struct mv_error *e)
{
	if (p->line_len >= MV_IMAP_MAX_LINE)
		return fail_at(p, e, MV_E_LIMIT, "line over %u bytes",
			       MV_IMAP_MAX_LINE);
	p->line_len++;
	p->rpos++;
	p->consumed++;
	return MV_OK;
}

static enum mv_err expect(struct mv_imap *p, uint8_t want, const char *what,
			  struct mv_error *e)
{
	uint8_t c;

	TRY(peek(p, &c, e));
	if (c != want)
		return fail_at(p, e, MV_E_PARSE, "expected %s (got 0x%02x)",
			       what, c);
	return skip1(p, e);
}

static enum mv_err crlf(struct mv_imap *p, struct mv_error *e)
{
	TRY(expect(p, '\r', "CRLF", e));
	return expect(p, '\n', "LF after CR", e);
}

/* The end of a line, after any spaces. */
static enum mv_err eol(struct mv_imap *p, struct mv_error *e)
{
	uint8_t c;

	for (;;) {
		TRY(peek(p, &c, e));
		if (c != ' ')
			return crlf(p, e);
		TRY(skip1(p, e));
	}
}

/* ---- Keeping bytes --------------------------------------------------- */

static enum mv_err buf_add(struct mv_imap *p, struct mv_buf *b, const void *s,
			   size_t n, struct mv_error *e)
{
	enum mv_err rc = mv_buf_add(b, s, n);

	if (rc == MV_E_LIMIT)
		return fail_at(p, e, rc, "more than %zu bytes to keep", b->max);
	if (rc != MV_OK)
		return fail_at(p, e, rc, "out of memory");
	return MV_OK;
}

/* Copies s[0..n) and a NUL into the arena; *off says where. */
static enum mv_err keep(struct mv_imap *p, const void *s, size_t n,
			size_t *off, struct mv_error *e)
{
	size_t at = p->arena.len;

	if (n >= MV_IMAP_MAX_RESPONSE - p->arena.len)
		return fail_at(p, e, MV_E_LIMIT, "response keeps over %u bytes",
			       MV_IMAP_MAX_RESPONSE);
	TRY(buf_add(p, &p->arena, s, n, e));
	TRY(buf_add(p, &p->arena, "", 1, e));
	*off = at;
	return MV_OK;
}

static enum mv_err add_atom(struct mv_imap *p, const void *s, size_t n,
			    const char *what, struct mv_error *e)
{
	if (p->natoms == MV_IMAP_MAX_ATOMS)
		return fail_at(p, e, MV_E_LIMIT, "more than %u %s",
			       MV_IMAP_MAX_ATOMS, what);
	if (n > MV_IMAP_MAX_ATOM_LEN)
		return fail_at(p, e, MV_E_LIMIT, "%s over %u bytes", what,
			       MV_IMAP_MAX_ATOM_LEN);
	TRY(keep(p, s, n, &p->atom_off[p->natoms], e));
	p->natoms++;
	return MV_OK;
}

/* p->tmp as a C string ("" when empty). */
static enum mv_err tmp_str(struct mv_imap *p, const char **s,
			   struct mv_error *e)
{
	if (mv_buf_cstr(&p->tmp) != MV_OK)
		return fail_at(p, e, MV_E_NOMEM, "out of memory");
	*s = (const char *)p->tmp.data;
	return MV_OK;
}

/* ---- Tokens ---------------------------------------------------------- */

/* Appends 1 or more bytes of class ok to p->tmp, which may not pass max
 * bytes in all. */
static enum mv_err read_chars(struct mv_imap *p, int (*ok)(uint8_t),
			      size_t max, const char *what, struct mv_error *e)
{
	size_t n = 0;
	uint8_t c;

	for (;;) {
		TRY(peek(p, &c, e));
		if (!ok(c))
			break;
		if (p->tmp.len >= max)
			return fail_at(p, e, MV_E_LIMIT, "%s over %zu bytes",
				       what, max);
		TRY(buf_add(p, &p->tmp, &c, 1, e));
		TRY(skip1(p, e));
		n++;
	}
	if (n == 0)
		return fail_at(p, e, MV_E_PARSE, "expected %s (got 0x%02x)",
			       what, c);
	return MV_OK;
}

/* An atom, upper-cased, into p->tmp as a C string. */
static enum mv_err read_name(struct mv_imap *p, const char *what,
			     const char **s, struct mv_error *e)
{
	mv_buf_reset(&p->tmp);
	TRY(read_chars(p, is_atom, MV_IMAP_MAX_ATOM_LEN, what, e));
	for (size_t i = 0; i < p->tmp.len; i++)
		p->tmp.data[i] = upc(p->tmp.data[i]);
	return tmp_str(p, s, e);
}

static enum mv_err read_nil(struct mv_imap *p, const char *what,
			    struct mv_error *e)
{
	const char *s;

	TRY(read_name(p, what, &s, e));
	if (strcmp(s, "NIL") != 0)
		return fail_at(p, e, MV_E_PARSE, "expected %s", what);
	return MV_OK;
}

/* A number in 0..max (1..max with nz). */
static enum mv_err number(struct mv_imap *p, uint64_t max, int nz,
			  const char *what, uint64_t *out, struct mv_error *e)
{
	uint64_t v = 0;
	size_t n = 0;
	uint8_t c;

	for (;;) {
		TRY(peek(p, &c, e));
		if (!is_digit(c))
			break;
		if (v > (max - (unsigned)(c - '0')) / 10)
			return fail_at(p, e, MV_E_LIMIT, "%s over %llu", what,
				       (unsigned long long)max);
		v = v * 10 + (unsigned)(c - '0');
		TRY(skip1(p, e));
		n++;
	}
	if (n == 0)
		return fail_at(p, e, MV_E_PARSE, "expected %s (got 0x%02x)",
			       what, c);
	if (nz && v == 0)
		return fail_at(p, e, MV_E_PARSE, "%s is 0", what);
	*out = v;
	return MV_OK;
}

/*
 * A quoted string, opening quote next; the unescaped bytes go to `to`
 * (NULL: counted only).  Only \" and \\ are escapes (RFC 9051 quoted).
 */
static enum mv_err quoted(struct mv_imap *p, struct mv_buf *to,
			  struct mv_error *e)
{
	size_t n = 0;
	uint8_t c;

	TRY(expect(p, '"', "'\"'", e));
	for (;;) {
		TRY(peek(p, &c, e));
		if (c == '"')
			return skip1(p, e);
		if (c == '\\') {
			TRY(skip1(p, e));
			TRY(peek(p, &c, e));
			if (c != '"' && c != '\\')
				return fail_at(p, e, MV_E_PARSE,
					       "bad escape in a quoted string");
		} else if (c == '\r' || c == '\n') {
			return fail_at(p, e, MV_E_PARSE,
				       "unterminated quoted string");
		} else if (c == 0) {
			return fail_at(p, e, MV_E_PARSE,
				       "NUL in a quoted string");
		}
		if (n >= MV_IMAP_MAX_STRING)
			return fail_at(p, e, MV_E_LIMIT,
				       "quoted string over %u bytes",
				       MV_IMAP_MAX_STRING);
		if (to)
			TRY(buf_add(p, to, &c, 1, e));
		TRY(skip1(p, e));
		n++;
	}
}

/*
 * After '{': the size, '}' and CRLF.  A size over max fails before any
 * byte of the literal is read.  The literal's bytes are not part of any
 * line; what follows them starts a new one.
 */
static enum mv_err literal_head(struct mv_imap *p, uint64_t max,
				const char *what, uint64_t *n,
				struct mv_error *e)
{
	uint8_t c;

	TRY(number(p, MAX_U63, 0, "literal size", n, e));
	TRY(peek(p, &c, e));
	if (c == '+')
		return fail_at(p, e, MV_E_PARSE,
			       "non-synchronising literal from the server");
	TRY(expect(p, '}', "'}'", e));
	if (*n > max)
		return fail_at(p, e, MV_E_LIMIT,
			       "%s literal of %llu bytes over the limit of %llu",
			       what, (unsigned long long)*n,
			       (unsigned long long)max);
	TRY(crlf(p, e));
	p->line_len = 0;
	return MV_OK;
}

/* The n bytes of a literal, into `to` or (NULL) nowhere. */
static enum mv_err literal_data(struct mv_imap *p, uint64_t n,
				struct mv_buf *to, struct mv_error *e)
{
	while (n > 0) {
		size_t k;

		TRY(fill(p, 1, e));
		k = p->rlen - p->rpos;
		if (k > n)
			k = (size_t)n;
		if (to)
			TRY(buf_add(p, to, p->rbuf + p->rpos, k, e));
		p->rpos += k;
		p->consumed += k;
		n -= k;
	}
	return MV_OK;
}

/*
 * astring (atom_ok) or string into p->tmp: quoted, literal, or atom.
 * These are names and dates, so a NUL in one is refused.
 */
static enum mv_err read_string(struct mv_imap *p, int atom_ok,
			       const char *what, struct mv_error *e)
{
	uint64_t n;
	uint8_t c;

	mv_buf_reset(&p->tmp);
	TRY(peek(p, &c, e));
	if (c == '"') {
		TRY(quoted(p, &p->tmp, e));
	} else if (c == '{') {
		TRY(skip1(p, e));
		TRY(literal_head(p, MV_IMAP_MAX_STRING, what, &n, e));
		TRY(literal_data(p, n, &p->tmp, e));
	} else if (atom_ok && is_listchar(c)) {
		TRY(read_chars(p, is_listchar, MV_IMAP_MAX_STRING, what, e));
	} else {
		return fail_at(p, e, MV_E_PARSE, "expected %s (got 0x%02x)",
			       what, c);
	}
	if (p->tmp.len && memchr(p->tmp.data, 0, p->tmp.len))
		return fail_at(p, e, MV_E_PARSE, "NUL in %s", what);
	return MV_OK;
}

/* One value we do not interpret, not a list: quoted, literal, literal8 or
 * a bare token such as a number, NIL or "\Seen". */
static enum mv_err skip_scalar(struct mv_imap *p, struct mv_error *e)
{
	uint64_t n;
	size_t len = 0;
	uint8_t c;

	TRY(peek(p, &c, e));
	if (c == '"')
		return quoted(p, NULL, e);
	if (c == '~') {
		TRY(skip1(p, e));
		len++;
		TRY(peek(p, &c, e));
	}
	if (c == '{') {
		TRY(skip1(p, e));
		TRY(literal_head(p, MV_IMAP_MAX_STRING, "skipped", &n, e));
		return literal_data(p, n, NULL, e);
	}
	for (;;) {
		TRY(peek(p, &c, e));
		if (!is_bare(c))
			break;
		TRY(skip1(p, e));
		len++;
	}
	if (len == 0)
		return fail_at(p, e, MV_E_PARSE, "expected a value (got 0x%02x)",
			       c);
	return MV_OK;
}

/*
 * One value we do not interpret, lists included (BODYSTRUCTURE, ENVELOPE,
 * X-GM-LABELS...), at list depth `depth`.  Iterative, so the depth limit
 * is the only bound on nesting and the C stack never grows with it.
 */
static enum mv_err skip_value(struct mv_imap *p, unsigned depth,
			      struct mv_error *e)
{
	unsigned level = 0;
	uint8_t c;

	TRY(peek(p, &c, e));
	if (c != '(')
		return skip_scalar(p, e);
	for (;;) {
		TRY(peek(p, &c, e));
		if (c == '(') {
			if (depth + level + 1 > MV_IMAP_MAX_DEPTH)
				return fail_at(p, e, MV_E_LIMIT,
					       "lists nested over %u deep",
					       MV_IMAP_MAX_DEPTH);
			TRY(skip1(p, e));
			level++;
		} else if (c == ')') {
			TRY(skip1(p, e));
			if (--level == 0)
				return MV_OK;
		} else if (c == ' ') {
			TRY(skip1(p, e));
		} else if (c == '\r' || c == '\n') {
			return fail_at(p, e, MV_E_PARSE, "unterminated list");
		} else {
			TRY(skip_scalar(p, e));
		}
	}
}

/* A flag, "\" atom or atom, into p->tmp. */
static enum mv_err read_flag(struct mv_imap *p, struct mv_error *e)
{
	uint8_t c;

	mv_buf_reset(&p->tmp);
	TRY(peek(p, &c, e));
	if (c == '\\') {
		TRY(buf_add(p, &p->tmp, &c, 1, e));
		TRY(skip1(p, e));
	}
	return read_chars(p, is_atom, MV_IMAP_MAX_ATOM_LEN, "flag", e);
}

/*
 * "(" flags ")" into the atoms: FLAGS, FETCH FLAGS (in_fetch: \Recent is
 * noted, not kept), LIST attributes.
 */
static enum mv_err flag_list(struct mv_imap *p, int in_fetch,
			     struct mv_error *e)
{
	uint8_t c;

	TRY(expect(p, '(', "'(' opening a flag list", e));
	for (;;) {
		TRY(peek(p, &c, e));
		if (c == ')')
			return skip1(p, e);
		if (c == ' ') {
			TRY(skip1(p, e));
			continue;
		}
		TRY(read_flag(p, e));
		if (in_fetch && p->tmp.len == 7 &&
		    memcmp(p->tmp.data, "\\", 1) == 0 &&
		    prefix_ci((const char *)p->tmp.data + 1, "RECENT"))
			p->resp.fetch.recent = 1;
		else
			TRY(add_atom(p, p->tmp.data, p->tmp.len, "flags", e));
		TRY(peek(p, &c, e));
		if (c != ' ' && c != ')')
			return fail_at(p, e, MV_E_PARSE,
				       "expected SP or ')' in a flag list");
	}
}

/* ---- resp-text ------------------------------------------------------- */

/* The rest of the line, up to CRLF, into p->line. */
static enum mv_err read_line(struct mv_imap *p, struct mv_error *e)
{
	uint8_t c;

	for (;;) {
		TRY(peek(p, &c, e));
		if (c == '\r')
			return crlf(p, e);
		if (c == '\n' || c == 0)
			return fail_at(p, e, MV_E_PARSE, "%s in text",
				       c ? "bare LF" : "NUL");
		TRY(skip1(p, e));
		TRY(buf_add(p, &p->line, &c, 1, e));
	}
}

/* Space-separated atoms (or flags, with "\*" too) from s[0..n). */
static enum mv_err mem_atoms(struct mv_imap *p, const char *s, size_t n,
			     int flags, const char *what, struct mv_error *e)
{
	size_t i = 0, j;

	while (i < n) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		j = i;
		if (flags && s[j] == '\\') {
			j++;
			if (j < n && s[j] == '*')
				j++;
			else
				while (j < n && is_atom((uint8_t)s[j]))
					j++;
		} else {
			while (j < n && is_atom((uint8_t)s[j]))
				j++;
		}
		if (j == i || (j == i + 1 && s[i] == '\\') ||
		    (j < n && s[j] != ' '))
			return fail_at(p, e, MV_E_PARSE, "malformed %s", what);
		TRY(add_atom(p, s + i, j - i, what, e));
		i = j;
	}
	return MV_OK;
}

/* The arguments of the response codes the contract interprets. */
static enum mv_err code_args(struct mv_imap *p, const char *code,
			     const char *arg, size_t n, struct mv_error *e)
{
	struct mv_imap_resp *r = &p->resp;
	enum mv_err rc = MV_OK;
	size_t k;

	if (!strcmp(code, "UIDNEXT") || !strcmp(code, "UIDVALIDITY") ||
	    !strcmp(code, "UNSEEN")) {
		rc = mem_num(arg, n, MAX_U32, 1, &r->code_num[0]);
		r->ncode_num = 1;
	} else if (!strcmp(code, "HIGHESTMODSEQ")) {
		rc = mem_num(arg, n, MAX_U63, 0, &r->code_num[0]);
		r->ncode_num = 1;
	} else if (!strcmp(code, "APPENDUID") || !strcmp(code, "COPYUID")) {
		/* uidvalidity SP uid-set [SP uid-set] */
		for (k = 0; k < n && arg[k] != ' '; k++)
			;
		rc = k < n ? mem_num(arg, k, MAX_U32, 1, &r->code_num[0])
			   : MV_E_PARSE;
		r->ncode_num = 1;
		if (rc == MV_OK && code[0] == 'A' &&
		    strspn(arg + k + 1, "0123456789") == n - k - 1) {
			rc = mem_num(arg + k + 1, n - k - 1, MAX_U32, 1,
				     &r->code_num[1]);
			r->ncode_num = 2;
		}
	} else if (!strcmp(code, "CAPABILITY")) {
		return mem_atoms(p, arg, n, 0, "capabilities", e);
	} else if (!strcmp(code, "PERMANENTFLAGS")) {
		if (n < 2 || arg[0] != '(' || arg[n - 1] != ')')
			return fail_at(p, e, MV_E_PARSE,
				       "malformed [PERMANENTFLAGS] code");
		return mem_atoms(p, arg + 1, n - 2, 1, "flags", e);
	}
	if (rc == MV_E_LIMIT)
		return fail_at(p, e, rc, "number in the [%s] code out of range",
			       code);
	if (rc != MV_OK)
		return fail_at(p, e, rc, "malformed [%s] code", code);
	return MV_OK;
}

/* Gmail's [THROTTLED] and Microsoft 365's "Request is throttled". */
static void throttling(struct mv_imap_resp *r, const char *code,
		       const char *text)
{
	size_t n = strlen(text);
	uint32_t ms;

	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	if (strcmp(code, "THROTTLED") == 0)
		r->throttled = 1;
	if (n >= 11 && prefix_ci(text + n - 11, "[THROTTLED]"))
		r->throttled = 1;
	if (contains_ci(text, "request is throttled"))
		r->throttled = 1;
	if (mv_imap_backoff_ms(text, &ms)) {
		r->throttled = 1;
		r->backoff_ms = ms;
	}
}

/*
 * resp-text: [SP ["[" code [SP arg] "]" SP] text] CRLF.  It never holds a
 * literal, so the line is read whole and taken apart in memory.
 */
static enum mv_err resp_text(struct mv_imap *p, int status,
			     struct mv_error *e)
{
	char code[MV_IMAP_MAX_ATOM_LEN + 1] = "";
	const char *s, *close;
	size_t n, j, at = 0, arg_at = 0, arg_len = 0, code_len = 0;
	uint8_t c;

	mv_buf_reset(&p->line);
	TRY(peek(p, &c, e));
	if (c == ' ') {
		TRY(skip1(p, e));
		TRY(read_line(p, e));
	} else {
		TRY(crlf(p, e));
	}
	if (mv_buf_cstr(&p->line) != MV_OK)
		return fail_at(p, e, MV_E_NOMEM, "out of memory");
	s = (const char *)p->line.data;
	n = p->line.len;
	if (n > 2 && s[0] == '[') {
		for (j = 1; j < n && is_atom((uint8_t)s[j]); j++)
			;
		if (j > 1 && j < n && s[j] == ']') {
			code_len = j - 1;
			at = j + 1;
		} else if (j > 1 && j + 1 < n && s[j] == ' ' &&
			   (close = memchr(s + j + 1, ']', n - j - 1)) &&
			   close > s + j + 1) {
			code_len = j - 1;
			arg_at = j + 1;
			arg_len = (size_t)(close - (s + j + 1));
			at = (size_t)(close - s) + 1;
		}
		if (at && at < n && s[at] == ' ')
			at++;
	}
	if (code_len) {
		if (code_len > MV_IMAP_MAX_ATOM_LEN)
			return fail_at(p, e, MV_E_LIMIT,
				       "response code over %u bytes",
				       MV_IMAP_MAX_ATOM_LEN);
		for (j = 0; j < code_len; j++)
			code[j] = (char)upc((uint8_t)s[1 + j]);
		code[code_len] = '\0';
		TRY(keep(p, code, code_len, &p->off_code, e));
		if (arg_len)
			TRY(keep(p, s + arg_at, arg_len, &p->off_arg, e));
		TRY(code_args(p, code, s + arg_at, arg_len, e));
	}
	/* The line buffer does not move from here on, so s stays valid. */
	if (status)
		throttling(&p->resp, code, s + at);
	return keep(p, s + at, n - at, &p->off_text, e);
}

/* ---- Untagged data --------------------------------------------------- */

/* CAPABILITY and ENABLED: (SP atom)* CRLF. */
static enum mv_err atom_line(struct mv_imap *p, const char *what,
			     struct mv_error *e)
{
	uint8_t c;

	for (;;) {
		TRY(peek(p, &c, e));
		if (c == '\r')
			return crlf(p, e);
		TRY(expect(p, ' ', "SP", e));
		TRY(peek(p, &c, e));
		if (c == ' ' || c == '\r')
			continue;
		mv_buf_reset(&p->tmp);
		TRY(read_chars(p, is_atom, MV_IMAP_MAX_ATOM_LEN, what, e));
		TRY(add_atom(p, p->tmp.data, p->tmp.len, what, e));
	}
}

static enum mv_err mailbox(struct mv_imap *p, struct mv_error *e)
{
	TRY(read_string(p, 1, "mailbox name", e));
	TRY(keep(p, p->tmp.data, p->tmp.len, &p->off_mailbox, e));
	p->resp.mailbox_len = p->tmp.len;
	return MV_OK;
}

/* LIST / LSUB: SP "(" attributes ")" SP delim SP mailbox [SP ext] CRLF. */
static enum mv_err list(struct mv_imap *p, struct mv_error *e)
{
	uint8_t c;

	TRY(expect(p, ' ', "SP after LIST", e));
	TRY(flag_list(p, 0, e));
	TRY(expect(p, ' ', "SP after the mailbox attributes", e));
	TRY(peek(p, &c, e));
	if (c == '"') {
		TRY(skip1(p, e));
		TRY(peek(p, &c, e));
		if (c == '\\') {
			TRY(skip1(p, e));
			TRY(peek(p, &c, e));
			if (c != '"' && c != '\\')
				return fail_at(p, e, MV_E_PARSE,
					       "bad escape in the delimiter");
		} else if (c == '"' || c == '\r' || c == '\n' || c == 0) {
			return fail_at(p, e, MV_E_PARSE,
				       "bad hierarchy delimiter");
		}
		TRY(skip1(p, e));
		p->resp.delim = (char)c;
		TRY(expect(p, '"', "'\"' closing the delimiter", e));
	} else {
		TRY(read_nil(p, "hierarchy delimiter", e));
		p->resp.delim = '\0';
	}
	TRY(expect(p, ' ', "SP before the mailbox name", e));
	TRY(mailbox(p, e));
	/* RFC 5258 extended data, which we do not use. */
	for (;;) {
		TRY(peek(p, &c, e));
		if (c == '\r')
			return crlf(p, e);
		if (c == ' ')
			TRY(skip1(p, e));
		else
			TRY(skip_value(p, 0, e));
	}
}

static const struct {
	const char *name;
	unsigned bit;
	uint64_t max;
	int nz;
} status_atts[] = {
	{ "MESSAGES", MV_IMAP_ST_MESSAGES, MAX_U32, 0 },
	{ "RECENT", MV_IMAP_ST_RECENT, MAX_U32, 0 },
	{ "UIDNEXT", MV_IMAP_ST_UIDNEXT, MAX_U32, 1 },
	{ "UIDVALIDITY", MV_IMAP_ST_UIDVALIDITY, MAX_U32, 1 },
	{ "UNSEEN", MV_IMAP_ST_UNSEEN, MAX_U32, 0 },
	{ "DELETED", MV_IMAP_ST_DELETED, MAX_U32, 0 },
	{ "SIZE", MV_IMAP_ST_SIZE, MAX_U63, 0 },
	{ "HIGHESTMODSEQ", MV_IMAP_ST_HIGHESTMODSEQ, MAX_U63, 0 },
};

static void status_set(struct mv_imap_status *st, unsigned bit, uint64_t v)
{
	switch (bit) {
	case MV_IMAP_ST_MESSAGES: st->messages = (uint32_t)v; break;
	case MV_IMAP_ST_RECENT: st->recent = (uint32_t)v; break;
	case MV_IMAP_ST_UIDNEXT: st->uidnext = (uint32_t)v; break;
	case MV_IMAP_ST_UIDVALIDITY: st->uidvalidity = (uint32_t)v; break;
	case MV_IMAP_ST_UNSEEN: st->unseen = (uint32_t)v; break;
	case MV_IMAP_ST_DELETED: st->deleted = (uint32_t)v; break;
	case MV_IMAP_ST_SIZE: st->size = v; break;
	default: st->highestmodseq = v; break;
	}
	st->have |= bit;
}

/* STATUS: SP mailbox SP "(" [att SP value *(SP att SP value)] ")" CRLF. */
static enum mv_err status(struct mv_imap *p, struct mv_error *e)
{
	struct mv_imap_status *st = &p->resp.status;
	const char *name;
	uint64_t v;
	uint8_t c;
	size_t i;

	TRY(expect(p, ' ', "SP after STATUS", e));
	TRY(mailbox(p, e));
	TRY(expect(p, ' ', "SP after the mailbox name", e));
	TRY(expect(p, '(', "'(' opening the status list", e));
	for (;;) {
		TRY(peek(p, &c, e));
		if (c == ')') {
			TRY(skip1(p, e));
			return eol(p, e);
		}
		if (c == ' ') {
			TRY(skip1(p, e));
			continue;
		}
		TRY(read_name(p, "STATUS attribute", &name, e));
		TRY(expect(p, ' ', "SP after the STATUS attribute", e));
		for (i = 0; i < sizeof status_atts / sizeof status_atts[0]; i++)
			if (strcmp(name, status_atts[i].name) == 0)
				break;
		if (i == sizeof status_atts / sizeof status_atts[0]) {
			TRY(skip_value(p, 1, e));
		} else {
			if (st->have & status_atts[i].bit)
				return fail_at(p, e, MV_E_PARSE,
					       "STATUS %s given twice",
					       status_atts[i].name);
			TRY(number(p, status_atts[i].max, status_atts[i].nz,
				   status_atts[i].name, &v, e));
			status_set(st, status_atts[i].bit, v);
		}
		TRY(peek(p, &c, e));
		if (c != ' ' && c != ')')
			return fail_at(p, e, MV_E_PARSE,
				       "expected SP or ')' in the status list");
	}
}

/* An nz-number of 32 bits at s[*i..n), moving *i past it. */
static enum mv_err mem_uid(const char *s, size_t n, size_t *i)
{
	size_t j = *i;
	uint64_t v;
	enum mv_err rc;

	while (j < n && is_digit((uint8_t)s[j]))
		j++;
	rc = mem_num(s + *i, j - *i, MAX_U32, 1, &v);
	*i = j;
	return rc;
}

/* known-uids: nz-number [":" nz-number] *("," ...), no "*" (RFC 7162). */
static enum mv_err check_set(const char *s, size_t n)
{
	size_t i = 0;
	enum mv_err rc;

	for (;;) {
		if ((rc = mem_uid(s, n, &i)) != MV_OK)
			return rc;
		if (i < n && s[i] == ':') {
			i++;
			if ((rc = mem_uid(s, n, &i)) != MV_OK)
				return rc;
		}
		if (i == n)
			return MV_OK;
		if (s[i] != ',')
			return MV_E_PARSE;
		i++;
	}
}

/* VANISHED: SP ["(EARLIER)" SP] known-uids CRLF. */
static enum mv_err vanished(struct mv_imap *p, struct mv_error *e)
{
	const char *name;
	size_t at, n;
	uint8_t c;
	enum mv_err rc;

	TRY(expect(p, ' ', "SP after VANISHED", e));
	TRY(peek(p, &c, e));
	if (c == '(') {
		TRY(skip1(p, e));
		TRY(read_name(p, "EARLIER", &name, e));
		if (strcmp(name, "EARLIER") != 0)
			return fail_at(p, e, MV_E_PARSE, "expected (EARLIER)");
		TRY(expect(p, ')', "')' after EARLIER", e));
		TRY(expect(p, ' ', "SP after (EARLIER)", e));
		p->resp.earlier = 1;
	}
	/* Straight into the arena: a set may be as long as the line. */
	at = p->arena.len;
	for (;;) {
		TRY(peek(p, &c, e));
		if (!is_digit(c) && c != ',' && c != ':')
			break;
		if (p->arena.len >= MV_IMAP_MAX_RESPONSE)
			return fail_at(p, e, MV_E_LIMIT,
				       "response keeps over %u bytes",
				       MV_IMAP_MAX_RESPONSE);
		TRY(buf_add(p, &p->arena, &c, 1, e));
		TRY(skip1(p, e));
	}
	n = p->arena.len - at;
	rc = n ? check_set((const char *)p->arena.data + at, n) : MV_E_PARSE;
	if (rc == MV_E_LIMIT)
		return fail_at(p, e, rc, "UID in the VANISHED set over 2^32-1");
	if (rc != MV_OK)
		return fail_at(p, e, rc, "malformed VANISHED set");
	TRY(buf_add(p, &p->arena, "", 1, e));
	p->off_set = at;
	return eol(p, e);
}

/*
 * If the line kept at arena[seg..] ends in a literal's "{n}" (or
 * "~{n}"), sets *n and *yes.  For OTHER, which we do not parse: a CRLF
 * ends the response unless such a literal announcement precedes it
 * (quoted strings cannot hold CR or LF, so this never misreads).
 */
static enum mv_err literal_at_end(struct mv_imap *p, size_t seg,
				  uint64_t *n, int *yes, struct mv_error *e)
{
	const char *s;
	size_t m, j, d;
	int plus;
	enum mv_err rc;

	*yes = 0;
	m = p->arena.len - seg;
	if (m < 3)
		return MV_OK;
	s = (const char *)p->arena.data + seg;
	if (s[m - 1] != '}')
		return MV_OK;
	j = m - 1;
	plus = s[j - 1] == '+';
	if (plus)
		j--;
	for (d = j; d > 0 && is_digit((uint8_t)s[d - 1]); d--)
		;
	if (d == j || d == 0 || s[d - 1] != '{')
		return MV_OK;
	if (plus)
		return fail_at(p, e, MV_E_PARSE,
			       "non-synchronising literal from the server");
	rc = mem_num(s + d, j - d, MAX_U63, 0, n);
	if (rc != MV_OK || *n > MV_IMAP_MAX_STRING)
		return fail_at(p, e, MV_E_LIMIT,
			       "literal of %.*s bytes over the limit of %u",
			       (int)(j - d < 40 ? j - d : 40), s + d,
			       MV_IMAP_MAX_STRING);
	/* n is at most MV_IMAP_MAX_STRING here, so n + 2 cannot wrap. */
	if (*n + 2 > MV_IMAP_MAX_RESPONSE - p->arena.len)
		return fail_at(p, e, MV_E_LIMIT, "response keeps over %u bytes",
			       MV_IMAP_MAX_RESPONSE);
	*yes = 1;
	return MV_OK;
}

/* OTHER: [SP bytes] CRLF, literals inline, kept exactly as sent. */
static enum mv_err rest(struct mv_imap *p, struct mv_error *e)
{
	size_t at, seg;
	uint64_t n;
	uint8_t c;
	int lit;

	TRY(peek(p, &c, e));
	if (c == '\r')
		return crlf(p, e);
	TRY(expect(p, ' ', "SP or CRLF after the response name", e));
	at = seg = p->arena.len;
	for (;;) {
		TRY(peek(p, &c, e));
		if (c == '\n' || c == 0)
			return fail_at(p, e, MV_E_PARSE, "%s in a response",
				       c ? "bare LF" : "NUL");
		if (c != '\r') {
			if (p->arena.len >= MV_IMAP_MAX_RESPONSE - 1)
				return fail_at(p, e, MV_E_LIMIT,
					       "response keeps over %u bytes",
					       MV_IMAP_MAX_RESPONSE);
			TRY(buf_add(p, &p->arena, &c, 1, e));
			TRY(skip1(p, e));
			continue;
		}
		TRY(crlf(p, e));
		TRY(literal_at_end(p, seg, &n, &lit, e));
		if (!lit)
			break;
		TRY(buf_add(p, &p->arena, "\r\n", 2, e));
		TRY(literal_data(p, n, &p->arena, e));
		p->line_len = 0;
		seg = p->arena.len;
	}
	p->resp.rest_len = p->arena.len - at;
	TRY(buf_add(p, &p->arena, "", 1, e));
	p->off_rest = at;
	return MV_OK;
}

/* ---- FETCH ----------------------------------------------------------- */

static enum mv_err item_add(struct mv_imap *p, uint8_t c, struct mv_error *e)
{
	if (p->item_len >= MV_IMAP_MAX_ITEM)
		return fail_at(p, e, MV_E_LIMIT, "FETCH item name over %u bytes",
			       MV_IMAP_MAX_ITEM);
	p->item[p->item_len++] = (char)c;
	p->item[p->item_len] = '\0';
	return skip1(p, e);
}

/*
 * A FETCH item name into p->item: the name upper-cased, then any
 * "[section]" as sent (quoted strings in it may hold ']') and "<origin>".
 */
static enum mv_err item_name(struct mv_imap *p, size_t *base, int *section,
			     struct mv_error *e)
{
	int in_quote = 0;
	uint64_t origin;
	uint8_t c;

	p->item_len = 0;
	p->item[0] = '\0';
	*section = 0;
	for (;;) {
		TRY(peek(p, &c, e));
		if (!is_atom(c) || c == '[')
			break;
		TRY(item_add(p, upc(c), e));
	}
	if (p->item_len == 0)
		return fail_at(p, e, MV_E_PARSE,
			       "expected a FETCH item (got 0x%02x)", c);
	*base = p->item_len;
	if (c != '[')
		return MV_OK;
	*section = 1;
	TRY(item_add(p, c, e));
	for (;;) {
		TRY(peek(p, &c, e));
		if (c < 0x20 || c == 0x7f)
			return fail_at(p, e, MV_E_PARSE,
				       "unterminated section in a FETCH item");
		TRY(item_add(p, c, e));
		if (in_quote && c == '\\') {
			TRY(peek(p, &c, e));
			if (c != '"' && c != '\\')
				return fail_at(p, e, MV_E_PARSE,
					       "bad escape in a section");
			TRY(item_add(p, c, e));
		} else if (c == '"') {
			in_quote = !in_quote;
		} else if (c == ']' && !in_quote) {
			break;
		}
	}
	TRY(peek(p, &c, e));
	if (c != '<')
		return MV_OK;
	TRY(item_add(p, c, e));
	origin = 0;
	for (;;) {
		TRY(peek(p, &c, e));
		if (!is_digit(c))
			break;
		if (origin > (MAX_U63 - (unsigned)(c - '0')) / 10)
			return fail_at(p, e, MV_E_LIMIT, "origin over 2^63-1");
		origin = origin * 10 + (unsigned)(c - '0');
		TRY(item_add(p, c, e));
	}
	if (p->item[p->item_len - 1] == '<')
		return fail_at(p, e, MV_E_PARSE, "expected an origin number");
	TRY(peek(p, &c, e));
	if (c != '>')
		return fail_at(p, e, MV_E_PARSE, "expected '>' after the origin");
	return item_add(p, c, e);
}

static int is_body_item(const char *item, size_t base, int section)
{
	if (section)
		return (base == 4 && memcmp(item, "BODY", 4) == 0) ||
		       (base == 6 && memcmp(item, "BINARY", 6) == 0);
	return strcmp(item, "RFC822") == 0 ||
	       strcmp(item, "RFC822.HEADER") == 0 ||
	       strcmp(item, "RFC822.TEXT") == 0;
}

/* Hands s[0..n) to the sink's data callback in pieces. */
static enum mv_err to_sink(struct mv_imap *p, const uint8_t *s, size_t n,
			   struct mv_error *e)
{
	enum mv_err rc;

	while (n > 0) {
		size_t k = n < MV_IMAP_PIECE ? n : MV_IMAP_PIECE;

		if (p->sink.data) {
			rc = p->sink.data(p->sink.ctx, s, k, e);
			if (rc != MV_OK)
				return callback_failed(p, e, rc,
						       "the body sink");
		}
		s += k;
		n -= k;
	}
	return MV_OK;
}

/*
 * A body item's value: NIL, a quoted string, or a literal or literal8
 * streamed from the read buffer to the sink without being kept.
 */
static enum mv_err body(struct mv_imap *p, struct mv_error *e)
{
	struct mv_imap_fetch *f = &p->resp.fetch;
	struct mv_imap_body b;
	enum mv_err rc;
	uint64_t n;
	uint8_t c;
	int l8 = 0, lit = 0;

	f->nbodies++;
	f->have |= MV_IMAP_F_BODY;
	f->body_size = 0;
	f->body_literal8 = 0;
	f->body_nil = 0;
	TRY(peek(p, &c, e));
	if (c == 'N' || c == 'n') {
		TRY(read_nil(p, "body (literal, quoted string or NIL)", e));
		f->body_nil = 1;
		return MV_OK;
	}
	if (c == '~') {
		TRY(skip1(p, e));
		TRY(peek(p, &c, e));
		if (c != '{')
			return fail_at(p, e, MV_E_PARSE, "expected '{' after '~'");
		l8 = 1;
	}
	if (c == '{') {
		TRY(skip1(p, e));
		TRY(literal_head(p, p->max_body, "body", &n, e));
		lit = 1;
	} else if (c == '"') {
		mv_buf_reset(&p->tmp);
		TRY(quoted(p, &p->tmp, e));
		n = p->tmp.len;
		if (n > p->max_body)
			return fail_at(p, e, MV_E_LIMIT,
				       "body of %llu bytes over the limit of %llu",
				       (unsigned long long)n,
				       (unsigned long long)p->max_body);
	} else {
		return fail_at(p, e, MV_E_PARSE,
			       "expected a body (literal, quoted string or NIL)");
	}
	f->body_size = n;
	f->body_literal8 = l8;
	b.seq = p->resp.num;
	b.uid = (f->have & MV_IMAP_F_UID) ? f->uid : 0;
	b.item = p->item;
	b.size = n;
	b.literal8 = l8;
	if (p->sink.begin) {
		rc = p->sink.begin(p->sink.ctx, &b, e);
		if (rc != MV_OK)
			return callback_failed(p, e, rc, "the body sink");
	}
	if (!lit) {
		TRY(to_sink(p, p->tmp.data, p->tmp.len, e));
	} else {
		while (n > 0) {
			size_t k;

			TRY(fill(p, 1, e));
			k = p->rlen - p->rpos;
			if (k > n)
				k = (size_t)n;
			TRY(to_sink(p, p->rbuf + p->rpos, k, e));
			p->rpos += k;
			p->consumed += k;
			n -= k;
		}
	}
	if (p->sink.end) {
		rc = p->sink.end(p->sink.ctx, e);
		if (rc != MV_OK)
			return callback_failed(p, e, rc, "the body sink");
	}
	return MV_OK;
}

static enum mv_err once(struct mv_imap *p, unsigned bit, struct mv_error *e)
{
	if (p->resp.fetch.have & bit)
		return fail_at(p, e, MV_E_PARSE, "FETCH %s given twice", p->item);
	p->resp.fetch.have |= bit;
	return MV_OK;
}

/* FETCH: SP "(" item SP value *(SP item SP value) ")" CRLF. */
static enum mv_err fetch(struct mv_imap *p, struct mv_error *e)
{
	struct mv_imap_fetch *f = &p->resp.fetch;
	const char *it = p->item;
	uint64_t v;
	size_t base = 0;
	uint8_t c;
	int section = 0;

	TRY(expect(p, ' ', "SP after FETCH", e));
	TRY(expect(p, '(', "'(' after FETCH", e));
	for (;;) {
		TRY(peek(p, &c, e));
		if (c == ')') {
			TRY(skip1(p, e));
			return eol(p, e);
		}
		if (c == ' ') {
			TRY(skip1(p, e));
			continue;
		}
		TRY(item_name(p, &base, &section, e));
		TRY(expect(p, ' ', "SP after the FETCH item name", e));
		if (!section && strcmp(it, "UID") == 0) {
			TRY(once(p, MV_IMAP_F_UID, e));
			TRY(number(p, MAX_U32, 1, "UID", &v, e));
			f->uid = (uint32_t)v;
		} else if (!section && strcmp(it, "FLAGS") == 0) {
			TRY(once(p, MV_IMAP_F_FLAGS, e));
			TRY(flag_list(p, 1, e));
		} else if (!section && strcmp(it, "INTERNALDATE") == 0) {
			TRY(once(p, MV_IMAP_F_INTERNALDATE, e));
			TRY(read_string(p, 0, "INTERNALDATE", e));
			TRY(keep(p, p->tmp.data, p->tmp.len, &p->off_date, e));
		} else if (!section && strcmp(it, "RFC822.SIZE") == 0) {
			TRY(once(p, MV_IMAP_F_SIZE, e));
			TRY(number(p, MAX_U63, 0, "RFC822.SIZE", &f->rfc822_size,
				   e));
		} else if (!section && strcmp(it, "MODSEQ") == 0) {
			TRY(once(p, MV_IMAP_F_MODSEQ, e));
			TRY(expect(p, '(', "'(' after MODSEQ", e));
			TRY(number(p, MAX_U63, 0, "MODSEQ", &f->modseq, e));
			TRY(expect(p, ')', "')' after the MODSEQ value", e));
		} else if (is_body_item(it, base, section)) {
			TRY(body(p, e));
		} else {
			TRY(skip_value(p, 1, e));
		}
		TRY(peek(p, &c, e));
		if (c != ' ' && c != ')')
			return fail_at(p, e, MV_E_PARSE,
				       "expected SP or ')' after a FETCH item");
	}
}

/* ---- Responses ------------------------------------------------------- */

static enum mv_err untagged(struct mv_imap *p, struct mv_error *e)
{
	struct mv_imap_resp *r = &p->resp;
	const char *name;
	uint64_t v;
	uint8_t c;

	r->kind = MV_IMAP_UNTAGGED;
	TRY(expect(p, '*', "'*'", e));
	TRY(expect(p, ' ', "SP after '*'", e));
	TRY(peek(p, &c, e));
	if (is_digit(c)) {
		TRY(number(p, MAX_U32, 0, "message number", &v, e));
		r->has_num = 1;
		r->num = (uint32_t)v;
		TRY(expect(p, ' ', "SP after the message number", e));
	}
	TRY(read_name(p, "response name", &name, e));
	TRY(keep(p, name, p->tmp.len, &p->off_name, e));
	if (r->has_num) {
		if (!strcmp(name, "EXISTS") || !strcmp(name, "RECENT")) {
			r->type = name[0] == 'E' ? MV_IMAP_EXISTS : MV_IMAP_RECENT;
			return eol(p, e);
		}
		if (!strcmp(name, "EXPUNGE") || !strcmp(name, "FETCH")) {
			if (r->num == 0)
				return fail_at(p, e, MV_E_PARSE,
					       "message number 0 in %s", name);
			if (name[1] == 'X') {
				r->type = MV_IMAP_EXPUNGE;
				return eol(p, e);
			}
			r->type = MV_IMAP_FETCH;
			return fetch(p, e);
		}
		r->type = MV_IMAP_OTHER;
		return rest(p, e);
	}
	if (!strcmp(name, "OK") || !strcmp(name, "NO") || !strcmp(name, "BAD") ||
	    !strcmp(name, "PREAUTH") || !strcmp(name, "BYE")) {
		r->type = name[0] == 'O' ? MV_IMAP_OK :
			  name[0] == 'N' ? MV_IMAP_NO :
			  name[1] == 'A' ? MV_IMAP_BAD :
			  name[0] == 'P' ? MV_IMAP_PREAUTH : MV_IMAP_BYE;
		return resp_text(p, 1, e);
	}
	if (!strcmp(name, "CAPABILITY")) {
		r->type = MV_IMAP_CAPABILITY;
		return atom_line(p, "capabilities", e);
	}
	if (!strcmp(name, "ENABLED")) {
		r->type = MV_IMAP_ENABLED;
		return atom_line(p, "extensions", e);
	}
	if (!strcmp(name, "FLAGS")) {
		r->type = MV_IMAP_FLAGS;
		TRY(expect(p, ' ', "SP after FLAGS", e));
		TRY(flag_list(p, 0, e));
		return eol(p, e);
	}
	if (!strcmp(name, "LIST") || !strcmp(name, "LSUB")) {
		r->type = name[1] == 'I' ? MV_IMAP_LIST : MV_IMAP_LSUB;
		return list(p, e);
	}
	if (!strcmp(name, "STATUS")) {
		r->type = MV_IMAP_STATUS;
		return status(p, e);
	}
	if (!strcmp(name, "VANISHED")) {
		r->type = MV_IMAP_VANISHED;
		return vanished(p, e);
	}
	r->type = MV_IMAP_OTHER;
	return rest(p, e);
}

static enum mv_err tagged(struct mv_imap *p, struct mv_error *e)
{
	struct mv_imap_resp *r = &p->resp;
	const char *name;

	r->kind = MV_IMAP_TAGGED;
	mv_buf_reset(&p->tmp);
	TRY(read_chars(p, is_tag, MV_IMAP_MAX_TAG, "tag", e));
	TRY(keep(p, p->tmp.data, p->tmp.len, &p->off_tag, e));
	TRY(expect(p, ' ', "SP after the tag", e));
	TRY(read_name(p, "OK, NO or BAD", &name, e));
	if (!strcmp(name, "OK"))
		r->type = MV_IMAP_OK;
	else if (!strcmp(name, "NO"))
		r->type = MV_IMAP_NO;
	else if (!strcmp(name, "BAD"))
		r->type = MV_IMAP_BAD;
	else
		return fail_at(p, e, MV_E_PARSE,
			       "tagged response is not OK, NO or BAD");
	return resp_text(p, 1, e);
}

static enum mv_err response(struct mv_imap *p, struct mv_error *e)
{
	uint8_t c;

	TRY(peek(p, &c, e));
	if (c == '*')
		return untagged(p, e);
	if (c == '+') {
		p->resp.kind = MV_IMAP_CONTINUE;
		p->resp.type = MV_IMAP_NONE;
		TRY(skip1(p, e));
		return resp_text(p, 0, e);
	}
	return tagged(p, e);
}

static void begin(struct mv_imap *p)
{
	p->sink = p->next_sink;
	p->start = p->consumed;
	p->line_len = 0;
	mv_buf_reset(&p->arena);
	p->off_tag = p->off_name = p->off_code = p->off_arg = NOSTR;
	p->off_text = p->off_mailbox = p->off_set = p->off_date = NOSTR;
	p->off_rest = NOSTR;
	p->natoms = 0;
	memset(&p->resp, 0, sizeof p->resp);
}

static const char *str(const struct mv_imap *p, size_t off)
{
	return off == NOSTR ? "" : (const char *)p->arena.data + off;
}

/* Turns the arena offsets into the pointers the caller sees. */
static void finish(struct mv_imap *p)
{
	struct mv_imap_resp *r = &p->resp;

	r->tag = str(p, p->off_tag);
	r->name = str(p, p->off_name);
	r->code = str(p, p->off_code);
	r->code_arg = str(p, p->off_arg);
	r->text = str(p, p->off_text);
	r->mailbox = str(p, p->off_mailbox);
	r->set = str(p, p->off_set);
	r->rest = str(p, p->off_rest);
	r->fetch.internaldate = str(p, p->off_date);
	for (size_t i = 0; i < p->natoms; i++)
		p->atom_ptr[i] = str(p, p->atom_off[i]);
	r->natoms = p->natoms;
	r->atoms = p->atom_ptr;
	r->fetch.flags = p->atom_ptr;
	r->fetch.nflags = r->type == MV_IMAP_FETCH ? p->natoms : 0;
}

/* ---- The parser ------------------------------------------------------ */

enum mv_err mv_imap_new(struct mv_imap **out, mv_imap_read_fn read,
			void *read_ctx, uint64_t max_body, struct mv_error *e)
{
	struct mv_imap *p = NULL;
	enum mv_err rc = MV_OK;

	if (out)
		*out = NULL;
	if (!out || !read || max_body == 0) {
		rc = MV_E_USAGE;
		mv_fail(e, rc, "imap parser: %s", !out ? "no place for it" :
			!read ? "no read callback" : "max_body is 0");
		goto out;
	}
	p = calloc(1, sizeof *p);
	if (!p) {
		rc = MV_E_NOMEM;
		mv_fail(e, rc, "imap parser: out of memory");
		goto out;
	}
	p->read = read;
	p->read_ctx = read_ctx;
	p->max_body = max_body;
	mv_buf_init(&p->arena, MV_IMAP_MAX_RESPONSE);
	mv_buf_init(&p->tmp, MV_IMAP_MAX_STRING);
	mv_buf_init(&p->line, MV_IMAP_MAX_LINE);
	begin(p);
	finish(p);
	*out = p;
	p = NULL;
out:
	free(p);
	return rc;
}

void mv_imap_free(struct mv_imap *p)
{
	if (!p)
		return;
	mv_buf_release(&p->arena);
	mv_buf_release(&p->tmp);
	mv_buf_release(&p->line);
	free(p);
}

void mv_imap_set_body_sink(struct mv_imap *p,
			   const struct mv_imap_body_sink *sink)
{
	if (!p)
		return;
	if (sink)
		p->next_sink = *sink;
	else
		memset(&p->next_sink, 0, sizeof p->next_sink);
}

enum mv_err mv_imap_next_response(struct mv_imap *p,
				  const struct mv_imap_resp **out,
				  struct mv_error *e)
{
	enum mv_err rc;

	if (out)
		*out = NULL;
	if (!p || !out) {
		mv_fail(e, MV_E_USAGE, "imap parser: no parser or no output");
		return MV_E_USAGE;
	}
	if (p->err != MV_OK) {
		mv_fail(e, p->err, "imap: stream out of step after an earlier "
			"'%s' error", mv_err_name(p->err));
		return p->err;
	}
	begin(p);
	rc = response(p, e);
	if (rc != MV_OK) {
		p->err = rc;
		return rc;
	}
	finish(p);
	*out = &p->resp;
	return MV_OK;
}

uint64_t mv_imap_bytes_read(const struct mv_imap *p)
{
	return p ? p->consumed : 0;
}

/* ---- Helpers --------------------------------------------------------- */

int mv_imap_backoff_ms(const char *text, uint32_t *ms)
{
	static const char key[] = "suggested backoff time:";

	if (!text)
		return 0;
	for (const char *t = text; *t; t++) {
		const char *q = t + sizeof key - 1;
		uint64_t v = 0;

		if (!prefix_ci(t, key))
			continue;
		while (*q == ' ')
			q++;
		if (!is_digit((uint8_t)*q))
			continue;
		for (; is_digit((uint8_t)*q); q++) {
			v = v * 10 + (unsigned)(*q - '0');
			if (v > MAX_U32)
				v = MAX_U32;
		}
		while (*q == ' ')
			q++;
		if (!prefix_ci(q, "milliseconds") &&
		    !(prefix_ci(q, "ms") && !((*(q + 2) | 0x20) >= 'a' &&
					     (*(q + 2) | 0x20) <= 'z')))
			continue;
		if (ms)
			*ms = (uint32_t)v;
		return 1;
	}
	return 0;
}

int mv_imap_has_atom(const struct mv_imap_resp *r, const char *name)
{
	if (!r || !name)
		return 0;
	for (size_t i = 0; i < r->natoms; i++)
		if (eq_ci(r->atoms[i], name))
			return 1;
	return 0;
}

int mv_imap_set_next(const char **s, uint32_t *lo, uint32_t *hi)
{
	const char *q;
	size_t i = 0, j;
	uint64_t a, b;

	if (!s || !*s || !**s)
		return 0;
	q = *s;
	while (is_digit((uint8_t)q[i]))
		i++;
	if (mem_num(q, i, MAX_U32, 1, &a) != MV_OK)
		return 0;
	b = a;
	if (q[i] == ':') {
		for (j = ++i; is_digit((uint8_t)q[i]); i++)
			;
		if (mem_num(q + j, i - j, MAX_U32, 1, &b) != MV_OK)
			return 0;
	}
	/* A set inside other text (SEARCH, ESEARCH) ends where a list or
	 * line would: the walk stops there. */
	if (q[i] != ',' && q[i] != '\0' && q[i] != ' ' && q[i] != ')' &&
	    q[i] != '\r')
		return 0;
	*lo = (uint32_t)(a < b ? a : b);
	*hi = (uint32_t)(a < b ? b : a);
	*s = q[i] == ',' ? q + i + 1 : q + i;
	return 1;
}
