/*
 * sink.c - plaintext output as Maildir++, mboxrd, tar or zip; see sink.h,
 * whose header comment states the layout and quoting rules the sink
 * module implements.  This file holds the dispatch of every mv_sink_*
 * call, the folder-name mapping, the Maildir writer and the Maildir
 * naming the tar/zip writer shares; sink_mbox.c writes mboxrd and
 * sink_archive.c tar and zip (sink_int.h is their private contract).
 *
 * Memory is bounded: message bytes go through one 64 KiB output buffer
 * (maildir, mbox) or straight to libarchive (tar, zip, whose member size
 * is known from meta->size before the first byte).  What grows with the
 * input is per folder and per message name, never per message byte: each
 * folder keeps its keyword table and the set of base names it holds, so
 * that a name is never used twice.
 *
 * This is the only module that calls libarchive, and sink_archive.c the
 * only file in it that does.
 */
#include "sink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "maildir.h"
#include "mailhdr.h"
#include "sink_int.h"
#include "utf7.h"

#define OUTBUF_SIZE 65536
#define MAX_WARNINGS 1000       /* the last slot then counts the rest */
#define NAME_MAX_SAFE 200       /* longest source Maildir name we keep */
#define NAME_TRIES 100          /* generated names tried before giving up */

const char *const mv_sink_subdirs[3] = { "cur", "new", "tmp" };

/* ---- small helpers ---- */

/* Appends s with bytes outside printable ASCII (and '\') as \xNN, so a
 * hostile folder name or keyword cannot drive the user's terminal. */
static enum mv_err add_printable(struct mv_buf *b, const char *s)
{
	enum mv_err rc = MV_OK;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e || c == '\\')
			rc = mv_buf_addf(b, "\\x%02x", c);
		else
			rc = mv_buf_addc(b, c);
	}
	return rc;
}

static enum mv_err write_all(int fd, const void *p, size_t n, const char *path,
			     struct mv_error *e)
{
	const uint8_t *q = p;

	while (n) {
		ssize_t r;

		/* Test builds: MV_TEST_CRASH_WRITES kills us here, so that
		 * the push tests can interrupt a message half written. */
		mv_crash_point();
		r = write(fd, q, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return mv_fail(e, MV_E_IO, "cannot write '%s': %s", path,
				       strerror(errno));
		}
		q += r;
		n -= (size_t)r;
	}
	return MV_OK;
}

static enum mv_err fsync_dir(const char *path, struct mv_error *e)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		return mv_fail(e, MV_E_IO, "cannot sync '%s': %s", path,
			       strerror(err));
	}
	close(fd);
	return MV_OK;
}

int mv_sink_create_file(const char *path)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
		      0600);

	if (fd >= 0 && fchmod(fd, 0600) != 0) {
		int err = errno;

		close(fd);
		unlink(path);
		errno = err;
		return -1;
	}
	return fd;
}

char *mv_sink_parent_of(const char *path)
{
	const char *sl = strrchr(path, '/');

	if (!sl)
		return strdup(".");
	if (sl == path)
		return strdup("/");
	return strndup(path, (size_t)(sl - path));
}

/* ---- a set of strings (base names already used in a folder) ---- */

static size_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603u;   /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (size_t)h;
}

static int nameset_has(const struct nameset *ns, const char *s)
{
	if (!ns->cap)
		return 0;
	for (size_t i = name_hash(s) & (ns->cap - 1);; i = (i + 1) & (ns->cap - 1)) {
		if (!ns->slot[i])
			return 0;
		if (strcmp(ns->slot[i], s) == 0)
			return 1;
	}
}

static void nameset_put(char **slot, size_t cap, char *s)
{
	size_t i = name_hash(s) & (cap - 1);

	while (slot[i])
		i = (i + 1) & (cap - 1);
	slot[i] = s;
}

enum mv_err mv_sink_nameset_add(struct nameset *ns, const char *s, size_t len)
{
	char *c = strndup(s, len);

	if (!c)
		return MV_E_NOMEM;
	if (nameset_has(ns, c)) {
		free(c);
		return MV_OK;
	}
	/* Keeps the load under one half so probes stay short. */
	if ((ns->n + 1) * 2 > ns->cap) {
		size_t ncap = ns->cap ? ns->cap * 2 : 64;
		char **nslot = calloc(ncap, sizeof *nslot);

		if (!nslot) {
			free(c);
			return MV_E_NOMEM;
		}
		for (size_t i = 0; i < ns->cap; i++)
			if (ns->slot[i])
				nameset_put(nslot, ncap, ns->slot[i]);
		free(ns->slot);
		ns->slot = nslot;
		ns->cap = ncap;
	}
	nameset_put(ns->slot, ns->cap, c);
	ns->n++;
	return MV_OK;
}

