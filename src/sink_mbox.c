/*
 * sink_mbox.c - the mboxrd writer of the sink module; sink.h states the
 * file layout and the quoting, sink_int.h the calls sink.c makes here.
 *
 * One mbox file is open at a time, kept while messages stay in its folder
 * (mail comes folder by folder).  Message bytes go through the sink's
 * 64 KiB output buffer, quoted on the way by a state machine, so a message
 * is never held whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sink_int.h"

#define FROM_LINE_MAX 4000      /* the mbox reader allows 4096 */

/* ---- the file ---- */

/* f->where is the file OUT/rel; the directories of rel ("A/B/C.mbox")
 * are created as needed. */
static enum mv_err mbox_open_file(struct mv_sink *s, struct folder *f,
				  struct mv_error *e);

static enum mv_err mbox_folder(struct mv_sink *s, struct folder *f,
			       const char *rel, struct mv_error *e)
{
	enum mv_err rc = MV_OK;

	/* Intermediate directories of "A/B/C.mbox". */
	for (const char *sl = strchr(rel, '/'); sl && !rc; sl = strchr(sl + 1, '/')) {
		char *dir = mv_strf("%s/%.*s", s->root, (int)(sl - rel), rel);
		char *par = dir ? mv_sink_parent_of(dir) : NULL;

		rc = dir && par ? mv_sink_make_dir(s, dir, par, e)
				: mv_fail(e, MV_E_NOMEM, "out of memory");
		free(dir);
		free(par);
	}
	if (rc)
		return rc;
	if (!(f->where = mv_strf("%s/%s", s->root, rel)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	/* The file exists from the folder's first mention on, so that an
	 * empty folder is exported as an empty mbox. */
	return mbox_open_file(s, f, e);
}

/* Syncs and closes the open mbox file, if any. */
static enum mv_err mbox_close_file(struct mv_sink *s, struct mv_error *e)
{
	enum mv_err rc = MV_OK;

	if (s->mbox_fd < 0)
		return MV_OK;
	if (fsync(s->mbox_fd) != 0)
		rc = mv_fail(e, MV_E_IO, "cannot sync '%s': %s", s->mbox_folder->where,
			     strerror(errno));
	if (close(s->mbox_fd) != 0 && !rc)
		rc = mv_fail(e, MV_E_IO, "cannot write '%s': %s",
			     s->mbox_folder->where, strerror(errno));
	s->mbox_fd = -1;
	s->mbox_folder = NULL;
	return rc;
}

/*
 * Push (s->append): opens an mbox file that exists for appending, with the
 * file kept open by this sink as if it had created it.  MV_E_NOTFOUND
 * (e untouched) when there is no such file.  The file must be a regular
 * file (never followed through a symbolic link) that is empty or ends in
 * LF: a "From " line after a last line without one would join that line
 * and change the message before it.
 */
static enum mv_err mbox_open_existing(struct mv_sink *s, struct folder *f,
				      struct mv_error *e)
{
	struct stat st;
	uint8_t last;
	int fd = open(f->where, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0 && errno == ENOENT)
		return MV_E_NOTFOUND;
	if (fd < 0)
		return mv_fail(e, MV_E_IO, "cannot open '%s': %s", f->where,
			       strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mv_fail(e, MV_E_IO, "cannot append to '%s': not a regular file",
			       f->where);
	}
	if (st.st_size > 0 && (pread(fd, &last, 1, st.st_size - 1) != 1 || last != '\n')) {
		close(fd);
		return mv_fail(e, MV_E_PARSE, "cannot append to '%s': its last line "
			       "has no line end", f->where);
	}
	s->mbox_fd = fd;
	f->mbox_created = 1;
	return MV_OK;
}

/* Opens the folder's mbox file: created by this sink, or not at all
 * (push: or one that exists, see mbox_open_existing). */
static enum mv_err mbox_open_file(struct mv_sink *s, struct folder *f,
				  struct mv_error *e)
{
	int ours = f->mbox_created;
	enum mv_err rc;
	char *par;

	/* Another folder may map to the same file (names that are not
	 * modified UTF-7); the file is then shared. */
	for (size_t i = 0; i < s->nfolders && !ours; i++)
		ours = s->folders[i]->mbox_created &&
		       strcmp(s->folders[i]->where, f->where) == 0;
	if ((rc = mbox_close_file(s, e)) != MV_OK)
		return rc;
	if (ours) {
		s->mbox_fd = open(f->where, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		if (s->mbox_fd < 0)
			return mv_fail(e, MV_E_IO, "cannot open '%s': %s", f->where,
				       strerror(errno));
	} else if (s->append && (rc = mbox_open_existing(s, f, e)) != MV_E_NOTFOUND) {
		if (rc)
			return rc;
	} else {
		if ((s->mbox_fd = mv_sink_create_file(f->where)) < 0)
			return mv_fail(e, errno == EEXIST ? MV_E_EXISTS : MV_E_IO,
				       "cannot create '%s': %s", f->where,
				       errno == EEXIST ? "it already exists"
						       : strerror(errno));
		f->mbox_created = 1;
		if (!(par = mv_sink_parent_of(f->where)) ||
		    mv_sink_dirty_add(s, par)) {
			free(par);
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		}
		free(par);
	}
	s->mbox_folder = f;
	return MV_OK;
}

/* ---- messages ---- */

/* The asctime() form, in UTC, without locale: "Thu Nov 26 01:02:03 2026". */
static void asctime_utc(char out[64], int64_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					 "Fri", "Sat" };
	static const char mons[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	snprintf(out, 64, "%s %s %2d %02d:%02d:%02d %d", days[tm.tm_wday % 7],
		 mons[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, tm.tm_year + 1900);
}

static enum mv_err mbox_begin(struct mv_sink *s, const struct mv_msgmeta *m,
			      struct mv_error *e)
{
	struct folder *f = s->cur;
	const char *from = m->mbox_from;
	size_t flen = from ? strlen(from) : 0;
	char gen[96], date[64];
	enum mv_err rc;

	if (s->mbox_folder != f && (rc = mbox_open_file(s, f, e)) != MV_OK)
		return rc;
	if ((s->mbox_start = lseek(s->mbox_fd, 0, SEEK_END)) < 0)
		return mv_fail(e, MV_E_IO, "cannot seek '%s': %s", f->where,
			       strerror(errno));
	if (from && (flen == 0 || flen > FROM_LINE_MAX || strpbrk(from, "\r\n"))) {
		mv_sink_warn(s, "folder '%s': a stored From_ line is empty, too "
			     "long or holds a line end; wrote one made from the "
			     "INTERNALDATE", f->label);
		from = NULL;
	}
	if (!from) {
		asctime_utc(date, m->internaldate);
		snprintf(gen, sizeof gen, "MAILER-DAEMON %s", date);
		from = gen;
		flen = strlen(gen);
	}
	rc = mv_sink_obuf_add(s, s->mbox_fd, f->where, "From ", 5, e);
	rc = rc ? rc : mv_sink_obuf_add(s, s->mbox_fd, f->where, from, flen, e);
	rc = rc ? rc : mv_sink_obuf_add(s, s->mbox_fd, f->where, "\n", 1, e);
	s->q = Q_START;
	s->qk = 0;
	return rc;
}

/*
 * mboxrd quoting as a state machine, so that a line start split across
 * write() pieces is still seen.  Q_START: at a line start or inside its
 * leading '>' run; Q_MATCH: s->qk bytes of "From " seen and held back;
 * Q_MID: elsewhere in a line.  The extra '>' goes after the '>' run rather
 * than before it: the bytes are the same and nothing but the (at most 4)
 * held bytes of "From" has to wait.
 */
static enum mv_err mbox_write(struct mv_sink *s, const uint8_t *p, size_t n,
			      struct mv_error *e)
{
	const char *path = s->cur->where;
	int fd = s->mbox_fd;
	enum mv_err rc = MV_OK;
	size_t i = 0;

	while (i < n && !rc) {
		if (s->q == Q_MID) {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			size_t j = nl ? (size_t)(nl - p) + 1 : n;

			rc = mv_sink_obuf_add(s, fd, path, p + i, j - i, e);
			i = j;
			if (nl)
				s->q = Q_START;
		} else if (s->q == Q_START) {
			if (p[i] == 'F') {
				s->q = Q_MATCH;
				s->qk = 1;
			} else {
				rc = mv_sink_obuf_add(s, fd, path, p + i, 1, e);
				if (p[i] != '>' && p[i] != '\n')
					s->q = Q_MID;
			}
			i++;
		} else if (p[i] == (uint8_t)"From "[s->qk]) {
			i++;
			if (++s->qk == 5) {
				rc = mv_sink_obuf_add(s, fd, path, ">From ", 6, e);
				s->q = Q_MID;
			}
		} else {
			/* Not a From_ line: release the held bytes; p[i] is
			 * handled as an ordinary byte by Q_MID. */
			rc = mv_sink_obuf_add(s, fd, path, "From ", s->qk, e);
			s->q = Q_MID;
		}
	}
	return rc;
}

static enum mv_err mbox_end(struct mv_sink *s, struct mv_error *e)
{
	const char *path = s->cur->where;
	enum mv_err rc = MV_OK;

	if (s->q == Q_MATCH)
		rc = mv_sink_obuf_add(s, s->mbox_fd, path, "From ", s->qk, e);
	/* An empty message gets only the separator, so it reads back empty. */
	if (!rc && s->got > 0 && s->last_byte != '\n')
		rc = mv_sink_obuf_add(s, s->mbox_fd, path, "\n", 1, e);
	rc = rc ? rc : mv_sink_obuf_add(s, s->mbox_fd, path, "\n", 1, e);
	return rc ? rc : mv_sink_obuf_flush(s, s->mbox_fd, path, e);
}

static void mbox_abort(struct mv_sink *s)
{
	/* Takes the file back to where this message began. */
	if (s->mbox_fd >= 0 && s->mbox_start >= 0 &&
	    ftruncate(s->mbox_fd, s->mbox_start) != 0) {
		/* Nothing better to do: the caller is already failing. */
	}
}

const struct sink_writer mv_sink_mbox_writer = {
	.folder = mbox_folder,
	.begin = mbox_begin,
	.write = mbox_write,
	.end = mbox_end,
	.abort = mbox_abort,
	.close = mbox_close_file,
};
