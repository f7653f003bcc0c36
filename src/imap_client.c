/* imap_client.c - an IMAP session over the transport; see imap_client.h. */
#include "imap_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "index.h"

/* A command line is built in memory; mailbox names and numbers keep it
 * far below this. */
#define CMD_MAX (64u << 10)
#define CAPS_MAX 4096
#define THROTTLE_RETRIES 20

struct mv_imapc {
	struct mv_conn *conn;
	struct mv_imap *p;
	unsigned next_tag;
	char caps[CAPS_MAX];          /* " CAP1 CAP2 ... " upper-cased */
	char bye[160];                /* the text of an untagged BYE */
	void (*throttle_fn)(void *ctx, uint32_t ms);
	void *throttle_ctx;
};

void mv_imapc_on_throttle(struct mv_imapc *c, void (*fn)(void *ctx, uint32_t ms), void *ctx)
{
	c->throttle_fn = fn;
	c->throttle_ctx = ctx;
}

static void printable(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; s && *s && o + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static void set_caps(struct mv_imapc *c, const struct mv_imap_resp *r)
{
	size_t o = 0;

	c->caps[o++] = ' ';
	for (size_t i = 0; i < r->natoms; i++) {
		size_t n = strlen(r->atoms[i]);

		if (o + n + 2 >= sizeof c->caps)
			break;
		for (size_t k = 0; k < n; k++) {
			char ch = r->atoms[i][k];

			c->caps[o++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
		}
		c->caps[o++] = ' ';
	}
	c->caps[o] = '\0';
}

int mv_imapc_has(const struct mv_imapc *c, const char *cap)
{
	char want[128];
	size_t n = strlen(cap);

	if (n + 3 > sizeof want)
		return 0;
	want[0] = ' ';
	for (size_t i = 0; i < n; i++)
		want[i + 1] = (char)(cap[i] >= 'a' && cap[i] <= 'z' ? cap[i] - 32 : cap[i]);
	want[n + 1] = ' ';
	want[n + 2] = '\0';
	return strstr(c->caps, want) != NULL;
}

const char *mv_imapc_caps(const struct mv_imapc *c)
{
	return c->caps[0] ? c->caps + 1 : "";
}

const struct mv_tls_info *mv_imapc_tls(const struct mv_imapc *c)
{
	return mv_conn_tls(c->conn);
}

void mv_imapc_set_body_sink(struct mv_imapc *c, const struct mv_imap_body_sink *s)
{
	mv_imap_set_body_sink(c->p, s);
}

uint64_t mv_imapc_bytes_read(const struct mv_imapc *c)
{
	return mv_imap_bytes_read(c->p);
}

void mv_imapc_backoff(uint32_t ms)
{
	struct timespec ts;

#ifdef MV_TEST_HOOKS
	const char *t = getenv("MV_TEST_BACKOFF_MS");

	if (t && *t)
		ms = (uint32_t)strtoul(t, NULL, 10);
#endif
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Reads one response; untagged BYE and CAPABILITY are noted on the way. */
static enum mv_err next(struct mv_imapc *c, const struct mv_imap_resp **r,
			struct mv_error *e)
{
	enum mv_err rc = mv_imap_next_response(c->p, r, e);

	if (rc == MV_E_NET && c->bye[0]) {
		mv_error_clear(e);
		return mv_fail(e, MV_E_NET, "the server closed the connection: %s", c->bye);
	}
	if (rc == MV_E_PARSE || rc == MV_E_LIMIT) {
		/* Bytes that are not IMAP, or over a bound: the stream is out
		 * of step, which is the connection's failure (a server's
		 * fault, never the archive's): reconnecting is the remedy. */
		e->code = MV_E_NET;
		mv_error_prefix(e, "the server broke the protocol");
		return MV_E_NET;
	}
	if (rc)
		return rc;
	if ((*r)->kind == MV_IMAP_UNTAGGED && (*r)->type == MV_IMAP_BYE)
		printable(c->bye, sizeof c->bye, (*r)->text[0] ? (*r)->text : "BYE");
	if ((*r)->kind == MV_IMAP_UNTAGGED && (*r)->type == MV_IMAP_CAPABILITY)
		set_caps(c, *r);
	return MV_OK;
}

/* ---- sending ---- */

static int needs_literal(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 1;
	return 0;
}

/* Waits for a continuation request, passing nothing on. */
static enum mv_err wait_continue(struct mv_imapc *c, const char *tag, struct mv_error *e)
{
	for (;;) {
		const struct mv_imap_resp *r;
		enum mv_err rc = next(c, &r, e);

		if (rc)
			return rc;
		if (r->kind == MV_IMAP_CONTINUE)
			return MV_OK;
		if (r->kind == MV_IMAP_TAGGED && strcmp(r->tag, tag) == 0) {
			char t[160];

			printable(t, sizeof t, r->text);
			return mv_fail(e, MV_E_PARSE, "the server refused a literal: %s", t);
		}
	}
}

/* Sends the formatted text; with tag != NULL prefixed by a new tag, with
 * crlf ended by CRLF. */
static enum mv_err vsend_part(struct mv_imapc *c, char *tag, int crlf, struct mv_error *e,
			      const char *fmt, va_list ap)
{
	struct mv_buf b;
	enum mv_err rc = MV_OK;
	char num[32];

	mv_buf_init(&b, CMD_MAX);
	if (tag) {
		snprintf(tag, 16, "m%u", ++c->next_tag);
		if (mv_buf_add(&b, tag, strlen(tag)) || mv_buf_add(&b, " ", 1)) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
	}
	for (const char *f = fmt; *f && rc == MV_OK; f++) {
		const char *s = NULL;
		size_t n = 0;

		if (*f != '%') {
			if (mv_buf_add(&b, f, 1))
				rc = mv_fail(e, MV_E_LIMIT, "command too long");
			continue;
		}
		f++;
		if (*f == 's') {
			s = va_arg(ap, const char *);
			n = strlen(s);
		} else if (*f == 'u') {
			n = (size_t)snprintf(num, sizeof num, "%u", va_arg(ap, unsigned));
			s = num;
		} else if (f[0] == 'l' && f[1] == 'l' && f[2] == 'u') {
			n = (size_t)snprintf(num, sizeof num, "%llu",
					     va_arg(ap, unsigned long long));
			s = num;
			f += 2;
		} else if (*f == '%') {
			s = "%";
			n = 1;
		} else if (*f == 'M') {
			const char *m = va_arg(ap, const char *);
			size_t ml = strlen(m);

			if (needs_literal(m)) {
				int plus = mv_imapc_has(c, "LITERAL+");

				n = (size_t)snprintf(num, sizeof num, "{%zu%s}\r\n", ml,
						     plus ? "+" : "");
				if (mv_buf_add(&b, num, n)) {
					rc = mv_fail(e, MV_E_LIMIT, "command too long");
					break;
				}
				if (!plus) {
					if ((rc = mv_conn_write(c->conn, b.data, b.len, e)) ||
					    (rc = wait_continue(c, tag ? tag : "", e)))
						break;
					mv_buf_reset(&b);
				}
				s = m;
				n = ml;
			} else {
				if (mv_buf_add(&b, "\"", 1))
					rc = mv_fail(e, MV_E_LIMIT, "command too long");
				for (size_t k = 0; k < ml && rc == MV_OK; k++)
					if ((m[k] == '"' || m[k] == '\\') && mv_buf_add(&b, "\\", 1))
						rc = mv_fail(e, MV_E_LIMIT, "command too long");
					else if (mv_buf_add(&b, m + k, 1))
						rc = mv_fail(e, MV_E_LIMIT, "command too long");
				s = "\"";
				n = 1;
			}
		} else {
			rc = mv_fail(e, MV_E_USAGE, "bad command format");
			break;
		}
		if (rc == MV_OK && mv_buf_add(&b, s, n))
			rc = mv_fail(e, MV_E_LIMIT, "command too long");
	}
	if (rc == MV_OK && crlf && mv_buf_add(&b, "\r\n", 2))
		rc = mv_fail(e, MV_E_LIMIT, "command too long");
	if (rc == MV_OK && b.len)
		rc = mv_conn_write(c->conn, b.data, b.len, e);
out:
	mv_buf_release(&b);
	return rc;
}

static enum mv_err vsend(struct mv_imapc *c, char tag[16], struct mv_error *e,
			 const char *fmt, va_list ap)
{
	return vsend_part(c, tag, 1, e, fmt, ap);
}

enum mv_err mv_imapc_start(struct mv_imapc *c, char tag[16], struct mv_error *e,
			   const char *fmt, ...)
{
	va_list ap;
	enum mv_err rc;

	va_start(ap, fmt);
	rc = vsend_part(c, tag, 0, e, fmt, ap);
	va_end(ap);
	return rc;
}

enum mv_err mv_imapc_more(struct mv_imapc *c, int crlf, struct mv_error *e,
			  const char *fmt, ...)
{
	va_list ap;
	enum mv_err rc;

	va_start(ap, fmt);
	rc = vsend_part(c, NULL, crlf, e, fmt, ap);
	va_end(ap);
	return rc;
}

enum mv_err mv_imapc_write(struct mv_imapc *c, const void *p, size_t n, struct mv_error *e)
{
	return mv_conn_write(c->conn, p, n, e);
}

enum mv_err mv_imapc_wait_continue(struct mv_imapc *c, const char *tag, struct mv_error *e)
{
	return wait_continue(c, tag, e);
}

enum mv_err mv_imapc_send(struct mv_imapc *c, char tag[16], struct mv_error *e,
			  const char *fmt, ...)
{
	va_list ap;
	enum mv_err rc;

	va_start(ap, fmt);
	rc = vsend(c, tag, e, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- waiting ---- */

enum mv_err mv_imapc_wait(struct mv_imapc *c, const char *tag,
			  mv_imapc_untagged_fn fn, void *ctx, uint32_t *throttled,
			  const struct mv_imap_resp **resp, struct mv_error *e)
{
	if (throttled)
		*throttled = 0;
	for (;;) {
		const struct mv_imap_resp *r;
		enum mv_err rc = next(c, &r, e);

		if (rc)
			return rc;
		if (resp)
			*resp = r;
		if (r->kind == MV_IMAP_CONTINUE)
			return mv_fail(e, MV_E_NET, "unexpected continuation request from the server");
		if (r->kind == MV_IMAP_UNTAGGED) {
			if (fn && (rc = fn(ctx, r, e)))
				return rc;
			continue;
		}
		if (strcmp(r->tag, tag) != 0) {
			char t[40];

			printable(t, sizeof t, r->tag);
			return mv_fail(e, MV_E_NET, "the server answered tag '%s', "
				       "which was not sent or not awaited", t);
		}
		if (r->type == MV_IMAP_OK)
			return MV_OK;
		if (r->throttled && throttled) {
			*throttled = r->backoff_ms ? r->backoff_ms : 1000;
			return MV_OK;
		}
		{
			char t[200];

			printable(t, sizeof t, r->text);
			return mv_fail(e, r->throttled ? MV_E_NET : MV_E_PARSE,
				       "the server answered %s%s%s%s: %s",
				       r->type == MV_IMAP_NO ? "NO" : "BAD",
				       r->code[0] ? " [" : "", r->code, r->code[0] ? "]" : "", t);
		}
	}
}

enum mv_err mv_imapc_cmd(struct mv_imapc *c, mv_imapc_untagged_fn fn, void *ctx,
			 struct mv_error *e, const char *fmt, ...)
{
	enum mv_err rc = MV_OK;
	uint32_t wait_ms = 0;

	for (int attempt = 0; attempt <= THROTTLE_RETRIES; attempt++) {
		va_list ap;
		char tag[16];

		va_start(ap, fmt);
		rc = vsend(c, tag, e, fmt, ap);
		va_end(ap);
		if (rc == MV_OK)
			rc = mv_imapc_wait(c, tag, fn, ctx, &wait_ms, NULL, e);
		if (rc || !wait_ms)
			return rc;
		if (c->throttle_fn)
			c->throttle_fn(c->throttle_ctx, wait_ms);
		mv_imapc_backoff(wait_ms);
	}
	return mv_fail(e, MV_E_NET, "the server kept throttling the command");
}

/* ---- opening and closing ---- */

enum mv_err mv_imapc_open(struct mv_imapc **out, const struct mv_conn_opts *o,
			  uint64_t max_body, struct mv_error *e)
{
	struct mv_imapc *c = calloc(1, sizeof *c);
	enum mv_err rc;

	*out = NULL;
	if (!c)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if ((rc = mv_conn_open(&c->conn, o, e)) ||
	    (rc = mv_imap_new(&c->p, mv_conn_read, c->conn, max_body, e)))
		goto out;
	/* The login's CAPABILITY went to libcurl: ask again (RFC 3501 allows
	 * capabilities to change after authentication). */
	if ((rc = mv_imapc_cmd(c, NULL, NULL, e, "CAPABILITY")))
		goto out;
	if (!mv_imapc_has(c, "IMAP4REV1") && !mv_imapc_has(c, "IMAP4REV2"))
		rc = mv_fail(e, MV_E_PARSE, "the server does not speak IMAP4rev1");
out:
	if (rc) {
		mv_imapc_free(c);
		return rc;
	}
	*out = c;
	return MV_OK;
}

void mv_imapc_free(struct mv_imapc *c)
{
	if (!c)
		return;
	mv_imap_free(c->p);
	mv_conn_close(c->conn);
	free(c);
}

void mv_imapc_close(struct mv_imapc *c)
{
	struct mv_error e;
	char tag[16];

	if (!c)
		return;
	mv_error_clear(&e);
	mv_imap_set_body_sink(c->p, NULL);
	if (mv_imapc_send(c, tag, &e, "LOGOUT") == MV_OK)
		mv_imapc_wait(c, tag, NULL, NULL, NULL, NULL, &e);
	mv_imapc_free(c);
}

uint8_t mv_imapc_special(const struct mv_imap_resp *r)
{
	static const struct { const char *a; uint8_t bit; } t[] = {
		{ "\\All", MV_SU_ALL }, { "\\Archive", MV_SU_ARCHIVE },
		{ "\\Drafts", MV_SU_DRAFTS }, { "\\Flagged", MV_SU_FLAGGED },
		{ "\\Junk", MV_SU_JUNK }, { "\\Sent", MV_SU_SENT },
		{ "\\Trash", MV_SU_TRASH }, { "\\Noselect", MV_SU_NOSELECT },
		{ "\\NonExistent", MV_SU_NOSELECT },
	};
	uint8_t bits = 0;

	for (size_t i = 0; i < r->natoms; i++)
		for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
			if (strcasecmp(r->atoms[i], t[k].a) == 0)
				bits |= t[k].bit;
	return bits;
}
