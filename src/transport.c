/*
 * transport.c - one authenticated IMAP connection over TLS; see transport.h.
 *
 * libcurl does the hard parts (connect, TLS with OpenSSL, STARTTLS,
 * certificate and pin checks, SASL) under CURLOPT_CONNECT_ONLY and then
 * hands us the connection for curl_easy_send() / curl_easy_recv().
 *
 * What libcurl 7.88 does not give us, and how we get it:
 *  - The TLS session is out of reach once curl_easy_perform() returns:
 *    with CONNECT_ONLY the easy handle is detached from its connection,
 *    and CURLINFO_TLS_SSL_PTR then yields no SSL pointer.  The
 *    CURLOPT_PREREQFUNCTION callback runs after the login and before
 *    that detachment, so the session facts are read there.
 *  - When the handshake fails (an unknown CA on the first connection)
 *    the SSL object is gone before perform returns, yet the user needs
 *    the server's key pin to pin it.  A certificate verification
 *    callback, installed through CURLOPT_SSL_CTX_FUNCTION, sees the leaf
 *    certificate and the first chain error during the handshake.
 *  - curl_easy_recv() reports a TCP end without TLS close_notify (a
 *    killed server, a cut line, a truncation) as a clean end of data.
 *    The SSL object, kept from the prereq callback, tells the two apart.
 *  - libcurl sends no LOGOUT when the handle is cleaned up (checked
 *    against Dovecot's log), so closing sends nothing, as promised.
 *  - Without a user name libcurl silently skips the login; a bearer
 *    token without login options would fall back to PLAIN with an empty
 *    password when the server offers no OAuth mechanism.  Both are
 *    refused or prevented here.
 *  - libcurl copies the password into several heap blocks (options,
 *    connection, the SASL message and the command line it sends) and
 *    frees them without wiping.  Its allocator is replaced
 *    (curl_global_init_mem) by one that wipes every block it frees.
 *
 * Never enabled: CURLOPT_VERBOSE (its log holds the AUTHENTICATE line)
 * and OpenSSL's read-ahead (SSL data buffered past what curl_easy_recv
 * returned would be invisible to poll() on the socket).
 */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "crypto.h"
#include "sha256.h"

#define PIN_PREFIX "sha256//"
#define DEFAULT_TIMEOUT_SECS 60u
#define MAX_TIMEOUT_SECS 86400u

struct mv_conn {
	CURL *curl;
	curl_socket_t sock;
	long timeout_ms;
	enum mv_err failed;          /* set once a read or write failed */
	char where[300];             /* "imaps://host:port" for messages */
	struct mv_tls_info tls;
	/* From the verification callback, for a handshake that fails:
	 * version, cipher, leaf hash and pin (verify_result is set last). */
	struct mv_tls_info hs;
	int saw_leaf;
	int chain_err;               /* first X509_V_ERR_*, X509_V_OK if none */
	long session_verify;         /* SSL_get_verify_result() after login */
	/*
	 * libcurl's SSL object, kept from the prereq callback.  It lives as
	 * long as the connection, which stays in the easy handle's cache
	 * until curl_easy_cleanup(); only its shutdown state is read, to
	 * tell a close_notify from a cut connection.
	 */
	const SSL *ssl;
	char errbuf[CURL_ERROR_SIZE];
	/* Bulk reads in a row, and whether SO_RCVLOWAT is raised (see
	 * wait_readable). */
	unsigned bulk;
	int lowat;
};

/* The SSL_CTX ex_data slot holding the struct mv_conn of a handshake. */
static int ctx_slot = -1;

/* ---- libcurl's memory, wiped on free ----------------------------------- */

/*
 * glibc's malloc_usable_size() tells how much to wipe (under ASan it is
 * exactly the size asked for).  realloc() cannot be left to libc: it
 * would free the old block unwiped, so it is malloc + copy + wipe + free.
 */
static void wiping_free(void *p)
{
	if (!p)
		return;
	mv_wipe(p, malloc_usable_size(p));
	free(p);
}

