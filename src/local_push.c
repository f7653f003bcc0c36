/*
 * local_push.c - push into a local Maildir or mbox target; see
 * local_push.h.
 *
 * Each folder: learn what the target folder holds and match the version
 * to it (local_scan.c), then write what is missing through a sink opened
 * for this folder alone.  One sink per folder keeps each folder's writes
 * and syncs apart, which is what the mbox torn-tail record needs: it is
 * written before the first byte goes to a file and removed once the sink
 * has synced that file.
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
#include "imapdate.h"
#include "msgmeta.h"

#define JOURNAL_PREFIX ".mbox-vault-push-"
#define JOURNAL_MAX 8192

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

/* ---- the mbox torn-tail record ---- */

/* PATH/.mbox-vault-push-<16 hex digits of the keyless hash of rel>. */
static char *journal_path(const struct local_job *x, const char *rel)
{
	uint8_t d[8];
	char hex[17];

	mv_blake2b(d, sizeof d, NULL, 0, (const uint8_t *)rel, strlen(rel));
	mv_hex(hex, d, sizeof d);
	return mv_strf("%s/%s%s", x->o->path, JOURNAL_PREFIX, hex);
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
 * The record: "mbox-vault push 1 SIZE DEV INO\n", written to a new file
 * and renamed into place, synced, before the first byte is appended to
 * the mbox file (whose size is SIZE).  The record's name comes from the
 * file's path and DEV INO name the file, so it holds no folder name.
 */
static enum mv_err journal_write(struct local_job *x, const char *jpath,
				 const struct stat *st, struct mv_error *e)
{
	char *tmp = mv_strf("%s.tmp", jpath), *text = NULL;
	int fd = -1;
	enum mv_err rc = MV_OK;
	size_t len;

	text = mv_strf("mbox-vault push 1 %llu %llu %llu\n",
			      (unsigned long long)st->st_size, (unsigned long long)st->st_dev,
			      (unsigned long long)st->st_ino);
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
static enum mv_err journal_remove(struct local_job *x, const char *jpath, struct mv_error *e)
{
	if (unlink(jpath) != 0) {
		if (errno == ENOENT)
			return MV_OK;
		return mv_fail(e, MV_E_IO, "cannot remove '%s': %s", jpath, strerror(errno));
	}
	return sync_dir(x->o->path, e);
}

/* Reads the record: 1 with *size when it names this very file (device
 * and inode), 0 when there is none or it names another.  The record sits
 * in the target, so it is parsed as untrusted: at most JOURNAL_MAX bytes,
 * one line of three decimal numbers. */
static int journal_read(const char *jpath, const struct stat *st, uint64_t *size)
{
	char text[JOURNAL_MAX + 1];
	unsigned long long sz, dev, ino;
	ssize_t n;
	int fd = open(jpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), used = 0;

	if (fd < 0)
		return 0;
	n = read(fd, text, JOURNAL_MAX);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "mbox-vault push 1 %19llu %19llu %19llu%n", &sz, &dev, &ino, &used) != 3 ||
	    strcmp(text + used, "\n") != 0)
		return 0;
	if (dev != (unsigned long long)st->st_dev || ino != (unsigned long long)st->st_ino)
		return 0;
	*size = sz;
	return 1;
}

