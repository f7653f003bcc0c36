/*
 * proof.c - message inclusion proofs; see proof.h and format-spec 11.1.
 *
 * The checker trusts nothing in the proof but the signer key it is told
 * to require.  From the signed checkpoint it takes the archive ID, the
 * tree size T and the root; the COMMIT payload must hash to the body hash
 * the checkpoint signs, and gives the entries root; the entry must be in
 * the entries tree, every chunk record in the T-leaf tree; the chunks
 * must open under the disclosed message key (whose commitment they carry)
 * and decode to exactly the message bytes given.
 */
#include "proof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "bytes.h"
#include "crypto.h"
#include "frame.h"
#include "header.h"
#include "merkle.h"
#include "msgmeta.h"
#include "note.h"
#include "verify.h"

static const char magic_line[] = "mbox-vault proof v1";
static const char entry_label[] = "mbox-vault/v1 entry";
static const char boundary[] = "\ncheckpoint:\n";

#define HASH_B64 44           /* base64 of 32 bytes */
/* Largest entry leaf data (6.2, 6.4): label, commit, folder name, delimiter,
 * UIDVALIDITY and an entry with 256 keywords of 255 bytes and 4096 bytes
 * of source metadata. */
#define MAX_LEAF_DATA (19 + 4 + 2 + MV_MAX_FOLDER_NAME + 1 + 4 + \
		       4 + 4 + 1 + MV_MAX_DATE_LEN + 2 + 256 * 256 + 2 + MV_MAX_SRCMETA + \
		       MV_BLOBREF_LEN)
#define MAX_COMMIT 8192
#define MAX_CHUNK_RECORD (MV_FRAME_HDR + 96 + (1u << MV_CHUNK_LOG_MAX))

/* ---- building ---- */

/* Appends name, the base64 of p[0..n) and a newline. */
static enum mv_err add_b64(struct mv_buf *out, const char *name, const uint8_t *p, size_t n)
{
	size_t bl = mv_b64_encoded_len(n);
	char *b = malloc(bl);
	enum mv_err rc;

	if (!b)
		return MV_E_NOMEM;
	mv_b64_encode(b, bl, p, n);
	rc = mv_buf_addstr(out, name);
	if (rc == MV_OK)
		rc = mv_buf_addstr(out, b);
	if (rc == MV_OK)
		rc = mv_buf_addc(out, '\n');
	free(b);
	return rc;
}

/* Appends name then " hash" per path element, and a newline. */
static enum mv_err add_path(struct mv_buf *out, const char *name, const mv_mhash *path,
			    size_t n)
{
	char b[HASH_B64 + 1];
	enum mv_err rc = mv_buf_addstr(out, name);

	for (size_t i = 0; i < n && rc == MV_OK; i++) {
		mv_b64_encode(b, sizeof b, path[i], MV_MERKLE_HASH);
		rc = mv_buf_addc(out, ' ');
		if (rc == MV_OK)
			rc = mv_buf_addstr(out, b);
	}
	if (rc == MV_OK)
		rc = mv_buf_addc(out, '\n');
	return rc;
}

/* Leaf hashes of ix's entries tree (6.4); *pos gets the target's index. */
static enum mv_err entry_leaves(const struct mv_index *ix, size_t fno, size_t eno,
				mv_mhash **out, uint64_t *count, uint64_t *pos,
				struct mv_error *e)
{
	struct mv_buf leaf;
	uint64_t n = mv_index_count(ix), k = 0;
	mv_mhash *h = malloc((n ? n : 1) * sizeof *h);
	enum mv_err rc = MV_OK;

	mv_buf_init(&leaf, 1u << 20);
	if (!h) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ix->nf; i++)
		for (size_t j = 0; j < ix->f[i].n; j++) {
			if (mv_entry_leaf_data(&leaf, ix->commit, &ix->f[i], &ix->f[i].e[j])) {
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				goto out;
			}
			if (i == fno && j == eno)
				*pos = k;
			mv_merkle_leaf_hash(h[k++], leaf.data, leaf.len);
		}
	*out = h;
	*count = n;
	h = NULL;
out:
	free(h);
	mv_buf_release(&leaf);
	return rc;
}