static void *wiping_malloc(size_t n)
{
	return malloc(n);
}

static void *wiping_calloc(size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

static void *wiping_realloc(void *p, size_t n)
{
	void *q;
	size_t old;

	if (!p)
		return malloc(n);
	old = malloc_usable_size(p);
	q = malloc(n ? n : 1);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	wiping_free(p);
	return q;
}

static char *wiping_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* ---- Addresses ------------------------------------------------------- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

/* Percent-decodes [p, end) into out (cap bytes with the NUL). */
static enum mv_err decode_user(const char *p, const char *end, char *out,
			       size_t cap, struct mv_error *e)
{
	size_t n = 0;
	int hi, lo;
	unsigned char ch;

	while (p < end) {
		if (*p == ':')
			/* The password is not echoed: nothing after the
			 * scheme goes into this message. */
			return mv_fail(e, MV_E_USAGE, "a password in the URL is refused; "
				       "give it in a file");
		if (*p == '%') {
			if (end - p < 3 || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
				return mv_fail(e, MV_E_USAGE, "bad percent-escape in the URL's user name");
			ch = (unsigned char)(hi << 4 | lo);
			p += 3;
		} else {
			ch = (unsigned char)*p++;
		}
		if (is_ctl(ch))
			return mv_fail(e, MV_E_USAGE, "control character in the URL's user name");
		if (n + 1 >= cap)
			return mv_fail(e, MV_E_USAGE, "the URL's user name is too long");
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	return MV_OK;
}

static int host_char(char ch, int v6)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.')
		return 1;
	return !v6 && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		       ch == '-' || ch == '_');
}

enum mv_err mv_url_parse(const char *s, struct mv_url *u, struct mv_error *e)
{
	const char *p, *end, *at, *h, *hend, *q;
	unsigned long port = 0;
	int v6 = 0;
	enum mv_err rc;

	memset(u, 0, sizeof *u);
	if (!s)
		return mv_fail(e, MV_E_USAGE, "no IMAP URL");
	if (strncasecmp(s, "imaps://", 8) == 0) {
		u->implicit_tls = 1;
		u->port = 993;
		p = s + 8;
	} else if (strncasecmp(s, "imap://", 7) == 0) {
		u->port = 143;
		p = s + 7;
	} else {
		/* Not quoted: it may be a URL of another kind with a
		 * password in it. */
		return mv_fail(e, MV_E_USAGE, "not an IMAP URL (imaps://[USER@]HOST[:PORT] "
			       "or imap://...)");
	}
	end = p + strcspn(p, "/?#");
	if (*end && !(end[0] == '/' && end[1] == '\0'))
		return mv_fail(e, MV_E_USAGE, "an IMAP URL names a server only: no path, "
			       "query or fragment after HOST[:PORT]");
	at = NULL;
	for (q = p; q < end; q++)
		if (*q == '@')
			at = q;   /* the last one: "user@example.org@host" */
	if (at) {
		if ((rc = decode_user(p, at, u->user, sizeof u->user, e)))
			return rc;
		if (!u->user[0])
			return mv_fail(e, MV_E_USAGE, "empty user name before '@' in the URL");
	}
	h = at ? at + 1 : p;
	if (*h == '[') {
		v6 = 1;
		h++;
		hend = memchr(h, ']', (size_t)(end - h));
		if (!hend)
			return mv_fail(e, MV_E_USAGE, "unclosed '[' in the URL's host");
		q = hend + 1;
	} else {
		hend = memchr(h, ':', (size_t)(end - h));
		if (!hend)
			hend = end;
		q = hend;
	}
	if (hend == h)
		return mv_fail(e, MV_E_USAGE, "no host in the URL");
	if ((size_t)(hend - h) >= sizeof u->host)
		return mv_fail(e, MV_E_USAGE, "the URL's host name is too long");
	for (p = h; p < hend; p++)
		if (!host_char(*p, v6))
			return mv_fail(e, MV_E_USAGE, "bad character '%c' in the URL's host",
				       is_ctl((unsigned char)*p) || (unsigned char)*p >= 0x80 ? '?' : *p);
	if (v6 && !memchr(h, ':', (size_t)(hend - h)))
		return mv_fail(e, MV_E_USAGE, "'[...]' in the URL's host is not an IPv6 address");
	memcpy(u->host, h, (size_t)(hend - h));
	u->host[hend - h] = '\0';
	if (q < end) {
		if (*q != ':' || q + 1 == end || end - q > 6)
			return mv_fail(e, MV_E_USAGE, "bad port in the URL of '%s'", u->host);
		for (p = q + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return mv_fail(e, MV_E_USAGE, "bad port in the URL of '%s'", u->host);
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port < 1 || port > 65535)
			return mv_fail(e, MV_E_USAGE, "port %lu out of range in the URL of '%s'",
				       port, u->host);
		u->port = (unsigned)port;
	}
	return MV_OK;
}

/* "imaps://host:port" (IPv6 in brackets) into out. */
static void url_text(const struct mv_url *u, char *out, size_t cap)
{
	int v6 = strchr(u->host, ':') != NULL;

	snprintf(out, cap, "%s://%s%s%s:%u", u->implicit_tls ? "imaps" : "imap",
		 v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
}

/* ---- TLS facts ------------------------------------------------------- */

/* Hex SHA-256 of the certificate's DER and the pin of its SPKI, computed
 * exactly as libcurl does for CURLOPT_PINNEDPUBLICKEY. */
static int describe_cert(X509 *x, char sha_hex[65], char pin[60])
{
	unsigned char *der = NULL;
	uint8_t h[MV_SHA256_LEN];
	int n, ok = 0;

	n = i2d_X509(x, &der);
	if (n <= 0)
		goto out;
	mv_sha256(h, der, (size_t)n);
	mv_hex(sha_hex, h, sizeof h);
	OPENSSL_free(der);
	der = NULL;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (n <= 0)
		goto out;
	mv_sha256(h, der, (size_t)n);
	memcpy(pin, PIN_PREFIX, sizeof PIN_PREFIX);
	mv_b64_encode(pin + sizeof PIN_PREFIX - 1, 60 - (sizeof PIN_PREFIX - 1), h, sizeof h);
	ok = 1;
out:
	OPENSSL_free(der);
	/* Our calls must not leave errors for libcurl to find and blame on
	 * its next SSL_read. */
	ERR_clear_error();
	return ok;
}

/*
 * OpenSSL calls this for each certificate of the chain and each problem;
 * the answer is OpenSSL's own (ok), so verification is unchanged.
 */
static int verify_cb(int ok, X509_STORE_CTX *st)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct mv_conn *c = NULL;
	const SSL_CIPHER *ciph;
	X509 *leaf;

	if (ssl)
		c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_slot);
	if (!c)
		return ok;
	leaf = X509_STORE_CTX_get0_cert(st);
	if (leaf && !c->saw_leaf) {
		/* The ServerHello came before the certificate: the version
		 * and cipher are already chosen. */
		c->hs.tls = 1;
		snprintf(c->hs.version, sizeof c->hs.version, "%s", SSL_get_version(ssl));
		ciph = SSL_get_current_cipher(ssl);
		snprintf(c->hs.cipher, sizeof c->hs.cipher, "%s",
			 ciph ? SSL_CIPHER_get_name(ciph) : "");
		c->saw_leaf = describe_cert(leaf, c->hs.cert_sha256, c->hs.pin);
	}
	if (!ok && c->chain_err == X509_V_OK)
		c->chain_err = X509_STORE_CTX_get_error(st);
	return ok;
}

