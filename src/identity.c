/* identity.c - identity files; see identity.h. */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "header.h"

static const char magic_line[] = "mbox-vault-identity-v1";
static const char id_ad[] = "mbox-vault identity v1";

void mv_identity_free(struct mv_identity *id)
{
	mv_secure_free(id);
}

static void complete(struct mv_identity *id)
{
	uint8_t sk[MV_ED_SK_LEN];

	mv_x25519_public(id->x_pk, id->x_sk);
	mv_ed25519_from_seed(id->ed_pk, sk, id->ed_seed);
	mv_wipe(sk, sizeof sk);
}

enum mv_err mv_identity_generate(struct mv_identity **out, struct mv_error *e)
{
	struct mv_identity *id = mv_secure_alloc(sizeof *id);

	if (!id)
		return mv_fail(e, MV_E_NOMEM, "out of secure memory");
	mv_random(id->x_sk, sizeof id->x_sk);
	mv_random(id->ed_seed, sizeof id->ed_seed);
	complete(id);
	*out = id;
	return MV_OK;
}

void mv_recipient_string(char out[MV_RECIPIENT_STRLEN + 1], const uint8_t pk[MV_X25519_LEN])
{
	memcpy(out, "mvr1", 4);
	mv_hex(out + 4, pk, MV_X25519_LEN);
}

int mv_recipient_parse(const char *s, uint8_t pk[MV_X25519_LEN])
{
	if (strlen(s) != MV_RECIPIENT_STRLEN || memcmp(s, "mvr1", 4) != 0)
		return -1;
	if (mv_unhex(pk, MV_X25519_LEN, s + 4, 64) != 0)
		return -1;
	return mv_x25519_small_order(pk) ? -1 : 0;
}

enum mv_err mv_identity_write(const struct mv_identity *id, const char *path,
			      const char *pass, size_t passlen, uint32_t ops,
			      uint32_t mem_kib, struct mv_error *e)
{
	uint8_t *plain = mv_secure_alloc(64), *key = mv_secure_alloc(MV_KEY_LEN);
	uint8_t blob[MV_NONCE_LEN + 64 + MV_TAG_LEN], salt[MV_SALT_LEN];
	char b64[256], salt64[64], rs[MV_RECIPIENT_STRLEN + 1], fp[65];
	char *text = NULL;
	size_t blen;
	int fd = -1, n;
	enum mv_err rc = MV_OK;

	if (!plain || !key) {
		rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
		goto out;
	}
	memcpy(plain, id->x_sk, 32);
	memcpy(plain + 32, id->ed_seed, 32);
	if (pass) {
		mv_random(salt, sizeof salt);
		rc = mv_argon2id(key, MV_KEY_LEN, pass, passlen, salt, ops, mem_kib);
		if (rc) {
			rc = mv_fail(e, rc, "cannot derive the identity key (Argon2id)");
			goto out;
		}
		mv_random(blob, MV_NONCE_LEN);
		mv_aead_seal(blob + MV_NONCE_LEN, plain, 64, (const uint8_t *)id_ad,
			     sizeof id_ad - 1, blob, key);
		blen = sizeof blob;
		mv_b64_encode(salt64, sizeof salt64, salt, sizeof salt);
	} else {
		memcpy(blob, plain, 64);
		blen = 64;
	}
	mv_b64_encode(b64, sizeof b64, blob, blen);
	mv_wipe(blob, sizeof blob);
	mv_recipient_string(rs, id->x_pk);
	mv_signer_fingerprint(fp, id->ed_pk);
	text = mv_secure_alloc(1024);
	if (!text) {
		rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
		goto out;
	}
	if (pass)
		n = snprintf(text, 1024, "%s\nrecipient: %s\nsigner: %s\nkdf: argon2id %u %u %s\nsecret: %s\n",
			     magic_line, rs, fp, ops, mem_kib, salt64, b64);
	else
		n = snprintf(text, 1024, "%s\nrecipient: %s\nsigner: %s\nsecret: %s\n",
			     magic_line, rs, fp, b64);
	mv_wipe(b64, sizeof b64);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = mv_fail(e, errno == EEXIST ? MV_E_EXISTS : MV_E_IO,
			     "cannot create '%s': %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot write '%s': %s", path, strerror(errno));
		unlink(path);
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	mv_secure_free(text);
	mv_secure_free(plain);
	mv_secure_free(key);
	return rc;
}

