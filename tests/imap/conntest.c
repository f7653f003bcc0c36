/*
 * conntest.c - drives the transport (src/transport.h) against a real
 * server for tests/imap/t-transport.sh.
 *
 *   conntest [options] URL
 *     --user USER             instead of the URL's USER@
 *     --password-file FILE    the password is FILE's first line
 *     --token-file FILE       an OAuth2 bearer token, FILE's first line
 *     --cacert FILE           PEM bundle instead of the system store
 *     --pin sha256//BASE64    the server key's pin
 *     --insecure-plaintext    imap:// may run without TLS
 *     --timeout SECS
 *     --pause-file FILE       after CAPABILITY print "PAUSED", wait for
 *                             FILE to exist, then read once more (the
 *                             server is expected to have died meanwhile)
 *     --pause-write           with --pause-file: after the pause, write
 *                             (NOOPs) instead of reading, until it fails
 *     --no-logout             close without sending LOGOUT
 *     --read-eof              after LOGOUT, read on until the server
 *                             closes ("EOF: clean" on stdout)
 *     --idle-read             after CAPABILITY, read once more although
 *                             nothing was asked: the read must time out
 *   conntest --parse-url URL  prints what mv_url_parse() makes of URL
 *
 * Secrets never come through argv.  It connects, sends "a1 CAPABILITY"
 * and "a2 LOGOUT", and prints the TLS facts ("tls.FIELD=VALUE"; when the
 * open fails, what mv_conn_opts.seen got, as "seen.FIELD=VALUE") and every
 * server line ("S: LINE").  The exit status is the error's class
 * (mv_err_class(): 0 ok, 1 usage, 7 auth, 8 TLS, 9 network...), and the
 * error goes to stderr as "conntest: NAME: MESSAGE".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "transport.h"

#define SECRET_MAX 4096

static enum mv_err read_secret(const char *path, char **out, struct mv_error *e)
{
	FILE *f = NULL;
	char *s = NULL;
	size_t n;
	enum mv_err rc = MV_OK;

	*out = NULL;
	s = mv_secure_alloc(SECRET_MAX);
	if (!s)
		return mv_fail(e, MV_E_NOMEM, "out of secure memory");
	f = fopen(path, "r");
	if (!f) {
		rc = mv_fail(e, MV_E_USAGE, "cannot open '%s'", path);
		goto out;
	}
	n = fread(s, 1, SECRET_MAX - 1, f);
	s[n] = '\0';
	s[strcspn(s, "\r\n")] = '\0';
	*out = s;
	s = NULL;
out:
	if (f)
		fclose(f);
	mv_secure_free(s);
	return rc;
}

static void print_tls(const char *p, const struct mv_tls_info *t)
{
	printf("%s.tls=%d\n", p, t->tls);
	printf("%s.version=%s\n", p, t->version);
	printf("%s.cipher=%s\n", p, t->cipher);
	printf("%s.verified=%d\n", p, t->verified);
	printf("%s.verify_result=%s\n", p, t->verify_result);
	printf("%s.cert_sha256=%s\n", p, t->cert_sha256);
	printf("%s.pin=%s\n", p, t->pin);
}

/* A small line reader over mv_conn_read(), enough for untagged lines and
 * one tagged completion (no literals). */
struct lines {
	struct mv_conn *c;
	char buf[65536];
	size_t len;
};

/* Prints server lines until the one tagged `tag`; MV_E_NET when the
 * connection ends first. */
static enum mv_err until_tagged(struct lines *l, const char *tag, struct mv_error *e)
{
	size_t tl = strlen(tag), got;
	char *nl;
	enum mv_err rc;

	for (;;) {
		while ((nl = memchr(l->buf, '\n', l->len))) {
			size_t n = (size_t)(nl - l->buf) + 1;
			int done = n > tl && memcmp(l->buf, tag, tl) == 0 && l->buf[tl] == ' ';

			printf("S: %.*s\n", (int)(n - (n >= 2 && nl[-1] == '\r' ? 2 : 1)), l->buf);
			memmove(l->buf, l->buf + n, l->len - n);
			l->len -= n;
			if (done)
				return MV_OK;
		}
		if (l->len == sizeof l->buf)
			return mv_fail(e, MV_E_PARSE, "line too long");
		rc = mv_conn_read(l->c, (uint8_t *)l->buf + l->len, sizeof l->buf - l->len, &got, e);
		if (rc)
			return rc;
		if (!got)
			return mv_fail(e, MV_E_NET, "the server closed the connection "
				       "before '%s' completed (read returned 0)", tag);
		l->len += got;
	}
}

static enum mv_err command(struct lines *l, const char *tag, const char *cmd,
			   struct mv_error *e)
{
	char line[256];
	enum mv_err rc;

	snprintf(line, sizeof line, "%s %s\r\n", tag, cmd);
	printf("C: %s %s\n", tag, cmd);
	if ((rc = mv_conn_write(l->c, line, strlen(line), e)))
		return rc;
	return until_tagged(l, tag, e);
}

static int wait_for_file(const char *path)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int i;

	for (i = 0; i < 1200; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: conntest [--user U] [--password-file F | --token-file F] "
		"[--cacert F] [--pin P] [--insecure-plaintext] [--timeout S] "
		"[--pause-file F [--pause-write]] [--no-logout] [--idle-read] [--read-eof] URL\n"
		"       conntest --parse-url URL\n");
	return MV_CLASS_USAGE;
}

