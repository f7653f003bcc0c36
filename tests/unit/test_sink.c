/*
 * test_sink.c - the plaintext writers (sink.h) against hostile messages
 * and folder names, read back independently: Maildir and mbox from the
 * file system byte for byte, tar and zip through Python's tarfile and
 * zipfile (a reader that shares no code with libarchive's writer), and
 * mbox and Maildir once more through the project's own readers to prove
 * the round trip the header promises.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"

#include "err.h"
#include "maildir.h"
#include "mbox.h"
#include "msgmeta.h"
#include "sink.h"

/* ---- the messages ---- */

struct msg {
	const char *folder;
	char delim;
	uint32_t flags;
	const char *kw[24];
	int64_t when;
	const char *mdname;     /* meta->maildir_name */
	const char *from;       /* meta->mbox_from */
	const char *data;
	size_t len;
	const char *base;       /* expected base name, NULL: a generated one */
	const char *info;       /* expected ":2,..." */
};

#define D(s) s, sizeof s - 1

static const struct msg msgs[] = {
	{ "INBOX", '/', MV_FLAG_SEEN | MV_FLAG_ANSWERED, { "$Label1", "Junk" },
	  1700000000, "1700000000.M1P2.host,S=42",
	  "alice@example.com Tue Nov 14 22:13:20 2023",
	  D("Subject: a\r\n\r\nFrom me\r\n>From you\r\n"),
	  "1700000000.M1P2.host,S=42", ":2,RSab" },
	/* NUL, bare CR, From_ at the start, a held "From" at the very end. */
	{ "INBOX", '/', 0, { "Junk", "Junk" }, 946684800, "../evil", NULL,
	  D("From the start\n\0x\ry\n>>From z\nFrom"), NULL, ":2,b" },
	/* Empty; reuses message 0's name; a From_ line trying to inject. */
	{ "INBOX", '/', MV_FLAG_DELETED | MV_FLAG_DRAFT | MV_FLAG_FLAGGED |
	  MV_FLAG_PASSED, { NULL }, 0, "1700000000.M1P2.host,S=42",
	  "evil\nFrom x", D(""), NULL, ":2,DFPT" },
	{ "&AOk-t&AOk-", '/', MV_FLAG_SEEN, { NULL }, 1234567890, "a:b", NULL,
	  D("Hi\n"), NULL, ":2,S" },
	{ "Work/Projects/2024", '/', 0, { NULL }, 1234567890, NULL, NULL,
	  D("X\n>From\nFrom\n"), NULL, ":2," },
	{ "Evil/../x", '/', 0, { NULL }, 0, NULL, NULL, D("e\n"), NULL, ":2," },
	{ "a.b/c", '/', 0, { NULL }, 0, NULL, NULL, D("f\n"), NULL, ":2," },
	{ "/abs", '/', 0, { NULL }, 0, NULL, NULL, D("g"), NULL, ":2," },
	{ "~home", '/', 0, { NULL }, 0, NULL, NULL, D("h\n"), NULL, ":2," },
	{ "Tab\tX", '/', 0, { NULL }, 0, NULL, NULL, D("i\n"), NULL, ":2," },
	{ "R\xc3\xa9", '/', 0, { NULL }, 0, NULL, NULL, D("j\n"), NULL, ":2," },
	/* 30 distinct keywords in one folder over two messages, one invalid. */
	{ "Kw", '.', 0, { "kw00", "kw01", "kw02", "kw03", "kw04", "kw05", "kw06",
			  "kw07", "kw08", "kw09", "kw10", "kw11", "kw12", "kw13",
			  "kw14", "kw15", "kw16", "kw17", "kw18", "kw19", "bad kw" },
	  0, NULL, NULL, D("k1\n"), NULL, ":2,abcdefghijklmnopqrst" },
	{ "Kw", '.', 0, { "kw15", "kw16", "kw17", "kw18", "kw19", "kw20", "kw21",
			  "kw22", "kw23", "kw24", "kw25", "kw26", "kw27", "kw28",
			  "kw29" },
	  0, NULL, NULL, D("k2\n"), NULL, ":2,pqrstuvwxyz" },
	{ "Dots.Sub", '.', 0, { NULL }, 0, NULL, NULL, D("From \n"), NULL, ":2," },
	/* A directory must not take the name of folder Arch's file. */
	{ "Arch", '/', 0, { NULL }, 0, NULL, NULL, D("l\n"), NULL, ":2," },
	{ "Arch.mbox/Sub", '/', 0, { NULL }, 0, NULL, NULL, D("m\n"), NULL, ":2," },
	/* Back to INBOX after other folders: the mbox file is reopened. */
	{ "INBOX", '/', 0, { NULL }, 1700000000, "zz-last", NULL, D("last\n"),
	  "zz-last", ":2," },
};
#define NMSGS (sizeof msgs / sizeof msgs[0])

/* Maildir++ directory and mbox file of each folder, as sink.h specifies. */
static const struct {
	const char *folder, *maildir, *mbox;
} folders[] = {
	{ "INBOX", "", "INBOX.mbox" },
	{ "&AOk-t&AOk-", ".&AOk-t&AOk-", "\xc3\xa9t\xc3\xa9.mbox" },
	{ "Work/Projects/2024", ".Work.Projects.2024", "Work/Projects/2024.mbox" },
	{ "Evil/../x", ".Evil.&AC4-&AC4-.x", "Evil/%2E./x.mbox" },
	{ "a.b/c", ".a&AC4-b.c", "a.b/c.mbox" },
	{ "/abs", ".&AC8-abs", "%2Fabs.mbox" },
	{ "~home", ".&AH4-home", "~home.mbox" },
	{ "Tab\tX", ".Tab&AAk-X", "Tab%09X.mbox" },
	{ "R\xc3\xa9", ".R&AMM-&AKk-", "R%C3%A9.mbox" },
	{ "Kw", ".Kw", "Kw.mbox" },
	{ "Dots.Sub", ".Dots.Sub", "Dots/Sub.mbox" },
	{ "Arch", ".Arch", "Arch.mbox" },
	{ "Arch.mbox/Sub", ".Arch&AC4-mbox.Sub", "Arch%2Embox/Sub.mbox" },
};
#define NFOLDERS (sizeof folders / sizeof folders[0])

