/*
 * mbox.c - streaming mbox reader; see mbox.h.
 *
 * Boundary rules (format-spec appendix A).  They are chosen to agree byte
 * for byte with Python 3.11's mailbox.mbox (_generate_toc and get_bytes),
 * which the tests use as an independent reader:
 *
 *  1. A line is a run of bytes ended by LF (0x0a) or by the end of the
 *     file.  CR is an ordinary byte: a CRLF line is a line whose last
 *     content byte is CR, and a bare CR never ends a line.
 *  2. Every line that begins with the five bytes "From " starts a new
 *     message; whether the line before it is empty does not matter.  This
 *     is Python's line.startswith(b'From ').  A body line "From " that a
 *     writer failed to quote therefore splits a message, as it does for
 *     Python and for most MUAs.
 *  3. The file may begin with empty lines ("\n" or "\r\n"); any other
 *     first line that is not a From_ line is MV_E_PARSE.  (Python silently
 *     drops whatever precedes the first From_ line; we refuse, since those
 *     bytes would be lost without a trace.)
 *  4. A From_ line is at most 4096 bytes, not counting its line end; a
 *     longer one is MV_E_PARSE.  It is returned without "From " and
 *     without its LF, and without a CR directly before that LF.  (Python's
 *     get_from() keeps such a CR.)
 *  5. A message's bytes run from the byte after the From_ line's LF up to
 *     the next From_ line or the end of the file, except that if the last
 *     line of that range is exactly "\n" (an empty LF line), its LF is not
 *     part of the message: that is the separator Python's writer (and
 *     most others) put after each message.  Nothing else is removed: an
 *     empty CRLF line "\r\n" is not a separator (Python compares the line
 *     to b'\n'), and a message whose last line is not empty keeps all its
 *     bytes.  A From_ line at the very end of the file without an LF gives
 *     an empty message.
 *  6. mboxo returns the bytes of rule 5 unchanged; so does Python, so the
 *     two agree exactly.
 *  7. mboxrd additionally removes one '>' from the start of every message
 *     line (rule 1 lines) that matches ^>+From .  Python's mbox neither
 *     unquotes when reading nor quotes ">From " when writing (it turns
 *     "From " at a line start into ">From ", mboxo style), so for lines
 *     ^>+From  the two readers differ by exactly that one '>', and a
 *     Python-written file whose message held ">From " loses a '>' here.
 *  8. mboxcl2: the header block runs from the message start to its first
 *     empty line ("\n" or "\r\n").  If it holds exactly one
 *     Content-Length: header (name matched without regard to case) whose
 *     value is decimal digits on one unfolded line of at most 255 bytes
 *     (spaces and tabs around the digits allowed), the body is that many bytes
 *     after the empty line, and the message ends there provided what
 *     follows is the end of the file, or a line end ("\n" or "\r\n")
 *     followed by the end of the file or by "From ".  That line end is the
 *     separator and is not part of the message.  Otherwise (no header, two
 *     of them, a malformed value, a "From " line or the end of the file
 *     inside the header block, or a length that does not land on a
 *     boundary) the message is split by rules 2 and 5 instead, so a wrong
 *     Content-Length never hides or swallows mail.  Nothing is unquoted.
 *
 * Memory is bounded by one 64 KiB window over the file, read with pread()
 * at absolute offsets; a message is never held whole.  Positions are file
 * offsets, so the window can move freely (to look ahead over a long '>'
 * run, or to check a Content-Length) and rewinding is just a seek.  The
 * price is that the descriptor must be seekable (a regular file or memfd,
 * not a pipe).
 */
#include "mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "mailhdr.h"

#define WINDOW 65536
#define FROM_MAX 4096
#define MIN_READ_CAP 8192
/* A Content-Length line, LF included, longer than this is not trusted. */
#define CL_LINE_MAX 256

struct mv_mbox {
	int fd;
	int own_fd;
	char *name;
	enum mv_mbox_format fmt;

