/*
 * local_push.c - push into, and compare with, a local Maildir or mbox
 * target; see local_push.h for what is promised.
 *
 * Each folder goes through the same three steps, for push and compare
 * alike: learn what the target folder holds (load_maildir, load_mbox:
 * one entry per message with its size, date and, when it may matter, the
 * keyed hash of its bytes), match the version's messages to it by hash
 * (match_folder), then either write what is missing through a sink
 * opened for this folder alone (push) or list the differences (compare).
 * One sink per folder keeps each folder's writes and syncs apart, which
 * is what the mbox torn-tail record needs.
 */
#include "local_push.h"

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
#include "imapdate.h"
#include "maildir.h"
#include "mbox.h"
#include "msgmeta.h"
#include "sink.h"
#include "utf7.h"

#define BUFSZ 65536
#define PATH_CAP 8192
#define JOURNAL_PREFIX ".mbox-vault-push-"
#define JOURNAL_MAX 8192
/* Messages in one target folder at most (each costs about 100 bytes). */
#define MAX_TARGET_MSGS 50000000u
#define NONE ((size_t)-1)

/* A message of the target folder. */
struct tmsg {
	uint64_t size;
	int64_t date;                  /* Maildir: mtime; mbox: From_ line date or 0 */
	uint64_t offset;               /* mbox: where its From_ line starts */
	char *name;                    /* Maildir: "cur/NAME"; mbox: NULL */
	char *base;                    /* Maildir: the name up to ':' */
	uint32_t flags;                /* Maildir */
	char *kw;                      /* Maildir: keyword key (kw_key) */
	uint8_t last;                  /* mbox: last byte (0 for an empty message) */
	int hashed, used;
	uint8_t hash[32];
};

/* The state of one push or compare. */
struct lx {
	struct mv_vault *v;
	const struct mv_local_opts *o;
	enum mv_sink_kind sk;
	int mbox_src;                  /* srcmeta is a From_ line, else a Maildir name */
	uint8_t *buf;                  /* BUFSZ */

	/* The current target folder. */
	struct tmsg *t;
	size_t nt, capt;
	size_t *by_hash;               /* indices of hashed t, sorted by hash */
	size_t nby;

	/* The current version folder: the hash of each message plus LF
	 * (mbox), computed when first needed: 0 not yet, 1 done, 2 none
	 * (its last byte is LF, or it is empty). */
	uint8_t (*lf)[32];
	uint8_t *lf_state;
	uint64_t *vsizes;              /* sorted sizes of the version folder */
	size_t nvs;
};

