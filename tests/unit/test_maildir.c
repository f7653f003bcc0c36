/*
 * test_maildir.c - Maildir++ folder listing (including a modified UTF-7
 * name), message scanning with flags and dovecot-keywords, and the pure
 * name and keyword-file parsers on hostile input.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "msgmeta.h"
#include "t.h"

static char root[64];

static void mk(const char *rel)
{
	char p[512];

	snprintf(p, sizeof p, "%s/%s", root, rel);
	if (mkdir(p, 0700) != 0) {
		perror(p);
		exit(2);
	}
}

static void put(const char *rel, const char *data, int64_t mtime)
{
	char p[512];
	int fd;
	struct timespec ts[2];

	snprintf(p, sizeof p, "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
		perror(p);
		exit(2);
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	futimens(fd, ts);
	close(fd);
}

static int name_is(const char *name, int want_rc, size_t want_base,
		   uint32_t want_flags, const char *want_letters)
{
	size_t base = 99;
	uint32_t flags = 99;
	char letters[27];
	int rc;

	memset(letters, 'x', sizeof letters);
	rc = mv_maildir_parse_name(name, &base, &flags, letters);
	if (rc != want_rc)
		return 0;
	if (rc != 0)
		return 1;
	return base == want_base && flags == want_flags &&
	       strcmp(letters, want_letters) == 0;
}

static void test_parse_name(void)
{
	char longname[300];

	T_CHECK("name: plain", name_is("1700000000.M1P1.host", 0, 20, 0, ""));
	T_CHECK("name: empty info", name_is("abc:2,", 0, 3, 0, ""));
	T_CHECK("name: S= and W= stay in the base",
		name_is("abc,S=12,W=14:2,S", 0, 13, MV_FLAG_SEEN, ""));
	T_CHECK("name: all system flags",
		name_is("abc:2,DFPRST", 0, 3, MV_FLAG_ALL, ""));
	T_CHECK("name: DFPRST map to the right bits",
		name_is("a:2,D", 0, 1, MV_FLAG_DRAFT, "") &&
			name_is("a:2,F", 0, 1, MV_FLAG_FLAGGED, "") &&
			name_is("a:2,P", 0, 1, MV_FLAG_PASSED, "") &&
			name_is("a:2,R", 0, 1, MV_FLAG_ANSWERED, "") &&
			name_is("a:2,S", 0, 1, MV_FLAG_SEEN, "") &&
			name_is("a:2,T", 0, 1, MV_FLAG_DELETED, ""));
	T_CHECK("name: letters sorted and unique",
		name_is("abc:2,zyxSaa", 0, 3, MV_FLAG_SEEN, "axyz"));
	T_CHECK("name: unknown upper-case and other bytes ignored",
		name_is("abc:2,XS9-\xff" "b", 0, 3, MV_FLAG_SEEN, "b"));
	T_CHECK("name: experimental info ':1,' has no flags",
		name_is("abc:1,S", 0, 3, 0, ""));
	T_CHECK("name: base ends at the first colon",
		name_is("abc:x:2,S", 0, 3, 0, ""));
	T_CHECK("name: all 26 letters",
		name_is("q:2,abcdefghijklmnopqrstuvwxyz", 0, 1, 0,
			"abcdefghijklmnopqrstuvwxyz"));
	T_CHECK("name: empty refused", name_is("", -1, 0, 0, ""));
	T_CHECK("name: dot file refused", name_is(".abc:2,S", -1, 0, 0, ""));
	T_CHECK("name: slash refused", name_is("a/b:2,S", -1, 0, 0, ""));
	T_CHECK("name: empty base refused", name_is(":2,S", -1, 0, 0, ""));
	memset(longname, 'n', 255);
	longname[255] = '\0';
	T_CHECK("name: 255 bytes accepted", name_is(longname, 0, 255, 0, ""));
	longname[255] = 'n';
	longname[256] = '\0';
	T_CHECK("name: 256 bytes refused", name_is(longname, -1, 0, 0, ""));
}

static void free_names(char *names[26])
{
	for (int i = 0; i < 26; i++)
		free(names[i]);
}

static void test_parse_keywords(void)
{
	static const char text[] =
		"0 $Forwarded\n"
		"1 Work\r\n"
		"25 Last\n"
		"26 TooBig\n"
		"03 Leading\n"
		"2  TwoSpaces\n"
		"4 has space\n"
		"5\tTab\n"
		"-6 Minus\n"
		"7 bad(paren\n"
		"8 \\Seen\n"
		"1 Again\n"
		"9 \n"
		"10 ok\0nul\n"
		"100 Wide\n"
		"x y\n"
		"\n"
		"11 NoNewline";
	char *names[26];
	char big[600];
	int others_null = 1;

	mv_maildir_parse_keywords(text, sizeof text - 1, names);
	T_CHECK("keywords: simple lines",
		names[0] && strcmp(names[0], "$Forwarded") == 0 && names[25] &&
			strcmp(names[25], "Last") == 0);
	T_CHECK("keywords: CRLF line, first definition wins",
		names[1] && strcmp(names[1], "Work") == 0);
	T_CHECK("keywords: last line without newline",
		names[11] && strcmp(names[11], "NoNewline") == 0);
	for (int i = 2; i < 25; i++)
		if (i != 11 && names[i])
			others_null = 0;
	T_CHECK("keywords: malformed lines ignored", others_null);
	free_names(names);

	memcpy(big, "3 ", 2);
	memset(big + 2, 'k', 255);
	memcpy(big + 257, "\n4 ", 3);
	memset(big + 260, 'm', 256);
	mv_maildir_parse_keywords(big, 516, names);
	T_CHECK("keywords: 255-byte name kept, 256 dropped",
		names[3] && strlen(names[3]) == 255 && !names[4]);
	free_names(names);

	mv_maildir_parse_keywords("", 0, names);
	T_CHECK("keywords: empty file", !names[0] && !names[25]);
	free_names(names);
}

static const struct mv_maildir_msg *find(const struct mv_maildir_msg *m,
					 size_t n, const char *base)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].base, base) == 0)
			return &m[i];
	return NULL;
}

static void test_tree(void)
{
	struct mv_maildir_folder *f = NULL;
	struct mv_maildir_msg *m = NULL;
	const struct mv_maildir_msg *x;
	size_t nf = 0, nm = 0;
	struct mv_error e;
	char path[512];
	int sorted = 1;

	mk("cur");
	mk("new");
	mk("tmp");
	put("dovecot-keywords", "0 $Forwarded\n1 Work\n2 bad(kw\n4 Junk\n5 Work\n", 1);
	put("cur/1700000000.M1P1.host,S=5,W=6:2,FSab", "hello", 1700000000);
	put("cur/1700000001.M2P2.host:2,RTPDbcefz", "x", 1700000001);
	put("new/1700000002.M3P3.host", "new one\n", 1700000002);
	put("cur/.hidden", "no", 1);
	mk("cur/subdir");
	put("tmp/1700000003.M4P4.host", "partial", 1);
	put("cur/1700000004.x:1,S", "exp", 1);
	put("new/dup.host", "old", 1);
	put("cur/dup.host:2,S", "newer", 2);
	mk(".Sent");
	mk(".Sent/cur");
	mk(".&AOk-t&AOk-");
	mk(".&AOk-t&AOk-/new");
	mk(".Archive.2024");
	mk(".Archive.2024/cur");
	mk(".NoMail");
	mk(".NoMail/tmp");
	put(".file", "x", 1);
	put(".Sent/cur/s1:2,S", "sent", 5);

	mv_error_clear(&e);
	T_CHECK("list ok", mv_maildir_list(root, &f, &nf, &e) == MV_OK);
	T_CHECK("list: INBOX first, then byte order, only real folders",
		nf == 4 && strcmp(f[0].name, "INBOX") == 0 &&
			strcmp(f[0].path, root) == 0 &&
			strcmp(f[1].name, "&AOk-t&AOk-") == 0 &&
			strcmp(f[2].name, "Archive.2024") == 0 &&
			strcmp(f[3].name, "Sent") == 0);
	snprintf(path, sizeof path, "%s/.&AOk-t&AOk-", root);
	T_CHECK("list: folder path", nf == 4 && strcmp(f[1].path, path) == 0);

	T_CHECK("scan INBOX ok", nf >= 1 && mv_maildir_scan(&f[0], &m, &nm, &e) == MV_OK);
	T_CHECK("scan: dot files, dirs, tmp/ skipped; duplicate kept once",
		nm == 5);
	for (size_t i = 1; i < nm; i++)
		if (strcmp(m[i - 1].base, m[i].base) >= 0)
			sorted = 0;
	T_CHECK("scan: sorted by base", sorted);
	x = find(m, nm, "1700000000.M1P1.host,S=5,W=6");
	T_CHECK("scan: flags and keywords resolved",
		x && x->flags == (MV_FLAG_FLAGGED | MV_FLAG_SEEN) && x->nkeywords == 2 &&
			strcmp(x->keywords[0], "$Forwarded") == 0 &&
			strcmp(x->keywords[1], "Work") == 0 && !x->unknown_letters);
	T_CHECK("scan: size, mtime, path, in_new",
		x && x->size == 5 && x->mtime == 1700000000 && !x->in_new &&
			strstr(x->path, "/cur/1700000000.M1P1.host,S=5,W=6:2,FSab"));
	x = find(m, nm, "1700000001.M2P2.host");
	T_CHECK("scan: unknown letters kept, same name listed once",
		x && x->flags == (MV_FLAG_ANSWERED | MV_FLAG_DELETED | MV_FLAG_PASSED |
				  MV_FLAG_DRAFT) &&
			x->nkeywords == 2 && strcmp(x->keywords[0], "Work") == 0 &&
			strcmp(x->keywords[1], "Junk") == 0 && x->unknown_letters &&
			strcmp(x->unknown_letters, "cz") == 0);
	x = find(m, nm, "1700000002.M3P3.host");
	T_CHECK("scan: new/ message", x && x->in_new && x->flags == 0 &&
					      x->nkeywords == 0 && !x->keywords &&
					      x->size == 8);
	x = find(m, nm, "dup.host");
	T_CHECK("scan: cur/ copy of a duplicate wins", x && !x->in_new &&
							       x->flags == MV_FLAG_SEEN &&
							       x->size == 5);
	x = find(m, nm, "1700000004.x");
	T_CHECK("scan: experimental info gives no flags", x && x->flags == 0);
	mv_maildir_msgs_free(m, nm);
	m = NULL;

	T_CHECK("scan Sent", nf == 4 && mv_maildir_scan(&f[3], &m, &nm, &e) == MV_OK &&
				     nm == 1 && strcmp(m[0].base, "s1") == 0 &&
				     m[0].flags == MV_FLAG_SEEN);
	mv_maildir_msgs_free(m, nm);
	m = NULL;
	T_CHECK("scan empty folder",
		nf == 4 && mv_maildir_scan(&f[1], &m, &nm, &e) == MV_OK && nm == 0);
	mv_maildir_msgs_free(m, nm);
	mv_maildir_folders_free(f, nf);
	mv_maildir_folders_free(NULL, 0);
	mv_maildir_msgs_free(NULL, 0);

	/* A path too long to build is a clean MV_E_LIMIT. */
	{
		struct mv_maildir_folder lf;
		char *lp = malloc(4200);

		memset(lp, 'a', 4199);
		lp[0] = '/';
		lp[4199] = '\0';
		lf.name = "x";
		lf.path = lp;
		mv_error_clear(&e);
		T_CHECK("scan: overlong path is MV_E_LIMIT",
			mv_maildir_scan(&lf, &m, &nm, &e) == MV_E_LIMIT && m == NULL &&
				nm == 0);
		free(lp);
	}

	/* A ".INBOX" subfolder would collide with the root. */
	mk(".inbox");
	mk(".inbox/cur");
	mv_error_clear(&e);
	T_CHECK("list: '.inbox' subfolder is MV_E_PARSE",
		mv_maildir_list(root, &f, &nf, &e) == MV_E_PARSE && f == NULL &&
			nf == 0 && strstr(e.msg, "'.inbox'") != NULL);
}

