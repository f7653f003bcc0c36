/* sha256.c - OpenSSL SHA-256; see sha256.h. */
#include "sha256.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

struct mv_sha256 {
	EVP_MD_CTX *ctx;
};

struct mv_sha256 *mv_sha256_new(void)
{
	struct mv_sha256 *h = OPENSSL_zalloc(sizeof *h);

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		mv_sha256_free(h);
		return NULL;
	}
	return h;
}

void mv_sha256_update(struct mv_sha256 *h, const void *p, size_t n)
{
	if (n)
		EVP_DigestUpdate(h->ctx, p, n);
}

void mv_sha256_final(struct mv_sha256 *h, uint8_t out[MV_SHA256_LEN])
{
	unsigned int len = MV_SHA256_LEN;

	EVP_DigestFinal_ex(h->ctx, out, &len);
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void mv_sha256_free(struct mv_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	OPENSSL_free(h);
}

/* A per-thread context and a fetched algorithm avoid an allocation and a
 * provider lookup per leaf hash (OpenSSL 3 looks the algorithm up again on
 * every EVP_sha256() init otherwise). */
static _Thread_local EVP_MD_CTX *ctx;
static _Thread_local EVP_MD *md;
static _Thread_local EVP_MAC_CTX *mctx;

void mv_sha256_thread_done(void)
{
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	EVP_MAC_CTX_free(mctx);
	ctx = NULL;
	md = NULL;
	mctx = NULL;
}

void mv_sha256_3(uint8_t out[MV_SHA256_LEN], const void *a, size_t alen,
		 const void *b, size_t blen, const void *c, size_t clen)
{
	unsigned int len = MV_SHA256_LEN;

	if (!ctx)
		ctx = EVP_MD_CTX_new();
	if (!md)
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_DigestInit_ex2(ctx, md, NULL);
	if (alen)
		EVP_DigestUpdate(ctx, a, alen);
	if (blen)
		EVP_DigestUpdate(ctx, b, blen);
	if (clen)
		EVP_DigestUpdate(ctx, c, clen);
	EVP_DigestFinal_ex(ctx, out, &len);
}

/* ---- HMAC-SHA-256 ---- */

struct mv_hmac {
	EVP_MAC_CTX *ctx;
};

/* A context for HMAC with SHA-256, not yet keyed; NULL on failure. */
static EVP_MAC_CTX *hmac_ctx(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];

	/* The context keeps its own reference to the algorithm. */
	EVP_MAC_free(mac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (c && EVP_MAC_CTX_set_params(c, params) != 1) {
		EVP_MAC_CTX_free(c);
		c = NULL;
	}
	return c;
}

struct mv_hmac *mv_hmac_new(const uint8_t *key, size_t klen)
{
	struct mv_hmac *h = OPENSSL_zalloc(sizeof *h);

	if (!h)
		return NULL;
	h->ctx = hmac_ctx();
	if (!h->ctx || EVP_MAC_init(h->ctx, key, klen, NULL) != 1) {
		mv_hmac_free(h);
		return NULL;
	}
	return h;
}

void mv_hmac_update(struct mv_hmac *h, const void *p, size_t n)
{
	if (n)
		EVP_MAC_update(h->ctx, p, n);
}

void mv_hmac_final(struct mv_hmac *h, uint8_t out[MV_SHA256_LEN])
{
	size_t len = 0;

	EVP_MAC_final(h->ctx, out, &len, MV_SHA256_LEN);
	/* A NULL key starts again under the key already set. */
	EVP_MAC_init(h->ctx, NULL, 0, NULL);
}

void mv_hmac_free(struct mv_hmac *h)
{
	if (!h)
		return;
	EVP_MAC_CTX_free(h->ctx);
	OPENSSL_free(h);
}

int mv_hmac_sha256(uint8_t out[MV_SHA256_LEN], const uint8_t *key, size_t klen,
		   const void *p, size_t n)
{
	size_t len = 0;

	if (!mctx)
		mctx = hmac_ctx();
	if (!mctx || EVP_MAC_init(mctx, key, klen, NULL) != 1 ||
	    (n && EVP_MAC_update(mctx, p, n) != 1) ||
	    EVP_MAC_final(mctx, out, &len, MV_SHA256_LEN) != 1 || len != MV_SHA256_LEN)
		return -1;
	return 0;
}
