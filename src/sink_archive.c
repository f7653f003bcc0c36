/*
 * sink_archive.c - the tar (pax, restricted) and zip writer of the sink
 * module; sink.h states the member layout, sink_int.h the calls sink.c
 * makes here.
 *
 * Message bytes go straight to libarchive: a member's size is known from
 * meta->size before the first byte, so nothing is buffered here.  A member
 * cannot be taken back once its header is out, so any failure inside one
 * marks the sink broken (s->broken) and the file is removed at close.
 *
 * This is the only file that calls libarchive.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sink_int.h"

/* ---- members ---- */

static enum mv_err ar_fail(struct mv_sink *s, const char *what, const char *name,
			   struct mv_error *e)
{
	/* A member may be half written: the archive cannot be trusted now. */
	s->broken = MV_E_INTERNAL;
	return mv_fail(e, MV_E_INTERNAL, "cannot write %s '%s' in '%s': %s", what,
		       name, s->root, archive_error_string(s->ar)
		       ? archive_error_string(s->ar) : "libarchive failed");
}

static enum mv_err ar_header(struct mv_sink *s, const char *name, int dir,
			     uint64_t size, int64_t mtime, struct mv_error *e)
{
	struct archive_entry *en;
	int r;

	if (size > INT64_MAX)
		return mv_fail(e, MV_E_LIMIT, "message of %llu bytes is too large",
			       (unsigned long long)size);
	if (!(en = archive_entry_new()))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	archive_entry_set_pathname(en, name);
	archive_entry_set_filetype(en, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(en, dir ? 0700 : 0600);
	archive_entry_set_size(en, (la_int64_t)size);
	archive_entry_set_mtime(en, (time_t)mtime, 0);
	archive_entry_set_uid(en, 0);
	archive_entry_set_gid(en, 0);
	r = archive_write_header(s->ar, en);
	archive_entry_free(en);
	return r == ARCHIVE_OK ? MV_OK : ar_fail(s, "member", name, e);
}

static enum mv_err ar_data(struct mv_sink *s, const void *p, size_t n,
			   const char *name, struct mv_error *e)
{
	const uint8_t *q = p;

	while (n) {
		la_ssize_t r = archive_write_data(s->ar, q, n);

		if (r <= 0)
			return ar_fail(s, "member", name, e);
		q += r;
		n -= (size_t)r;
	}
	return MV_OK;
}

/* Writes a small member from memory. */
static enum mv_err ar_small(struct mv_sink *s, const char *name,
			    const void *p, size_t n, struct mv_error *e)
{
	enum mv_err rc = ar_header(s, name, 0, n, s->now, e);

	rc = rc ? rc : ar_data(s, p, n, name, e);
	if (!rc && archive_write_finish_entry(s->ar) != ARCHIVE_OK)
		rc = ar_fail(s, "member", name, e);
	return rc;
}

/* ---- the sink ---- */

enum mv_err mv_sink_ar_open(struct mv_sink *s, const char *par,
			    struct mv_error *e)
{
	const char *path = s->root;
	enum mv_err rc;

	if ((s->ar_fd = mv_sink_create_file(path)) < 0)
		return mv_fail(e, errno == EEXIST ? MV_E_EXISTS : MV_E_IO,
			       "cannot create '%s': %s", path,
			       errno == EEXIST ? "it already exists"
					       : strerror(errno));
	if ((rc = mv_sink_dirty_add(s, par)) != MV_OK)
		return mv_fail(e, rc, "out of memory");
	s->ar = archive_write_new();
	if (!s->ar || (s->kind == MV_SINK_TAR
		       ? archive_write_set_format_pax_restricted(s->ar)
		       : archive_write_set_format_zip(s->ar)) != ARCHIVE_OK ||
	    archive_write_open_fd(s->ar, s->ar_fd) != ARCHIVE_OK)
		return mv_fail(e, MV_E_INTERNAL, "cannot start '%s': %s", path,
			       s->ar && archive_error_string(s->ar)
			       ? archive_error_string(s->ar) : "libarchive failed");
	return MV_OK;
}

/* f->where is the member prefix ("" or "rel/"); the folder gets its
 * directory members and, below the top, the "maildirfolder" marker. */
static enum mv_err ar_folder(struct mv_sink *s, struct folder *f,
			     const char *rel, struct mv_error *e)
{
	enum mv_err rc = MV_OK;
	char *p = NULL;

	f->where = mv_strf("%s%s", rel, *rel ? "/" : "");
	if (!f->where)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	if (*rel)
		rc = ar_header(s, rel, 1, 0, s->now, e);
	for (size_t i = 0; i < 3 && !rc; i++) {
		if (!(p = mv_strf("%s%s", f->where, mv_sink_subdirs[i])))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		rc = ar_header(s, p, 1, 0, s->now, e);
		free(p);
	}
	if (!rc && *rel) {
		if (!(p = mv_strf("%smaildirfolder", f->where)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		rc = ar_header(s, p, 0, 0, s->now, e);
		free(p);
	}
	return rc;
}

static enum mv_err ar_begin(struct mv_sink *s, const struct mv_msgmeta *m,
			    struct mv_error *e)
{
	struct folder *f = s->cur;
	char *member;
	enum mv_err rc = mv_sink_pick_base(s, m, e);

	if (rc)
		return rc;
	/* Taken at once: an archive member's name is final. */
	if (mv_sink_nameset_add(&f->names, s->base, strlen(s->base)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	mv_sink_make_info(s, m);
	if (!(member = mv_strf("%scur/%s%s", f->where, s->base, s->info)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	rc = ar_header(s, member, 0, m->size, m->internaldate, e);
	free(member);
	return rc;
}

static enum mv_err ar_write(struct mv_sink *s, const uint8_t *p, size_t n,
			    struct mv_error *e)
{
	return ar_data(s, p, n, s->base, e);
}

static enum mv_err ar_end(struct mv_sink *s, struct mv_error *e)
{
	if (archive_write_finish_entry(s->ar) != ARCHIVE_OK)
		return ar_fail(s, "member", s->base, e);
	return MV_OK;
}

static void ar_abort(struct mv_sink *s)
{
	/* A member's header is out: it cannot be taken back. */
	if (!s->broken)
		s->broken = MV_E_USAGE;
}

/* Writes the dovecot-keywords members and ends the archive; removes the
 * file when that fails or s->broken is set. */
static enum mv_err ar_close(struct mv_sink *s, struct mv_error *e)
{
	enum mv_err rc = MV_OK;
	struct mv_buf b;
	char *name = NULL;

	mv_buf_init(&b, STR_MAX);
	for (size_t i = 0; i < s->nfolders && !rc && !s->broken; i++) {
		struct folder *f = s->folders[i];
		int any = 0;

		for (int j = 0; j < NLETTERS; j++)
			any |= f->kw[j] != NULL;
		if (!any)
			continue;
		mv_buf_reset(&b);
		free(name);
		name = NULL;
		if (mv_sink_keywords_text(f, &b) ||
		    !(name = mv_strf("%sdovecot-keywords", f->where))) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		rc = ar_small(s, name, b.data, b.len, e);
	}
	free(name);
	mv_buf_release(&b);
	if (!rc && !s->broken && archive_write_close(s->ar) != ARCHIVE_OK)
		rc = ar_fail(s, "end of", "archive", e);
	archive_write_free(s->ar);
	s->ar = NULL;
	if (s->broken && !rc)
		rc = mv_fail(e, s->broken, "removed '%s': a message was abandoned "
			     "inside it and a member cannot be taken back", s->root);
	if (!rc && fsync(s->ar_fd) != 0)
		rc = mv_fail(e, MV_E_IO, "cannot sync '%s': %s", s->root,
			     strerror(errno));
	if (close(s->ar_fd) != 0 && !rc)
		rc = mv_fail(e, MV_E_IO, "cannot write '%s': %s", s->root,
			     strerror(errno));
	s->ar_fd = -1;
	if (rc)
		unlink(s->root);
	return rc;
}

void mv_sink_ar_free(struct mv_sink *s)
{
	if (s->ar)
		archive_write_free(s->ar);
	if (s->ar_fd >= 0) {
		/* Never closed: the archive has no end, so it is not kept. */
		close(s->ar_fd);
		unlink(s->root);
	}
}

const struct sink_writer mv_sink_ar_writer = {
	.folder = ar_folder,
	.begin = ar_begin,
	.write = ar_write,
	.end = ar_end,
	.abort = ar_abort,
	.close = ar_close,
};
