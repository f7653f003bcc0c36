/*
 * test_mbox.c - mbox reading: message boundaries exactly as Python's
 * mailbox.mbox draws them (every expected value below was checked against
 * Python 3.11), mboxrd unquoting, mboxcl2 Content-Length with its
 * fallback, hostile bytes, bounded reads; From_ dates; Status/X-Status/
 * X-Keywords.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mbox.h"
#include "msgmeta.h"
#include "t.h"

static char dir[64];
static int file_no;

/* Writes data to a new file in the test directory; returns its path. */
static const char *put_file(const void *data, size_t n)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof path, "%s/m%d", dir, file_no++);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n) {
		perror(path);
		exit(2);
	}
	close(fd);
	return path;
}

/* What reading a whole mbox gave. */
struct got {
	int n;
	char *from[16];
	uint64_t off[16];
	struct mv_buf msg[16];
	enum mv_err rc;
	struct mv_error e;
};

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++) {
		free(g->from[i]);
		mv_buf_release(&g->msg[i]);
	}
}

/* Reads every message of data[0..n) in format fmt with read size cap. */
static void read_all(struct got *g, const void *data, size_t n,
		     enum mv_mbox_format fmt, size_t cap)
{
	struct mv_mbox *m = NULL;
	uint8_t *buf = malloc(cap);
	const char *path = put_file(data, n);

	memset(g, 0, sizeof *g);
	mv_error_clear(&g->e);
	g->rc = mv_mbox_open(&m, path, fmt, &g->e);
	while (!g->rc) {
		int has;
		const char *fl;
		size_t fn, got;
		uint64_t off;

		g->rc = mv_mbox_next(m, &has, &fl, &fn, &off, &g->e);
		if (g->rc || !has)
			break;
		if (g->n == 16) {
			g->rc = MV_E_INTERNAL;
			break;
		}
		g->from[g->n] = strndup(fl, fn);
		g->off[g->n] = off;
		mv_buf_init(&g->msg[g->n], 1 << 26);
		do {
			g->rc = mv_mbox_read(m, buf, cap, &got, &g->e);
			if (!g->rc && got)
				mv_buf_add(&g->msg[g->n], buf, got);
		} while (!g->rc && got);
		g->n++;
	}
	mv_mbox_free(m);
	free(buf);
	unlink(path);
}

static int msg_is(const struct got *g, int i, const void *want, size_t n)
{
	return i < g->n && g->msg[i].len == n &&
	       (n == 0 || memcmp(g->msg[i].data, want, n) == 0);
}

#define S(lit) lit, sizeof lit - 1
#define MSG_IS(g, i, lit) msg_is(g, i, lit, sizeof lit - 1)

