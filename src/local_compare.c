/*
 * local_compare.c - verify --against a local Maildir or mbox target; see
 * local_push.h (mv_compare_local).
 *
 * Each folder: every target message is read and hashed (local_scan.c);
 * the version's messages are matched by hash and then checked for flags,
 * keywords and date; what is left is paired into "altered" where it can
 * be, and the rest is "missing" or "extra".
 */
#include "local_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imapdate.h"
#include "msgmeta.h"

/* ---- compare ---- */

/* Orders target indices by size, then date. */
static int cmp_size_date(const void *a, const void *b, void *ctx)
{
	const struct local_job *x = ctx;
	const struct local_msg *p = &x->t[*(const size_t *)a];
	const struct local_msg *q = &x->t[*(const size_t *)b];

	if (p->size != q->size)
		return p->size < q->size ? -1 : 1;
	if (p->date != q->date)
		return p->date < q->date ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The first unused target message of this size and date among the sorted
 * indices idx[0..n), or MV_LOCAL_NONE. */
static size_t find_size_date(const struct local_job *x, const size_t *idx, size_t n,
			     uint64_t size, int64_t date)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct local_msg *t = &x->t[idx[mid]];

		if (t->size < size || (t->size == size && t->date < date))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n; lo++) {
		const struct local_msg *t = &x->t[idx[lo]];

		if (t->size != size || t->date != date)
			break;
		if (!t->used)
			return idx[lo];
	}
	return MV_LOCAL_NONE;
}

/* Orders target indices by base name (Maildir). */
static int cmp_base(const void *a, const void *b, void *ctx)
{
	const struct local_job *x = ctx;
	int c = strcmp(x->t[*(const size_t *)a].base, x->t[*(const size_t *)b].base);

	return c ? c : *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Orders target indices by date alone (mbox). */
static int cmp_date(const void *a, const void *b, void *ctx)
{
	const struct local_job *x = ctx;
	int64_t p = x->t[*(const size_t *)a].date, q = x->t[*(const size_t *)b].date;

	if (p != q)
		return p < q ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The first unused target message among idx[0..n) (sorted by base name)
 * whose base name is base, or MV_LOCAL_NONE. */
static size_t find_base(const struct local_job *x, const size_t *idx, size_t n,
			const char *base)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(x->t[idx[mid]].base, base) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && strcmp(x->t[idx[lo]].base, base) == 0; lo++)
		if (!x->t[idx[lo]].used)
			return idx[lo];
	return MV_LOCAL_NONE;
}

/* The same among idx[0..n) sorted by date, for date d. */
static size_t find_date(const struct local_job *x, const size_t *idx, size_t n, int64_t d)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->t[idx[mid]].date < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && x->t[idx[lo]].date == d; lo++)
		if (!x->t[idx[lo]].used)
			return idx[lo];
	return MV_LOCAL_NONE;
}

/* How the compare names target message k. */
static void target_label(const struct local_job *x, size_t k, char *out, size_t cap)
{
	if (x->sk == MV_SINK_MAILDIR)
		snprintf(out, cap, "%s", x->t[k].name);
	else
		snprintf(out, cap, "message %zu at offset %llu", k + 1,
			 (unsigned long long)x->t[k].offset);
}

static enum mv_err diff_folder(struct local_job *x, const struct mv_folder *f,
			       struct mv_diff_folder *df, struct mv_diff_report *r,
			       struct mv_error *e)
{
	char *tname = NULL, *dir = NULL, label[600];
	size_t *match = NULL, *idx = NULL, nidx = 0;
	uint8_t *altered = NULL;
	char tdelim;
	int exists;
	enum mv_err rc;