static void nameset_release(struct nameset *ns)
{
	for (size_t i = 0; i < ns->cap; i++)
		free(ns->slot[i]);
	free(ns->slot);
	ns->slot = NULL;
	ns->cap = ns->n = 0;
}

/* ---- kinds, warnings, directories ---- */

int mv_sink_kind_parse(const char *name, enum mv_sink_kind *k)
{
	static const struct {
		const char *name;
		enum mv_sink_kind kind;
	} kinds[] = {
		{ "maildir", MV_SINK_MAILDIR }, { "mbox", MV_SINK_MBOX },
		{ "tar", MV_SINK_TAR }, { "zip", MV_SINK_ZIP },
	};

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(name, kinds[i].name) == 0) {
			*k = kinds[i].kind;
			return 0;
		}
	return -1;
}

static int is_archive(const struct mv_sink *s)
{
	return s->kind == MV_SINK_TAR || s->kind == MV_SINK_ZIP;
}

/* Warnings are best effort: without memory one is lost, never the export. */
void mv_sink_warn(struct mv_sink *s, const char *fmt, ...)
{
	va_list ap;
	char *w = NULL;

	if (!s->warn) {
		s->warn = calloc(MAX_WARNINGS, sizeof *s->warn);
		if (!s->warn)
			return;
	}
	if (s->nwarn >= MAX_WARNINGS - 1) {
		s->nmore++;
		w = mv_strf("%zu further warnings left out", s->nmore);
		if (!w)
			return;
		free(s->warn[MAX_WARNINGS - 1]);
		s->warn[MAX_WARNINGS - 1] = w;
		s->nwarn = MAX_WARNINGS;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&w, fmt, ap) < 0)
		w = NULL;
	va_end(ap);
	if (w)
		s->warn[s->nwarn++] = w;
}

enum mv_err mv_sink_dirty_add(struct mv_sink *s, const char *dir)
{
	char *c;

	for (size_t i = 0; i < s->ndirty; i++)
		if (strcmp(s->dirty[i], dir) == 0)
			return MV_OK;
	if (s->ndirty == s->capdirty) {
		size_t ncap = s->capdirty ? s->capdirty * 2 : 16;
		char **n = realloc(s->dirty, ncap * sizeof *n);

		if (!n)
			return MV_E_NOMEM;
		s->dirty = n;
		s->capdirty = ncap;
	}
	if (!(c = strdup(dir)))
		return MV_E_NOMEM;
	s->dirty[s->ndirty++] = c;
	return MV_OK;
}

enum mv_err mv_sink_make_dir(struct mv_sink *s, const char *path,
			     const char *parent, struct mv_error *e)
{
	struct stat st;

	if (mkdir(path, 0700) == 0) {
		if (chmod(path, 0700) != 0)
			return mv_fail(e, MV_E_IO, "cannot create '%s': %s", path,
				       strerror(errno));
		if (mv_sink_dirty_add(s, parent))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		return MV_OK;
	}
	if (errno != EEXIST)
		return mv_fail(e, MV_E_IO, "cannot create '%s': %s", path,
			       strerror(errno));
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return mv_fail(e, MV_E_EXISTS,
			       "cannot create '%s': it exists and is not a directory",
			       path);
	return MV_OK;
}

/* ---- output buffer (maildir, mbox) ---- */

enum mv_err mv_sink_obuf_flush(struct mv_sink *s, int fd, const char *path,
			       struct mv_error *e)
{
	size_t n = s->olen;

	s->olen = 0;
	return write_all(fd, s->obuf, n, path, e);
}

enum mv_err mv_sink_obuf_add(struct mv_sink *s, int fd, const char *path,
			     const void *p, size_t n, struct mv_error *e)
{
	enum mv_err rc;

	if (s->olen + n > OUTBUF_SIZE) {
		if ((rc = mv_sink_obuf_flush(s, fd, path, e)) != MV_OK)
			return rc;
		if (n >= OUTBUF_SIZE)
			return write_all(fd, p, n, path, e);
	}
	memcpy(s->obuf + s->olen, p, n);
	s->olen += n;
	return MV_OK;
}

/* ---- folder names ---- */

static int is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/*
 * End of the component starting at i.  A modified UTF-7 run "&...-"
 * stands for other characters, so a delimiter byte inside one does not
 * split (only matters for a delimiter from the base64 alphabet).
 */
static size_t component_end(const char *p, size_t n, size_t i, char delim)
{
	while (i < n && p[i] != delim) {
		if (p[i] == '&' && delim != '&') {
			for (i++; i < n && p[i] != '-'; i++)
				;
			if (i < n)
				i++;
			continue;
		}
		i++;
	}
	return i;
}