static void test_boundaries(void)
{
	struct got g;

	read_all(&g, S("From a@b Thu Nov 26 01:02:03 2026\nSubject: x\n\nbody\n\n"
		       "From c@d Fri Nov 27 01:02:03 2026\nSubject: y\n\nbody2\n\n"),
		 MV_MBOXRD, 8192);
	T_CHECK("basic: two messages", g.rc == MV_OK && g.n == 2);
	T_CHECK("basic: From_ line without 'From ' and EOL",
		g.n == 2 && strcmp(g.from[0], "a@b Thu Nov 26 01:02:03 2026") == 0 &&
			strcmp(g.from[1], "c@d Fri Nov 27 01:02:03 2026") == 0);
	T_CHECK("basic: offsets", g.n == 2 && g.off[0] == 0 && g.off[1] == 52);
	T_CHECK("basic: separator LF dropped", MSG_IS(&g, 0, "Subject: x\n\nbody\n"));
	T_CHECK("basic: last separator dropped", MSG_IS(&g, 1, "Subject: y\n\nbody2\n"));
	got_free(&g);

	read_all(&g, S("From a\nA\nFrom b\nB\n"), MV_MBOXRD, 8192);
	T_CHECK("From_ without a blank line before it still splits",
		g.rc == MV_OK && g.n == 2 && MSG_IS(&g, 0, "A\n") && MSG_IS(&g, 1, "B\n"));
	got_free(&g);

	read_all(&g, S("From a\r\nA\r\n\r\nFrom b\r\nB\r\n"), MV_MBOXRD, 8192);
	T_CHECK("CRLF file: CR stripped from the From_ line",
		g.n == 2 && strcmp(g.from[0], "a") == 0 && strcmp(g.from[1], "b") == 0);
	T_CHECK("CRLF file: an empty CRLF line is message text (as Python)",
		MSG_IS(&g, 0, "A\r\n\r\n") && MSG_IS(&g, 1, "B\r\n"));
	got_free(&g);

	read_all(&g, S("From a\nA\r\n\nFrom b\nB\r\n\n"), MV_MBOXRD, 8192);
	T_CHECK("CRLF messages written by Python come back exact",
		g.n == 2 && MSG_IS(&g, 0, "A\r\n") && MSG_IS(&g, 1, "B\r\n"));
	got_free(&g);

	read_all(&g, S("From a\nx\rFrom y\n\nFrom b\n"), MV_MBOXRD, 8192);
	T_CHECK("bare CR does not end a line",
		g.n == 2 && MSG_IS(&g, 0, "x\rFrom y\n") && MSG_IS(&g, 1, ""));
	got_free(&g);

	read_all(&g, S("From a\nA\0B\xff\xfe\n\n"), MV_MBOXRD, 8192);
	T_CHECK("NUL and 8-bit bytes kept", g.n == 1 && MSG_IS(&g, 0, "A\0B\xff\xfe\n"));
	got_free(&g);

	read_all(&g, S("From a\n\nFrom b\nFrom c\n"), MV_MBOXRD, 8192);
	T_CHECK("empty messages",
		g.rc == MV_OK && g.n == 3 && MSG_IS(&g, 0, "") && MSG_IS(&g, 1, "") &&
			MSG_IS(&g, 2, ""));
	got_free(&g);

	read_all(&g, S("From a\n\n\n\nFrom b\n\n\n"), MV_MBOXRD, 8192);
	T_CHECK("only the last empty line is the separator",
		g.n == 2 && MSG_IS(&g, 0, "\n\n") && MSG_IS(&g, 1, "\n"));
	got_free(&g);

	read_all(&g, S("From a\nbody"), MV_MBOXRD, 8192);
	T_CHECK("no newline at EOF: all bytes kept", g.n == 1 && MSG_IS(&g, 0, "body"));
	got_free(&g);
	read_all(&g, S("From a\nbody\n"), MV_MBOXRD, 8192);
	T_CHECK("one newline at EOF is message text", g.n == 1 && MSG_IS(&g, 0, "body\n"));
	got_free(&g);
	read_all(&g, S("From a\nbody\n\n\n"), MV_MBOXRD, 8192);
	T_CHECK("two empty lines at EOF: one is kept",
		g.n == 1 && MSG_IS(&g, 0, "body\n\n"));
	got_free(&g);

	read_all(&g, S("From a\nA\nFrom b"), MV_MBOXRD, 8192);
	T_CHECK("From_ line at EOF without LF is an empty message",
		g.rc == MV_OK && g.n == 2 && MSG_IS(&g, 0, "A\n") && MSG_IS(&g, 1, "") &&
			strcmp(g.from[1], "b") == 0 && g.off[1] == 9);
	got_free(&g);

	read_all(&g, S("From a\nFrom\nFrom:x\n from y\nfrom z\n"), MV_MBOXRD, 8192);
	T_CHECK("only 'From ' at a line start splits",
		g.n == 1 && MSG_IS(&g, 0, "From\nFrom:x\n from y\nfrom z\n"));
	got_free(&g);

	read_all(&g, "", 0, MV_MBOXRD, 8192);
	T_CHECK("empty file has no messages", g.rc == MV_OK && g.n == 0);
	got_free(&g);
	read_all(&g, S("\n\r\n\n"), MV_MBOXRD, 8192);
	T_CHECK("blank-only file has no messages", g.rc == MV_OK && g.n == 0);
	got_free(&g);
	read_all(&g, S("\n\r\n\nFrom a\nX\n"), MV_MBOXRD, 8192);
	T_CHECK("leading blank lines skipped",
		g.rc == MV_OK && g.n == 1 && g.off[0] == 4 && MSG_IS(&g, 0, "X\n"));
	got_free(&g);

	read_all(&g, S("Subject: x\n\nFrom a\nX\n"), MV_MBOXRD, 8192);
	T_CHECK("file not starting with From_ is MV_E_PARSE at offset 0",
		g.rc == MV_E_PARSE && g.n == 0 && g.e.offset == 0 &&
			strstr(g.e.msg, "offset 0") != NULL);
	got_free(&g);
	read_all(&g, S("\n\nGarbage\nFrom a\n"), MV_MBOXRD, 8192);
	T_CHECK("garbage after blank lines is MV_E_PARSE at its offset",
		g.rc == MV_E_PARSE && g.e.offset == 2);
	got_free(&g);
	read_all(&g, S("\r\nFrom a\n"), MV_MBOXRD, 8192);
	T_CHECK("leading CRLF blank line allowed", g.rc == MV_OK && g.n == 1);
	got_free(&g);
}

