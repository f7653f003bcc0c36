/*
 * note.h - signed checkpoints: C2SP tlog-checkpoint in C2SP signed-note
 * form, signed with Ed25519 (format-spec/FORMAT.md 8.1).
 */
#ifndef MV_NOTE_H
#define MV_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "merkle.h"

#define MV_NOTE_MAX 2048

enum { MV_COMMIT_COMPLETE = 1, MV_COMMIT_PARTIAL = 2, MV_COMMIT_GRANT = 3 };

struct mv_checkpoint {
	uint8_t archive_id[16];
	uint64_t tree_size;
	mv_mhash root;
	uint32_t commit;
	int kind;
	uint8_t body_hash[32];
};

const char *mv_commit_kind_name(int kind);

/* Writes the signed note for cp into out (replacing its contents). */
enum mv_err mv_note_sign(struct mv_buf *out, const struct mv_checkpoint *cp,
			 const uint8_t sk[MV_ED_SK_LEN],
			 const uint8_t pk[MV_ED_PK_LEN], struct mv_error *e);

/*
 * Parses text[0..n) strictly and verifies its signature with pk.
 * MV_E_SIGNATURE if no signature line by pk verifies; MV_E_PARSE-class
 * problems are reported as MV_E_SIGNATURE too (a note that cannot be
 * parsed cannot be trusted), with the reason in the message.
 */
enum mv_err mv_note_verify(const char *text, size_t n, const uint8_t pk[MV_ED_PK_LEN],
			   struct mv_checkpoint *cp, struct mv_error *e);

/* The signed-note verifier key string "mbox-vault+hash+base64". */
void mv_note_vkey(char *out, size_t cap, const uint8_t pk[MV_ED_PK_LEN]);

#endif
