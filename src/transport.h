/*
 * transport.h - one authenticated IMAP connection over TLS.
 *
 * The only module that touches libcurl (and OpenSSL's view of the TLS
 * session).  libcurl, with CURLOPT_CONNECT_ONLY, connects, negotiates TLS
 * (implicit for imaps://, mandatory STARTTLS for imap://), verifies the
 * certificate and logs in with SASL; then it returns, and the caller speaks
 * raw tagged IMAP through mv_conn_write() and mv_conn_read().  curl's
 * verbose log is never enabled: it would hold the AUTHENTICATE line.
 *
 * Errors (in e; messages never contain the password or token; they name
 * the server as "imaps://HOST:PORT" and say what failed):
 *   MV_E_USAGE   a malformed URL or options (no user, both password and
 *                token or neither, an empty one or one with a line break,
 *                a password in the URL, a pin that is not "sha256//" +
 *                base64 of 32 bytes, a CA file that cannot be read);
 *   MV_E_TLS     handshake failed, certificate not verified, name
 *                mismatch, pin mismatch, TLS below 1.2, STARTTLS not
 *                offered, or plaintext refused (imap:// without STARTTLS
 *                and without insecure_plaintext); when the server's
 *                certificate was seen, the message ends with "(server key
 *                sha256//...)" and mv_conn_opts.seen holds its facts;
 *   MV_E_AUTH    the server refused the login (wrong password or token;
 *                with a token, also a server offering neither OAUTHBEARER
 *                nor XOAUTH2: the token is never sent as a password);
 *   MV_E_NET     DNS, connect, timeout, or the connection closed or cut;
 *   MV_E_NOMEM, MV_E_INTERNAL (libcurl misbehaved, or
 *                mv_transport_init() was not called).
 */
#ifndef MV_TRANSPORT_H
#define MV_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* ---- Addresses ------------------------------------------------------- */

struct mv_url {
	int implicit_tls;          /* imaps:// (1) or imap:// (0) */
	char host[256];            /* name, IPv4, or IPv6 without brackets */
	unsigned port;             /* 993 / 143 when not given */
	char user[256];            /* from USER@, percent-decoded; "" if none */
};

/* Parses "imaps://[USER@]HOST[:PORT][/]" or "imap://...". MV_E_USAGE. */
enum mv_err mv_url_parse(const char *s, struct mv_url *u, struct mv_error *e);

/* ---- Connections ----------------------------------------------------- */

struct mv_conn_opts {
	struct mv_url url;
	const char *user;          /* overrides url.user when not NULL */
	/* Exactly one of password (LOGIN / AUTHENTICATE PLAIN) and
	 * oauth2_token (OAUTHBEARER, else XOAUTH2).  The caller keeps them in
	 * sodium_malloc memory; the transport copies them nowhere but into
	 * libcurl, and wipes what it made. */
	const char *password;
	const char *oauth2_token;
	const char *cacert;        /* PEM bundle; NULL = the system store */
	/* "sha256//BASE64" of the server's SubjectPublicKeyInfo.  Alone, it
	 * replaces CA verification (self-signed servers); with cacert, both
	 * must hold. */
	const char *pin;
	/* Allow imap:// without TLS (loudly).  STARTTLS is still used, and
	 * the certificate still checked, when the server offers it;
	 * mv_tls_info.tls says which happened. */
	int insecure_plaintext;
	/* Bounds the whole of mv_conn_open() (connect, TLS, login) and each
	 * wait of a read or write for the socket; 0 = 60, at most 86400. */
	unsigned timeout_secs;
	/* If not NULL, receives the TLS facts (added for first connections):
	 * after success a copy of mv_conn_tls(); after a failure the facts
	 * of the handshake so far -- when the certificate was seen, its hash
	 * and pin, the version, cipher and first chain error, verified = 0
	 * -- so that the caller can show the pin to use; zeroed when no
	 * certificate was seen. */
	struct mv_tls_info *seen;
};

/* What was negotiated; recorded, signed, in the version. */
struct mv_tls_info {
	int tls;                   /* 0 only with insecure_plaintext */
	char version[16];          /* "TLSv1.3" */
	char cipher[64];           /* "TLS_AES_256_GCM_SHA384" */
	int verified;              /* chain verified against CA store/cacert
				    * (and host name checked); 0 with a pin
				    * alone, whatever the chain */
	char verify_result[96];    /* X509_verify_cert_error_string() */
	char cert_sha256[65];      /* hex SHA-256 of the leaf certificate DER */
	char pin[60];              /* "sha256//" + base64 SHA-256 of its SPKI */
};

struct mv_conn;

/*
 * Connects and logs in.  On success the server is in the authenticated
 * state, nothing unread is pending, and *out owns the connection.  The
 * greeting's and login's capabilities are not kept: issue CAPABILITY.
 */
enum mv_err mv_conn_open(struct mv_conn **out, const struct mv_conn_opts *o,
			 struct mv_error *e);

/* Sends all n bytes.  MV_E_NET, MV_E_TLS. */
enum mv_err mv_conn_write(struct mv_conn *c, const void *p, size_t n,
			  struct mv_error *e);

/*
 * Reads 1..cap bytes, waiting up to timeout_secs for the first one;
 * *got = 0 with MV_OK when the server closed the connection (on TLS:
 * with a close_notify; an end without one -- a killed server, a cut
 * line -- is MV_E_NET).  Matches mv_imap_read_fn (imap_parse.h) with
 * ctx = the struct mv_conn.  After a read or write fails, every later
 * one fails the same way.
 */
enum mv_err mv_conn_read(void *conn, uint8_t *buf, size_t cap, size_t *got,
			 struct mv_error *e);

/* Facts of the TLS session; valid until mv_conn_close(). */
const struct mv_tls_info *mv_conn_tls(const struct mv_conn *c);

/* Closes the socket without sending anything (the caller LOGOUTs first
 * when it can); accepts NULL. */
void mv_conn_close(struct mv_conn *c);

/*
 * Once per process, before threads and before any other use of libcurl:
 * curl_global_init_mem (libcurl's heap blocks, which hold copies of the
 * password, are wiped when freed) / curl_global_cleanup.  MV_E_INTERNAL
 * unless libcurl is 7.80 or later and built with OpenSSL.
 */
enum mv_err mv_transport_init(struct mv_error *e);
void mv_transport_done(void);

#endif
