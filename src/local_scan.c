/*
 * local_scan.c - what a local target folder holds, and which of a version
 * folder's messages it holds; see local_int.h.
 *
 * A target message is known by its size, its date (Maildir: mtime; mbox:
 * the From_ line's) and, when it may matter, the hash of its bytes under
 * the archive's content key, the hash the index stores.  Matching is by
 * that hash through a sorted index, so a folder costs O(n log n), and a
 * target message stands for at most one of the version's.
 */
#include "local_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "imap_pull.h"
#include "maildir.h"
#include "mbox.h"
#include "msgmeta.h"
#include "utf7.h"

#define BUFSZ 65536
/* Messages in one target folder at most (each costs about 100 bytes). */
#define MAX_TARGET_MSGS 50000000u

void mv_local_note(struct local_job *x, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mv_eventv(x->o->event, x->o->event_ctx, kind, fmt, ap);
	va_end(ap);
}

/* ---- the target folder ---- */

static void clear_target(struct local_job *x)
{
	for (size_t i = 0; i < x->nt; i++) {
		free(x->t[i].name);
		free(x->t[i].base);
		free(x->t[i].kw);
	}
	x->nt = 0;
	free(x->by_hash);
	x->by_hash = NULL;
	x->nby = 0;
}

static struct local_msg *add_target(struct local_job *x, struct mv_error *e)
{
	struct local_msg *m;

	if (x->nt == x->capt) {
		size_t nc = x->capt ? x->capt * 2 : 256;

		if (nc > MAX_TARGET_MSGS) {
			mv_fail(e, MV_E_LIMIT, "target folder holds more than %u messages",
				MAX_TARGET_MSGS);
			return NULL;
		}
		if (!(m = realloc(x->t, nc * sizeof *m))) {
			mv_fail(e, MV_E_NOMEM, "out of memory");
			return NULL;
		}
		x->t = m;
		x->capt = nc;
	}
	m = &x->t[x->nt++];
	memset(m, 0, sizeof *m);
	return m;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t p = *(const uint64_t *)a, q = *(const uint64_t *)b;

	return p < q ? -1 : p > q;
}

static int size_wanted(const struct local_job *x, uint64_t size)
{
	return bsearch(&size, x->vsizes, x->nvs, sizeof *x->vsizes, cmp_u64) != NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A message's keywords as one string: folded to lower case (IMAP keywords
 * are case-insensitive), sorted, space-separated; keyword letters without
 * a name in dovecot-keywords add "?x" each.  NULL when out of memory.
 */
char *mv_local_kw_key(char *const *kw, size_t n, const char *unknown)
{
	size_t nu = unknown ? strlen(unknown) : 0, len = 1;
	char **w = malloc((n + nu + 1) * sizeof *w);
	char *out = NULL;

	if (!w)
		return NULL;
	for (size_t i = 0; i < n + nu; i++)
		w[i] = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(w[i] = strdup(kw[i])))
			goto out;
		for (char *q = w[i]; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q + 32);
		len += strlen(w[i]) + 1;
	}
	for (size_t i = 0; i < nu; i++) {
		if (!(w[n + i] = mv_strf("?%c", unknown[i])))
			goto out;
		len += 3;
	}
	qsort(w, n + nu, sizeof *w, cmp_str);
	if (!(out = malloc(len)))
		goto out;
	out[0] = '\0';
	for (size_t i = 0; i < n + nu; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, w[i]);
	}
out:
	for (size_t i = 0; i < n + nu; i++)
		free(w[i]);
	free(w);
	return out;
}

/* Hashes the file at path under the archive's content key.  MV_E_IO. */
static enum mv_err hash_file(struct local_job *x, const char *path, uint8_t out[32],
			     uint64_t *size, struct mv_error *e)
{
	struct mv_hmac *h = mv_vault_content_hasher(x->v);
	int fd = -1;
	enum mv_err rc = MV_OK;

	*size = 0;
	if (!h)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		rc = mv_fail(e, MV_E_IO, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, x->buf, BUFSZ);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mv_fail(e, MV_E_IO, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		mv_hmac_update(h, x->buf, (size_t)r);
		*size += (uint64_t)r;
	}
	mv_hmac_final(h, out);
out:
	if (fd >= 0)
		close(fd);
	mv_hmac_free(h);
	return rc;
}

/* 1 if path is a directory. */
int mv_local_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mv_local_maildir_exists(const char *dir)
{
	char *cur = mv_strf("%s/cur", dir), *nw = mv_strf("%s/new", dir);
	int r = cur && nw ? mv_local_is_dir(cur) || mv_local_is_dir(nw) : -1;

	free(cur);
	free(nw);
	return r;
}