enum mv_err mv_proof_build(struct mv_vault *v, const struct mv_commit_info *c,
			   const struct mv_index *ix, size_t folder_no, size_t entry_no,
			   struct mv_buf *out, struct mv_error *e)
{
	const struct mv_folder *f;
	const struct mv_entry *en;
	const struct mv_blobref *b;
	mv_mhash *eleaf = NULL, *fleaf = NULL, root;
	mv_mhash path[MV_MERKLE_MAX_DEPTH];
	uint64_t ecount = 0, epos = 0, nfl = 0, off;
	size_t plen = 0;
	struct mv_buf leaf, rb;
	struct mv_frame fr;
	uint8_t *mk = NULL;
	char aid[33];
	struct mv_error scratch;
	enum mv_err rc = MV_OK;

	if (!e) {
		mv_error_clear(&scratch);
		e = &scratch;
	}
	mv_buf_init(&leaf, MAX_LEAF_DATA);
	mv_buf_init(&rb, MAX_CHUNK_RECORD + MAX_COMMIT);
	if (!v->kr) {
		rc = mv_fail(e, MV_E_KEY, "a proof discloses a message key: it needs a key");
		goto out;
	}
	if (folder_no >= ix->nf || entry_no >= ix->f[folder_no].n) {
		rc = mv_fail(e, MV_E_USAGE, "no entry %zu in folder %zu", entry_no, folder_no);
		goto out;
	}
	f = &ix->f[folder_no];
	en = &f->e[entry_no];
	b = &en->blob;
	if (b->nchunks > MV_PROOF_MAX_CHUNKS) {
		rc = mv_fail(e, MV_E_LIMIT, "message has %u chunks, more than a proof may hold",
			     b->nchunks);
		goto out;
	}
	/* The entries tree, checked against the commit before use. */
	if ((rc = entry_leaves(ix, folder_no, entry_no, &eleaf, &ecount, &epos, e)))
		goto out;
	mv_merkle_root(eleaf, ecount, root);
	if (ecount != c->entries || memcmp(root, c->entries_root, MV_MERKLE_HASH) != 0) {
		rc = mv_fail(e, MV_E_INDEX, "index does not give version %u's entries root",
			     c->number);
		goto out;
	}
	/* The T-leaf tree over the file, checked against the signed root. */
	if ((rc = mv_vault_leaf_hashes(v, c->tree_size, &fleaf, &nfl, e)))
		goto out;
	mv_merkle_root(fleaf, nfl, root);
	if (memcmp(root, c->root, MV_MERKLE_HASH) != 0) {
		rc = mv_fail(e, MV_E_MERKLE, "records do not give version %u's signed root",
			     c->number);
		goto out;
	}
	if (b->first_seq == 0 || b->nchunks == 0 || b->nchunks > nfl ||
	    b->first_seq > nfl - b->nchunks) {
		rc = mv_fail(e, MV_E_CHUNK, "message's chunks are not before version %u's commit",
			     c->number);
		goto out;
	}
	mv_buf_reset(out);
	mv_hex(aid, v->h.archive_id, MV_ARCHIVE_ID_LEN);
	if ((rc = mv_buf_addf(out, "%s\narchive: %s\n", magic_line, aid)) ||
	    (rc = add_b64(out, "signer: ", v->h.owner_pk, MV_ED_PK_LEN)) ||
	    (rc = mv_buf_addf(out, "version: %u\n", c->number)))
		goto full;
	/* The COMMIT payload: the checker hashes it against the note. */
	rc = mv_vault_record_bytes(v, c->offset, c->tree_size, &rb, &fr, e);
	if (rc == MV_OK && fr.type != MV_R_COMMIT)
		rc = mv_fail(e, MV_E_CHAIN, "record %llu is not a commit",
			     (unsigned long long)c->tree_size);
	if (rc)
		goto out;
	if ((rc = add_b64(out, "commit: ", rb.data + MV_FRAME_HDR, rb.len - MV_FRAME_HDR)))
		goto full;
	if (mv_entry_leaf_data(&leaf, ix->commit, f, en)) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = add_b64(out, "entry: ", leaf.data, leaf.len)) ||
	    (rc = mv_buf_addf(out, "entry-index: %llu\n", (unsigned long long)epos)))
		goto full;
	if (mv_merkle_inclusion_proof(eleaf, ecount, epos, path, &plen) != MV_OK) {
		rc = mv_fail(e, MV_E_INTERNAL, "cannot build the entry's audit path");
		goto out;
	}
	if ((rc = add_path(out, "entry-path:", path, plen)))
		goto full;
	/* The one key this proof discloses (format-spec 5.1). */
	mk = mv_secure_alloc(MV_KEY_LEN);
	if (!mk) {
		rc = mv_fail(e, MV_E_NOMEM, "out of secure memory");
		goto out;
	}
	mv_message_key(mk, v->kr, b->id);
	if ((rc = add_b64(out, "message-key: ", mk, MV_KEY_LEN)))
		goto full;
	off = b->first_off;
	for (uint32_t i = 0; i < b->nchunks; i++) {
		uint64_t seq = b->first_seq + i;

		rc = mv_vault_record_bytes(v, off, seq, &rb, &fr, e);
		if (rc == MV_OK && fr.type != MV_R_CHUNK)
			rc = mv_fail(e, MV_E_CHUNK, "record %llu (%s) is not a chunk",
				     (unsigned long long)seq, mv_rtype_name(fr.type));
		if (rc == MV_OK && mv_merkle_inclusion_proof(fleaf, nfl, seq, path, &plen))
			rc = mv_fail(e, MV_E_INTERNAL, "cannot build the audit path of record %llu",
				     (unsigned long long)seq);
		if (rc) {
			e->record = (int64_t)seq;
			e->offset = (int64_t)off;
			goto out;
		}
		if ((rc = mv_buf_addf(out, "chunk: %llu ", (unsigned long long)seq)) ||
		    (rc = add_b64(out, "", rb.data, rb.len)) ||
		    (rc = add_path(out, "chunk-path:", path, plen)))
			goto full;
		off += MV_FRAME_OVERHEAD + (uint64_t)fr.len;
	}
	if ((rc = mv_buf_addstr(out, "checkpoint:\n")) ||
	    (rc = mv_buf_add(out, c->note, c->note_len)))
		goto full;
	goto out;
