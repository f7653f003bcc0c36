/*
 * srvform.h - a message as an IMAP server renders it after APPEND.
 *
 * Servers keep the bytes of an appended message only when they hold no
 * NUL and no CR or LF outside a CRLF pair.  Otherwise what a FETCH
 * BODY[] returns is a rendering of them, and push (imap_push.c) and
 * verify --against (imap_compare.c) must still recognise the message.
 * Two renderings are modelled:
 *
 *   MV_FORM_SERVER  what Dovecot 2.3 (Maildir, the default
 *                   mail_save_crlf = no) returns, observed for both text
 *                   literals and literal8: it stores CRLF as LF and drops
 *                   a CR that ends the message (keeping other bare CRs),
 *                   then serves each LF not preceded by a CR as CRLF and
 *                   each NUL as 0x80.  So a bare LF becomes CRLF, a bare
 *                   CR in the middle stays, "CR CR LF" becomes "CR LF",
 *                   the final bare CR goes, NUL shows as 0x80.
 *   MV_FORM_CRLF    the classic text-literal normalisation (Python's
 *                   imaplib, many clients and servers): every bare CR and
 *                   every bare LF becomes CRLF; other bytes stay.
 *
 * A message "differs" when it holds NUL, a bare CR or a bare LF; then
 * and only then a rendering may differ from its bytes.
 */
#ifndef MV_SRVFORM_H
#define MV_SRVFORM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "index.h"
#include "vault.h"

enum { MV_FORM_SERVER, MV_FORM_CRLF, MV_NFORMS };

/* ---- the renderings, streaming ---- */

struct mv_render {
	int form;
	int cr;                        /* a CR waits for the next byte */
	uint8_t prev;                  /* MV_FORM_SERVER: last byte stored */
	void (*emit)(void *ctx, const uint8_t *p, size_t n);
	void *ctx;
	size_t nbuf;
	uint8_t buf[4096];             /* output not yet emitted */
};

/* Starts a rendering whose output goes to emit(ctx, ...) in pieces. */
void mv_render_init(struct mv_render *r, int form,
		    void (*emit)(void *ctx, const uint8_t *p, size_t n), void *ctx);
void mv_render_feed(struct mv_render *r, const uint8_t *p, size_t n);
/* Ends the message (a waiting CR is rendered or dropped) and emits the
 * rest. */
void mv_render_end(struct mv_render *r);

/* ---- one archived message's renderings ---- */

struct mv_srvform {
	int differs;                   /* NUL, bare CR or bare LF */
	int has_nul;
	uint64_t size[MV_NFORMS];      /* of each rendering */
	uint8_t hash[MV_NFORMS][32];   /* content hash of each rendering */
};

/*
 * Reads the message (one decryption, streamed, never held) and fills *f:
 * whether it differs and, when it does, the size and content hash
 * (mv_vault_content_hash's key) of each rendering.  Errors: the vault's,
 * MV_E_NOMEM.
 */
enum mv_err mv_srvform_of(struct mv_vault *v, const struct mv_blobref *b,
			  struct mv_srvform *f, struct mv_error *e);

/*
 * 1 when a target message of this size and content hash is the message
 * f describes in one of its renderings (f->differs; else 0).
 */
int mv_srvform_match(const struct mv_srvform *f, uint64_t size, const uint8_t hash[32]);
/* 1 when size is that of one of its renderings (f->differs; else 0). */
int mv_srvform_size(const struct mv_srvform *f, uint64_t size);

#endif
