/*
 * imap_push_int.h - push's state while it appends, shared by the folder
 * logic (imap_push.c: presence, reconnection, counts) and the appending
 * (imap_append.c: batches, refusals, keywords).  Internal to the push
 * module.
 */
#ifndef MV_IMAP_PUSH_INT_H
#define MV_IMAP_PUSH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "imap_push.h"
#include "imap_target_int.h"
#include "index.h"
#include "pushstate.h"
#include "srvform.h"

/* Messages up to this size are decrypted into memory once; larger ones
 * are decrypted twice (a scan for NUL, then the send), never held. */
#define HOLD_MAX (8u << 20)
/* Keywords a folder may be found to refuse; past that, messages that
 * carry others go without all their keywords. */
#define BADKW_MAX 64

/*
 * What this run did with each message of the folder in progress.  It is
 * kept across reconnections, so that a message is appended, counted and
 * reported once: a message sent in a command whose answer the lost
 * connection took (E_SENT) counts as appended only when the target then
 * holds it (the presence check decides, never a blind append).
 */
enum { E_TODO, E_PRESENT, E_SENT, E_APPENDED, E_REFUSED };

struct est {
	uint8_t state;
	uint8_t bare;                  /* sent without any keyword */
	uint16_t dropped;              /* keywords it was sent without */
	int32_t skip;                  /* the keyword (index) tried without, or -1 */
	uint32_t uid;                  /* on the target (APPENDUID), or 0 */
	uint32_t uidvalidity;          /* of that UID */
};

/* A keyword the target folder refused, with the server's words. */
struct badkw {
	char *kw;
	char *why;
};

struct push {
	struct mv_px s;                /* the session (imap_target_int.h) */
	struct mv_push_report *r;
	struct mv_push_folder *fr;
	const struct mv_folder *f;     /* the version folder in progress */
	struct est *es;                /* f->n: its messages' fate */
	/* f->n: each message's renderings (srvform.h) once read, else
	 * NULL; read only for a message that no target message matches by
	 * its exact size and bytes while one has its date. */
	struct mv_srvform **forms;
	struct badkw bad[BADKW_MAX];   /* what its target refused */
	size_t nbad;

	struct mv_pushstate *st;       /* NULL: no record */
	uint32_t uidvalidity;          /* of the target folder */
	const char *tname;             /* its name bytes */
	struct mv_buf msg;             /* a held message */
	int has_nul;                   /* NUL, bare CR or bare LF: binary */
	uint8_t last_byte;

	const char *bare_why;          /* why en goes without its keywords */
	int32_t skip_kw;               /* the keyword (index) tried without, or -1 */
	unsigned tries;                /* reconnections since the last progress */
	uint32_t wait;                 /* the next backoff, ms */
	int progress;                  /* appended something since then */
};

static inline struct est *est_of(struct push *p, const struct mv_entry *en)
{
	return &p->es[en - p->f->e];
}

/*
 * Appends list[0..n) (messages of p->f, in that order) to the target
 * folder (name bytes): MULTIAPPEND batches of p->s.o->batch when offered,
 * one at a time after a refused batch.  Each message ends E_APPENDED (its
 * UID kept when the server says APPENDUID, and in p->st), E_REFUSED
 * (reported), or -- when the connection is lost (MV_E_NET) -- E_SENT if it
 * was in the interrupted command, else E_TODO.  Errors as imap_client.h
 * and the vault's.
 */
enum mv_err mv_push_append_all(struct push *p, const char *mailbox,
			       const struct mv_entry **list, size_t n, struct mv_error *e);

/* Reports each keyword en went without (s: how it was sent; why: the
 * server's answer to it with them, NULL when unknown). */
void mv_push_note_dropped(struct push *p, const struct mv_entry *en, const struct est *s,
			  const char *why);

/* Forgets the keywords the folder in progress was found to refuse. */
void mv_push_kw_forget_all(struct push *p);

#endif