	/* The window: file bytes [win_off, win_off + win_len). */
	uint8_t *win;
	uint64_t win_off;
	size_t win_len;

	int started;        /* the first From_ line has been looked for */
	int at_end;         /* no more messages */
	int in_msg;         /* a message is current */
	uint64_t next_off;  /* where the next From_ line (or the end) is */

	/* The current message. */
	char from[FROM_MAX + 1];
	uint64_t msg_start; /* first byte after the From_ line */
	int known_end;      /* mboxcl2 with a usable Content-Length */
	uint64_t msg_end;   /* when known_end: one past the last byte */
	int unquote;        /* mboxrd: drop one '>' from ^>+From_ lines */

	/* The scanner's place in the current message. */
	uint64_t pos;       /* next file byte to look at */
	int at_bol;         /* pos is at the start of a line */
	int pending_nl;     /* the LF of an empty line at pos - 1 is held back */
	int done;           /* the message's last byte has been delivered */
	uint64_t after;     /* when done: offset of the next From_ or the end */
};

int mv_mbox_format_parse(const char *name, enum mv_mbox_format *fmt)
{
	if (strcmp(name, "mboxrd") == 0)
		*fmt = MV_MBOXRD;
	else if (strcmp(name, "mboxo") == 0)
		*fmt = MV_MBOXO;
	else if (strcmp(name, "mboxcl2") == 0)
		*fmt = MV_MBOXCL2;
	else
		return -1;
	return 0;
}

static enum mv_err open_common(struct mv_mbox **out, int fd, int own_fd,
			       const char *name, enum mv_mbox_format fmt,
			       struct mv_error *e)
{
	struct mv_mbox *m = NULL;
	enum mv_err rc = MV_OK;

	*out = NULL;
	if (fmt != MV_MBOXRD && fmt != MV_MBOXO && fmt != MV_MBOXCL2) {
		rc = mv_fail(e, MV_E_USAGE, "unknown mbox format %d", (int)fmt);
		goto out;
	}
	/* Everything is read with pread(), so refuse pipes up front with a
	 * message that says why rather than failing on the first read. */
	if (lseek(fd, 0, SEEK_CUR) < 0) {
		rc = mv_fail(e, MV_E_IO, "cannot read '%s': not a seekable file: %s",
			     name, strerror(errno));
		goto out;
	}
	m = calloc(1, sizeof *m);
	if (!m || !(m->name = strdup(name)) || !(m->win = malloc(WINDOW))) {
		rc = mv_fail(e, MV_E_NOMEM, "cannot read '%s': out of memory", name);
		goto out;
	}
	m->fd = fd;
	m->own_fd = own_fd;
	m->fmt = fmt;
	*out = m;
	m = NULL;
out:
	if (m) {
		/* The caller still owns fd on failure; only free our memory. */
		m->own_fd = 0;
		mv_mbox_free(m);
	}
	return rc;
}

enum mv_err mv_mbox_open(struct mv_mbox **out, const char *path,
			 enum mv_mbox_format fmt, struct mv_error *e)
{
	int fd;
	enum mv_err rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mv_fail(e, MV_E_IO, "cannot open '%s': %s", path,
			       strerror(errno));
	rc = open_common(out, fd, 1, path, fmt, e);
	if (rc)
		close(fd);
	return rc;
}

enum mv_err mv_mbox_open_fd(struct mv_mbox **out, int fd, const char *name,
			    enum mv_mbox_format fmt, struct mv_error *e)
{
	return open_common(out, fd, 0, name, fmt, e);
}

void mv_mbox_free(struct mv_mbox *m)
{
	if (!m)
		return;
	if (m->own_fd)
		close(m->fd);
	free(m->win);
	free(m->name);
	free(m);
}

/*
 * Makes the window start at or before off and hold at least need bytes
 * from off (need <= WINDOW), reading more as required.  On return *p
 * points at off's byte and *avail says how many bytes follow in the
 * window; *avail < need only at the end of the file.
 */
