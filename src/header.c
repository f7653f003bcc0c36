/* header.c - header record, stanzas, keys; see header.h, format-spec 3-4. */
#include "header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "sha256.h"

static const char stanza_ad_label[] = "mbox-vault/v1 stanza";

void mv_header_init(struct mv_header *h)
{
	memset(h, 0, sizeof *h);
	mv_buf_init(&h->payload, 65536);
}

void mv_header_release(struct mv_header *h)
{
	mv_buf_release(&h->payload);
	h->nstanzas = 0;
}

struct mv_keyring *mv_keyring_new(void)
{
	struct mv_keyring *kr = mv_secure_alloc(sizeof *kr);

	if (kr)
		memset(kr, 0, sizeof *kr);
	return kr;
}

void mv_keyring_free(struct mv_keyring *kr)
{
	mv_secure_free(kr);
}

static void derive(struct mv_keyring *kr)
{
	mv_kdf(kr->header_mac, MV_KEY_LEN, 1, "mvheader", kr->fk);
	mv_kdf(kr->stanza_mac, MV_KEY_LEN, 1, "mvstanza", kr->fk);
	mv_kdf(kr->content, MV_KEY_LEN, 1, "mvcontnt", kr->fk);
	mv_kdf(kr->msg_master, MV_KEY_LEN, 1, "mvmsgkey", kr->fk);
	mv_kdf(kr->index, MV_KEY_LEN, 1, "mvindex_", kr->fk);
}

void mv_message_key(uint8_t mk[MV_KEY_LEN], const struct mv_keyring *kr,
		    const uint8_t blob_id[16])
{
	static const char label[] = "mbox-vault/v1 message key";
	uint8_t in[sizeof label - 1 + 16];

	memcpy(in, label, sizeof label - 1);
	memcpy(in + sizeof label - 1, blob_id, 16);
	mv_blake2b(mk, MV_KEY_LEN, kr->msg_master, MV_KEY_LEN, in, sizeof in);
}

void mv_key_commitment(uint8_t out[MV_HASH_LEN], const uint8_t mk[MV_KEY_LEN],
		       const uint8_t archive_id[MV_ARCHIVE_ID_LEN],
		       const uint8_t blob_id[16])
{
	static const char label[] = "mbox-vault/v1 key commitment";
	uint8_t in[sizeof label - 1 + MV_ARCHIVE_ID_LEN + 16];

	memcpy(in, label, sizeof label - 1);
	memcpy(in + sizeof label - 1, archive_id, MV_ARCHIVE_ID_LEN);
	memcpy(in + sizeof label - 1 + MV_ARCHIVE_ID_LEN, blob_id, 16);
	mv_blake2b(out, MV_HASH_LEN, mk, MV_KEY_LEN, in, sizeof in);
}

void mv_signer_fingerprint(char out[65], const uint8_t pk[MV_ED_PK_LEN])
{
	uint8_t one = 0x01, d[MV_SHA256_LEN];

	mv_sha256_3(d, &one, 1, pk, MV_ED_PK_LEN, NULL, 0);
	mv_hex(out, d, sizeof d);
}

static size_t secret_len(uint8_t role)
{
	return role == MV_ROLE_OWNER ? 64 : 32;
}

/* Exact body length of a stanza (format-spec 4.2); 0 for unknown kinds. */
static size_t stanza_body_len(uint8_t kind, uint8_t role)
{
	if (role != MV_ROLE_OWNER && role != MV_ROLE_READER)
		return 0;
	if (kind == MV_STANZA_PASS)
		return 48 + secret_len(role) + MV_TAG_LEN;
	if (kind == MV_STANZA_X25519)
		return MV_SEAL_OVERHEAD + MV_ARCHIVE_ID_LEN + 1 + secret_len(role);
	return 0;
}

static void stanza_ad(uint8_t ad[sizeof stanza_ad_label - 1 + MV_ARCHIVE_ID_LEN + 2],
		      const uint8_t *archive_id, uint8_t kind, uint8_t role)
{
	size_t l = sizeof stanza_ad_label - 1;

	memcpy(ad, stanza_ad_label, l);
	memcpy(ad + l, archive_id, MV_ARCHIVE_ID_LEN);
	ad[l + MV_ARCHIVE_ID_LEN] = kind;
	ad[l + MV_ARCHIVE_ID_LEN + 1] = role;
}