/* 1 if target message t has the bytes of some message of f. */
static enum mv_err in_version(struct local_job *x, const struct mv_folder *f, const struct local_msg *t,
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
			if ((rc = mv_local_lf_hash(x, en, i, &has, e)))
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
static enum mv_err repair_tail(struct local_job *x, const struct mv_folder *f, const char *file,
			       const char *rel, struct mv_push_report *r, struct mv_error *e)
{
	char *jpath = journal_path(x, rel);
	struct stat st;
	uint64_t start;
	size_t first = MV_LOCAL_NONE;
	enum mv_err rc = MV_OK;
	int fd = -1, ok = 1, last_in = 0;

	if (!jpath)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (access(jpath, F_OK) != 0)
		goto out;
	if (lstat(file, &st) != 0 || !S_ISREG(st.st_mode) || !journal_read(jpath, &st, &start) ||
	    (uint64_t)st.st_size <= start || x->nt == 0)
		goto done;
	for (size_t i = 0; i < x->nt; i++)
		if (x->t[i].offset >= start) {
			first = i;
			break;
		}
	if (first == MV_LOCAL_NONE)
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
		mv_local_note(x, "warning", "'%s': a record of an interrupted push is there, but the "
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
	mv_local_note(x, "repaired", "'%s': cut %llu bytes at offset %llu, a message an interrupted "
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
static enum mv_err write_message(struct local_job *x, struct mv_sink *s, const char *tname,
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

static enum mv_err push_folder(struct local_job *x, const struct mv_folder *f,
			       struct mv_push_folder *fr, struct mv_push_report *r,
			       struct mv_error *e)
{
	char *tname = NULL, *dir = NULL, *jpath = NULL;
	size_t *match = NULL;
	struct mv_sink *s = NULL;
	char tdelim;
	int exists, journaled = 0;
	size_t warned = 0;
	uint64_t dropped = 0;
	enum mv_err rc;

	if ((rc = mv_local_begin_folder(x, f, e)) ||
	    (rc = mv_local_target_of(x, f, fr->source, &fr->target, &tname, &tdelim, e)) ||
	    (rc = mv_sink_folder_path(x->sk, tname, tdelim, &fr->path, e)))
		goto out;
	dir = *fr->path ? mv_strf("%s/%s", x->o->path, fr->path) : strdup(x->o->path);
	if (!dir) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (x->sk == MV_SINK_MAILDIR) {
		if ((exists = mv_local_maildir_exists(dir)) < 0) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		if (exists && f->n && (rc = mv_local_load_maildir(x, dir, 0, e)))
			goto out;
	} else {
		struct stat st;

		exists = lstat(dir, &st) == 0;
		if (exists && !S_ISREG(st.st_mode)) {
			rc = mv_fail(e, MV_E_IO, "cannot push into '%s': not a regular file", dir);
			goto out;
		}
		if (exists && (rc = mv_local_load_mbox(x, dir, e)))
			goto out;
	}
	fr->created = !exists;
	if (!(match = malloc((f->n ? f->n : 1) * sizeof *match))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = mv_local_match(x, f, match, e)))
		goto out;
	if (x->sk == MV_SINK_MBOX && exists && !x->o->dry_run &&
	    (rc = repair_tail(x, f, dir, fr->path, r, e)))
		goto out;
	for (size_t i = 0; i < f->n; i++)
		if (match[i] != MV_LOCAL_NONE) {
			fr->present++;
			r->present++;
		}
	if (x->o->dry_run) {
		for (size_t i = 0; i < f->n; i++)
			if (match[i] == MV_LOCAL_NONE) {
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
		if ((rc = journal_write(x, jpath, &st, e)))
			goto out;
		journaled = 1;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (match[i] != MV_LOCAL_NONE)
			continue;
		if ((rc = write_message(x, s, tname, tdelim, &f->e[i], e))) {
			mv_error_prefix(e, "folder '%s' UID %u", fr->source, f->e[i].uid);
			goto out;
		}
		fr->appended++;
		r->appended++;
		fr->bytes += f->e[i].blob.raw_size;
		for (; warned < mv_sink_nwarnings(s); warned++)
			mv_local_note(x, "warning", "%s", mv_sink_warning(s, warned));
	}
	rc = mv_sink_close(s, e);
	dropped = mv_sink_dropped_keywords(s);
	fr->dropped_keywords += dropped;
	r->dropped_keywords += dropped;
	for (; warned < mv_sink_nwarnings(s); warned++)
		mv_local_note(x, "warning", "%s", mv_sink_warning(s, warned));
	if (rc == MV_OK && journaled)
		rc = journal_remove(x, jpath, e);
out:
	mv_sink_free(s);
	free(match);
	free(tname);
	free(dir);
	free(jpath);
	return rc;
}

enum mv_err mv_push_local(struct mv_vault *v, const struct mv_index *ix,
			  const struct mv_local_opts *o, struct mv_push_report *r,
			  struct mv_error *e)
{
	struct local_job x;
	enum mv_err rc;

	memset(r, 0, sizeof *r);
	if ((rc = mv_local_init(&x, v, ix, o, e)))
		goto out;
	for (size_t i = 0; rc == MV_OK && i < ix->nf; i++) {
		const struct mv_folder *f = &ix->f[i];
		char *src = mv_local_selected(&x, f, &rc, e);
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
	mv_local_release(&x);
	return rc;
}
