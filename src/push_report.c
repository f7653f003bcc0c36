/* push_report.c - push and compare reports; see push_report.h. */
#include "push_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows *arr (of *n elements of size bytes) by one zeroed element. */
static void *grow(void **arr, size_t *n, size_t size)
{
	char *p = realloc(*arr, (*n + 1) * size);

	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * size, 0, size);
	return p + (*n)++ * size;
}

struct mv_push_folder *mv_push_report_add(struct mv_push_report *r)
{
	return grow((void **)&r->f, &r->nf, sizeof *r->f);
}

void mv_push_report_release(struct mv_push_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].source);
		free(r->f[i].target);
		free(r->f[i].path);
	}
	free(r->f);
	memset(r, 0, sizeof *r);
}

struct mv_diff_folder *mv_diff_report_add(struct mv_diff_report *r)
{
	return grow((void **)&r->f, &r->nf, sizeof *r->f);
}

void mv_diff_report_item(struct mv_diff_report *r, struct mv_diff_folder *df,
			 const char *kind, uint32_t src_uid, uint32_t dst_uid,
			 const char *dst_name)
{
	struct mv_diff_item *it;

	if (strcmp(kind, "missing") == 0) {
		df->missing++;
		r->missing++;
	} else if (strcmp(kind, "extra") == 0) {
		df->extra++;
		r->extra++;
	} else if (strcmp(kind, "altered") == 0) {
		df->altered++;
		r->altered++;
	} else if (strcmp(kind, "flags") == 0) {
		df->flags++;
		r->flags++;
	} else {
		df->dates++;
		r->dates++;
	}
	if (r->nitems >= MV_DIFF_MAX_ITEMS ||
	    !(it = grow((void **)&r->items, &r->nitems, sizeof *r->items))) {
		r->more++;
		return;
	}
	snprintf(it->kind, sizeof it->kind, "%s", kind);
	it->folder = strdup(df->source ? df->source : "");
	it->src_uid = src_uid;
	it->dst_uid = dst_uid;
	it->dst_name = dst_name ? strdup(dst_name) : NULL;
}

int mv_diff_report_differs(const struct mv_diff_report *r)
{
	return r->missing || r->extra || r->altered || r->flags || r->dates;
}

void mv_diff_report_release(struct mv_diff_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nf; i++) {
		free(r->f[i].source);
		free(r->f[i].target);
		free(r->f[i].path);
	}
	for (size_t i = 0; i < r->nitems; i++) {
		free(r->items[i].folder);
		free(r->items[i].dst_name);
	}
	free(r->f);
	free(r->items);
	memset(r, 0, sizeof *r);
}