/* Appends one stanza wrapping `secret` to out. */
static enum mv_err stanza_build(struct mv_buf *out, uint8_t kind, uint8_t role,
				const uint8_t *archive_id, const uint8_t *secret,
				const struct mv_creds *c, const uint8_t *recipient,
				uint32_t ops, uint32_t mem_kib, struct mv_error *e)
{
	size_t slen = secret_len(role), blen = stanza_body_len(kind, role);
	uint8_t *body, *wrapkey = NULL, *plain = NULL;
	uint8_t ad[sizeof stanza_ad_label - 1 + MV_ARCHIVE_ID_LEN + 2];
	enum mv_err rc = MV_OK;

	if (mv_buf_addc(out, kind) || mv_buf_addc(out, role) ||
	    mv_buf_add16(out, (uint16_t)blen) || mv_buf_grow(out, blen, &body))
		return mv_fail(e, MV_E_LIMIT, "header too large");
	if (kind == MV_STANZA_PASS) {
		wrapkey = mv_secure_alloc(MV_KEY_LEN);
		if (!wrapkey) {
			rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
			goto out;
		}
		mv_random(body, MV_SALT_LEN);
		mv_st32(body + 16, ops);
		mv_st32(body + 20, mem_kib);
		mv_random(body + 24, MV_NONCE_LEN);
		rc = mv_argon2id(wrapkey, MV_KEY_LEN, c->pass, c->passlen, body, ops,
				 mem_kib);
		if (rc) {
			rc = mv_fail(e, rc, "cannot derive the passphrase key (Argon2id)");
			goto out;
		}
		stanza_ad(ad, archive_id, kind, role);
		mv_aead_seal(body + 48, secret, slen, ad, sizeof ad, body + 24, wrapkey);
	} else {
		size_t plen = MV_ARCHIVE_ID_LEN + 1 + slen;

		plain = mv_secure_alloc(plen);
		if (!plain) {
			rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
			goto out;
		}
		memcpy(plain, archive_id, MV_ARCHIVE_ID_LEN);
		plain[MV_ARCHIVE_ID_LEN] = role;
		memcpy(plain + MV_ARCHIVE_ID_LEN + 1, secret, slen);
		rc = mv_seal(body, plain, plen, recipient);
		if (rc) {
			rc = mv_fail(e, rc, "recipient key is a small-order point");
			goto out;
		}
	}
out:
	mv_secure_free(wrapkey);
	mv_secure_free(plain);
	return rc;
}

enum mv_err mv_header_create(struct mv_header *h, const struct mv_create_opts *o,
			     const struct mv_creds *c, struct mv_keyring **krp,
			     struct mv_error *e)
{
	struct mv_keyring *kr = NULL;
	uint8_t *secret = NULL, *pk_scratch = NULL;
	uint32_t ops = o->argon_ops ? o->argon_ops : MV_ARGON_OPS_DEFAULT;
	uint32_t mem = o->argon_mem_kib ? o->argon_mem_kib : MV_ARGON_MEM_KIB_DEFAULT;
#ifdef MV_TEST_HOOKS
	/* Test builds may make archives with cheap passphrase stanzas, so the
	 * suite does not spend minutes in Argon2id. */
	const char *tk = getenv("MV_TEST_ARGON_KIB");

	if (tk && *tk && !o->argon_mem_kib) {
		mem = (uint32_t)strtoul(tk, NULL, 10);
		ops = 1;
	}
#endif
	unsigned chunk_log = o->chunk_log ? o->chunk_log : MV_CHUNK_LOG_DEFAULT;
	size_t nst = 0;
	uint8_t mac[MV_HASH_LEN];
	enum mv_err rc = MV_OK;
	struct mv_buf *p = &h->payload;
	uint8_t *count_at;

