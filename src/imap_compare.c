/* imap_compare.c - verify --against for IMAP; see imap_compare.h. */
#include "imap_compare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_target_int.h"
#include "imapdate.h"
#include "msgmeta.h"

/* A matched pair: flag, keyword and date differences. */
static enum mv_err diff_meta(struct mv_diff_report *dr, struct mv_diff_folder *df,
			     const struct mv_entry *en, int64_t d, const struct mv_px_have *m,
			     struct mv_error *e)
{
	uint32_t bits;
	char *kw = NULL;

	if (mv_px_keyword_key((const char *const *)en->kw, en->nkw, &bits, &kw))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	bits |= en->flags & MV_FLAG_ALL;
	if (bits != m->flags || strcmp(kw, m->kw ? m->kw : "") != 0)
		mv_diff_report_item(dr, df, "flags", en->uid, m->uid, NULL);
	free(kw);
	if (d != m->date)
		mv_diff_report_item(dr, df, "date", en->uid, m->uid, NULL);
	return MV_OK;
}

/*
 * 1 when a target message left has a size that a rendering of a message
 * of raw bytes could have: a rendering at most doubles the bytes (each
 * bare CR or LF becomes CRLF) and at least keeps two of three (CR CR LF
 * becomes CR LF).  Saves reading messages that cannot match.
 */
static int size_in_reach(const struct mv_px *x, uint64_t raw)
{
	for (size_t k = 0; k < x->nh; k++)
		if (!x->h[k].used && x->h[k].size <= 2 * raw + 2 && 3 * x->h[k].size + 3 >= 2 * raw)
			return 1;
	return 0;
}

static enum mv_err diff_folder(struct mv_px *x, struct mv_diff_report *dr,
			       struct mv_diff_folder *df, const struct mv_folder *f,
			       struct mv_error *e)
{
	struct mv_buf name;
	char *tpath = NULL;
	struct mv_px_sel sel;
	/* done[i]: 1 matched by its bytes, 2 by a rendering of them; pair[i]:
	 * the target message (index in x->h). */
	uint8_t *done = NULL;
	struct mv_srvform **forms = NULL;
	size_t *pair = NULL, left = 0;
	enum mv_err rc = MV_OK;

