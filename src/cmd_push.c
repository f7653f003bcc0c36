/*
 * cmd_push.c - push: a version into an IMAP account or a local Maildir or
 * mbox; verify --against: a version compared with one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"
#include "imap_push.h"
#include "local_push.h"
#include "push_report.h"

#define PUSH_USAGE "usage: mbox-vault push ARCHIVE imaps://USER@HOST[:PORT]|maildir:PATH|mbox:PATH"
#define AGAINST_USAGE "usage: mbox-vault verify ARCHIVE --against " \
	"imaps://USER@HOST[:PORT]|maildir:PATH|mbox:PATH [--json] [--version N]"


/* The push report, IMAP or local (local: each folder's path on disk and
 * bytes; IMAP: how messages were appended).  The exit code it implies. */
static int push_report(const struct mv_push_report *r, int dry, uint32_t version, int local)
{
	if (cli_log_json) {
		for (size_t i = 0; i < r->nf; i++) {
			const struct mv_push_folder *f = &r->f[i];

			fputs("{\"event\":\"folder\",\"source\":", stderr);
			cli_json_str(stderr, f->source);
			fputs(",\"target\":", stderr);
			cli_json_str(stderr, f->target ? f->target : "");
			if (local) {
				fputs(",\"path\":", stderr);
				cli_json_str(stderr, f->path ? f->path : "");
			}
			fprintf(stderr, ",\"created\":%d,\"messages\":%llu,\"present\":%llu,"
				"\"appended\":%llu,\"bytes\":%llu,\"refused\":%llu,"
				"\"dropped_keywords\":%llu}\n", f->created,
				(unsigned long long)f->messages, (unsigned long long)f->present,
				(unsigned long long)f->appended, (unsigned long long)f->bytes,
				(unsigned long long)f->refused,
				(unsigned long long)f->dropped_keywords);
		}
		fprintf(stderr, "{\"event\":\"done\",\"version\":%u,\"dry_run\":%d,"
			"\"appended\":%llu,\"present\":%llu,\"refused\":%llu,"
			"\"dropped_keywords\":%llu,", version, dry,
			(unsigned long long)r->appended, (unsigned long long)r->present,
			(unsigned long long)r->refused, (unsigned long long)r->dropped_keywords);
		if (local)
			fprintf(stderr, "\"cut_bytes\":%llu}\n", (unsigned long long)r->cut_bytes);
		else
			fprintf(stderr, "\"reconnects\":%llu}\n", (unsigned long long)r->reconnects);
	} else if (!cli_quiet) {
		printf("%sversion %u: %llu messages %s, %llu already on the target",
		       dry ? "dry run, " : "", version, (unsigned long long)r->appended,
		       dry ? "would be appended" : "appended", (unsigned long long)r->present);
		if (r->refused)
			printf(", %llu REFUSED", (unsigned long long)r->refused);
		if (r->dropped_keywords)
			printf(", %llu keywords dropped", (unsigned long long)r->dropped_keywords);
		if (r->cut_bytes)
			printf(", %llu bytes of an interrupted push cut",
			       (unsigned long long)r->cut_bytes);
		if (r->present_by_record)
			printf(" (%llu known from push's record)",
			       (unsigned long long)r->present_by_record);
		if (r->reconnects)
			printf(", after %llu reconnections", (unsigned long long)r->reconnects);
		putchar('\n');
		if (!local)
			printf("append: %s%s%s\n", r->multiappend ? "MULTIAPPEND" : "single APPEND",
			       r->literal_plus ? ", LITERAL+" : "", r->binary ? ", BINARY" : "");
		for (size_t i = 0; i < r->nf; i++) {
			const struct mv_push_folder *f = &r->f[i];

			printf("  %s -> %s", f->source, f->target ? f->target : "?");
			if (local)
				printf(" [%s]", f->path && *f->path ? f->path : ".");
			printf("%s: %llu messages, %llu present, %llu %s",
			       f->created ? (dry ? " (would be created)" : " (created)") : "",
			       (unsigned long long)f->messages, (unsigned long long)f->present,
			       (unsigned long long)f->appended, dry ? "to append" : "appended");
			if (local)
				printf(", %llu bytes", (unsigned long long)f->bytes);
			if (f->refused)
				printf(", %llu REFUSED", (unsigned long long)f->refused);
			if (f->dropped_keywords)
				printf(", %llu keywords dropped",
				       (unsigned long long)f->dropped_keywords);
			putchar('\n');
		}
	}
	return r->refused || r->dropped_keywords ? EX_PARTIAL : EX_OK;
}

