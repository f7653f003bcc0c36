/* imap_pull.c - an IMAP account into a new version; see imap_pull.h. */
#include "imap_pull.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "imap_client.h"
#include "imapdate.h"
#include "index.h"
#include "msgmeta.h"
#include "pull_int.h"
#include "utf7.h"

#define BATCH_DEFAULT 250
/* UIDs of one folder (the index's own bound is the file size). */
#define MAX_UIDS 50000000u
#define RECONNECTS_DEFAULT 8
/* A literal larger than this is refused by the parser before anything is
 * read for it (the archive's own limit is larger; no mail server sends
 * such messages). */
#define MAX_BODY (4ull << 30)

/* A folder as LIST gave it. */
struct lfolder {
	char *name;                  /* bytes as sent */
	char delim;
	uint8_t special;             /* format-spec 6.1 bits */
	char *utf8;                  /* '/'-separated display and match form */
	int have_st;                 /* st holds the STATUS asked before the folders */
	struct mv_imap_status st;
};

/* A UID to fetch this pass, and what became of it. */
/* T_STORE: hashed only, not found; T_CHECK: its BODY[] holds 0x80 bytes,
 * which may be NULs the server replaced (see fetch_pass). */
enum { T_PENDING, T_DONE, T_STORE, T_CHECK };

struct todo {
	uint32_t uid;
	uint8_t state;
	uint8_t tries;
};

struct flagupd {
	uint32_t uid;
	uint32_t flags;
	uint16_t nkw;
	char **kw;
};

/* How the body being received is handled: into a compression job's
 * buffer, into our own buffer, streamed to the writer (large), hashed
 * only (a likely copy), or dropped. */
enum { M_NONE, M_JOB, M_BUFFER, M_STREAM, M_HASH, M_DISCARD };

struct ip {
	struct pull *p;
	const struct mv_imap_pull_opts *io;
	struct mv_imap_report *rep;
	struct mv_imapc *c;
	char url[300];
	int condstore, esearch, binary;

	struct lfolder *lf;
	size_t nlf;

	/* The folder being pulled. */
	struct mv_folder *f;
	size_t fno;
	struct mv_imap_folder_report *fr;
	const struct mv_folder *prevf;   /* previous complete version's */
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;
	int have_modseq;
	uint32_t *uids;                  /* on the server now, sorted */
	size_t nuids, capuids;
	struct flagupd *fu;              /* fresh flags, sorted by UID */
	size_t nfu, capfu;
	struct todo *todo;               /* sorted by UID */
	size_t ntodo;
	int prefilter;                   /* hash-only fetch for likely copies */

	/* The body being received. */
	int mode;
	uint8_t *mbuf;                   /* SMALL_MAX bytes */
	uint8_t *jbuf;                   /* M_JOB: the job's buffer */
	int saw80;                       /* the body holds a 0x80 byte */
	int check;                       /* the BODY[] + BINARY[] pass */
	uint8_t *bbuf;                   /* check pass: BINARY[] bytes */
	size_t blen;
	int have_body, have_binary, into_binary;
	size_t mlen;
	uint64_t msize;
	struct mv_hmac *hs;
	int body_ok;                     /* begin..end went through */
};

static void note(struct ip *x, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(struct ip *x, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mv_eventv(x->io->event, x->io->event_ctx, kind, fmt, ap);
	va_end(ap);
}

void mv_imap_report_release(struct mv_imap_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].name);
		free(r->f[i].why);
	}
	free(r->f);
	r->f = NULL;
	r->nf = 0;
}

/* ---- folder names and patterns ---- */

static int fold(int c)
{
	return c >= 'a' && c <= 'z' ? c - 32 : c;
}

static int match(const char *p, const char *s, int nocase)
{
	for (; *p; p++, s++) {
		if (*p == '*' || *p == '%') {
			for (const char *t = s;; t++) {
				if (match(p + 1, t, nocase))
					return 1;
				if (!*t || (*p == '%' && *t == '/'))
					return 0;
			}
		}
		if (!*s || (nocase ? fold(*p) != fold(*s) : *p != *s))
			return 0;
	}
	return *s == '\0';
}

int mv_imap_folder_match(const char *pattern, const char *name)
{
	/* INBOX is case-insensitive (RFC 3501 5.1), and so is the INBOX
	 * part of a pattern naming it. */
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/') &&
	    strncasecmp(pattern, "INBOX", 5) == 0)
		return match(pattern + 5, name + 5, 0);
	return match(pattern, name, 0);
}

int mv_imap_folder_wanted(const char *const *include, size_t ninclude,
			  const char *const *exclude, size_t nexclude, const char *utf8)
{
	int in = ninclude == 0;

	for (size_t i = 0; i < ninclude && !in; i++)
		in = mv_imap_folder_match(include[i], utf8);
	for (size_t i = 0; i < nexclude && in; i++)
		in = !mv_imap_folder_match(exclude[i], utf8);
	return in;
}

static int wanted(const struct mv_imap_pull_opts *io, const char *utf8)
{
	return mv_imap_folder_wanted(io->include, io->ninclude, io->exclude, io->nexclude,
				     utf8);
}