	if (!c->pass && !c->x_sk)
		return mv_fail(e, MV_E_USAGE, "a new archive needs a passphrase or an identity");
	if (chunk_log < MV_CHUNK_LOG_MIN || chunk_log > MV_CHUNK_LOG_MAX)
		return mv_fail(e, MV_E_USAGE, "chunk size exponent %u out of range", chunk_log);
	if (o->nrecipients + 2 > MV_MAX_STANZAS)
		return mv_fail(e, MV_E_LIMIT, "too many recipients");
	kr = mv_keyring_new();
	secret = mv_secure_alloc(64);
	if (!kr || !secret) {
		rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
		goto out;
	}
	mv_random(kr->fk, MV_KEY_LEN);
	if (c->ed_seed)
		memcpy(kr->ed_seed, c->ed_seed, MV_ED_SEED_LEN);
	else
		mv_random(kr->ed_seed, MV_ED_SEED_LEN);
	mv_ed25519_from_seed(h->owner_pk, kr->ed_sk, kr->ed_seed);
	kr->can_sign = 1;
	derive(kr);
	memcpy(secret, kr->fk, MV_KEY_LEN);
	memcpy(secret + MV_KEY_LEN, kr->ed_seed, MV_ED_SEED_LEN);

	h->chunk_log = chunk_log;
	mv_random(h->archive_id, MV_ARCHIVE_ID_LEN);
	h->created = o->now;
	mv_buf_reset(p);
	if (mv_buf_add16(p, 1) || mv_buf_add16(p, 0) || mv_buf_addc(p, (uint8_t)chunk_log) ||
	    mv_buf_add(p, "\0\0\0", 3) || mv_buf_add(p, h->archive_id, MV_ARCHIVE_ID_LEN) ||
	    mv_buf_add64(p, h->created) || mv_buf_add(p, h->owner_pk, MV_ED_PK_LEN) ||
	    mv_buf_grow(p, 2, &count_at)) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (c->pass) {
		rc = stanza_build(p, MV_STANZA_PASS, MV_ROLE_OWNER, h->archive_id, secret,
				  c, NULL, ops, mem, e);
		if (rc)
			goto out;
		nst++;
	}
	if (c->x_sk) {
		rc = stanza_build(p, MV_STANZA_X25519, MV_ROLE_OWNER, h->archive_id,
				  secret, c, c->x_pk, 0, 0, e);
		if (rc)
			goto out;
		nst++;
	}
	for (size_t i = 0; i < o->nrecipients; i++) {
		rc = stanza_build(p, MV_STANZA_X25519, MV_ROLE_READER, h->archive_id,
				  secret, c, o->recipients[i], 0, 0, e);
		if (rc)
			goto out;
		nst++;
	}
	mv_st16(p->data + 64, (uint16_t)nst);
	mv_blake2b(mac, sizeof mac, kr->header_mac, MV_KEY_LEN, p->data, p->len);
	if (mv_buf_add(p, mac, sizeof mac)) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	(void)count_at;
	/* Re-parse what we built so h->stanza[] points into the payload. */
	{
		struct mv_buf copy = *p;

		mv_buf_init(p, 65536);
		rc = mv_header_parse(h, copy.data, copy.len, e);
		mv_buf_release(&copy);
		if (rc)
			goto out;
	}
	*krp = kr;
	kr = NULL;
out:
	mv_keyring_free(kr);
	mv_secure_free(secret);
	mv_secure_free(pk_scratch);
	return rc;
}

/* Checks one stanza's structure without keys. */
static enum mv_err stanza_check(const struct mv_stanza *s, const char *where,
				struct mv_error *e)
{
	size_t want = stanza_body_len(s->kind, s->role);

	if (!want)
		return mv_fail(e, MV_E_STANZA, "%s: unknown stanza kind %u or role %u",
			       where, s->kind, s->role);
	if (s->len != want)
		return mv_fail(e, MV_E_STANZA, "%s: stanza body is %u bytes, expected %zu",
			       where, s->len, want);
	if (s->kind == MV_STANZA_PASS) {
		uint32_t ops = mv_ld32(s->body + 16), mem = mv_ld32(s->body + 20);

		if (ops < MV_ARGON_OPS_MIN || ops > MV_ARGON_OPS_MAX ||
		    mem < MV_ARGON_MEM_KIB_MIN || mem > MV_ARGON_MEM_KIB_MAX)
			return mv_fail(e, MV_E_KDF_LIMIT,
				       "%s: Argon2id parameters ops=%u mem=%u KiB are outside the allowed range",
				       where, ops, mem);
	} else if (mv_x25519_small_order(s->body)) {
		return mv_fail(e, MV_E_LOW_ORDER,
			       "%s: X25519 stanza uses a small-order ephemeral key", where);
	}
	return MV_OK;
}