/*
 * The compare report, IMAP or local: JSON lines or text on stdout.  An
 * mbox target keeps no flags or keywords: the closing line says so.
 */
static void diff_report(const struct mv_diff_report *rep, uint32_t version,
			const char *target, int json, int local, int mbox)
{
	int bad = mv_diff_report_differs(rep);

	if (json) {
		for (size_t i = 0; i < rep->nitems; i++) {
			const struct mv_diff_item *it = &rep->items[i];

			printf("{\"event\":\"%s\",\"folder\":", it->kind);
			cli_json_str(stdout, it->folder ? it->folder : "");
			if (local) {
				printf(",\"archive_uid\":%u,\"target\":", it->src_uid);
				cli_json_str(stdout, it->dst_name ? it->dst_name : "");
				fputs("}\n", stdout);
			} else {
				printf(",\"archive_uid\":%u,\"target_uid\":%u}\n", it->src_uid,
				       it->dst_uid);
			}
		}
		for (size_t i = 0; i < rep->nf; i++) {
			const struct mv_diff_folder *f = &rep->f[i];

			fputs("{\"event\":\"folder\",\"folder\":", stdout);
			cli_json_str(stdout, f->source);
			fputs(",\"target\":", stdout);
			cli_json_str(stdout, f->target ? f->target : "");
			if (local) {
				fputs(",\"path\":", stdout);
				cli_json_str(stdout, f->path ? f->path : "");
			}
			printf(",\"messages\":%llu,\"matched\":%llu,", (unsigned long long)f->messages,
			       (unsigned long long)f->matched);
			if (!local)
				printf("\"rendered\":%llu,", (unsigned long long)f->rendered);
			printf("\"missing\":%llu,\"extra\":%llu,\"altered\":%llu,\"flags\":%llu,"
			       "\"dates\":%llu}\n",
			       (unsigned long long)f->missing, (unsigned long long)f->extra,
			       (unsigned long long)f->altered, (unsigned long long)f->flags,
			       (unsigned long long)f->dates);
		}
		printf("{\"event\":\"result\",\"version\":%u,\"match\":%s,\"missing\":%llu,"
		       "\"extra\":%llu,\"altered\":%llu,\"flags\":%llu,\"dates\":%llu",
		       version, bad ? "false" : "true", (unsigned long long)rep->missing,
		       (unsigned long long)rep->extra, (unsigned long long)rep->altered,
		       (unsigned long long)rep->flags, (unsigned long long)rep->dates);
		if (!local)
			printf(",\"rendered\":%llu", (unsigned long long)rep->rendered);
		fputs("}\n", stdout);
		return;
	}
	printf("version %u against %s:\n", version, target);
	for (size_t i = 0; i < rep->nf; i++) {
		const struct mv_diff_folder *f = &rep->f[i];

		printf("  %s -> %s", f->source, f->target ? f->target : "?");
		if (local)
			printf(" [%s]", f->path && *f->path ? f->path : ".");
		printf("%s: %llu messages, %llu match", f->absent ? " (ABSENT)" : "",
		       (unsigned long long)f->messages, (unsigned long long)f->matched);
		if (f->rendered)
			printf(" (%llu of them differ only in line ends/NUL as the server "
			       "stores them)", (unsigned long long)f->rendered);
		if (f->missing)
			printf(", %llu MISSING", (unsigned long long)f->missing);
		if (f->altered)
			printf(", %llu ALTERED", (unsigned long long)f->altered);
		if (f->extra)
			printf(", %llu EXTRA", (unsigned long long)f->extra);
		if (f->flags)
			printf(", %llu with other flags", (unsigned long long)f->flags);
		if (f->dates)
			printf(", %llu with another date", (unsigned long long)f->dates);
		putchar('\n');
	}
	for (size_t i = 0; i < rep->nitems; i++) {
		const struct mv_diff_item *it = &rep->items[i];

		printf("  %s: %s", it->kind, it->folder ? it->folder : "");
		if (!local) {
			printf(" archive UID %u, target UID %u\n", it->src_uid, it->dst_uid);
			continue;
		}
		if (it->src_uid)
			printf(" archive UID %u", it->src_uid);
		if (it->dst_name)
			printf("%s target %s", it->src_uid ? "," : "", it->dst_name);
		putchar('\n');
	}
	if (rep->more)
		printf("  ... and %zu more differences\n", rep->more);
	if (bad)
		printf("the target DIFFERS from version %u\n", version);
	else if (rep->rendered)
		printf("the target matches version %u: every message with its flags, "
		       "keywords and date, %llu of them as the server stores them (line "
		       "ends, NUL), the others byte for byte\n", version,
		       (unsigned long long)rep->rendered);
	else if (mbox)
		printf("the target matches version %u: every message, byte for byte, "
		       "with its From_ line date (mbox keeps no flags or keywords)\n", version);
	else
		printf("the target matches version %u: every message, byte for byte, "
		       "with its flags, keywords and date\n", version);
}