static enum mv_err on_list(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct ip *x = ctx;
	struct lfolder *n, *lf;

	if (r->type != MV_IMAP_LIST)
		return MV_OK;
	if (!r->mailbox || !r->mailbox_len || r->mailbox_len > MV_MAX_FOLDER_NAME ||
	    strlen(r->mailbox) != r->mailbox_len) {
		note(x, "warning", "a folder name of %zu bytes was left out "
		     "(empty, over %u bytes, or holding NUL)", r->mailbox_len,
		     MV_MAX_FOLDER_NAME);
		return MV_OK;
	}
	for (size_t i = 0; i < x->nlf; i++)
		if (strcmp(x->lf[i].name, r->mailbox) == 0)
			return MV_OK;
	if (x->nlf >= MV_MAX_FOLDERS)
		return mv_fail(e, MV_E_LIMIT, "the server lists more than %u folders",
			       MV_MAX_FOLDERS);
	n = realloc(x->lf, (x->nlf + 1) * sizeof *n);
	if (!n)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	x->lf = n;
	lf = &x->lf[x->nlf];
	memset(lf, 0, sizeof *lf);
	lf->delim = r->delim;
	lf->special = mv_imapc_special(r);
	lf->name = strdup(r->mailbox);
	lf->utf8 = lf->name ? mv_utf7_display(lf->name, lf->delim) : NULL;
	if (!lf->name || !lf->utf8) {
		free(lf->name);
		free(lf->utf8);
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	x->nlf++;
	return MV_OK;
}

static int cmp_lf(const void *a, const void *b)
{
	return strcmp(((const struct lfolder *)a)->name, ((const struct lfolder *)b)->name);
}

/* ---- flags ---- */

static void free_kw(char **kw, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(kw[i]);
	free(kw);
}

/* Splits FETCH FLAGS into system flag bits and keywords. */
static enum mv_err parse_flags(struct ip *x, const struct mv_imap_fetch *f,
			       uint32_t *flags, char ***kw, uint16_t *nkw,
			       struct mv_error *e)
{
	static const struct { const char *n; uint32_t bit; } sys[] = {
		{ "\\Seen", MV_FLAG_SEEN }, { "\\Answered", MV_FLAG_ANSWERED },
		{ "\\Flagged", MV_FLAG_FLAGGED }, { "\\Deleted", MV_FLAG_DELETED },
		{ "\\Draft", MV_FLAG_DRAFT },
	};
	size_t n = 0;

	*flags = 0;
	*kw = NULL;
	*nkw = 0;
	if (f->nflags && !(*kw = calloc(f->nflags, sizeof **kw)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (size_t i = 0; i < f->nflags; i++) {
		const char *fl = f->flags[i];
		size_t k;

		for (k = 0; k < sizeof sys / sizeof sys[0]; k++)
			if (strcasecmp(fl, sys[k].n) == 0)
				break;
		if (k < sizeof sys / sizeof sys[0]) {
			*flags |= sys[k].bit;
			continue;
		}
		if (fl[0] == '\\' || !fl[0] || strlen(fl) > MV_MAX_KEYWORD_LEN ||
		    n >= MV_MAX_KEYWORDS) {
			note(x, "warning", "folder '%s' UID %u: flag '%.64s' not kept",
			     x->fr->name, f->uid, fl);
			continue;
		}
		if (!((*kw)[n] = strdup(fl))) {
			free_kw(*kw, n);
			*kw = NULL;
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		}
		n++;
	}
	*nkw = (uint16_t)n;
	return MV_OK;
}

/* Index of the first of n records (size bytes apart, each holding a
 * uint32_t UID at offset at, sorted by it) whose UID is not below uid. */
static size_t uid_lower_bound(const void *base, size_t n, size_t size, size_t at,
			      uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t u;

		memcpy(&u, (const char *)base + mid * size + at, sizeof u);
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct flagupd *find_fu(struct ip *x, uint32_t uid)
{
	size_t i = uid_lower_bound(x->fu, x->nfu, sizeof *x->fu,
				   offsetof(struct flagupd, uid), uid);

	return i < x->nfu && x->fu[i].uid == uid ? &x->fu[i] : NULL;
}

static struct todo *find_todo(struct ip *x, uint32_t uid)
{
	size_t i = uid_lower_bound(x->todo, x->ntodo, sizeof *x->todo,
				   offsetof(struct todo, uid), uid);

	return i < x->ntodo && x->todo[i].uid == uid ? &x->todo[i] : NULL;
}

static void clear_fu(struct ip *x)
{
	for (size_t i = 0; i < x->nfu; i++)
		free_kw(x->fu[i].kw, x->fu[i].nkw);
	x->nfu = 0;
}

static int cmp_fu(const void *a, const void *b)
{
	uint32_t x = ((const struct flagupd *)a)->uid, y = ((const struct flagupd *)b)->uid;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static enum mv_err add_uid(struct ip *x, uint32_t uid, struct mv_error *e)
{
	if (x->nuids == x->capuids) {
		size_t nc = x->capuids ? x->capuids * 2 : 1024;
		uint32_t *n;

		if (nc > MAX_UIDS + 1)
			return mv_fail(e, MV_E_LIMIT, "folder '%s' holds more than %u messages",
				       x->fr->name, MAX_UIDS);
		if (!(n = realloc(x->uids, nc * sizeof *n)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		x->uids = n;
		x->capuids = nc;
	}
	x->uids[x->nuids++] = uid;
	return MV_OK;
}

/* FETCH (UID FLAGS) answers: the UID set and fresh flags. */
static enum mv_err on_flags(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct ip *x = ctx;
	struct flagupd *u;
	enum mv_err rc;

	if (r->type == MV_IMAP_EXISTS) {
		x->exists = r->num;
		return MV_OK;
	}
	if (r->type != MV_IMAP_FETCH || !(r->fetch.have & MV_IMAP_F_UID) ||
	    !(r->fetch.have & MV_IMAP_F_FLAGS))
		return MV_OK;
	if (x->nfu == x->capfu) {
		size_t nc = x->capfu ? x->capfu * 2 : 1024;
		struct flagupd *n;

		if (nc > (size_t)MAX_UIDS * 2)
			return mv_fail(e, MV_E_LIMIT, "too many FETCH responses");
		if (!(n = realloc(x->fu, nc * sizeof *n)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		x->fu = n;
		x->capfu = nc;
	}
	u = &x->fu[x->nfu];
	u->uid = r->fetch.uid;
	if ((rc = parse_flags(x, &r->fetch, &u->flags, &u->kw, &u->nkw, e)))
		return rc;
	x->nfu++;
	return MV_OK;
}

/* UID SEARCH / ESEARCH answers: the UID set. */
static enum mv_err on_search(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct ip *x = ctx;
	const char *s, *end;
	enum mv_err rc;

	if (r->type == MV_IMAP_EXISTS) {
		x->exists = r->num;
		return MV_OK;
	}
	if (r->type != MV_IMAP_OTHER || !r->rest)
		return MV_OK;
	s = r->rest;
	end = r->rest + r->rest_len;
	if (strcmp(r->name, "ESEARCH") == 0) {
		/* (TAG "x") UID ALL set */
		const char *all = strstr(s, " ALL ");

		if (!all)
			return MV_OK;
		s = all + 5;
		while (s < end) {
			uint32_t lo, hi;

			if (!mv_imap_set_next(&s, &lo, &hi))
				break;
			for (uint64_t u = lo; u <= hi; u++)
				if ((rc = add_uid(x, (uint32_t)u, e)))
					return rc;
		}
		return MV_OK;
	}
	if (strcmp(r->name, "SEARCH") != 0)
		return MV_OK;
	while (s < end) {
		unsigned long long v = 0;
		int digits = 0;

		while (s < end && *s == ' ')
			s++;
		while (s < end && *s >= '0' && *s <= '9' && digits < 11) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (!digits)
			break;
		if (v == 0 || v > UINT32_MAX)
			return mv_fail(e, MV_E_PARSE, "SEARCH returned UID %llu", v);
		if ((rc = add_uid(x, (uint32_t)v, e)))
			return rc;
	}
	return MV_OK;
}

/* ---- EXAMINE ---- */

static enum mv_err on_select(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct ip *x = ctx;

	(void)e;
	if (r->type == MV_IMAP_EXISTS)
		x->exists = r->num;
	if (r->type == MV_IMAP_OK && r->ncode_num) {
		if (strcmp(r->code, "UIDVALIDITY") == 0)
			x->uidvalidity = (uint32_t)r->code_num[0];
		else if (strcmp(r->code, "UIDNEXT") == 0)
			x->uidnext = (uint32_t)r->code_num[0];
		else if (strcmp(r->code, "HIGHESTMODSEQ") == 0) {
			x->modseq = r->code_num[0];
			x->have_modseq = 1;
		}
	}
	return MV_OK;
}

/* ---- bodies ---- */

static enum mv_err body_begin(void *ctx, const struct mv_imap_body *b, struct mv_error *e)
{
	struct ip *x = ctx;
	struct todo *t = NULL;
	enum mv_err rc = MV_OK;

	x->body_ok = 0;
	x->saw80 = 0;
	if (x->check) {
		/* Both forms of a small message, each in its own buffer. */
		x->into_binary = strncmp(b->item, "BINARY", 6) == 0;
		if (b->size > SMALL_MAX) {
			x->mode = M_DISCARD;
			return MV_OK;
		}
		if (x->into_binary) {
			x->blen = 0;
			x->have_binary = 0;
		} else {
			x->mlen = 0;
			x->msize = b->size;
			x->have_body = 0;
		}
		x->mode = M_BUFFER;
		return MV_OK;
	}
	x->msize = b->size;
	x->mlen = 0;
	if (b->uid)
		t = find_todo(x, b->uid);
	if (!b->uid || !t || t->state == T_DONE) {
		/* Not asked for (or UID not before the body): nothing to keep.
		 * Servers send UID first in practice; a body we cannot place
		 * is fetched again by UID. */
		x->mode = M_DISCARD;
		return MV_OK;
	}
	if (b->size <= SMALL_MAX) {
		if ((rc = mv_pull_job_begin(x->p, (size_t)b->size, &x->jbuf, e)))
			return rc;
		x->mode = x->jbuf ? M_JOB : M_BUFFER;
		return MV_OK;
	}
	if (x->prefilter && t->state == T_PENDING && x->prevf) {
		for (size_t i = 0; i < x->prevf->n; i++)
			if (x->prevf->e[i].blob.raw_size == b->size) {
				x->mode = M_HASH;
				mv_hmac_free(x->hs);
				x->hs = mv_vault_content_hasher(x->p->v);
				return x->hs ? MV_OK : mv_fail(e, MV_E_NOMEM, "out of memory");
			}
	}
	x->mode = M_STREAM;
	rc = mv_pull_stream_begin(x->p, b->size, e);
	return rc;
}

static enum mv_err body_data(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct ip *x = ctx;

	if (!x->saw80 && memchr(p, 0x80, n))
		x->saw80 = 1;
	if (x->check && x->mode == M_BUFFER && x->into_binary) {
		if (n > SMALL_MAX - x->blen)
			return mv_fail(e, MV_E_LENGTH, "body longer than announced");
		memcpy(x->bbuf + x->blen, p, n);
		x->blen += n;
		return MV_OK;
	}
	switch (x->mode) {
	case M_JOB:
		if (n > x->msize - x->mlen)
			return mv_fail(e, MV_E_LENGTH, "body longer than announced");
		memcpy(x->jbuf + x->mlen, p, n);
		x->mlen += n;
		return MV_OK;
	case M_BUFFER:
		if (n > SMALL_MAX - x->mlen)
			return mv_fail(e, MV_E_LENGTH, "body longer than announced");
		memcpy(x->mbuf + x->mlen, p, n);
		x->mlen += n;
		return MV_OK;
	case M_STREAM:
		return mv_pull_stream_feed(x->p, p, n, e);
	case M_HASH:
		mv_hmac_update(x->hs, p, n);
		return MV_OK;
	default:
		return MV_OK;
	}
}

static enum mv_err body_end(void *ctx, struct mv_error *e)
{
	struct ip *x = ctx;

	(void)e;
	x->body_ok = 1;
	if (x->check && x->mode == M_BUFFER) {
		if (x->into_binary)
			x->have_binary = 1;
		else
			x->have_body = 1;
	}
	return MV_OK;
}

/*
 * The bytes to keep from the check pass: BINARY[] when it is BODY[] with
 * some 0x80 bytes back to the NULs they stood for (same length, and every
 * difference is 0x80 in BODY[] against 0x00 in BINARY[]); else BODY[],
 * which is then the message as the server has it (a BINARY[] that decoded
 * base64 or quoted-printable parts is not the original message).
 */
static int binary_restores_nul(const struct ip *x)
{
	int diff = 0;

	if (!x->have_binary || !x->have_body || x->blen != x->mlen)
		return 0;
	for (size_t i = 0; i < x->mlen; i++)
		if (x->mbuf[i] != x->bbuf[i]) {
			if (x->mbuf[i] != 0x80 || x->bbuf[i] != 0)
				return 0;
			diff = 1;
		}
	return diff;
}


static void skip(struct ip *x, uint32_t uid, const char *why)
{
	x->fr->skipped++;
	x->rep->skipped++;
	if (!x->fr->why)
		x->fr->why = strdup(why);
	note(x, "skipped", "folder '%s' UID %u: %s", x->fr->name, uid, why);
}

/* A whole FETCH response with a body: the message becomes an entry. */
static enum mv_err on_fetch(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct ip *x = ctx;
	const struct mv_imap_fetch *f = &r->fetch;
	struct todo *t;
	struct mv_entry *en;
	size_t eno;
	/* A copy: the entry it came from may move when x->f grows. */
	struct mv_blobref have;
	enum mv_err rc = MV_OK;
	int mode = x->mode;

	if (r->type == MV_IMAP_EXISTS)
		x->exists = r->num;
	if (r->type != MV_IMAP_FETCH || !(f->have & MV_IMAP_F_BODY))
		return MV_OK;
	x->mode = M_NONE;
	t = (f->have & MV_IMAP_F_UID) ? find_todo(x, f->uid) : NULL;
	if (f->body_nil && t && t->state != T_DONE) {
		/* Checked first: NIL calls no body callback, so no mode was
		 * chosen for it. */
		if (mode == M_STREAM)
			mv_pull_stream_abort(x->p);
		t->state = T_DONE;
		skip(x, t->uid, "the server returned NIL for its body");
		return MV_OK;
	}
	if (mode == M_DISCARD || mode == M_NONE || !t || t->state == T_DONE) {
		if (mode == M_STREAM)
			mv_pull_stream_abort(x->p);
		return MV_OK;
	}
	if (!x->check && x->saw80 && x->binary && (mode == M_JOB || mode == M_BUFFER)) {
		/* Maybe NULs shown as 0x80: settled by the check pass. */
		t->state = T_CHECK;
		return MV_OK;
	}
	if (x->check) {
		if (!x->have_body)
			return MV_OK;     /* asked again by the next pass */
		if (binary_restores_nul(x)) {
			memcpy(x->mbuf, x->bbuf, x->blen);
			x->rep->nul_restored++;
		}
		mode = M_BUFFER;
	}
	if ((f->have & MV_IMAP_F_SIZE) && f->rfc822_size != x->msize) {
		x->rep->size_mismatches++;
		note(x, "warning", "folder '%s' UID %u: %llu bytes served, RFC822.SIZE "
		     "says %llu; the bytes served are kept", x->fr->name, t->uid,
		     (unsigned long long)x->msize, (unsigned long long)f->rfc822_size);
	}
	if (mode == M_HASH) {
		uint8_t h[32];

		mv_hmac_final(x->hs, h);
		mv_hmac_free(x->hs);
		x->hs = NULL;
		if (!mv_pull_lookup(x->p, h, &have)) {
			/* Not a copy after all: fetch it again to store it. */
			t->state = T_STORE;
			return MV_OK;
		}
	}
	if (!(en = mv_folder_add_entry(x->f)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	eno = (size_t)(en - x->f->e);
	en->uid = t->uid;
	if (f->internaldate && strlen(f->internaldate) <= MV_MAX_DATE_LEN)
		snprintf(en->date, sizeof en->date, "%s", f->internaldate);
	if ((f->have & MV_IMAP_F_FLAGS) &&
	    (rc = parse_flags(x, f, &en->flags, &en->kw, &en->nkw, e)))
		return rc;
	if (mode == M_JOB)
		mv_pull_job_queue(x->p, x->mlen, x->fno, eno);
	else if (mode == M_BUFFER)
		rc = mv_pull_store_buffer(x->p, x->mbuf, x->mlen, x->fno, eno, e);
	else if (mode == M_STREAM)
		rc = mv_pull_stream_end(x->p, &x->f->e[eno].blob, e);
	else {
		x->f->e[eno].blob = have;
		x->p->st->deduplicated++;
	}
	if (rc)
		return rc;
	t->state = T_DONE;
	x->fr->fetched++;
	x->fr->fetched_bytes += x->msize;
	x->p->st->messages++;
	x->p->st->bytes += x->msize;
	mv_pull_progress(x->p, NULL);
	return mv_pull_checkpoint(x->p, e);
}

/* ---- one folder ---- */

/* The entry for uid in what earlier pulls stored under the same
 * UIDVALIDITY: the newest partial checkpoint first, then the previous
 * complete version. */
static const struct mv_entry *known(struct ip *x, const char *name, uint32_t uid)
{
	for (size_t i = x->p->nparts; i-- > 0;) {
		struct mv_folder *pf = mv_index_folder(&x->p->parts[i], name, strlen(name));
		struct mv_entry *en;

		if (pf && pf->uidvalidity == x->uidvalidity &&
		    (en = mv_folder_find_uid(pf, uid)))
			return en;
	}
	if (x->prevf && x->prevf->uidvalidity == x->uidvalidity)
		return mv_folder_find_uid((struct mv_folder *)x->prevf, uid);
	return NULL;
}

static int in_parts(struct ip *x, const char *name)
{
	for (size_t i = 0; i < x->p->nparts; i++)
		if (mv_index_folder(&x->p->parts[i], name, strlen(name)))
			return 1;
	return 0;
}

/* Adds the set of up to max pending UIDs from *cur on to b ("1:5,9"). */
static size_t batch_set(struct ip *x, size_t *cur, unsigned max, int state,
			struct mv_buf *b)
{
	size_t k = 0;
	uint32_t lo = 0, hi = 0;

	mv_buf_reset(b);
	for (; *cur < x->ntodo && k < max; (*cur)++) {
		uint32_t u = x->todo[*cur].uid;

		if (x->todo[*cur].state != state)
			continue;
		if (k && u == hi + 1) {
			hi = u;
		} else {
			if (k)
				mv_buf_addf(b, lo == hi ? "%u," : "%u:%u,", lo, hi);
			lo = hi = u;
		}
		k++;
	}
	if (k)
		mv_buf_addf(b, lo == hi ? "%u" : "%u:%u", lo, hi);
	mv_buf_cstr(b);
	return k;
}

/* Fetches every todo entry in state `state`, two batches in flight. */
static enum mv_err fetch_pass(struct ip *x, int state, struct mv_error *e)
{
	/* BODY[] is the message as stored; BINARY[] decodes base64 and
	 * quoted-printable parts (RFC 3516), so it is asked for only to
	 * restore NUL bytes (check pass). */
	const char *item = x->check ? "BODY.PEEK[] BINARY.PEEK[]" : "BODY.PEEK[]";
	unsigned max = x->io->batch ? x->io->batch : BATCH_DEFAULT;
	struct mv_buf set;
	char tags[2][16];
	int inflight = 0;
	size_t cur = 0;
	enum mv_err rc = MV_OK;
	uint32_t throttled = 0, t;

	mv_buf_init(&set, 1u << 20);
	for (;;) {
		while (inflight < 2 && !throttled) {
			if (!batch_set(x, &cur, max, state, &set))
				break;
			if ((rc = mv_imapc_send(x->c, tags[inflight], e,
						"UID FETCH %s (UID FLAGS INTERNALDATE RFC822.SIZE %s)",
						(const char *)set.data, item)))
				goto out;
			inflight++;
		}
		if (!inflight)
			break;
		rc = mv_imapc_wait(x->c, tags[0], on_fetch, x, &t, NULL, e);
		if (rc)
			goto out;
		if (t) {
			throttled = t;
			x->rep->throttled++;
		}
		memcpy(tags[0], tags[1], sizeof tags[0]);
		inflight--;
		if (throttled && !inflight) {
			note(x, "throttled", "the server throttles; waiting %u ms", throttled);
			mv_imapc_backoff(throttled);
			throttled = 0;
			cur = 0;     /* what is still pending is asked again */
		}
	}
out:
	mv_buf_release(&set);
	return rc;
}

static enum mv_err copy_known(struct ip *x, const struct mv_entry *k, uint32_t uid,
			      struct mv_error *e)
{
	struct mv_entry *en = mv_folder_add_entry(x->f);
	struct flagupd *u = find_fu(x, uid);

	if (!en || mv_entry_copy(en, k) != 0)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (u) {
		for (size_t i = 0; i < en->nkw; i++)
			free(en->kw[i]);
		free(en->kw);
		en->flags = u->flags;
		en->nkw = u->nkw;
		en->kw = u->kw;
		u->kw = NULL;
		u->nkw = 0;
	}
	x->p->st->messages++;
	x->p->st->bytes += en->blob.raw_size;
	x->p->reused_bytes += en->blob.raw_size;
	x->p->st->deduplicated++;
	return MV_OK;
}

/* 1 if uid is among the first had entries of f (sorted by UID): those
 * this run took before a reconnect. */
static int had_uid(const struct mv_folder *f, size_t had, uint32_t uid)
{
	size_t i = uid_lower_bound(f->e, had, sizeof *f->e,
				   offsetof(struct mv_entry, uid), uid);

	return i < had && f->e[i].uid == uid;
}

/*
 * A folder whose STATUS (asked for every folder at once, before the
 * folders are visited) shows it as the previous version left it: the
 * same UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT and message count.  Its
 * entries stand without an EXAMINE, which costs a round trip and the
 * server's opening of the folder each (most of a no-op pull's time).
 */
static int unchanged_by_status(struct ip *x, const struct lfolder *lf)
{
	const unsigned need = MV_IMAP_ST_MESSAGES | MV_IMAP_ST_UIDNEXT |
			      MV_IMAP_ST_UIDVALIDITY | MV_IMAP_ST_HIGHESTMODSEQ;
	const struct mv_folder *pf;

	if (!lf->have_st || (lf->st.have & need) != need || in_parts(x, lf->name))
		return 0;
	pf = mv_index_folder(&x->p->prev, lf->name, strlen(lf->name));
	return pf && pf->uidvalidity == lf->st.uidvalidity && pf->modseq &&
	       pf->modseq == lf->st.highestmodseq && pf->uidnext == lf->st.uidnext &&
	       pf->n == lf->st.messages;
}

static enum mv_err folder_pass(struct ip *x, const struct lfolder *lf, struct mv_error *e)
{
	struct mv_folder *prevf = NULL;
	int sameuv, sorted;
	enum mv_err rc;
	uint32_t keep_uv = x->f ? x->f->uidvalidity : 0;

	x->uidvalidity = x->uidnext = x->exists = 0;
	x->modseq = 0;
	x->have_modseq = 0;
	/* Nothing of another folder's (or an earlier attempt's) answers may
	 * apply here. */
	x->nuids = 0;
	clear_fu(x);
	if (!x->f && unchanged_by_status(x, lf)) {
		x->f = mv_pull_begin_folder(x->p, lf->name, lf->delim, &prevf, e);
		if (!x->f)
			return e->code;
		x->fno = (size_t)(x->f - x->p->ix.f);
		x->prevf = prevf;
		x->f->uidvalidity = lf->st.uidvalidity;
		x->f->uidnext = lf->st.uidnext;
		x->f->modseq = lf->st.highestmodseq;
		x->f->special = lf->special;
		/* The previous version's entries as they are: no flag
		 * changed (same HIGHESTMODSEQ), and nothing else will. */
		if (mv_folder_borrow(x->f, prevf))
			return mv_fail(e, MV_E_INTERNAL, "folder '%s' taken twice", lf->utf8);
		for (size_t i = 0; i < prevf->n; i++) {
			x->p->st->messages++;
			x->p->st->bytes += prevf->e[i].blob.raw_size;
			x->p->reused_bytes += prevf->e[i].blob.raw_size;
			x->p->st->deduplicated++;
		}
		return MV_OK;
	}
	rc = mv_imapc_cmd(x->c, on_select, x, e,
			  x->condstore ? "EXAMINE %M (CONDSTORE)" : "EXAMINE %M", lf->name);
	if (rc == MV_E_PARSE && x->f == NULL) {
		/* NO: the folder went away after LIST, or cannot be read. */
		note(x, "warning", "folder '%s' cannot be opened: %s", lf->utf8, e->msg);
		mv_error_clear(e);
		x->fr->why = x->fr->why ? x->fr->why : strdup("cannot be opened");
		x->fr->skipped++;
		x->rep->skipped++;
		return MV_OK;
	}
	if (rc)
		return rc;
	if (!x->uidvalidity)
		return mv_fail(e, MV_E_PARSE, "folder '%s': the server gave no UIDVALIDITY",
			       lf->utf8);
	if (!x->f) {
		x->f = mv_pull_begin_folder(x->p, lf->name, lf->delim, &prevf, e);
		if (!x->f)
			return e->code;
		x->fno = (size_t)(x->f - x->p->ix.f);
		x->prevf = prevf;
	} else if (keep_uv != x->uidvalidity) {
		/* Reset while we were away: what this run took is void. */
		mv_folder_clear(x->f);
	}
	x->f->uidvalidity = x->uidvalidity;
	x->f->uidnext = x->uidnext;
	x->f->modseq = x->have_modseq ? x->modseq : 0;
	x->f->special = lf->special;
	sameuv = x->prevf && x->prevf->uidvalidity == x->uidvalidity;

	/* Nothing changed since the last version: its entries stand. */
	if (x->f->n == 0 && sameuv && x->have_modseq && x->prevf->modseq == x->modseq &&
	    x->prevf->uidnext == x->uidnext && x->exists == x->prevf->n &&
	    !in_parts(x, lf->name)) {
		if (mv_folder_reserve(x->f, x->prevf->n))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		for (size_t i = 0; i < x->prevf->n; i++)
			if ((rc = copy_known(x, &x->prevf->e[i], x->prevf->e[i].uid, e)))
				return rc;
		return MV_OK;
	}
	if (x->exists) {
		if (x->condstore && x->have_modseq && sameuv && x->prevf->modseq) {
			rc = mv_imapc_cmd(x->c, on_search, x, e, x->esearch ?
					  "UID SEARCH RETURN (ALL) ALL" : "UID SEARCH ALL");
			if (rc == MV_OK)
				rc = mv_imapc_cmd(x->c, on_flags, x, e,
						  "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %llu)",
						  (unsigned long long)x->prevf->modseq);
		} else {
			rc = mv_imapc_cmd(x->c, on_flags, x, e, "UID FETCH 1:* (UID FLAGS)");
			for (size_t i = 0; rc == MV_OK && i < x->nfu; i++)
				rc = add_uid(x, x->fu[i].uid, e);
		}
		if (rc)
			return rc;
	}
	if (x->nuids)
		qsort(x->uids, x->nuids, sizeof *x->uids, cmp_u32);
	if (x->nfu)
		qsort(x->fu, x->nfu, sizeof *x->fu, cmp_fu);
	/* Entries this run already took (before a reconnect) stay; the
	 * writer holds no job for them once retired, so they may move. */
	if ((rc = mv_pull_retire(x->p, 1, e)))
		return rc;
	/* Only entries that moved need the blob map redone. */
	if ((sorted = mv_folder_sort(x->f)) == -2)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (sorted < 0)
		return mv_fail(e, MV_E_INTERNAL, "folder '%s': a UID twice", lf->utf8);
	if (sorted == 1 && mv_pull_folder_moved(x->p))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	free(x->todo);
	x->todo = NULL;
	x->ntodo = 0;
	if (x->nuids && !(x->todo = calloc(x->nuids, sizeof *x->todo)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	/* Every UID becomes an entry (known ones now, fetched ones later). */
	if (mv_folder_reserve(x->f, x->nuids))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	{
		size_t had = x->f->n;

		for (size_t i = 0; i < x->nuids; i++) {
			uint32_t u = x->uids[i];
			const struct mv_entry *k;

			if (i && u == x->uids[i - 1])
				continue;
			if (had && had_uid(x->f, had, u))
				continue;
			if ((k = known(x, lf->name, u))) {
				if ((rc = copy_known(x, k, u, e)))
					return rc;
				continue;
			}
			x->todo[x->ntodo].uid = u;
			x->todo[x->ntodo].state = T_PENDING;
			x->ntodo++;
		}
	}
	if (sameuv && x->fr->gone == 0) {
		size_t j = 0;

		for (size_t i = 0; i < x->prevf->n; i++) {
			uint32_t u = x->prevf->e[i].uid;

			while (j < x->nuids && x->uids[j] < u)
				j++;
			if (j >= x->nuids || x->uids[j] != u)
				x->fr->gone++;
		}
	}
	x->prefilter = !sameuv;
	if ((rc = fetch_pass(x, T_PENDING, e)))
		return rc;
	/* A UID the server did not answer for is asked once more. */
	if ((rc = fetch_pass(x, T_PENDING, e)))
		return rc;
	x->prefilter = 0;
	for (size_t i = 0; i < x->ntodo; i++)
		if (x->todo[i].state == T_STORE)
			x->todo[i].state = T_PENDING;
	if ((rc = fetch_pass(x, T_PENDING, e)))
		return rc;
	if (x->binary) {
		/* Messages whose BODY[] holds 0x80: both forms, once more. */
		x->check = 1;
		rc = fetch_pass(x, T_CHECK, e);
		x->check = 0;
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < x->ntodo; i++)
		if (x->todo[i].state != T_DONE) {
			x->todo[i].state = T_DONE;
			skip(x, x->todo[i].uid, "the server sent no message for this UID "
			     "(expunged during the pull?)");
		}
	/* Queued messages get their blobs before the folder is reported. */
	return mv_pull_retire(x->p, 1, e);
}

static void on_throttle(void *ctx, uint32_t ms)
{
	struct ip *x = ctx;

	x->rep->throttled++;
	note(x, "throttled", "the server throttles; waiting %u ms", ms);
}

static enum mv_err reconnect(struct ip *x, struct mv_error *e)
{
	unsigned max = x->io->max_reconnects ? x->io->max_reconnects : RECONNECTS_DEFAULT;
	uint32_t wait = 1000;
	enum mv_err rc = MV_E_NET;

	x->rep->bytes_read += mv_imapc_bytes_read(x->c);
	mv_imapc_free(x->c);
	x->c = NULL;
	mv_pull_stream_abort(x->p);
	x->mode = M_NONE;
	while (x->rep->reconnects < max) {
		x->rep->reconnects++;
		note(x, "reconnect", "%s; reconnecting in %u s (attempt %llu of %u)", e->msg,
		     wait / 1000, (unsigned long long)x->rep->reconnects, max);
		mv_imapc_backoff(wait);
		wait = wait < 16000 ? wait * 2 : 30000;
		mv_error_clear(e);
		rc = mv_imapc_open(&x->c, &x->io->conn, MAX_BODY, e);
		if (rc == MV_OK) {
			mv_imapc_set_body_sink(x->c, &(struct mv_imap_body_sink){
				body_begin, body_data, body_end, x });
			mv_imapc_on_throttle(x->c, on_throttle, x);
			return MV_OK;
		}
		if (rc != MV_E_NET)
			return rc;
	}
	return rc;
}

static enum mv_err on_status(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct ip *x = ctx;

	(void)e;
	if (r->type != MV_IMAP_STATUS || !r->mailbox)
		return MV_OK;
	for (size_t i = 0; i < x->nlf; i++)
		if (strcmp(x->lf[i].name, r->mailbox) == 0) {
			x->lf[i].st = r->status;
			x->lf[i].have_st = 1;
			break;
		}
	return MV_OK;
}

/*
 * Asks the STATUS of every wanted folder the previous version holds, in
 * one pipelined burst (unchanged_by_status).  Only the connection's loss
 * is an error; a folder the server will not tell about is visited.
 */
static enum mv_err ask_status(struct ip *x, struct mv_error *e)
{
	char (*tags)[16] = NULL;
	size_t *which = NULL, n = 0;
	enum mv_err rc = MV_OK;

	if (!x->nlf)
		return MV_OK;
	if (!(tags = calloc(x->nlf, sizeof *tags)) || !(which = calloc(x->nlf, sizeof *which))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < x->nlf && rc == MV_OK; i++) {
		const struct lfolder *lf = &x->lf[i];

		if ((lf->special & MV_SU_NOSELECT) || !wanted(x->io, lf->utf8) ||
		    !mv_index_folder(&x->p->prev, lf->name, strlen(lf->name)))
			continue;
		rc = mv_imapc_send(x->c, tags[n], e, "STATUS %M (MESSAGES UIDNEXT UIDVALIDITY "
				   "HIGHESTMODSEQ)", lf->name);
		which[n++] = i;
	}
	for (size_t k = 0; k < n && rc == MV_OK; k++) {
		rc = mv_imapc_wait(x->c, tags[k], on_status, x, NULL, NULL, e);
		if (rc == MV_E_PARSE) {
			/* NO or BAD for this folder: EXAMINE will tell. */
			x->lf[which[k]].have_st = 0;
			mv_error_clear(e);
			rc = MV_OK;
		}
	}
	if (rc == MV_E_NET) {
		/* The first folder's EXAMINE meets the lost connection and
		 * reconnects; without STATUS every folder is examined. */
		for (size_t i = 0; i < x->nlf; i++)
			x->lf[i].have_st = 0;
		mv_error_clear(e);
		rc = MV_OK;
	}
out:
	free(tags);
	free(which);
	return rc;
}

static enum mv_err pull_folder(struct ip *x, const struct lfolder *lf, struct mv_error *e)
{
	enum mv_err rc;

	x->f = NULL;
	x->prevf = NULL;
	for (;;) {
		rc = folder_pass(x, lf, e);
		if (rc != MV_E_NET)
			break;
		if ((rc = reconnect(x, e)))
			break;
	}
	if (x->f) {
		x->fr->messages = x->f->n;
		for (size_t i = 0; i < x->f->n; i++)
			x->fr->bytes += x->f->e[i].blob.raw_size;
	}
	return rc;
}

/* ---- the account ---- */

static enum mv_err set_info(struct ip *x, struct mv_error *e)
{
	const struct mv_tls_info *t = mv_imapc_tls(x->c);
	struct mv_buf b;

	mv_buf_init(&b, 65536);
	if (mv_buf_addf(&b, "transport=%s\n", t->tls ? (x->io->conn.url.implicit_tls ?
				"imaps" : "imap+starttls") : "imap-plaintext") ||
	    (t->tls && mv_buf_addf(&b, "tls-version=%s\ntls-cipher=%s\ntls-verified=%d\n"
				   "tls-verify-result=%s\ncert-sha256=%s\nspki-pin=%s\n",
				   t->version, t->cipher, t->verified, t->verify_result,
				   t->cert_sha256, t->pin)) ||
	    mv_buf_addf(&b, "body=%s\ncapabilities=%.4000s\n",
			x->rep->binary ? "BODY.PEEK[] (BINARY.PEEK[] where it only restores NUL bytes)"
				       : "BODY.PEEK[]", mv_imapc_caps(x->c)) ||
	    mv_buf_cstr(&b)) {
		mv_buf_release(&b);
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	free(x->p->ix.info);
	x->p->ix.info = (char *)b.data;
	return MV_OK;
}

static enum mv_err imap_source(struct pull *p, void *ctx, struct mv_error *e)
{
	struct ip *x = ctx;
	enum mv_err rc;

	x->p = p;
	if ((rc = mv_imapc_open(&x->c, &x->io->conn, MAX_BODY, e)))
		return rc;
	x->rep->tls = *mv_imapc_tls(x->c);
	x->rep->binary = x->binary = mv_imapc_has(x->c, "BINARY");
	if (x->binary && !(x->bbuf = malloc(SMALL_MAX)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	x->condstore = mv_imapc_has(x->c, "CONDSTORE");
	x->esearch = mv_imapc_has(x->c, "ESEARCH");
	if ((rc = set_info(x, e)))
		return rc;
	mv_imapc_set_body_sink(x->c, &(struct mv_imap_body_sink){
		body_begin, body_data, body_end, x });
	mv_imapc_on_throttle(x->c, on_throttle, x);
	rc = mv_imapc_cmd(x->c, on_list, x, e,
			  mv_imapc_has(x->c, "SPECIAL-USE") && mv_imapc_has(x->c, "LIST-EXTENDED")
			  ? "LIST \"\" \"*\" RETURN (SPECIAL-USE)" : "LIST \"\" \"*\"");
	if (rc)
		return rc;
	if (x->nlf)
		qsort(x->lf, x->nlf, sizeof *x->lf, cmp_lf);
	/* The previous versions loaded while we connected (pull_int.h). */
	if ((rc = mv_pull_prev(p, e)))
		return rc;
	if (x->condstore && (rc = ask_status(x, e)))
		return rc;
	for (size_t i = 0; i < x->nlf && rc == MV_OK; i++) {
		struct lfolder *lf = &x->lf[i];
		struct mv_imap_folder_report *nr;

		if (!wanted(x->io, lf->utf8))
			continue;
		nr = realloc(x->rep->f, (x->rep->nf + 1) * sizeof *nr);
		if (!nr)
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		x->rep->f = nr;
		x->fr = &nr[x->rep->nf++];
		memset(x->fr, 0, sizeof *x->fr);
		if (!(x->fr->name = strdup(lf->utf8)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		if (lf->special & MV_SU_NOSELECT) {
			struct mv_folder *prevf, *f;

			/* Kept for the hierarchy; it holds no messages. */
			f = mv_pull_begin_folder(p, lf->name, lf->delim, &prevf, e);
			if (!f)
				return e->code;
			f->special = lf->special;
			continue;
		}
		rc = pull_folder(x, lf, e);
	}
	if (x->c)
		x->rep->bytes_read += mv_imapc_bytes_read(x->c);
	mv_imapc_close(x->c);
	x->c = NULL;
	return rc;
}

/* A pull from IMAP: the server is the slowest stage (pull_int.h). */
static const struct mv_pull_pace imap_pace = MV_PACE_IMAP;

enum mv_err mv_pull_imap(struct mv_vault *v, struct mv_writer *w,
			 const struct mv_pull_opts *o,
			 const struct mv_imap_pull_opts *io,
			 struct mv_pull_stats *st, struct mv_imap_report *rep,
			 struct mv_error *e)
{
	struct ip x;
	enum mv_err rc;
	const struct mv_url *u = &io->conn.url;

	memset(&x, 0, sizeof x);
	memset(rep, 0, sizeof *rep);
	x.io = io;
	x.rep = rep;
	if ((rc = mv_transport_init(e)))
		return rc;
	if (!(x.mbuf = malloc(SMALL_MAX))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	snprintf(x.url, sizeof x.url, "%s://%s%s%s:%u", u->implicit_tls ? "imaps" : "imap",
		 strchr(u->host, ':') ? "[" : "", u->host, strchr(u->host, ':') ? "]" : "",
		 u->port);
	rc = mv_pull_run(v, w, o, x.url, imap_source, &x, &imap_pace, st, e);
out:
	if (x.c)
		rep->bytes_read += mv_imapc_bytes_read(x.c);
	mv_imapc_free(x.c);
	mv_hmac_free(x.hs);
	for (size_t i = 0; i < x.nlf; i++) {
		free(x.lf[i].name);
		free(x.lf[i].utf8);
	}
	free(x.lf);
	free(x.uids);
	clear_fu(&x);
	free(x.fu);
	free(x.todo);
	free(x.mbuf);
	free(x.bbuf);
	mv_transport_done();
	return rc;
}