int main(int argc, char **argv)
{
	struct mv_conn_opts o;
	struct mv_tls_info seen;
	struct mv_error e;
	struct lines *l = NULL;
	struct mv_conn *c = NULL;
	const char *pwfile = NULL, *tokfile = NULL, *pause = NULL, *url = NULL;
	char *password = NULL, *token = NULL;
	int parse_only = 0, no_logout = 0, idle_read = 0, read_eof = 0, pause_write = 0;
	int inited = 0, i;
	enum mv_err rc;
	size_t got;

	memset(&o, 0, sizeof o);
	mv_error_clear(&e);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--parse-url"))
			parse_only = 1;
		else if (!strcmp(a, "--insecure-plaintext"))
			o.insecure_plaintext = 1;
		else if (!strcmp(a, "--no-logout"))
			no_logout = 1;
		else if (!strcmp(a, "--idle-read"))
			idle_read = 1;
		else if (!strcmp(a, "--read-eof"))
			read_eof = 1;
		else if (!strcmp(a, "--pause-write"))
			pause_write = 1;
		else if (a[0] == '-' && a[1] == '-' && !v)
			return usage();
		else if (!strcmp(a, "--user"))
			o.user = argv[++i];
		else if (!strcmp(a, "--password-file"))
			pwfile = argv[++i];
		else if (!strcmp(a, "--token-file"))
			tokfile = argv[++i];
		else if (!strcmp(a, "--cacert"))
			o.cacert = argv[++i];
		else if (!strcmp(a, "--pin"))
			o.pin = argv[++i];
		else if (!strcmp(a, "--timeout"))
			o.timeout_secs = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--pause-file"))
			pause = argv[++i];
		else if (a[0] == '-' || url)
			return usage();
		else
			url = a;
	}
	if (!url)
		return usage();

	if ((rc = mv_url_parse(url, &o.url, &e)))
		goto out;
	if (parse_only) {
		printf("url.implicit_tls=%d\nurl.host=%s\nurl.port=%u\nurl.user=%s\n",
		       o.url.implicit_tls, o.url.host, o.url.port, o.url.user);
		goto out;
	}
	if ((rc = mv_crypto_init(&e)) || (rc = mv_transport_init(&e)))
		goto out;
	inited = 1;
	if (pwfile && (rc = read_secret(pwfile, &password, &e)))
		goto out;
	if (tokfile && (rc = read_secret(tokfile, &token, &e)))
		goto out;
	o.password = password;
	o.oauth2_token = token;
	o.seen = &seen;

	rc = mv_conn_open(&c, &o, &e);
	if (rc) {
		/* What a first connection would show the user. */
		print_tls("seen", &seen);
		goto out;
	}
	if (memcmp(&seen, mv_conn_tls(c), sizeof seen) != 0) {
		rc = mv_fail(&e, MV_E_INTERNAL, "opts.seen differs from mv_conn_tls()");
		goto out;
	}
	print_tls("tls", mv_conn_tls(c));
	fflush(stdout);
	l = calloc(1, sizeof *l);
	if (!l) {
		rc = mv_fail(&e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	l->c = c;
	if ((rc = command(l, "a1", "CAPABILITY", &e)))
		goto out;
	if (idle_read) {
		rc = mv_conn_read(c, (uint8_t *)l->buf, sizeof l->buf, &got, &e);
		if (!rc)
			rc = mv_fail(&e, MV_E_INTERNAL, "an idle read returned %zu bytes", got);
		goto out;
	}
	if (pause) {
		printf("PAUSED\n");
		fflush(stdout);
		if (wait_for_file(pause) < 0) {
			rc = mv_fail(&e, MV_E_USAGE, "'%s' never appeared", pause);
			goto out;
		}
		if (pause_write) {
			/* The first writes may still fit the kernel's buffer;
			 * once the peer's reset is back they must fail, and
			 * without a SIGPIPE killing the process. */
			struct timespec ts = { 0, 20 * 1000 * 1000 };

			for (i = 0; i < 250 && !rc; i++) {
				rc = mv_conn_write(c, "a3 NOOP\r\n", 9, &e);
				nanosleep(&ts, NULL);
			}
			if (!rc)
				rc = mv_fail(&e, MV_E_INTERNAL, "250 writes to a dead server passed");
			goto out;
		}
		/* The server is gone now: one more read must say so. */
		rc = mv_conn_read(c, (uint8_t *)l->buf, sizeof l->buf, &got, &e);
		if (!rc)
			rc = mv_fail(&e, MV_E_NET, "read after the pause returned %zu bytes",
				     got);
		goto out;
	}
	if (!no_logout && (rc = command(l, "a2", "LOGOUT", &e)))
		goto out;
	while (read_eof) {
		if ((rc = mv_conn_read(c, (uint8_t *)l->buf, sizeof l->buf, &got, &e)))
			goto out;
		if (!got) {
			printf("EOF: clean\n");
			break;
		}
		printf("after LOGOUT: %zu bytes\n", got);
	}
out:
	fflush(stdout);
	if (rc)
		fprintf(stderr, "conntest: %s: %s\n", mv_err_name(rc), e.msg);
	mv_conn_close(c);
	free(l);
	mv_secure_free(password);
	mv_secure_free(token);
	if (inited)
		mv_transport_done();
	return (int)mv_err_class(rc);
}