/* CURLOPT_SSL_CTX_FUNCTION: runs before the SSL object is made from ctx,
 * for implicit TLS and for STARTTLS alike. */
static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *arg)
{
	SSL_CTX *ctx = sslctx;

	(void)curl;
	if (!SSL_CTX_set_ex_data(ctx, ctx_slot, arg))
		return CURLE_OUT_OF_MEMORY;
	/* Keep libcurl's mode (peer verification on, or off for a pin
	 * alone); only the callback is ours. */
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_cb);
	return CURLE_OK;
}

/*
 * CURLOPT_PREREQFUNCTION: with CONNECT_ONLY it runs once the connection
 * is up and logged in, while the easy handle still holds it; the only
 * moment CURLINFO_TLS_SSL_PTR can give the session.
 */
static int prereq_cb(void *arg, char *primary_ip, char *local_ip, int primary_port,
		     int local_port)
{
	struct mv_conn *c = arg;
	struct curl_tlssessioninfo *tsi = NULL;
	const SSL_CIPHER *ciph;
	SSL *ssl;
	X509 *peer;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (curl_easy_getinfo(c->curl, CURLINFO_TLS_SSL_PTR, &tsi) != CURLE_OK || !tsi ||
	    tsi->backend != CURLSSLBACKEND_OPENSSL || !tsi->internals)
		return CURL_PREREQFUNC_OK;   /* plaintext (insecure_plaintext) */
	ssl = tsi->internals;
	c->ssl = ssl;
	c->tls.tls = 1;
	snprintf(c->tls.version, sizeof c->tls.version, "%s", SSL_get_version(ssl));
	ciph = SSL_get_current_cipher(ssl);
	snprintf(c->tls.cipher, sizeof c->tls.cipher, "%s",
		 ciph ? SSL_CIPHER_get_name(ciph) : "");
	c->session_verify = SSL_get_verify_result(ssl);
	snprintf(c->tls.verify_result, sizeof c->tls.verify_result, "%s",
		 X509_verify_cert_error_string(c->session_verify));
	peer = SSL_get0_peer_certificate(ssl);
	if (peer)
		describe_cert(peer, c->tls.cert_sha256, c->tls.pin);
	return CURL_PREREQFUNC_OK;
}

