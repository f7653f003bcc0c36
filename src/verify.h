/*
 * verify.h - checking a whole archive (format-spec/FORMAT.md 2, 5.4, 7, 8
 * and 10), with or without keys.
 *
 * The keyless part reads every record from the header to the end of the
 * newest commit, once and in order, and checks each record's frame,
 * sequence number and trailer, the Merkle frontier and signature of every
 * commit, and the chain of commits.  With keys (v->kr set) it also loads
 * every version's index and decrypts every stored message once.
 *
 * Errors are pinpointed: e->version is the version the failing record
 * belongs to (records after commit K-1 up to and including commit K
 * belong to version K), e->record its sequence number, e->offset where it
 * starts, and the message names all three.
 */
#ifndef MV_VERIFY_H
#define MV_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "merkle.h"
#include "vault.h"

struct mv_verify_report {
	uint32_t commits;              /* versions (COMMIT records) */
	uint32_t complete, partial, grants;
	uint64_t records;              /* records walked, header included */
	uint64_t chunks;               /* CHUNK records among them */
	uint64_t messages_checked;     /* index entries checked (keyed) */
	uint64_t blobs_checked;        /* distinct stored messages decrypted */
	uint64_t bytes;                /* message bytes they decoded to */
	uint64_t torn;                 /* bytes after the newest commit */
	char signer[65];               /* fingerprint of the owner key */
	int keyed;                     /* 1 if the keyed checks ran */
};

/*
 * Verifies v.  want_signer, if not NULL, is the required signer
 * fingerprint (64 hex digits, either case): another owner key gives
 * MV_E_SIGNER, a malformed fingerprint MV_E_USAGE.  r is always filled
 * with what was counted (complete when the result is MV_OK or MV_E_TORN).
 *
 * Returns MV_OK; MV_E_TORN ("recoverable: N bytes after version K") when
 * everything checks but bytes follow the newest commit; MV_E_EMPTY when
 * there is no commit; otherwise the first corruption found (MV_E_FRAME,
 * MV_E_RECORD_HASH, MV_E_SEQUENCE, MV_E_LENGTH, MV_E_MERKLE,
 * MV_E_SIGNATURE, MV_E_CHAIN, MV_E_CHUNK, MV_E_INDEX, MV_E_DECRYPT,
 * MV_E_CONTENT, ...), or MV_E_IO / MV_E_NOMEM.
 */
enum mv_err mv_verify(struct mv_vault *v, const char *want_signer,
		      struct mv_verify_report *r, struct mv_error *e);

/*
 * Reads the leaf hashes (record trailers) of records 0 .. upto-1, checking
 * each record's frame, sequence number and trailer on the way (but not
 * commits: see mv_verify).  upto must be between 1 and the number of
 * records up to and including the newest commit (MV_E_USAGE otherwise).
 * *out receives a malloc'd array of *n == upto hashes, which the caller
 * frees with free().
 */
enum mv_err mv_vault_leaf_hashes(struct mv_vault *v, uint64_t upto, mv_mhash **out,
				 uint64_t *n, struct mv_error *e);

/*
 * Parses a signer fingerprint given by a user: exactly 64 hex digits,
 * either case.  Writes the lower-case form (65 bytes with the NUL) to out.
 * Returns 0, or -1 if s is not a fingerprint.
 */
int mv_fingerprint_normalize(char out[65], const char *s);

#endif
