/*
 * proof.h - message inclusion proofs (format-spec/FORMAT.md 11.1).
 *
 * A proof shows a third party, who holds neither the archive nor any key,
 * that one message (given as its exact bytes) is entry i of version N of
 * an archive whose versions are signed by a given owner key, with that
 * entry's folder, UID, flags and INTERNALDATE.  It discloses that one
 * message's key and nothing about any other message.
 */
#ifndef MV_PROOF_H
#define MV_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "index.h"
#include "vault.h"

/* Bounds the checker applies (format-spec 11.1). */
#define MV_PROOF_MAX_CHUNKS 1000000u
#define MV_PROOF_MAX_LINE 1400000u

/*
 * Writes the proof for entry entry_no of folder folder_no of ix, the index
 * of commit c, to out (replacing its contents; out's cap must allow the
 * whole proof: about 4/3 of the message's padded size plus a few KiB).
 * Needs keys (the message key is derived and disclosed): MV_E_KEY without.
 * Reads every record up to the commit to build the Merkle paths.
 * MV_E_USAGE for numbers out of range; MV_E_INDEX / MV_E_MERKLE if ix or
 * the file does not match c; MV_E_LIMIT if the message has more than
 * MV_PROOF_MAX_CHUNKS chunks or out's cap is too small; MV_E_IO.
 */
enum mv_err mv_proof_build(struct mv_vault *v, const struct mv_commit_info *c,
			   const struct mv_index *ix, size_t folder_no, size_t entry_no,
			   struct mv_buf *out, struct mv_error *e);

struct mv_proof_result {
	uint32_t commit;            /* version N the proof is for */
	char signer[65];            /* fingerprint of the signing key */
	char folder[1025];          /* folder name bytes as stored (no NUL inside) */
	uint32_t uidvalidity;
	uint32_t uid;
	uint32_t flags;             /* MV_FLAG_* */
	char date[65];              /* INTERNALDATE as received */
	uint64_t size;              /* message bytes */
	uint16_t keywords;          /* keyword count */
};

/*
 * Checks proof text[0..n) against the message msg[0..msglen).  want_signer
 * is the required signer fingerprint (64 hex digits, either case; NULL or
 * malformed: MV_E_USAGE).  On MV_OK, r describes the proven entry; on
 * failure r's contents are unspecified.
 *
 * Returns MV_E_SIGNER (another key signed it), MV_E_SIGNATURE (the
 * checkpoint does not verify), MV_E_PROOF (malformed, a Merkle path that
 * does not check, a field that disagrees with the signed data, or message
 * bytes that differ from the proven message), or what opening the chunks
 * finds: MV_E_CHUNK, MV_E_LENGTH, MV_E_COMMITMENT, MV_E_DECRYPT,
 * MV_E_COMPRESS, MV_E_INDEX, MV_E_LIMIT; MV_E_NOMEM.
 */
enum mv_err mv_proof_check(const char *text, size_t n, const uint8_t *msg, size_t msglen,
			   const char *want_signer, struct mv_proof_result *r,
			   struct mv_error *e);

#endif
