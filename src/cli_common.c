/* cli_common.c - shared CLI plumbing; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "msgmeta.h"
#include "utf7.h"

int cli_log_json;
int cli_quiet;

int cli_exit_code(enum mv_err code)
{
	switch (mv_err_class(code)) {
	case MV_CLASS_OK: return EX_OK;
	case MV_CLASS_USAGE: return EX_USAGE;
	case MV_CLASS_KEY: return EX_KEY;
	case MV_CLASS_CORRUPT: return EX_CORRUPT;
	case MV_CLASS_TORN: return EX_TORN;
	case MV_CLASS_SIGNER: return EX_SIGNER;
	case MV_CLASS_AUTH: return EX_AUTH;
	case MV_CLASS_TLS: return EX_TLS;
	case MV_CLASS_NET: return EX_NET;
	case MV_CLASS_PARTIAL: return EX_PARTIAL;
	case MV_CLASS_INPUT: return EX_INPUT;
	case MV_CLASS_NOTFOUND: return EX_NOTFOUND;
	default: return EX_FAIL;
	}
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int cli_error(const struct mv_error *e)
{
	int code = cli_exit_code(e->code);

	cli_progress_done();
	if (cli_log_json) {
		fprintf(stderr, "{\"event\":\"error\",\"class\":\"%s\",\"exit\":%d,",
			mv_err_name(e->code), code);
		if (e->version >= 0)
			fprintf(stderr, "\"version\":%lld,", (long long)e->version);
		if (e->record >= 0)
			fprintf(stderr, "\"record\":%lld,", (long long)e->record);
		if (e->offset >= 0)
			fprintf(stderr, "\"offset\":%lld,", (long long)e->offset);
		fputs("\"message\":", stderr);
		cli_json_str(stderr, e->msg);
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "mbox-vault: %s (%s)\n", e->msg, mv_err_name(e->code));
	}
	return code;
}

int cli_die(int code, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	cli_progress_done();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (cli_log_json) {
		fprintf(stderr, "{\"event\":\"error\",\"exit\":%d,\"message\":", code);
		cli_json_str(stderr, msg);
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "mbox-vault: %s\n", msg);
	}
	return code;
}

long long cli_number(const char *s)
{
	char *end;
	long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	return v;
}

/* ---- secrets ---- */

char *cli_prompt_secret(const char *prompt, size_t *len)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	char *buf;
	size_t n = 0;
	char c;

	if (fd < 0)
		return NULL;
	buf = mv_secure_alloc(1024);
	if (!buf || tcgetattr(fd, &old) != 0) {
		mv_secure_free(buf);
		close(fd);
		return NULL;
	}
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~ECHO;
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* Nothing useful to do: the read below still works. */
	}
	tcsetattr(fd, TCSAFLUSH, &quiet);
	while (read(fd, &c, 1) == 1 && c != '\n' && c != '\r')
		if (n < 1023)
			buf[n++] = c;
	buf[n] = '\0';
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* As above. */
	}
	close(fd);
	*len = n;
	return buf;
}