static const char *const mbox_dirs[] = {
	"Work", "Work/Projects", "Evil", "Evil/%2E.", "a.b", "Dots", "Arch%2Embox",
};

static char *base_dir;

static char *path_of(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		abort();
	return p;
}

static void meta_of(const struct msg *m, struct mv_msgmeta *meta, size_t *nkw)
{
	size_t n = 0;

	while (n < 24 && m->kw[n])
		n++;
	memset(meta, 0, sizeof *meta);
	meta->folder = m->folder;
	meta->delim = m->delim;
	meta->flags = m->flags;
	meta->nkeywords = n;
	meta->keywords = m->kw;
	meta->internaldate = m->when;
	meta->size = m->len;
	meta->mbox_from = m->from;
	meta->maildir_name = m->mdname;
	*nkw = n;
}

/* Writes every message, in pieces of `piece` bytes (0: in one call). */
static int write_all_msgs(struct mv_sink *s, size_t piece)
{
	struct mv_error e;
	int ok = 1;

	for (size_t i = 0; i < NMSGS; i++) {
		const struct msg *m = &msgs[i];
		struct mv_msgmeta meta;
		size_t nkw, off = 0;

		meta_of(m, &meta, &nkw);
		mv_error_clear(&e);
		if (mv_sink_begin(s, &meta, &e) != MV_OK) {
			printf("# begin %zu: %s\n", i, e.msg);
			ok = 0;
			continue;
		}
		while (off < m->len) {
			size_t n = piece && piece < m->len - off ? piece : m->len - off;

			if (mv_sink_write(s, m->data + off, n, &e) != MV_OK) {
				printf("# write %zu: %s\n", i, e.msg);
				ok = 0;
			}
			off += n;
		}
		if (mv_sink_end(s, &e) != MV_OK) {
			printf("# end %zu: %s\n", i, e.msg);
			ok = 0;
		}
	}
	return ok;
}

/* ---- a manifest: what a reader found (file system, tar or zip) ---- */

struct entry {
	char *name;
	int dir;
	unsigned mode;
	long long mtime, uid, gid;
	char *uname, *gname;
	uint8_t *data;
	size_t len;
	int used;
};

struct manifest {
	struct entry *e;
	size_t n;
};

static struct entry *manifest_add(struct manifest *m)
{
	struct entry *n = realloc(m->e, (m->n + 1) * sizeof *n);

	if (!n)
		abort();
	m->e = n;
	memset(&m->e[m->n], 0, sizeof m->e[m->n]);
	return &m->e[m->n++];
}

static void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].name);
		free(m->e[i].uname);
		free(m->e[i].gname);
		free(m->e[i].data);
	}
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

static struct entry *find(struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->e[i].name, name) == 0)
			return &m->e[i];
	return NULL;
}

static struct manifest *walk_into;
static size_t walk_skip;

static int walk_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
	struct entry *en;

	(void)f;
	if (strlen(p) <= walk_skip)
		return 0;
	en = manifest_add(walk_into);
	en->name = strdup(p + walk_skip + 1);
	en->dir = type == FTW_D;
	en->mode = (unsigned)(st->st_mode & 07777);
	en->mtime = (long long)st->st_mtime;
	en->uid = en->gid = -1;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		FILE *fp = fopen(p, "rb");

		en->data = malloc((size_t)st->st_size + 1);
		if (!fp || !en->data)
			abort();
		en->len = fread(en->data, 1, (size_t)st->st_size, fp);
		fclose(fp);
	} else if (type != FTW_D) {
		en->mode = 0xffff;   /* symlink or other: never expected */
	}
	/* atime is checked separately for messages; reading changed it. */
	return 0;
}

static void walk(const char *root, struct manifest *m)
{
	walk_into = m;
	walk_skip = strlen(root);
	nftw(root, walk_cb, 16, FTW_PHYS);
}

static const char py_tar[] =
	"import sys, tarfile\n"
	"with tarfile.open(sys.argv[1]) as t:\n"
	"    for m in t.getmembers():\n"
	"        d = t.extractfile(m).read() if m.isfile() else b''\n"
	"        k = 'd' if m.isdir() else ('f' if m.isfile() else 'o')\n"
	"        print('\\t'.join([m.name, k, '%o' % m.mode, str(m.mtime),\n"
	"              str(m.uid), str(m.gid), m.uname, m.gname, d.hex()]))\n";

/* zipfile has no mtime in UTC: the "UT" extra field (0x5455) holds it,
 * and "ux" (0x7875) the owner. */
static const char py_zip[] =
	"import sys, zipfile, struct\n"
	"with zipfile.ZipFile(sys.argv[1]) as z:\n"
	"    for i in z.infolist():\n"
	"        mt = uid = gid = -1\n"
	"        x = i.extra\n"
	"        p = 0\n"
	"        while p + 4 <= len(x):\n"
	"            h, n = struct.unpack('<HH', x[p:p+4])\n"
	"            b = x[p+4:p+4+n]\n"
	"            if h == 0x5455 and n >= 5 and b[0] & 1:\n"
	"                mt = struct.unpack('<i', b[1:5])[0]\n"
	"            if h == 0x7875 and n >= 3:\n"
	"                us = b[1]; uid = int.from_bytes(b[2:2+us], 'little')\n"
	"                gs = b[2+us]; gid = int.from_bytes(b[3+us:3+us+gs], 'little')\n"
	"            p += 4 + n\n"
	"        d = b'' if i.is_dir() else z.read(i)\n"
	"        print('\\t'.join([i.filename.rstrip('/'), 'd' if i.is_dir() else 'f',\n"
	"              '%o' % ((i.external_attr >> 16) & 0o7777), str(mt),\n"
	"              str(uid), str(gid), '', '', d.hex()]))\n";

