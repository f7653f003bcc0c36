/*
 * test_imapdate.c - INTERNALDATE strings: exact formatting (values checked
 * against Python's datetime), parsing of the three day forms, and refusal
 * of everything malformed or out of range.
 */
#include <string.h>

#include "imapdate.h"
#include "t.h"

static int fmt_is(int64_t t, int tz, const char *want)
{
	char out[MV_IMAPDATE_LEN + 1];

	memset(out, 'x', sizeof out);
	mv_imapdate_format(out, t, tz);
	return strlen(out) == MV_IMAPDATE_LEN && strcmp(out, want) == 0;
}

static int parse_is(const char *s, int64_t want_t, int want_tz)
{
	int64_t t = 0;
	int tz = 12345;

	return mv_imapdate_parse(s, strlen(s), &t, &tz) == 0 && t == want_t &&
	       tz == want_tz;
}

static int parse_bad(const char *s)
{
	int64_t t = 0;
	int tz = 0;

	return mv_imapdate_parse(s, strlen(s), &t, &tz) == -1;
}

int main(void)
{
	static const char *const bad[] = {
		"",
		"1-Jan-2026",                     /* no time */
		"01-Jan-2026 00:00:00",           /* no zone */
		"01-Jan-2026 00:00:00 +000",      /* short zone */
		"01-Jan-2026 00:00:00 +00000",    /* long zone */
		"01-Jan-2026 00:00:00 0000",      /* zone without sign */
		"01-Jan-2026 00:00:00 +0060",     /* zone minutes 60 */
		"01-Jan-2026 24:00:00 +0000",
		"01-Jan-2026 00:60:00 +0000",
		"01-Jan-2026 00:00:61 +0000",
		"00-Jan-2026 00:00:00 +0000",
		"32-Jan-2026 00:00:00 +0000",
		"29-Feb-2026 00:00:00 +0000",     /* not a leap year */
		"29-Feb-1900 00:00:00 +0000",     /* century, not leap */
		"31-Apr-2026 00:00:00 +0000",
		"01-Foo-2026 00:00:00 +0000",
		"01-Jan-1899 00:00:00 +0000",     /* before 1900 */
		"01-Jan-20260 00:00:00 +0000",
		"01-Jan-226 00:00:00 +0000",
		"001-Jan-2026 00:00:00 +0000",
		"  1-Jan-2026 00:00:00 +0000",
		" 01-Jan-2026 00:00:00 +0000",
		"01 Jan 2026 00:00:00 +0000",
		"01-Jan-2026  00:00:00 +0000",
		"01-Jan-2026 0:00:00 +0000",
		"01-Jan-2026 00:00:00 +0000 ",    /* trailing byte */
		"\"01-Jan-2026 00:00:00 +0000\"", /* quotes belong to the caller */
		"01-Jan-2026 00:00:00 +00:00",
	};
	int64_t t;
	int tz;

	T_CHECK("format epoch", fmt_is(0, 0, " 1-Jan-1970 00:00:00 +0000"));
	T_CHECK("format UTC", fmt_is(1795741323, 0, "27-Nov-2026 01:02:03 +0000"));
	T_CHECK("format negative zone crosses a day",
		fmt_is(1795741323, -300, "26-Nov-2026 20:02:03 -0500"));
	T_CHECK("format half-hour zone",
		fmt_is(1795741323, 330, "27-Nov-2026 06:32:03 +0530"));
	T_CHECK("format leap day", fmt_is(951782400, 0, "29-Feb-2000 00:00:00 +0000"));
	T_CHECK("format 1900", fmt_is(-2208988800, 0, " 1-Jan-1900 00:00:00 +0000"));
	T_CHECK("format 9999", fmt_is(253402300799, 0, "31-Dec-9999 23:59:59 +0000"));
	T_CHECK("format clamps after 9999",
		fmt_is(INT64_MAX, 0, "31-Dec-9999 23:59:59 +0000"));
	T_CHECK("format clamps before 1900",
		fmt_is(INT64_MIN, 0, " 1-Jan-1900 00:00:00 +0000"));
	T_CHECK("format clamps absurd zone",
		fmt_is(0, 100000, " 5-Jan-1970 03:59:00 +9959"));
	T_CHECK("format clamps absurd negative zone",
		fmt_is(0, -100000, "27-Dec-1969 20:01:00 -9959"));

	T_CHECK("parse space-padded day",
		parse_is(" 1-Jan-1970 00:00:00 +0000", 0, 0));
	T_CHECK("parse zero-padded day",
		parse_is("01-Jan-1970 00:00:00 +0000", 0, 0));
	T_CHECK("parse one-digit day", parse_is("1-Jan-1970 00:00:00 +0000", 0, 0));
	T_CHECK("parse applies negative zone",
		parse_is("26-Nov-2026 20:02:03 -0500", 1795741323, -300));
	T_CHECK("parse applies half-hour zone",
		parse_is("27-Nov-2026 06:32:03 +0530", 1795741323, 330));
	T_CHECK("parse month ignores case",
		parse_is("27-NOV-2026 01:02:03 +0000", 1795741323, 0));
	T_CHECK("parse leap day", parse_is("29-Feb-2000 00:00:00 +0000", 951782400, 0));
	T_CHECK("parse 1900", parse_is(" 1-Jan-1900 00:00:00 +0000", -2208988800, 0));
	T_CHECK("parse 9999", parse_is("31-Dec-9999 23:59:59 +0000", 253402300799, 0));
	T_CHECK("parse leap second counts forward",
		parse_is("31-Dec-2016 23:59:60 +0000", 1483228800, 0));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		T_ASSERT(bad[i], parse_bad(bad[i]));
	T_CHECK("malformed dates are refused", 1);
	T_CHECK("parse respects n (no reading past it)",
		mv_imapdate_parse("01-Jan-1970 00:00:00 +00001", 26, &t, &tz) == 0 &&
			t == 0 &&
			mv_imapdate_parse("01-Jan-1970 00:00:00 +0000", 25, &t, &tz) == -1);

	/* Format and parse agree over a spread of times and zones. */
	{
		int fails = 0;

		for (int64_t x = -2208988800 + 86400; x < 253402300799 - 86400;
		     x += 7777777) {
			for (int z = -720; z <= 840; z += 135) {
				char s[MV_IMAPDATE_LEN + 1];

				mv_imapdate_format(s, x, z);
				if (mv_imapdate_parse(s, strlen(s), &t, &tz) != 0 ||
				    t != x || tz != z)
					fails++;
			}
		}
		T_CHECK("format then parse is the identity", fails == 0);
	}
	return T_DONE();
}
