/* crypto.c - the only file that includes sodium.h; see crypto.h. */
#include "crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#ifdef MV_TEST_HOOKS
/*
 * Deterministic randomness for test builds: ChaCha20 keystream under a key
 * hashed from MV_TEST_SEED, with a counter nonce.  Never compiled into the
 * release binary.
 */
static uint8_t det_key[crypto_stream_chacha20_KEYBYTES];
static uint64_t det_ctr;

static const char *det_name(void) { return "mbox-vault-test-deterministic"; }

static uint32_t det_random(void)
{
	uint32_t v;
	uint8_t n[crypto_stream_chacha20_NONCEBYTES] = { 0 };

	memcpy(n, &det_ctr, sizeof det_ctr);
	det_ctr++;
	crypto_stream_chacha20((uint8_t *)&v, sizeof v, n, det_key);
	return v;
}

static void det_buf(void *const buf, const size_t size)
{
	uint8_t n[crypto_stream_chacha20_NONCEBYTES] = { 0 };

	memcpy(n, &det_ctr, sizeof det_ctr);
	det_ctr++;
	crypto_stream_chacha20(buf, size, n, det_key);
}

static randombytes_implementation det_impl = {
	.implementation_name = det_name,
	.random = det_random,
	.stir = NULL,
	.uniform = NULL,
	.buf = det_buf,
	.close = NULL,
};
#endif

enum mv_err mv_crypto_init(struct mv_error *e)
{
#ifdef MV_TEST_HOOKS
	const char *seed = getenv("MV_TEST_SEED");

	if (seed && *seed) {
		crypto_generichash(det_key, sizeof det_key,
				   (const unsigned char *)seed, strlen(seed),
				   NULL, 0);
		det_ctr = 0;
		randombytes_set_implementation(&det_impl);
	}
#endif
	if (sodium_init() < 0)
		return mv_fail(e, MV_E_INTERNAL, "cannot initialise libsodium");
	return MV_OK;
}

void mv_random(void *out, size_t n)
{
	randombytes_buf(out, n);
}

uint32_t mv_random_uniform(uint32_t upper)
{
	return randombytes_uniform(upper);
}

void *mv_secure_alloc(size_t n)
{
	return sodium_malloc(n);
}

void mv_secure_free(void *p)
{
	if (p)
		sodium_free(p);
}

void mv_wipe(void *p, size_t n)
{
	if (p && n)
		sodium_memzero(p, n);
}

int mv_ct_eq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

int mv_is_zero(const void *p, size_t n)
{
	return sodium_is_zero(p, n);
}

void mv_blake2b(uint8_t *out, size_t outlen, const uint8_t *key, size_t klen,
		const void *in, size_t inlen)
{
	crypto_generichash(out, outlen, in, inlen, klen ? key : NULL, klen);
}

struct mv_blake2b {
	crypto_generichash_state st;
};

struct mv_blake2b *mv_blake2b_new(const uint8_t *key, size_t klen)
{
	/* sodium_malloc: the state holds the keyed hash's key material. */
	struct mv_blake2b *h = sodium_malloc(sizeof *h);

	if (!h)
		return NULL;
	crypto_generichash_init(&h->st, klen ? key : NULL, klen, MV_HASH_LEN);
	return h;
}

void mv_blake2b_update(struct mv_blake2b *h, const void *in, size_t n)
{
	crypto_generichash_update(&h->st, in, n);
}

void mv_blake2b_final(struct mv_blake2b *h, uint8_t out[MV_HASH_LEN])
{
	crypto_generichash_final(&h->st, out, MV_HASH_LEN);
}

void mv_blake2b_free(struct mv_blake2b *h)
{
	if (h)
		sodium_free(h);
}

void mv_kdf(uint8_t *out, size_t outlen, uint64_t id, const char ctx[8],
	    const uint8_t key[MV_KEY_LEN])
{
	crypto_kdf_derive_from_key(out, outlen, id, ctx, key);
}

void mv_aead_seal(uint8_t *c, const uint8_t *m, size_t mlen,
		  const uint8_t *ad, size_t adlen,
		  const uint8_t nonce[MV_NONCE_LEN], const uint8_t key[MV_KEY_LEN])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(c, NULL, m, mlen, ad, adlen,
						   NULL, nonce, key);
}

enum mv_err mv_aead_open(uint8_t *m, const uint8_t *c, size_t clen,
			 const uint8_t *ad, size_t adlen,
			 const uint8_t nonce[MV_NONCE_LEN],
			 const uint8_t key[MV_KEY_LEN])
{
	if (clen < MV_TAG_LEN)
		return MV_E_DECRYPT;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(m, NULL, NULL, c, clen, ad,
						       adlen, nonce, key) != 0)
		return MV_E_DECRYPT;
	return MV_OK;
}