static void test_quoting(void)
{
	struct got g;
	static const char in[] = "From a\n>From x\n>>From y\n>Fromage\n> From z\n"
				 "x>From w\n>\n>>\n";

	read_all(&g, S(in), MV_MBOXRD, 8192);
	T_CHECK("mboxrd removes one '>' from ^>+From_",
		g.n == 1 && MSG_IS(&g, 0, "From x\n>From y\n>Fromage\n> From z\n"
					 "x>From w\n>\n>>\n"));
	got_free(&g);
	read_all(&g, S(in), MV_MBOXO, 8192);
	T_CHECK("mboxo leaves quoting alone",
		g.n == 1 && MSG_IS(&g, 0, ">From x\n>>From y\n>Fromage\n> From z\n"
					 "x>From w\n>\n>>\n"));
	got_free(&g);
	read_all(&g, S(in), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2 leaves quoting alone",
		g.n == 1 && MSG_IS(&g, 0, ">From x\n>>From y\n>Fromage\n> From z\n"
					 "x>From w\n>\n>>\n"));
	got_free(&g);

	read_all(&g, S("From a\n>From x"), MV_MBOXRD, 8192);
	T_CHECK("mboxrd unquotes a last line without LF",
		g.n == 1 && MSG_IS(&g, 0, "From x"));
	got_free(&g);
	read_all(&g, S("From a\n>>>From"), MV_MBOXRD, 8192);
	T_CHECK("mboxrd: '>From' at EOF without space is not quoted",
		g.n == 1 && MSG_IS(&g, 0, ">>>From"));
	got_free(&g);
	read_all(&g, S("From a\n\n>From x\n"), MV_MBOXRD, 8192);
	T_CHECK("mboxrd: quoted line after an empty line",
		g.n == 1 && MSG_IS(&g, 0, "\nFrom x\n"));
	got_free(&g);
}

/* A run of '>' longer than the 64 KiB window, then "From " or not. */
static void test_long_lines(void)
{
	size_t run = 200000, i;
	size_t n = 7 + run + 6 + 1 + 6 + 1 + run + 3;
	char *in = malloc(n), *p = in;
	char *want = malloc(n);
	struct got g;
	int ok;

	memcpy(p, "From a\n", 7);
	p += 7;
	memset(p, '>', run);
	p += run;
	memcpy(p, "From \n", 6);
	p += 6;
	*p++ = '\n';
	memcpy(p, "From b", 6);
	p += 6;
	*p++ = '\n';
	memset(p, '>', run);
	p += run;
	memcpy(p, "x\n\n", 3);
	p += 3;
	read_all(&g, in, (size_t)(p - in), MV_MBOXRD, 8192);
	memset(want, '>', run - 1);
	memcpy(want + run - 1, "From \n", 6);
	ok = g.n == 2 && msg_is(&g, 0, want, run - 1 + 6);
	T_CHECK("mboxrd: 200000 '>' then From_ loses exactly one", ok);
	memset(want, '>', run);
	memcpy(want + run, "x\n", 2);
	T_CHECK("mboxrd: 200000 '>' then x is unchanged",
		g.n == 2 && msg_is(&g, 1, want, run + 2));
	got_free(&g);

	/* Lines over 1000 bytes and over the window, "\n\n" at window edges. */
	p = in;
	memcpy(p, "From a\n", 7);
	p += 7;
	for (i = 0; i < 150000; i++)
		*p++ = (char)('a' + i % 26);
	memcpy(p, "\n\n\n", 3);
	p += 3;
	memcpy(p, "From b\nZ", 8);
	p += 8;
	read_all(&g, in, (size_t)(p - in), MV_MBOXRD, 8192);
	T_CHECK("150000-byte line read whole, separator dropped",
		g.n == 2 && msg_is(&g, 0, in + 7, 150000 + 2) && MSG_IS(&g, 1, "Z"));
	got_free(&g);
	free(in);
	free(want);

	/* Many short lines so that empty lines fall on every window offset. */
	{
		struct mv_buf b, w;

		mv_buf_init(&b, 1 << 24);
		mv_buf_init(&w, 1 << 24);
		mv_buf_addstr(&b, "From x\n");
		for (i = 0; i < 60000; i++) {
			const char *line = i % 3 == 0 ? "\n" : i % 3 == 1 ? ">From q\n" : "ab\n";

			mv_buf_addstr(&b, line);
			mv_buf_addstr(&w, i % 3 == 1 ? "From q\n" : line);
		}
		mv_buf_addstr(&b, "\nFrom y\nlast\n");
		read_all(&g, b.data, b.len, MV_MBOXRD, 8192);
		T_CHECK("60000 lines across windows",
			g.n == 2 && msg_is(&g, 0, w.data, w.len) && MSG_IS(&g, 1, "last\n"));
		got_free(&g);
		/* The same with a bigger read size gives the same bytes. */
		read_all(&g, b.data, b.len, MV_MBOXRD, 1 << 20);
		T_CHECK("read size does not change the bytes",
			g.n == 2 && msg_is(&g, 0, w.data, w.len));
		got_free(&g);
		mv_buf_release(&b);
		mv_buf_release(&w);
	}
}

