/* pushstate.c - push's record of its appends; see pushstate.h. */
#include "pushstate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"

#define MAGIC "MVPUSH1\n"
#define MAGIC_LEN 8
#define MAX_FILE (256u << 20)

struct rec {
	char *folder;
	uint32_t uidvalidity, uid;
	uint8_t hash[32];
};

struct mv_pushstate {
	char *path;
	uint8_t key[MV_KEY_LEN];
	uint8_t ad[MAGIC_LEN + 16];
	struct rec *r;
	size_t n, cap;
	int dirty;
	size_t nsorted;           /* r[0..nsorted) sorted by hash for lookups */
};

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = memcmp(x->hash, y->hash, 32);

	if (c)
		return c;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

void mv_pushstate_free(struct mv_pushstate *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->r[i].folder);
	free(s->r);
	free(s->path);
	mv_wipe(s->key, sizeof s->key);
	free(s);
}

static enum mv_err add(struct mv_pushstate *s, const char *folder, size_t flen,
		       uint32_t uv, uint32_t uid, const uint8_t hash[32], struct mv_error *e)
{
	struct rec *r;

	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 256;

		if (!(r = realloc(s->r, nc * sizeof *r)))
			return mv_fail(e, MV_E_NOMEM, "out of memory");
		s->r = r;
		s->cap = nc;
	}
	r = &s->r[s->n];
	if (!(r->folder = malloc(flen + 1)))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	memcpy(r->folder, folder, flen);
	r->folder[flen] = '\0';
	r->uidvalidity = uv;
	r->uid = uid;
	memcpy(r->hash, hash, 32);
	s->n++;
	return MV_OK;
}

/* Plaintext: records of u16 folder length, folder, u32 UIDVALIDITY,
 * u32 UID, 32-byte hash; little-endian. */
static enum mv_err parse(struct mv_pushstate *s, const uint8_t *p, size_t n,
			 struct mv_error *e)
{
	size_t o = 0;
	enum mv_err rc;

	while (o < n) {
		size_t fl;
		uint32_t uv, uid;

		if (n - o < 2)
			goto bad;
		fl = (size_t)p[o] | (size_t)p[o + 1] << 8;
		o += 2;
		if (n - o < fl + 40)
			goto bad;
		memcpy(&uv, p + o + fl, 4);
		memcpy(&uid, p + o + fl + 4, 4);
		if ((rc = add(s, (const char *)p + o, fl, uv, uid, p + o + fl + 8, e)))
			return rc;
		o += fl + 40;
	}
	return MV_OK;
bad:
	return mv_fail(e, MV_E_DECRYPT, "push record '%s' is malformed", s->path);
}

enum mv_err mv_pushstate_open(struct mv_pushstate **out, const char *path,
			      const uint8_t file_key[32], const uint8_t archive_id[16],
			      struct mv_error *e)
{
	struct mv_pushstate *s = calloc(1, sizeof *s);
	uint8_t *buf = NULL;
	struct stat st;
	enum mv_err rc = MV_OK;
	int fd = -1;