enum mv_err mv_header_parse(struct mv_header *h, const uint8_t *p, size_t n,
			    struct mv_error *e)
{
	struct mv_rd r;
	uint16_t ver, feat, count;
	enum mv_err rc;

	mv_buf_reset(&h->payload);
	h->nstanzas = 0;
	if (mv_buf_add(&h->payload, p, n))
		return mv_fail(e, MV_E_LIMIT, "header is %zu bytes, too large", n);
	mv_rd_init(&r, h->payload.data, n);
	ver = mv_rd_u16(&r);
	feat = mv_rd_u16(&r);
	h->chunk_log = mv_rd_u8(&r);
	{
		const uint8_t *z = mv_rd_take(&r, 3);

		if (z && (z[0] | z[1] | z[2]))
			return mv_fail(e, MV_E_VERSION, "header reserved bytes are not zero");
	}
	mv_rd_copy(&r, h->archive_id, MV_ARCHIVE_ID_LEN);
	h->created = mv_rd_u64(&r);
	mv_rd_copy(&r, h->owner_pk, MV_ED_PK_LEN);
	count = mv_rd_u16(&r);
	if (r.bad)
		return mv_fail(e, MV_E_LENGTH, "header is truncated");
	if (ver != 1)
		return mv_fail(e, MV_E_VERSION, "format version %u is not supported", ver);
	if (feat != 0)
		return mv_fail(e, MV_E_VERSION, "feature flags 0x%x are not supported", feat);
	if (h->chunk_log < MV_CHUNK_LOG_MIN || h->chunk_log > MV_CHUNK_LOG_MAX)
		return mv_fail(e, MV_E_VERSION, "chunk size exponent %u is out of range",
			       h->chunk_log);
	if (count == 0 || count > MV_MAX_STANZAS)
		return mv_fail(e, MV_E_LIMIT, "header declares %u stanzas (1..%d allowed)",
			       count, MV_MAX_STANZAS);
	for (unsigned i = 0; i < count; i++) {
		struct mv_stanza *s = &h->stanza[i];
		char where[32];

		s->kind = mv_rd_u8(&r);
		s->role = mv_rd_u8(&r);
		s->len = mv_rd_u16(&r);
		s->body = mv_rd_take(&r, s->len);
		s->record_seq = 0;
		if (r.bad || mv_rd_left(&r) < MV_HASH_LEN)
			return mv_fail(e, MV_E_STANZA, "header stanza %u runs past the header",
				       i + 1);
		snprintf(where, sizeof where, "header stanza %u", i + 1);
		if ((rc = stanza_check(s, where, e)) != MV_OK)
			return rc;
		h->nstanzas++;
	}
	if (mv_rd_left(&r) != MV_HASH_LEN)
		return mv_fail(e, MV_E_LENGTH,
			       "header has %zu bytes after its stanzas, expected the 32-byte MAC",
			       mv_rd_left(&r));
	return MV_OK;
}

enum mv_err mv_header_add_stanza_record(struct mv_header *h, struct mv_buf *store,
					const uint8_t *p, size_t n, uint64_t seq,
					struct mv_error *e)
{
	struct mv_rd r;
	struct mv_stanza *s;
	char where[48];
	enum mv_err rc;
	uint8_t *copy;

