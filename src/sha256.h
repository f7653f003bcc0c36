/*
 * sha256.h - SHA-256 for the Merkle tree, through OpenSSL's EVP (which uses
 * the SHA-NI instructions where the CPU has them; libsodium's SHA-256 is
 * portable code and about three times slower here).
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

#endif