static void note(struct lx *x, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* asprintf that returns the string or NULL (out of memory). */
static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static void note(struct lx *x, const char *kind, const char *fmt, ...)
{
	char t[900];
	va_list ap;

	if (!x->o->event)
		return;
	va_start(ap, fmt);
	vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	x->o->event(x->o->event_ctx, kind, t);
}

int mv_local_target_parse(const char *s, enum mv_local_kind *kind, const char **path)
{
	if (strncmp(s, "maildir:", 8) == 0 && s[8]) {
		*kind = MV_LOCAL_MAILDIR;
		*path = s + 8;
		return 1;
	}
	if (strncmp(s, "mbox:", 5) == 0 && s[5]) {
		*kind = MV_LOCAL_MBOX;
		*path = s + 5;
		return 1;
	}
	return 0;
}

/* ---- the target folder ---- */

static void clear_target(struct lx *x)
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

static struct tmsg *add_target(struct lx *x, struct mv_error *e)
{
	struct tmsg *m;

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

static int size_wanted(const struct lx *x, uint64_t size)
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
static char *kw_key(char *const *kw, size_t n, const char *unknown)
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
		if (!(w[n + i] = strf("?%c", unknown[i])))
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
static enum mv_err hash_file(struct lx *x, const char *path, uint8_t out[32],
			     uint64_t *size, struct mv_error *e)
{
	struct mv_blake2b *h = mv_vault_content_hasher(x->v);
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
		mv_blake2b_update(h, x->buf, (size_t)r);
		*size += (uint64_t)r;
	}
	mv_blake2b_final(h, out);
out:
	if (fd >= 0)
		close(fd);
	mv_blake2b_free(h);
	return rc;
}

/* 1 if path is a directory. */
static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Loads the Maildir folder at dir (which exists): every message of cur/
 * and new/, and the hash of those whose size is wanted (all of them when
 * all is set).
 */
static enum mv_err load_maildir(struct lx *x, const char *dir, int all,
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
		struct tmsg *t = add_target(x, e);
		const char *slash = strrchr(m[i].path, '/');

		if (!t) {
			rc = e->code;
			break;
		}
		t->size = m[i].size;
		t->date = m[i].mtime;
		t->flags = m[i].flags & MV_FLAG_ALL;
		t->name = strf("%s/%s", m[i].in_new ? "new" : "cur",
			       slash ? slash + 1 : m[i].path);
		t->base = strdup(m[i].base);
		t->kw = kw_key(m[i].keywords, m[i].nkeywords, m[i].unknown_letters);
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
static enum mv_err load_mbox(struct lx *x, const char *path, struct mv_error *e)
{
	struct mv_mbox *mb = NULL;
	struct mv_blake2b *h = NULL;
	enum mv_err rc;

	if ((rc = mv_mbox_open(&mb, path, MV_MBOXRD, e)))
		return rc;
	for (;;) {
		const char *from;
		size_t from_len, got;
		uint64_t off;
		int has;
		struct tmsg *t;

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
			mv_blake2b_update(h, x->buf, got);
			t->size += got;
			t->last = x->buf[got - 1];
		}
		if (rc)
			break;
		mv_blake2b_final(h, t->hash);
		mv_blake2b_free(h);
		h = NULL;
		t->hashed = 1;
	}
	mv_blake2b_free(h);
	mv_mbox_free(mb);
	if (rc)
		mv_error_prefix(e, "cannot read '%s' as mboxrd", path);
	return rc;
}

/* ---- matching ---- */

static const struct lx *sort_ctx;

static int cmp_by_hash(const void *a, const void *b)
{
	const struct tmsg *p = &sort_ctx->t[*(const size_t *)a];
	const struct tmsg *q = &sort_ctx->t[*(const size_t *)b];
	int c = memcmp(p->hash, q->hash, 32);

	/* Ties in file order, so the first copy is the one matched. */
	if (c == 0)
		c = *(const size_t *)a < *(const size_t *)b ? -1 : 1;
	return c;
}

static enum mv_err index_hashes(struct lx *x, struct mv_error *e)
{
	free(x->by_hash);
	x->nby = 0;
	if (!(x->by_hash = malloc((x->nt ? x->nt : 1) * sizeof *x->by_hash)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	for (size_t i = 0; i < x->nt; i++)
		if (x->t[i].hashed)
			x->by_hash[x->nby++] = i;
	sort_ctx = x;
	qsort(x->by_hash, x->nby, sizeof *x->by_hash, cmp_by_hash);
	sort_ctx = NULL;
	return MV_OK;
}

/* The first unused target message with this hash (and size), or NONE. */
static size_t find_hash(struct lx *x, const uint8_t h[32], uint64_t size)
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
		struct tmsg *t = &x->t[x->by_hash[lo]];

		if (!t->used && t->size == size)
			return x->by_hash[lo];
	}
	return NONE;
}

struct lf_ctx {
	struct mv_blake2b *h;
	uint8_t last;
};

static enum mv_err lf_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct lf_ctx *c = ctx;

	(void)e;
	if (n) {
		mv_blake2b_update(c->h, p, n);
		c->last = p[n - 1];
	}
	return MV_OK;
}

/* The hash of en's bytes plus LF, as mbox reads back a message whose last
 * byte is not LF; *has 0 when en does not end that way. */