/* 1 if splitting p[0..n) at delim (with run skipping if utf7) gives an
 * empty component: "", a leading or trailing delimiter, or two in a row. */
static int has_empty_component(const char *p, size_t n, char delim, int utf7)
{
	size_t i = 0;

	if (!delim)
		return n == 0;
	for (;;) {
		const char *d = memchr(p + i, delim, n - i);
		size_t j = utf7 ? component_end(p, n, i, delim)
				: d ? (size_t)(d - p) : n;

		if (j == i)
			return 1;
		if (j >= n)
			return 0;
		i = j + 1;
	}
}

/* Appends the modified UTF-7 run for the single character U+00bb. */
static enum mv_err add_utf7_byte(struct mv_buf *b, unsigned char c)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
	char run[5] = { '&', 'A', b64[c >> 4], b64[(c & 15) << 2], '-' };

	return mv_buf_add(b, run, sizeof run);
}

/* Appends one Maildir++ component with the escapes of sink.h. */
static enum mv_err add_maildir_component(struct mv_buf *b, const char *p,
					 size_t n)
{
	enum mv_err rc = MV_OK;

	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.' || c == '/' || c < 0x20 || c > 0x7e ||
		    (i == 0 && c == '~'))
			rc = add_utf7_byte(b, c);
		else
			rc = mv_buf_addc(b, c);
	}
	return rc;
}

/* The Maildir++ directory name of a folder: "" for INBOX, else ".A.B". */
static enum mv_err maildir_name_of(struct mv_buf *b, const char *name, char delim)
{
	size_t n = strlen(name), i = 0;
	enum mv_err rc;

	if (is_inbox(name))
		return mv_buf_cstr(b);
	rc = mv_buf_addc(b, '.');
	if (!delim || has_empty_component(name, n, delim, 1)) {
		/* Flat: the whole name is one component, delimiters escaped. */
		rc = rc ? rc : add_maildir_component(b, name, n);
		return rc ? rc : mv_buf_cstr(b);
	}
	while (!rc) {
		size_t j = component_end(name, n, i, delim);

		rc = add_maildir_component(b, name + i, j - i);
		if (rc || j >= n)
			break;
		rc = mv_buf_addc(b, '.');
		i = j + 1;
	}
	return rc ? rc : mv_buf_cstr(b);
}

/* Appends one mbox path component with the escapes of sink.h. */
static enum mv_err add_mbox_component(struct mv_buf *b, const char *p, size_t n,
				      int raw, int is_dir)
{
	enum mv_err rc = MV_OK;

	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)p[i];
		int esc = c == '%' || c == '/' || c < 0x20 || c == 0x7f ||
			  (raw && c > 0x7f) || (i == 0 && c == '.') ||
			  /* A directory never ends in ".mbox", so it cannot be
			   * a folder's file. */
			  (is_dir && i + 5 == n && memcmp(p + i, ".mbox", 5) == 0);

		rc = esc ? mv_buf_addf(b, "%%%02X", c) : mv_buf_addc(b, c);
	}
	return rc;
}

/* The mbox path of a folder relative to OUT: "INBOX.mbox", "A/B.mbox". */
static enum mv_err mbox_name_of(struct mv_buf *b, const char *name, char delim)
{
	struct mv_buf u;
	enum mv_err rc;
	int raw = 0;
	size_t n, i = 0;
	const char *p;

	if (is_inbox(name)) {
		rc = mv_buf_addstr(b, "INBOX.mbox");
		return rc ? rc : mv_buf_cstr(b);
	}
	mv_buf_init(&u, STR_MAX);
	if (mv_utf7_decode(&u, name, strlen(name)) != MV_OK) {
		/* Not modified UTF-7: used byte for byte, 8-bit bytes escaped. */
		raw = 1;
		mv_buf_reset(&u);
		if ((rc = mv_buf_addstr(&u, name)) != MV_OK)
			goto out;
	}
	p = (const char *)u.data;
	n = u.len;
	if (!delim || has_empty_component(p, n, delim, 0)) {
		rc = add_mbox_component(b, p, n, raw, 0);
	} else {
		for (rc = MV_OK; !rc;) {
			const char *d = memchr(p + i, delim, n - i);
			size_t j = d ? (size_t)(d - p) : n;

			rc = add_mbox_component(b, p + i, j - i, raw, j < n);
			if (rc || j >= n)
				break;
			rc = mv_buf_addc(b, '/');
			i = j + 1;
		}
	}
	rc = rc ? rc : mv_buf_addstr(b, ".mbox");
	rc = rc ? rc : mv_buf_cstr(b);
out:
	mv_buf_release(&u);
	return rc;
}

/* ---- folders ---- */

