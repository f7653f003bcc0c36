/* blob.c - chunk sealing/opening and message decoding; see blob.h. */
#include "blob.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "frame.h"
#include "sha256.h"

static const char chunk_label[] = "mbox-vault/v1 chunk";
#define AD_LEN (sizeof chunk_label - 1 + 16 + 1 + 8 + 16 + 4 + 1 + 4)

static void chunk_ad(uint8_t ad[AD_LEN], const struct mv_chunk_ctx *c, uint64_t seq,
		     uint32_t index, int last, uint32_t plen)
{
	size_t o = sizeof chunk_label - 1;

	memcpy(ad, chunk_label, o);
	memcpy(ad + o, c->archive_id, 16);
	o += 16;
	ad[o++] = MV_R_CHUNK;
	mv_st64(ad + o, seq);
	o += 8;
	memcpy(ad + o, c->blob_id, 16);
	o += 16;
	mv_st32(ad + o, index);
	o += 4;
	ad[o++] = last ? 1 : 0;
	mv_st32(ad + o, plen);
}

void mv_chunk_seal(uint8_t *payload, const struct mv_chunk_ctx *c, uint64_t seq,
		   uint32_t index, int last, const uint8_t *plain, size_t plen)
{
	uint8_t nonce[MV_NONCE_LEN];

	mv_random(nonce, sizeof nonce);
	mv_chunk_seal_nonce(payload, c, seq, index, last, plain, plen, nonce);
}

void mv_chunk_seal_nonce(uint8_t *payload, const struct mv_chunk_ctx *c, uint64_t seq,
			 uint32_t index, int last, const uint8_t *plain, size_t plen,
			 const uint8_t nonce[MV_NONCE_LEN])
{
	uint8_t ad[AD_LEN];

	memcpy(payload, c->blob_id, 16);
	mv_st32(payload + 16, index);
	mv_st32(payload + 20, (uint32_t)plen);
	memcpy(payload + 24, c->commitment, 32);
	memcpy(payload + 56, nonce, MV_NONCE_LEN);
	chunk_ad(ad, c, seq, index, last, (uint32_t)plen);
	mv_aead_seal(payload + MV_CHUNK_HEAD, plain, plen, ad, sizeof ad,
		     payload + 56, c->mk);
}

enum mv_err mv_chunk_open(const struct mv_chunk_ctx *c, uint64_t seq, uint8_t flags,
			  const uint8_t *payload, size_t n, uint32_t index,
			  uint8_t *plain, size_t *plen, struct mv_error *e)
{
	uint8_t ad[AD_LEN];
	uint32_t p;
	int last = (flags & MV_RF_LAST) != 0;
	size_t full = (size_t)1 << c->chunk_log;

	if (n < MV_CHUNK_HEAD + MV_TAG_LEN)
		return mv_fail(e, MV_E_LENGTH, "chunk record is too short");
	if (memcmp(payload, c->blob_id, 16) != 0)
		return mv_fail(e, MV_E_CHUNK, "chunk belongs to another message");
	if (mv_ld32(payload + 16) != index)
		return mv_fail(e, MV_E_CHUNK, "chunk %u found where chunk %u belongs",
			       mv_ld32(payload + 16), index);
	p = mv_ld32(payload + 20);
	if (p > full || (!last && p != full))
		return mv_fail(e, MV_E_LENGTH, "chunk declares %u plaintext bytes", p);
	if (n != (size_t)MV_CHUNK_HEAD + p + MV_TAG_LEN)
		return mv_fail(e, MV_E_LENGTH,
			       "chunk record holds %zu bytes but declares %u plaintext bytes",
			       n, p);
	if (!mv_ct_eq(payload + 24, c->commitment, 32))
		return mv_fail(e, MV_E_COMMITMENT, "chunk's key commitment does not match");
	chunk_ad(ad, c, seq, index, last, p);
	if (mv_aead_open(plain, payload + MV_CHUNK_HEAD, (size_t)p + MV_TAG_LEN, ad,
			 sizeof ad, payload + 56, c->mk) != MV_OK)
		return mv_fail(e, MV_E_DECRYPT, "chunk does not authenticate");
	*plen = p;
	return MV_OK;
}

struct mv_blob_dec {
	struct mv_blobref b;
	struct mv_zd *zd;
	struct mv_hmac *h;
	mv_out_fn out;
	void *ctx;
	uint64_t in_stored;     /* stored-stream bytes consumed */
	uint64_t out_raw;       /* message bytes produced */
	int zdone;
};

/* Counts and hashes message bytes on their way to the caller. */
static enum mv_err sink(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct mv_blob_dec *d = ctx;

	if (n > d->b.raw_size - d->out_raw)
		return mv_fail(e, MV_E_LENGTH, "message decodes to more than its %llu bytes",
			       (unsigned long long)d->b.raw_size);
	d->out_raw += n;
	if (d->h)
		mv_hmac_update(d->h, p, n);
	return d->out ? d->out(d->ctx, p, n, e) : MV_OK;
}

struct mv_blob_dec *mv_blob_dec_new(const struct mv_blobref *b,
				    const uint8_t *content_key, mv_out_fn out,
				    void *ctx)
{
	struct mv_blob_dec *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->b = *b;
	d->out = out;
	d->ctx = ctx;
	if (b->comp == MV_COMP_ZSTD) {
		d->zd = mv_zd_new();
		if (!d->zd)
			goto fail;
		mv_zd_begin(d->zd);
	}
	if (content_key) {
		d->h = mv_hmac_new(content_key, MV_KEY_LEN);
		if (!d->h)
			goto fail;
	}
	return d;
fail:
	mv_blob_dec_free(d);
	return NULL;
}

enum mv_err mv_blob_dec_feed(struct mv_blob_dec *d, const uint8_t *p, size_t n,
			     struct mv_error *e)
{
	uint64_t data_left = d->b.stored_size - d->in_stored;
	size_t take = n < data_left ? n : (size_t)data_left;
	enum mv_err rc;

	if (take) {
		if (d->zd)
			rc = mv_zd_feed(d->zd, p, take, &d->zdone, sink, d, e);
		else
			rc = sink(d, p, take, e);
		if (rc)
			return rc;
		d->in_stored += take;
	}
	/* Whatever follows the stored data is padding and must be zero. */
	if (n > take && !mv_is_zero(p + take, n - take))
		return mv_fail(e, MV_E_LENGTH, "padding after the message is not zero");
	return MV_OK;
}

enum mv_err mv_blob_dec_end(struct mv_blob_dec *d, struct mv_error *e)
{
	uint8_t h[MV_HASH_LEN];

	if (d->in_stored != d->b.stored_size)
		return mv_fail(e, MV_E_LENGTH, "message data ends early");
	if (d->zd && !d->zdone)
		return mv_fail(e, MV_E_COMPRESS, "compressed message is cut short");
	if (d->out_raw != d->b.raw_size)
		return mv_fail(e, MV_E_LENGTH, "message decodes to %llu bytes, expected %llu",
			       (unsigned long long)d->out_raw,
			       (unsigned long long)d->b.raw_size);
	if (d->h) {
		mv_hmac_final(d->h, h);
		if (!mv_ct_eq(h, d->b.content_hash, MV_HASH_LEN))
			return mv_fail(e, MV_E_CONTENT,
				       "message bytes do not match their content hash");
	}
	return MV_OK;
}

void mv_blob_dec_free(struct mv_blob_dec *d)
{
	if (!d)
		return;
	mv_zd_free(d->zd);
	mv_hmac_free(d->h);
	free(d);
}
