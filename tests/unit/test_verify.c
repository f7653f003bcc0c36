/*
 * test_verify.c - whole-archive verification and message inclusion proofs.
 *
 * Builds a small archive through the library (4 KiB chunks, five messages
 * including a multi-chunk and an empty one, two folders, versions of each
 * kind and a grant) and proves that: mv_verify accepts it with and
 * without keys; every flipped byte we try is reported (never MV_OK, never
 * a crash) and a damaged record is pinpointed by version, record and
 * offset; a torn tail is MV_E_TORN; an index entry that lies is named by
 * folder and UID; a proof checks for its message and fails for any other
 * bytes, any flipped byte in any line, and any other signer.
 *
 * Usage: test_verify [SEED-DIR]  (SEED-DIR: write fuzz_proof seeds there)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "header.h"
#include "index.h"
#include "msgmeta.h"
#include "proof.h"
#include "t.h"
#include "vault.h"
#include "verify.h"

#define NMSG 5

/* The message the fuzz target checks its inputs against (fuzz_proof.c). */
static const char fuzz_msg[] = "Subject: fuzz\r\n\r\nhello\r\n";

static char dir[] = "/tmp/mv-test-verify.XXXXXX";
static char path[512];

struct msg {
	uint8_t *p;
	size_t n;
	int compress, pad;
	struct mv_blobref ref;
};

static struct msg msgs[NMSG + 1];
static struct mv_blobref extra_ref;   /* stored in version 2 */
static char *pass;
static struct mv_creds creds;
static uint8_t reader_sk[MV_X25519_LEN], reader_pk[MV_X25519_LEN];

static void make_messages(void)
{
	uint32_t x = 12345;

	/* 0: tiny, stored raw (under 64 bytes). */
	msgs[0].n = sizeof fuzz_msg - 1;
	msgs[0].p = malloc(msgs[0].n);
	memcpy(msgs[0].p, fuzz_msg, msgs[0].n);
	msgs[0].compress = 1;
	msgs[0].pad = 1;
	/* 1: 20000 incompressible bytes: several 4 KiB chunks. */
	msgs[1].n = 20000;
	msgs[1].p = malloc(msgs[1].n);
	for (size_t i = 0; i < msgs[1].n; i++) {
		x = x * 1103515245u + 12345u;
		msgs[1].p[i] = (uint8_t)(x >> 16);
	}
	msgs[1].compress = 1;
	msgs[1].pad = 1;
	/* 2: empty. */
	msgs[2].n = 0;
	msgs[2].p = malloc(1);
	msgs[2].compress = 1;
	msgs[2].pad = 1;
	/* 3: compressible text, 9000 bytes. */
	msgs[3].n = 9000;
	msgs[3].p = malloc(msgs[3].n);
	for (size_t i = 0; i < msgs[3].n; i++)
		msgs[3].p[i] = (uint8_t)("Received: from a.example by b.example\r\n"[i % 39]);
	msgs[3].compress = 1;
	msgs[3].pad = 1;
	/* 4: 5000 bytes stored raw, unpadded (two chunks, the last short). */
	msgs[4].n = 5000;
	msgs[4].p = malloc(msgs[4].n);
	for (size_t i = 0; i < msgs[4].n; i++)
		msgs[4].p[i] = (uint8_t)('a' + i % 26);
	msgs[4].compress = 0;
	msgs[4].pad = 0;
	/* 5: written in version 2 only. */
	msgs[5].n = 777;
	msgs[5].p = malloc(msgs[5].n);
	for (size_t i = 0; i < msgs[5].n; i++)
		msgs[5].p[i] = (uint8_t)(i * 7);
	msgs[5].compress = 1;
	msgs[5].pad = 1;
}