	*out = NULL;
	if (!s || !(s->path = strdup(path))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	mv_kdf(s->key, sizeof s->key, 1, "mvpushst", file_key);
	memcpy(s->ad, MAGIC, MAGIC_LEN);
	memcpy(s->ad + MAGIC_LEN, archive_id, 16);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		goto out;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot read push record '%s': %s", path, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size > MAX_FILE) {
		rc = mv_fail(e, MV_E_LIMIT, "push record '%s' is too large", path);
		goto out;
	}
	if ((size_t)st.st_size < MAGIC_LEN + MV_NONCE_LEN + MV_TAG_LEN) {
		rc = mv_fail(e, MV_E_DECRYPT, "push record '%s' is cut short", path);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
		rc = mv_fail(e, MV_E_IO, "cannot read push record '%s'", path);
		goto out;
	}
	if (memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
		rc = mv_fail(e, MV_E_DECRYPT, "'%s' is not a push record", path);
		goto out;
	}
	{
		size_t clen = (size_t)st.st_size - MAGIC_LEN - MV_NONCE_LEN;
		uint8_t *c = buf + MAGIC_LEN + MV_NONCE_LEN;

		if (mv_aead_open(c, c, clen, s->ad, sizeof s->ad, buf + MAGIC_LEN, s->key)) {
			rc = mv_fail(e, MV_E_DECRYPT, "push record '%s' does not open with this "
				     "archive's key", path);
			goto out;
		}
		rc = parse(s, c, clen - MV_TAG_LEN, e);
		mv_wipe(c, clen - MV_TAG_LEN);
	}
	if (rc == MV_OK && s->n) {
		qsort(s->r, s->n, sizeof *s->r, cmp_rec);
		s->nsorted = s->n;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (rc) {
		mv_pushstate_free(s);
		return rc;
	}
	*out = s;
	return MV_OK;
}

uint32_t mv_pushstate_find(struct mv_pushstate *s, const char *folder,
			   uint32_t uidvalidity, const uint8_t hash[32], unsigned k)
{
	size_t lo = 0, hi = s->nsorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(s->r[mid].hash, hash, 32) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->nsorted && memcmp(s->r[i].hash, hash, 32) == 0; i++)
		if (s->r[i].uidvalidity == uidvalidity && strcmp(s->r[i].folder, folder) == 0 &&
		    k-- == 0)
			return s->r[i].uid;
	return 0;
}

enum mv_err mv_pushstate_add(struct mv_pushstate *s, const char *folder,
			     uint32_t uidvalidity, uint32_t uid, const uint8_t hash[32],
			     struct mv_error *e)
{
	size_t fl = strlen(folder);

	if (fl > 65535)
		return mv_fail(e, MV_E_LIMIT, "folder name too long");
	s->dirty = 1;
	return add(s, folder, fl, uidvalidity, uid, hash, e);
}

enum mv_err mv_pushstate_save(struct mv_pushstate *s, struct mv_error *e)
{
	struct mv_buf b;
	char *tmp = NULL;
	uint8_t nonce[MV_NONCE_LEN];
	enum mv_err rc = MV_OK;
	int fd = -1;

	if (!s->dirty)
		return MV_OK;
	mv_buf_init(&b, MAX_FILE);
	for (size_t i = 0; i < s->n && rc == MV_OK; i++) {
		size_t fl = strlen(s->r[i].folder);

		if (mv_buf_add16(&b, (uint16_t)fl) || mv_buf_add(&b, s->r[i].folder, fl) ||
		    mv_buf_add(&b, &s->r[i].uidvalidity, 4) || mv_buf_add(&b, &s->r[i].uid, 4) ||
		    mv_buf_add(&b, s->r[i].hash, 32))
			rc = mv_fail(e, MV_E_LIMIT, "push record too large");
	}
	if (rc == MV_OK && mv_buf_reserve(&b, MV_TAG_LEN))
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
	if (rc)
		goto out;
	mv_random(nonce, sizeof nonce);
	mv_aead_seal(b.data, b.data, b.len, s->ad, sizeof s->ad, nonce, s->key);
	if (!(tmp = malloc(strlen(s->path) + 8))) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	sprintf(tmp, "%s.tmp", s->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 ||
	    write(fd, MAGIC, MAGIC_LEN) != MAGIC_LEN ||
	    write(fd, nonce, sizeof nonce) != (ssize_t)sizeof nonce ||
	    write(fd, b.data, b.len + MV_TAG_LEN) != (ssize_t)(b.len + MV_TAG_LEN) ||
	    fsync(fd) != 0 || close(fd) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot write push record '%s': %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, s->path) != 0) {
		rc = mv_fail(e, MV_E_IO, "cannot rename '%s': %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	s->dirty = 0;
out:
	if (b.data)
		mv_wipe(b.data, b.cap);
	mv_buf_release(&b);
	free(tmp);
	return rc;
}
