/*
 * crypto.h - every use of libsodium goes through here.
 *
 * Primitives (format-spec/FORMAT.md section 3): XChaCha20-Poly1305 (IETF)
 * for all encryption, keyed BLAKE2b for MACs, key derivation, content IDs
 * and key commitments, Argon2id for passphrases, X25519 sealed boxes for
 * recipients, Ed25519 for signatures.
 *
 * Test builds (-DMV_TEST_HOOKS) can replace the randomness source with a
 * deterministic one seeded from MV_TEST_SEED, so vectors/ can hold
 * byte-identical archives.  Release builds have no such switch.
 */
#ifndef MV_CRYPTO_H
#define MV_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MV_KEY_LEN 32
#define MV_NONCE_LEN 24
#define MV_TAG_LEN 16
#define MV_HASH_LEN 32
#define MV_SALT_LEN 16
#define MV_X25519_LEN 32
#define MV_SEAL_OVERHEAD 48      /* crypto_box_SEALBYTES */
#define MV_ED_PK_LEN 32
#define MV_ED_SEED_LEN 32
#define MV_ED_SK_LEN 64
#define MV_SIG_LEN 64

/* Argon2id caps (format-spec 4.2): a stanza asking for more is rejected. */
#define MV_ARGON_OPS_MIN 1u
#define MV_ARGON_OPS_MAX 16u
#define MV_ARGON_MEM_KIB_MIN 8192u          /* 8 MiB */
#define MV_ARGON_MEM_KIB_MAX (1024u * 1024u) /* 1 GiB */
#define MV_ARGON_OPS_DEFAULT 3u
#define MV_ARGON_MEM_KIB_DEFAULT (256u * 1024u)

/* Must be called once before anything else; MV_E_INTERNAL if it fails. */
enum mv_err mv_crypto_init(struct mv_error *e);

void mv_random(void *out, size_t n);
/* Uniform in [0, upper). */
uint32_t mv_random_uniform(uint32_t upper);

/* Secure memory: guard pages, mlock'd, excluded from core dumps. */
void *mv_secure_alloc(size_t n);     /* NULL on failure */
void mv_secure_free(void *p);        /* wipes; accepts NULL */
void mv_wipe(void *p, size_t n);
/* Constant time; 1 if equal. */
int mv_ct_eq(const void *a, const void *b, size_t n);
int mv_is_zero(const void *p, size_t n);

/* BLAKE2b with an optional key (key may be NULL when klen is 0). */
void mv_blake2b(uint8_t *out, size_t outlen, const uint8_t *key, size_t klen,
		const void *in, size_t inlen);

/* Streaming keyed BLAKE2b-256, for content hashes. Opaque, heap state. */
struct mv_blake2b;
struct mv_blake2b *mv_blake2b_new(const uint8_t *key, size_t klen);
void mv_blake2b_update(struct mv_blake2b *h, const void *in, size_t n);
void mv_blake2b_final(struct mv_blake2b *h, uint8_t out[MV_HASH_LEN]);
void mv_blake2b_free(struct mv_blake2b *h);

/* Subkey = KDF(key, id, 8-byte context) (crypto_kdf_derive_from_key). */
void mv_kdf(uint8_t *out, size_t outlen, uint64_t id, const char ctx[8],
	    const uint8_t key[MV_KEY_LEN]);

/*
 * AEAD. seal writes mlen + MV_TAG_LEN bytes to c (c may equal m).
 * open returns MV_E_DECRYPT if the tag does not verify; m may equal c.
 */
void mv_aead_seal(uint8_t *c, const uint8_t *m, size_t mlen,
		  const uint8_t *ad, size_t adlen,
		  const uint8_t nonce[MV_NONCE_LEN], const uint8_t key[MV_KEY_LEN]);
enum mv_err mv_aead_open(uint8_t *m, const uint8_t *c, size_t clen,
			 const uint8_t *ad, size_t adlen,
			 const uint8_t nonce[MV_NONCE_LEN],
			 const uint8_t key[MV_KEY_LEN]);

/* Argon2id; MV_E_KDF_LIMIT if outside caps, MV_E_NOMEM if it cannot run. */
enum mv_err mv_argon2id(uint8_t *out, size_t outlen, const char *pass,
			size_t passlen, const uint8_t salt[MV_SALT_LEN],
			uint32_t ops, uint32_t mem_kib);

/* X25519 key pair from 32 random bytes of secret. */
void mv_x25519_public(uint8_t pk[MV_X25519_LEN], const uint8_t sk[MV_X25519_LEN]);
/* Sealed box to pk: out gets mlen + MV_SEAL_OVERHEAD bytes. */
enum mv_err mv_seal(uint8_t *out, const uint8_t *m, size_t mlen,
		    const uint8_t pk[MV_X25519_LEN]);
/*
 * Opens a sealed box.  MV_E_LOW_ORDER if the ephemeral key is of small
 * order, MV_E_KEY if it is not for this key pair.
 */
enum mv_err mv_seal_open(uint8_t *m, const uint8_t *c, size_t clen,
			 const uint8_t pk[MV_X25519_LEN],
			 const uint8_t sk[MV_X25519_LEN]);
/* 1 if the X25519 point is one of the known small-order points. */
int mv_x25519_small_order(const uint8_t p[MV_X25519_LEN]);

/* Ed25519 from a 32-byte seed; sk gets the 64-byte expanded key. */
void mv_ed25519_from_seed(uint8_t pk[MV_ED_PK_LEN], uint8_t sk[MV_ED_SK_LEN],
			  const uint8_t seed[MV_ED_SEED_LEN]);
void mv_ed25519_sign(uint8_t sig[MV_SIG_LEN], const void *m, size_t mlen,
		     const uint8_t sk[MV_ED_SK_LEN]);
/* 1 if valid. */
int mv_ed25519_verify(const uint8_t sig[MV_SIG_LEN], const void *m, size_t mlen,
		      const uint8_t pk[MV_ED_PK_LEN]);

/* Base64 (standard alphabet, padded) as used by signed notes. */
size_t mv_b64_encoded_len(size_t n);     /* including the NUL */
void mv_b64_encode(char *out, size_t outcap, const uint8_t *in, size_t n);
/* Returns decoded length or -1 when malformed or longer than outcap. */
long mv_b64_decode(uint8_t *out, size_t outcap, const char *in, size_t n);
void mv_hex(char *out, const uint8_t *in, size_t n);   /* out: 2n+1 */
/* Returns 0 on success, -1 if in is not exactly 2*outlen hex digits. */
int mv_unhex(uint8_t *out, size_t outlen, const char *in, size_t inlen);

#endif
