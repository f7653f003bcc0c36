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

#include "imapdate.h"
#include "msgmeta.h"

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

static int lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int has_prefix_ci(const uint8_t *p, size_t n, const char *pre)
{
	size_t i;

	for (i = 0; pre[i]; i++)
		if (i >= n || lower(p[i]) != pre[i])
			return 0;
	return 1;
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
		} else if (has_prefix_ci(p, avail, "content-length:")) {
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

/* ---- From_ line dates ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Matches one of the three-letter names in names at s[i..n), ignoring case;
 * returns its index or -1. */
static int match_name(const char *s, size_t n, size_t i, const char *names,
		      int count)
{
	if (n - i < 3 || (n - i > 3 && !is_space(s[i + 3])))
		return -1;
	for (int k = 0; k < count; k++)
		if (lower((uint8_t)s[i]) == lower((uint8_t)names[3 * k]) &&
		    lower((uint8_t)s[i + 1]) == lower((uint8_t)names[3 * k + 1]) &&
		    lower((uint8_t)s[i + 2]) == lower((uint8_t)names[3 * k + 2]))
			return k;
	return -1;
}

static size_t skip_space(const char *s, size_t n, size_t i)
{
	while (i < n && is_space(s[i]))
		i++;
	return i;
}

/* Reads 1..max digits; returns the value or -1. */
static int number(const char *s, size_t n, size_t *i, int max)
{
	int v = 0, k = 0;

	while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	if (k == 0 || (*i < n && s[*i] >= '0' && s[*i] <= '9'))
		return -1;
	return v;
}

static int token_end(const char *s, size_t n, size_t i)
{
	return i == n || is_space(s[i]);
}

/* A numeric zone "+hhmm"/"-hhmm" at s[*i..n) as a whole token. */
static int numeric_zone(const char *s, size_t n, size_t *i, int *minutes)
{
	size_t j = *i;
	int v;

	if (j >= n || (s[j] != '+' && s[j] != '-'))
		return -1;
	j++;
	if (n - j < 4)
		return -1;
	for (size_t k = 0; k < 4; k++)
		if (s[j + k] < '0' || s[j + k] > '9')
			return -1;
	if (!token_end(s, n, j + 4))
		return -1;
	v = (s[j] - '0') * 600 + (s[j + 1] - '0') * 60 + (s[j + 2] - '0') * 10 +
	    (s[j + 3] - '0');
	if (s[j + 2] > '5')
		return -1;
	*minutes = s[*i] == '-' ? -v : v;
	*i = j + 4;
	return 0;
}

/* Writes 0 <= v <= 99 as two digits. */
static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/*
 * Tries "Www Mmm dd hh:mm[:ss] [zone] yyyy [zone]" at s[i..n).  A zone is
 * "+hhmm"/"-hhmm" (applied) or 1..5 letters (ignored: abbreviations are
 * ambiguous).  Without a numeric zone the time is taken as UTC, as
 * Python's and most MDAs' asctime() From_ lines are.
 */
static int date_at(const char *s, size_t n, size_t i, int64_t *when)
{
	static const char wdays[] = "SunMonTueWedThuFriSat";
	static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char buf[MV_IMAPDATE_LEN];
	int mon, day, hh, mm, ss = 0, year = -1, zone = 0, tz;
	int64_t t;

	if (match_name(s, n, i, wdays, 7) < 0)
		return -1;
	i = skip_space(s, n, i + 3);
	mon = match_name(s, n, i, mons, 12);
	if (mon < 0)
		return -1;
	i = skip_space(s, n, i + 3);
	day = number(s, n, &i, 2);
	if (day < 0 || !token_end(s, n, i))
		return -1;
	i = skip_space(s, n, i);
	hh = number(s, n, &i, 2);
	if (hh < 0 || i >= n || s[i] != ':')
		return -1;
	i++;
	mm = number(s, n, &i, 2);
	if (mm < 0)
		return -1;
	if (i < n && s[i] == ':') {
		i++;
		ss = number(s, n, &i, 2);
		if (ss < 0)
			return -1;
	}
	if (!token_end(s, n, i))
		return -1;
	i = skip_space(s, n, i);
	/* An optional zone before the year. */
	if (numeric_zone(s, n, &i, &zone) == 0) {
		i = skip_space(s, n, i);
	} else {
		size_t j = i;

		while (j < n && j - i < 6 &&
		       ((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z')))
			j++;
		if (j > i && j - i <= 5 && token_end(s, n, j))
			i = skip_space(s, n, j);
	}
	year = number(s, n, &i, 4);
	if (year < 1900 || !token_end(s, n, i))
		return -1;
	/* An optional numeric zone after the year; anything else (a letter
	 * zone, "remote from host") is ignored. */
	i = skip_space(s, n, i);
	(void)numeric_zone(s, n, &i, &zone);
	if (zone < -(99 * 60 + 59) || zone > 99 * 60 + 59)
		return -1;
	/* Let mv_imapdate_parse do the range and calendar checks; every
	 * field here has at most the width its slot allows. */
	put2(buf, day);
	buf[2] = '-';
	memcpy(buf + 3, mons + 3 * mon, 3);
	buf[6] = '-';
	put2(buf + 7, year / 100);
	put2(buf + 9, year % 100);
	buf[11] = ' ';
	put2(buf + 12, hh);
	buf[14] = ':';
	put2(buf + 15, mm);
	buf[17] = ':';
	put2(buf + 18, ss);
	buf[20] = ' ';
	buf[21] = zone < 0 ? '-' : '+';
	put2(buf + 22, abs(zone) / 60);
	put2(buf + 24, abs(zone) % 60);
	if (mv_imapdate_parse(buf, MV_IMAPDATE_LEN, &t, &tz) != 0)
		return -1;
	*when = t;
	return 0;
}

int mv_mbox_from_date(const char *from_line, size_t n, int64_t *when)
{
	/* The sender comes first and may be missing or odd, so try every
	 * token start and take the first that reads as a date. */
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && !is_space(from_line[i - 1]))
			continue;
		if (is_space(from_line[i]))
			continue;
		if (date_at(from_line, n, i, when) == 0)
			return 0;
	}
	return -1;
}

/* ---- Status / X-Status / X-Keywords ---- */

enum hdr_field { F_OTHER, F_STATUS, F_XSTATUS, F_XKEYWORDS };

/*
 * IMAP keywords are atoms (RFC 9051 9: atom-specials are "(" ")" "{" SP
 * CTL "%" "*" DQUOTE "\" "]"), and must be plain ASCII.  A keyword that
 * is not an atom could not be sent back to a server, so it is dropped.
 */
static int is_atom(const uint8_t *p, size_t n)
{
	if (n == 0 || n > MV_MAX_KEYWORD_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
		if (strchr("(){%*\"\\]", p[i]))
			return 0;
	}
	return 1;
}

static int same_ci(const char *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] == '\0' || lower((uint8_t)a[i]) != lower(b[i]))
			return 0;
	return a[i] == '\0';
}

