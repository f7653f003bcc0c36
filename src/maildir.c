/*
 * maildir.c - Maildir / Maildir++ reading; see maildir.h.
 *
 * Layout rules as implemented (format-spec appendix A):
 *
 *  - The root is INBOX and must have cur/ or new/.  Each entry of the root
 *    whose name starts with '.' (other than "." and "..") and that is a
 *    directory (symbolic links followed) with cur/ or new/ is the folder
 *    named by the rest of the entry name, bytes unchanged.  A subfolder
 *    named "INBOX" in any case would collide with the root and is refused
 *    with MV_E_PARSE rather than silently merged or dropped.
 *  - Messages are the regular files (symbolic links followed) in new/ and
 *    cur/ whose names do not start with '.'; tmp/ is never read, since
 *    files there are still being written.
 *  - A file name's base is everything before its first ':' (as Dovecot's
 *    maildir_filename_get_base() has it), so ",S=<size>" and ",W=<vsize>"
 *    stay in the base.  Flags are read only from an info of the form
 *    ":2,<letters>": D Draft, F Flagged, P Passed, R Answered, S Seen,
 *    T Deleted, a..z keyword letters; anything else there is ignored.
 *  - dovecot-keywords maps letters to names with lines "N name", N a
 *    decimal 0..25 without leading zeros, one space, and a name that is an
 *    IMAP atom.  The first line for a given N wins.
 *
 * A message is listed in new/ first and cur/ second, so one that a mail
 * client moves from new/ to cur/ while we scan is seen at least once (in
 * both at worst, and then only its cur/ entry is kept), never missed.
 */
#include "maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailhdr.h"
#include "msgmeta.h"

#define FILE_NAME_MAX 255
#define PATH_CAP 4096
#define MAX_MESSAGES 10000000u
/* dovecot-keywords holds at most 26 short lines; more is not read. */
#define KEYWORDS_FILE_MAX 65536

/* Builds "a/b" in a new string; MV_E_LIMIT past PATH_CAP bytes. */
static enum mv_err join(char **out, const char *a, const char *b,
			struct mv_error *e)
{
	size_t la = strlen(a), lb = strlen(b);

	*out = NULL;
	if (la >= PATH_CAP || lb >= PATH_CAP - la - 1)
		return mv_fail(e, MV_E_LIMIT, "path '%s/%s' is too long", a, b);
	*out = malloc(la + lb + 2);
	if (!*out)
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	memcpy(*out, a, la);
	(*out)[la] = '/';
	memcpy(*out + la + 1, b, lb + 1);
	return MV_OK;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether dir has a cur/ or new/ subdirectory. */
static int has_cur_or_new(const char *dir, struct mv_error *e, enum mv_err *rc)
{
	char *p = NULL;
	int yes = 0;

	*rc = join(&p, dir, "cur", e);
	if (*rc)
		goto out;
	yes = is_dir(p);
	free(p);
	p = NULL;
	if (yes)
		goto out;
	*rc = join(&p, dir, "new", e);
	if (*rc)
		goto out;
	yes = is_dir(p);
out:
	free(p);
	return yes;
}

/* Reads the next entry of d (the directory path) into *de, NULL at the
 * end.  MV_E_IO: readdir() tells an error only through errno. */
static enum mv_err next_entry(DIR *d, const char *path, struct dirent **de,
			      struct mv_error *e)
{
	errno = 0;
	*de = readdir(d);
	if (!*de && errno)
		return mv_fail(e, MV_E_IO, "cannot read '%s': %s", path,
			       strerror(errno));
	return MV_OK;
}

void mv_maildir_folders_free(struct mv_maildir_folder *f, size_t n)
{
	if (!f)
		return;
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].path);
	}
	free(f);
}

static int folder_cmp(const void *a, const void *b)
{
	const struct mv_maildir_folder *x = a, *y = b;

	return strcmp(x->name, y->name);
}