static enum mv_err lf_hash(struct lx *x, const struct mv_entry *en, size_t i, int *has,
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
			mv_blake2b_update(c.h, "\n", 1);
			mv_blake2b_final(c.h, x->lf[i]);
			x->lf_state[i] = 1;
		}
		mv_blake2b_free(c.h);
		if (rc)
			return rc;
	}
	*has = x->lf_state[i] == 1;
	return MV_OK;
}

/* Sorted sizes of the target messages not matched yet (malloc'd). */
static uint64_t *unused_sizes(const struct lx *x, size_t *n)
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
 * (marked used), or NONE.  mbox: a message without a final LF also
 * matches its bytes plus LF.
 */
static enum mv_err match_folder(struct lx *x, const struct mv_folder *f, size_t *match,
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
		if (match[i] != NONE)
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

		if (match[i] != NONE || !bsearch(&want, sizes, nsizes, sizeof *sizes, cmp_u64))
			continue;
		if ((rc = lf_hash(x, en, i, &has, e)))
			break;
		if (has && (match[i] = find_hash(x, x->lf[i], want)) != NONE)
			x->t[match[i]].used = 1;
	}
	free(sizes);
	return rc;
}

/* Sets up the per-folder version state (sizes, LF hashes) for f. */
static enum mv_err begin_folder(struct lx *x, const struct mv_folder *f, struct mv_error *e)
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
static enum mv_err target_of(struct lx *x, const struct mv_folder *f, const char *src,
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
		if (!(*tpath = strf("%s%s", eq + 1, src + k)))
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
static char *selected(const struct lx *x, const struct mv_folder *f, enum mv_err *rc,
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

/* ---- the mbox torn-tail record ---- */

/* PATH/.mbox-vault-push-<16 hex digits of the keyless hash of rel>. */
static char *journal_path(const struct lx *x, const char *rel)
{
	uint8_t d[8];
	char hex[17];

	mv_blake2b(d, sizeof d, NULL, 0, (const uint8_t *)rel, strlen(rel));
	mv_hex(hex, d, sizeof d);
	return strf("%s/%s%s", x->o->path, JOURNAL_PREFIX, hex);
}

static enum mv_err sync_dir(const char *path, struct mv_error *e)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum mv_err rc = MV_OK;

	if (fd < 0 || fsync(fd) != 0)
		rc = mv_fail(e, MV_E_IO, "cannot sync '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * The record: "mbox-vault push 1 SIZE DEV INO\nREL\n", written to a new
 * file and renamed into place, synced, before the first byte is appended
 * to the mbox file REL (whose size is SIZE).
 */
static enum mv_err journal_write(struct lx *x, const char *jpath, const char *rel,
				 const struct stat *st, struct mv_error *e)
{
	char *tmp = strf("%s.tmp", jpath), *text = NULL;
	int fd = -1;
	enum mv_err rc = MV_OK;
	size_t len;

	text = strf("mbox-vault push 1 %llu %llu %llu\n%s\n",
			      (unsigned long long)st->st_size, (unsigned long long)st->st_dev,
			      (unsigned long long)st->st_ino, rel);
	if (!tmp || !text) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	len = strlen(text);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
	    write(fd, text, len) != (ssize_t)len || fsync(fd) != 0 ||
	    rename(tmp, jpath) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot write '%s': %s", jpath, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		goto out;
	}
	rc = sync_dir(x->o->path, e);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(text);
	return rc;
}

/* Removes the record once what it guarded is synced. */
static enum mv_err journal_remove(struct lx *x, const char *jpath, struct mv_error *e)
{
	if (unlink(jpath) != 0) {
		if (errno == ENOENT)
			return MV_OK;
		return mv_fail(e, MV_E_IO, "cannot remove '%s': %s", jpath, strerror(errno));
	}
	return sync_dir(x->o->path, e);
}

/* Reads the record: 1 with *size when it names this very file (rel,
 * device and inode), 0 when there is none or it names another. */
static int journal_read(const char *jpath, const char *rel, const struct stat *st,
			uint64_t *size)
{
	char text[JOURNAL_MAX + 1];
	unsigned long long sz, dev, ino;
	ssize_t n;
	int fd = open(jpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), used = 0;
	const char *nl;

	if (fd < 0)
		return 0;
	n = read(fd, text, JOURNAL_MAX);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "mbox-vault push 1 %llu %llu %llu\n%n", &sz, &dev, &ino, &used) != 3 ||
	    !used || !(nl = strchr(text + used, '\n')))
		return 0;
	if ((size_t)(nl - (text + used)) != strlen(rel) ||
	    memcmp(text + used, rel, strlen(rel)) != 0 ||
	    dev != (unsigned long long)st->st_dev || ino != (unsigned long long)st->st_ino)
		return 0;
	*size = sz;
	return 1;
}