static int store(struct mv_writer *w, struct msg *m, struct mv_blobref *out)
{
	struct mv_error e;
	size_t at = 0;

	mv_error_clear(&e);
	if (mv_writer_blob_begin(w, m->n, m->compress, m->pad, &e))
		goto fail;
	/* Feed in uneven pieces. */
	while (at < m->n) {
		size_t k = m->n - at < 1000 ? m->n - at : 1000;

		if (mv_writer_blob_feed(w, m->p + at, k, &e))
			goto fail;
		at += k;
	}
	if (mv_writer_blob_end(w, out, &e))
		goto fail;
	return 0;
fail:
	printf("# store: %s\n", e.msg);
	return -1;
}

static void add_entry(struct mv_folder *f, uint32_t uid, uint32_t flags, const char *date,
		      const struct mv_blobref *ref, int kw)
{
	struct mv_entry *en = mv_folder_add_entry(f);

	en->uid = uid;
	en->flags = flags;
	snprintf(en->date, sizeof en->date, "%s", date);
	en->blob = *ref;
	if (kw) {
		en->kw = calloc(2, sizeof *en->kw);
		en->kw[0] = strdup("$Important");
		en->kw[1] = strdup("work");
		en->nkw = 2;
	}
	en->srcmeta = strdup("1234567.M1P1.host");
	en->srcmeta_len = (uint16_t)strlen(en->srcmeta);
}

/* Index of version n: INBOX and a second folder, referencing blobs. */
static void make_index(struct mv_index *ix, int version)
{
	struct mv_folder *f;

	mv_index_init(ix);
	ix->source = strdup("maildir:/srv/mail/test");
	ix->info = strdup("messages=5\n");
	f = mv_index_add_folder(ix, "INBOX", 5, '/');
	f->uidvalidity = 1700000000;
	f->uidnext = 100;
	add_entry(f, 3, MV_FLAG_SEEN, "17-Jul-1996 02:44:25 -0700", &msgs[0].ref, 0);
	add_entry(f, 17, MV_FLAG_SEEN | MV_FLAG_FLAGGED, "01-Jan-2024 10:00:00 +0000",
		  &msgs[1].ref, 1);
	add_entry(f, 18, 0, "02-Jan-2024 10:00:00 +0000", &msgs[2].ref, 0);
	if (version >= 2)
		add_entry(f, 19, 0, "03-Jan-2024 10:00:00 +0000", &extra_ref, 0);
	f = mv_index_add_folder(ix, "Archive/&AOk-t&AOk-", 19, '/');
	f->uidvalidity = 42;
	f->uidnext = 10;
	add_entry(f, 1, MV_FLAG_ANSWERED, "05-Feb-2023 08:30:00 +0100", &msgs[3].ref, 0);
	add_entry(f, 2, 0, "06-Feb-2023 08:30:00 +0100", &msgs[4].ref, 0);
	/* The same message in two folders: stored once. */
	add_entry(f, 3, 0, "07-Feb-2023 08:30:00 +0100", &msgs[1].ref, 0);
}

/* Creates the archive: v1 complete, v2 partial, v3 complete, v4 grant. */
static int build_archive(void)
{
	struct mv_create_opts o;
	struct mv_vault *v = NULL;
	struct mv_writer *w = NULL;
	struct mv_index ix;
	struct mv_error e;
	int rc = -1;

	memset(&o, 0, sizeof o);
	o.chunk_log = 12;
	o.argon_ops = 1;
	o.argon_mem_kib = 8192;
	o.now = mv_now();
	mv_error_clear(&e);
	mv_index_init(&ix);
	if (mv_vault_create(&v, path, &o, &creds, &e) || mv_writer_begin(v, &w, &e))
		goto out;
	for (int i = 0; i < NMSG; i++)
		if (store(w, &msgs[i], &msgs[i].ref))
			goto out;
	make_index(&ix, 1);
	if (mv_writer_commit(w, &ix, MV_COMMIT_COMPLETE, &e))
		goto out;
	mv_index_release(&ix);
	if (store(w, &msgs[5], &extra_ref))
		goto out;
	make_index(&ix, 2);
	if (mv_writer_commit(w, &ix, MV_COMMIT_PARTIAL, &e))
		goto out;
	mv_index_release(&ix);
	make_index(&ix, 3);
	if (mv_writer_commit(w, &ix, MV_COMMIT_COMPLETE, &e))
		goto out;
	mv_index_release(&ix);
	if (mv_writer_grant(w, reader_pk, &e))
		goto out;
	rc = 0;
out:
	if (rc)
		printf("# build_archive: %s\n", e.msg);
	mv_index_release(&ix);
	mv_writer_free(w);
	mv_vault_free(v);
	return rc;
}