full:
	rc = mv_fail(e, rc == MV_E_NOMEM ? MV_E_NOMEM : MV_E_LIMIT,
		     "the proof does not fit in memory");
out:
	if (rc)
		mv_buf_reset(out);
	mv_secure_free(mk);
	free(eleaf);
	free(fleaf);
	mv_buf_release(&leaf);
	mv_buf_release(&rb);
	return rc;
}

/* ---- checking ---- */

/* A cursor over the proof's lines; line counts from 1. */
struct cur {
	const char *p, *end;
	unsigned line;
};

/* Next line without its newline; -1 at the end or if it is too long. */
static int next_line(struct cur *c, const char **s, size_t *n)
{
	const char *nl;

	if (c->p >= c->end)
		return -1;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	if (!nl || (size_t)(nl - c->p) > MV_PROOF_MAX_LINE)
		return -1;
	*s = c->p;
	*n = (size_t)(nl - c->p);
	c->p = nl + 1;
	c->line++;
	return 0;
}

/* The next line must start with name; *v gets the rest. */
static int field(struct cur *c, const char *name, const char **v, size_t *vn)
{
	const char *s;
	size_t n, nl = strlen(name);

	if (next_line(c, &s, &n) != 0 || n < nl || memcmp(s, name, nl) != 0)
		return -1;
	*v = s + nl;
	*vn = n - nl;
	return 0;
}

/* Unsigned decimal, canonical (no sign, no leading zero), <= max. */
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > max)
		return -1;
	*v = x;
	return 0;
}