/* 1 if target message t has the bytes of some message of f. */
static enum mv_err in_version(struct lx *x, const struct mv_folder *f, const struct tmsg *t,
			      int *yes, struct mv_error *e)
{
	*yes = 0;
	for (size_t i = 0; i < f->n && !*yes; i++) {
		const struct mv_entry *en = &f->e[i];
		int has;
		enum mv_err rc;

		if (t->size == en->blob.raw_size &&
		    memcmp(t->hash, en->blob.content_hash, 32) == 0)
			*yes = 1;
		else if (t->size == en->blob.raw_size + 1 && t->last == '\n') {
			if ((rc = lf_hash(x, en, i, &has, e)))
				return rc;
			*yes = has && memcmp(t->hash, x->lf[i], 32) == 0;
		}
	}
	return MV_OK;
}

/*
 * An interrupted push's torn tail (local_push.h): with a record naming
 * this file at SIZE, if every message from SIZE on but the last is one of
 * the version's and the last is not, the file is cut to where the last
 * one starts and it leaves the list.  The record is removed either way.
 */
static enum mv_err repair_tail(struct lx *x, const struct mv_folder *f, const char *file,
			       const char *rel, struct mv_push_report *r, struct mv_error *e)
{
	char *jpath = journal_path(x, rel);
	struct stat st;
	uint64_t start;
	size_t first = NONE;
	enum mv_err rc = MV_OK;
	int fd = -1, ok = 1, last_in = 0;

	if (!jpath)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (access(jpath, F_OK) != 0)
		goto out;
	if (lstat(file, &st) != 0 || !S_ISREG(st.st_mode) || !journal_read(jpath, rel, &st, &start) ||
	    (uint64_t)st.st_size <= start || x->nt == 0)
		goto done;
	for (size_t i = 0; i < x->nt; i++)
		if (x->t[i].offset >= start) {
			first = i;
			break;
		}
	if (first == NONE)
		goto done;
	for (size_t i = first; i < x->nt; i++) {
		int yes;

		if ((rc = in_version(x, f, &x->t[i], &yes, e)))
			goto out;
		if (i + 1 < x->nt)
			ok = ok && yes;
		else
			last_in = yes;
	}
	if (ok && last_in)
		goto done;      /* synced whole; only the record was left */
	if (!ok) {
		note(x, "warning", "'%s': a record of an interrupted push is there, but the "
		     "bytes after offset %llu are not only its own; left as they are", file,
		     (unsigned long long)start);
		goto done;
	}
	if ((fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    ftruncate(fd, (off_t)x->t[x->nt - 1].offset) != 0 || fsync(fd) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot cut '%s': %s", file, strerror(errno));
		goto out;
	}
	r->cut_bytes += (uint64_t)st.st_size - x->t[x->nt - 1].offset;
	note(x, "repaired", "'%s': cut %llu bytes at offset %llu, a message an interrupted "
	     "push left half written", file,
	     (unsigned long long)((uint64_t)st.st_size - x->t[x->nt - 1].offset),
	     (unsigned long long)x->t[x->nt - 1].offset);
	x->nt--;
	free(x->t[x->nt].name);
	free(x->t[x->nt].base);
	free(x->t[x->nt].kw);
done:
	rc = journal_remove(x, jpath, e);
out:
	if (fd >= 0)
		close(fd);
	free(jpath);
	return rc;
}

/* ---- push ---- */

struct sink_ctx {
	struct mv_sink *s;
};

static enum mv_err to_sink(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	return mv_sink_write(((struct sink_ctx *)ctx)->s, p, n, e);
}

/* Writes en as export does (cmd_read.c), to folder tname. */
static enum mv_err write_message(struct lx *x, struct mv_sink *s, const char *tname,
				 char tdelim, const struct mv_entry *en, struct mv_error *e)
{
	struct mv_msgmeta m;
	struct sink_ctx sc = { s };
	enum mv_err rc;

	memset(&m, 0, sizeof m);
	m.folder = tname;
	m.delim = tdelim;
	m.flags = en->flags;
	m.nkeywords = en->nkw;
	m.keywords = (const char *const *)en->kw;
	if (mv_imapdate_parse(en->date, strlen(en->date), &m.internaldate, &m.tzoff_min) != 0)
		m.internaldate = 0;
	m.size = en->blob.raw_size;
	if (en->srcmeta_len) {
		if (x->mbox_src)
			m.mbox_from = en->srcmeta;
		else
			m.maildir_name = en->srcmeta;
	}
	if ((rc = mv_sink_begin(s, &m, e)) ||
	    (rc = mv_vault_read_blob(x->v, &en->blob, to_sink, &sc, e)) ||
	    (rc = mv_sink_end(s, e)))
		mv_sink_abort(s);
	return rc;
}

static enum mv_err push_folder(struct lx *x, const struct mv_folder *f,
			       struct mv_push_folder *fr, struct mv_push_report *r,
			       struct mv_error *e)
{
	char *tname = NULL, *dir = NULL, *jpath = NULL, *probe = NULL;
	size_t *match = NULL;
	struct mv_sink *s = NULL;
	char tdelim;
	int exists, journaled = 0;
	size_t warned = 0;
	uint64_t dropped = 0;
	enum mv_err rc;

	if ((rc = begin_folder(x, f, e)) ||
	    (rc = target_of(x, f, fr->source, &fr->target, &tname, &tdelim, e)) ||
	    (rc = mv_sink_folder_path(x->sk, tname, tdelim, &fr->path, e)))
		goto out;
	dir = *fr->path ? strf("%s/%s", x->o->path, fr->path) : strdup(x->o->path);
	if (!dir) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (x->sk == MV_SINK_MAILDIR) {
		if (!(probe = strf("%s/cur", dir))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		exists = is_dir(probe);
		if (exists && f->n && (rc = load_maildir(x, dir, 0, e)))
			goto out;
	} else {
		struct stat st;

		exists = lstat(dir, &st) == 0;
		if (exists && !S_ISREG(st.st_mode)) {
			rc = mv_fail(e, MV_E_IO, "cannot push into '%s': not a regular file", dir);
			goto out;
		}
		if (exists && (rc = load_mbox(x, dir, e)))
			goto out;
	}
	fr->created = !exists;
	if (!(match = malloc((f->n ? f->n : 1) * sizeof *match))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = match_folder(x, f, match, e)))
		goto out;
	if (x->sk == MV_SINK_MBOX && exists && !x->o->dry_run &&
	    (rc = repair_tail(x, f, dir, fr->path, r, e)))
		goto out;
	for (size_t i = 0; i < f->n; i++)
		if (match[i] != NONE) {
			fr->present++;
			r->present++;
		}
	if (x->o->dry_run) {
		for (size_t i = 0; i < f->n; i++)
			if (match[i] == NONE) {
				fr->appended++;
				r->appended++;
				fr->bytes += f->e[i].blob.raw_size;
			}
		goto out;
	}
	if ((rc = mv_sink_open_push(&s, x->sk, x->o->path, 1, e)) ||
	    (rc = mv_sink_folder(s, tname, tdelim, e)))
		goto out;
	if (x->sk == MV_SINK_MBOX && fr->present < f->n) {
		struct stat st;

		if (!(jpath = journal_path(x, fr->path))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		if (lstat(dir, &st) != 0) {
			rc = mv_fail(e, MV_E_IO, "cannot stat '%s': %s", dir, strerror(errno));
			goto out;
		}
		if ((rc = journal_write(x, jpath, fr->path, &st, e)))
			goto out;
		journaled = 1;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (match[i] != NONE)
			continue;
		if ((rc = write_message(x, s, tname, tdelim, &f->e[i], e))) {
			mv_error_prefix(e, "folder '%s' UID %u", fr->source, f->e[i].uid);
			goto out;
		}
		fr->appended++;
		r->appended++;
		fr->bytes += f->e[i].blob.raw_size;
		for (; warned < mv_sink_nwarnings(s); warned++)
			note(x, "warning", "%s", mv_sink_warning(s, warned));
	}
	rc = mv_sink_close(s, e);
	dropped = mv_sink_dropped_keywords(s);
	fr->dropped_keywords += dropped;
	r->dropped_keywords += dropped;
	for (; warned < mv_sink_nwarnings(s); warned++)
		note(x, "warning", "%s", mv_sink_warning(s, warned));
	if (rc == MV_OK && journaled)
		rc = journal_remove(x, jpath, e);
out:
	mv_sink_free(s);
	free(match);
	free(tname);
	free(dir);
	free(jpath);
	free(probe);
	return rc;
}

static enum mv_err lx_init(struct lx *x, struct mv_vault *v, const struct mv_index *ix,
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

static void lx_release(struct lx *x)
{
	clear_target(x);
	free(x->t);
	free(x->lf);
	free(x->lf_state);
	free(x->vsizes);
	free(x->buf);
	memset(x, 0, sizeof *x);
}

enum mv_err mv_push_local(struct mv_vault *v, const struct mv_index *ix,
			  const struct mv_local_opts *o, struct mv_push_report *r,
			  struct mv_error *e)
{
	struct lx x;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	if ((rc = lx_init(&x, v, ix, o, e)))
		goto out;
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = selected(&x, f, &rc, e);
		struct mv_push_folder *fr;

		if (!src)
			continue;
		if (!(fr = mv_push_report_add(r))) {
			free(src);
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		fr->source = src;
		fr->messages = f->n;
		rc = push_folder(&x, f, fr, r, e);
	}
out:
	lx_release(&x);
	return rc;
}

/* ---- compare ---- */

static const struct lx *pair_ctx;

/* Orders target indices by size, then date. */
static int cmp_size_date(const void *a, const void *b)
{
	const struct tmsg *p = &pair_ctx->t[*(const size_t *)a];
	const struct tmsg *q = &pair_ctx->t[*(const size_t *)b];

	if (p->size != q->size)
		return p->size < q->size ? -1 : 1;
	if (p->date != q->date)
		return p->date < q->date ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The first unused target message of this size and date among the sorted
 * indices idx[0..n), or NONE. */
static size_t find_size_date(const struct lx *x, const size_t *idx, size_t n,
			     uint64_t size, int64_t date)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct tmsg *t = &x->t[idx[mid]];

		if (t->size < size || (t->size == size && t->date < date))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n; lo++) {
		const struct tmsg *t = &x->t[idx[lo]];

		if (t->size != size || t->date != date)
			break;
		if (!t->used)
			return idx[lo];
	}
	return NONE;
}

/* How the compare names target message k. */
static void target_label(const struct lx *x, size_t k, char *out, size_t cap)
{
	if (x->sk == MV_SINK_MAILDIR)
		snprintf(out, cap, "%s", x->t[k].name);
	else
		snprintf(out, cap, "message %zu at offset %llu", k + 1,
			 (unsigned long long)x->t[k].offset);
}

static enum mv_err diff_folder(struct lx *x, const struct mv_folder *f,
			       struct mv_diff_folder *df, struct mv_diff_report *r,
			       struct mv_error *e)
{
	char *tname = NULL, *dir = NULL, *probe = NULL, label[600];
	size_t *match = NULL, *idx = NULL, nidx = 0;
	uint8_t *altered = NULL;
	char tdelim;
	int exists;
	enum mv_err rc;

	if ((rc = begin_folder(x, f, e)) ||
	    (rc = target_of(x, f, df->source, &df->target, &tname, &tdelim, e)) ||
	    (rc = mv_sink_folder_path(x->sk, tname, tdelim, &df->path, e)))
		goto out;
	dir = *df->path ? strf("%s/%s", x->o->path, df->path) : strdup(x->o->path);
	probe = dir ? strf("%s/cur", dir) : NULL;
	if (!dir || !probe) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (x->sk == MV_SINK_MAILDIR) {
		exists = is_dir(probe);
		free(probe);
		if (!(probe = strf("%s/new", dir))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		exists = exists || is_dir(probe);
		if (exists && (rc = load_maildir(x, dir, 1, e)))
			goto out;
	} else {
		struct stat st;

		exists = lstat(dir, &st) == 0 && S_ISREG(st.st_mode);
		if (exists && (rc = load_mbox(x, dir, e)))
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
	if ((rc = match_folder(x, f, match, e)))
		goto out;
	/* Same bytes: then flags, keywords (Maildir) and date. */
	for (size_t i = 0; i < f->n; i++) {
		const struct mv_entry *en = &f->e[i];
		struct tmsg *t;
		int64_t d;
		int tz;

		if (match[i] == NONE)
			continue;
		t = &x->t[match[i]];
		df->matched++;
		target_label(x, match[i], label, sizeof label);
		if (mv_imapdate_parse(en->date, strlen(en->date), &d, &tz) != 0)
			d = 0;
		if (x->sk == MV_SINK_MAILDIR) {
			char *k = kw_key(en->kw, en->nkw, NULL);

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
	pair_ctx = x;
	qsort(idx, nidx, sizeof *idx, cmp_size_date);
	pair_ctx = NULL;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < f->n; i++) {
			const struct mv_entry *en = &f->e[i];
			size_t k = NONE;
			int64_t d;
			int tz;

			if (match[i] != NONE || altered[i])
				continue;
			if (mv_imapdate_parse(en->date, strlen(en->date), &d, &tz) != 0)
				d = 0;
			if (pass == 0) {
				k = find_size_date(x, idx, nidx, en->blob.raw_size, d);
				if (k == NONE && x->sk == MV_SINK_MBOX)
					k = find_size_date(x, idx, nidx, en->blob.raw_size + 1, d);
			} else if (x->sk == MV_SINK_MAILDIR && !x->mbox_src && en->srcmeta_len) {
				for (size_t j = 0; j < x->nt && k == NONE; j++)
					if (!x->t[j].used && strcmp(x->t[j].base, en->srcmeta) == 0)
						k = j;
			} else if (x->sk == MV_SINK_MBOX) {
				/* The same From_ date alone: edited in place. */
				for (size_t j = 0; j < x->nt && k == NONE; j++)
					if (!x->t[j].used && x->t[j].date == d)
						k = j;
			}
			if (k == NONE)
				continue;
			x->t[k].used = 1;
			altered[i] = 1;
			target_label(x, k, label, sizeof label);
			mv_diff_report_item(r, df, "altered", en->uid, 0, label);
		}
	for (size_t i = 0; i < f->n; i++)
		if (match[i] == NONE && !altered[i])
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
	free(probe);
	return rc;
}

enum mv_err mv_compare_local(struct mv_vault *v, const struct mv_index *ix,
			     const struct mv_local_opts *o, struct mv_diff_report *r,
			     struct mv_error *e)
{
	struct lx x;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	if ((rc = lx_init(&x, v, ix, o, e)))
		goto out;
	if (!is_dir(o->path)) {
		rc = mv_fail(e, MV_E_NOTFOUND, "target '%s' is not a directory", o->path);
		goto out;
	}
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = selected(&x, f, &rc, e);
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
	lx_release(&x);
	return rc;
}
