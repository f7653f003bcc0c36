/* cmd_read.c - log, ls, cat and export. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "imapdate.h"
#include "msgmeta.h"
#include "sink.h"


int cmd_log(int argc, char **argv)
{
	struct mv_vault *v = NULL;
	struct mv_commit_info *list = NULL;
	size_t n = 0;
	struct mv_error e;
	char fp[65];
	int rc;

	mv_error_clear(&e);
	if (argc != 2)
		return cli_die(EX_USAGE, "usage: mbox-vault log ARCHIVE");
	if ((rc = cli_open(argv[1], NULL, 0, &v)))
		return rc;
	if (mv_vault_commits(v, &list, &n, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	mv_signer_fingerprint(fp, v->h.owner_pk);
	printf("archive %s\nsigner  %s\n", argv[1], fp);
	for (size_t i = 0; i < n; i++) {
		char when[32], root[65];
		time_t t = (time_t)list[i].time;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		mv_hex(root, list[i].root, 32);
		printf("version %u  %-8s  %s  records %llu  messages %llu  root %s\n",
		       list[i].number, mv_commit_kind_name(list[i].kind), when,
		       (unsigned long long)list[i].tree_size,
		       (unsigned long long)list[i].entries, root);
		if (list[i].cut_bytes)
			printf("           (cut a torn tail of %llu bytes before this version)\n",
			       (unsigned long long)list[i].cut_bytes);
	}
	if (v->torn)
		printf("torn tail: %llu bytes after version %u (recoverable)\n",
		       (unsigned long long)v->torn, v->last.number);
	cli_state_save(v);
out:
	free(list);
	mv_vault_free(v);
	return rc;
}

/* Parses the common read options; returns 0, or an exit code. */
static int read_opts(int argc, char **argv, struct cli_keys *k, uint32_t *version,
		     const char **pos, int npos, int *got)
{
	*got = 0;
	for (int i = 1; i < argc; i++) {
		int r = cli_key_option(k, argc, argv, &i);

		if (r < 0)
			return cli_die(EX_USAGE, "%s needs a value", argv[i]);
		if (r)
			continue;
		if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n <= 0 || n > UINT32_MAX)
				return cli_die(EX_USAGE, "--version takes a version number");
			*version = (uint32_t)n;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cli_die(EX_USAGE, "unknown option '%.*s'", (int)strcspn(argv[i], "="), argv[i]);
		} else if (*got < npos) {
			pos[(*got)++] = argv[i];
		} else {
			return cli_die(EX_USAGE, "too many arguments");
		}
	}
	return 0;
}

static void flags_str(char *out, size_t cap, const struct mv_entry *en)
{
	static const struct { uint32_t bit; const char *name; } fl[] = {
		{ MV_FLAG_SEEN, "\\Seen" }, { MV_FLAG_ANSWERED, "\\Answered" },
		{ MV_FLAG_FLAGGED, "\\Flagged" }, { MV_FLAG_DELETED, "\\Deleted" },
		{ MV_FLAG_DRAFT, "\\Draft" }, { MV_FLAG_PASSED, "$Passed" },
	};
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
		if (en->flags & fl[i].bit)
			o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? " " : "",
					      fl[i].name);
	for (size_t i = 0; i < en->nkw && o < cap; i++)
		o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? " " : "",
				      en->kw[i]);
}

static void ls_json(const struct mv_folder *f, const char *name)
{
	static const struct { uint32_t bit; const char *name; } fl[] = {
		{ MV_FLAG_SEEN, "\\\\Seen" }, { MV_FLAG_ANSWERED, "\\\\Answered" },
		{ MV_FLAG_FLAGGED, "\\\\Flagged" }, { MV_FLAG_DELETED, "\\\\Deleted" },
		{ MV_FLAG_DRAFT, "\\\\Draft" }, { MV_FLAG_PASSED, "$Passed" },
	};
	char d[2] = { (char)f->delim, 0 };

	fputs("{\"folder\":", stdout);
	cli_json_str(stdout, name);
	fputs(",\"name\":", stdout);
	cli_json_str(stdout, f->name);
	fputs(",\"delim\":", stdout);
	cli_json_str(stdout, d);
	printf(",\"special\":%u,\"uidvalidity\":%u,\"uidnext\":%u,\"modseq\":%llu,"
	       "\"messages\":%zu}\n", f->special, f->uidvalidity, f->uidnext,
	       (unsigned long long)f->modseq, f->n);
	for (size_t j = 0; j < f->n; j++) {
		const struct mv_entry *en = &f->e[j];
		char id[17];
		int first = 1;

		mv_hex(id, en->blob.id, 8);
		fputs("{\"folder\":", stdout);
		cli_json_str(stdout, name);
		printf(",\"uid\":%u,\"id\":\"%s\",\"size\":%llu,\"date\":", en->uid, id,
		       (unsigned long long)en->blob.raw_size);
		cli_json_str(stdout, en->date);
		fputs(",\"flags\":[", stdout);
		for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
			if (en->flags & fl[i].bit) {
				printf("%s\"%s\"", first ? "" : ",", fl[i].name);
				first = 0;
			}
		fputs("],\"keywords\":[", stdout);
		for (size_t i = 0; i < en->nkw; i++) {
			if (i)
				putchar(',');
			cli_json_str(stdout, en->kw[i]);
		}
		fputs("]}\n", stdout);
	}
}

