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
	if (bits != m->flags || strcmp(kw, m->kw ? m->kw : "") != 0) {
		mv_diff_report_item(dr, df, "flags", en->uid, m->uid, NULL);
	}
	free(kw);
	if (d != m->date) {
		mv_diff_report_item(dr, df, "date", en->uid, m->uid, NULL);
	}
	return MV_OK;
}

static enum mv_err diff_folder(struct mv_px *x, struct mv_diff_report *dr,
			       struct mv_diff_folder *df, const struct mv_folder *f,
			       struct mv_error *e)
{
	struct mv_buf name;
	char *tpath = NULL;
	struct mv_px_sel sel;
	uint8_t *done = NULL;
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
	if ((rc = mv_px_hash_candidates(x, e)))
		goto out;
	if (f->n && !(done = calloc(f->n, 1))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	/* Same bytes first, then same size and date (altered), else missing. */
	for (int pass = 0; pass < 2; pass++)
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

				if (h->used)
					continue;
				if (pass == 0 ? h->hashed && memcmp(h->hash, en->blob.content_hash, 32) == 0
					      : h->size == en->blob.raw_size && h->date == d)
					m = h;
			}
			if (!m && pass == 0)
				continue;
			done[i] = 1;
			if (!m) {
				mv_diff_report_item(dr, df, "missing", en->uid, 0, NULL);
				continue;
			}
			m->used = 1;
			if (pass == 1) {
				mv_diff_report_item(dr, df, "altered", en->uid, m->uid, NULL);
				continue;
			}
			df->matched++;
			if ((rc = diff_meta(dr, df, en, d, m, e)))
				goto out;
		}
	for (size_t k = 0; k < x->nh; k++)
		if (!x->h[k].used) {
			mv_diff_report_item(dr, df, "extra", 0, x->h[k].uid, NULL);
		}
out:
	free(done);
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
