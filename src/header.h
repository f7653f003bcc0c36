/*
 * header.h - the header record, key stanzas, the header MAC and the key
 * hierarchy (format-spec/FORMAT.md sections 3 and 4).
 */
#ifndef MV_HEADER_H
#define MV_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "err.h"

#define MV_ARCHIVE_ID_LEN 16
#define MV_MAX_STANZAS 64
#define MV_MAX_GRANTS 64          /* STANZA records (format-spec 4.4) */
#define MV_CHUNK_LOG_DEFAULT 18
#define MV_CHUNK_LOG_MIN 12
#define MV_CHUNK_LOG_MAX 20

enum { MV_STANZA_PASS = 1, MV_STANZA_X25519 = 2 };
enum { MV_ROLE_OWNER = 1, MV_ROLE_READER = 2 };

struct mv_stanza {
	uint8_t kind;
	uint8_t role;
	uint16_t len;
	const uint8_t *body;   /* points into the payload it was parsed from */
	uint64_t record_seq;   /* 0 for header stanzas, else the STANZA record */
};

struct mv_header {
	unsigned chunk_log;
	uint8_t archive_id[MV_ARCHIVE_ID_LEN];
	uint64_t created;
	uint8_t owner_pk[MV_ED_PK_LEN];
	size_t nstanzas;
	struct mv_stanza stanza[MV_MAX_STANZAS + MV_MAX_GRANTS];
	struct mv_buf payload;   /* the exact payload bytes; stanzas point here */
};

/* All keys derived from the file key, in secure memory (format-spec 3). */
struct mv_keyring {
	uint8_t fk[MV_KEY_LEN];
	uint8_t header_mac[MV_KEY_LEN];
	uint8_t stanza_mac[MV_KEY_LEN];
	uint8_t content[MV_KEY_LEN];
	uint8_t msg_master[MV_KEY_LEN];
	uint8_t index[MV_KEY_LEN];
	int can_sign;
	uint8_t ed_sk[MV_ED_SK_LEN];
	uint8_t ed_seed[MV_ED_SEED_LEN];
};

/* What the user holds.  Any member may be NULL/0. */
struct mv_creds {
	const char *pass;                 /* passphrase (secure memory) */
	size_t passlen;
	const uint8_t *x_sk;              /* identity X25519 secret */
	const uint8_t *x_pk;
	const uint8_t *ed_seed;           /* identity signing seed */
};

/* What `pull` needs to create an archive. */
struct mv_create_opts {
	unsigned chunk_log;               /* 0 = default */
	uint32_t argon_ops, argon_mem_kib;/* 0 = defaults */
	size_t nrecipients;               /* extra readers */
	const uint8_t (*recipients)[MV_X25519_LEN];
	uint64_t now;
	int replace_uncommitted;          /* the file exists but has no commit */
};

void mv_header_init(struct mv_header *h);
void mv_header_release(struct mv_header *h);

/*
 * Makes a new file key, signing key (the identity's when creds has one,
 * else a fresh one), owner stanzas for the passphrase and/or identity,
 * reader stanzas for the recipients, and the header payload with its MAC.
 * *kr receives a keyring in secure memory (free with mv_keyring_free).
 * MV_E_USAGE if creds has neither passphrase nor identity.
 */
enum mv_err mv_header_create(struct mv_header *h, const struct mv_create_opts *o,
			     const struct mv_creds *c, struct mv_keyring **kr,
			     struct mv_error *e);

/*
 * Parses and checks a header payload without keys: sizes, counts, exact
 * stanza lengths, Argon2 caps (MV_E_KDF_LIMIT), small-order X25519
 * ephemeral keys (MV_E_LOW_ORDER).  Copies the payload into h.
 */
enum mv_err mv_header_parse(struct mv_header *h, const uint8_t *p, size_t n,
			    struct mv_error *e);

/*
 * Adds a STANZA record payload (format-spec 4.4) read from record `seq`
 * to the list of stanzas a key may open.  The payload must stay alive
 * (it is copied into `store`, which the caller keeps with h).
 */
enum mv_err mv_header_add_stanza_record(struct mv_header *h, struct mv_buf *store,
					const uint8_t *p, size_t n, uint64_t seq,
					struct mv_error *e);

/*
 * Finds the file key: tries every stanza the creds can open, and accepts
 * the first one that unwraps and makes the header MAC verify (and, for a
 * STANZA record, its MAC).  MV_E_KEY if none does; MV_E_HEADER_MAC if a
 * stanza unwrapped but the MAC failed.
 */
enum mv_err mv_header_unlock(const struct mv_header *h, const struct mv_creds *c,
			     struct mv_keyring **kr, struct mv_error *e);

/* Builds a STANZA record payload granting `recipient` read access. */
enum mv_err mv_stanza_record_build(struct mv_buf *out, const struct mv_header *h,
				   const struct mv_keyring *kr, uint64_t seq,
				   const uint8_t recipient[MV_X25519_LEN],
				   struct mv_error *e);

/* Frees the record copies kept for mv_header_add_stanza_record. */
void mv_stanza_store_release(struct mv_buf *store);

/* Derives the message key of a blob (format-spec 5.1). */
void mv_message_key(uint8_t mk[MV_KEY_LEN], const struct mv_keyring *kr,
		    const uint8_t blob_id[16]);
/* Its commitment. */
void mv_key_commitment(uint8_t out[MV_HASH_LEN], const uint8_t mk[MV_KEY_LEN],
		       const uint8_t archive_id[MV_ARCHIVE_ID_LEN],
		       const uint8_t blob_id[16]);

struct mv_keyring *mv_keyring_new(void);
void mv_keyring_free(struct mv_keyring *kr);

/* Fingerprint of an owner key: hex of H(0x01 || pk), 64 chars + NUL. */
void mv_signer_fingerprint(char out[65], const uint8_t pk[MV_ED_PK_LEN]);

#endif