/*
 * Loads the Maildir folder at dir (which exists): every message of cur/
 * and new/, and the hash of those whose size is wanted (all of them when
 * all is set).
 */
enum mv_err mv_local_load_maildir(struct local_job *x, const char *dir, int all,
				struct mv_error *e)
{
	struct mv_maildir_folder mf;
	struct mv_maildir_msg *m = NULL;
	size_t n = 0;
	enum mv_err rc;

	mf.name = (char *)"";
	mf.path = (char *)dir;
	if ((rc = mv_maildir_scan(&mf, &m, &n, e)))
		return rc;
	for (size_t i = 0; i < n && rc == MV_OK; i++) {
		struct local_msg *t = add_target(x, e);
		const char *slash = strrchr(m[i].path, '/');

		if (!t) {
			rc = e->code;
			break;
		}
		t->size = m[i].size;
		t->date = m[i].mtime;
		t->flags = m[i].flags & MV_FLAG_ALL;
		t->name = mv_strf("%s/%s", m[i].in_new ? "new" : "cur",
			       slash ? slash + 1 : m[i].path);
		t->base = strdup(m[i].base);
		t->kw = mv_local_kw_key(m[i].keywords, m[i].nkeywords, m[i].unknown_letters);
		if (!t->name || !t->base || !t->kw) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		if (all || size_wanted(x, t->size)) {
			uint64_t got;

			if ((rc = hash_file(x, m[i].path, t->hash, &got, e)) == MV_E_IO &&
			    access(m[i].path, F_OK) != 0) {
				/* Moved or removed by a mail client since the scan. */
				mv_error_clear(e);
				free(t->name);
				free(t->base);
				free(t->kw);
				x->nt--;
				rc = MV_OK;
				continue;
			}
			t->size = got;
			t->hashed = rc == MV_OK;
		}
	}
	mv_maildir_msgs_free(m, n);
	return rc;
}

/* Loads and hashes every message of the mbox file at path (mboxrd). */
enum mv_err mv_local_load_mbox(struct local_job *x, const char *path, struct mv_error *e)
{
	struct mv_mbox *mb = NULL;
	struct mv_hmac *h = NULL;
	enum mv_err rc;

	if ((rc = mv_mbox_open(&mb, path, MV_MBOXRD, e)))
		return rc;
	for (;;) {
		const char *from;
		size_t from_len, got;
		uint64_t off;
		int has;
		struct local_msg *t;

		if ((rc = mv_mbox_next(mb, &has, &from, &from_len, &off, e)) || !has)
			break;
		if (!(t = add_target(x, e))) {
			rc = e->code;
			break;
		}
		t->offset = off;
		if (mv_mbox_from_date(from, from_len, &t->date) != 0)
			t->date = 0;
		if (!(h = mv_vault_content_hasher(x->v))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		while ((rc = mv_mbox_read(mb, x->buf, BUFSZ, &got, e)) == MV_OK && got) {
			mv_hmac_update(h, x->buf, got);
			t->size += got;
			t->last = x->buf[got - 1];
		}
		if (rc)
			break;
		mv_hmac_final(h, t->hash);
		mv_hmac_free(h);
		h = NULL;
		t->hashed = 1;
	}
	mv_hmac_free(h);
	mv_mbox_free(mb);
	if (rc)
		mv_error_prefix(e, "cannot read '%s' as mboxrd", path);
	return rc;
}

/* ---- matching ---- */

static int cmp_by_hash(const void *a, const void *b, void *ctx)
{
	const struct local_job *x = ctx;
	const struct local_msg *p = &x->t[*(const size_t *)a];
	const struct local_msg *q = &x->t[*(const size_t *)b];
	int c = memcmp(p->hash, q->hash, 32);

	/* Ties in file order, so the first copy is the one matched. */
	if (c == 0)
		c = *(const size_t *)a < *(const size_t *)b ? -1 : 1;
	return c;
}

static enum mv_err index_hashes(struct local_job *x, struct mv_error *e)
{
	free(x->by_hash);
	x->nby = 0;
	if (!(x->by_hash = malloc((x->nt ? x->nt : 1) * sizeof *x->by_hash)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (size_t i = 0; i < x->nt; i++)
		if (x->t[i].hashed)
			x->by_hash[x->nby++] = i;
	qsort_r(x->by_hash, x->nby, sizeof *x->by_hash, cmp_by_hash, x);
	return MV_OK;
}

/* The first unused target message with this hash (and size), or MV_LOCAL_NONE. */
static size_t find_hash(struct local_job *x, const uint8_t h[32], uint64_t size)
{
	size_t lo = 0, hi = x->nby;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(x->t[x->by_hash[mid]].hash, h, 32) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < x->nby && memcmp(x->t[x->by_hash[lo]].hash, h, 32) == 0; lo++) {
		struct local_msg *t = &x->t[x->by_hash[lo]];

		if (!t->used && t->size == size)
			return x->by_hash[lo];
	}
	return MV_LOCAL_NONE;
}

struct lf_ctx {
	struct mv_hmac *h;
	uint8_t last;
};

static enum mv_err lf_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct lf_ctx *c = ctx;

