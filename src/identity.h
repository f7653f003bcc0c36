/*
 * identity.h - a user's identity file: an X25519 key (to open archives
 * made for its recipient string) and an Ed25519 key (to sign versions).
 *
 * File format (text, 0600):
 *   mbox-vault-identity-v1
 *   recipient: mvr1<64 hex>
 *   signer: <signer fingerprint, 64 hex>
 *   kdf: argon2id <ops> <mem KiB> <salt, base64>      (protected files only)
 *   secret: <base64>
 * secret is X25519 secret || Ed25519 seed (64 bytes), or, when protected,
 * nonce (24) || AEAD(Argon2id(passphrase), nonce, "mbox-vault identity v1",
 * those 64 bytes).
 */
#ifndef MV_IDENTITY_H
#define MV_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "err.h"

#define MV_RECIPIENT_STRLEN (4 + 64)

struct mv_identity {
	uint8_t x_sk[MV_X25519_LEN];
	uint8_t x_pk[MV_X25519_LEN];
	uint8_t ed_seed[MV_ED_SEED_LEN];
	uint8_t ed_pk[MV_ED_PK_LEN];
};

/* Both allocate in secure memory; free with mv_identity_free. */
enum mv_err mv_identity_generate(struct mv_identity **out, struct mv_error *e);
/* Writes path (must not exist), 0600; pass NULL writes it unprotected. */
enum mv_err mv_identity_write(const struct mv_identity *id, const char *path,
			      const char *pass, size_t passlen, uint32_t ops,
			      uint32_t mem_kib, struct mv_error *e);
/* *protected = 1 if reading path needs a passphrase. */
enum mv_err mv_identity_is_protected(const char *path, int *prot, struct mv_error *e);
/* MV_E_KEY for a wrong passphrase, MV_E_PARSE for a malformed file. */
enum mv_err mv_identity_read(const char *path, const char *pass, size_t passlen,
			     struct mv_identity **out, struct mv_error *e);
void mv_identity_free(struct mv_identity *id);

void mv_recipient_string(char out[MV_RECIPIENT_STRLEN + 1], const uint8_t pk[MV_X25519_LEN]);
/* 0 on success; -1 if s is not a recipient string or a small-order key. */
int mv_recipient_parse(const char *s, uint8_t pk[MV_X25519_LEN]);

#endif