	if ((rc = mv_local_begin_folder(x, f, e)) ||
	    (rc = mv_local_target_of(x, f, df->source, &df->target, &tname, &tdelim, e)) ||
	    (rc = mv_sink_folder_path(x->sk, tname, tdelim, &df->path, e)))
		goto out;
	dir = *df->path ? mv_strf("%s/%s", x->o->path, df->path) : strdup(x->o->path);
	if (!dir) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (x->sk == MV_SINK_MAILDIR) {
		if ((exists = mv_local_maildir_exists(dir)) < 0) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		if (exists && (rc = mv_local_load_maildir(x, dir, 1, e)))
			goto out;
	} else {
		struct stat st;

		exists = lstat(dir, &st) == 0 && S_ISREG(st.st_mode);
		if (exists && (rc = mv_local_load_mbox(x, dir, e)))
			goto out;
	}
	if (!exists) {
		df->absent = 1;
		for (size_t i = 0; i < f->n; i++)
			mv_diff_report_item(r, df, "missing", f->e[i].uid, 0, NULL);
		goto out;
	}
	match = malloc((f->n ? f->n : 1) * sizeof *match);
	altered = calloc(f->n ? f->n : 1, 1);
	idx = malloc((x->nt ? x->nt : 1) * sizeof *idx);
	if (!match || !altered || !idx) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = mv_local_match(x, f, match, e)))
		goto out;
	/* Same bytes: then flags, keywords (Maildir) and date. */
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		struct local_msg *t;
		int64_t d;
		int tz;

		if (match[i] == MV_LOCAL_NONE)
			continue;
		t = &x->t[match[i]];
		df->matched++;
		target_label(x, match[i], label, sizeof label);
		if (mv_imapdate_parse(en->date, strlen(en->date), &d, &tz) != 0)
			d = 0;
		if (x->sk == MV_SINK_MAILDIR) {
			char *k = mv_local_kw_key(en->kw, en->nkw, NULL);

			if (!k) {
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				goto out;
			}
			if ((en->flags & MV_FLAG_ALL) != t->flags || strcmp(k, t->kw) != 0)
				mv_diff_report_item(r, df, "flags", en->uid, 0, label);
			free(k);
		}
		if (d != t->date)
			mv_diff_report_item(r, df, "date", en->uid, 0, label);
	}
	/* Not the same bytes: the same size and date (mbox: or one LF more),
	 * or for Maildir the source's file name, says "altered". */
	for (size_t k = 0; k < x->nt; k++)
		if (!x->t[k].used)
			idx[nidx++] = k;
	qsort_r(idx, nidx, sizeof *idx, cmp_size_date, x);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			qsort_r(idx, nidx, sizeof *idx,
				x->sk == MV_SINK_MAILDIR ? cmp_base : cmp_date, x);
		for (size_t i = 0; i < f->n; i++) {
			const struct mv_entry *en = &f->e[i];
			size_t k = MV_LOCAL_NONE;
			int64_t d;
			int tz;

			if (match[i] != MV_LOCAL_NONE || altered[i])
				continue;
			if (mv_imapdate_parse(en->date, strlen(en->date), &d, &tz) != 0)
				d = 0;
			if (pass == 0) {
				k = find_size_date(x, idx, nidx, en->blob.raw_size, d);
				if (k == MV_LOCAL_NONE && x->sk == MV_SINK_MBOX)
					k = find_size_date(x, idx, nidx, en->blob.raw_size + 1, d);
			} else if (x->sk == MV_SINK_MAILDIR && !x->mbox_src && en->srcmeta_len) {
				k = find_base(x, idx, nidx, en->srcmeta);
			} else if (x->sk == MV_SINK_MBOX) {
				/* The same From_ date alone: edited in place. */
				k = find_date(x, idx, nidx, d);
			}
			if (k == MV_LOCAL_NONE)
				continue;
			x->t[k].used = 1;
			altered[i] = 1;
			target_label(x, k, label, sizeof label);
			mv_diff_report_item(r, df, "altered", en->uid, 0, label);
		}
	}
	for (size_t i = 0; i < f->n; i++)
		if (match[i] == MV_LOCAL_NONE && !altered[i])
			mv_diff_report_item(r, df, "missing", f->e[i].uid, 0, NULL);
	for (size_t k = 0; k < x->nt; k++)
		if (!x->t[k].used) {
			target_label(x, k, label, sizeof label);
			mv_diff_report_item(r, df, "extra", 0, 0, label);
		}
out:
	free(match);
	free(altered);
	free(idx);
	free(tname);
	free(dir);
	return rc;
}

enum mv_err mv_compare_local(struct mv_vault *v, const struct mv_index *ix,
			     const struct mv_local_opts *o, struct mv_diff_report *r,
			     struct mv_error *e)
{
	struct local_job x;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	if ((rc = mv_local_init(&x, v, ix, o, e)))
		goto out;
	if (!mv_local_is_dir(o->path)) {
		rc = mv_fail(e, MV_E_NOTFOUND, "target '%s' is not a directory", o->path);
		goto out;
	}
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = mv_local_selected(&x, f, &rc, e);
		struct mv_diff_folder *df;

		if (!src)
			continue;
		if (!(df = mv_diff_report_add(r))) {
			free(src);
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		df->source = src;
		df->messages = f->n;
		if (f->special & MV_SU_NOSELECT && f->n == 0) {
			if (!(df->target = strdup(src)))
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			continue;
		}
		rc = diff_folder(&x, f, df, r, e);
	}
out:
	mv_local_release(&x);
	return rc;
}