	(void)e;
	if (n) {
		mv_hmac_update(c->h, p, n);
		c->last = p[n - 1];
	}
	return MV_OK;
}

/* The hash of en's bytes plus LF, as mbox reads back a message whose last
 * byte is not LF; *has 0 when en does not end that way. */
enum mv_err mv_local_lf_hash(struct local_job *x, const struct mv_entry *en, size_t i, int *has,
			   struct mv_error *e)
{
	struct lf_ctx c = { NULL, '\n' };
	enum mv_err rc;

	*has = 0;
	if (x->lf_state[i] == 0) {
		x->lf_state[i] = 2;
		if (en->blob.raw_size == 0)
			return MV_OK;
		if (!(c.h = mv_vault_content_hasher(x->v)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		rc = mv_vault_read_blob(x->v, &en->blob, lf_out, &c, e);
		if (rc == MV_OK && c.last != '\n') {
			mv_hmac_update(c.h, "\n", 1);
			mv_hmac_final(c.h, x->lf[i]);
			x->lf_state[i] = 1;
		}
		mv_hmac_free(c.h);
		if (rc)
			return rc;
	}
	*has = x->lf_state[i] == 1;
	return MV_OK;
}

/* Sorted sizes of the target messages not matched yet (malloc'd). */
static uint64_t *unused_sizes(const struct local_job *x, size_t *n)
{
	uint64_t *a = malloc((x->nt ? x->nt : 1) * sizeof *a);

	*n = 0;
	if (!a)
		return NULL;
	for (size_t i = 0; i < x->nt; i++)
		if (!x->t[i].used)
			a[(*n)++] = x->t[i].size;
	qsort(a, *n, sizeof *a, cmp_u64);
	return a;
}

/*
 * Sets match[i] to the target message with the bytes of f's message i
 * (marked used), or MV_LOCAL_NONE.  mbox: a message without a final LF also
 * matches its bytes plus LF.
 */
enum mv_err mv_local_match(struct local_job *x, const struct mv_folder *f, size_t *match,
				struct mv_error *e)
{
	enum mv_err rc;
	int any_lf_candidate = 0;
	uint64_t *sizes;
	size_t nsizes;

	if ((rc = index_hashes(x, e)))
		return rc;
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];

		match[i] = find_hash(x, en->blob.content_hash, en->blob.raw_size);
		if (match[i] != MV_LOCAL_NONE)
			x->t[match[i]].used = 1;
		else
			any_lf_candidate = 1;
	}
	if (x->sk != MV_SINK_MBOX || !any_lf_candidate)
		return MV_OK;
	if (!(sizes = unused_sizes(x, &nsizes)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (size_t i = 0; i < f->n && rc == MV_OK; i++) {
		const struct mv_entry *en = &f->e[i];
		uint64_t want = en->blob.raw_size + 1;
		int has;

		if (match[i] != MV_LOCAL_NONE || !bsearch(&want, sizes, nsizes, sizeof *sizes, cmp_u64))
			continue;
		if ((rc = mv_local_lf_hash(x, en, i, &has, e)))
			break;
		if (has && (match[i] = find_hash(x, x->lf[i], want)) != MV_LOCAL_NONE)
			x->t[match[i]].used = 1;
	}
	free(sizes);
	return rc;
}

/* Sets up the per-folder version state (sizes, LF hashes) for f. */
enum mv_err mv_local_begin_folder(struct local_job *x, const struct mv_folder *f, struct mv_error *e)
{
	clear_target(x);
	free(x->lf);
	free(x->lf_state);
	free(x->vsizes);
	x->lf = NULL;
	x->lf_state = NULL;
	x->nvs = f->n;
	x->vsizes = malloc((f->n ? f->n : 1) * sizeof *x->vsizes);
	x->lf = malloc((f->n ? f->n : 1) * sizeof *x->lf);
	x->lf_state = calloc(f->n ? f->n : 1, 1);
	if (!x->vsizes || !x->lf || !x->lf_state)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (size_t i = 0; i < f->n; i++)
		x->vsizes[i] = f->e[i].blob.raw_size;
	qsort(x->vsizes, x->nvs, sizeof *x->vsizes, cmp_u64);
	return MV_OK;
}

/* ---- folder names ---- */

/*
 * The target of version folder f whose UTF-8 path is src: *tpath (UTF-8,
 * '/', after --map) and the name bytes and delimiter the sink gets.
 * Unmapped folders keep their stored bytes, so the layout is export's.
 */
enum mv_err mv_local_target_of(struct local_job *x, const struct mv_folder *f, const char *src,
			     char **tpath, char **tname, char *tdelim, struct mv_error *e)
{
	struct mv_buf b;
	const char *p;
	enum mv_err rc = MV_OK;

	*tpath = *tname = NULL;
	*tdelim = (char)f->delim;
	for (size_t i = 0; i < x->o->nmap; i++) {
		const char *m = x->o->map[i], *eq = strchr(m, '=');
		size_t k = eq ? (size_t)(eq - m) : 0;

		if (!eq || strncmp(src, m, k) != 0 || (src[k] != '\0' && src[k] != '/'))
			continue;
		if (!(*tpath = mv_strf("%s%s", eq + 1, src + k)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		break;
	}
	if (!*tpath) {
		if (!(*tpath = strdup(src)) || !(*tname = strdup(f->name)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		return MV_OK;
	}
	/* A mapped name: modified UTF-7 components joined by '/'. */
	mv_buf_init(&b, MV_MAX_FOLDER_NAME * 8);
	*tdelim = '/';
	for (p = *tpath; rc == MV_OK;) {
		const char *sl = strchr(p, '/');
		size_t n = sl ? (size_t)(sl - p) : strlen(p);

		if (n == 5 && p == *tpath && strncasecmp(p, "INBOX", 5) == 0)
			rc = mv_buf_add(&b, "INBOX", 5);
		else if (mv_utf7_encode(&b, p, n) != MV_OK)
			rc = mv_fail(e, MV_E_USAGE, "--map target '%s' is not UTF-8", *tpath);
		if (rc || !sl)
			break;
		rc = mv_buf_addc(&b, '/') ? mv_fail(e, MV_E_NOMEM, "out of memory") : MV_OK;
		p = sl + 1;
	}
	if (rc == MV_OK && (b.len == 0 || b.len > MV_MAX_FOLDER_NAME))
		rc = mv_fail(e, MV_E_USAGE, "--map target '%s' is empty or too long", *tpath);
	if (rc == MV_OK && mv_buf_cstr(&b))
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
	if (rc == MV_OK) {
		*tname = (char *)b.data;
		return MV_OK;
	}
	mv_buf_release(&b);
	return rc;
}

/* The UTF-8 path of a version folder that --folder/--exclude select, or
 * NULL (with *rc MV_OK) when it is not selected. */
char *mv_local_selected(const struct local_job *x, const struct mv_folder *f, enum mv_err *rc,
		      struct mv_error *e)
{
	char *src = mv_utf7_display(f->name, (char)f->delim);

	*rc = MV_OK;
	if (!src) {
		*rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		return NULL;
	}
	if (!mv_imap_folder_wanted(x->o->include, x->o->ninclude, x->o->exclude,
				   x->o->nexclude, src)) {
		free(src);
		return NULL;
	}
	return src;
}

enum mv_err mv_local_init(struct local_job *x, struct mv_vault *v, const struct mv_index *ix,
			   const struct mv_local_opts *o, struct mv_error *e)
{
	memset(x, 0, sizeof *x);
	x->v = v;
	x->o = o;
	x->sk = o->kind == MV_LOCAL_MBOX ? MV_SINK_MBOX : MV_SINK_MAILDIR;
	x->mbox_src = ix->source && strncmp(ix->source, "mbox:", 5) == 0;
	if (!o->path || !o->path[0])
		return mv_fail(e, MV_E_USAGE, "a local target needs a path");
	if (!v->kr)
		return mv_fail(e, MV_E_USAGE, "the archive is not unlocked");
	if (!(x->buf = malloc(BUFSZ)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}

void mv_local_release(struct local_job *x)
{
	clear_target(x);
	free(x->t);
	free(x->lf);
	free(x->lf_state);
	free(x->vsizes);
	free(x->buf);
	memset(x, 0, sizeof *x);
}