/* The archive opened with a key and the version's index loaded: what
 * push and verify --against need whatever the target.  An exit code. */
static int open_local(const char *arch, uint32_t version, struct cli_keys *k,
		      struct mv_vault **v, struct mv_commit_info *c, struct mv_index *ix)
{
	struct mv_error e;
	int rc;

	mv_error_clear(&e);
	if ((rc = cli_open(arch, k, 1, v)) || (rc = cli_pick_commit(*v, version, c)))
		return rc;
	if (mv_vault_load_index(*v, c, NULL, ix, &e))
		return cli_error(&e);
	return EX_OK;
}

/* Fills the local options from the IMAP option block (--folder,
 * --exclude) and --map; 0, or an exit code for options that make no
 * sense for a local target. */
static int local_opts(struct mv_local_opts *lo, const char *target, const struct cli_imap *ci,
		      const char **map, size_t nmap)
{
	memset(lo, 0, sizeof *lo);
	if (!mv_local_target_parse(target, &lo->kind, &lo->path))
		return cli_die(EX_USAGE, "target '%s': not imaps://, imap://, maildir:PATH "
			       "or mbox:PATH", target);
	if (ci->user || ci->password_file || ci->token_file || ci->cacert || ci->pin ||
	    ci->insecure_plaintext)
		return cli_die(EX_USAGE, "target '%s': IMAP options do not apply to a local "
			       "target", target);
	lo->include = ci->include;
	lo->ninclude = ci->ninclude;
	lo->exclude = ci->exclude;
	lo->nexclude = ci->nexclude;
	lo->map = map;
	lo->nmap = nmap;
	lo->event = cli_imap_event;
	return EX_OK;
}

static int push_local(const char *arch, const char *target, uint32_t version,
		      struct cli_keys *k, const struct cli_imap *ci, const char **map,
		      size_t nmap, int dry)
{
	struct mv_local_opts lo;
	struct mv_push_report rep;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	int rc;

	memset(&rep, 0, sizeof rep);
	mv_index_init(&ix);
	mv_error_clear(&e);
	if ((rc = local_opts(&lo, target, ci, map, nmap)) ||
	    (rc = open_local(arch, version, k, &v, &c, &ix)))
		goto out;
	lo.dry_run = dry;
	if (mv_push_local(v, &ix, &lo, &rep, &e)) {
		push_report(&rep, dry, c.number, 1);
		rc = cli_error(&e);
		goto out;
	}
	cli_state_save(v);
	rc = push_report(&rep, dry, c.number, 1);
out:
	mv_push_report_release(&rep);
	mv_index_release(&ix);
	mv_vault_free(v);
	return rc;
}