static void folder_free(struct folder *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->label);
	free(f->where);
	for (int i = 0; i < NLETTERS; i++)
		free(f->kw[i]);
	nameset_release(&f->names);
	free(f);
}

static enum mv_err get_folder(struct mv_sink *s, const char *name, char delim,
			      struct folder **out, struct mv_error *e)
{
	struct folder *f = NULL;
	struct mv_buf rel, lab;
	enum mv_err rc;

	if (is_inbox(name)) {
		name = "INBOX";
		delim = '\0';
	}
	if (s->last && s->last->delim == delim && strcmp(s->last->name, name) == 0) {
		*out = s->last;
		return MV_OK;
	}
	for (size_t i = 0; i < s->nfolders; i++)
		if (s->folders[i]->delim == delim &&
		    strcmp(s->folders[i]->name, name) == 0) {
			*out = s->last = s->folders[i];
			return MV_OK;
		}
	mv_buf_init(&rel, STR_MAX);
	mv_buf_init(&lab, STR_MAX);
	if (s->nfolders == s->capfolders) {
		size_t ncap = s->capfolders ? s->capfolders * 2 : 16;
		struct folder **n = realloc(s->folders, ncap * sizeof *n);

		if (!n) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		s->folders = n;
		s->capfolders = ncap;
	}
	rc = s->kind == MV_SINK_MBOX ? mbox_name_of(&rel, name, delim)
				     : maildir_name_of(&rel, name, delim);
	rc = rc ? rc : add_printable(&lab, name);
	rc = rc ? rc : mv_buf_cstr(&lab);
	if (rc || !(f = calloc(1, sizeof *f))) {
		rc = mv_fail(e, rc == MV_E_LIMIT ? MV_E_LIMIT : MV_E_NOMEM,
			     "cannot map folder name: %s",
			     rc == MV_E_LIMIT ? "too long" : "out of memory");
		goto out;
	}
	f->delim = delim;
	f->label = (char *)lab.data;
	mv_buf_init(&lab, STR_MAX);
	if (!(f->name = strdup(name))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = s->w->folder(s, f, (const char *)rel.data, e)) != MV_OK) {
		mv_error_prefix(e, "folder '%s'", f->label);
		goto out;
	}
	s->folders[s->nfolders++] = f;
	*out = s->last = f;
	f = NULL;
out:
	folder_free(f);
	mv_buf_release(&rel);
	mv_buf_release(&lab);
	return rc;
}

/* ---- Maildir names, flags, keywords (maildir, tar, zip) ---- */

/* A source Maildir name we can keep: printable ASCII without '/' and ':',
 * not starting with '.', 1..200 bytes. */
static int safe_maildir_name(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	if (len == 0 || len > NAME_MAX_SAFE || n[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n[i];

		if (c <= 0x20 || c > 0x7e || c == '/' || c == ':')
			return 0;
	}
	return 1;
}

/* "TIME.M<usec>P<pid>_<counter>.mbox-vault" with TIME the INTERNALDATE,
 * so that a reader sorting by name sees the mail in date order. */
static char *generated_name(struct mv_sink *s, int64_t when)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return mv_strf("%lld.M%ldP%ld_%llu.mbox-vault",
			      (long long)(when < 0 ? 0 : when), ts.tv_nsec / 1000,
			      (long)getpid(), (unsigned long long)++s->counter);
}

enum mv_err mv_sink_pick_base(struct mv_sink *s, const struct mv_msgmeta *m,
			      struct mv_error *e)
{
	struct folder *f = s->cur;
	int tries = 0;

	if (safe_maildir_name(m->maildir_name) &&
	    !nameset_has(&f->names, m->maildir_name))
		s->base = strdup(m->maildir_name);
	else
		s->base = generated_name(s, m->internaldate);
	while (s->base && nameset_has(&f->names, s->base) && ++tries < NAME_TRIES) {
		free(s->base);
		s->base = generated_name(s, m->internaldate);
	}
	return s->base ? MV_OK : mv_fail(e, MV_E_NOMEM, "out of memory");
}