int cmd_ls(int argc, char **argv)
{
	struct cli_keys k;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	const char *pos[2] = { NULL, NULL };
	uint32_t version = 0;
	int got, rc, json = 0;

	memset(&k, 0, sizeof k);
	mv_index_init(&ix);
	mv_error_clear(&e);
	/* --json: one JSON object per folder and per message, for scripts
	 * and auditors' tools. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof *argv);
			argc--;
			break;
		}
	if ((rc = read_opts(argc, argv, &k, &version, pos, 2, &got)))
		return rc;
	if (got < 1)
		return cli_die(EX_USAGE, "usage: mbox-vault ls ARCHIVE [--version N] [--json] [FOLDER]");
	if ((rc = cli_open(pos[0], &k, 1, &v)) || (rc = cli_pick_commit(v, version, &c)))
		goto out;
	if (mv_vault_load_index(v, &c, NULL, &ix, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	if (json) {
		printf("{\"version\":%u,\"kind\":\"%s\",\"source\":", c.number,
		       mv_commit_kind_name(c.kind));
		cli_json_str(stdout, ix.source);
		fputs(",\"info\":", stdout);
		cli_json_str(stdout, ix.info ? ix.info : "");
		fputs("}\n", stdout);
	} else {
		printf("version %u (%s), source %s\n", c.number, mv_commit_kind_name(c.kind),
		       ix.source);
	}
	for (size_t i = 0; i < ix.nf; i++) {
		struct mv_folder *f = &ix.f[i];
		char *name = cli_folder_display(f);

		if (pos[1] && strcmp(pos[1], name) != 0) {
			free(name);
			continue;
		}
		if (json) {
			ls_json(f, name);
			free(name);
			continue;
		}
		printf("%s  (%zu messages, UIDVALIDITY %u)\n", name, f->n, f->uidvalidity);
		for (size_t j = 0; j < f->n; j++) {
			struct mv_entry *en = &f->e[j];
			char id[17], fl[2048];

			mv_hex(id, en->blob.id, 8);
			flags_str(fl, sizeof fl, en);
			printf("  %s/%u  #%s  %10llu  %s  %s\n", name, en->uid, id,
			       (unsigned long long)en->blob.raw_size, en->date, fl);
		}
		free(name);
	}
	cli_state_save(v);
out:
	mv_index_release(&ix);
	mv_vault_free(v);
	cli_keys_release(&k);
	return rc;
}

/*
 * A reference is FOLDER/UID (FOLDER as `ls` shows it) or #HEX, a prefix of
 * at least 6 hex digits of the message ID.  Returns 0 or an exit code.
 */
int cli_resolve_ref(struct mv_vault *v, struct mv_index *ix, const char *ref,
		    size_t *fno, size_t *eno)
{
	(void)v;
	if (ref[0] == '#') {
		size_t l = strlen(ref + 1);
		int found = 0;

		if (l < 6 || l > 32)
			return cli_die(EX_USAGE, "'%s': a message ID needs 6 to 32 hex digits", ref);
		for (size_t i = 0; i < ix->nf; i++)
			for (size_t j = 0; j < ix->f[i].n; j++) {
				char id[33];

				mv_hex(id, ix->f[i].e[j].blob.id, 16);
				if (strncasecmp(id, ref + 1, l) == 0) {
					if (found && memcmp(ix->f[*fno].e[*eno].blob.id,
							    ix->f[i].e[j].blob.id, 16) != 0)
						return cli_die(EX_USAGE, "'%s' is ambiguous", ref);
					if (!found) {
						*fno = i;
						*eno = j;
					}
					found = 1;
				}
			}
		return found ? 0 : cli_die(EX_NOTFOUND, "no message '%s'", ref);
	}
	{
		const char *slash = strrchr(ref, '/');
		long long uid;

		if (!slash || (uid = cli_number(slash + 1)) <= 0 || uid > UINT32_MAX)
			return cli_die(EX_USAGE, "'%s' is not FOLDER/UID or #ID", ref);
		for (size_t i = 0; i < ix->nf; i++) {
			char *name = cli_folder_display(&ix->f[i]);
			int match = strlen(name) == (size_t)(slash - ref) &&
				    memcmp(name, ref, (size_t)(slash - ref)) == 0;
			struct mv_entry *en;

			free(name);
			if (!match)
				continue;
			en = mv_folder_find_uid(&ix->f[i], (uint32_t)uid);
			if (!en)
				break;
			*fno = i;
			*eno = (size_t)(en - ix->f[i].e);
			return 0;
		}
		return cli_die(EX_NOTFOUND, "no message '%s'", ref);
	}
}

static enum mv_err to_stdout(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	(void)ctx;
	if (fwrite(p, 1, n, stdout) != n)
		return mv_fail(e, MV_E_IO, "cannot write to standard output");
	return MV_OK;
}

int cmd_cat(int argc, char **argv)
{
	struct cli_keys k;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	const char *pos[2] = { NULL, NULL };
	uint32_t version = 0;
	size_t fno = 0, eno = 0;
	int got, rc;

	memset(&k, 0, sizeof k);
	mv_index_init(&ix);
	mv_error_clear(&e);
	if ((rc = read_opts(argc, argv, &k, &version, pos, 2, &got)))
		return rc;
	if (got != 2)
		return cli_die(EX_USAGE, "usage: mbox-vault cat ARCHIVE REF [--version N]");
	if ((rc = cli_open(pos[0], &k, 1, &v)) || (rc = cli_pick_commit(v, version, &c)))
		goto out;
	if (mv_vault_load_index(v, &c, NULL, &ix, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	if ((rc = cli_resolve_ref(v, &ix, pos[1], &fno, &eno)))
		goto out;
	if (mv_vault_read_blob(v, &ix.f[fno].e[eno].blob, to_stdout, NULL, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	if (fflush(stdout) != 0)
		rc = cli_die(EX_FAIL, "cannot write to standard output");
out:
	mv_index_release(&ix);
	mv_vault_free(v);
	cli_keys_release(&k);
	return rc;
}

struct sink_ctx {
	struct mv_sink *s;
};

static enum mv_err to_sink(void *ctx, const uint8_t *p, size_t n, struct mv_error *e)
{
	struct sink_ctx *sc = ctx;

	return mv_sink_write(sc->s, p, n, e);
}

int cmd_export(int argc, char **argv)
{
	struct cli_keys k;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	struct mv_sink *s = NULL;
	const char *pos[2] = { NULL, NULL }, *fmt = NULL;
	enum mv_sink_kind kind;
	uint32_t version = 0;
	uint64_t count = 0;
	int got = 0, rc = 0, mbox_src;
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int nrest = 0;

	memset(&k, 0, sizeof k);
	mv_index_init(&ix);
	mv_error_clear(&e);
	if (!rest)
		return cli_die(EX_FAIL, "out of memory");
	/* --format is ours; the rest is the common read options. */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			fmt = argv[++i];
		else
			rest[nrest++] = argv[i];
	}
	if ((rc = read_opts(nrest, rest, &k, &version, pos, 2, &got)))
		goto out;
	if (got != 2 || !fmt) {
		rc = cli_die(EX_USAGE, "usage: mbox-vault export ARCHIVE --format maildir|mbox|tar|zip OUT");
		goto out;
	}
	if (mv_sink_kind_parse(fmt, &kind) != 0) {
		rc = cli_die(EX_USAGE, "unknown export format '%s'", fmt);
		goto out;
	}
	if ((rc = cli_open(pos[0], &k, 1, &v)) || (rc = cli_pick_commit(v, version, &c)))
		goto out;
	if (mv_vault_load_index(v, &c, NULL, &ix, &e) || mv_sink_open(&s, kind, pos[1], &e)) {
		rc = cli_error(&e);
		goto out;
	}
	mbox_src = strncmp(ix.source, "mbox:", 5) == 0;
	for (size_t i = 0; i < ix.nf; i++) {
		struct mv_folder *f = &ix.f[i];

		if (mv_sink_folder(s, f->name, (char)f->delim, &e)) {
			rc = cli_error(&e);
			goto out;
		}
		for (size_t j = 0; j < f->n; j++) {
			struct mv_entry *en = &f->e[j];
			struct mv_msgmeta m;
			struct sink_ctx sc = { s };

			memset(&m, 0, sizeof m);
			m.folder = f->name;
			m.delim = (char)f->delim;
			m.flags = en->flags;
			m.nkeywords = en->nkw;
			m.keywords = (const char *const *)en->kw;
			if (mv_imapdate_parse(en->date, strlen(en->date), &m.internaldate,
					      &m.tzoff_min) != 0)
				m.internaldate = 0;
			m.size = en->blob.raw_size;
			if (en->srcmeta_len) {
				if (mbox_src)
					m.mbox_from = en->srcmeta;
				else
					m.maildir_name = en->srcmeta;
			}
			if (mv_sink_begin(s, &m, &e) ||
			    mv_vault_read_blob(v, &en->blob, to_sink, &sc, &e) ||
			    mv_sink_end(s, &e)) {
				mv_sink_abort(s);
				rc = cli_error(&e);
				goto out;
			}
			count++;
		}
	}
	if (mv_sink_close(s, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	for (size_t i = 0; i < mv_sink_nwarnings(s); i++)
		fprintf(stderr, "mbox-vault: warning: %s\n", mv_sink_warning(s, i));
	if (!cli_quiet)
		printf("exported version %u: %llu messages to %s (%s)\n", c.number,
		       (unsigned long long)count, pos[1], fmt);
	if (mv_sink_nwarnings(s))
		rc = EX_PARTIAL;
out:
	mv_sink_free(s);
	mv_index_release(&ix);
	mv_vault_free(v);
	cli_keys_release(&k);
	free(rest);
	return rc;
}
