/*
 * mailhdr.c - From_ line dates, Status / X-Status / X-Keywords, keyword
 * validity; see mailhdr.h.
 *
 * Everything here reads untrusted bytes against an explicit end and never
 * allocates more than MV_MAX_KEYWORDS keywords of MV_MAX_KEYWORD_LEN bytes.
 */
#include "mailhdr.h"

#include <stdlib.h>
#include <string.h>

#include "imapdate.h"
#include "msgmeta.h"

/* ---- header field names ---- */

static int lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int mv_mail_prefix_ci(const uint8_t *p, size_t n, const char *pre)
{
	size_t i;

	for (i = 0; pre[i]; i++)
		if (i >= n || lower(p[i]) != pre[i])
			return 0;
	return 1;
}

/* ---- keywords ---- */

/*
 * IMAP keywords are atoms (RFC 9051 9: atom-specials are "(" ")" "{" SP
 * CTL "%" "*" DQUOTE "\" "]"), and must be plain ASCII.  A keyword that
 * is not an atom could not be sent back to a server, so every reader drops
 * it and every writer leaves it out.
 */
int mv_keyword_valid(const char *s, size_t n)
{
	if (n == 0 || n > MV_MAX_KEYWORD_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return 0;
	}
	return 1;
}

/* ---- From_ line dates ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Matches one of the three-letter names in names at s[i..n), ignoring case;
 * returns its index or -1. */
static int match_name(const char *s, size_t n, size_t i, const char *names,
		      int count)
{
	if (n - i < 3 || (n - i > 3 && !is_space(s[i + 3])))
		return -1;
	for (int k = 0; k < count; k++)
		if (lower((uint8_t)s[i]) == lower((uint8_t)names[3 * k]) &&
		    lower((uint8_t)s[i + 1]) == lower((uint8_t)names[3 * k + 1]) &&
		    lower((uint8_t)s[i + 2]) == lower((uint8_t)names[3 * k + 2]))
			return k;
	return -1;
}

static size_t skip_space(const char *s, size_t n, size_t i)
{
	while (i < n && is_space(s[i]))
		i++;
	return i;
}

/* Reads 1..max digits; returns the value or -1. */
static int number(const char *s, size_t n, size_t *i, int max)
{
	int v = 0, k = 0;

	while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	if (k == 0 || (*i < n && s[*i] >= '0' && s[*i] <= '9'))
		return -1;
	return v;
}

static int token_end(const char *s, size_t n, size_t i)
{
	return i == n || is_space(s[i]);
}

/* A numeric zone "+hhmm"/"-hhmm" at s[*i..n) as a whole token. */
static int numeric_zone(const char *s, size_t n, size_t *i, int *minutes)
{
	size_t j = *i;
	int v;

	if (j >= n || (s[j] != '+' && s[j] != '-'))
		return -1;
	j++;
	if (n - j < 4)
		return -1;
	for (size_t k = 0; k < 4; k++)
		if (s[j + k] < '0' || s[j + k] > '9')
			return -1;
	if (!token_end(s, n, j + 4))
		return -1;
	v = (s[j] - '0') * 600 + (s[j + 1] - '0') * 60 + (s[j + 2] - '0') * 10 +
	    (s[j + 3] - '0');
	if (s[j + 2] > '5')
		return -1;
	*minutes = s[*i] == '-' ? -v : v;
	*i = j + 4;
	return 0;
}

/* Writes 0 <= v <= 99 as two digits. */
static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/*
 * Tries "Www Mmm dd hh:mm[:ss] [zone] yyyy [zone]" at s[i..n).  A zone is
 * "+hhmm"/"-hhmm" (applied) or 1..5 letters (ignored: abbreviations are
 * ambiguous).  Without a numeric zone the time is taken as UTC, as
 * Python's and most MDAs' asctime() From_ lines are.
 */