enum mv_err mv_argon2id(uint8_t *out, size_t outlen, const char *pass,
			size_t passlen, const uint8_t salt[MV_SALT_LEN],
			uint32_t ops, uint32_t mem_kib)
{
	if (ops < MV_ARGON_OPS_MIN || ops > MV_ARGON_OPS_MAX ||
	    mem_kib < MV_ARGON_MEM_KIB_MIN || mem_kib > MV_ARGON_MEM_KIB_MAX)
		return MV_E_KDF_LIMIT;
	if (crypto_pwhash(out, outlen, pass, passlen, salt, ops,
			  (size_t)mem_kib * 1024u, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return MV_E_NOMEM;
	return MV_OK;
}

void mv_x25519_public(uint8_t pk[MV_X25519_LEN], const uint8_t sk[MV_X25519_LEN])
{
	crypto_scalarmult_base(pk, sk);
}

enum mv_err mv_seal(uint8_t *out, const uint8_t *m, size_t mlen,
		    const uint8_t pk[MV_X25519_LEN])
{
	if (mv_x25519_small_order(pk))
		return MV_E_LOW_ORDER;
	if (crypto_box_seal(out, m, mlen, pk) != 0)
		return MV_E_LOW_ORDER;
	return MV_OK;
}

/*
 * The points of order 1, 2, 4 and 8 on Curve25519 and their non-canonical
 * encodings (the list libsodium itself uses in has_small_order()).  age
 * rejects them explicitly rather than relying on an all-zero shared secret
 * check; so do we, so the error can say why.
 */
static const uint8_t small_order[][32] = {
	{ 0 },
	{ 1 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	  0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	  0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
	  0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
	  0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

int mv_x25519_small_order(const uint8_t p[MV_X25519_LEN])
{
	uint8_t c[7] = { 0 };

	/* The top bit is ignored by X25519, so compare without it. */
	for (size_t j = 0; j < 31; j++)
		for (size_t i = 0; i < 7; i++)
			c[i] |= p[j] ^ small_order[i][j];
	for (size_t i = 0; i < 7; i++)
		c[i] |= (p[31] & 0x7f) ^ small_order[i][31];
	for (size_t i = 0; i < 7; i++)
		if (c[i] == 0)
			return 1;
	return 0;
}

enum mv_err mv_seal_open(uint8_t *m, const uint8_t *c, size_t clen,
			 const uint8_t pk[MV_X25519_LEN],
			 const uint8_t sk[MV_X25519_LEN])
{
	if (clen < MV_SEAL_OVERHEAD)
		return MV_E_STANZA;
	if (mv_x25519_small_order(c))
		return MV_E_LOW_ORDER;
	if (crypto_box_seal_open(m, c, clen, pk, sk) != 0)
		return MV_E_KEY;
	return MV_OK;
}

void mv_ed25519_from_seed(uint8_t pk[MV_ED_PK_LEN], uint8_t sk[MV_ED_SK_LEN],
			  const uint8_t seed[MV_ED_SEED_LEN])
{
	crypto_sign_seed_keypair(pk, sk, seed);
}

void mv_ed25519_sign(uint8_t sig[MV_SIG_LEN], const void *m, size_t mlen,
		     const uint8_t sk[MV_ED_SK_LEN])
{
	crypto_sign_detached(sig, NULL, m, mlen, sk);
}

int mv_ed25519_verify(const uint8_t sig[MV_SIG_LEN], const void *m, size_t mlen,
		      const uint8_t pk[MV_ED_PK_LEN])
{
	return crypto_sign_verify_detached(sig, m, mlen, pk) == 0;
}

size_t mv_b64_encoded_len(size_t n)
{
	return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
}

void mv_b64_encode(char *out, size_t outcap, const uint8_t *in, size_t n)
{
	sodium_bin2base64(out, outcap, in, n, sodium_base64_VARIANT_ORIGINAL);
}

long mv_b64_decode(uint8_t *out, size_t outcap, const char *in, size_t n)
{
	size_t got = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, outcap, in, n, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	if (end != in + n)
		return -1;
	return (long)got;
}

void mv_hex(char *out, const uint8_t *in, size_t n)
{
	sodium_bin2hex(out, 2 * n + 1, in, n);
}

int mv_unhex(uint8_t *out, size_t outlen, const char *in, size_t inlen)
{
	size_t got = 0;
	const char *end = NULL;

	if (inlen != 2 * outlen)
		return -1;
	if (sodium_hex2bin(out, outlen, in, inlen, NULL, &got, &end) != 0)
		return -1;
	return (got == outlen && end == in + inlen) ? 0 : -1;
}