/* ---- Errors ---------------------------------------------------------- */

static enum mv_err curl_class(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return MV_OK;
	case CURLE_LOGIN_DENIED:
	case CURLE_AUTH_ERROR:
		return MV_E_AUTH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
		return MV_E_TLS;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_PARTIAL_FILE:
	case CURLE_PROXY:
		return MV_E_NET;
	case CURLE_OUT_OF_MEMORY:
		return MV_E_NOMEM;
	default:
		return MV_E_INTERNAL;
	}
}

static int holds(const char *hay, const char *needle)
{
	return needle && needle[0] && strstr(hay, needle) != NULL;
}

/* libcurl's own words for the failure, unless they hold a secret (they
 * should not: this is a second line of defence). */
static const char *curl_words(struct mv_conn *c, CURLcode cc, const struct mv_conn_opts *o)
{
	c->errbuf[sizeof c->errbuf - 1] = '\0';
	if (!c->errbuf[0] || (o && (holds(c->errbuf, o->password) ||
				    holds(c->errbuf, o->oauth2_token)))) {
		mv_wipe(c->errbuf, sizeof c->errbuf);
		return curl_easy_strerror(cc);
	}
	return c->errbuf;
}

/* The failure of curl_easy_perform() as an mv_error. */
static enum mv_err open_failure(struct mv_conn *c, CURLcode cc, const struct mv_conn_opts *o,
				const char *user, struct mv_error *e)
{
	enum mv_err code = curl_class(cc);
	const char *why = curl_words(c, cc, o);
	char key[80] = "";

	if (code == MV_E_TLS && c->saw_leaf)
		snprintf(key, sizeof key, " (server key %s)", c->hs.pin);
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (c->chain_err != X509_V_OK)
			return mv_fail(e, code, "%s: certificate verify failed: %s%s", c->where,
				       X509_verify_cert_error_string(c->chain_err), key);
		break;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return mv_fail(e, code, "%s: the server's key %s does not match the pin %s",
			       c->where, c->saw_leaf ? c->hs.pin : "(unseen)", o->pin);
	case CURLE_USE_SSL_FAILED:
		return mv_fail(e, code, "%s: the server offers no STARTTLS; refusing to log in "
			       "without TLS", c->where);
	case CURLE_LOGIN_DENIED:
		return mv_fail(e, code, "%s: login as '%s' refused%s: %s", c->where, user,
			       o->oauth2_token ? " (bad token, or the server offers neither "
			       "OAUTHBEARER nor XOAUTH2)" : "", why);
	default:
		break;
	}
	return mv_fail(e, code, "%s: %s%s", c->where, why, key);
}