static enum mv_err fill(struct mv_mbox *m, uint64_t off, size_t need,
			const uint8_t **p, size_t *avail, struct mv_error *e)
{
	size_t have = 0;

	if (off >= m->win_off && off - m->win_off <= m->win_len) {
		size_t skip = (size_t)(off - m->win_off);

		have = m->win_len - skip;
		if (have < need && skip > 0) {
			memmove(m->win, m->win + skip, have);
			m->win_off = off;
			m->win_len = have;
		}
	} else {
		m->win_off = off;
		m->win_len = 0;
	}
	while (have < need && m->win_len < WINDOW) {
		ssize_t r = pread(m->fd, m->win + m->win_len,
				  WINDOW - m->win_len,
				  (off_t)(m->win_off + m->win_len));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mv_fail(e, MV_E_IO, "cannot read '%s': %s",
				       m->name, strerror(errno));
		if (r == 0)
			break;
		m->win_len += (size_t)r;
		have += (size_t)r;
	}
	*p = m->win + (off - m->win_off);
	*avail = have;
	return MV_OK;
}

static int is_from(const uint8_t *p, size_t avail)
{
	return avail >= 5 && memcmp(p, "From ", 5) == 0;
}

/*
 * Decides whether the line whose first byte (a '>') is at off matches
 * ^>+From_.  The run of '>' may be longer than the window, so it is
 * walked a window at a time.
 */
static enum mv_err quoted_from(struct mv_mbox *m, uint64_t off, int *yes,
			       struct mv_error *e)
{
	const uint8_t *p;
	size_t avail, i;
	enum mv_err rc;

	*yes = 0;
	for (;;) {
		rc = fill(m, off, 6, &p, &avail, e);
		if (rc)
			return rc;
		for (i = 0; i < avail && p[i] == '>'; i++)
			;
		off += i;
		if (i == 0 || i < avail)
			break;
	}
	rc = fill(m, off, 5, &p, &avail, e);
	if (rc)
		return rc;
	*yes = is_from(p, avail);
	return MV_OK;
}

/*
 * Delivers up to cap bytes of the current message into out (or discards
 * them when out is NULL), applying rules 5 and 7 of the comment at the
 * top.  *got is 0 only once the message is done.
 */
static enum mv_err scan(struct mv_mbox *m, uint8_t *out, size_t cap,
			size_t *got, struct mv_error *e)
{
	const uint8_t *p;
	size_t avail, n = 0, k;
	enum mv_err rc = MV_OK;

	while (!m->done && n < cap) {
		if (m->known_end) {
			if (m->pos >= m->msg_end) {
				m->done = 1;
				break;
			}
			rc = fill(m, m->pos, 1, &p, &avail, e);
			if (rc)
				goto out;
			if (avail == 0) {
				rc = mv_fail(e, MV_E_IO, "cannot read '%s': the file "
					     "shrank while being read", m->name);
				goto out;
			}
			k = avail;
			if (k > m->msg_end - m->pos)
				k = (size_t)(m->msg_end - m->pos);
			if (k > cap - n)
				k = cap - n;
			if (out)
				memcpy(out + n, p, k);
			m->pos += k;
			n += k;
			continue;
		}
		if (m->at_bol) {
			rc = fill(m, m->pos, 5, &p, &avail, e);
			if (rc)
				goto out;
			if (avail == 0 || is_from(p, avail)) {
				/* The held-back LF, if any, was the separator. */
				m->pending_nl = 0;
				m->done = 1;
				m->after = m->pos;
				break;
			}
			if (m->pending_nl) {
				/* Not a separator after all: it was message text. */
				if (out)
					out[n] = '\n';
				n++;
				m->pending_nl = 0;
				continue;
			}
			if (p[0] == '\n') {
				m->pending_nl = 1;
				m->pos++;
				continue;
			}
			m->at_bol = 0;
			if (m->unquote && p[0] == '>') {
				int yes;

				rc = quoted_from(m, m->pos, &yes, e);
				if (rc)
					goto out;
				if (yes)
					m->pos++;
			}
			continue;
		}
		rc = fill(m, m->pos, 1, &p, &avail, e);
		if (rc)
			goto out;
		if (avail == 0) {
			/* The last line has no LF: everything is message. */
			m->done = 1;
			m->after = m->pos;
			break;
		}
		k = avail < cap - n ? avail : cap - n;
		{
			const uint8_t *nl = memchr(p, '\n', k);

			if (nl) {
				k = (size_t)(nl - p) + 1;
				m->at_bol = 1;
			}
		}
		if (out)
			memcpy(out + n, p, k);
		m->pos += k;
		n += k;
	}
out:
	*got = n;
	return rc;
}