static void test_from_line_limit(void)
{
	char in[4200];
	struct got g;

	memcpy(in, "From ", 5);
	memset(in + 5, 'x', 4091);
	memcpy(in + 4096, "\r\nA\n", 4);
	read_all(&g, in, 4100, MV_MBOXRD, 8192);
	T_CHECK("From_ line of 4096 bytes (plus CRLF) is accepted",
		g.rc == MV_OK && g.n == 1 && strlen(g.from[0]) == 4091 &&
			MSG_IS(&g, 0, "A\n"));
	got_free(&g);
	memset(in + 5, 'x', 4092);
	memcpy(in + 4097, "\nA\n", 3);
	read_all(&g, in, 4100, MV_MBOXRD, 8192);
	T_CHECK("From_ line of 4097 bytes is MV_E_PARSE",
		g.rc == MV_E_PARSE && g.n == 0);
	got_free(&g);
}

static void test_cl2(void)
{
	struct got g;

	read_all(&g, S("From a\nContent-Length: 11\n\nFrom x\nabc\n\n"
		       "From b\nContent-Length: 2\n\nhi"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: Content-Length spans an unquoted From_ line",
		g.rc == MV_OK && g.n == 2 &&
			MSG_IS(&g, 0, "Content-Length: 11\n\nFrom x\nabc\n") &&
			MSG_IS(&g, 1, "Content-Length: 2\n\nhi"));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 5\n\nFrom x\nabc\n\nFrom b\nB\n"),
		 MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: wrong Content-Length falls back to From_ lines",
		g.n == 3 && MSG_IS(&g, 0, "Content-Length: 5\n") &&
			MSG_IS(&g, 1, "abc\n") && MSG_IS(&g, 2, "B\n"));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 500\n\nabc\n"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: Content-Length past EOF falls back",
		g.n == 1 && MSG_IS(&g, 0, "Content-Length: 500\n\nabc\n"));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 3\nContent-Length: 3\n\nabc\n"
		       "From b\n"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: two Content-Length headers fall back",
		g.n == 2 && MSG_IS(&g, 0, "Content-Length: 3\nContent-Length: 3\n\nabc\n"));
	got_free(&g);

	read_all(&g, S("From a\r\ncontent-LENGTH: \t3 \r\n\r\nabc\r\nFrom b\r\n"),
		 MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: CRLF, any case, spaces; CRLF separator dropped",
		g.n == 2 && MSG_IS(&g, 0, "content-LENGTH: \t3 \r\n\r\nabc"));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 3\n\nabcFrom b\n"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: no line end after the body falls back",
		g.n == 1 && MSG_IS(&g, 0, "Content-Length: 3\n\nabcFrom b\n"));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 0\n\n\nFrom b\nContent-Length: x\n\n"
		       "From c\n"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: zero length; malformed value falls back",
		g.n == 3 && MSG_IS(&g, 0, "Content-Length: 0\n\n") &&
			MSG_IS(&g, 1, "Content-Length: x\n") && MSG_IS(&g, 2, ""));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length:\n 3\n\nabc\n"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: folded Content-Length falls back",
		g.n == 1 && MSG_IS(&g, 0, "Content-Length:\n 3\n\nabc\n"));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 99999999999999999999999\n\nx\n"),
		 MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: overflowing Content-Length falls back",
		g.rc == MV_OK && g.n == 1);
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 3\nFrom b\nX\n"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: From_ inside the header block falls back",
		g.n == 2 && MSG_IS(&g, 0, "Content-Length: 3\n") && MSG_IS(&g, 1, "X\n"));
	got_free(&g);

	read_all(&g, S("From a\nContent-Length: 4\n\nab\n\n\nFrom b\n"), MV_MBOXCL2, 8192);
	T_CHECK("mboxcl2: body may end in empty lines",
		g.n == 2 && MSG_IS(&g, 0, "Content-Length: 4\n\nab\n\n"));
	got_free(&g);
}