/* ---- Connections ----------------------------------------------------- */

static int has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static enum mv_err check_opts(const struct mv_conn_opts *o, const char *user,
			      struct mv_error *e)
{
	uint8_t raw[64];
	size_t n;
	const char *p;

	if (!user[0])
		/* libcurl would connect and silently skip the login. */
		return mv_fail(e, MV_E_USAGE, "no user name (give imaps://USER@HOST or a user)");
	for (p = user; *p; p++)
		if (is_ctl((unsigned char)*p))
			return mv_fail(e, MV_E_USAGE, "control character in the user name");
	if (o->password && o->oauth2_token)
		return mv_fail(e, MV_E_USAGE, "both a password and an OAuth2 token given");
	if (!o->password && !o->oauth2_token)
		return mv_fail(e, MV_E_USAGE, "no password or OAuth2 token given");
	if (o->password && !o->password[0])
		return mv_fail(e, MV_E_USAGE, "empty password");
	if (o->oauth2_token && !o->oauth2_token[0])
		return mv_fail(e, MV_E_USAGE, "empty OAuth2 token");
	/* libcurl sends LOGIN's arguments as quoted strings, where a line
	 * break would end the command. */
	if ((o->password && has_crlf(o->password)) ||
	    (o->oauth2_token && has_crlf(o->oauth2_token)))
		return mv_fail(e, MV_E_USAGE, "line break in the password or token");
	if (o->pin) {
		n = strlen(o->pin);
		if (strncmp(o->pin, PIN_PREFIX, sizeof PIN_PREFIX - 1) != 0 ||
		    mv_b64_decode(raw, sizeof raw, o->pin + sizeof PIN_PREFIX - 1,
				  n - (sizeof PIN_PREFIX - 1)) != MV_SHA256_LEN)
			return mv_fail(e, MV_E_USAGE, "pin '%.80s' is not sha256// followed by "
				       "the base64 of 32 bytes", o->pin);
	}
	if (o->cacert) {
		FILE *f = fopen(o->cacert, "r");

		if (!f)
			return mv_fail(e, MV_E_USAGE, "cannot read CA file '%s': %s", o->cacert,
				       strerror(errno));
		fclose(f);
	}
	return MV_OK;
}

