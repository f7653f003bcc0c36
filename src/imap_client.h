/*
 * imap_client.h - an IMAP session: a connection (transport.h), the
 * response parser (imap_parse.h), tags, pipelining and throttling.
 *
 * Commands are sent with mv_imapc_send() and their completion awaited
 * with mv_imapc_wait(), so several may be in flight (pipelining); untagged
 * responses go to a callback whatever command they belong to.  A
 * throttled command (Gmail's [THROTTLED], Microsoft 365's "Request is
 * throttled. Suggested Backoff Time: N milliseconds") is not an error
 * here: mv_imapc_cmd() sleeps and sends it again, and mv_imapc_wait()
 * reports it through *throttled so that callers which pipeline can do
 * the same.
 *
 * Errors: those of mv_conn_open(); MV_E_NET when the server says BYE,
 * answers a command with a tag never sent, or sends what the parser
 * refuses (bytes that are not IMAP, a length over a bound: the stream is
 * out of step, so the connection is lost); MV_E_PARSE
 * for a NO or BAD (the message quotes the server's text, made printable,
 * and the command's verb, never its arguments).
 */
#ifndef MV_IMAP_CLIENT_H
#define MV_IMAP_CLIENT_H

#include <stdarg.h>
#include <stdint.h>

#include "err.h"
#include "imap_parse.h"
#include "transport.h"

struct mv_imapc;

/* Called for every untagged response while waiting. */
typedef enum mv_err (*mv_imapc_untagged_fn)(void *ctx, const struct mv_imap_resp *r,
					    struct mv_error *e);

/*
 * Connects, logs in (transport), and asks for CAPABILITY.  max_body
 * bounds any literal streamed to the body sink (mv_imap_new()).
 */
enum mv_err mv_imapc_open(struct mv_imapc **out, const struct mv_conn_opts *o,
			  uint64_t max_body, struct mv_error *e);

/* Sends LOGOUT (best effort, not awaited for long) and frees; NULL ok. */
void mv_imapc_close(struct mv_imapc *c);
/* Frees without a word to the server (after a network error). */
void mv_imapc_free(struct mv_imapc *c);

/* 1 if the server announced the capability (case-insensitive). */
int mv_imapc_has(const struct mv_imapc *c, const char *cap);
/* The capabilities, space-separated, for the record. */
const char *mv_imapc_caps(const struct mv_imapc *c);
const struct mv_tls_info *mv_imapc_tls(const struct mv_imapc *c);

void mv_imapc_set_body_sink(struct mv_imapc *c, const struct mv_imap_body_sink *s);

/*
 * Sends "TAG " + the formatted command + CRLF and copies the tag to
 * tag[16].  Format conversions are printf's plus %M: a mailbox name
 * (const char *), sent as a quoted string when it is printable ASCII,
 * else as a literal (LITERAL+ when offered, else waiting for the
 * server's continuation).
 */
enum mv_err mv_imapc_send(struct mv_imapc *c, char tag[16], struct mv_error *e,
			  const char *fmt, ...);

/*
 * For commands that carry literals (APPEND): start sends "TAG " + the
 * formatted text without CRLF; more sends formatted text (ended by CRLF
 * when crlf); write sends raw bytes (a literal's content); wait_continue
 * waits for the server's "+" (a synchronising literal), failing with
 * MV_E_PARSE if the command is answered instead (the server's text in
 * the message).
 */
enum mv_err mv_imapc_start(struct mv_imapc *c, char tag[16], struct mv_error *e,
			   const char *fmt, ...);
enum mv_err mv_imapc_more(struct mv_imapc *c, int crlf, struct mv_error *e,
			  const char *fmt, ...);
enum mv_err mv_imapc_write(struct mv_imapc *c, const void *p, size_t n, struct mv_error *e);
enum mv_err mv_imapc_wait_continue(struct mv_imapc *c, const char *tag, struct mv_error *e);

/*
 * Reads responses until the tagged one for tag, passing untagged ones to
 * fn(ctx) (NULL ignores them).  Tagged OK: MV_OK.  Tagged NO/BAD that is
 * throttling: MV_OK with *throttled = backoff in ms (at least 1) when
 * throttled is not NULL, else MV_E_NET.  Other NO/BAD: MV_E_PARSE with
 * the server's text; *resp (if not NULL) then points at the response,
 * valid until the next call.
 */
enum mv_err mv_imapc_wait(struct mv_imapc *c, const char *tag,
			  mv_imapc_untagged_fn fn, void *ctx, uint32_t *throttled,
			  const struct mv_imap_resp **resp, struct mv_error *e);

/* Sends and waits; a throttled command is retried after the backoff (up
 * to 20 times). */
enum mv_err mv_imapc_cmd(struct mv_imapc *c, mv_imapc_untagged_fn fn, void *ctx,
			 struct mv_error *e, const char *fmt, ...);

/* fn(ctx, ms) is told before mv_imapc_cmd() waits out a throttled
 * command (for reports). */
void mv_imapc_on_throttle(struct mv_imapc *c, void (*fn)(void *ctx, uint32_t ms), void *ctx);

/* Sleeps ms milliseconds (throttling backoff; tests shorten it with
 * MV_TEST_BACKOFF_MS in test builds). */
void mv_imapc_backoff(uint32_t ms);

/* The special-use bits (format-spec 6.1) of a LIST response's
 * attributes; \Noselect and \NonExistent give MV_SU_NOSELECT. */
uint8_t mv_imapc_special(const struct mv_imap_resp *r);

/* Bytes read from the server so far. */
uint64_t mv_imapc_bytes_read(const struct mv_imapc *c);

#endif