/* Skipping, rewinding, argument checks. */
static void test_api(void)
{
	static const char in[] = "From a\nfirst message\n\nFrom b\nsecond\n";
	const char *path = put_file(in, sizeof in - 1);
	struct mv_mbox *m = NULL;
	struct mv_error e;
	uint8_t buf[8192];
	int has;
	const char *fl;
	size_t fn, got, got2;
	uint64_t off;
	int pipefd[2];

	mv_error_clear(&e);
	T_CHECK("open", mv_mbox_open(&m, path, MV_MBOXRD, &e) == MV_OK);
	T_CHECK("read before next is MV_E_USAGE",
		mv_mbox_read(m, buf, sizeof buf, &got, &e) == MV_E_USAGE && got == 0);
	mv_error_clear(&e);
	T_CHECK("next 1", mv_mbox_next(m, &has, &fl, &fn, &off, &e) == MV_OK && has);
	T_CHECK("read cap below 8192 is MV_E_USAGE",
		mv_mbox_read(m, buf, 8191, &got, &e) == MV_E_USAGE);
	mv_error_clear(&e);
	T_CHECK("read 1", mv_mbox_read(m, buf, sizeof buf, &got, &e) == MV_OK &&
				  got == 14 && memcmp(buf, "first message\n", 14) == 0);
	T_CHECK("rewind", mv_mbox_rewind(m, &e) == MV_OK);
	T_CHECK("read after rewind gives the same bytes",
		mv_mbox_read(m, buf, sizeof buf, &got2, &e) == MV_OK && got2 == 14 &&
			memcmp(buf, "first message\n", 14) == 0);
	T_CHECK("end of message", mv_mbox_read(m, buf, sizeof buf, &got, &e) == MV_OK &&
					  got == 0);
	T_CHECK("next 2", mv_mbox_next(m, &has, &fl, &fn, &off, &e) == MV_OK && has &&
				  fn == 1 && fl[0] == 'b' && off == 22);
	T_CHECK("no more", mv_mbox_next(m, &has, &fl, &fn, &off, &e) == MV_OK && !has);
	T_CHECK("still no more", mv_mbox_next(m, &has, &fl, &fn, &off, &e) == MV_OK &&
					 !has);
	mv_mbox_free(m);

	/* next() without reading skips the message. */
	T_CHECK("open again", mv_mbox_open(&m, path, MV_MBOXRD, &e) == MV_OK);
	mv_mbox_next(m, &has, &fl, &fn, &off, &e);
	T_CHECK("skip unread message",
		mv_mbox_next(m, &has, &fl, &fn, &off, &e) == MV_OK && has && off == 22);
	T_CHECK("read second after skip",
		mv_mbox_read(m, buf, sizeof buf, &got, &e) == MV_OK && got == 7 &&
			memcmp(buf, "second\n", 7) == 0);
	mv_mbox_free(m);
	unlink(path);

	mv_error_clear(&e);
	T_CHECK("open missing file is MV_E_IO",
		mv_mbox_open(&m, "/nonexistent/x.mbox", MV_MBOXRD, &e) == MV_E_IO &&
			m == NULL && strstr(e.msg, "'/nonexistent/x.mbox'") != NULL);
	mv_error_clear(&e);
	if (pipe(pipefd) == 0) {
		T_CHECK("a pipe is refused",
			mv_mbox_open_fd(&m, pipefd[0], "pipe", MV_MBOXRD, &e) == MV_E_IO &&
				m == NULL);
		close(pipefd[0]);
		close(pipefd[1]);
	}
	mv_mbox_free(NULL);

	{
		enum mv_mbox_format f;

		T_CHECK("format names",
			mv_mbox_format_parse("mboxrd", &f) == 0 && f == MV_MBOXRD &&
				mv_mbox_format_parse("mboxo", &f) == 0 && f == MV_MBOXO &&
				mv_mbox_format_parse("mboxcl2", &f) == 0 && f == MV_MBOXCL2 &&
				mv_mbox_format_parse("mboxcl", &f) == -1 &&
				mv_mbox_format_parse("MBOXRD", &f) == -1);
	}
}