	mv_buf_init(&name, MV_MAX_FOLDER_NAME * 8);
	if (!(tpath = mv_px_target_path(x, f, df->source)) || !(df->target = strdup(tpath))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = mv_px_target_name(x, tpath, &name, e)))
		goto out;
	if (f->special & MV_SU_NOSELECT)
		goto out;
	if (!mv_px_find_tf(x, (const char *)name.data)) {
		df->absent = 1;
		for (size_t i = 0; i < f->n; i++)
			mv_diff_report_item(dr, df, "missing", f->e[i].uid, 0, NULL);
		goto out;
	}
	if ((rc = mv_px_examine(x, (const char *)name.data, 1, &sel, e)))
		goto out;
	/* Every message of the target is read once and hashed. */
	for (size_t k = 0; k < x->nh; k++)
		x->h[k].cand = 1;
	if ((rc = mv_px_hash_candidates(x, 0, e)))
		goto out;
	if (f->n && (!(done = calloc(f->n, 1)) || !(forms = calloc(f->n, sizeof *forms)) ||
		     !(pair = calloc(f->n, sizeof *pair)))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	/* Same bytes first. */
	for (size_t i = 0; i < f->n; i++)
		for (size_t k = 0; k < x->nh && !done[i]; k++) {
			struct mv_px_have *h = &x->h[k];

			if (!h->used && h->hashed &&
			    memcmp(h->hash, f->e[i].blob.content_hash, 32) == 0) {
				h->used = done[i] = 1;
				pair[i] = k;
			}
		}
	/* Then the same bytes as the server renders them (srvform.h), for
	 * the messages left while target messages are left: each is read. */
	for (size_t k = 0; k < x->nh; k++)
		left += !x->h[k].used;
	for (size_t i = 0; i < f->n && left; i++) {
		if (done[i] || !size_in_reach(x, f->e[i].blob.raw_size))
			continue;
		if ((rc = mv_px_form(x, &f->e[i], &forms[i], e)))
			goto out;
		for (size_t k = 0; k < x->nh && !done[i] && forms[i]->differs; k++) {
			struct mv_px_have *h = &x->h[k];

			if (!h->used && h->hashed && mv_srvform_match(forms[i], h->size, h->hash)) {
				h->used = 1;
				done[i] = 2;
				pair[i] = k;
				left--;
			}
		}
	}
	/* A NUL shows as 0x80 in Dovecot's BODY[]: where the server offers
	 * BINARY, its BINARY[] may be the exact bytes after all (it also
	 * decodes base64 and quoted-printable parts, so it serves only as a
	 * second look). */
	if (mv_imapc_has(x->c, "BINARY")) {
		int any = 0;

		for (size_t k = 0; k < x->nh; k++)
			x->h[k].cand = 0;
		for (size_t i = 0; i < f->n; i++)
			if (done[i] == 2 && forms[i]->has_nul)
				x->h[pair[i]].cand = any = 1;
		if (any && (rc = mv_px_hash_candidates(x, 1, e)))
			goto out;
		for (size_t i = 0; any && i < f->n; i++) {
			const struct mv_px_have *h = &x->h[pair[i]];

			if (done[i] == 2 && h->bhashed &&
			    memcmp(h->bhash, f->e[i].blob.content_hash, 32) == 0)
				done[i] = 1;
		}
	}
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		int64_t d = INT64_MIN;
		int tz;

		if (!done[i])
			continue;
		mv_imapdate_parse(en->date, strlen(en->date), &d, &tz);
		df->matched++;
		if (done[i] == 2) {
			df->rendered++;
			dr->rendered++;
		}
		if ((rc = diff_meta(dr, df, en, d, &x->h[pair[i]], e)))
			goto out;
	}
	/* The rest: the size (or a rendering's) and date of a target message
	 * left (altered), else missing. */
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		int64_t d = INT64_MIN;
		int tz;
		struct mv_px_have *m = NULL;

		if (done[i])
			continue;
		mv_imapdate_parse(en->date, strlen(en->date), &d, &tz);
		for (size_t k = 0; k < x->nh && !m; k++) {
			struct mv_px_have *h = &x->h[k];

			if (!h->used && h->date == d &&
			    (h->size == en->blob.raw_size ||
			     (forms[i] && mv_srvform_size(forms[i], h->size))))
				m = h;
		}
		if (!m) {
			mv_diff_report_item(dr, df, "missing", en->uid, 0, NULL);
			continue;
		}
		m->used = 1;
		mv_diff_report_item(dr, df, "altered", en->uid, m->uid, NULL);
	}
	for (size_t k = 0; k < x->nh; k++)
		if (!x->h[k].used)
			mv_diff_report_item(dr, df, "extra", 0, x->h[k].uid, NULL);
out:
	free(done);
	free(pair);
	mv_px_forms_free(forms, f->n);
	free(tpath);
	mv_buf_release(&name);
	return rc;
}

enum mv_err mv_compare_imap(struct mv_vault *v, const struct mv_index *ix,
			    const struct mv_imap_push_opts *o,
			    struct mv_diff_report *r, struct mv_error *e)
{
	struct mv_px x;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	if ((rc = mv_px_init(&x, v, o, e)))
		return rc;
	if ((rc = mv_px_open(&x, e)))
		goto out;
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = mv_px_source(f, o, &rc, e);
		struct mv_diff_folder *nf;

		if (!src)
			continue;
		if (!(nf = mv_px_grow((void **)&r->f, &r->nf, sizeof *r->f))) {
			free(src);
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		nf->source = src;
		nf->messages = f->n;
		rc = diff_folder(&x, r, nf, f, e);
	}
out:
	mv_px_release(&x, rc);
	return rc;
}