/*
 * Parses a Content-Length line at p[0..n) (n covers at least the line and
 * its LF when they fit the window).  Returns 0 and *len, or -1.
 */
static int parse_content_length(const uint8_t *p, size_t n, uint64_t *len)
{
	size_t i = sizeof "content-length:" - 1;
	uint64_t v = 0;
	int digits = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	while (i < n && p[i] >= '0' && p[i] <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
		digits++;
		i++;
	}
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	if (!digits || i >= n || p[i] != '\n')
		return -1;
	*len = v;
	return 0;
}

/*
 * mboxcl2 (rule 8): looks for a usable Content-Length in the current
 * message's header block and, if there is one that lands on a boundary,
 * sets known_end, msg_end and after.  Otherwise leaves the message to
 * From_ splitting.  Only read errors are errors.
 */
static enum mv_err content_length(struct mv_mbox *m, struct mv_error *e)
{
	const uint8_t *p, *nl;
	size_t avail;
	uint64_t off = m->msg_start, body, end, len = 0;
	int count = 0, bad = 0, last_was_cl = 0;
	enum mv_err rc;

	for (;;) {
		/* off is at the start of a header line. */
		rc = fill(m, off, CL_LINE_MAX, &p, &avail, e);
		if (rc)
			return rc;
		if (avail == 0 || is_from(p, avail))
			return MV_OK;
		if (p[0] == '\n' || (avail >= 2 && p[0] == '\r' && p[1] == '\n')) {
			body = off + (p[0] == '\n' ? 1 : 2);
			break;
		}
		if (p[0] == ' ' || p[0] == '\t') {
			/* A folded Content-Length is too odd to trust. */
			if (last_was_cl)
				bad = 1;
		} else if (mv_mail_prefix_ci(p, avail, "content-length:")) {
			count++;
			last_was_cl = 1;
			if (parse_content_length(p, avail < CL_LINE_MAX ?
						 avail : CL_LINE_MAX, &len) != 0)
				bad = 1;
		} else {
			last_was_cl = 0;
		}
		/* Move to the next line, a window at a time. */
		for (;;) {
			nl = memchr(p, '\n', avail);
			if (nl) {
				off += (uint64_t)(nl - p) + 1;
				break;
			}
			off += avail;
			rc = fill(m, off, 1, &p, &avail, e);
			if (rc)
				return rc;
			if (avail == 0)
				return MV_OK;
		}
	}
	if (count != 1 || bad || len > UINT64_MAX - body)
		return MV_OK;
	end = body + len;
	/* Look at the last body byte too, so a length past the end of the
	 * file is told apart from one that ends exactly at it. */
	rc = fill(m, end - 1, 8, &p, &avail, e);
	if (rc)
		return rc;
	if (avail == 0)
		return MV_OK;
	p++;
	avail--;
	if (avail == 0) {
		m->after = end;
	} else if (p[0] == '\n' && (avail == 1 || is_from(p + 1, avail - 1))) {
		m->after = end + 1;
	} else if (avail >= 2 && p[0] == '\r' && p[1] == '\n' &&
		   (avail == 2 || is_from(p + 2, avail - 2))) {
		m->after = end + 2;
	} else {
		return MV_OK;
	}
	m->known_end = 1;
	m->msg_end = end;
	return MV_OK;
}