static int hexval(int c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Runs the Python reader; returns 0 if it ran and exited 0. */
static int read_archive(const char *archive, const char *script, struct manifest *m)
{
	char *sp = path_of(base_dir, "reader.py"), *cmd = NULL, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp = fopen(sp, "w"), *pp;
	int rc;

	if (!fp || fputs(script, fp) < 0 || fclose(fp) != 0)
		abort();
	if (asprintf(&cmd, "python3 '%s' '%s'", sp, archive) < 0)
		abort();
	pp = popen(cmd, "r");
	if (!pp)
		abort();
	while ((len = getline(&line, &cap, pp)) > 0) {
		char *f[9], *q = line;
		struct entry *en;

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		for (int i = 0; i < 9; i++)
			f[i] = strsep(&q, "\t");
		if (!f[8])
			continue;
		en = manifest_add(m);
		en->name = strdup(f[0]);
		en->dir = f[1][0] == 'd';
		en->mode = (unsigned)strtoul(f[2], NULL, 8) | (f[1][0] == 'o' ? 0x10000u : 0);
		en->mtime = strtoll(f[3], NULL, 10);
		en->uid = strtoll(f[4], NULL, 10);
		en->gid = strtoll(f[5], NULL, 10);
		en->uname = strdup(f[6]);
		en->gname = strdup(f[7]);
		en->len = strlen(f[8]) / 2;
		en->data = malloc(en->len + 1);
		for (size_t i = 0; i < en->len; i++)
			en->data[i] = (uint8_t)(hexval(f[8][2 * i]) << 4 | hexval(f[8][2 * i + 1]));
	}
	rc = pclose(pp);
	free(line);
	free(cmd);
	unlink(sp);
	free(sp);
	return rc;
}

/* ---- the Maildir layout check, shared by maildir, tar and zip ---- */

static int generated_ok(const char *base, int64_t when)
{
	regex_t re;
	char pre[32];
	int ok;

	if (regcomp(&re, "^[0-9]+\\.M[0-9]+P[0-9]+_[0-9]+\\.mbox-vault$",
		    REG_EXTENDED | REG_NOSUB) != 0)
		abort();
	ok = regexec(&re, base, 0, NULL, 0) == 0;
	regfree(&re);
	snprintf(pre, sizeof pre, "%lld.", (long long)when);
	return ok && strncmp(base, pre, strlen(pre)) == 0;
}

static const char *maildir_of(const char *folder)
{
	for (size_t i = 0; i < NFOLDERS; i++)
		if (strcmp(folders[i].folder, folder) == 0)
			return folders[i].maildir;
	abort();
}

/*
 * Checks that m holds exactly the Maildir++ layout of msgs[]: every
 * folder's directories, markers, messages (name, flags, bytes, mtime,
 * mode) and dovecot-keywords, and nothing else.  archive: members also
 * carry uid/gid 0 and empty owner names.
 */
static void check_layout(const char *kind, struct manifest *m, int archive)
{
	char name[512];
	int ok;

	for (size_t i = 0; i < NFOLDERS; i++) {
		const char *d = folders[i].maildir;
		static const char *const subs[] = { "cur", "new", "tmp" };
		struct entry *en;

		if (*d) {
			en = find(m, d);
			T_ASSERT("folder directory present, 0700", en && en->dir && en->mode == 0700);
			if (en)
				en->used = 1;
			snprintf(name, sizeof name, "%s/maildirfolder", d);
			en = find(m, name);
			T_ASSERT("maildirfolder marker present, empty, 0600",
				 en && !en->dir && en->len == 0 && en->mode == 0600);
			if (en)
				en->used = 1;
		}
		for (int j = 0; j < 3; j++) {
			snprintf(name, sizeof name, "%s%s%s", d, *d ? "/" : "", subs[j]);
			en = find(m, name);
			T_ASSERT("cur/new/tmp present, 0700", en && en->dir && en->mode == 0700);
			if (en)
				en->used = 1;
		}
	}
	ok = 1;
	for (size_t i = 0; i < NMSGS; i++) {
		const struct msg *g = &msgs[i];
		const char *d = maildir_of(g->folder);
		char prefix[256];
		struct entry *hit = NULL;

		snprintf(prefix, sizeof prefix, "%s%scur/", d, *d ? "/" : "");
		for (size_t k = 0; k < m->n && !hit; k++) {
			struct entry *en = &m->e[k];
			size_t pl = strlen(prefix), nl = strlen(en->name), il = strlen(g->info);
			char base[256];

			if (en->used || en->dir || strncmp(en->name, prefix, pl) != 0 ||
			    nl < pl + il || strcmp(en->name + nl - il, g->info) != 0 ||
			    en->len != g->len || memcmp(en->data, g->data, g->len) != 0)
				continue;
			snprintf(base, sizeof base, "%.*s", (int)(nl - pl - il), en->name + pl);
			if (g->base ? strcmp(base, g->base) != 0 : !generated_ok(base, g->when))
				continue;
			hit = en;
		}
		if (!hit) {
			printf("# %s: message %zu (%s) not found\n", kind, i, g->info);
			ok = 0;
			continue;
		}
		hit->used = 1;
		if (hit->mode != 0600 || hit->mtime != g->when ||
		    (archive && (hit->uid != 0 || hit->gid != 0 ||
				 (hit->uname && hit->uname[0]) ||
				 (hit->gname && hit->gname[0])))) {
			printf("# %s: message %zu: mode %o mtime %lld uid %lld\n", kind, i,
			       hit->mode, hit->mtime, hit->uid);
			ok = 0;
		}
	}
	T_CHECK(kind, ok);
	{
		struct entry *k1 = find(m, "dovecot-keywords");
		struct entry *k2 = find(m, ".Kw/dovecot-keywords");
		char want[1024];
		size_t n = 0;

		for (int j = 0; j < 26; j++)
			n += (size_t)snprintf(want + n, sizeof want - n, "%d kw%02d\n", j, j);
		T_ASSERT("INBOX dovecot-keywords maps a, b in order of first use",
			 k1 && k1->mode == 0600 && k1->len == 17 &&
			 memcmp(k1->data, "0 $Label1\n1 Junk\n", 17) == 0);
		T_ASSERT("Kw dovecot-keywords holds the first 26 keywords",
			 k2 && k2->mode == 0600 && k2->len == n &&
			 memcmp(k2->data, want, n) == 0);
		if (k1)
			k1->used = 1;
		if (k2)
			k2->used = 1;
	}
	ok = 1;
	for (size_t k = 0; k < m->n; k++) {
		if (!m->e[k].used) {
			printf("# %s: unexpected '%s'\n", kind, m->e[k].name);
			ok = 0;
		}
		if (m->e[k].mode & 077 || strstr(m->e[k].name, "..") ||
		    m->e[k].name[0] == '/')
			ok = 0;
	}
	T_CHECK("nothing else is written, nothing is group/other accessible", ok);
}

static void check_warnings(const char *kind, struct mv_sink *s)
{
	size_t n = mv_sink_nwarnings(s), full = 0, bad = 0;

	for (size_t i = 0; i < n; i++) {
		const char *w = mv_sink_warning(s, i);

		if (strstr(w, "folder 'Kw': keyword 'kw2") &&
		    strstr(w, "mbox-vault' left out: a Maildir folder holds at most 26"))
			full++;
		if (strstr(w, "keyword 'bad kw' of message '") &&
		    strstr(w, "not a valid IMAP keyword"))
			bad++;
	}
	printf("# %s warnings: %zu\n", kind, n);
	T_CHECK("the 27th..30th keywords of a folder are each reported with "
		"folder, keyword and message", full == 4 && bad == 1 && n == 5);
	T_CHECK("no warning past the end", mv_sink_warning(s, n) == NULL);
}

/* ---- maildir ---- */

static void test_maildir(void)
{
	char *out = path_of(base_dir, "md");
	struct mv_sink *s = NULL;
	struct mv_error e;
	struct manifest m = { 0 };
	struct stat st;
	char *p;

	mv_error_clear(&e);
	T_CHECK("maildir: open creates OUT", mv_sink_open(&s, MV_SINK_MAILDIR, out, &e) == MV_OK);
	if (!s)
		return;
	T_CHECK("maildir: every message written in 1-byte pieces", write_all_msgs(s, 1));
	check_warnings("maildir", s);
	T_CHECK("maildir: close", mv_sink_close(s, &e) == MV_OK);
	mv_sink_free(s);
	T_CHECK("maildir: OUT is 0700", stat(out, &st) == 0 && (st.st_mode & 07777) == 0700);
	/* atime too is the INTERNALDATE (checked before reading changes it). */
	p = path_of(out, "cur/zz-last:2,");
	T_CHECK("maildir: atime is the INTERNALDATE",
		stat(p, &st) == 0 && st.st_atime == 1700000000);
	free(p);
	walk(out, &m);
	check_layout("maildir: layout, names, flags, bytes, mtime", &m, 0);
	manifest_free(&m);

	/* Through the project's Maildir reader. */
	{
		struct mv_maildir_folder *f = NULL;
		struct mv_maildir_msg *mm = NULL;
		size_t nf = 0, nm = 0;
		int ok = 0;

		mv_error_clear(&e);
		if (mv_maildir_list(out, &f, &nf, &e) == MV_OK && nf == NFOLDERS &&
		    strcmp(f[0].name, "INBOX") == 0 &&
		    mv_maildir_scan(&f[0], &mm, &nm, &e) == MV_OK && nm == 4) {
			for (size_t i = 0; i < nm; i++)
				if (strcmp(mm[i].base, msgs[0].base) == 0)
					ok = mm[i].flags == (MV_FLAG_SEEN | MV_FLAG_ANSWERED) &&
					     mm[i].nkeywords == 2 &&
					     strcmp(mm[i].keywords[0], "$Label1") == 0 &&
					     strcmp(mm[i].keywords[1], "Junk") == 0 &&
					     mm[i].mtime == 1700000000 && mm[i].size == msgs[0].len;
		} else {
			printf("# maildir reader: %s (%zu folders)\n", e.msg, nf);
		}
		T_CHECK("maildir: the project's reader gets folders, flags, keywords back", ok);
		mv_maildir_msgs_free(mm, nm);
		mv_maildir_folders_free(f, nf);
	}

	/* A second export into the same Maildir: names and letters are kept. */
	{
		struct mv_msgmeta meta;
		const char *kw[] = { "Junk", "New" };
		struct manifest m2 = { 0 };
		struct entry *k;
		size_t nkw, found = 0;

		meta_of(&msgs[0], &meta, &nkw);
		meta.keywords = kw;
		meta.nkeywords = 2;
		mv_error_clear(&e);
		T_CHECK("maildir: reopen an existing Maildir",
			mv_sink_open(&s, MV_SINK_MAILDIR, out, &e) == MV_OK);
		T_CHECK("maildir: second export of a message",
			mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, msgs[0].data, msgs[0].len, &e) == MV_OK &&
			mv_sink_end(s, &e) == MV_OK && mv_sink_close(s, &e) == MV_OK);
		mv_sink_free(s);
		walk(out, &m2);
		for (size_t i = 0; i < m2.n; i++) {
			char *colon = strchr(m2.e[i].name, ':');

			if (strncmp(m2.e[i].name, "cur/", 4) != 0 || !colon ||
			    strcmp(colon, ":2,RSbc") != 0 || m2.e[i].len != msgs[0].len)
				continue;
			*colon = '\0';
			found += generated_ok(m2.e[i].name + 4, 1700000000);
			*colon = ':';
		}
		k = find(&m2, "dovecot-keywords");
		T_CHECK("maildir: a name already in the folder is not reused; "
			"existing keyword letters are kept and extended",
			found == 1 && !find(&m2, "cur/1700000000.M1P2.host,S=42:2,RSbc") &&
			k && k->len == 23 && memcmp(k->data, "0 $Label1\n1 Junk\n2 New\n", 23) == 0);
		manifest_free(&m2);
	}

	/* A file that appears after the folder was read is not replaced. */
	{
		struct mv_msgmeta meta = { 0 };
		char *x = path_of(out, ".Race/cur/racer:2,"), buf[16];
		struct manifest m3 = { 0 };
		size_t hits = 0;
		FILE *fp;

		meta.folder = "Race";
		meta.delim = '/';
		meta.size = 1;
		meta.maildir_name = "racer";
		mv_error_clear(&e);
		mv_sink_open(&s, MV_SINK_MAILDIR, out, &e);
		/* The first message reads the folder; then "racer" appears. */
		meta.maildir_name = "first";
		T_CHECK("maildir: first message of a folder",
			s && mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "1", 1, &e) == MV_OK && mv_sink_end(s, &e) == MV_OK);
		fp = fopen(x, "w");
		if (fp) {
			fputs("theirs", fp);
			fclose(fp);
		}
		meta.maildir_name = "racer";
		T_CHECK("maildir: a message whose name appeared meanwhile",
			s && mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "2", 1, &e) == MV_OK && mv_sink_end(s, &e) == MV_OK &&
			mv_sink_close(s, &e) == MV_OK);
		mv_sink_free(s);
		fp = fopen(x, "r");
		T_CHECK("maildir: an existing file is never replaced",
			fp && fgets(buf, sizeof buf, fp) && strcmp(buf, "theirs") == 0);
		if (fp)
			fclose(fp);
		walk(out, &m3);
		for (size_t i = 0; i < m3.n; i++)
			hits += strncmp(m3.e[i].name, ".Race/cur/", 10) == 0 &&
				m3.e[i].len == 1 && m3.e[i].data[0] == '2';
		T_CHECK("maildir: the message took a fresh name instead", hits == 1);
		manifest_free(&m3);
		free(x);
	}

	/* Length errors and abort leave nothing behind. */
	{
		struct mv_msgmeta meta = { 0 };
		struct dirent *de;
		DIR *d;
		int left = 0;

		meta.folder = "Errors";
		meta.delim = '/';
		meta.size = 10;
		mv_error_clear(&e);
		mv_sink_open(&s, MV_SINK_MAILDIR, out, &e);
		T_CHECK("maildir: short message is MV_E_LENGTH at end",
			mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "12345", 5, &e) == MV_OK &&
			mv_sink_end(s, &e) == MV_E_LENGTH);
		mv_error_clear(&e);
		meta.size = 3;
		T_CHECK("maildir: long message is MV_E_LENGTH at write",
			mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "12345", 5, &e) == MV_E_LENGTH);
		mv_error_clear(&e);
		T_CHECK("maildir: abort after a partial write",
			mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "12", 2, &e) == MV_OK);
		mv_sink_abort(s);
		T_CHECK("maildir: write without a message is MV_E_USAGE",
			mv_sink_write(s, "1", 1, &e) == MV_E_USAGE);
		mv_error_clear(&e);
		T_CHECK("maildir: close after errors", mv_sink_close(s, &e) == MV_OK);
		mv_sink_free(s);
		p = path_of(out, ".Errors/tmp");
		d = opendir(p);
		while (d && (de = readdir(d)))
			left += de->d_name[0] != '.';
		if (d)
			closedir(d);
		free(p);
		p = path_of(out, ".Errors/cur");
		d = opendir(p);
		while (d && (de = readdir(d)))
			left += de->d_name[0] != '.';
		if (d)
			closedir(d);
		free(p);
		T_CHECK("maildir: failed and aborted messages leave no file", left == 0);
	}
	free(out);
}