/* 1 if s[0..n) is exactly want lower-case hex digits (one spelling only). */
static int lower_hex(const char *s, size_t n, size_t want)
{
	if (n != want)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Exactly want bytes of base64 (canonical, padded). */
static int parse_b64(uint8_t *out, size_t want, const char *s, size_t n)
{
	return mv_b64_decode(out, want, s, n) == (long)want ? 0 : -1;
}

/* Zero or more " <hash>" (each 44 base64 characters). */
static int parse_path(const char *s, size_t n, mv_mhash *path, size_t *count)
{
	size_t k;

	if (n % (HASH_B64 + 1) != 0 || (k = n / (HASH_B64 + 1)) > MV_MERKLE_MAX_DEPTH)
		return -1;
	for (size_t i = 0; i < k; i++) {
		const char *q = s + i * (HASH_B64 + 1);

		if (q[0] != ' ' || parse_b64(path[i], MV_MERKLE_HASH, q + 1, HASH_B64) != 0)
			return -1;
	}
	*count = k;
	return 0;
}

static enum mv_err malformed(struct mv_error *e, const struct cur *c, const char *what)
{
	/* Layout errors are malformed input (exit 11); a well-formed proof
	 * that does not check is MV_E_PROOF. */
	return mv_fail(e, MV_E_PARSE, "proof line %u: %s", c->line, what);
}

/* Compares decoded message bytes with the message given. */
struct cmp {
	const uint8_t *msg;
	size_t len, pos;
};

static enum mv_err cmp_out(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct cmp *c = ctx;

	if (n == 0)
		return MV_OK;
	if (n > c->len - c->pos || memcmp(p, c->msg + c->pos, n) != 0) {
		size_t i = 0;

		while (i < n && c->pos + i < c->len && p[i] == c->msg[c->pos + i])
			i++;
		return mv_fail(e, MV_E_PROOF,
			       "the message differs from the proven message at byte %zu",
			       c->pos + i);
	}
	c->pos += n;
	return MV_OK;
}

/* The fields before the entry bytes of entry leaf data (6.4). */
struct leaf_head {
	uint32_t commit;
	const char *name;
	uint16_t name_len;
	uint32_t uidvalidity;
};

static int parse_leaf_head(struct mv_rd *r, struct leaf_head *h)
{
	const uint8_t *q = mv_rd_take(r, sizeof entry_label - 1);

	if (!q || memcmp(q, entry_label, sizeof entry_label - 1) != 0)
		return -1;
	h->commit = mv_rd_u32(r);
	h->name_len = mv_rd_u16(r);
	h->name = (const char *)mv_rd_take(r, h->name_len);
	(void)mv_rd_u8(r);   /* delimiter: bound by the leaf hash, not reported */
	h->uidvalidity = mv_rd_u32(r);
	if (r->bad || h->name_len == 0 || h->name_len > MV_MAX_FOLDER_NAME ||
	    memchr(h->name, '\0', h->name_len))
		return -1;
	return 0;
}

/*
 * The chunk size is not in the proof: a proof must not carry a field the
 * signature does not bind.  It follows from the first chunk record (bound
 * by its Merkle path): a chunk that is not the last holds exactly 2^c
 * bytes; a message in one chunk is checked with the smallest chunk size
 * that holds it, which gives the same chunk count (format-spec 11.1).
 */
static int chunk_log_of(const uint8_t *rec, size_t n, unsigned *cl)
{
	uint32_t p;

	if (n < MV_FRAME_HDR + 24)
		return -1;
	p = mv_ld32(rec + MV_FRAME_HDR + 20);
	if (rec[1] & MV_RF_LAST) {
		unsigned c = MV_CHUNK_LOG_MIN;

		while (c < MV_CHUNK_LOG_MAX && (1u << c) < p)
			c++;
		*cl = c;
		return 0;
	}
	for (unsigned c = MV_CHUNK_LOG_MIN; c <= MV_CHUNK_LOG_MAX; c++)
		if (p == 1u << c) {
			*cl = c;
			return 0;
		}
	return -1;
}

/* Decodes a "chunk: <seq> <base64>" value into rec; *rn gets its length. */
static int parse_chunk_line(const char *s, size_t n, uint64_t *seq, uint8_t *rec, size_t *rn)
{
	const char *sp = memchr(s, ' ', n);
	long got;

	if (!sp || parse_dec(s, (size_t)(sp - s), UINT64_MAX >> 1, seq) != 0)
		return -1;
	got = mv_b64_decode(rec, MAX_CHUNK_RECORD, sp + 1, (size_t)(s + n - (sp + 1)));
	if (got < MV_FRAME_HDR)
		return -1;
	*rn = (size_t)got;
	return 0;
}

enum mv_err mv_proof_check(const char *text, size_t n, const uint8_t *msg, size_t msglen,
			   const char *want_signer, struct mv_proof_result *r,
			   struct mv_error *e)
{
	struct cur cur;
	const char *s, *note, *fields_end, *bp;
	size_t sn, note_len, plen = 0, rn = 0, got_p;
	char want[65], fp[65];
	uint8_t aid[MV_ARCHIVE_ID_LEN], pk[MV_ED_PK_LEN];
	uint8_t *commit = NULL, *leaf = NULL, *rec = NULL, *plain = NULL;
	long commit_len, leaf_len;
	uint64_t version = 0, eindex = 0, seq = 0, total = 0;
	mv_mhash path[MV_MERKLE_MAX_DEPTH], h;
	struct mv_checkpoint cp;
	struct mv_commit_info *ci = NULL;
	struct mv_vault *fv = NULL;
	struct mv_chunk_ctx *cc = NULL;
	struct mv_blob_dec *dec = NULL;
	struct mv_entry en;
	struct leaf_head lh;
	struct mv_rd rd;
	struct cmp cmp;
	unsigned chunk_log = 0;
	struct mv_error scratch;
	enum mv_err rc = MV_OK;

	if (!e) {
		mv_error_clear(&scratch);
		e = &scratch;
	}
	memset(r, 0, sizeof *r);
	memset(&en, 0, sizeof en);
	if (!text || n == 0)
		return mv_fail(e, MV_E_PARSE, "proof is empty");
	if (!want_signer || mv_fingerprint_normalize(want, want_signer) != 0)
		return mv_fail(e, MV_E_USAGE, "checking a proof needs the signer fingerprint (64 hex digits)");
	commit = malloc(MAX_COMMIT);
	leaf = malloc(MAX_LEAF_DATA);
	rec = malloc(MAX_CHUNK_RECORD);
	ci = malloc(sizeof *ci);
	fv = calloc(1, sizeof *fv);
	cc = mv_secure_alloc(sizeof *cc);
	if (!commit || !leaf || !rec || !ci || !fv || !cc) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	/* The signed note runs from the first "checkpoint:" line to the end;
	 * no earlier line can be one (every field has its own prefix). */
	bp = memmem(text, n, boundary, sizeof boundary - 1);
	if (!bp) {
		rc = mv_fail(e, MV_E_PARSE, "proof has no checkpoint");
		goto out;
	}
	fields_end = bp + 1;
	note = bp + sizeof boundary - 1;
	note_len = (size_t)(text + n - note);
	cur.p = text;
	cur.end = fields_end;
	cur.line = 0;

	/* Header fields, in their fixed order. */
	if (next_line(&cur, &s, &sn) || sn != sizeof magic_line - 1 ||
	    memcmp(s, magic_line, sn) != 0) {
		rc = malformed(e, &cur, "not an mbox-vault proof (v1)");
		goto out;
	}
	if (field(&cur, "archive: ", &s, &sn) || !lower_hex(s, sn, 32) ||
	    mv_unhex(aid, sizeof aid, s, sn)) {
		rc = malformed(e, &cur, "expected 'archive: ' and 32 lower-case hex digits");
		goto out;
	}
	if (field(&cur, "signer: ", &s, &sn) || parse_b64(pk, sizeof pk, s, sn)) {
		rc = malformed(e, &cur, "expected 'signer: ' and a base64 public key");
		goto out;
	}
	mv_signer_fingerprint(fp, pk);
	if (strcmp(fp, want) != 0) {
		rc = mv_fail(e, MV_E_SIGNER, "proof is signed by %s, not by the required %s", fp,
			     want);
		goto out;
	}
	if (field(&cur, "version: ", &s, &sn) || parse_dec(s, sn, UINT32_MAX, &version) ||
	    version == 0) {
		rc = malformed(e, &cur, "expected 'version: ' and a version number");
		goto out;
	}
	if (field(&cur, "commit: ", &s, &sn) ||
	    (commit_len = mv_b64_decode(commit, MAX_COMMIT, s, sn)) < 16) {
		rc = malformed(e, &cur, "expected 'commit: ' and a base64 commit record");
		goto out;
	}
	if (field(&cur, "entry: ", &s, &sn) ||
	    (leaf_len = mv_b64_decode(leaf, MAX_LEAF_DATA, s, sn)) < 0) {
		rc = malformed(e, &cur, "expected 'entry: ' and base64 entry data");
		goto out;
	}
	if (field(&cur, "entry-index: ", &s, &sn) ||
	    parse_dec(s, sn, UINT64_MAX >> 1, &eindex)) {
		rc = malformed(e, &cur, "expected 'entry-index: ' and a number");
		goto out;
	}
	if (field(&cur, "entry-path:", &s, &sn) || parse_path(s, sn, path, &plen)) {
		rc = malformed(e, &cur, "expected 'entry-path:' and base64 hashes");
		goto out;
	}
	if (field(&cur, "message-key: ", &s, &sn) || parse_b64(cc->mk, MV_KEY_LEN, s, sn)) {
		rc = malformed(e, &cur, "expected 'message-key: ' and a base64 key");
		goto out;
	}

	/* The signed checkpoint (8.1) by the required key. */
	if ((rc = mv_note_verify(note, note_len, pk, &cp, e))) {
		mv_error_prefix(e, "proof's checkpoint");
		goto out;
	}
	if (memcmp(cp.archive_id, aid, sizeof aid) != 0 || cp.commit != version) {
		rc = mv_fail(e, MV_E_PROOF,
			     "proof's archive or version line disagrees with its checkpoint");
		goto out;
	}
	/* The COMMIT payload must be the one the checkpoint signs: parsing
	 * it checks its embedded note, its body hash and its frontier. */
	memcpy(fv->h.owner_pk, pk, sizeof pk);
	memcpy(fv->h.archive_id, aid, sizeof aid);
	fv->fd = -1;
	rc = mv_commit_parse(fv, commit, (size_t)commit_len,
			     mv_ld64(commit + commit_len - 16), cp.tree_size, ci, e);
	if (rc) {
		mv_error_prefix(e, "proof's commit record");
		goto out;
	}
	if (ci->note_len != note_len || memcmp(ci->note, note, note_len) != 0 ||
	    memcmp(ci->root, cp.root, MV_MERKLE_HASH) != 0) {
		rc = mv_fail(e, MV_E_PROOF, "proof's commit record is not the checkpoint's");
		goto out;
	}

	/* The entry (6.4) and its place in the entries tree. */
	mv_rd_init(&rd, leaf, (size_t)leaf_len);
	if (parse_leaf_head(&rd, &lh) != 0) {
		rc = mv_fail(e, MV_E_PROOF, "proof's entry data is malformed");
		goto out;
	}
	/* A grant keeps an earlier version's index, whose leaves carry that
	 * version's number. */
	if (lh.commit == 0 ||
	    (ci->kind == MV_COMMIT_GRANT ? lh.commit >= ci->number : lh.commit != ci->number)) {
		rc = mv_fail(e, MV_E_PROOF, "proof's entry belongs to version %u, not %u",
			     lh.commit, ci->number);
		goto out;
	}
	mv_merkle_leaf_hash(h, leaf, (size_t)leaf_len);
	if (!mv_merkle_inclusion_verify(eindex, ci->entries, h, path, plen, ci->entries_root)) {
		rc = mv_fail(e, MV_E_PROOF, "entry is not in version %u's entries tree",
			     ci->number);
		goto out;
	}

	/* The first chunk line tells the chunk size the entry is read with. */
	if (field(&cur, "chunk: ", &s, &sn) || parse_chunk_line(s, sn, &seq, rec, &rn) ||
	    chunk_log_of(rec, rn, &chunk_log)) {
		rc = malformed(e, &cur, "expected 'chunk: ', a record number and a base64 chunk record");
		goto out;
	}
	if ((rc = mv_entry_decode(&rd, &en, chunk_log, e)))
		goto bad_entry;
	if (mv_rd_left(&rd) != 0) {
		rc = mv_fail(e, MV_E_PROOF, "%zu bytes follow the entry", mv_rd_left(&rd));
		goto bad_entry;
	}
	if (en.blob.nchunks > MV_PROOF_MAX_CHUNKS) {
		rc = mv_fail(e, MV_E_LIMIT, "message has %u chunks", en.blob.nchunks);
		goto out;
	}
	if (en.blob.raw_size != msglen) {
		rc = mv_fail(e, MV_E_PROOF,
			     "the message has %zu bytes, the proven message %llu", msglen,
			     (unsigned long long)en.blob.raw_size);
		goto out;
	}

	/* The chunks (5.4), each in the T-leaf tree (7), opened under MK. */
	memcpy(cc->archive_id, cp.archive_id, MV_ARCHIVE_ID_LEN);
	memcpy(cc->blob_id, en.blob.id, MV_BLOB_ID_LEN);
	cc->chunk_log = chunk_log;
	mv_key_commitment(cc->commitment, cc->mk, cp.archive_id, en.blob.id);
	cmp.msg = msg;
	cmp.len = msglen;
	cmp.pos = 0;
	dec = mv_blob_dec_new(&en.blob, NULL, cmp_out, &cmp);
	plain = malloc((size_t)1 << chunk_log);
	if (!dec || !plain) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < en.blob.nchunks; i++) {
		uint64_t want_seq = en.blob.first_seq + i;
		uint32_t len;
		uint8_t flags;

		if (i > 0 && (field(&cur, "chunk: ", &s, &sn) ||
			      parse_chunk_line(s, sn, &seq, rec, &rn))) {
			rc = malformed(e, &cur, "expected 'chunk: ', a record number and a base64 chunk record");
			goto out;
		}
		flags = rec[1];
		len = mv_ld32(rec + 4);
		if (rec[0] != MV_R_CHUNK || rec[2] || rec[3] || (flags & ~MV_RF_LAST) ||
		    len != rn - MV_FRAME_HDR || mv_ld64(rec + 8) != seq) {
			rc = malformed(e, &cur, "not a chunk record with this record number");
			goto out;
		}
		if (seq != want_seq) {
			rc = mv_fail(e, MV_E_PROOF, "chunk %u is record %llu, expected %llu", i,
				     (unsigned long long)seq, (unsigned long long)want_seq);
			goto out;
		}
		if (((flags & MV_RF_LAST) != 0) != (i + 1 == en.blob.nchunks)) {
			rc = mv_fail(e, MV_E_CHUNK, "chunk %u is %smarked last", i,
				     (flags & MV_RF_LAST) ? "" : "not ");
			goto out;
		}
		mv_merkle_leaf_hash(h, rec, rn);
		if (field(&cur, "chunk-path:", &s, &sn) || parse_path(s, sn, path, &plen)) {
			rc = malformed(e, &cur, "expected 'chunk-path:' and base64 hashes");
			goto out;
		}
		if (!mv_merkle_inclusion_verify(seq, cp.tree_size, h, path, plen, cp.root)) {
			rc = mv_fail(e, MV_E_PROOF, "chunk %u (record %llu) is not in version %u's tree",
				     i, (unsigned long long)seq, ci->number);
			goto out;
		}
		got_p = 0;
		rc = mv_chunk_open(cc, seq, flags, rec + MV_FRAME_HDR, len, i, plain, &got_p, e);
		if (rc == MV_OK)
			rc = mv_blob_dec_feed(dec, plain, got_p, e);
		if (rc) {
			mv_error_prefix(e, "chunk %u (record %llu)", i, (unsigned long long)seq);
			goto out;
		}
		total += got_p;
	}
	if (cur.p != fields_end) {
		rc = malformed(e, &cur, "more lines than the message has chunks");
		goto out;
	}
	if (total != en.blob.padded_size) {
		rc = mv_fail(e, MV_E_LENGTH, "chunks hold %llu bytes, the entry declares %llu",
			     (unsigned long long)total, (unsigned long long)en.blob.padded_size);
		goto out;
	}
	if ((rc = mv_blob_dec_end(dec, e)))
		goto out;
	if (cmp.pos != msglen) {
		rc = mv_fail(e, MV_E_PROOF, "the message is longer than the proven message");
		goto out;
	}
	r->commit = ci->number;
	memcpy(r->signer, fp, sizeof fp);
	memcpy(r->folder, lh.name, lh.name_len);
	r->folder[lh.name_len] = '\0';
	r->uidvalidity = lh.uidvalidity;
	r->uid = en.uid;
	r->flags = en.flags;
	memcpy(r->date, en.date, sizeof r->date);
	r->size = en.blob.raw_size;
	r->keywords = en.nkw;
	goto out;
bad_entry:
	mv_error_prefix(e, "proof's entry");
out:
	mv_blob_dec_free(dec);
	mv_entry_release(&en);
	if (plain) {
		mv_wipe(plain, (size_t)1 << chunk_log);
		free(plain);
	}
	mv_secure_free(cc);
	free(fv);
	free(ci);
	free(commit);
	free(leaf);
	free(rec);
	return rc;
}