void mv_sink_make_info(struct mv_sink *s, const struct mv_msgmeta *m)
{
	static const struct {
		uint32_t flag;
		char c;
	} sys[] = {
		{ MV_FLAG_DRAFT, 'D' }, { MV_FLAG_FLAGGED, 'F' },
		{ MV_FLAG_PASSED, 'P' }, { MV_FLAG_ANSWERED, 'R' },
		{ MV_FLAG_SEEN, 'S' }, { MV_FLAG_DELETED, 'T' },
	};
	struct folder *f = s->cur;
	char used[NLETTERS] = { 0 };
	size_t o = 0;

	memcpy(s->info, ":2,", 3);
	o = 3;
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (m->flags & sys[i].flag)
			s->info[o++] = sys[i].c;
	for (size_t i = 0; i < m->nkeywords; i++) {
		const char *k = m->keywords[i];
		/* A keyword dovecot-keywords can hold and our Maildir reader
		 * reads back. */
		int kw_ok = mv_keyword_valid(k, strlen(k));
		struct mv_buf lab;
		int letter = -1, free_slot = -1;

		for (int j = 0; j < NLETTERS && letter < 0; j++) {
			if (f->kw[j] && strcmp(f->kw[j], k) == 0)
				letter = j;
			else if (!f->kw[j] && free_slot < 0)
				free_slot = j;
		}
		if (letter < 0 && kw_ok && free_slot >= 0) {
			char *c = strdup(k);

			if (c) {
				f->kw[free_slot] = c;
				f->kw_dirty = 1;
				letter = free_slot;
			}
		}
		if (letter >= 0) {
			used[letter] = 1;
			continue;
		}
		s->dropped_kw++;
		mv_buf_init(&lab, STR_MAX);
		if (add_printable(&lab, k) == MV_OK && mv_buf_cstr(&lab) == MV_OK)
			mv_sink_warn(s, "folder '%s': keyword '%s' of message "
				     "'%s' left out: %s", f->label,
				     (const char *)lab.data, s->base,
				     !kw_ok ? "not a valid IMAP keyword"
				     : free_slot < 0
				     ? "a Maildir folder holds at most 26 keywords"
				     : "out of memory");
		mv_buf_release(&lab);
	}
	for (int j = 0; j < NLETTERS; j++)
		if (used[j])
			s->info[o++] = (char)('a' + j);
	s->info[o] = '\0';
}

enum mv_err mv_sink_keywords_text(const struct folder *f, struct mv_buf *b)
{
	enum mv_err rc = MV_OK;

	for (int j = 0; j < NLETTERS && !rc; j++)
		if (f->kw[j])
			rc = mv_buf_addf(b, "%d %s\n", j, f->kw[j]);
	return rc;
}

/* ---- the Maildir writer ---- */

/* Replaces FOLDER/dovecot-keywords atomically (through tmp/). */
static enum mv_err maildir_write_keywords(struct mv_sink *s, struct folder *f,
					  struct mv_error *e)
{
	struct mv_buf b;
	char *tmp = NULL, *dst = NULL;
	int fd = -1;
	enum mv_err rc;

