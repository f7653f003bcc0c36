/* note.c - signed checkpoints; see note.h and format-spec 8.1. */
#include "note.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static const char key_name[] = "mbox-vault";
/* U+2014 EM DASH, as signed-note requires at the start of a signature. */
static const char dash[] = "\xe2\x80\x94 ";

const char *mv_commit_kind_name(int kind)
{
	switch (kind) {
	case MV_COMMIT_COMPLETE: return "complete";
	case MV_COMMIT_PARTIAL: return "partial";
	case MV_COMMIT_GRANT: return "grant";
	default: return "unknown";
	}
}

static int kind_from_name(const char *s, size_t n)
{
	for (int k = MV_COMMIT_COMPLETE; k <= MV_COMMIT_GRANT; k++) {
		const char *name = mv_commit_kind_name(k);

		if (strlen(name) == n && memcmp(name, s, n) == 0)
			return k;
	}
	return 0;
}

static void key_hash(uint8_t out[4], const uint8_t pk[MV_ED_PK_LEN])
{
	uint8_t d[MV_SHA256_LEN];
	uint8_t pre[sizeof key_name - 1 + 2];

	memcpy(pre, key_name, sizeof key_name - 1);
	pre[sizeof key_name - 1] = '\n';
	pre[sizeof key_name] = 0x01;
	mv_sha256_3(d, pre, sizeof pre, pk, MV_ED_PK_LEN, NULL, 0);
	memcpy(out, d, 4);
}

void mv_note_vkey(char *out, size_t cap, const uint8_t pk[MV_ED_PK_LEN])
{
	uint8_t kh[4], raw[1 + MV_ED_PK_LEN];
	char hx[9], b64[64];

	key_hash(kh, pk);
	mv_hex(hx, kh, 4);
	raw[0] = 0x01;
	memcpy(raw + 1, pk, MV_ED_PK_LEN);
	mv_b64_encode(b64, sizeof b64, raw, sizeof raw);
	snprintf(out, cap, "%s+%s+%s", key_name, hx, b64);
}

/* The signed body: checkpoint lines, each ending in '\n'. */
static enum mv_err body(struct mv_buf *out, const struct mv_checkpoint *cp)
{
	char id[33], root[64], bh[64];

	mv_hex(id, cp->archive_id, 16);
	mv_b64_encode(root, sizeof root, cp->root, MV_MERKLE_HASH);
	mv_b64_encode(bh, sizeof bh, cp->body_hash, 32);
	return mv_buf_addf(out, "mbox-vault/%s\n%llu\n%s\nmbox-vault commit %u %s %s\n",
			   id, (unsigned long long)cp->tree_size, root, cp->commit,
			   mv_commit_kind_name(cp->kind), bh);
}

enum mv_err mv_note_sign(struct mv_buf *out, const struct mv_checkpoint *cp,
			 const uint8_t sk[MV_ED_SK_LEN],
			 const uint8_t pk[MV_ED_PK_LEN], struct mv_error *e)
{
	uint8_t sig[4 + MV_SIG_LEN];
	char b64[128];
	size_t blen;

	mv_buf_reset(out);
	if (body(out, cp))
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	blen = out->len;
	key_hash(sig, pk);
	mv_ed25519_sign(sig + 4, out->data, blen, sk);
	mv_b64_encode(b64, sizeof b64, sig, sizeof sig);
	if (mv_buf_addf(out, "\n%s%s %s\n", dash, key_name, b64) ||
	    out->len > MV_NOTE_MAX)
		return mv_fail(e, MV_E_LIMIT, "checkpoint note too long");
	return MV_OK;
}

/* Parses an unsigned decimal of at most 19 digits without leading zeros. */
static int parse_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

static enum mv_err bad(struct mv_error *e, const char *why)
{
	return mv_fail(e, MV_E_SIGNATURE, "checkpoint note is malformed: %s", why);
}

enum mv_err mv_note_verify(const char *text, size_t n, const uint8_t pk[MV_ED_PK_LEN],
			   struct mv_checkpoint *cp, struct mv_error *e)
{
	const char *line[8];
	size_t len[8], nl = 0, pos = 0, body_len;
	uint8_t want_kh[4], sig[4 + MV_SIG_LEN + 8];
	uint64_t v;
	long got;

	if (n > MV_NOTE_MAX || memchr(text, '\0', n))
		return bad(e, "too long or contains NUL");
	/* Split into lines; every line must end in '\n'. */
	while (pos < n && nl < 8) {
		const char *nlp = memchr(text + pos, '\n', n - pos);

		if (!nlp)
			return bad(e, "last line has no newline");
		line[nl] = text + pos;
		len[nl] = (size_t)(nlp - (text + pos));
		pos = (size_t)(nlp - text) + 1;
		nl++;
	}
	if (pos != n || nl != 6 || len[4] != 0)
		return bad(e, "expected 4 checkpoint lines, a blank line and one signature");
	body_len = (size_t)(line[4] - text);
	/* Line 1: origin. */
	if (len[0] != 11 + 32 || memcmp(line[0], "mbox-vault/", 11) != 0 ||
	    mv_unhex(cp->archive_id, 16, line[0] + 11, 32) != 0)
		return bad(e, "origin line");
	if (parse_u64(line[1], len[1], &cp->tree_size) != 0)
		return bad(e, "tree size line");
	if (mv_b64_decode(cp->root, sizeof cp->root, line[2], len[2]) != MV_MERKLE_HASH)
		return bad(e, "root hash line");
	{
		const char *s = line[3], *end = line[3] + len[3], *sp;
		static const char pre[] = "mbox-vault commit ";

		if (len[3] < sizeof pre || memcmp(s, pre, sizeof pre - 1) != 0)
			return bad(e, "commit line");
		s += sizeof pre - 1;
		if (!(sp = memchr(s, ' ', (size_t)(end - s))) ||
		    parse_u64(s, (size_t)(sp - s), &v) != 0 || v == 0 || v > UINT32_MAX)
			return bad(e, "commit number");
		cp->commit = (uint32_t)v;
		s = sp + 1;
		if (!(sp = memchr(s, ' ', (size_t)(end - s))) ||
		    !(cp->kind = kind_from_name(s, (size_t)(sp - s))))
			return bad(e, "commit kind");
		s = sp + 1;
		if (mv_b64_decode(cp->body_hash, 32, s, (size_t)(end - s)) != 32)
			return bad(e, "commit hash");
	}
	/* Signature line. */
	{
		const char *s = line[5], *end = line[5] + len[5];
		size_t pl = strlen(dash);

		if (len[5] < pl + sizeof key_name || memcmp(s, dash, pl) != 0 ||
		    memcmp(s + pl, key_name, sizeof key_name - 1) != 0 ||
		    s[pl + sizeof key_name - 1] != ' ')
			return bad(e, "signature line");
		s += pl + sizeof key_name;
		got = mv_b64_decode(sig, sizeof sig, s, (size_t)(end - s));
		if (got != 4 + MV_SIG_LEN)
			return bad(e, "signature encoding");
	}
	key_hash(want_kh, pk);
	if (memcmp(want_kh, sig, 4) != 0)
		return mv_fail(e, MV_E_SIGNATURE, "checkpoint carries no signature by the owner key (key hash differs)");
	if (!mv_ed25519_verify(sig + 4, text, body_len, pk))
		return mv_fail(e, MV_E_SIGNATURE, "checkpoint signature does not verify");
	return MV_OK;
}
