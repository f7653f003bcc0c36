/*
 * utf7.c - IMAP modified UTF-7 (RFC 3501 5.1.3); see utf7.h.
 *
 * Both directions are strict so that exactly one byte string stands for
 * each name: decode(x) succeeds only when encode(decode(x)) == x.  That
 * property is what lets a folder name be stored as the source gave it and
 * still be matched against a pattern typed in UTF-8.  Concretely, decoding
 * rejects:
 *
 *   - any byte outside printable US-ASCII (0x20..0x7e);
 *   - '&' not followed by '-' or by a base64 run closed by '-';
 *   - a run whose length is not the shortest one for its UTF-16 units, or
 *     whose padding bits are not zero;
 *   - a run holding a printable US-ASCII character (it must stand for
 *     itself, and '&' must be "&-");
 *   - a run directly following another run ("&AOk-&AOk-" must be written
 *     "&AOkA6Q-");
 *   - unpaired or reversed UTF-16 surrogates;
 *   - U+0000, which cannot appear in a C string name.
 */
#include "utf7.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Returns the 6-bit value of a modified base64 character, or -1. */
static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static int is_direct(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static enum mv_err put_utf8(struct mv_buf *out, uint32_t cp)
{
	uint8_t t[4];
	size_t n;

	if (cp < 0x80) {
		t[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (uint8_t)(0xc0 | (cp >> 6));
		t[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (uint8_t)(0xe0 | (cp >> 12));
		t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (uint8_t)(0xf0 | (cp >> 18));
		t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return mv_buf_add(out, t, n);
}

/*
 * Decodes the base64 run p[0..n) (between "&" and "-", n >= 1) as UTF-16BE
 * and appends its UTF-8 form.  Returns MV_OK or MV_E_PARSE (buffer errors
 * pass through).
 */
static enum mv_err decode_run(struct mv_buf *out, const uint8_t *p, size_t n)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;
	size_t units = 0;
	enum mv_err rc;

	for (size_t i = 0; i < n; i++) {
		int v = b64_value(p[i]);
		uint32_t u;

		if (v < 0)
			return MV_E_PARSE;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (high) {
			if (u < 0xdc00 || u > 0xdfff)
				return MV_E_PARSE;
			rc = put_utf8(out, 0x10000 + ((high - 0xd800) << 10) +
						   (u - 0xdc00));
			if (rc)
				return rc;
			high = 0;
			continue;
		}
		if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
			continue;
		}
		if (u >= 0xdc00 && u <= 0xdfff)
			return MV_E_PARSE;
		/* Printable ASCII must stand for itself; NUL cannot be a name. */
		if (u == 0 || is_direct(u))
			return MV_E_PARSE;
		rc = put_utf8(out, u);
		if (rc)
			return rc;
	}
	/*
	 * The encoder emits ceil(16 * units / 6) characters with zero padding,
	 * so fewer than 6 bits may be left over and they must all be zero.
	 */
	if (high || units == 0 || nbits >= 6 || bits != 0)
		return MV_E_PARSE;
	return MV_OK;
}

enum mv_err mv_utf7_decode(struct mv_buf *out, const char *in, size_t n)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t start = out->len, i = 0;
	int after_run = 0;
	enum mv_err rc = MV_OK;

	while (i < n) {
		size_t j;

		if (!is_direct(p[i])) {
			rc = MV_E_PARSE;
			goto out;
		}
		if (p[i] != '&') {
			rc = mv_buf_addc(out, p[i]);
			if (rc)
				goto out;
			after_run = 0;
			i++;
			continue;
		}
		if (i + 1 < n && p[i + 1] == '-') {
			rc = mv_buf_addc(out, '&');
			if (rc)
				goto out;
			after_run = 0;
			i += 2;
			continue;
		}
		/* Two runs in a row must have been written as one. */
		if (after_run) {
			rc = MV_E_PARSE;
			goto out;
		}
		for (j = i + 1; j < n && p[j] != '-'; j++)
			;
		if (j == n) {
			rc = MV_E_PARSE;
			goto out;
		}
		rc = decode_run(out, p + i + 1, j - i - 1);
		if (rc)
			goto out;
		after_run = 1;
		i = j + 1;
	}
out:
	/* On failure the caller's buffer is left as it was. */
	if (rc)
		out->len = start;
	return rc;
}

/*
 * Reads one UTF-8 sequence at p[0..n) strictly (shortest form, no
 * surrogates, at most U+10FFFF).  Returns its length, or 0 if invalid.
 */
static size_t get_utf8(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len;
	uint32_t min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1fu;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0fu;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Flushes the padding bits of a run (zero-filled) and its closing '-'. */
static enum mv_err close_run(struct mv_buf *out, uint32_t bits, unsigned nbits)
{
	enum mv_err rc = MV_OK;

	if (nbits)
		rc = mv_buf_addc(out, (uint8_t)b64[(bits << (6 - nbits)) & 0x3f]);
	if (!rc)
		rc = mv_buf_addc(out, '-');
	return rc;
}

/* Appends the 6-bit groups of a UTF-16 unit to the pending bit queue. */
static enum mv_err put_unit(struct mv_buf *out, uint32_t u, uint32_t *bits,
			    unsigned *nbits)
{
	enum mv_err rc;

	*bits = (*bits << 16) | u;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		rc = mv_buf_addc(out, (uint8_t)b64[(*bits >> *nbits) & 0x3f]);
		if (rc)
			return rc;
	}
	*bits &= (1u << *nbits) - 1;
	return MV_OK;
}

enum mv_err mv_utf7_encode(struct mv_buf *out, const char *in, size_t n)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t start = out->len, i = 0;
	uint32_t bits = 0;
	unsigned nbits = 0;
	int in_run = 0;
	enum mv_err rc = MV_OK;

	while (i < n) {
		uint32_t cp;
		size_t len = get_utf8(p + i, n - i, &cp);

		if (len == 0 || cp == 0) {
			rc = MV_E_PARSE;
			goto out;
		}
		i += len;
		if (is_direct(cp)) {
			if (in_run) {
				rc = close_run(out, bits, nbits);
				bits = 0;
				nbits = 0;
				in_run = 0;
			}
			if (!rc)
				rc = mv_buf_addc(out, (uint8_t)cp);
			if (!rc && cp == '&')
				rc = mv_buf_addc(out, '-');
			if (rc)
				goto out;
			continue;
		}
		if (!in_run) {
			rc = mv_buf_addc(out, '&');
			if (rc)
				goto out;
			in_run = 1;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			rc = put_unit(out, 0xd800 + (cp >> 10), &bits, &nbits);
			if (!rc)
				rc = put_unit(out, 0xdc00 + (cp & 0x3ff), &bits, &nbits);
		} else {
			rc = put_unit(out, cp, &bits, &nbits);
		}
		if (rc)
			goto out;
	}
	if (in_run)
		rc = close_run(out, bits, nbits);
out:
	if (rc)
		out->len = start;
	return rc;
}

char *mv_utf7_display(const char *name, char delim)
{
	struct mv_buf b;
	char *out;

	mv_buf_init(&b, 4 * 4096 + 1);
	if (mv_utf7_decode(&b, name, strlen(name)) != MV_OK || mv_buf_cstr(&b) != MV_OK) {
		mv_buf_release(&b);
		return strdup(name);
	}
	out = (char *)b.data;
	if (delim && delim != '/')
		for (char *q = out; *q; q++)
			if (*q == delim)
				*q = '/';
	return out;
}