	mv_buf_init(&b, STR_MAX);
	if ((rc = mv_sink_keywords_text(f, &b)) != MV_OK) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	tmp = mv_strf("%s/tmp/dovecot-keywords.P%ld_%llu", f->where,
			     (long)getpid(), (unsigned long long)++s->counter);
	dst = mv_strf("%s/dovecot-keywords", f->where);
	if (!tmp || !dst) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((fd = mv_sink_create_file(tmp)) < 0) {
		rc = mv_fail(e, MV_E_IO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if ((rc = write_all(fd, b.data, b.len, tmp, e)) != MV_OK)
		goto out;
	if (fsync(fd) != 0 || rename(tmp, dst) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot write '%s': %s", dst, strerror(errno));
		goto out;
	}
	f->kw_dirty = 0;
	f->dir_dirty = 1;
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp && fd >= 0)
		unlink(tmp);
	free(tmp);
	free(dst);
	mv_buf_release(&b);
	return rc;
}

/* Adds the base names (up to ':') of dir's entries to f->names. */
static enum mv_err load_names(struct folder *f, const char *dir,
			      struct mv_error *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	enum mv_err rc = MV_OK;

	if (!d)
		return mv_fail(e, MV_E_IO, "cannot open '%s': %s", dir,
			       strerror(errno));
	while (!rc && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		rc = mv_sink_nameset_add(&f->names, de->d_name,
					 strcspn(de->d_name, ":"));
	}
	closedir(d);
	return rc ? mv_fail(e, rc, "out of memory") : MV_OK;
}

/* Reads an existing dovecot-keywords so new letters do not reuse old ones. */
static enum mv_err load_keywords(struct folder *f, struct mv_error *e)
{
	return mv_maildir_read_keywords(f->where, f->kw, e);
}

/* f->where is the directory OUT/rel (OUT itself for INBOX), with cur/
 * new/ tmp/ and, below the top, the "maildirfolder" marker; the names
 * and keyword letters already there are kept. */
static enum mv_err maildir_folder(struct mv_sink *s, struct folder *f,
				  const char *rel, struct mv_error *e)
{
	enum mv_err rc = MV_OK;
	char *p = NULL;

	f->where = *rel ? mv_strf("%s/%s", s->root, rel) : strdup(s->root);
	if (!f->where)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (*rel && (rc = mv_sink_make_dir(s, f->where, s->root, e)) != MV_OK)
		return rc;
	for (size_t i = 0; i < 3 && !rc; i++) {
		if (!(p = mv_strf("%s/%s", f->where, mv_sink_subdirs[i])))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		rc = mv_sink_make_dir(s, p, f->where, e);
		if (!rc && i < 2)
			rc = load_names(f, p, e);
		free(p);
	}
	if (!rc && *rel) {
		int fd;

		/* Dovecot's marker for a Maildir++ subfolder. */
		if (!(p = mv_strf("%s/maildirfolder", f->where)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		fd = mv_sink_create_file(p);
		if (fd >= 0) {
			if (fsync(fd) != 0)
				rc = mv_fail(e, MV_E_IO, "cannot sync '%s': %s", p,
					     strerror(errno));
			close(fd);
			f->dir_dirty = 1;
		} else if (errno != EEXIST) {
			rc = mv_fail(e, MV_E_IO, "cannot create '%s': %s", p,
				     strerror(errno));
		}
		free(p);
	}
	return rc ? rc : load_keywords(f, e);
}

static enum mv_err maildir_begin(struct mv_sink *s, const struct mv_msgmeta *m,
				 struct mv_error *e)
{
	struct folder *f = s->cur;
	enum mv_err rc = mv_sink_pick_base(s, m, e);
	int tries = 0;

	if (rc)
		return rc;
	/* s->tmp_path is set only once the file is ours, so that an abort
	 * never removes another writer's file. */
	for (;;) {
		char *tmp;

		if (!s->base ||
		    !(tmp = mv_strf("%s/tmp/%s", f->where, s->base)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		if ((s->fd = mv_sink_create_file(tmp)) >= 0) {
			s->tmp_path = tmp;
			break;
		}
		if (errno != EEXIST || ++tries >= NAME_TRIES) {
			rc = mv_fail(e, MV_E_IO, "cannot create '%s': %s", tmp,
				     strerror(errno));
			free(tmp);
			return rc;
		}
		/* A stale file of another writer: take a fresh name. */
		free(tmp);
		free(s->base);
		s->base = generated_name(s, m->internaldate);
	}
	mv_sink_make_info(s, m);
	return f->kw_dirty ? maildir_write_keywords(s, f, e) : MV_OK;
}

static enum mv_err maildir_write(struct mv_sink *s, const uint8_t *p, size_t n,
				 struct mv_error *e)
{
	return mv_sink_obuf_add(s, s->fd, s->tmp_path, p, n, e);
}

static enum mv_err maildir_end(struct mv_sink *s, struct mv_error *e)
{
	struct folder *f = s->cur;
	struct timespec ts[2];
	char *dst = NULL;
	enum mv_err rc = mv_sink_obuf_flush(s, s->fd, s->tmp_path, e);
	int tries = 0;

	if (rc)
		return rc;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)s->when;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(s->fd, ts) != 0 || fsync(s->fd) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot write '%s': %s", s->tmp_path,
			     strerror(errno));
		close(s->fd);
		s->fd = -1;
		return rc;
	}
	rc = close(s->fd) != 0 ? mv_fail(e, MV_E_IO, "cannot write '%s': %s",
					 s->tmp_path, strerror(errno)) : MV_OK;
	s->fd = -1;
	if (rc)
		return rc;
	for (;;) {
		free(dst);
		/* The name is taken before the rename, so that a message in
		 * cur/ is never missing from the set. */
		if (!s->base ||
		    mv_sink_nameset_add(&f->names, s->base, strlen(s->base)) ||
		    !(dst = mv_strf("%s/cur/%s%s", f->where, s->base,
					   s->info)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		/* Never replaces a file: NOREPLACE, or link+unlink where the
		 * file system lacks it. */
		if (renameat2(AT_FDCWD, s->tmp_path, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
			break;
		if (errno == EINVAL || errno == ENOSYS) {
			if (link(s->tmp_path, dst) == 0) {
				unlink(s->tmp_path);
				break;
			}
		}
		if (errno != EEXIST || ++tries >= NAME_TRIES) {
			rc = mv_fail(e, MV_E_IO, "cannot rename '%s' to '%s': %s",
				     s->tmp_path, dst, strerror(errno));
			free(dst);
			return rc;
		}
		free(s->base);
		s->base = generated_name(s, s->when);
	}
	free(dst);
	f->cur_dirty = 1;
	return MV_OK;
}

static void maildir_abort(struct mv_sink *s)
{
	if (s->tmp_path)
		unlink(s->tmp_path);
}

/* Writes the keyword files still due and syncs what changed in each
 * folder; the directories in s->dirty are left to mv_sink_close. */
static enum mv_err maildir_close(struct mv_sink *s, struct mv_error *e)
{
	enum mv_err rc = MV_OK;

	for (size_t i = 0; i < s->nfolders && !rc; i++) {
		struct folder *f = s->folders[i];
		char *cur;

		if (f->kw_dirty)
			rc = maildir_write_keywords(s, f, e);
		if (!rc && f->cur_dirty) {
			if (!(cur = mv_strf("%s/cur", f->where)))
				return mv_fail(e, MV_E_NOMEM, "out of memory");
			rc = fsync_dir(cur, e);
			free(cur);
			f->cur_dirty = 0;
		}
		if (!rc && f->dir_dirty && (rc = fsync_dir(f->where, e)) == MV_OK)
			f->dir_dirty = 0;
	}
	return rc;
}

static const struct sink_writer maildir_writer = {
	.folder = maildir_folder,
	.begin = maildir_begin,
	.write = maildir_write,
	.end = maildir_end,
	.abort = maildir_abort,
	.close = maildir_close,
};

/* ---- open ---- */

enum mv_err mv_sink_open(struct mv_sink **out, enum mv_sink_kind kind,
			 const char *path, struct mv_error *e)
{
	return mv_sink_open_push(out, kind, path, 0, e);
}

enum mv_err mv_sink_open_push(struct mv_sink **out, enum mv_sink_kind kind,
			      const char *path, int append, struct mv_error *e)
{
	struct mv_sink *s = calloc(1, sizeof *s);
	char *par = NULL;
	struct folder *inbox;
	enum mv_err rc = MV_OK;

	*out = NULL;
	if (!s || !(s->root = strdup(path)) || !(par = mv_sink_parent_of(path))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	s->kind = kind;
	s->append = append;
	if (append && (kind == MV_SINK_TAR || kind == MV_SINK_ZIP)) {
		rc = mv_fail(e, MV_E_USAGE, "cannot append to '%s': tar and zip "
			     "files are written whole", path);
		goto out;
	}
	s->w = kind == MV_SINK_MBOX ? &mv_sink_mbox_writer
	       : is_archive(s) ? &mv_sink_ar_writer : &maildir_writer;
	s->fd = s->mbox_fd = s->ar_fd = -1;
	s->now = (int64_t)time(NULL);
	if (is_archive(s)) {
		if ((rc = mv_sink_ar_open(s, par, e)) != MV_OK)
			goto out;
	} else {
		if ((rc = mv_sink_make_dir(s, path, par, e)) != MV_OK)
			goto out;
		if (!(s->obuf = malloc(OUTBUF_SIZE))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
	}
	/* The root is INBOX, a valid Maildir even when INBOX stays empty. */
	if (kind != MV_SINK_MBOX)
		rc = get_folder(s, "INBOX", '\0', &inbox, e);
out:
	free(par);
	if (rc) {
		mv_sink_free(s);   /* removes a tar/zip file it created */
		return rc;
	}
	*out = s;
	return MV_OK;
}

/* ---- messages ---- */

static void end_message(struct mv_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->tmp_path);
	s->tmp_path = NULL;
	free(s->base);
	s->base = NULL;
	s->olen = 0;
	s->active = 0;
}

void mv_sink_abort(struct mv_sink *s)
{
	if (!s || !s->active)
		return;
	s->w->abort(s);
	end_message(s);
}

/* The checks every folder name passes, then get_folder. */
static enum mv_err open_folder(struct mv_sink *s, const char *name, char delim,
			       struct folder **out, struct mv_error *e)
{
	if (s->active)
		return mv_fail(e, MV_E_USAGE, "a message is already being written");
	if (s->broken)
		return mv_fail(e, s->broken, "'%s' is unusable: a member was left "
			       "incomplete", s->root);
	if (!name || !name[0])
		return mv_fail(e, MV_E_USAGE, "a message needs a folder name");
	if (strlen(name) > MV_MAX_FOLDER_NAME)
		return mv_fail(e, MV_E_LIMIT, "folder name over the limit");
	return get_folder(s, name, delim, out, e);
}

enum mv_err mv_sink_folder(struct mv_sink *s, const char *name, char delim,
			   struct mv_error *e)
{
	struct folder *f;

	return open_folder(s, name, delim, &f, e);
}

enum mv_err mv_sink_begin(struct mv_sink *s, const struct mv_msgmeta *m,
			  struct mv_error *e)
{
	enum mv_err rc;

	if (!m)
		return mv_fail(e, MV_E_USAGE, "a message needs a folder name");
	if (m->nkeywords > MV_MAX_KEYWORDS)
		return mv_fail(e, MV_E_LIMIT, "keyword count over the limit");
	if ((rc = open_folder(s, m->folder, m->delim, &s->cur, e)) != MV_OK)
		return rc;
	s->active = 1;
	s->size = m->size;
	s->got = 0;
	s->when = m->internaldate;
	s->last_byte = 0;
	s->olen = 0;
	s->mbox_start = -1;
	if ((rc = s->w->begin(s, m, e)) != MV_OK)
		mv_sink_abort(s);
	return rc;
}

enum mv_err mv_sink_write(struct mv_sink *s, const void *p, size_t n,
			  struct mv_error *e)
{
	enum mv_err rc = MV_OK;

	if (!s->active)
		return mv_fail(e, MV_E_USAGE, "no message is being written");
	if (n > s->size - s->got) {
		rc = mv_fail(e, MV_E_LENGTH, "message in folder '%s' is longer than "
			     "its declared %llu bytes", s->cur->label,
			     (unsigned long long)s->size);
		if (is_archive(s))
			s->broken = MV_E_LENGTH;
		mv_sink_abort(s);
		return rc;
	}
	if (n == 0)
		return MV_OK;
	if ((rc = s->w->write(s, p, n, e)) != MV_OK) {
		mv_sink_abort(s);
		return rc;
	}
	s->got += n;
	s->last_byte = ((const uint8_t *)p)[n - 1];
	return MV_OK;
}

enum mv_err mv_sink_end(struct mv_sink *s, struct mv_error *e)
{
	enum mv_err rc = MV_OK;

	if (!s->active)
		return mv_fail(e, MV_E_USAGE, "no message is being written");
	if (s->got != s->size) {
		rc = mv_fail(e, MV_E_LENGTH, "message in folder '%s' has %llu bytes, "
			     "not the declared %llu", s->cur->label,
			     (unsigned long long)s->got, (unsigned long long)s->size);
		if (is_archive(s))
			s->broken = MV_E_LENGTH;
		mv_sink_abort(s);
		return rc;
	}
	if ((rc = s->w->end(s, e)) != MV_OK) {
		mv_sink_abort(s);
		return rc;
	}
	end_message(s);
	return MV_OK;
}

/* ---- close ---- */

enum mv_err mv_sink_close(struct mv_sink *s, struct mv_error *e)
{
	enum mv_err rc;

	if (s->active)
		mv_sink_abort(s);
	rc = s->w->close(s, e);
	if (is_archive(s))
		return rc;
	/* Order does not matter: each fsync covers the entries of its own
	 * directory, and every directory we changed is in the list. */
	for (size_t i = 0; i < s->ndirty && !rc; i++)
		rc = fsync_dir(s->dirty[i], e);
	return rc;
}

void mv_sink_free(struct mv_sink *s)
{
	if (!s)
		return;
	mv_sink_abort(s);
	if (s->mbox_fd >= 0)
		close(s->mbox_fd);
	mv_sink_ar_free(s);
	for (size_t i = 0; i < s->nfolders; i++)
		folder_free(s->folders[i]);
	free(s->folders);
	for (size_t i = 0; i < s->ndirty; i++)
		free(s->dirty[i]);
	free(s->dirty);
	if (s->warn)
		for (size_t i = 0; i < MAX_WARNINGS; i++)
			free(s->warn[i]);
	free(s->warn);
	free(s->obuf);
	free(s->root);
	free(s);
}

uint64_t mv_sink_dropped_keywords(const struct mv_sink *s)
{
	return s->dropped_kw;
}

enum mv_err mv_sink_folder_path(enum mv_sink_kind kind, const char *name, char delim,
				char **out, struct mv_error *e)
{
	struct mv_buf rel;
	enum mv_err rc;

	*out = NULL;
	if (!name || !name[0])
		return mv_fail(e, MV_E_USAGE, "a folder needs a name");
	if (strlen(name) > MV_MAX_FOLDER_NAME)
		return mv_fail(e, MV_E_LIMIT, "folder name over the limit");
	if (is_inbox(name)) {
		name = "INBOX";
		delim = '\0';
	}
	mv_buf_init(&rel, STR_MAX);
	rc = kind == MV_SINK_MBOX ? mbox_name_of(&rel, name, delim)
				  : maildir_name_of(&rel, name, delim);
	if (rc) {
		mv_buf_release(&rel);
		return mv_fail(e, rc == MV_E_LIMIT ? MV_E_LIMIT : MV_E_NOMEM,
			       "cannot map folder name: %s",
			       rc == MV_E_LIMIT ? "too long" : "out of memory");
	}
	if (!rel.data && !(rel.data = (uint8_t *)strdup(""))) {
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	*out = (char *)rel.data;
	return MV_OK;
}

size_t mv_sink_nwarnings(const struct mv_sink *s)
{
	return s->nwarn;
}

const char *mv_sink_warning(const struct mv_sink *s, size_t i)
{
	return i < s->nwarn ? s->warn[i] : NULL;
}
