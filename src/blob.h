/*
 * blob.h - sealing and opening the chunks of one stored message, and
 * turning opened chunks back into message bytes (format-spec/FORMAT.md 5).
 *
 * Pure functions over byte buffers: the vault feeds them records from the
 * file, check-proof feeds them records from a proof file.
 */
#ifndef MV_BLOB_H
#define MV_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "compress.h"
#include "crypto.h"
#include "err.h"
#include "index.h"

#define MV_CHUNK_HEAD 80   /* payload bytes before the ciphertext */

/* What a chunk is checked against. */
struct mv_chunk_ctx {
	uint8_t archive_id[16];
	uint8_t blob_id[MV_BLOB_ID_LEN];
	uint8_t mk[MV_KEY_LEN];          /* message key */
	uint8_t commitment[MV_HASH_LEN]; /* expected commitment */
	unsigned chunk_log;
};

/*
 * Seals plaintext plain[0..plen) as chunk `index` of the blob, to be
 * stored as record `seq` with the LAST flag = last.  payload receives
 * MV_CHUNK_HEAD + plen + MV_TAG_LEN bytes.
 */
void mv_chunk_seal(uint8_t *payload, const struct mv_chunk_ctx *c, uint64_t seq,
		   uint32_t index, int last, const uint8_t *plain, size_t plen);

/* The same with the nonce given (the writer draws nonces in its producer
 * thread so test builds stay deterministic). */
void mv_chunk_seal_nonce(uint8_t *payload, const struct mv_chunk_ctx *c, uint64_t seq,
			 uint32_t index, int last, const uint8_t *plain, size_t plen,
			 const uint8_t nonce[MV_NONCE_LEN]);

/*
 * Opens a CHUNK record's payload: checks blob ID, index, plaintext length
 * rules, commitment (constant time) and the AEAD.  plain must hold 2^c
 * bytes; *plen gets the plaintext length.  MV_E_CHUNK, MV_E_LENGTH,
 * MV_E_COMMITMENT, MV_E_DECRYPT.
 */
enum mv_err mv_chunk_open(const struct mv_chunk_ctx *c, uint64_t seq, uint8_t flags,
			  const uint8_t *payload, size_t n, uint32_t index,
			  uint8_t *plain, size_t *plen, struct mv_error *e);

/*
 * Turns the stored stream back into message bytes: decompression, padding
 * check, size check and (if a content key is given) the content hash.
 */
struct mv_blob_dec;
struct mv_blob_dec *mv_blob_dec_new(const struct mv_blobref *b,
				    const uint8_t *content_key, mv_out_fn out,
				    void *ctx);
enum mv_err mv_blob_dec_feed(struct mv_blob_dec *d, const uint8_t *p, size_t n,
			     struct mv_error *e);
/* Final checks: sizes, padding, content hash (MV_E_CONTENT). */
enum mv_err mv_blob_dec_end(struct mv_blob_dec *d, struct mv_error *e);
void mv_blob_dec_free(struct mv_blob_dec *d);

#endif
