/* sha256.c - OpenSSL SHA-256; see sha256.h. */
#include "sha256.h"

#include <openssl/evp.h>

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

void mv_sha256_thread_done(void)
{
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	ctx = NULL;
	md = NULL;
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