/* ---- mbox ---- */

static const char inbox_mbox[] =
	"From alice@example.com Tue Nov 14 22:13:20 2023\n"
	"Subject: a\r\n\r\n>From me\r\n>>From you\r\n"
	"\n"
	"From MAILER-DAEMON Sat Jan  1 00:00:00 2000\n"
	">From the start\n\0x\ry\n>>>From z\nFrom"
	"\n\n"
	"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
	"\n"
	"From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n"
	"last\n"
	"\n";

static const struct {
	const char *file;
	const char *bytes;
	size_t len;
} mbox_files[] = {
	{ "INBOX.mbox", D(inbox_mbox) },
	{ "\xc3\xa9t\xc3\xa9.mbox", D("From MAILER-DAEMON Fri Feb 13 23:31:30 2009\nHi\n\n") },
	{ "Work/Projects/2024.mbox",
	  D("From MAILER-DAEMON Fri Feb 13 23:31:30 2009\nX\n>From\nFrom\n\n") },
	{ "Evil/%2E./x.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\ne\n\n") },
	{ "a.b/c.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nf\n\n") },
	{ "%2Fabs.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\ng\n\n") },
	{ "~home.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nh\n\n") },
	{ "Tab%09X.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\ni\n\n") },
	{ "R%C3%A9.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nj\n\n") },
	{ "Kw.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nk1\n\n"
		       "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nk2\n\n") },
	{ "Dots/Sub.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n>From \n\n") },
	{ "Arch.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nl\n\n") },
	{ "Arch%2Embox/Sub.mbox", D("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nm\n\n") },
};