/* Reads the first line of a file into secure memory. */
char *cli_secret_file(const char *path, size_t *len, struct mv_error *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t r;
	size_t n = 0;

	if (fd < 0) {
		mv_fail(e, MV_E_IO, "cannot open secret file '%s': %s", path, strerror(errno));
		return NULL;
	}
	buf = mv_secure_alloc(4096);
	if (!buf) {
		close(fd);
		mv_fail(e, MV_E_NOMEM, "out of secure memory");
		return NULL;
	}
	while (n < 4095 && (r = read(fd, buf + n, 4095 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	/* The passphrase is the first line, without its line end. */
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\r') {
			buf[i] = '\0';
			n = i;
			break;
		}
	*len = n;
	return buf;
}

int cli_key_option(struct cli_keys *k, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (strcmp(a, "--identity") == 0 || strcmp(a, "-i") == 0) {
		if (*i + 1 >= argc)
			return -1;
		k->identity_path = argv[++*i];
		return 1;
	}
	if (strcmp(a, "--passphrase-file") == 0) {
		if (*i + 1 >= argc)
			return -1;
		k->passphrase_file = argv[++*i];
		return 1;
	}
	return 0;
}

char *cli_secret_env(const char *name, size_t *len)
{
	const char *s = getenv(name);
	char *buf;

	if (!s || !*s)
		return NULL;
	*len = strlen(s);
	buf = mv_secure_alloc(*len + 1);
	if (buf)
		memcpy(buf, s, *len + 1);
	return buf;
}

int cli_keys_present(const struct cli_keys *k)
{
	return k->identity_path || k->passphrase_file ||
	       (getenv("MBOX_VAULT_PASSPHRASE") && *getenv("MBOX_VAULT_PASSPHRASE"));
}

int cli_keys_load(struct cli_keys *k, int need, int confirm, struct mv_error *e)
{
	if (k->identity_path) {
		int prot = 0;
		char *ip = NULL;
		size_t il = 0;
		enum mv_err rc = mv_identity_is_protected(k->identity_path, &prot, e);

		if (rc)
			return rc;
		if (prot) {
			ip = cli_secret_env("MBOX_VAULT_IDENTITY_PASSPHRASE", &il);
			if (!ip)
				ip = cli_prompt_secret("identity passphrase: ", &il);
			if (!ip)
				return mv_fail(e, MV_E_KEY,
					       "identity '%s' is protected: set MBOX_VAULT_IDENTITY_PASSPHRASE or run on a terminal",
					       k->identity_path);
		}
		rc = mv_identity_read(k->identity_path, ip, il, &k->id, e);
		mv_secure_free(ip);
		if (rc)
			return rc;
		k->creds.x_sk = k->id->x_sk;
		k->creds.x_pk = k->id->x_pk;
		k->creds.ed_seed = k->id->ed_seed;
	}
	if (k->passphrase_file) {
		k->pass = cli_secret_file(k->passphrase_file, &k->passlen, e);
		if (!k->pass)
			return e->code;
	} else if (!(k->pass = cli_secret_env("MBOX_VAULT_PASSPHRASE", &k->passlen)) &&
		   need && !k->id) {
		k->pass = cli_prompt_secret("archive passphrase: ", &k->passlen);
		if (!k->pass)
			return mv_fail(e, MV_E_KEY,
				       "no key given: use --identity, --passphrase-file or MBOX_VAULT_PASSPHRASE");
		if (confirm) {
			size_t l2 = 0;
			char *p2 = cli_prompt_secret("again: ", &l2);

			if (!p2 || l2 != k->passlen || !mv_ct_eq(p2, k->pass, l2)) {
				mv_secure_free(p2);
				return mv_fail(e, MV_E_KEY, "the passphrases do not match");
			}
			mv_secure_free(p2);
		}
	}
	if (k->pass && k->passlen == 0)
		return mv_fail(e, MV_E_KEY, "the passphrase is empty");
	if (k->pass) {
		k->creds.pass = k->pass;
		k->creds.passlen = k->passlen;
	}
	return MV_OK;
}

void cli_keys_release(struct cli_keys *k)
{
	mv_identity_free(k->id);
	mv_secure_free(k->pass);
	memset(k, 0, sizeof *k);
}

/* ---- rollback state ----
 *
 * One file per archive (by archive ID) under $XDG_STATE_HOME/mbox-vault:
 *   commit N tree T root HEX signer HEX   (the newest version seen here)
 *   proven P                               (optional: the records up to
 *                                           version P's commit were found
 *                                           to match their signed versions)
 */

/* P of the file read by cli_state_check, and P to write. */
static uint32_t state_proven, proven_now;

uint32_t cli_state_proven(const struct mv_vault *v)
{
	return v->has_commit && state_proven <= v->last.number ? state_proven : 0;
}

void cli_state_set_proven(uint32_t n)
{
	proven_now = n;
}

static int state_path(const struct mv_vault *v, char *out, size_t cap, int mk)
{
	const char *base = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char dir[4096], id[33];

	if (base && *base)
		snprintf(dir, sizeof dir, "%s/mbox-vault", base);
	else if (home && *home)
		snprintf(dir, sizeof dir, "%s/.local/state/mbox-vault", home);
	else
		return -1;
	if (mk) {
		char tmp[4096];

		/* mkdir -p, 0700. */
		snprintf(tmp, sizeof tmp, "%s", dir);
		for (char *p = tmp + 1; *p; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(tmp, 0700);
				*p = '/';
			}
		mkdir(tmp, 0700);
	}
	mv_hex(id, v->h.archive_id, 16);
	snprintf(out, cap, "%s/%s", dir, id);
	return 0;
}

int cli_state_file(const struct mv_vault *v, const char *suffix, char *out, size_t cap)
{
	char base[4200];

	if (state_path(v, base, sizeof base, 1) != 0)
		return -1;
	return snprintf(out, cap, "%s.%s", base, suffix) < (int)cap ? 0 : -1;
}

int cli_state_known(const struct mv_vault *v)
{
	char path[4200];

	return state_path(v, path, sizeof path, 0) == 0 && access(path, F_OK) == 0;
}

enum mv_err cli_state_check(struct mv_vault *v, struct mv_error *e)
{
	char path[4200], line[512], signer[65], want[65], roothex[65];
	unsigned number, proven;
	unsigned long long tsize;
	FILE *f;
	struct mv_commit_info *list = NULL;
	size_t n = 0;
	enum mv_err rc = MV_OK;

	if (!v->has_commit || state_path(v, path, sizeof path, 0) != 0)
		return MV_OK;
	f = fopen(path, "r");
	if (!f)
		return MV_OK;
	if (!fgets(line, sizeof line, f) ||
	    sscanf(line, "commit %u tree %llu root %64s signer %64s", &number, &tsize, roothex,
		   want) != 4) {
		fclose(f);
		return MV_OK;
	}
	/* Taken only once the rest of the check has passed. */
	if (!fgets(line, sizeof line, f) || sscanf(line, "proven %u", &proven) != 1 ||
	    proven > number)
		proven = 0;
	fclose(f);
	mv_signer_fingerprint(signer, v->h.owner_pk);
	if (strcmp(signer, want) != 0)
		return mv_fail(e, MV_E_SIGNER,
			       "'%s' is now signed by %s, but was signed by %s when last seen here",
			       v->path, signer, want);
	if (v->last.number < number)
		return mv_fail(e, MV_E_ROLLBACK,
			       "'%s' ends at version %u, but version %u was seen here before: rolled back",
			       v->path, v->last.number, number);
	if ((rc = mv_vault_commits(v, &list, &n, e)))
		return rc;
	{
		char hx[65];

		mv_hex(hx, list[number - 1].root, 32);
		if (strcmp(hx, roothex) != 0 || list[number - 1].tree_size != tsize)
			rc = mv_fail(e, MV_E_ROLLBACK,
				     "'%s': version %u differs from the one seen here before: history was rewritten",
				     v->path, number);
	}
	free(list);
	if (rc == MV_OK)
		state_proven = proven;
	return rc;
}

void cli_state_save(struct mv_vault *v)
{
	char path[4200], tmp[4300], signer[65], hx[65];
	FILE *f;
	int fd;

	if (!v->has_commit || state_path(v, path, sizeof path, 1) != 0)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return;
	}
	mv_signer_fingerprint(signer, v->h.owner_pk);
	mv_hex(hx, v->last.root, 32);
	fprintf(f, "commit %u tree %llu root %s signer %s\n", v->last.number,
		(unsigned long long)v->last.tree_size, hx, signer);
	if (proven_now && proven_now <= v->last.number)
		fprintf(f, "proven %u\n", proven_now);
	else if (cli_state_proven(v))
		fprintf(f, "proven %u\n", cli_state_proven(v));
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* ---- progress ---- */

static int progress_shown;

void cli_progress(void *ctx, const struct mv_progress *p)
{
	static time_t last;
	static int tty = -1;
	time_t now = time(NULL);

	(void)ctx;
	if (cli_log_json) {
		if (p->event || now != last) {
			fprintf(stderr, "{\"event\":\"%s\",\"folder\":", p->event ? p->event : "progress");
			cli_json_str(stderr, p->folder ? p->folder : "");
			fprintf(stderr, ",\"messages\":%llu,\"bytes\":%llu}\n",
				(unsigned long long)p->messages, (unsigned long long)p->bytes);
			last = now;
		}
		return;
	}
	/* isatty is a system call, and this runs per message: asked once. */
	if (tty < 0)
		tty = isatty(2);
	if (cli_quiet || now == last || !tty)
		return;
	last = now;
	fprintf(stderr, "\r\033[K%s: %llu messages, %.1f MB", p->folder ? p->folder : "",
		(unsigned long long)p->messages, (double)p->bytes / 1e6);
	progress_shown = 1;
}

void cli_progress_done(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = 0;
	}
}

/* ---- opening ---- */

int cli_open(const char *path, struct cli_keys *k, int need_key, struct mv_vault **out)
{
	struct mv_error e;
	struct mv_vault *v = NULL;
	int damaged = 0;

	mv_error_clear(&e);
	if (mv_vault_open(&v, path, 0, &e))
		return cli_error(&e);
	if (v->torn && !cli_quiet)
		fprintf(stderr, "mbox-vault: note: '%s' has %llu bytes after version %u (a torn write); reading version %u\n",
			path, (unsigned long long)v->torn, v->has_commit ? v->last.number : 0,
			v->has_commit ? v->last.number : 0);
	if (!v->has_commit) {
		mv_vault_free(v);
		return cli_die(EX_CORRUPT, "'%s' has no committed version", path);
	}
	if (cli_state_check(v, &e) || mv_vault_check_records(v, &damaged, &e)) {
		mv_vault_free(v);
		return cli_error(&e);
	}
	if (!damaged)
		cli_state_set_proven(v->last.number);
	if (damaged && !cli_quiet)
		fprintf(stderr, "mbox-vault: warning: '%s' is damaged or altered: records "
			"not covered by an intact signed version are refused (run verify)\n",
			path);
	if (need_key) {
		if (cli_keys_load(k, 1, 0, &e) || mv_vault_unlock(v, &k->creds, &e)) {
			mv_vault_free(v);
			return cli_error(&e);
		}
	}
	*out = v;
	return 0;
}

int cli_pick_commit(struct mv_vault *v, uint32_t number, struct mv_commit_info *out)
{
	struct mv_commit_info *list = NULL;
	size_t n = 0;
	struct mv_error e;
	int found = 0;

	mv_error_clear(&e);
	if (number == 0 && v->last.kind == MV_COMMIT_COMPLETE) {
		*out = v->last;
		return 0;
	}
	if (number == v->last.number) {
		*out = v->last;
		return 0;
	}
	if (mv_vault_commits(v, &list, &n, &e))
		return cli_error(&e);
	for (size_t i = n; i-- > 0;) {
		if (number ? list[i].number == number : list[i].kind == MV_COMMIT_COMPLETE) {
			*out = list[i];
			found = 1;
			break;
		}
	}
	free(list);
	if (!found)
		return cli_die(EX_NOTFOUND, number ? "'%s' has no version %u"
					       : "'%s' has no complete version (only partial checkpoints)",
			       v->path, number);
	return 0;
}

char *cli_folder_display(const struct mv_folder *f)
{
	struct mv_buf b;
	char *s;

	mv_buf_init(&b, 8 * MV_MAX_FOLDER_NAME);
	if (mv_utf7_decode(&b, f->name, f->name_len) != MV_OK) {
		mv_buf_reset(&b);
		mv_buf_add(&b, f->name, f->name_len);
	}
	mv_buf_cstr(&b);
	s = (char *)b.data;
	if (s && f->delim && f->delim != '/')
		for (char *p = s; *p; p++)
			if (*p == (char)f->delim)
				*p = '/';
	return s ? s : strdup("");
}