static void test_not_maildir(void)
{
	struct mv_maildir_folder *f = NULL;
	size_t nf = 0;
	struct mv_error e;
	char p[512];

	mv_error_clear(&e);
	snprintf(p, sizeof p, "%s/missing", root);
	T_CHECK("list: missing root is MV_E_NOTFOUND",
		mv_maildir_list(p, &f, &nf, &e) == MV_E_NOTFOUND && f == NULL);
	mv_error_clear(&e);
	snprintf(p, sizeof p, "%s/plain", root);
	mkdir(p, 0700);
	T_CHECK("list: directory without cur/ or new/ is MV_E_NOTFOUND",
		mv_maildir_list(p, &f, &nf, &e) == MV_E_NOTFOUND && f == NULL &&
			strstr(e.msg, "not a maildir") != NULL);
	rmdir(p);
	mv_error_clear(&e);
	snprintf(p, sizeof p, "%s/dovecot-keywords", root);
	T_CHECK("list: a file is MV_E_NOTFOUND",
		mv_maildir_list(p, &f, &nf, &e) == MV_E_NOTFOUND && f == NULL);
}

int main(void)
{
	char cmd[128];
	int rc;

	snprintf(root, sizeof root, "/tmp/test_maildir.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 2;
	}
	test_parse_name();
	test_parse_keywords();
	test_tree();
	test_not_maildir();
	rc = T_DONE();
	/* The tree has a dozen entries; rm -r is clearer than a walker. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 2;
	return rc;
}