static int date_is(const char *s, int64_t want)
{
	int64_t t = -1;

	return mv_mbox_from_date(s, strlen(s), &t) == 0 && t == want;
}

static int date_bad(const char *s)
{
	int64_t t;

	return mv_mbox_from_date(s, strlen(s), &t) == -1;
}

static void test_dates(void)
{
	/* 2026-11-26 01:02:03 UTC */
	const int64_t T = 1795654923;

	T_CHECK("date: asctime", date_is("a@b Thu Nov 26 01:02:03 2026", T));
	T_CHECK("date: padded day", date_is("MAILER-DAEMON Fri Nov  6 01:02:03 2026",
					    T - 20 * 86400));
	T_CHECK("date: zone after year", date_is("a Thu Nov 26 01:02:03 2026 +0100",
						 T - 3600));
	T_CHECK("date: zone before year", date_is("a Thu Nov 26 01:02:03 -0130 2026",
						  T + 5400));
	T_CHECK("date: letter zone is ignored", date_is("a Thu Nov 26 01:02:03 PST 2026", T));
	T_CHECK("date: no seconds", date_is("a Thu Nov 26 01:02 2026", T - 3));
	T_CHECK("date: remote from", date_is("a Thu Nov 26 01:02:03 2026 remote from x", T));
	T_CHECK("date: no sender", date_is("Thu Nov 26 01:02:03 2026", T));
	T_CHECK("date: empty sender", date_is(" Thu Nov 26 01:02:03 2026", T));
	T_CHECK("date: sender with spaces",
		date_is("\"a b\"@c Thu Nov 26 01:02:03 2026", T));
	T_CHECK("date: bad: none", date_bad("a@b"));
	T_CHECK("date: bad: Nov 31", date_bad("a Thu Nov 31 01:02:03 2026"));
	T_CHECK("date: bad: hour 25", date_bad("a Thu Nov 26 25:02:03 2026"));
	T_CHECK("date: bad: 2-digit year", date_bad("a Thu Nov 26 01:02:03 26"));
	T_CHECK("date: bad: RFC 5322 form", date_bad("a Thu, 26 Nov 2026 01:02:03 +0000"));
	T_CHECK("date: bad: truncated", date_bad("a Thu Nov 26 01:02:"));
	T_CHECK("date: malformed trailing zone is ignored",
		date_is("a Thu Nov 26 01:02:03 2026 +0161", T));
}

static int kw_are(const char *hdr, size_t n, uint32_t want_flags,
		  const char *const *want, size_t nwant)
{
	uint32_t flags = 0xffff;
	char **kw = NULL;
	size_t nkw = 99;
	int ok;

	mv_mail_header_flags((const uint8_t *)hdr, n, &flags, &kw, &nkw);
	ok = flags == want_flags && nkw == nwant;
	for (size_t i = 0; ok && i < nkw; i++)
		ok = strcmp(kw[i], want[i]) == 0;
	for (size_t i = 0; i < nkw; i++)
		free(kw[i]);
	free(kw);
	return ok;
}