/* Adds keyword p[0..n) unless it is a duplicate (ignoring case), invalid,
 * or over the limit; allocation failure just drops it. */
static void add_keyword(const uint8_t *p, size_t n, char ***kw, size_t *nkw)
{
	char *s;

	if (!is_atom(p, n) || *nkw >= MV_MAX_KEYWORDS)
		return;
	for (size_t i = 0; i < *nkw; i++)
		if (same_ci((*kw)[i], p, n))
			return;
	if (!*kw) {
		*kw = malloc(MV_MAX_KEYWORDS * sizeof **kw);
		if (!*kw)
			return;
	}
	s = malloc(n + 1);
	if (!s)
		return;
	memcpy(s, p, n);
	s[n] = '\0';
	(*kw)[(*nkw)++] = s;
}

static void apply_value(enum hdr_field f, const uint8_t *p, size_t n,
			uint32_t *flags, char ***kw, size_t *nkw)
{
	size_t i = 0, j;

	switch (f) {
	case F_STATUS:
		for (i = 0; i < n; i++)
			if (p[i] == 'R')
				*flags |= MV_FLAG_SEEN;
		break;
	case F_XSTATUS:
		for (i = 0; i < n; i++) {
			if (p[i] == 'A')
				*flags |= MV_FLAG_ANSWERED;
			else if (p[i] == 'F')
				*flags |= MV_FLAG_FLAGGED;
			else if (p[i] == 'T')
				*flags |= MV_FLAG_DRAFT;
			else if (p[i] == 'D')
				*flags |= MV_FLAG_DELETED;
		}
		break;
	case F_XKEYWORDS:
		while (i < n) {
			while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
				i++;
			for (j = i; j < n && p[j] != ' ' && p[j] != '\t' && p[j] != ',';
			     j++)
				;
			if (j > i)
				add_keyword(p + i, j - i, kw, nkw);
			i = j;
		}
		break;
	case F_OTHER:
		break;
	}
}

void mv_mail_header_flags(const uint8_t *hdr, size_t n, uint32_t *flags,
			  char ***kw, size_t *nkw)
{
	enum hdr_field f = F_OTHER;
	size_t i = 0;

	*flags = 0;
	*kw = NULL;
	*nkw = 0;
	while (i < n) {
		const uint8_t *line = hdr + i;
		const uint8_t *nl = memchr(line, '\n', n - i);
		size_t len = nl ? (size_t)(nl - line) : n - i;
		size_t next = i + len + (nl ? 1 : 0);
		size_t c;

		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			/* A folded line continues the field before it. */
			apply_value(f, line, len, flags, kw, nkw);
			i = next;
			continue;
		}
		for (c = 0; c < len && line[c] != ':'; c++)
			;
		f = F_OTHER;
		if (c < len) {
			size_t name = c;

			/* Obsolete syntax allows spaces before the colon. */
			while (name > 0 && (line[name - 1] == ' ' || line[name - 1] == '\t'))
				name--;
			if (name == 6 && has_prefix_ci(line, name, "status"))
				f = F_STATUS;
			else if (name == 8 && has_prefix_ci(line, name, "x-status"))
				f = F_XSTATUS;
			else if (name == 10 && has_prefix_ci(line, name, "x-keywords"))
				f = F_XKEYWORDS;
			apply_value(f, line + c + 1, len - c - 1, flags, kw, nkw);
		}
		i = next;
	}
	if (*nkw == 0) {
		free(*kw);
		*kw = NULL;
	}
}
