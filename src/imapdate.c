/*
 * imapdate.c - IMAP INTERNALDATE strings; see imapdate.h.
 *
 * Calendar arithmetic is done here with Howard Hinnant's days-from-civil
 * algorithm rather than gmtime()/timegm(), so results do not depend on the
 * process time zone, on time_t's width, or on the C library's range.
 */
#include "imapdate.h"

#include <string.h>

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dm[m - 1];
}

/* Writes v (0 <= v < 10^width) as width decimal digits. */
static void put_digits(char *p, int width, int v)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * The output always has exactly MV_IMAPDATE_LEN bytes: a zone beyond
 * +-99:59 is clamped to it, and a local time before 1900 or after 9999 is
 * clamped to the first or last second of that range, since the string
 * form has room for no other year.
 */
void mv_imapdate_format(char out[MV_IMAPDATE_LEN + 1], int64_t t, int tzoff_min)
{
	const int64_t lo = days_from_civil(1900, 1, 1) * 86400;
	const int64_t hi = days_from_civil(10000, 1, 1) * 86400 - 1;
	int64_t local, days, secs, y;
	int m, d, off;
	char sign = '+';

	off = tzoff_min;
	if (off > 99 * 60 + 59)
		off = 99 * 60 + 59;
	if (off < -(99 * 60 + 59))
		off = -(99 * 60 + 59);
	/* Clamp before adding so the sum cannot overflow. */
	if (t < lo - 6000 * 60)
		t = lo - 6000 * 60;
	if (t > hi + 6000 * 60)
		t = hi + 6000 * 60;
	local = t + (int64_t)off * 60;
	if (local < lo)
		local = lo;
	if (local > hi)
		local = hi;
	days = local / 86400;
	secs = local % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	/* Built by hand rather than with snprintf: every field has a known
	 * width after the clamping above, and that is easier to see here. */
	put_digits(out, 2, d);
	if (d < 10)
		out[0] = ' ';
	out[2] = '-';
	memcpy(out + 3, months[m - 1], 3);
	out[6] = '-';
	put_digits(out + 7, 4, (int)y);
	out[11] = ' ';
	put_digits(out + 12, 2, (int)(secs / 3600));
	out[14] = ':';
	put_digits(out + 15, 2, (int)(secs / 60 % 60));
	out[17] = ':';
	put_digits(out + 18, 2, (int)(secs % 60));
	out[20] = ' ';
	out[21] = sign;
	put_digits(out + 22, 2, off / 60);
	put_digits(out + 24, 2, off % 60);
	out[MV_IMAPDATE_LEN] = '\0';
}

/* Reads exactly k decimal digits at s[*i..n); returns the value or -1. */
static int digits(const char *s, size_t n, size_t *i, int k)
{
	int v = 0;

	for (int j = 0; j < k; j++) {
		if (*i >= n || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[*i] - '0');
		(*i)++;
	}
	return v;
}

static int expect(const char *s, size_t n, size_t *i, char c)
{
	if (*i >= n || s[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

static int lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/*
 * Month names are matched without regard to case, as IMAP string literals
 * in the grammar are case-insensitive.  Seconds may be 60 (a leap second)
 * and count as the first second of the next minute.  The zone's minutes
 * must be 00..59.
 */
int mv_imapdate_parse(const char *s, size_t n, int64_t *t, int *tzoff_min)
{
	size_t i = 0;
	int day, mon = -1, year, hh, mm, ss, zh, zm, sign;

	/* Day: " d", "dd", or a bare "d". */
	if (n > 0 && s[0] == ' ') {
		i = 1;
		day = digits(s, n, &i, 1);
	} else if (n > 1 && s[1] == '-') {
		day = digits(s, n, &i, 1);
	} else {
		day = digits(s, n, &i, 2);
	}
	if (day < 1 || expect(s, n, &i, '-'))
		return -1;
	if (n - i < 3)
		return -1;
	for (int k = 0; k < 12; k++) {
		if (lower(s[i]) == lower(months[k][0]) &&
		    lower(s[i + 1]) == lower(months[k][1]) &&
		    lower(s[i + 2]) == lower(months[k][2])) {
			mon = k + 1;
			break;
		}
	}
	if (mon < 0)
		return -1;
	i += 3;
	if (expect(s, n, &i, '-'))
		return -1;
	year = digits(s, n, &i, 4);
	if (year < 1900 || expect(s, n, &i, ' '))
		return -1;
	hh = digits(s, n, &i, 2);
	if (hh < 0 || expect(s, n, &i, ':'))
		return -1;
	mm = digits(s, n, &i, 2);
	if (mm < 0 || expect(s, n, &i, ':'))
		return -1;
	ss = digits(s, n, &i, 2);
	if (ss < 0 || expect(s, n, &i, ' '))
		return -1;
	if (i >= n || (s[i] != '+' && s[i] != '-'))
		return -1;
	sign = s[i] == '-' ? -1 : 1;
	i++;
	zh = digits(s, n, &i, 2);
	zm = digits(s, n, &i, 2);
	if (zh < 0 || zm < 0 || i != n)
		return -1;
	if (day > days_in_month(year, mon) || hh > 23 || mm > 59 || ss > 60 ||
	    zm > 59)
		return -1;
	*tzoff_min = sign * (zh * 60 + zm);
	*t = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss -
	     (int64_t)*tzoff_min * 60;
	return 0;
}
