/*
 * imap_target_int.h - the target account as push (imap_push.c) and
 * verify --against (imap_compare.c) see it.  Internal to those two
 * modules (imap_target.c holds the code): a session, the target's folder
 * list, the target path and name bytes of a version folder, and what one
 * target folder holds (UID, size, date, flags, and on request the hash of
 * its bytes under the archive's content key).
 */
#ifndef MV_IMAP_TARGET_INT_H
#define MV_IMAP_TARGET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "imap_client.h"
#include "imap_push.h"
#include "index.h"
#include "srvform.h"
#include "vault.h"

/* The largest literal a session accepts (the body sink's bound). */
#define MV_PX_MAX_BODY (4ull << 30)

/* A folder the target lists. */
struct mv_px_tfolder {
	char *name;                    /* bytes as the target lists them */
	char delim;
	uint8_t special;
};

/* A message the target folder holds. */
struct mv_px_have {
	uint32_t uid;
	uint64_t size;
	int64_t date;                  /* INT64_MIN when unreadable */
	int cand;                      /* mv_px_hash_candidates hashes it */
	int used;                      /* matched to a version message */
	int hashed;                    /* hash holds its BODY[]'s hash */
	uint8_t hash[32];
	int bhashed;                   /* bhash holds its BINARY[]'s hash */
	uint8_t bhash[32];
	uint32_t flags;                /* system flags (with FLAGS fetched) */
	char *kw;                      /* keywords, folded, sorted (idem) */
};

struct mv_px {
	struct mv_vault *v;
	const struct mv_imap_push_opts *o;
	struct mv_imapc *c;            /* NULL between connections */
	struct mv_px_tfolder *tf;      /* what the target lists */
	size_t ntf;
	char td;                       /* the target's hierarchy delimiter */

	struct mv_px_have *h;          /* the folder examined last, by UID */
	size_t nh, caph;
	struct mv_hmac *hs;
	struct mv_px_have *body_for;   /* the candidate being hashed */
	int binary;                    /* hashing BINARY[] into bhash */
};

/* What EXAMINE said. */
struct mv_px_sel {
	uint32_t exists, uidvalidity;
};

/* Zeroes x and starts the transport; mv_px_release() undoes it. */
enum mv_err mv_px_init(struct mv_px *x, struct mv_vault *v,
		       const struct mv_imap_push_opts *o, struct mv_error *e);
/* Connects (x->c) and lists the target's folders (x->tf, x->td).  Errors
 * as imap_client.h; on error x->c may be set (mv_px_drop frees it). */
enum mv_err mv_px_open(struct mv_px *x, struct mv_error *e);
/* Forgets the connection without a word to the server (it is lost) and
 * the folder list, so that mv_px_open() can start again. */
void mv_px_drop(struct mv_px *x);
/* Logs out when rc is MV_OK (else just drops), then frees everything of
 * x and stops the transport. */
void mv_px_release(struct mv_px *x, enum mv_err rc);

/* An event for the caller (x->o->event), text formatted. */
void mv_px_note(struct mv_px *x, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The UTF-8 path of a version folder that --folder/--exclude select
 * (malloc'd), or NULL: *rc MV_OK when it is not selected, else an error. */
char *mv_px_source(const struct mv_folder *f, const struct mv_imap_push_opts *o,
		   enum mv_err *rc, struct mv_error *e);
/* Grows *arr (*n elements of size bytes) by one zeroed element and
 * returns it; NULL when out of memory. */
void *mv_px_grow(void **arr, size_t *n, size_t size);

/* The target path (UTF-8, '/', malloc'd; NULL when out of memory) of a
 * version folder whose UTF-8 path is src: --map, else the target's folder
 * with the same special-use role, else src. */
char *mv_px_target_path(struct mv_px *x, const struct mv_folder *f, const char *src);
/* The target's bytes for a UTF-8 '/' path into b (NUL-terminated):
 * modified UTF-7 and its delimiter.  MV_E_PARSE when path is not UTF-8. */
enum mv_err mv_px_target_name(struct mv_px *x, const char *path, struct mv_buf *b,
			      struct mv_error *e);
/* The listed folder with these name bytes (INBOX in any case), or NULL. */
struct mv_px_tfolder *mv_px_find_tf(struct mv_px *x, const char *name);

/*
 * EXAMINEs the folder (name bytes) into *sel and, when it holds messages,
 * lists them into x->h sorted by UID (UID RFC822.SIZE INTERNALDATE, and
 * FLAGS when with_flags).  Errors as imap_client.h (MV_E_PARSE: the
 * server refused the EXAMINE).
 */
enum mv_err mv_px_examine(struct mv_px *x, const char *name, int with_flags,
			  struct mv_px_sel *sel, struct mv_error *e);
/* Empties x->h (no folder examined). */
void mv_px_forget_folder(struct mv_px *x);
/* The listed message with this UID, or NULL. */
struct mv_px_have *mv_px_find_have(struct mv_px *x, uint32_t uid);
/*
 * Fetches (.PEEK) and hashes the listed messages marked cand that are not
 * hashed yet, in one UID FETCH: BODY.PEEK[] into hash (the message as the
 * server keeps it: BINARY[] would decode base64 and quoted-printable
 * parts, RFC 3516), or with binary BINARY.PEEK[] into bhash (only to see
 * NUL bytes that BODY[] shows as 0x80; the caller checks that the server
 * offers BINARY).
 */
enum mv_err mv_px_hash_candidates(struct mv_px *x, int binary, struct mv_error *e);

/*
 * The renderings (srvform.h) of version message en: *slot, read (one
 * decryption) into a new malloc'd one when NULL.  Errors: the vault's,
 * MV_E_NOMEM.
 */
enum mv_err mv_px_form(struct mv_px *x, const struct mv_entry *en, struct mv_srvform **slot,
		       struct mv_error *e);
/* Frees forms[0..n) and forms; NULL ok. */
void mv_px_forms_free(struct mv_srvform **forms, size_t n);

/*
 * A flag list as system flag bits and one string of its keywords, folded
 * to lower case (keywords are case-insensitive), sorted, space-separated
 * (*out, malloc'd); $Forwarded counts as Maildir's P.  -1 when out of
 * memory.
 */
int mv_px_keyword_key(const char *const *fl, size_t n, uint32_t *bits, char **out);

#endif