static void check_mbox_tree(const char *kind, const char *out)
{
	struct manifest m = { 0 };
	int ok = 1;

	walk(out, &m);
	for (size_t i = 0; i < sizeof mbox_files / sizeof mbox_files[0]; i++) {
		struct entry *en = find(&m, mbox_files[i].file);

		if (!en || en->dir || en->mode != 0600 || en->len != mbox_files[i].len ||
		    memcmp(en->data, mbox_files[i].bytes, en->len) != 0) {
			printf("# %s: '%s' differs\n", kind, mbox_files[i].file);
			ok = 0;
		}
		if (en)
			en->used = 1;
	}
	for (size_t i = 0; i < sizeof mbox_dirs / sizeof mbox_dirs[0]; i++) {
		struct entry *en = find(&m, mbox_dirs[i]);

		if (!en || !en->dir || en->mode != 0700)
			ok = 0;
		if (en)
			en->used = 1;
	}
	for (size_t i = 0; i < m.n; i++)
		if (!m.e[i].used) {
			printf("# %s: unexpected '%s'\n", kind, m.e[i].name);
			ok = 0;
		}
	T_CHECK(kind, ok);
	manifest_free(&m);
}

static void test_mbox(void)
{
	char *out = path_of(base_dir, "mb"), *out1 = path_of(base_dir, "mb1");
	struct mv_sink *s = NULL;
	struct mv_error e;
	size_t nw = 0;
	int wok = 0;

	mv_error_clear(&e);
	T_CHECK("mbox: open", mv_sink_open(&s, MV_SINK_MBOX, out, &e) == MV_OK);
	if (!s)
		return;
	T_CHECK("mbox: every message written whole", write_all_msgs(s, 0));
	nw = mv_sink_nwarnings(s);
	for (size_t i = 0; i < nw; i++)
		wok |= strstr(mv_sink_warning(s, i), "folder 'INBOX': a stored From_ line") != NULL;
	T_CHECK("mbox: a From_ line holding a line end is replaced, with a warning",
		nw == 1 && wok);
	T_CHECK("mbox: close", mv_sink_close(s, &e) == MV_OK);
	mv_sink_free(s);
	check_mbox_tree("mbox: exact file bytes, names, modes (whole writes)", out);

	/* Quoting must not depend on where the pieces break. */
	mv_sink_open(&s, MV_SINK_MBOX, out1, &e);
	T_CHECK("mbox: every message written in 1-byte pieces", s && write_all_msgs(s, 1));
	T_CHECK("mbox: close", s && mv_sink_close(s, &e) == MV_OK);
	mv_sink_free(s);
	check_mbox_tree("mbox: exact file bytes with 1-byte pieces", out1);

	/* Through the project's mboxrd reader: messages ending in LF come back
	 * exactly, others with one LF added, the empty one empty. */
	{
		char *p = path_of(out, "INBOX.mbox");
		static const size_t want[] = { 0, 1, 2, 16 };
		struct mv_mbox *mb = NULL;
		uint8_t buf[8192];
		int ok = mv_mbox_open(&mb, p, MV_MBOXRD, &e) == MV_OK;

		for (size_t i = 0; ok && i < 4; i++) {
			const struct msg *g = &msgs[want[i]];
			const char *fl;
			size_t fn, got, tot = 0;
			uint64_t off;
			int has;
			uint8_t all[256];

			ok = mv_mbox_next(mb, &has, &fl, &fn, &off, &e) == MV_OK && has;
			while (ok && mv_mbox_read(mb, buf, sizeof buf, &got, &e) == MV_OK && got) {
				if (tot + got > sizeof all)
					ok = 0;
				else
					memcpy(all + tot, buf, got);
				tot += got;
			}
			if (g->len && g->data[g->len - 1] != '\n')
				ok = ok && tot == g->len + 1 && all[g->len] == '\n' &&
				     memcmp(all, g->data, g->len) == 0;
			else
				ok = ok && tot == g->len && memcmp(all, g->data, tot) == 0;
		}
		T_CHECK("mbox: the project's mboxrd reader gets the messages back", ok);
		mv_mbox_free(mb);
		free(p);
	}

	/* Existing files are not appended to; a short message is taken back. */
	{
		struct mv_msgmeta meta = { 0 };
		char *p = path_of(out1, "Short.mbox");
		struct stat st;

		meta.folder = "INBOX";
		meta.size = 2;
		mv_error_clear(&e);
		mv_sink_open(&s, MV_SINK_MBOX, out, &e);
		T_CHECK("mbox: an existing mbox file is MV_E_EXISTS",
			mv_sink_begin(s, &meta, &e) == MV_E_EXISTS &&
			strstr(e.msg, "cannot create '") && strstr(e.msg, "INBOX.mbox': "));
		mv_sink_free(s);
		mv_sink_open(&s, MV_SINK_MBOX, out1, &e);
		meta.folder = "Short";
		mv_error_clear(&e);
		T_CHECK("mbox: a message then a short one",
			mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "a\n", 2, &e) == MV_OK && mv_sink_end(s, &e) == MV_OK &&
			mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "F", 1, &e) == MV_OK &&
			mv_sink_end(s, &e) == MV_E_LENGTH);
		mv_error_clear(&e);
		{
			/* Long enough that part of it reaches the file first. */
			static char big[100000];

			memset(big, 'x', sizeof big);
			meta.size = 2 * sizeof big;
			T_CHECK("mbox: a short message past the output buffer",
				mv_sink_begin(s, &meta, &e) == MV_OK &&
				mv_sink_write(s, big, sizeof big, &e) == MV_OK &&
				mv_sink_end(s, &e) == MV_E_LENGTH);
			mv_error_clear(&e);
		}
		T_CHECK("mbox: close", mv_sink_close(s, &e) == MV_OK);
		mv_sink_free(s);
		T_CHECK("mbox: the short messages are cut back out of the file",
			stat(p, &st) == 0 &&
			st.st_size == (off_t)strlen("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\na\n\n"));
		free(p);
	}
	free(out);
	free(out1);
}