static uint8_t *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	uint8_t *b;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)len + 1);
	if (fread(b, 1, (size_t)len, f) != (size_t)len) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*n = (size_t)len;
	return b;
}

static int spit(const char *p, const void *b, size_t n)
{
	FILE *f = fopen(p, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(b, 1, n, f) == n;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Opens keyless (or with creds) and verifies; returns the code. */
static enum mv_err verify_file(const char *p, const struct mv_creds *c, const char *signer,
			       struct mv_verify_report *r, struct mv_error *e)
{
	struct mv_vault *v = NULL;
	struct mv_verify_report dummy;
	enum mv_err rc;

	mv_error_clear(e);
	if (!r)
		r = &dummy;
	rc = mv_vault_open(&v, p, 0, e);
	if (rc == MV_OK && c)
		rc = mv_vault_unlock(v, c, e);
	if (rc == MV_OK)
		rc = mv_verify(v, signer, r, e);
	mv_vault_free(v);
	return rc;
}

static void test_verify_ok(void)
{
	struct mv_verify_report r;
	struct mv_error e;
	struct mv_creds rc_reader;
	struct mv_vault *v = NULL;
	char fp[65], upper[65], wrong[65];

	T_CHECK("keyless verify passes", verify_file(path, NULL, NULL, &r, &e) == MV_OK);
	if (e.code)
		printf("# %s\n", e.msg);
	T_CHECK("keyless verify counts 4 versions", r.commits == 4 && r.complete == 2 &&
		r.partial == 1 && r.grants == 1);
	T_CHECK("keyless verify does not decrypt", r.keyed == 0 && r.blobs_checked == 0);
	T_CHECK("keyless verify counts chunks and records", r.chunks >= 9 && r.records > r.chunks);
	T_CHECK("report has no torn tail", r.torn == 0);

	T_CHECK("keyed verify passes", verify_file(path, &creds, NULL, &r, &e) == MV_OK);
	if (e.code)
		printf("# %s\n", e.msg);
	T_CHECK("keyed verify decrypts each stored message once",
		r.keyed == 1 && r.blobs_checked == NMSG + 1);
	/* v1: 6 entries, v2 and v3: 7 each; the grant shares v3's index. */
	T_CHECK("keyed verify checks every entry of every index", r.messages_checked == 20);
	T_CHECK("keyed verify counts message bytes",
		r.bytes == 20000 + sizeof fuzz_msg - 1 + 9000 + 5000 + 777);

	memset(&rc_reader, 0, sizeof rc_reader);
	rc_reader.x_sk = reader_sk;
	rc_reader.x_pk = reader_pk;
	T_CHECK("a granted reader can verify with keys",
		verify_file(path, &rc_reader, NULL, &r, &e) == MV_OK && r.keyed == 1);
	if (e.code)
		printf("# %s\n", e.msg);

	mv_error_clear(&e);
	if (mv_vault_open(&v, path, 0, &e) == MV_OK) {
		mv_signer_fingerprint(fp, v->h.owner_pk);
		mv_vault_free(v);
	} else {
		fp[0] = '\0';
	}
	for (int i = 0; i < 64; i++)
		upper[i] = (fp[i] >= 'a' && fp[i] <= 'f') ? (char)(fp[i] - 32) : fp[i];
	upper[64] = '\0';
	memcpy(wrong, fp, sizeof wrong);
	wrong[10] = wrong[10] == '0' ? '1' : '0';
	T_CHECK("verify accepts the owner's fingerprint",
		verify_file(path, NULL, fp, &r, &e) == MV_OK && strcmp(r.signer, fp) == 0);
	T_CHECK("verify accepts the fingerprint in upper case",
		verify_file(path, NULL, upper, &r, &e) == MV_OK);
	T_CHECK("verify refuses another signer",
		verify_file(path, NULL, wrong, &r, &e) == MV_E_SIGNER);
	T_CHECK("verify refuses a malformed fingerprint",
		verify_file(path, NULL, "abc", &r, &e) == MV_E_USAGE);
}

/* Offsets of every record (walking frames; the test trusts its own file). */
static size_t record_offsets(const uint8_t *b, size_t n, uint64_t *off, size_t max)
{
	size_t k = 0;
	uint64_t o = 8;

	while (o + 48 <= n && k < max) {
		uint32_t len = (uint32_t)b[o + 4] | (uint32_t)b[o + 5] << 8 |
			       (uint32_t)b[o + 6] << 16 | (uint32_t)b[o + 7] << 24;

		off[k++] = o;
		o += 48 + (uint64_t)len;
	}
	return k;
}

static void test_flips(void)
{
	size_t n, nrec, fails = 0, torn = 0, tried = 0;
	uint8_t *b = slurp(path, &n);
	char fp[512];
	uint64_t offs[4096], hdr_end, last_off;
	int fd;

	snprintf(fp, sizeof fp, "%s/flip.mvault", dir);
	if (!b || spit(fp, b, n) != 0 || (fd = open(fp, O_RDWR)) < 0) {
		T_CHECK("flip test setup", 0);
		free(b);
		return;
	}
	nrec = record_offsets(b, n, offs, 4096);
	hdr_end = nrec > 1 ? offs[1] : n;
	last_off = offs[nrec - 1];
	for (size_t i = 0; i < n; i++) {
		struct mv_error e;
		enum mv_err rc;
		uint8_t x;
		int pick = (i < hdr_end) || (i >= last_off) ||
			   (i % (n / 300 + 1) == 0);

		if (!pick)
			continue;
		tried++;
		x = b[i] ^ (uint8_t)(1u << (i % 8));
		if (pwrite(fd, &x, 1, (off_t)i) != 1)
			break;
		rc = verify_file(fp, NULL, NULL, NULL, &e);
		if (rc == MV_OK) {
			fails++;
			if (fails < 5)
				printf("# flipping byte %zu went unnoticed\n", i);
		}
		/* A damaged length field in the last record's frame makes a
		 * whole record look like a torn write of a longer one: the
		 * two cannot be told apart, and MV_E_TORN is not MV_OK. */
		if (rc == MV_E_TORN) {
			torn++;
			T_ASSERT("only the last record's length field reads as torn",
				 i >= last_off + 4 && i < last_off + 8);
		}
		if (pwrite(fd, &b[i], 1, (off_t)i) != 1)
			break;
	}
	close(fd);
	printf("# flipped %zu bytes (%zu reported as torn)\n", tried, torn);
	T_CHECK("every flipped byte is reported", fails == 0 && tried > 300);
	free(b);
}

/* A damaged chunk of version 2 is pinpointed. */
static void test_pinpoint(void)
{
	size_t n;
	uint8_t *b = slurp(path, &n);
	char fp[512], want[128];
	struct mv_error e;
	uint64_t at = extra_ref.first_off + 16 + 90;

	snprintf(fp, sizeof fp, "%s/pin.mvault", dir);
	if (!b || at >= n) {
		T_CHECK("pinpoint setup", 0);
		free(b);
		return;
	}
	b[at] ^= 0x40;
	spit(fp, b, n);
	T_CHECK("a damaged chunk is a record-hash error",
		verify_file(fp, NULL, NULL, NULL, &e) == MV_E_RECORD_HASH);
	printf("# %s\n", e.msg);
	T_CHECK("the error names version 2", e.version == 2);
	T_CHECK("the error names the record", e.record == (int64_t)extra_ref.first_seq);
	T_CHECK("the error names the offset", e.offset == (int64_t)extra_ref.first_off);
	snprintf(want, sizeof want, "version 2, record %llu (chunk) at offset %llu: ",
		 (unsigned long long)extra_ref.first_seq,
		 (unsigned long long)extra_ref.first_off);
	T_CHECK("the message names version, record and offset", strstr(e.msg, want) != NULL);
	free(b);
}

static void test_torn(void)
{
	size_t n;
	uint8_t *b = slurp(path, &n);
	char fp[512];
	struct mv_error e;
	struct mv_verify_report r;

	snprintf(fp, sizeof fp, "%s/torn.mvault", dir);
	if (!b) {
		T_CHECK("torn setup", 0);
		return;
	}
	b = realloc(b, n + 30);
	/* A strict prefix of a record: a frame header of a CHUNK, cut. */
	memset(b + n, 0, 30);
	b[n] = 2;
	b[n + 4] = 0x10;
	spit(fp, b, n + 30);
	T_CHECK("a torn tail is MV_E_TORN", verify_file(fp, NULL, NULL, &r, &e) == MV_E_TORN);
	T_CHECK("the torn message says how much and after which version",
		strstr(e.msg, "recoverable: 30 bytes after version 4") != NULL);
	T_CHECK("the report is filled for a torn tail", r.commits == 4 && r.torn == 30);
	free(b);
}

/* An archive whose index lies about one message: the keyed pass names it. */
static void test_keyed_lie(void)
{
	char p2[512];
	struct mv_create_opts o;
	struct mv_vault *v = NULL;
	struct mv_writer *w = NULL;
	struct mv_index ix;
	struct mv_folder *f;
	struct mv_blobref good, bad;
	struct mv_error e;
	int ok = 0;

	snprintf(p2, sizeof p2, "%s/lie.mvault", dir);
	memset(&o, 0, sizeof o);
	o.chunk_log = 12;
	o.argon_ops = 1;
	o.argon_mem_kib = 8192;
	mv_error_clear(&e);
	mv_index_init(&ix);
	if (mv_vault_create(&v, p2, &o, &creds, &e) || mv_writer_begin(v, &w, &e) ||
	    store(w, &msgs[3], &good))
		goto out;
	if (store(w, &msgs[4], &bad))
		goto out;
	bad.content_hash[0] ^= 1;
	ix.source = strdup("test");
	ix.info = strdup("");
	f = mv_index_add_folder(&ix, "INBOX", 5, '/');
	add_entry(f, 7, 0, "", &good, 0);
	f = mv_index_add_folder(&ix, "Lies", 4, '/');
	add_entry(f, 41, 0, "", &bad, 0);
	if (mv_writer_commit(w, &ix, MV_COMMIT_COMPLETE, &e))
		goto out;
	ok = 1;
out:
	if (!ok)
		printf("# %s\n", e.msg);
	mv_index_release(&ix);
	mv_writer_free(w);
	mv_vault_free(v);
	T_CHECK("lying archive built", ok);
	T_CHECK("a lying index passes keyless", verify_file(p2, NULL, NULL, NULL, &e) == MV_OK);
	T_CHECK("a lying index fails keyed",
		verify_file(p2, &creds, NULL, NULL, &e) == MV_E_CONTENT);
	printf("# %s\n", e.msg);
	T_CHECK("the keyed error names version, folder and UID",
		e.version == 1 && strstr(e.msg, "version 1, folder 'Lies' UID 41") != NULL &&
		e.record == (int64_t)bad.first_seq && e.offset == (int64_t)bad.first_off);

	/* A reference to a blob whose first chunk offset is wrong. */
	unlink(p2);
	mv_index_init(&ix);
	v = NULL;
	w = NULL;
	ok = 0;
	mv_error_clear(&e);
	if (mv_vault_create(&v, p2, &o, &creds, &e) || mv_writer_begin(v, &w, &e) ||
	    store(w, &msgs[1], &good))
		goto out2;
	bad = good;
	bad.first_off += 48 + 96 + 4096;
	bad.first_seq += 1;
	ix.source = strdup("test");
	ix.info = strdup("");
	f = mv_index_add_folder(&ix, "INBOX", 5, '/');
	add_entry(f, 9, 0, "", &bad, 0);
	if (mv_writer_commit(w, &ix, MV_COMMIT_COMPLETE, &e))
		goto out2;
	ok = 1;
out2:
	mv_index_release(&ix);
	mv_writer_free(w);
	mv_vault_free(v);
	T_CHECK("shifted-reference archive built", ok);
	T_CHECK("a reference into the middle of a message fails keyed",
		verify_file(p2, &creds, NULL, NULL, &e) != MV_OK);
	printf("# %s\n", e.msg);
}

/* A file with a header and no commit has nothing to verify. */
static void test_empty(void)
{
	char p2[512];
	struct mv_create_opts o;
	struct mv_vault *v = NULL;
	struct mv_error e;
	struct mv_verify_report r;

	snprintf(p2, sizeof p2, "%s/empty.mvault", dir);
	memset(&o, 0, sizeof o);
	o.argon_ops = 1;
	o.argon_mem_kib = 8192;
	mv_error_clear(&e);
	T_CHECK("header-only archive created", mv_vault_create(&v, p2, &o, &creds, &e) == MV_OK);
	mv_vault_free(v);
	T_CHECK("an archive without a commit is MV_E_EMPTY",
		verify_file(p2, NULL, NULL, &r, &e) == MV_E_EMPTY);
}

/* ---- proofs ---- */

static int find_entry(const struct mv_index *ix, const char *folder, uint32_t uid,
		      size_t *fno, size_t *eno)
{
	for (size_t i = 0; i < ix->nf; i++) {
		if (strcmp(ix->f[i].name, folder) != 0)
			continue;
		for (size_t j = 0; j < ix->f[i].n; j++)
			if (ix->f[i].e[j].uid == uid) {
				*fno = i;
				*eno = j;
				return 0;
			}
	}
	return -1;
}

/* Builds the proof for (version, folder, uid) into out. */
static int build_proof(uint32_t version, const char *folder, uint32_t uid, struct mv_buf *out,
		       char fp[65])
{
	struct mv_vault *v = NULL;
	struct mv_commit_info *cs = NULL;
	struct mv_index ix;
	struct mv_error e;
	size_t nc = 0, fno = 0, eno = 0;
	int rc = -1;

	mv_error_clear(&e);
	mv_index_init(&ix);
	if (mv_vault_open(&v, path, 0, &e) || mv_vault_unlock(v, &creds, &e) ||
	    mv_vault_commits(v, &cs, &nc, &e) || version == 0 || version > nc ||
	    mv_vault_load_index(v, &cs[version - 1], NULL, &ix, &e) ||
	    find_entry(&ix, folder, uid, &fno, &eno) ||
	    mv_proof_build(v, &cs[version - 1], &ix, fno, eno, out, &e))
		goto out;
	mv_signer_fingerprint(fp, v->h.owner_pk);
	rc = 0;
out:
	if (rc)
		printf("# build_proof: %s\n", e.msg);
	mv_index_release(&ix);
	free(cs);
	mv_vault_free(v);
	return rc;
}

static enum mv_err check(const struct mv_buf *pf, const struct msg *m, const char *fp,
			 struct mv_proof_result *r, struct mv_error *e)
{
	struct mv_proof_result dummy;

	mv_error_clear(e);
	return mv_proof_check((const char *)pf->data, pf->len, m->p, m->n, fp, r ? r : &dummy,
			      e);
}

/* Flips the first, middle and last byte of every non-empty line. */
static void flip_lines(const struct mv_buf *pf, const struct msg *m, const char *fp,
		       const char *what)
{
	struct mv_buf c;
	size_t start = 0, lines = 0, passed = 0;
	char name[128];

	mv_buf_init(&c, pf->len + 1);
	mv_buf_add(&c, pf->data, pf->len);
	while (start < pf->len) {
		const uint8_t *nl = memchr(pf->data + start, '\n', pf->len - start);
		size_t end = nl ? (size_t)(nl - pf->data) : pf->len;
		size_t at[3];

		if (end > start) {
			at[0] = start;
			at[1] = start + (end - start) / 2;
			at[2] = end - 1;
			lines++;
			for (int k = 0; k < 3; k++) {
				struct mv_error e;

				c.data[at[k]] ^= 0x01;
				if (check(&c, m, fp, NULL, &e) == MV_OK) {
					passed++;
					printf("# %s: flipping byte %zu of line %zu passed: %.40s\n",
					       what, at[k] - start, lines,
					       (const char *)pf->data + start);
				}
				c.data[at[k]] ^= 0x01;
			}
		}
		start = end + 1;
	}
	snprintf(name, sizeof name, "%s: a flipped byte in any proof line fails (%zu lines)",
		 what, lines);
	T_CHECK(name, passed == 0 && lines >= 12);
	mv_buf_release(&c);
}

static void write_seed(const char *seeddir, const char *name, const void *p, size_t n)
{
	char fp[1024];

	snprintf(fp, sizeof fp, "%s/%s", seeddir, name);
	if (spit(fp, p, n) != 0)
		printf("# cannot write %s\n", fp);
}

static void test_proofs(const char *seeddir)
{
	struct mv_buf pf;
	struct mv_proof_result r;
	struct mv_error e;
	char fp[65], wrong[65];
	struct msg other;

	mv_buf_init(&pf, 1u << 26);

	/* The multi-chunk message, folder INBOX UID 17, in version 3. */
	T_CHECK("proof builds", build_proof(3, "INBOX", 17, &pf, fp) == 0);
	T_CHECK("proof checks for its message", check(&pf, &msgs[1], fp, &r, &e) == MV_OK);
	if (e.code)
		printf("# %s\n", e.msg);
	T_CHECK("proof result names version, folder, UID",
		r.commit == 3 && strcmp(r.folder, "INBOX") == 0 && r.uid == 17 &&
		r.uidvalidity == 1700000000);
	T_CHECK("proof result carries flags, date, size, keywords",
		r.flags == (MV_FLAG_SEEN | MV_FLAG_FLAGGED) &&
		strcmp(r.date, "01-Jan-2024 10:00:00 +0000") == 0 && r.size == 20000 &&
		r.keywords == 2 && strcmp(r.signer, fp) == 0);
	T_CHECK("proof fails for another message", check(&pf, &msgs[3], fp, NULL, &e) != MV_OK);
	other.n = msgs[1].n;
	other.p = malloc(other.n);
	for (size_t k = 0; k < 3; k++) {
		size_t at = k == 0 ? 0 : k == 1 ? other.n / 2 : other.n - 1;

		memcpy(other.p, msgs[1].p, other.n);
		other.p[at] ^= 0x20;
		T_CHECK("proof fails for a changed message byte",
			check(&pf, &other, fp, NULL, &e) == MV_E_PROOF);
	}
	printf("# %s\n", e.msg);
	other.n = msgs[1].n - 1;
	T_CHECK("proof fails for a truncated message", check(&pf, &other, fp, NULL, &e) != MV_OK);
	free(other.p);
	memcpy(wrong, fp, sizeof wrong);
	wrong[63] = wrong[63] == 'a' ? 'b' : 'a';
	T_CHECK("proof fails for another signer", check(&pf, &msgs[1], wrong, NULL, &e) == MV_E_SIGNER);
	T_CHECK("proof needs a signer", check(&pf, &msgs[1], NULL, NULL, &e) == MV_E_USAGE);
	flip_lines(&pf, &msgs[1], fp, "multi-chunk");
	T_CHECK("a truncated proof fails",
		mv_proof_check((const char *)pf.data, pf.len - 1, msgs[1].p, msgs[1].n, fp, &r,
			       &e) != MV_OK);
	if (seeddir)
		write_seed(seeddir, "multi-chunk-wrong-message", pf.data, pf.len);

	/* The tiny message (the fuzz target's), proven through the grant. */
	T_CHECK("proof through a grant builds", build_proof(4, "INBOX", 3, &pf, fp) == 0);
	T_CHECK("proof through a grant checks", check(&pf, &msgs[0], fp, &r, &e) == MV_OK);
	if (e.code)
		printf("# %s\n", e.msg);
	T_CHECK("proof through a grant names the grant's version", r.commit == 4 && r.uid == 3);
	flip_lines(&pf, &msgs[0], fp, "grant");
	if (seeddir) {
		write_seed(seeddir, "valid-small", pf.data, pf.len);
		pf.data[pf.len / 2] ^= 1;
		write_seed(seeddir, "flipped-small", pf.data, pf.len);
		write_seed(seeddir, "truncated-small", pf.data, pf.len / 3);
	}

	/* The empty message, and the raw unpadded two-chunk one, in v1. */
	T_CHECK("proof of an empty message builds", build_proof(1, "INBOX", 18, &pf, fp) == 0);
	T_CHECK("proof of an empty message checks", check(&pf, &msgs[2], fp, &r, &e) == MV_OK);
	if (e.code)
		printf("# %s\n", e.msg);
	T_CHECK("proof of an empty message fails for other bytes",
		check(&pf, &msgs[0], fp, NULL, &e) != MV_OK);
	flip_lines(&pf, &msgs[2], fp, "empty");
	T_CHECK("proof of a raw message builds",
		build_proof(1, "Archive/&AOk-t&AOk-", 2, &pf, fp) == 0);
	T_CHECK("proof of a raw message checks", check(&pf, &msgs[4], fp, &r, &e) == MV_OK);
	if (e.code)
		printf("# %s\n", e.msg);
	T_CHECK("proof of a raw message names its folder",
		strcmp(r.folder, "Archive/&AOk-t&AOk-") == 0 && r.uid == 2 && r.commit == 1);
	flip_lines(&pf, &msgs[4], fp, "raw");
	T_CHECK("proof of the compressible message (v2, partial) builds",
		build_proof(2, "Archive/&AOk-t&AOk-", 1, &pf, fp) == 0);
	T_CHECK("proof of the compressible message checks",
		check(&pf, &msgs[3], fp, &r, &e) == MV_OK && r.commit == 2);
	if (e.code)
		printf("# %s\n", e.msg);
	mv_buf_release(&pf);
}

int main(int argc, char **argv)
{
	struct mv_error e;

	mv_error_clear(&e);
	if (mv_crypto_init(&e) != MV_OK || !mkdtemp(dir)) {
		printf("FAIL: setup\n");
		return 1;
	}
	snprintf(path, sizeof path, "%s/a.mvault", dir);
	pass = mv_secure_alloc(32);
	strcpy(pass, "correct horse battery");
	memset(&creds, 0, sizeof creds);
	creds.pass = pass;
	creds.passlen = strlen(pass);
	mv_random(reader_sk, sizeof reader_sk);
	mv_x25519_public(reader_pk, reader_sk);
	make_messages();
	T_CHECK("archive built through the library", build_archive() == 0);
	test_verify_ok();
	test_pinpoint();
	test_torn();
	test_flips();
	test_keyed_lie();
	test_empty();
	test_proofs(argc > 1 ? argv[1] : NULL);
	for (int i = 0; i <= NMSG; i++)
		free(msgs[i].p);
	mv_secure_free(pass);
	{
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	}
	return T_DONE();
}
