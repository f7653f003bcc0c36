/*
 * sha256.h - SHA-256 and HMAC-SHA-256 through OpenSSL's EVP, which uses the
 * SHA-NI instructions where the CPU has them.  SHA-256 hashes the Merkle
 * tree; HMAC-SHA-256 makes the keyed content hash of every message byte
 * (format-spec 5.3).  Measured on the machine this was built on, 1 MiB
 * inputs: OpenSSL SHA-256 1.28 GB/s, HMAC-SHA-256 1.21 GB/s, libsodium's
 * portable SHA-256 0.27 GB/s and its BLAKE2b 0.46 GB/s.
 *
 * OpenSSL holds an HMAC key in its own memory (cleansed when freed), not
 * in sodium_malloc'd pages: the only key given here is the content ID key,
 * which protects against confirming that a known message is stored, not
 * the messages themselves.
 */
#ifndef MV_SHA256_H
#define MV_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define MV_SHA256_LEN 32

/* One-shot over up to three pieces (any may be NULL with length 0). */
void mv_sha256_3(uint8_t out[MV_SHA256_LEN], const void *a, size_t alen,
		 const void *b, size_t blen, const void *c, size_t clen);

static inline void mv_sha256(uint8_t out[MV_SHA256_LEN], const void *p, size_t n)
{
	mv_sha256_3(out, p, n, NULL, 0, NULL, 0);
}

/* Frees this thread's cached hashing state; call before a thread that
 * hashed exits (the main thread's is reclaimed at exit). */
void mv_sha256_thread_done(void);

/* Streaming. mv_sha256_new returns NULL on allocation failure. */
struct mv_sha256;
struct mv_sha256 *mv_sha256_new(void);
void mv_sha256_update(struct mv_sha256 *h, const void *p, size_t n);
/* Writes the digest and resets h for reuse. */
void mv_sha256_final(struct mv_sha256 *h, uint8_t out[MV_SHA256_LEN]);
void mv_sha256_free(struct mv_sha256 *h);

/* HMAC-SHA-256 (RFC 2104).  One-shot, with a per-thread context freed by
 * mv_sha256_thread_done; -1 when OpenSSL cannot allocate it. */
int mv_hmac_sha256(uint8_t out[MV_SHA256_LEN], const uint8_t *key, size_t klen,
		   const void *p, size_t n);

/* Streaming.  mv_hmac_new returns NULL on allocation failure; final writes
 * the MAC and starts again under the same key. */
struct mv_hmac;
struct mv_hmac *mv_hmac_new(const uint8_t *key, size_t klen);
void mv_hmac_update(struct mv_hmac *h, const void *p, size_t n);
void mv_hmac_final(struct mv_hmac *h, uint8_t out[MV_SHA256_LEN]);
void mv_hmac_free(struct mv_hmac *h);

#endif
