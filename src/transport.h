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
 * Errors (in e; messages never contain the password or token):
 *   MV_E_USAGE   a malformed URL or options (no user, both password and
 *                token, a pin that is not "sha256//" + base64 of 32 bytes);
 *   MV_E_TLS     handshake failed, certificate not verified, name
 *                mismatch, pin mismatch, TLS below 1.2, STARTTLS not
 *                offered, or plaintext refused (imap:// without STARTTLS
 *                and without insecure_plaintext);
 *   MV_E_AUTH    the server refused the login (wrong password or token);
 *   MV_E_NET     DNS, connect, timeout, or the connection closed;
 *   MV_E_NOMEM, MV_E_INTERNAL (libcurl misbehaved).
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
	int insecure_plaintext;    /* allow imap:// without TLS (loudly) */
	unsigned timeout_secs;     /* connect and read inactivity; 0 = 60 */
};

/* What was negotiated; recorded, signed, in the version. */
struct mv_tls_info {
	int tls;                   /* 0 only with insecure_plaintext */
	char version[16];          /* "TLSv1.3" */
	char cipher[64];           /* "TLS_AES_256_GCM_SHA384" */
	int verified;              /* chain verified against CA store/cacert */
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
 * *got = 0 with MV_OK when the server closed the connection.  Matches
 * mv_imap_read_fn (imap_parse.h) with ctx = the struct mv_conn.
 */
enum mv_err mv_conn_read(void *conn, uint8_t *buf, size_t cap, size_t *got,
			 struct mv_error *e);

/* Facts of the TLS session; valid until mv_conn_close(). */
const struct mv_tls_info *mv_conn_tls(const struct mv_conn *c);

/* Closes the socket without sending anything (the caller LOGOUTs first
 * when it can); accepts NULL. */
void mv_conn_close(struct mv_conn *c);

/* Once per process, before threads: curl_global_init / cleanup. */
enum mv_err mv_transport_init(struct mv_error *e);
void mv_transport_done(void);

#endif