/* ---- tar and zip ---- */

static void test_archive(enum mv_sink_kind kind, const char *name,
			 const char *script)
{
	char *out = path_of(base_dir, name), label[128];
	struct mv_sink *s = NULL;
	struct mv_error e;
	struct manifest m = { 0 };
	struct stat st;
	int rc;

	mv_error_clear(&e);
	snprintf(label, sizeof label, "%s: open", name);
	T_CHECK(label, mv_sink_open(&s, kind, out, &e) == MV_OK);
	if (!s)
		return;
	snprintf(label, sizeof label, "%s: every message written in 3-byte pieces", name);
	T_CHECK(label, write_all_msgs(s, 3));
	check_warnings(name, s);
	snprintf(label, sizeof label, "%s: close", name);
	T_CHECK(label, mv_sink_close(s, &e) == MV_OK);
	mv_sink_free(s);
	snprintf(label, sizeof label, "%s: the file is 0600", name);
	T_CHECK(label, stat(out, &st) == 0 && (st.st_mode & 07777) == 0600);
	rc = read_archive(out, script, &m);
	snprintf(label, sizeof label, "%s: Python reads it", name);
	T_CHECK(label, rc == 0 && m.n > 0);
	snprintf(label, sizeof label, "%s: members, names, flags, bytes, mtime, modes, owner", name);
	check_layout(label, &m, 1);
	manifest_free(&m);

	mv_error_clear(&e);
	snprintf(label, sizeof label, "%s: an existing file is MV_E_EXISTS, named", name);
	T_CHECK(label, mv_sink_open(&s, kind, out, &e) == MV_E_EXISTS && !s &&
		strstr(e.msg, "cannot create '") && strstr(e.msg, name) &&
		stat(out, &st) == 0 && st.st_size > 0);

	/* A message abandoned inside the archive makes the whole file go. */
	{
		char *bad = path_of(base_dir, "bad.archive");
		struct mv_msgmeta meta = { 0 };

		meta.folder = "INBOX";
		meta.size = 10;
		mv_error_clear(&e);
		mv_sink_open(&s, kind, bad, &e);
		T_CHECK("archive: partial message then abort",
			s && mv_sink_begin(s, &meta, &e) == MV_OK &&
			mv_sink_write(s, "12345", 5, &e) == MV_OK);
		if (!s) {
			free(bad);
			free(out);
			return;
		}
		mv_sink_abort(s);
		T_CHECK("archive: no new message after an abandoned member",
			mv_sink_begin(s, &meta, &e) != MV_OK);
		mv_error_clear(&e);
		T_CHECK("archive: close fails and removes the incomplete file",
			mv_sink_close(s, &e) != MV_OK && stat(bad, &st) != 0 &&
			errno == ENOENT);
		mv_sink_free(s);
		mv_sink_open(&s, kind, bad, &e);
		mv_sink_free(s);
		T_CHECK("archive: free without close removes the file",
			stat(bad, &st) != 0 && errno == ENOENT);
		free(bad);
	}
	free(out);
}