	if (h->nstanzas >= MV_MAX_STANZAS + MV_MAX_GRANTS)
		return mv_fail(e, MV_E_LIMIT, "more than %d granted stanzas", MV_MAX_GRANTS);
	/* Each record's bytes are kept whole in its own allocation so the
	 * stanza pointers stay valid while more records are added. */
	copy = malloc(n ? n : 1);
	if (!copy)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	memcpy(copy, p, n);
	if (mv_buf_add(store, &copy, sizeof copy) != MV_OK) {
		free(copy);
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	mv_rd_init(&r, copy, n);
	s = &h->stanza[h->nstanzas];
	s->kind = mv_rd_u8(&r);
	s->role = mv_rd_u8(&r);
	s->len = mv_rd_u16(&r);
	s->body = mv_rd_take(&r, s->len);
	s->record_seq = seq;
	snprintf(where, sizeof where, "stanza record %llu", (unsigned long long)seq);
	if (r.bad || mv_rd_left(&r) != MV_HASH_LEN)
		return mv_fail(e, MV_E_LENGTH, "%s: length does not match its contents", where);
	if (s->role != MV_ROLE_READER)
		return mv_fail(e, MV_E_STANZA, "%s: only reader stanzas may be granted", where);
	if ((rc = stanza_check(s, where, e)) != MV_OK)
		return rc;
	h->nstanzas++;
	return MV_OK;
}

/* Frees the per-record copies kept by mv_header_add_stanza_record. */

void mv_stanza_store_release(struct mv_buf *store)
{
	for (size_t i = 0; i + sizeof(uint8_t *) <= store->len; i += sizeof(uint8_t *)) {
		uint8_t *q;

		memcpy(&q, store->data + i, sizeof q);
		free(q);
	}
	mv_buf_release(store);
}

static int header_mac_ok(const struct mv_header *h, const struct mv_keyring *kr)
{
	uint8_t mac[MV_HASH_LEN];
	size_t n = h->payload.len - MV_HASH_LEN;

	mv_blake2b(mac, sizeof mac, kr->header_mac, MV_KEY_LEN, h->payload.data, n);
	return mv_ct_eq(mac, h->payload.data + n, MV_HASH_LEN);
}

static int stanza_mac_ok(const struct mv_stanza *s, const struct mv_keyring *kr)
{
	uint8_t mac[MV_HASH_LEN], seq[8];
	uint8_t in[8 + 4 + 256];
	size_t slen = 4u + s->len;

	if (slen + 8 > sizeof in)
		return 0;
	mv_st64(seq, s->record_seq);
	memcpy(in, seq, 8);
	/* The stanza's 4-byte head sits just before its body. */
	memcpy(in + 8, s->body - 4, slen);
	mv_blake2b(mac, sizeof mac, kr->stanza_mac, MV_KEY_LEN, in, 8 + slen);
	return mv_ct_eq(mac, s->body + s->len, MV_HASH_LEN);
}

/* Tries to unwrap one stanza into secret[0..64); 1 on success. */
static enum mv_err stanza_open(const struct mv_header *h, const struct mv_stanza *s,
			       const struct mv_creds *c, uint8_t *secret,
			       struct mv_error *e)
{
	size_t slen = secret_len(s->role);
	enum mv_err rc = MV_E_KEY;
	uint8_t *wrapkey = NULL, *plain = NULL;
	uint8_t ad[sizeof stanza_ad_label - 1 + MV_ARCHIVE_ID_LEN + 2];

	if (s->kind == MV_STANZA_PASS && c->pass) {
		wrapkey = mv_secure_alloc(MV_KEY_LEN);
		if (!wrapkey)
			return mv_fail(e, MV_E_NOMEM, "out of secure memory");
		rc = mv_argon2id(wrapkey, MV_KEY_LEN, c->pass, c->passlen, s->body,
				 mv_ld32(s->body + 16), mv_ld32(s->body + 20));
		if (rc == MV_OK) {
			stanza_ad(ad, h->archive_id, s->kind, s->role);
			rc = mv_aead_open(secret, s->body + 48, slen + MV_TAG_LEN, ad,
					  sizeof ad, s->body + 24, wrapkey);
			if (rc)
				rc = MV_E_KEY;
		}
	} else if (s->kind == MV_STANZA_X25519 && c->x_sk) {
		size_t plen = MV_ARCHIVE_ID_LEN + 1 + slen;

		plain = mv_secure_alloc(plen);
		if (!plain)
			return mv_fail(e, MV_E_NOMEM, "out of secure memory");
		rc = mv_seal_open(plain, s->body, s->len, c->x_pk, c->x_sk);
		if (rc == MV_OK) {
			if (memcmp(plain, h->archive_id, MV_ARCHIVE_ID_LEN) != 0 ||
			    plain[MV_ARCHIVE_ID_LEN] != s->role)
				rc = MV_E_STANZA;
			else
				memcpy(secret, plain + MV_ARCHIVE_ID_LEN + 1, slen);
		}
	}
	mv_secure_free(wrapkey);
	mv_secure_free(plain);
	return rc;
}

enum mv_err mv_header_unlock(const struct mv_header *h, const struct mv_creds *c,
			     struct mv_keyring **krp, struct mv_error *e)
{
	struct mv_keyring *kr = mv_keyring_new();
	uint8_t *secret = mv_secure_alloc(64);
	enum mv_err rc = MV_E_KEY, why = MV_E_KEY;
	uint8_t pk[MV_ED_PK_LEN];