enum mv_err mv_maildir_list(const char *root, struct mv_maildir_folder **out,
			    size_t *n, struct mv_error *e)
{
	struct mv_maildir_folder *f = NULL, *grown;
	size_t count = 0, cap = 0;
	DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	char *path = NULL;
	enum mv_err rc = MV_OK;

	*out = NULL;
	*n = 0;
	if (stat(root, &st) != 0) {
		rc = mv_fail(e, errno == ENOENT || errno == ENOTDIR ?
				 MV_E_NOTFOUND : MV_E_IO,
			     "cannot open '%s': %s", root, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) || !has_cur_or_new(root, e, &rc)) {
		if (!rc)
			rc = mv_fail(e, MV_E_NOTFOUND,
				     "'%s' is not a maildir (no cur/ or new/)", root);
		goto out;
	}
	cap = 16;
	f = calloc(cap, sizeof *f);
	if (!f || !(f[0].name = strdup("INBOX")) || !(f[0].path = strdup(root))) {
		count = f ? 1 : 0;
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	count = 1;
	d = opendir(root);
	if (!d) {
		rc = mv_fail(e, MV_E_IO, "cannot open '%s': %s", root,
			     strerror(errno));
		goto out;
	}
	for (;;) {
		int ok;

		if ((rc = next_entry(d, root, &de, e)) != MV_OK || !de)
			break;
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (strlen(de->d_name) > FILE_NAME_MAX) {
			rc = mv_fail(e, MV_E_LIMIT, "'%s/%s': name too long",
				     root, de->d_name);
			break;
		}
		rc = join(&path, root, de->d_name, e);
		if (rc)
			break;
		ok = is_dir(path) && has_cur_or_new(path, e, &rc);
		if (rc)
			break;
		if (!ok) {
			free(path);
			path = NULL;
			continue;
		}
		if (strcasecmp(de->d_name + 1, "INBOX") == 0) {
			rc = mv_fail(e, MV_E_PARSE, "'%s': folder '%s' clashes "
				     "with INBOX (the maildir root)", root,
				     de->d_name);
			break;
		}
		if (count == cap) {
			grown = realloc(f, 2 * cap * sizeof *f);
			if (!grown) {
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				break;
			}
			f = grown;
			cap *= 2;
		}
		f[count].path = path;
		path = NULL;
		f[count].name = strdup(de->d_name + 1);
		count++;
		if (!f[count - 1].name) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
	}
	if (rc)
		goto out;
	/* INBOX stays first; the rest in byte order. */
	qsort(f + 1, count - 1, sizeof *f, folder_cmp);
	*out = f;
	*n = count;
	f = NULL;
out:
	if (d)
		closedir(d);
	free(path);
	mv_maildir_folders_free(f, count);
	return rc;
}

/* ---- names and keywords ---- */

int mv_maildir_parse_name(const char *name, size_t *base_len, uint32_t *flags,
			  char letters[27])
{
	const char *colon;
	size_t len;
	int seen[26] = { 0 };
	int k = 0;

	*base_len = 0;
	*flags = 0;
	letters[0] = '\0';
	if (!name || name[0] == '\0' || name[0] == '.' || strchr(name, '/'))
		return -1;
	len = strlen(name);
	if (len > FILE_NAME_MAX)
		return -1;
	colon = strchr(name, ':');
	if (colon == name)
		return -1;
	*base_len = colon ? (size_t)(colon - name) : len;
	if (!colon || colon[1] != '2' || colon[2] != ',')
		return 0;
	for (const char *p = colon + 3; *p; p++) {
		switch (*p) {
		case 'D': *flags |= MV_FLAG_DRAFT; break;
		case 'F': *flags |= MV_FLAG_FLAGGED; break;
		case 'P': *flags |= MV_FLAG_PASSED; break;
		case 'R': *flags |= MV_FLAG_ANSWERED; break;
		case 'S': *flags |= MV_FLAG_SEEN; break;
		case 'T': *flags |= MV_FLAG_DELETED; break;
		default:
			if (*p >= 'a' && *p <= 'z')
				seen[*p - 'a'] = 1;
			break;
		}
	}
	/* Letters come out in a..z order, each once, whatever the file had. */
	for (int i = 0; i < 26; i++)
		if (seen[i])
			letters[k++] = (char)('a' + i);
	letters[k] = '\0';
	return 0;
}

void mv_maildir_parse_keywords(const char *text, size_t n, char *names[26])
{
	size_t i = 0;

	for (int k = 0; k < 26; k++)
		names[k] = NULL;
	while (i < n) {
		const char *line = text + i;
		const char *nl = memchr(line, '\n', n - i);
		size_t len = nl ? (size_t)(nl - line) : n - i;
		size_t j = 0;
		int idx = 0;

		i += len + (nl ? 1 : 0);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		/* N: 1 or 2 digits, no leading zero, at most 25. */
		while (j < len && j < 3 && line[j] >= '0' && line[j] <= '9') {
			idx = idx * 10 + (line[j] - '0');
			j++;
		}
		if (j == 0 || j > 2 || (j == 2 && line[0] == '0') || idx > 25)
			continue;
		if (j >= len || line[j] != ' ')
			continue;
		j++;
		if (names[idx] || !mv_keyword_valid(line + j, len - j))
			continue;
		names[idx] = strndup(line + j, len - j);
	}
}

enum mv_err mv_maildir_read_keywords(const char *dir, char *names[26],
				     struct mv_error *e)
{
	char *path = NULL, *text = NULL;
	size_t len = 0;
	int fd = -1;
	enum mv_err rc;

	for (int k = 0; k < 26; k++)
		names[k] = NULL;
	rc = join(&path, dir, "dovecot-keywords", e);
	if (rc)
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			rc = mv_fail(e, MV_E_IO, "cannot open '%s': %s", path,
				     strerror(errno));
		goto out;
	}
	text = malloc(KEYWORDS_FILE_MAX);
	if (!text) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	while (len < KEYWORDS_FILE_MAX) {
		ssize_t r = read(fd, text + len, KEYWORDS_FILE_MAX - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = mv_fail(e, MV_E_IO, "cannot read '%s': %s", path,
				     strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	/* A file cut at the cap ends in a partial line; drop it. */
	if (len == KEYWORDS_FILE_MAX) {
		while (len > 0 && text[len - 1] != '\n')
			len--;
	}
	mv_maildir_parse_keywords(text, len, names);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	return rc;
}

/* ---- scanning a folder ---- */

static void msg_release(struct mv_maildir_msg *m)
{
	free(m->path);
	free(m->base);
	for (size_t k = 0; k < m->nkeywords; k++)
		free(m->keywords[k]);
	free(m->keywords);
	free(m->unknown_letters);
}

void mv_maildir_msgs_free(struct mv_maildir_msg *m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		msg_release(&m[i]);
	free(m);
}

static int msg_cmp(const void *a, const void *b)
{
	const struct mv_maildir_msg *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	if (c)
		return c;
	/* The cur/ copy of a duplicate sorts first and is the one kept. */
	if (x->in_new != y->in_new)
		return x->in_new - y->in_new;
	return strcmp(x->path, y->path);
}

/* Fills in m's keyword names and unknown letters from letters[]. */
static enum mv_err resolve_letters(struct mv_maildir_msg *m,
				   const char *letters, char *const names[26],
				   struct mv_error *e)
{
	size_t nl = strlen(letters), unknown = 0;
	enum mv_err rc = MV_OK;

	if (nl == 0)
		return MV_OK;
	m->keywords = calloc(nl, sizeof *m->keywords);
	m->unknown_letters = calloc(nl + 1, 1);
	if (!m->keywords || !m->unknown_letters) {
		rc = mv_fail(e, MV_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		const char *name = names[letters[i] - 'a'];
		int dup = 0;

		if (!name) {
			m->unknown_letters[unknown++] = letters[i];
			continue;
		}
		/* Two letters may name the same keyword; list it once. */
		for (size_t k = 0; k < m->nkeywords; k++)
			if (strcmp(m->keywords[k], name) == 0)
				dup = 1;
		if (dup)
			continue;
		m->keywords[m->nkeywords] = strdup(name);
		if (!m->keywords[m->nkeywords]) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			goto out;
		}
		m->nkeywords++;
	}
out:
	if (m->keywords && m->nkeywords == 0) {
		free(m->keywords);
		m->keywords = NULL;
	}
	if (m->unknown_letters && unknown == 0) {
		free(m->unknown_letters);
		m->unknown_letters = NULL;
	}
	return rc;
}

struct msg_list {
	struct mv_maildir_msg *v;
	size_t n, cap;
};

/* Adds the messages of folder/sub (sub is "new" or "cur"). */
static enum mv_err scan_dir(const char *folder, const char *sub, int in_new,
			    char *const names[26], struct msg_list *l,
			    struct mv_error *e)
{
	char *dir = NULL, *path = NULL;
	DIR *d = NULL;
	struct dirent *de;
	enum mv_err rc;

	rc = join(&dir, folder, sub, e);
	if (rc)
		goto out;
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			rc = mv_fail(e, MV_E_IO, "cannot open '%s': %s", dir,
				     strerror(errno));
		goto out;
	}
	for (;;) {
		struct stat st;
		struct mv_maildir_msg *m;
		size_t base_len;
		uint32_t flags;
		char letters[27];

		if ((rc = next_entry(d, dir, &de, e)) != MV_OK || !de)
			break;
		if (de->d_name[0] == '.')
			continue;
		if (mv_maildir_parse_name(de->d_name, &base_len, &flags,
					  letters) != 0)
			continue;
		free(path);
		path = NULL;
		rc = join(&path, dir, de->d_name, e);
		if (rc)
			break;
		/* Relative to the open directory: no walk of the whole
		 * path per message (20,000 of them on the main thread). */
		if (fstatat(dirfd(d), de->d_name, &st, 0) != 0) {
			/* Moved or expunged by a mail client since readdir. */
			if (errno == ENOENT)
				continue;
			rc = mv_fail(e, MV_E_IO, "cannot stat '%s': %s", path,
				     strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (l->n >= MAX_MESSAGES) {
			rc = mv_fail(e, MV_E_LIMIT, "'%s' has more than %u "
				     "messages", folder, MAX_MESSAGES);
			break;
		}
		if (l->n == l->cap) {
			size_t ncap = l->cap ? 2 * l->cap : 64;
			struct mv_maildir_msg *grown;

			grown = realloc(l->v, ncap * sizeof *l->v);
			if (!grown) {
				rc = mv_fail(e, MV_E_NOMEM, "out of memory");
				break;
			}
			l->v = grown;
			l->cap = ncap;
		}
		m = &l->v[l->n++];
		memset(m, 0, sizeof *m);
		m->path = path;
		path = NULL;
		m->flags = flags;
		m->mtime = (int64_t)st.st_mtime;
		m->size = (uint64_t)st.st_size;
		m->in_new = in_new;
		m->base = strndup(de->d_name, base_len);
		if (!m->base) {
			rc = mv_fail(e, MV_E_NOMEM, "out of memory");
			break;
		}
		rc = resolve_letters(m, letters, names, e);
		if (rc)
			break;
	}
out:
	if (d)
		closedir(d);
	free(path);
	free(dir);
	return rc;
}

enum mv_err mv_maildir_scan(const struct mv_maildir_folder *f,
			    struct mv_maildir_msg **out, size_t *n,
			    struct mv_error *e)
{
	struct msg_list l = { NULL, 0, 0 };
	char *names[26];
	size_t w = 0;
	enum mv_err rc;

	*out = NULL;
	*n = 0;
	rc = mv_maildir_read_keywords(f->path, names, e);
	if (rc)
		goto out;
	rc = scan_dir(f->path, "new", 1, names, &l, e);
	if (!rc)
		rc = scan_dir(f->path, "cur", 0, names, &l, e);
	if (rc)
		goto out;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof *l.v, msg_cmp);
	/* Drop the new/ copy of a message seen in both (see the top). */
	for (size_t r = 0; r < l.n; r++) {
		if (w > 0 && strcmp(l.v[w - 1].base, l.v[r].base) == 0) {
			msg_release(&l.v[r]);
			continue;
		}
		l.v[w++] = l.v[r];
	}
	l.n = w;
	*out = l.v;
	*n = l.n;
	l.v = NULL;
	l.n = 0;
out:
	for (int k = 0; k < 26; k++)
		free(names[k]);
	mv_maildir_msgs_free(l.v, l.n);
	return rc;
}