#define SET(opt, val)                                                        \
	do {                                                                 \
		if ((cc = curl_easy_setopt(c->curl, opt, val)) != CURLE_OK) { \
			rc = mv_fail(e, cc == CURLE_OUT_OF_MEMORY ? MV_E_NOMEM : \
				     MV_E_INTERNAL, "%s: libcurl refused %s: %s", \
				     c->where, #opt, curl_easy_strerror(cc)); \
			goto out;                                            \
		}                                                            \
	} while (0)

enum mv_err mv_conn_open(struct mv_conn **out, const struct mv_conn_opts *o,
			 struct mv_error *e)
{
	struct mv_conn *c = NULL;
	const char *user;
	char url[320];
	unsigned secs;
	curl_socket_t sock;
	enum mv_err rc = MV_OK;
	CURLcode cc;

	*out = NULL;
	if (o->seen)
		memset(o->seen, 0, sizeof *o->seen);
	if (ctx_slot < 0)
		return mv_fail(e, MV_E_INTERNAL, "mv_transport_init() was not called");
	user = o->user ? o->user : o->url.user;
	if ((rc = check_opts(o, user, e)))
		return rc;
	c = calloc(1, sizeof *c);
	if (!c)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	c->sock = CURL_SOCKET_BAD;
	c->chain_err = X509_V_OK;
	url_text(&o->url, c->where, sizeof c->where);
	snprintf(url, sizeof url, "%s/", c->where);
	secs = o->timeout_secs ? o->timeout_secs : DEFAULT_TIMEOUT_SECS;
	if (secs > MAX_TIMEOUT_SECS)
		secs = MAX_TIMEOUT_SECS;
	c->timeout_ms = (long)secs * 1000;
	c->curl = curl_easy_init();
	if (!c->curl) {
		rc = mv_fail(e, MV_E_NOMEM, "%s: curl_easy_init failed", c->where);
		goto out;
	}
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "imap,imaps");
	SET(CURLOPT_CONNECT_ONLY, 1L);
	/* No signals: the pull runs threads, and Debian's libcurl resolves
	 * names on a thread anyway. */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	/* The connect timeout covers the whole open (login included); this
	 * bounds each single wait for a server response within it. */
	SET(CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)secs);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERNAME, user);
	if (o->password) {
		SET(CURLOPT_PASSWORD, o->password);
	} else {
		SET(CURLOPT_XOAUTH2_BEARER, o->oauth2_token);
		/* Only the OAuth mechanisms, OAUTHBEARER first when offered:
		 * without this libcurl would try PLAIN with an empty password
		 * on a server that offers neither. */
		SET(CURLOPT_LOGIN_OPTIONS, "AUTH=OAUTHBEARER;AUTH=XOAUTH2");
	}
	SET(CURLOPT_SASL_IR, 1L);
	if (!o->url.implicit_tls)
		/* STARTTLS or nothing; with insecure_plaintext, STARTTLS when
		 * offered (a certificate problem still fails the connection). */
		SET(CURLOPT_USE_SSL, o->insecure_plaintext ? (long)CURLUSESSL_TRY
							   : (long)CURLUSESSL_ALL);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->cacert) {
		SET(CURLOPT_CAINFO, o->cacert);
		/* The bundle replaces the system store, not adds to it. */
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (o->pin)
		SET(CURLOPT_PINNEDPUBLICKEY, o->pin);
	if (o->pin && !o->cacert) {
		/* A pin alone replaces CA verification: libcurl checks the
		 * pin even with VERIFYPEER off.  The host name means nothing
		 * without a CA vouching for it. */
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		/* Without a pin there is no way to turn verification off. */
		SET(CURLOPT_SSL_VERIFYPEER, 1L);
		SET(CURLOPT_SSL_VERIFYHOST, 2L);
	}
	SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	SET(CURLOPT_SSL_CTX_DATA, c);
	SET(CURLOPT_PREREQFUNCTION, prereq_cb);
	SET(CURLOPT_PREREQDATA, c);

	cc = curl_easy_perform(c->curl);
	/* libcurl's copies of the secret go now (wiped by our allocator);
	 * the connection keeps its own until it is closed. */
	if (o->password)
		curl_easy_setopt(c->curl, CURLOPT_PASSWORD, (char *)NULL);
	else
		curl_easy_setopt(c->curl, CURLOPT_XOAUTH2_BEARER, (char *)NULL);
	if (cc != CURLE_OK) {
		rc = open_failure(c, cc, o, user, e);
		if (o->seen && c->saw_leaf) {
			*o->seen = c->hs;
			snprintf(o->seen->verify_result, sizeof o->seen->verify_result, "%s",
				 X509_verify_cert_error_string(c->chain_err));
		}
		goto out;
	}
	cc = curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &sock);
	if (cc != CURLE_OK || sock == CURL_SOCKET_BAD) {
		rc = mv_fail(e, MV_E_INTERNAL, "%s: libcurl gives no socket after the login",
			     c->where);
		goto out;
	}
	c->sock = sock;
	if (!c->tls.tls && (o->url.implicit_tls || !o->insecure_plaintext)) {
		/* libcurl said TLS was up, yet the session was not seen. */
		rc = mv_fail(e, MV_E_INTERNAL, "%s: no TLS session visible after the login",
			     c->where);
		goto out;
	}
	/* Reaching here with peer verification on means that libcurl also
	 * checked the host name. */
	c->tls.verified = c->tls.tls && !(o->pin && !o->cacert) &&
			  c->session_verify == X509_V_OK;
	if (o->seen)
		*o->seen = c->tls;
	*out = c;
	c = NULL;