	if (!kr || !secret) {
		rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
		goto out;
	}
	/* Owner stanzas first, so a key that can sign is preferred. */
	for (int pass = 0; pass < 2 && rc != MV_OK; pass++) {
		for (size_t i = 0; i < h->nstanzas; i++) {
			const struct mv_stanza *s = &h->stanza[i];
			enum mv_err r;

			if ((pass == 0) != (s->role == MV_ROLE_OWNER))
				continue;
			r = stanza_open(h, s, c, secret, e);
			if (r == MV_E_NOMEM) {
				rc = r;
				goto out;
			}
			if (r != MV_OK) {
				if (r == MV_E_LOW_ORDER || r == MV_E_STANZA)
					why = r;
				continue;
			}
			memcpy(kr->fk, secret, MV_KEY_LEN);
			derive(kr);
			if (!header_mac_ok(h, kr) ||
			    (s->record_seq && !stanza_mac_ok(s, kr))) {
				why = MV_E_HEADER_MAC;
				continue;
			}
			if (s->role == MV_ROLE_OWNER) {
				memcpy(kr->ed_seed, secret + MV_KEY_LEN, MV_ED_SEED_LEN);
				mv_ed25519_from_seed(pk, kr->ed_sk, kr->ed_seed);
				if (memcmp(pk, h->owner_pk, MV_ED_PK_LEN) != 0) {
					why = MV_E_HEADER_MAC;
					continue;
				}
				kr->can_sign = 1;
			}
			rc = MV_OK;
			break;
		}
	}
	if (rc != MV_OK) {
		if (why == MV_E_HEADER_MAC)
			rc = mv_fail(e, why, "a key stanza opened, but the header MAC does not verify: the header was altered");
		else if (why == MV_E_LOW_ORDER)
			rc = mv_fail(e, why, "a key stanza uses a small-order X25519 point");
		else if (why == MV_E_STANZA)
			rc = mv_fail(e, why, "a key stanza belongs to another archive or role");
		else
			rc = mv_fail(e, MV_E_KEY, "no key stanza opens with the passphrase or identity given");
		goto out;
	}
	*krp = kr;
	kr = NULL;
out:
	mv_keyring_free(kr);
	mv_secure_free(secret);
	return rc;
}

enum mv_err mv_stanza_record_build(struct mv_buf *out, const struct mv_header *h,
				   const struct mv_keyring *kr, uint64_t seq,
				   const uint8_t recipient[MV_X25519_LEN],
				   struct mv_error *e)
{
	struct mv_creds none = { 0 };
	uint8_t mac[MV_HASH_LEN], sq[8];
	enum mv_err rc;
	struct mv_buf in;

	mv_buf_reset(out);
	rc = stanza_build(out, MV_STANZA_X25519, MV_ROLE_READER, h->archive_id, kr->fk,
			  &none, recipient, 0, 0, e);
	if (rc)
		return rc;
	mv_buf_init(&in, 4096);
	mv_st64(sq, seq);
	if (mv_buf_add(&in, sq, 8) || mv_buf_add(&in, out->data, out->len)) {
		mv_buf_release(&in);
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	mv_blake2b(mac, sizeof mac, kr->stanza_mac, MV_KEY_LEN, in.data, in.len);
	mv_buf_release(&in);
	if (mv_buf_add(out, mac, sizeof mac))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	return MV_OK;
}
