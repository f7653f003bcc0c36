/*
 * test_utf7.c - modified UTF-7: known names decode and encode exactly,
 * and every non-canonical or malformed form is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "utf7.h"

/* Decodes in and compares with want (NULL: must be rejected). */
static int dec_is(const char *in, const char *want)
{
	struct mv_buf b;
	enum mv_err rc;
	int ok;

	mv_buf_init(&b, 4096);
	rc = mv_utf7_decode(&b, in, strlen(in));
	if (!want)
		ok = rc == MV_E_PARSE && b.len == 0;
	else
		ok = rc == MV_OK && b.len == strlen(want) && (b.len == 0 ||
		     memcmp(b.data, want, b.len) == 0);
	mv_buf_release(&b);
	return ok;
}

/* Encodes in[0..n) and compares with want (NULL: must be rejected). */
static int enc_is_n(const char *in, size_t n, const char *want)
{
	struct mv_buf b;
	enum mv_err rc;
	int ok;

	mv_buf_init(&b, 4096);
	rc = mv_utf7_encode(&b, in, n);
	if (!want)
		ok = rc == MV_E_PARSE && b.len == 0;
	else
		ok = rc == MV_OK && b.len == strlen(want) && (b.len == 0 ||
		     memcmp(b.data, want, b.len) == 0);
	mv_buf_release(&b);
	return ok;
}

static int enc_is(const char *in, const char *want)
{
	return enc_is_n(in, strlen(in), want);
}

int main(void)
{
	/* Known pairs, both directions. */
	static const char *const pairs[][2] = {
		{ "", "" },
		{ "INBOX", "INBOX" },
		{ "&-", "&" },
		{ "A&-B", "A&B" },
		{ "&AOk-t&AOk-", "\xc3\xa9t\xc3\xa9" },                  /* été */
		{ "&AOkA6Q-", "\xc3\xa9\xc3\xa9" },                       /* éé */
		{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
		  "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
		{ "&2D3eAA-", "\xf0\x9f\x98\x80" },                       /* U+1F600 */
		{ "&AOk-&-", "\xc3\xa9&" },
		{ "&-&AOk-", "&\xc3\xa9" },
		{ "&AAE-", "\x01" },                                      /* control char */
		{ "&AH8-", "\x7f" },
		{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
		{ "&,,8-", "\xef\xbf\xbf" },                              /* U+FFFF */
		{ "&2,,f,w-", "\xf4\x8f\xbf\xbf" },                       /* U+10FFFF */
	};
	static const char *const bad_dec[] = {
		"&",            /* unterminated shift */
		"&AOk",         /* run without '-' */
		"&AGE-",        /* 'a' must stand for itself */
		"&ACY-",        /* '&' must be "&-" */
		"&ACA-",        /* space must stand for itself */
		"&AOk-&AOk-",   /* two runs in a row */
		"&AOl-",        /* non-zero padding bits */
		"&AOkA-",       /* one superfluous base64 character */
		"&AO-",         /* too short for a UTF-16 unit */
		"&2D0-",        /* lone high surrogate */
		"&3gA-",        /* lone low surrogate */
		"&3gDYPQ-",     /* reversed surrogate pair */
		"&2D3YPQ-",     /* high followed by high */
		"&AAA-",        /* U+0000 */
		"&AO!-",        /* not base64 */
		"&AO/-",        /* standard base64 '/' is not modified base64 */
		"a\tb",         /* control character */
		"caf\xc3\xa9",  /* raw 8-bit */
		"\x7f",
	};
	struct mv_buf b;

	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		T_ASSERT(pairs[i][0], dec_is(pairs[i][0], pairs[i][1]));
		T_ASSERT(pairs[i][0], enc_is(pairs[i][1], pairs[i][0]));
	}
	T_CHECK("known pairs decode and encode", 1);
	T_CHECK("decode '&AOk-t&AOk-' is 'été'",
		dec_is("&AOk-t&AOk-", "\xc3\xa9t\xc3\xa9"));
	for (size_t i = 0; i < sizeof bad_dec / sizeof bad_dec[0]; i++)
		T_ASSERT(bad_dec[i], dec_is(bad_dec[i], NULL));
	T_CHECK("decode '&AGE-' (non-canonical 'a') is refused",
		dec_is("&AGE-", NULL));
	T_CHECK("decode of adjacent runs is refused", dec_is("&AOk-&AOk-", NULL));
	T_CHECK("decode of lone surrogate is refused", dec_is("&2D0-", NULL));

	/* Encoding refuses invalid UTF-8. */
	T_CHECK("encode overlong '/' refused", enc_is("\xc0\xaf", NULL));
	T_CHECK("encode overlong 3-byte refused", enc_is("\xe0\x80\xaf", NULL));
	T_CHECK("encode CESU surrogate refused", enc_is("\xed\xa0\x80", NULL));
	T_CHECK("encode > U+10FFFF refused", enc_is("\xf4\x90\x80\x80", NULL));
	T_CHECK("encode truncated sequence refused", enc_is("a\xc3", NULL));
	T_CHECK("encode stray continuation refused", enc_is("\x80", NULL));
	T_CHECK("encode 0xff refused", enc_is("\xff", NULL));
	T_CHECK("encode NUL refused", enc_is_n("a\0b", 3, NULL));
	T_CHECK("encode merges adjacent non-ASCII into one run",
		enc_is("\xc3\xa9\xc3\xa9", "&AOkA6Q-"));

	/* A failed call leaves what the buffer already held. */
	mv_buf_init(&b, 4096);
	mv_buf_addstr(&b, "keep");
	T_CHECK("failed decode leaves buffer as it was",
		mv_utf7_decode(&b, "x&AGE-", 6) == MV_E_PARSE && b.len == 4 &&
			memcmp(b.data, "keep", 4) == 0);
	T_CHECK("decode appends",
		mv_utf7_decode(&b, "&AOk-", 5) == MV_OK && b.len == 6 &&
			memcmp(b.data, "keep\xc3\xa9", 6) == 0);
	mv_buf_release(&b);

	/* The buffer's cap is honoured. */
	mv_buf_init(&b, 3);
	T_CHECK("decode over the buffer cap is MV_E_LIMIT",
		mv_utf7_decode(&b, "abcd", 4) == MV_E_LIMIT && b.len == 0);
	mv_buf_release(&b);

	/* Every BMP code point outside printable ASCII round-trips. */
	{
		int fails = 0;

		for (unsigned cp = 1; cp < 0x10000; cp++) {
			char u[4];
			size_t n;
			struct mv_buf e1, d1;

			if (cp >= 0xd800 && cp <= 0xdfff)
				continue;
			if (cp < 0x80) {
				u[0] = (char)cp;
				n = 1;
			} else if (cp < 0x800) {
				u[0] = (char)(0xc0 | (cp >> 6));
				u[1] = (char)(0x80 | (cp & 0x3f));
				n = 2;
			} else {
				u[0] = (char)(0xe0 | (cp >> 12));
				u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[2] = (char)(0x80 | (cp & 0x3f));
				n = 3;
			}
			mv_buf_init(&e1, 64);
			mv_buf_init(&d1, 64);
			if (mv_utf7_encode(&e1, u, n) != MV_OK ||
			    mv_utf7_decode(&d1, (char *)e1.data, e1.len) != MV_OK ||
			    d1.len != n || memcmp(d1.data, u, n) != 0)
				fails++;
			mv_buf_release(&e1);
			mv_buf_release(&d1);
		}
		T_CHECK("all BMP code points round-trip", fails == 0);
	}
	return T_DONE();
}