static int date_at(const char *s, size_t n, size_t i, int64_t *when)
{
	static const char wdays[] = "SunMonTueWedThuFriSat";
	static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char buf[MV_IMAPDATE_LEN];
	int mon, day, hh, mm, ss = 0, year = -1, zone = 0, tz;
	int64_t t;

	if (match_name(s, n, i, wdays, 7) < 0)
		return -1;
	i = skip_space(s, n, i + 3);
	mon = match_name(s, n, i, mons, 12);
	if (mon < 0)
		return -1;
	i = skip_space(s, n, i + 3);
	day = number(s, n, &i, 2);
	if (day < 0 || !token_end(s, n, i))
		return -1;
	i = skip_space(s, n, i);
	hh = number(s, n, &i, 2);
	if (hh < 0 || i >= n || s[i] != ':')
		return -1;
	i++;
	mm = number(s, n, &i, 2);
	if (mm < 0)
		return -1;
	if (i < n && s[i] == ':') {
		i++;
		ss = number(s, n, &i, 2);
		if (ss < 0)
			return -1;
	}
	if (!token_end(s, n, i))
		return -1;
	i = skip_space(s, n, i);
	/* An optional zone before the year. */
	if (numeric_zone(s, n, &i, &zone) == 0) {
		i = skip_space(s, n, i);
	} else {
		size_t j = i;

		while (j < n && j - i < 6 &&
		       ((s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z')))
			j++;
		if (j > i && j - i <= 5 && token_end(s, n, j))
			i = skip_space(s, n, j);
	}
	year = number(s, n, &i, 4);
	if (year < 1900 || !token_end(s, n, i))
		return -1;
	/* An optional numeric zone after the year; anything else (a letter
	 * zone, "remote from host") is ignored. */
	i = skip_space(s, n, i);
	(void)numeric_zone(s, n, &i, &zone);
	if (zone < -(99 * 60 + 59) || zone > 99 * 60 + 59)
		return -1;
	/* Let mv_imapdate_parse do the range and calendar checks; every
	 * field here has at most the width its slot allows. */
	put2(buf, day);
	buf[2] = '-';
	memcpy(buf + 3, mons + 3 * mon, 3);
	buf[6] = '-';
	put2(buf + 7, year / 100);
	put2(buf + 9, year % 100);
	buf[11] = ' ';
	put2(buf + 12, hh);
	buf[14] = ':';
	put2(buf + 15, mm);
	buf[17] = ':';
	put2(buf + 18, ss);
	buf[20] = ' ';
	buf[21] = zone < 0 ? '-' : '+';
	put2(buf + 22, abs(zone) / 60);
	put2(buf + 24, abs(zone) % 60);
	if (mv_imapdate_parse(buf, MV_IMAPDATE_LEN, &t, &tz) != 0)
		return -1;
	*when = t;
	return 0;
}

int mv_mbox_from_date(const char *from_line, size_t n, int64_t *when)
{
	/* The sender comes first and may be missing or odd, so try every
	 * token start and take the first that reads as a date. */
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && !is_space(from_line[i - 1]))
			continue;
		if (is_space(from_line[i]))
			continue;
		if (date_at(from_line, n, i, when) == 0)
			return 0;
	}
	return -1;
}

/* ---- Status / X-Status / X-Keywords ---- */

enum hdr_field { F_OTHER, F_STATUS, F_XSTATUS, F_XKEYWORDS };

static int same_ci(const char *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] == '\0' || lower((uint8_t)a[i]) != lower(b[i]))
			return 0;
	return a[i] == '\0';
}

/* Adds keyword p[0..n) unless it is a duplicate (ignoring case), invalid,
 * or over the limit; allocation failure just drops it. */
static void add_keyword(const uint8_t *p, size_t n, char ***kw, size_t *nkw)
{
	char *s;

	if (!mv_keyword_valid((const char *)p, n) ||
	    *nkw >= MV_MAX_KEYWORDS)
		return;
	for (size_t i = 0; i < *nkw; i++)
		if (same_ci((*kw)[i], p, n))
			return;
	if (!*kw) {
		*kw = malloc(MV_MAX_KEYWORDS * sizeof **kw);
		if (!*kw)
			return;
	}
	s = malloc(n + 1);
	if (!s)
		return;
	memcpy(s, p, n);
	s[n] = '\0';
	(*kw)[(*nkw)++] = s;
}

static void apply_value(enum hdr_field f, const uint8_t *p, size_t n,
			uint32_t *flags, char ***kw, size_t *nkw)
{
	size_t i = 0, j;

	switch (f) {
	case F_STATUS:
		for (i = 0; i < n; i++)
			if (p[i] == 'R')
				*flags |= MV_FLAG_SEEN;
		break;
	case F_XSTATUS:
		for (i = 0; i < n; i++) {
			if (p[i] == 'A')
				*flags |= MV_FLAG_ANSWERED;
			else if (p[i] == 'F')
				*flags |= MV_FLAG_FLAGGED;
			else if (p[i] == 'T')
				*flags |= MV_FLAG_DRAFT;
			else if (p[i] == 'D')
				*flags |= MV_FLAG_DELETED;
		}
		break;
	case F_XKEYWORDS:
		while (i < n) {
			while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
				i++;
			for (j = i; j < n && p[j] != ' ' && p[j] != '\t' && p[j] != ',';
			     j++)
				;
			if (j > i)
				add_keyword(p + i, j - i, kw, nkw);
			i = j;
		}
		break;
	case F_OTHER:
		break;
	}
}

void mv_mail_header_flags(const uint8_t *hdr, size_t n, uint32_t *flags,
			  char ***kw, size_t *nkw)
{
	enum hdr_field f = F_OTHER;
	size_t i = 0;

	*flags = 0;
	*kw = NULL;
	*nkw = 0;
	while (i < n) {
		const uint8_t *line = hdr + i;
		const uint8_t *nl = memchr(line, '\n', n - i);
		size_t len = nl ? (size_t)(nl - line) : n - i;
		size_t next = i + len + (nl ? 1 : 0);
		size_t c;

		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			/* A folded line continues the field before it. */
			apply_value(f, line, len, flags, kw, nkw);
			i = next;
			continue;
		}
		for (c = 0; c < len && line[c] != ':'; c++)
			;
		f = F_OTHER;
		if (c < len) {
			size_t name = c;

			/* Obsolete syntax allows spaces before the colon. */
			while (name > 0 && (line[name - 1] == ' ' || line[name - 1] == '\t'))
				name--;
			if (name == 6 && mv_mail_prefix_ci(line, name, "status"))
				f = F_STATUS;
			else if (name == 8 && mv_mail_prefix_ci(line, name, "x-status"))
				f = F_XSTATUS;
			else if (name == 10 && mv_mail_prefix_ci(line, name, "x-keywords"))
				f = F_XKEYWORDS;
			apply_value(f, line + c + 1, len - c - 1, flags, kw, nkw);
		}
		i = next;
	}
	if (*nkw == 0) {
		free(*kw);
		*kw = NULL;
	}
}