out:
	mv_conn_close(c);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the socket is ready for ev or the deadline (ms on the
 * monotonic clock) passes. */
static enum mv_err wait_sock(struct mv_conn *c, short ev, int64_t deadline,
			     const char *what, struct mv_error *e)
{
	struct pollfd pfd;
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			break;
		pfd.fd = c->sock;
		pfd.events = ev;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return MV_OK;   /* ready, or an error for recv/send to tell */
		if (n < 0 && errno != EINTR)
			return c->failed = mv_fail(e, MV_E_NET, "%s: poll: %s", c->where,
					   strerror(errno));
	}
	return c->failed = mv_fail(e, MV_E_NET, "%s: timed out after %ld s waiting to %s",
				   c->where, c->timeout_ms / 1000, what);
}

/*
 * While a large response streams in (BULK_READS reads of BULK_MIN bytes
 * or more in a row), poll() reports the socket readable only once
 * LOWAT_BYTES are queued (SO_RCVLOWAT).  A reader faster than the server
 * otherwise wakes for every TLS record or two (Dovecot's average ~4 KB):
 * a 20,000-message imaps pull polled 73,000 times, and each wake is a
 * context switch that the server, on the other core of this VM, pays for
 * too.  With the mark: 10,000 polls, 35,000 context switches instead of
 * 92,000, client system time 3.6 -> 2.4 s, and the pull faster in each
 * of 3 alternating pairs (12.6/13.4/15.4 against 13.0/15.1/16.5 s, a busy
 * hour).  Fewer bytes than the mark that are all there is (the end of a
 * response, a pausing server) are read after LOWAT_WAIT_MS, when the mark
 * is dropped until the next stream; timeouts and a closed connection
 * behave as without it (poll() reports a hang-up at once).  Only poll()
 * heeds the mark: recv() on this non-blocking socket returns whatever is
 * queued, and nothing is held above the kernel's buffer (not TLS
 * read-ahead, see the top of this file).
 */
#define BULK_READS 8
#define BULK_MIN 2048
#define LOWAT_BYTES (32 << 10)
#define LOWAT_WAIT_MS 5