static int verify_local(const char *arch, const char *target, uint32_t version,
			struct cli_keys *k, const struct cli_imap *ci, const char **map,
			size_t nmap, int json)
{
	struct mv_local_opts lo;
	struct mv_diff_report rep;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	int rc, bad;

	memset(&rep, 0, sizeof rep);
	mv_index_init(&ix);
	mv_error_clear(&e);
	if ((rc = local_opts(&lo, target, ci, map, nmap)) ||
	    (rc = open_local(arch, version, k, &v, &c, &ix)))
		goto out;
	if (mv_compare_local(v, &ix, &lo, &rep, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	bad = mv_diff_report_differs(&rep);
	diff_report(&rep, c.number, target, json, 1, lo.kind == MV_LOCAL_MBOX);
	rc = bad ? EX_CORRUPT : EX_OK;
	cli_state_save(v);
out:
	mv_diff_report_release(&rep);
	mv_index_release(&ix);
	mv_vault_free(v);
	return rc;
}

/* What push and verify --against share: the archive opened with a key,
 * the version's index loaded, the account's options filled in.  An exit
 * code (0 on success). */
static int open_job(const char *arch, const char *target, uint32_t version,
		    struct cli_keys *k, struct cli_imap *ci, struct mv_vault **v,
		    struct mv_commit_info *c, struct mv_index *ix,
		    struct mv_imap_push_opts *po)
{
	int rc;

	if ((rc = open_local(arch, version, k, v, c, ix)) ||
	    (rc = cli_imap_load(ci, target, &po->conn)) != EX_OK)
		return rc;
	po->include = ci->include;
	po->ninclude = ci->ninclude;
	po->exclude = ci->exclude;
	po->nexclude = ci->nexclude;
	return EX_OK;
}

int cmd_push(int argc, char **argv)
{
	struct cli_keys k;
	struct cli_imap ci;
	struct mv_imap_push_opts po;
	struct mv_push_report rep;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	const char *arch = NULL, *target = NULL;
	const char **map = NULL;
	size_t nmap = 0;
	uint32_t version = 0;
	int rc = EX_OK, no_state = 0;
	char state[4400];

	memset(&k, 0, sizeof k);
	memset(&ci, 0, sizeof ci);
	memset(&po, 0, sizeof po);
	memset(&rep, 0, sizeof rep);
	mv_index_init(&ix);
	mv_error_clear(&e);
	if (!(map = calloc((size_t)argc, sizeof *map)))
		return cli_die(EX_FAIL, "out of memory");
	for (int i = 1; i < argc; i++) {
		int r = cli_conn_option(&k, &ci, argc, argv, &i);

		if (r < 0) {
			rc = -r;
			goto out;
		}
		if (r)
			continue;
		if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n <= 0 || n > UINT32_MAX) {
				rc = cli_die(EX_USAGE, "--version takes a version number");
				goto out;
			}
			version = (uint32_t)n;
		} else if (strcmp(argv[i], "--map") == 0 && i + 1 < argc) {
			const char *m = argv[++i], *eq = strchr(m, '=');

			if (!eq || eq == m || !eq[1]) {
				rc = cli_die(EX_USAGE, "--map takes 'Old/Name=New/Name'");
				goto out;
			}
			map[nmap++] = m;
		} else if (strcmp(argv[i], "--no-state") == 0) {
			no_state = 1;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			po.dry_run = 1;
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n <= 0 || n > 10000) {
				rc = cli_die(EX_USAGE, "--batch takes 1..10000");
				goto out;
			}
			po.batch = (unsigned)n;
		} else if (argv[i][0] == '-') {
			rc = cli_die(EX_USAGE, "unknown option '%.*s'", (int)strcspn(argv[i], "="),
				     argv[i]);
			goto out;
		} else if (!arch) {
			arch = argv[i];
		} else if (!target) {
			target = argv[i];
		} else {
			rc = cli_die(EX_USAGE, PUSH_USAGE);
			goto out;
		}
	}
	if (!arch || !target) {
		rc = cli_die(EX_USAGE, PUSH_USAGE);
		goto out;
	}
	if (!cli_is_imap(target)) {
		if (no_state || po.batch) {
			rc = cli_die(EX_USAGE, "--no-state and --batch apply to IMAP targets only");
			goto out;
		}
		rc = push_local(arch, target, version, &k, &ci, map, nmap, po.dry_run);
		goto out;
	}
	if ((rc = open_job(arch, target, version, &k, &ci, &v, &c, &ix, &po)))
		goto out;
	po.map = map;
	po.nmap = nmap;
	po.event = cli_imap_event;
	if (!no_state) {
		/* One record per archive and account: a digest of user, host
		 * and port names the account without showing it. */
		char who[600], hex[33];
		uint8_t d[16];

		snprintf(who, sizeof who, "%s@%s:%u", po.conn.user ? po.conn.user
			 : po.conn.url.user, po.conn.url.host, po.conn.url.port);
		mv_blake2b(d, sizeof d, NULL, 0, (const uint8_t *)who, strlen(who));
		mv_hex(hex, d, sizeof d);
		snprintf(who, sizeof who, "push-%s", hex);
		if (cli_state_file(v, who, state, sizeof state) == 0)
			po.state_path = state;
	}
	if (mv_push_imap(v, &ix, &po, &rep, &e)) {
		push_report(&rep, po.dry_run, c.number, 0);
		rc = cli_error(&e);
		goto out;
	}
	cli_state_save(v);
	rc = push_report(&rep, po.dry_run, c.number, 0);