#define KW(lit, fl, ...) \
	kw_are(lit, sizeof lit - 1, fl, (const char *const[]){ __VA_ARGS__ }, \
	       sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define NOKW(lit, fl) kw_are(lit, sizeof lit - 1, fl, NULL, 0)

static void test_flags(void)
{
	char big[40000];
	size_t n;
	uint32_t flags;
	char **kw;
	size_t nkw;

	T_CHECK("flags: Status, X-Status, X-Keywords",
		KW("Status: RO\nX-Status: AF\nX-Keywords: $Label1, Work junk\n\nStatus: D\n",
		   MV_FLAG_SEEN | MV_FLAG_ANSWERED | MV_FLAG_FLAGGED, "$Label1", "Work",
		   "junk"));
	T_CHECK("flags: names ignore case", NOKW("STATUS: R\nx-status: DT\n",
					     MV_FLAG_SEEN | MV_FLAG_DELETED | MV_FLAG_DRAFT));
	T_CHECK("flags: folded keywords",
		KW("X-Keywords: a,\n b\tc\r\n\td\nSubject: e\n", 0, "a", "b", "c", "d"));
	T_CHECK("flags: folded Status", NOKW("Status:\n R\n", MV_FLAG_SEEN));
	T_CHECK("flags: stop at the empty line", NOKW("Subject: x\n\nStatus: R\n", 0));
	T_CHECK("flags: stop at an empty CRLF line",
		NOKW("Subject: x\r\n\r\nStatus: R\r\n", 0));
	T_CHECK("flags: non-atoms dropped",
		KW("X-Keywords: ok (paren) qu\"ote per%cent st*ar back\\slash br]acket "
		   "\\Seen 8bit\xc3\xa9 ctl\x01x cu{rly good\n", 0, "ok", "good"));
	T_CHECK("flags: duplicates ignoring case dropped",
		KW("X-Keywords: Work work\nX-Keywords: WORK Home\n", 0, "Work", "Home"));
	T_CHECK("flags: unknown letters ignored",
		NOKW("Status: RXYZ\nX-Status: QAz\n", MV_FLAG_SEEN | MV_FLAG_ANSWERED));
	T_CHECK("flags: space before colon", KW("X-Keywords : k\n", 0, "k"));
	T_CHECK("flags: similar names are other headers",
		NOKW("X-Status-Foo: A\nXStatus: F\nStatusx: R\nno colon R\n", 0));
	T_CHECK("flags: NUL in value", KW("X-Keywords: a\0b c\nStatus: R\n",
					  MV_FLAG_SEEN, "c"));
	T_CHECK("flags: leading continuation line ignored", NOKW(" Status: R\n", 0));
	T_CHECK("flags: header without final LF", NOKW("Status: R", MV_FLAG_SEEN));
	T_CHECK("flags: empty input", NOKW("", 0));

	/* 40 keywords are all kept; 300 stop at MV_MAX_KEYWORDS. */
	n = (size_t)snprintf(big, sizeof big, "X-Keywords:");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, " kw%d", i);
	big[n++] = '\n';
	mv_mail_header_flags((uint8_t *)big, n, &flags, &kw, &nkw);
	T_CHECK("flags: 40 keywords", nkw == 40 && strcmp(kw[0], "kw0") == 0 &&
					      strcmp(kw[39], "kw39") == 0);
	for (size_t i = 0; i < nkw; i++)
		free(kw[i]);
	free(kw);
	n = (size_t)snprintf(big, sizeof big, "X-Keywords:");
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, ",k%d", i);
	mv_mail_header_flags((uint8_t *)big, n, &flags, &kw, &nkw);
	T_CHECK("flags: keyword count capped", nkw == MV_MAX_KEYWORDS &&
						       strcmp(kw[255], "k255") == 0);
	for (size_t i = 0; i < nkw; i++)
		free(kw[i]);
	free(kw);

	/* A 255-byte keyword is kept, a 256-byte one dropped. */
	memcpy(big, "X-Keywords: ", 12);
	memset(big + 12, 'k', 255);
	big[267] = ' ';
	memset(big + 268, 'm', 256);
	mv_mail_header_flags((uint8_t *)big, 268 + 256, &flags, &kw, &nkw);
	T_CHECK("flags: keyword length cap", nkw == 1 && strlen(kw[0]) == 255);
	for (size_t i = 0; i < nkw; i++)
		free(kw[i]);
	free(kw);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_mbox.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_boundaries();
	test_quoting();
	test_long_lines();
	test_from_line_limit();
	test_cl2();
	test_api();
	test_dates();
	test_flags();
	rmdir(dir);
	return T_DONE();
}