static void set_lowat(struct mv_conn *c, int on)
{
	int v = on ? LOWAT_BYTES : 1;

	/* A hint: without it a read only wakes more often. */
	if (setsockopt(c->sock, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0)
		c->lowat = on;
}

static enum mv_err wait_readable(struct mv_conn *c, int64_t deadline, struct mv_error *e)
{
	struct pollfd pfd;
	int n;

	if (!c->lowat && c->bulk >= BULK_READS)
		set_lowat(c, 1);
	if (!c->lowat)
		return wait_sock(c, POLLIN, deadline, "read", e);
	pfd.fd = c->sock;
	pfd.events = POLLIN;
	pfd.revents = 0;
	n = poll(&pfd, 1, LOWAT_WAIT_MS);
	if (n == 0) {
		/* The stream paused or ended: read what there is. */
		set_lowat(c, 0);
		c->bulk = 0;
	} else if (n < 0 && errno != EINTR) {
		return c->failed = mv_fail(e, MV_E_NET, "%s: poll: %s", c->where,
					   strerror(errno));
	}
	return MV_OK;
}

static enum mv_err io_failure(struct mv_conn *c, CURLcode cc, const char *what,
			      struct mv_error *e)
{
	enum mv_err code = curl_class(cc);

	if (code == MV_E_INTERNAL)
		code = MV_E_NET;   /* whatever broke, the connection is gone */
	return c->failed = mv_fail(e, code, "%s: %s failed: %s", c->where, what,
				   curl_words(c, cc, NULL));
}

enum mv_err mv_conn_write(struct mv_conn *c, const void *p, size_t n,
			  struct mv_error *e)
{
	const uint8_t *b = p;
	int64_t deadline = now_ms() + c->timeout_ms;
	size_t sent;
	enum mv_err rc;
	CURLcode cc;

	if (c->failed)
		return mv_fail(e, c->failed, "%s: the connection already failed", c->where);
	while (n) {
		sent = 0;
		c->errbuf[0] = '\0';
		cc = curl_easy_send(c->curl, b, n, &sent);
		if (cc != CURLE_OK && cc != CURLE_AGAIN)
			return io_failure(c, cc, "write", e);
		if (sent) {
			b += sent;
			n -= sent;
			deadline = now_ms() + c->timeout_ms;
			continue;
		}
		if ((rc = wait_sock(c, POLLOUT, deadline, "write", e)))
			return rc;
	}
	return MV_OK;
}

enum mv_err mv_conn_read(void *conn, uint8_t *buf, size_t cap, size_t *got,
			 struct mv_error *e)
{
	struct mv_conn *c = conn;
	int64_t deadline = now_ms() + c->timeout_ms;
	enum mv_err rc;
	CURLcode cc;
	size_t n;

	*got = 0;
	if (c->failed)
		return mv_fail(e, c->failed, "%s: the connection already failed", c->where);
	if (!cap)
		return mv_fail(e, MV_E_USAGE, "%s: read into an empty buffer", c->where);
	for (;;) {
		n = 0;
		c->errbuf[0] = '\0';
		/* Always ask libcurl first: TLS may hold decrypted bytes
		 * that poll() cannot see. */
		cc = curl_easy_recv(c->curl, buf, cap, &n);
		if (cc == CURLE_OK && n == 0 && c->ssl &&
		    !(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN))
			/* libcurl 7.88 reports a TCP end without TLS
			 * close_notify (a killed server, a cut line, a
			 * truncation attack) as a plain end of data. */
			return c->failed = mv_fail(e, MV_E_NET, "%s: read failed: the connection "
						   "was cut (no TLS close_notify)", c->where);
		if (cc == CURLE_OK) {
			*got = n;   /* 0: the server closed the connection */
			c->bulk = n >= BULK_MIN ? c->bulk + 1 : 0;
			return MV_OK;
		}
		if (cc != CURLE_AGAIN)
			return io_failure(c, cc, "read", e);
		if ((rc = wait_readable(c, deadline, e)))
			return rc;
	}
}

const struct mv_tls_info *mv_conn_tls(const struct mv_conn *c)
{
	return &c->tls;
}

void mv_conn_close(struct mv_conn *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	mv_wipe(c->errbuf, sizeof c->errbuf);
	free(c);
}

/* ---- Process setup --------------------------------------------------- */

enum mv_err mv_transport_init(struct mv_error *e)
{
	const curl_version_info_data *v;
	CURLcode cc;

	cc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, wiping_malloc, wiping_free,
				  wiping_realloc, wiping_strdup, wiping_calloc);
	if (cc != CURLE_OK)
		return mv_fail(e, MV_E_INTERNAL, "curl_global_init: %s", curl_easy_strerror(cc));
	v = curl_version_info(CURLVERSION_NOW);
	/* The TLS facts come from OpenSSL objects and the prereq callback
	 * (7.80). */
	if (!v || v->version_num < 0x075000 || !v->ssl_version ||
	    strncmp(v->ssl_version, "OpenSSL/", 8) != 0) {
		curl_global_cleanup();
		return mv_fail(e, MV_E_INTERNAL, "libcurl %s with %s: need 7.80 or later "
			       "built with OpenSSL", v ? v->version : "?",
			       v && v->ssl_version ? v->ssl_version : "no TLS");
	}
	if (ctx_slot < 0)
		ctx_slot = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ctx_slot < 0) {
		curl_global_cleanup();
		return mv_fail(e, MV_E_INTERNAL, "SSL_CTX_get_ex_new_index failed");
	}
	return MV_OK;
}

void mv_transport_done(void)
{
	curl_global_cleanup();
}