out:
	mv_push_report_release(&rep);
	mv_index_release(&ix);
	mv_vault_free(v);
	cli_imap_release(&ci);
	cli_keys_release(&k);
	free(map);
	return rc;
}

int cmd_verify_against(int argc, char **argv)
{
	struct cli_keys k;
	struct cli_imap ci;
	struct mv_imap_push_opts po;
	struct mv_diff_report rep;
	struct mv_vault *v = NULL;
	struct mv_commit_info c;
	struct mv_index ix;
	struct mv_error e;
	const char *arch = NULL, *target = NULL;
	const char **map = NULL;
	size_t nmap = 0;
	uint32_t version = 0;
	int rc = EX_OK, json = 0, bad;

	memset(&k, 0, sizeof k);
	memset(&ci, 0, sizeof ci);
	memset(&po, 0, sizeof po);
	memset(&rep, 0, sizeof rep);
	mv_index_init(&ix);
	mv_error_clear(&e);
	if (!(map = calloc((size_t)argc, sizeof *map)))
		return cli_die(EX_FAIL, "out of memory");
	for (int i = 1; i < argc; i++) {
		int r = cli_conn_option(&k, &ci, argc, argv, &i);

		if (r < 0) {
			rc = -r;
			goto out;
		}
		if (r)
			continue;
		if (strcmp(argv[i], "--against") == 0 && i + 1 < argc) {
			target = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n <= 0 || n > UINT32_MAX) {
				rc = cli_die(EX_USAGE, "--version takes a version number");
				goto out;
			}
			version = (uint32_t)n;
		} else if (strcmp(argv[i], "--map") == 0 && i + 1 < argc) {
			const char *m = argv[++i], *eq = strchr(m, '=');

			if (!eq || eq == m || !eq[1]) {
				rc = cli_die(EX_USAGE, "--map takes 'Old/Name=New/Name'");
				goto out;
			}
			map[nmap++] = m;
		} else if (argv[i][0] != '-' && !arch) {
			arch = argv[i];
		} else {
			rc = cli_die(EX_USAGE, AGAINST_USAGE);
			goto out;
		}
	}
	if (!arch || !target) {
		rc = cli_die(EX_USAGE, AGAINST_USAGE);
		goto out;
	}
	if (!cli_is_imap(target)) {
		rc = verify_local(arch, target, version, &k, &ci, map, nmap, json);
		goto out;
	}
	if ((rc = open_job(arch, target, version, &k, &ci, &v, &c, &ix, &po)))
		goto out;
	po.map = map;
	po.nmap = nmap;
	if (mv_compare_imap(v, &ix, &po, &rep, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	bad = mv_diff_report_differs(&rep);
	diff_report(&rep, c.number, target, json, 0, 0);
	rc = bad ? EX_CORRUPT : EX_OK;
	cli_state_save(v);
out:
	mv_diff_report_release(&rep);
	mv_index_release(&ix);
	mv_vault_free(v);
	cli_imap_release(&ci);
	cli_keys_release(&k);
	free(map);
	return rc;
}