/* Reads the whole (small) file into secure memory. */
static enum mv_err slurp(const char *path, char **out, size_t *len, struct mv_error *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;

	if (fd < 0)
		return mv_fail(e, errno == ENOENT ? MV_E_NOTFOUND : MV_E_IO,
			       "cannot open identity '%s': %s", path, strerror(errno));
	buf = mv_secure_alloc(4096);
	if (!buf) {
		close(fd);
		return mv_fail(e, MV_E_NOMEM, "out of secure memory");
	}
	while ((n = read(fd, buf + got, 4095 - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (n < 0 || got >= 4095) {
		mv_secure_free(buf);
		return mv_fail(e, MV_E_PARSE, "identity '%s' is unreadable or too large", path);
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return MV_OK;
}

/* Finds "key: value" and returns value's start and length. */
static const char *field(const char *text, const char *key, size_t *vlen)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);

		if (ll > kl + 2 && memcmp(p, key, kl) == 0 && p[kl] == ':' && p[kl + 1] == ' ') {
			*vlen = ll - kl - 2;
			return p + kl + 2;
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

enum mv_err mv_identity_is_protected(const char *path, int *prot, struct mv_error *e)
{
	char *text = NULL;
	size_t len, vl;
	enum mv_err rc = slurp(path, &text, &len, e);

	if (rc)
		return rc;
	*prot = field(text, "kdf", &vl) != NULL;
	mv_secure_free(text);
	return MV_OK;
}

enum mv_err mv_identity_read(const char *path, const char *pass, size_t passlen,
			     struct mv_identity **out, struct mv_error *e)
{
	char *text = NULL;
	size_t len, vl, kl;
	const char *sec, *kdf;
	uint8_t *raw = mv_secure_alloc(256), *key = mv_secure_alloc(MV_KEY_LEN);
	struct mv_identity *id = mv_secure_alloc(sizeof *id);
	long rawlen;
	enum mv_err rc;

	if (!raw || !key || !id) {
		rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
		goto out;
	}
	if ((rc = slurp(path, &text, &len, e)))
		goto out;
	if (strncmp(text, magic_line, sizeof magic_line - 1) != 0 ||
	    text[sizeof magic_line - 1] != '\n' || !(sec = field(text, "secret", &vl))) {
		rc = mv_fail(e, MV_E_PARSE, "'%s' is not an mbox-vault identity", path);
		goto out;
	}
	rawlen = mv_b64_decode(raw, 256, sec, vl);
	kdf = field(text, "kdf", &kl);
	if (kdf) {
		unsigned ops, mem;
		char salt64[64];
		uint8_t salt[MV_SALT_LEN];

		if (kl >= sizeof salt64 + 32 ||
		    sscanf(kdf, "argon2id %u %u %63s", &ops, &mem, salt64) != 3 ||
		    mv_b64_decode(salt, sizeof salt, salt64, strlen(salt64)) != MV_SALT_LEN ||
		    rawlen != MV_NONCE_LEN + 64 + MV_TAG_LEN) {
			rc = mv_fail(e, MV_E_PARSE, "identity '%s' is malformed", path);
			goto out;
		}
		if (!pass) {
			rc = mv_fail(e, MV_E_KEY, "identity '%s' needs its passphrase", path);
			goto out;
		}
		rc = mv_argon2id(key, MV_KEY_LEN, pass, passlen, salt, ops, mem);
		if (rc) {
			rc = mv_fail(e, rc, "identity '%s': Argon2id parameters refused", path);
			goto out;
		}
		if (mv_aead_open(raw + MV_NONCE_LEN, raw + MV_NONCE_LEN,
				 64 + MV_TAG_LEN, (const uint8_t *)id_ad, sizeof id_ad - 1, raw,
				 key) != MV_OK) {
			rc = mv_fail(e, MV_E_KEY, "wrong passphrase for identity '%s'", path);
			goto out;
		}
		memmove(raw, raw + MV_NONCE_LEN, 64);
	} else if (rawlen != 64) {
		rc = mv_fail(e, MV_E_PARSE, "identity '%s' is malformed", path);
		goto out;
	}
	memcpy(id->x_sk, raw, 32);
	memcpy(id->ed_seed, raw + 32, 32);
	complete(id);
	*out = id;
	id = NULL;
out:
	mv_secure_free(text);
	mv_secure_free(raw);
	mv_secure_free(key);
	mv_secure_free(id);
	return rc;
}