/* Warnings are kept to a bounded number; the last one counts the rest. */
static void test_warning_cap(void)
{
	char *out = path_of(base_dir, "many.tar");
	const char *kw[] = { "bad kw", "(bad)" };
	struct mv_msgmeta meta = { 0 };
	struct mv_sink *s = NULL;
	struct mv_error e;
	int ok = 1;

	meta.folder = "INBOX";
	meta.keywords = kw;
	meta.nkeywords = 2;
	mv_error_clear(&e);
	if (mv_sink_open(&s, MV_SINK_TAR, out, &e) != MV_OK)
		ok = 0;
	for (int i = 0; ok && i < 600; i++)
		ok = mv_sink_begin(s, &meta, &e) == MV_OK && mv_sink_end(s, &e) == MV_OK;
	T_CHECK("1200 warnings: 999 kept and one that counts the other 201",
		ok && mv_sink_nwarnings(s) == 1000 &&
		strstr(mv_sink_warning(s, 998), "keyword 'bad kw'") &&
		strcmp(mv_sink_warning(s, 999), "201 further warnings left out") == 0);
	if (s)
		mv_sink_close(s, &e);
	mv_sink_free(s);
	free(out);
}

/* ---- push: folder paths, appending to mbox files, dropped keywords ---- */

static int path_is(enum mv_sink_kind k, const char *name, char delim, const char *want)
{
	struct mv_error e;
	char *got = NULL;
	int ok;

	mv_error_clear(&e);
	ok = mv_sink_folder_path(k, name, delim, &got, &e) == MV_OK && strcmp(got, want) == 0;
	if (!ok)
		printf("# folder path of '%s': '%s', want '%s'\n", name, got ? got : "(error)", want);
	free(got);
	return ok;
}

static enum mv_err put(struct mv_sink *s, const char *folder, const char *data,
		       const char *const *kw, size_t nkw, struct mv_error *e)
{
	struct mv_msgmeta m = { 0 };
	enum mv_err rc;

	m.folder = folder;
	m.delim = '/';
	m.size = strlen(data);
	m.internaldate = 1700000000;
	m.keywords = kw;
	m.nkeywords = nkw;
	if ((rc = mv_sink_begin(s, &m, e)) || (rc = mv_sink_write(s, data, m.size, e)))
		return rc;
	return mv_sink_end(s, e);
}

static int mbox_count(const char *path)
{
	struct mv_mbox *mb = NULL;
	struct mv_error e;
	const char *from;
	size_t flen;
	uint64_t off;
	int has = 1, n = 0;

	mv_error_clear(&e);
	if (mv_mbox_open(&mb, path, MV_MBOXRD, &e))
		return -1;
	while (mv_mbox_next(mb, &has, &from, &flen, &off, &e) == MV_OK && has)
		n++;
	mv_mbox_free(mb);
	return n;
}

