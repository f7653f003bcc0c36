/* imap_target.c - the target account as push and compare see it; see
 * imap_target_int.h. */
#include "imap_target_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_pull.h"
#include "imapdate.h"
#include "msgmeta.h"
#include "utf7.h"

void mv_px_note(struct mv_px *x, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mv_eventv(x->o->event, x->o->event_ctx, kind, fmt, ap);
	va_end(ap);
}

/* ---- the target's folders ---- */

static enum mv_err on_list(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct mv_px *x = ctx;
	struct mv_px_tfolder *n;

	if (r->type != MV_IMAP_LIST || !r->mailbox || strlen(r->mailbox) != r->mailbox_len)
		return MV_OK;
	if (x->ntf >= MV_MAX_FOLDERS)
		return mv_fail(e, MV_E_LIMIT, "the target lists more than %u folders",
			       MV_MAX_FOLDERS);
	if (!(n = realloc(x->tf, (x->ntf + 1) * sizeof *n)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	x->tf = n;
	n = &x->tf[x->ntf];
	if (!(n->name = strdup(r->mailbox)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	n->delim = r->delim;
	n->special = mv_imapc_special(r);
	if (r->delim && (!x->td || strcasecmp(r->mailbox, "INBOX") == 0))
		x->td = r->delim;
	x->ntf++;
	return MV_OK;
}

struct mv_px_tfolder *mv_px_find_tf(struct mv_px *x, const char *name)
{
	for (size_t i = 0; i < x->ntf; i++)
		if (strcmp(x->tf[i].name, name) == 0 ||
		    (strcasecmp(name, "INBOX") == 0 && strcasecmp(x->tf[i].name, "INBOX") == 0))
			return &x->tf[i];
	return NULL;
}

char *mv_px_target_path(struct mv_px *x, const struct mv_folder *f, const char *src)
{
	uint8_t role = f->special & (uint8_t)~MV_SU_NOSELECT;

	for (size_t i = 0; i < x->o->nmap; i++) {
		const char *m = x->o->map[i], *eq = strchr(m, '=');
		size_t k = eq ? (size_t)(eq - m) : 0;

		if (eq && strncmp(src, m, k) == 0 && (src[k] == '\0' || src[k] == '/')) {
			char *out = malloc(strlen(eq + 1) + strlen(src + k) + 1);

			if (out)
				sprintf(out, "%s%s", eq + 1, src + k);
			return out;
		}
	}
	/* A role the target also has: its folder, whatever its name. */
	if (role && !(role & (role - 1)))
		for (size_t i = 0; i < x->ntf; i++)
			if (x->tf[i].special & role)
				return mv_utf7_display(x->tf[i].name, x->tf[i].delim);
	return strdup(src);
}

enum mv_err mv_px_target_name(struct mv_px *x, const char *path, struct mv_buf *b,
			      struct mv_error *e)
{
	const char *p = path;

	mv_buf_reset(b);
	if (strncasecmp(p, "INBOX", 5) == 0 && (p[5] == '\0' || p[5] == '/')) {
		if (mv_buf_addstr(b, "INBOX"))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		p += 5;
		if (*p == '/' && x->td) {
			if (mv_buf_addc(b, (uint8_t)x->td))
				return mv_fail(e, MV_E_NOMEM, "out of memory");
			p++;
		}
	}
	while (*p) {
		const char *sl = strchr(p, '/');
		size_t n = sl ? (size_t)(sl - p) : strlen(p);

		if (mv_utf7_encode(b, p, n) != MV_OK)
			return mv_fail(e, MV_E_PARSE, "folder '%s' is not UTF-8", path);
		if (!sl)
			break;
		if (mv_buf_addc(b, (uint8_t)(x->td ? x->td : '/')))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		p = sl + 1;
	}
	if (mv_buf_cstr(b))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

/* ---- what the target folder holds ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mv_px_keyword_key(const char *const *fl, size_t n, uint32_t *bits, char **out)
{
	static const struct { const char *n; uint32_t bit; } sys[] = {
		{ "\\Seen", MV_FLAG_SEEN }, { "\\Answered", MV_FLAG_ANSWERED },
		{ "\\Flagged", MV_FLAG_FLAGGED }, { "\\Deleted", MV_FLAG_DELETED },
		{ "\\Draft", MV_FLAG_DRAFT }, { "$Forwarded", MV_FLAG_PASSED },
	};
	char **kw = n ? calloc(n, sizeof *kw) : NULL;
	size_t k = 0, len = 1;
	char *s;

	*bits = 0;
	*out = NULL;
	if (n && !kw)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < sizeof sys / sizeof sys[0]; j++)
			if (strcasecmp(fl[i], sys[j].n) == 0)
				break;
		if (j < sizeof sys / sizeof sys[0])
			*bits |= sys[j].bit;
		else if (fl[i][0] != '\\')
			kw[k++] = (char *)fl[i];
	}
	if (k)
		qsort(kw, k, sizeof *kw, cmp_str);
	for (size_t i = 0; i < k; i++)
		len += strlen(kw[i]) + 1;
	if (!(s = malloc(len))) {
		free(kw);
		return -1;
	}
	s[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, kw[i]);
	}
	for (char *q = s; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 32);
	free(kw);
	*out = s;
	return 0;
}

void mv_px_forget_folder(struct mv_px *x)
{
	for (size_t i = 0; i < x->nh; i++)
		free(x->h[i].kw);
	x->nh = 0;
}

static enum mv_err on_have(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct mv_px *x = ctx;
	const struct mv_imap_fetch *f = &r->fetch;
	struct mv_px_have *h;
	int tz;

	if (r->type != MV_IMAP_FETCH || !(f->have & MV_IMAP_F_UID))
		return MV_OK;
	if ((f->have & MV_IMAP_F_BODY) && x->body_for) {
		/* The body sink hashed it; body_end kept the hash. */
		return MV_OK;
	}
	if (!(f->have & MV_IMAP_F_SIZE))
		return MV_OK;
	if (x->nh == x->caph) {
		size_t nc = x->caph ? x->caph * 2 : 1024;
		struct mv_px_have *n;

		if (nc > (50u << 20))
			return mv_fail(e, MV_E_LIMIT, "target folder too large");
		if (!(n = realloc(x->h, nc * sizeof *n)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		x->h = n;
		x->caph = nc;
	}
	h = &x->h[x->nh++];
	memset(h, 0, sizeof *h);
	h->uid = f->uid;
	h->size = f->rfc822_size;
	if ((f->have & MV_IMAP_F_FLAGS) &&
	    mv_px_keyword_key((const char *const *)f->flags, f->nflags, &h->flags, &h->kw))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (!f->internaldate || mv_imapdate_parse(f->internaldate, strlen(f->internaldate),
						  &h->date, &tz) != 0)
		h->date = INT64_MIN;
	return MV_OK;
}

static int cmp_have(const void *a, const void *b)
{
	uint32_t x = ((const struct mv_px_have *)a)->uid, y = ((const struct mv_px_have *)b)->uid;

	return x < y ? -1 : x > y;
}

struct mv_px_have *mv_px_find_have(struct mv_px *x, uint32_t uid)
{
	size_t lo = 0, hi = x->nh;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->h[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->nh && x->h[lo].uid == uid ? &x->h[lo] : NULL;
}

static enum mv_err on_select(void *ctx, const struct mv_imap_resp *r, struct mv_error *e)
{
	struct mv_px_sel *s = ctx;

	(void)e;
	if (r->type == MV_IMAP_EXISTS)
		s->exists = r->num;
	if (r->type == MV_IMAP_OK && r->ncode_num && strcmp(r->code, "UIDVALIDITY") == 0)
		s->uidvalidity = (uint32_t)r->code_num[0];
	return MV_OK;
}

enum mv_err mv_px_examine(struct mv_px *x, const char *name, int with_flags,
			  struct mv_px_sel *sel, struct mv_error *e)
{
	enum mv_err rc;

	mv_px_forget_folder(x);
	sel->exists = sel->uidvalidity = 0;
	if ((rc = mv_imapc_cmd(x->c, on_select, sel, e, "EXAMINE %M", name)))
		return rc;
	if (sel->exists && (rc = mv_imapc_cmd(x->c, on_have, x, e, "UID FETCH 1:* (UID "
					      "RFC822.SIZE INTERNALDATE%s)",
					      with_flags ? " FLAGS" : "")))
		return rc;
	if (x->nh)
		qsort(x->h, x->nh, sizeof *x->h, cmp_have);
	return MV_OK;
}

static enum mv_err body_begin(void *ctx, const struct mv_imap_body *b, struct mv_error *e)
{
	struct mv_px *x = ctx;

	x->body_for = b->uid ? mv_px_find_have(x, b->uid) : NULL;
	mv_hmac_free(x->hs);
	x->hs = mv_vault_content_hasher(x->v);
	return x->hs ? MV_OK : mv_fail(e, MV_E_NOMEM, "out of memory");
}

static enum mv_err body_data(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct mv_px *x = ctx;

	(void)e;
	mv_hmac_update(x->hs, p, n);
	return MV_OK;
}

static enum mv_err body_end(void *ctx, struct mv_error *e)
{
	struct mv_px *x = ctx;

	(void)e;
	if (x->body_for && x->binary) {
		mv_hmac_final(x->hs, x->body_for->bhash);
		x->body_for->bhashed = 1;
	} else if (x->body_for) {
		mv_hmac_final(x->hs, x->body_for->hash);
		x->body_for->hashed = 1;
	}
	mv_hmac_free(x->hs);
	x->hs = NULL;
	return MV_OK;
}

enum mv_err mv_px_hash_candidates(struct mv_px *x, int binary, struct mv_error *e)
{
	struct mv_buf set;
	enum mv_err rc = MV_OK;
	size_t k = 0;

	mv_buf_init(&set, 8u << 20);
	for (size_t i = 0; i < x->nh && rc == MV_OK; i++)
		if (x->h[i].cand && !(binary ? x->h[i].bhashed : x->h[i].hashed) &&
		    mv_buf_addf(&set, k++ ? ",%u" : "%u", x->h[i].uid))
			rc = mv_fail(e, MV_E_LIMIT, "too many candidates");
	if (rc == MV_OK && k && mv_buf_cstr(&set) == MV_OK) {
		struct mv_imap_body_sink sink = { body_begin, body_data, body_end, x };

		x->binary = binary;
		mv_imapc_set_body_sink(x->c, &sink);
		rc = mv_imapc_cmd(x->c, on_have, x, e, "UID FETCH %s (UID %s)",
				  (const char *)set.data,
				  binary ? "BINARY.PEEK[]" : "BODY.PEEK[]");
		mv_imapc_set_body_sink(x->c, NULL);
		x->binary = 0;
		/* A body cut short by a lost connection never ended. */
		x->body_for = NULL;
		mv_hmac_free(x->hs);
		x->hs = NULL;
	}
	mv_buf_release(&set);
	return rc;
}

enum mv_err mv_px_form(struct mv_px *x, const struct mv_entry *en, struct mv_srvform **slot,
		       struct mv_error *e)
{
	struct mv_srvform *f;
	enum mv_err rc;

	if (*slot)
		return MV_OK;
	if (!(f = malloc(sizeof *f)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if ((rc = mv_srvform_of(x->v, &en->blob, f, e))) {
		free(f);
		return rc;
	}
	*slot = f;
	return MV_OK;
}

void mv_px_forms_free(struct mv_srvform **forms, size_t n)
{
	if (!forms)
		return;
	for (size_t i = 0; i < n; i++)
		free(forms[i]);
	free(forms);
}

/* ---- the session ---- */

enum mv_err mv_px_init(struct mv_px *x, struct mv_vault *v,
		       const struct mv_imap_push_opts *o, struct mv_error *e)
{
	memset(x, 0, sizeof *x);
	x->v = v;
	x->o = o;
	return mv_transport_init(e);
}

enum mv_err mv_px_open(struct mv_px *x, struct mv_error *e)
{
	enum mv_err rc;

	if ((rc = mv_imapc_open(&x->c, &x->o->conn, MV_PX_MAX_BODY, e)))
		return rc;
	return mv_imapc_cmd(x->c, on_list, x, e,
			    mv_imapc_has(x->c, "SPECIAL-USE") && mv_imapc_has(x->c, "LIST-EXTENDED")
			    ? "LIST \"\" \"*\" RETURN (SPECIAL-USE)" : "LIST \"\" \"*\"");
}

void mv_px_drop(struct mv_px *x)
{
	mv_imapc_free(x->c);
	x->c = NULL;
	for (size_t i = 0; i < x->ntf; i++)
		free(x->tf[i].name);
	free(x->tf);
	x->tf = NULL;
	x->ntf = 0;
	x->td = 0;
}

char *mv_px_source(const struct mv_folder *f, const struct mv_imap_push_opts *o,
		   enum mv_err *rc, struct mv_error *e)
{
	char *src = mv_utf7_display(f->name, (char)f->delim);

	*rc = MV_OK;
	if (!src) {
		*rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		return NULL;
	}
	if (!mv_imap_folder_wanted(o->include, o->ninclude, o->exclude, o->nexclude, src)) {
		free(src);
		return NULL;
	}
	return src;
}

void *mv_px_grow(void **arr, size_t *n, size_t size)
{
	char *p = realloc(*arr, (*n + 1) * size);

	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * size, 0, size);
	return p + (*n)++ * size;
}

void mv_px_release(struct mv_px *x, enum mv_err rc)
{
	if (rc == MV_OK) {
		mv_imapc_close(x->c);
		x->c = NULL;
	}
	mv_px_drop(x);
	mv_hmac_free(x->hs);
	x->hs = NULL;
	mv_px_forget_folder(x);
	free(x->h);
	x->h = NULL;
	mv_transport_done();
}