static void start_scan(struct mv_mbox *m)
{
	m->pos = m->msg_start;
	m->at_bol = 1;
	m->pending_nl = 0;
	m->done = 0;
}

static enum mv_err parse_error(struct mv_mbox *m, uint64_t off,
			       const char *what, struct mv_error *e)
{
	enum mv_err rc = mv_fail(e, MV_E_PARSE, "'%s': %s at offset %llu",
				 m->name, what, (unsigned long long)off);

	if (e)
		e->offset = (int64_t)off;
	return rc;
}

enum mv_err mv_mbox_next(struct mv_mbox *m, int *has, const char **from_line,
			 size_t *from_len, uint64_t *offset, struct mv_error *e)
{
	const uint8_t *p, *nl;
	size_t avail, line, content, skipped;
	uint64_t off;
	enum mv_err rc = MV_OK;

	*has = 0;
	if (m->at_end)
		goto out;
	if (!m->started) {
		/* Rule 3: empty lines may come before the first From_ line. */
		off = 0;
		for (;;) {
			rc = fill(m, off, 2, &p, &avail, e);
			if (rc)
				goto out;
			if (avail >= 1 && p[0] == '\n')
				off += 1;
			else if (avail >= 2 && p[0] == '\r' && p[1] == '\n')
				off += 2;
			else
				break;
		}
		m->started = 1;
		m->next_off = off;
	} else if (m->in_msg) {
		if (!m->done) {
			rc = scan(m, NULL, SIZE_MAX, &skipped, e);
			if (rc)
				goto out;
		}
		m->next_off = m->after;
	}
	m->in_msg = 0;
	off = m->next_off;
	rc = fill(m, off, FROM_MAX + 2, &p, &avail, e);
	if (rc)
		goto out;
	if (avail == 0) {
		m->at_end = 1;
		goto out;
	}
	if (!is_from(p, avail)) {
		rc = parse_error(m, off, "no From_ line", e);
		goto out;
	}
	/* Rule 4. */
	nl = memchr(p, '\n', avail < FROM_MAX + 2 ? avail : FROM_MAX + 2);
	line = nl ? (size_t)(nl - p) : avail;
	content = line;
	if (nl && content > 0 && p[content - 1] == '\r')
		content--;
	if (content > FROM_MAX) {
		rc = parse_error(m, off, "From_ line longer than 4096 bytes", e);
		goto out;
	}
	memcpy(m->from, p + 5, content - 5);
	m->from[content - 5] = '\0';
	m->msg_start = off + line + (nl ? 1 : 0);
	m->known_end = 0;
	m->unquote = m->fmt == MV_MBOXRD;
	if (m->fmt == MV_MBOXCL2) {
		rc = content_length(m, e);
		if (rc)
			goto out;
	}
	start_scan(m);
	m->in_msg = 1;
	*has = 1;
	*from_line = m->from;
	*from_len = content - 5;
	*offset = off;
out:
	return rc;
}

enum mv_err mv_mbox_read(struct mv_mbox *m, uint8_t *buf, size_t cap,
			 size_t *got, struct mv_error *e)
{
	*got = 0;
	if (!m->in_msg)
		return mv_fail(e, MV_E_USAGE, "'%s': no current message", m->name);
	if (cap < MIN_READ_CAP)
		return mv_fail(e, MV_E_USAGE, "'%s': read size %zu is below %d",
			       m->name, cap, MIN_READ_CAP);
	return scan(m, buf, cap, got, e);
}

enum mv_err mv_mbox_rewind(struct mv_mbox *m, struct mv_error *e)
{
	if (!m->in_msg)
		return mv_fail(e, MV_E_USAGE, "'%s': no current message", m->name);
	start_scan(m);
	return MV_OK;
}