static void test_push(void)
{
	char *root = path_of(base_dir, "pa"), *md = path_of(base_dir, "pm");
	char *inbox = path_of(root, "INBOX.mbox"), *bad = path_of(root, "Bad.mbox");
	const char *kw[27];
	char names[27][16];
	struct mv_sink *s = NULL;
	struct mv_error e;
	enum mv_err rc;
	int fd;

	T_CHECK("folder paths: maildir INBOX is the root, A/B is .A.B",
		path_is(MV_SINK_MAILDIR, "inbox", '/', "") &&
		path_is(MV_SINK_MAILDIR, "A/B", '/', ".A.B"));
	T_CHECK("folder paths: mbox INBOX.mbox and Work/Projects.mbox",
		path_is(MV_SINK_MBOX, "INBOX", '.', "INBOX.mbox") &&
		path_is(MV_SINK_MBOX, "Work/Projects", '/', "Work/Projects.mbox"));

	mv_error_clear(&e);
	rc = mv_sink_open_push(&s, MV_SINK_TAR, bad, 1, &e);
	T_CHECK("a push sink cannot append to tar", rc == MV_E_USAGE && !s);

	mv_error_clear(&e);
	rc = mv_sink_open_push(&s, MV_SINK_MBOX, root, 1, &e);
	rc = rc ? rc : put(s, "INBOX", "Subject: one\n\n1\n", NULL, 0, &e);
	rc = rc ? rc : mv_sink_close(s, &e);
	mv_sink_free(s);
	s = NULL;
	T_CHECK("a push sink creates a missing mbox file", rc == MV_OK && mbox_count(inbox) == 1);

	mv_error_clear(&e);
	rc = mv_sink_open(&s, MV_SINK_MBOX, root, &e);
	rc = rc ? rc : put(s, "INBOX", "Subject: two\n\n2\n", NULL, 0, &e);
	mv_sink_free(s);
	s = NULL;
	T_CHECK("export still refuses an mbox file it did not create",
		rc == MV_E_EXISTS && mbox_count(inbox) == 1);

	mv_error_clear(&e);
	rc = mv_sink_open_push(&s, MV_SINK_MBOX, root, 1, &e);
	rc = rc ? rc : put(s, "INBOX", "Subject: two\n\nno final LF", NULL, 0, &e);
	rc = rc ? rc : mv_sink_close(s, &e);
	mv_sink_free(s);
	s = NULL;
	T_CHECK("a push sink appends to an existing mbox file",
		rc == MV_OK && mbox_count(inbox) == 2);

	fd = open(bad, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		if (write(fd, "From x Thu Jan  1 00:00:00 2015\n\ncut", 36) != 36)
			printf("# short write\n");
		close(fd);
	}
	mv_error_clear(&e);
	rc = mv_sink_open_push(&s, MV_SINK_MBOX, root, 1, &e);
	rc = rc ? rc : mv_sink_folder(s, "Bad", '/', &e);
	mv_sink_free(s);
	s = NULL;
	T_CHECK("a push sink refuses an mbox file whose last line has no line end",
		rc == MV_E_PARSE && strstr(e.msg, "no line end"));

	for (int i = 0; i < 27; i++) {
		snprintf(names[i], sizeof names[i], "k%02d", i);
		kw[i] = names[i];
	}
	mv_error_clear(&e);
	rc = mv_sink_open_push(&s, MV_SINK_MAILDIR, md, 1, &e);
	rc = rc ? rc : put(s, "INBOX", "Subject: 20\n\n", kw, 20, &e);
	rc = rc ? rc : put(s, "INBOX", "Subject: 7 more\n\n", kw + 20, 7, &e);
	T_CHECK("the 27th keyword of a Maildir folder is counted as dropped",
		rc == MV_OK && mv_sink_dropped_keywords(s) == 1 && mv_sink_nwarnings(s) == 1 &&
		strstr(mv_sink_warning(s, 0), "'k26'"));
	if (s)
		mv_sink_close(s, &e);
	mv_sink_free(s);
	free(root);
	free(md);
	free(inbox);
	free(bad);
}

/* ---- everything under base_dir ---- */

static int perm_bad;

static int perm_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)type;
	(void)f;
	if (st->st_mode & 077) {
		printf("# group/other access: %s %o\n", p, (unsigned)(st->st_mode & 07777));
		perm_bad++;
	}
	return 0;
}

static int rm_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)type;
	(void)f;
	chmod(p, 0700);
	return remove(p);
}

int main(void)
{
	char tmpl[] = "/tmp/test_sink.XXXXXX";
	enum mv_sink_kind k;

	base_dir = mkdtemp(tmpl);
	if (!base_dir)
		return 2;
	/* A umask that would leave our directories unwritable and our files
	 * read-only proves that modes do not depend on it. */
	umask(0277);

	T_CHECK("kind names parse",
		mv_sink_kind_parse("maildir", &k) == 0 && k == MV_SINK_MAILDIR &&
		mv_sink_kind_parse("zip", &k) == 0 && k == MV_SINK_ZIP &&
		mv_sink_kind_parse("mbox", &k) == 0 && k == MV_SINK_MBOX &&
		mv_sink_kind_parse("tar", &k) == 0 && k == MV_SINK_TAR &&
		mv_sink_kind_parse("MBOX", &k) == -1);

	test_maildir();
	test_mbox();
	test_archive(MV_SINK_TAR, "out.tar", py_tar);
	test_archive(MV_SINK_ZIP, "out.zip", py_zip);
	test_warning_cap();
	test_push();

	{
		/* Every sink stayed inside its OUT: nothing else appeared. */
		static const char *const want[] = { "md", "mb", "mb1", "out.tar",
						    "out.zip", "many.tar", "pa", "pm" };
		DIR *d = opendir(base_dir);
		struct dirent *de;
		size_t n = 0, known = 0;

		while (d && (de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			n++;
			for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
				known += strcmp(de->d_name, want[i]) == 0;
		}
		if (d)
			closedir(d);
		T_CHECK("nothing is written outside the sinks' paths", n == 8 && known == 8);
	}
	nftw(base_dir, perm_cb, 16, FTW_PHYS);
	T_CHECK("no file or directory written is group/other accessible", perm_bad == 0);

	umask(077);
	nftw(base_dir, rm_cb, 16, FTW_PHYS | FTW_DEPTH);
	return T_DONE();
}
