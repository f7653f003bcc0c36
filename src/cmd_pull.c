/* cmd_pull.c - keygen, pull and grant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "imap_pull.h"

int cmd_keygen(int argc, char **argv)
{
	const char *out = NULL;
	int unprotected = 0, rc;
	struct mv_identity *id = NULL;
	struct mv_error e;
	char *pass = NULL;
	size_t passlen = 0;
	char rs[MV_RECIPIENT_STRLEN + 1], fp[65];

	mv_error_clear(&e);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--unprotected") == 0)
			unprotected = 1;
		else
			return cli_die(EX_USAGE, "usage: mbox-vault keygen -o FILE [--unprotected]");
	}
	if (!out)
		return cli_die(EX_USAGE, "keygen needs -o FILE");
	if (access(out, F_OK) == 0)
		return cli_die(EX_USAGE, "'%s' already exists", out);
	if (!unprotected) {
		const char *env = getenv("MBOX_VAULT_IDENTITY_PASSPHRASE");

		if (env && *env) {
			passlen = strlen(env);
			pass = mv_secure_alloc(passlen + 1);
			if (pass)
				memcpy(pass, env, passlen + 1);
		} else {
			pass = cli_prompt_secret("passphrase for the new identity: ", &passlen);
		}
		if (!pass || !passlen) {
			mv_secure_free(pass);
			return cli_die(EX_KEY, "no passphrase: set MBOX_VAULT_IDENTITY_PASSPHRASE, run on a terminal, or use --unprotected");
		}
	}
	if (mv_identity_generate(&id, &e) ||
	    mv_identity_write(id, out, pass, passlen, MV_ARGON_OPS_DEFAULT,
			      MV_ARGON_MEM_KIB_DEFAULT, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	mv_recipient_string(rs, id->x_pk);
	mv_signer_fingerprint(fp, id->ed_pk);
	printf("identity: %s%s\nrecipient: %s\nsigner: %s\n", out,
	       unprotected ? " (unprotected)" : "", rs, fp);
	rc = EX_OK;
out:
	mv_identity_free(id);
	mv_secure_free(pass);
	return rc;
}


/* The per-folder account of an IMAP pull; EX_PARTIAL if anything was
 * skipped. */
static int imap_report(const struct mv_imap_report *r, int pinned)
{
	const struct mv_tls_info *t = &r->tls;

	if (!cli_quiet && !cli_log_json) {
		if (t->tls)
			printf("connection: %s %s, certificate %s%s, key pin %s\n", t->version,
			       t->cipher, t->verified ? "verified" : "not CA-verified",
			       pinned ? " (pinned)" : "", t->pin);
		else
			printf("connection: PLAINTEXT (--insecure-plaintext)\n");
		printf("bodies fetched as BODY.PEEK[]%s",
		       r->binary ? " (BINARY.PEEK[] restores NUL bytes)" : "");
		if (r->nul_restored)
			printf("; NUL bytes restored in %llu messages",
			       (unsigned long long)r->nul_restored);
		putchar('\n');
		for (size_t i = 0; i < r->nf; i++) {
			const struct mv_imap_folder_report *f = &r->f[i];

			printf("  %s: %llu messages (%llu bytes), fetched %llu (%llu bytes)",
			       f->name, (unsigned long long)f->messages,
			       (unsigned long long)f->bytes, (unsigned long long)f->fetched,
			       (unsigned long long)f->fetched_bytes);
			if (f->gone)
				printf(", %llu gone since the last version",
				       (unsigned long long)f->gone);
			if (f->skipped)
				printf(", SKIPPED %llu: %s", (unsigned long long)f->skipped,
				       f->why ? f->why : "");
			putchar('\n');
		}
		if (r->reconnects || r->throttled || r->size_mismatches)
			printf("reconnects %llu, throttled %llu times, %llu size mismatches\n",
			       (unsigned long long)r->reconnects,
			       (unsigned long long)r->throttled,
			       (unsigned long long)r->size_mismatches);
	}
	if (cli_log_json)
		for (size_t i = 0; i < r->nf; i++) {
			fprintf(stderr, "{\"event\":\"folder\",\"name\":");
			cli_json_str(stderr, r->f[i].name);
			fprintf(stderr, ",\"messages\":%llu,\"bytes\":%llu,\"fetched\":%llu,"
				"\"fetched_bytes\":%llu,\"gone\":%llu,\"skipped\":%llu}\n",
				(unsigned long long)r->f[i].messages,
				(unsigned long long)r->f[i].bytes,
				(unsigned long long)r->f[i].fetched,
				(unsigned long long)r->f[i].fetched_bytes,
				(unsigned long long)r->f[i].gone,
				(unsigned long long)r->f[i].skipped);
		}
	if (r->skipped) {
		if (!cli_quiet)
			fprintf(stderr, "mbox-vault: %llu messages were skipped (see above); "
				"the version is committed without them\n",
				(unsigned long long)r->skipped);
		return EX_PARTIAL;
	}
	return EX_OK;
}

int cmd_pull(int argc, char **argv)
{
	struct cli_keys k;
	struct mv_pull_opts o;
	struct mv_pull_stats st;
	struct mv_create_opts co;
	struct mv_vault *v = NULL;
	struct mv_writer *w = NULL;
	struct mv_error e;
	const char *src = NULL, *arch = NULL;
	uint8_t (*rcpt)[MV_X25519_LEN] = NULL;
	size_t nrcpt = 0;
	int rc = EX_OK, creating = 0, damaged = 0;
	struct cli_imap ci;
	struct mv_imap_pull_opts io;
	struct mv_imap_report rep;

	memset(&k, 0, sizeof k);
	memset(&o, 0, sizeof o);
	memset(&co, 0, sizeof co);
	memset(&ci, 0, sizeof ci);
	memset(&io, 0, sizeof io);
	memset(&rep, 0, sizeof rep);
	mv_error_clear(&e);
	o.compress = 1;
	o.pad = 1;
	o.mbox_format = MV_MBOXRD;
	rcpt = calloc((size_t)argc, sizeof *rcpt);
	if (!rcpt)
		return cli_die(EX_FAIL, "out of memory");
	for (int i = 1; i < argc; i++) {
		int r = cli_conn_option(&k, &ci, argc, argv, &i);

		if (r < 0) {
			rc = -r;
			goto out;
		}
		if (r)
			continue;
		if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n <= 0 || n > 100000) {
				rc = cli_die(EX_USAGE, "--batch takes 1..100000");
				goto out;
			}
			io.batch = (unsigned)n;
		} else if (strcmp(argv[i], "--recipient") == 0 && i + 1 < argc) {
			if (mv_recipient_parse(argv[++i], rcpt[nrcpt]) != 0) {
				rc = cli_die(EX_USAGE, "'%s' is not a recipient (mvr1...)", argv[i]);
				goto out;
			}
			nrcpt++;
		} else if (strcmp(argv[i], "--mbox-format") == 0 && i + 1 < argc) {
			if (mv_mbox_format_parse(argv[++i], &o.mbox_format) != 0) {
				rc = cli_die(EX_USAGE, "unknown mbox format '%s'", argv[i]);
				goto out;
			}
		} else if (strcmp(argv[i], "--no-compress") == 0) {
			o.compress = 0;
		} else if (strcmp(argv[i], "--no-pad") == 0) {
			o.pad = 0;
		} else if (strcmp(argv[i], "--checkpoint-mb") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n <= 0) {
				rc = cli_die(EX_USAGE, "--checkpoint-mb takes a positive number");
				goto out;
			}
			o.checkpoint_bytes = (uint64_t)n << 20;
		} else if (strcmp(argv[i], "--chunk-size-log") == 0 && i + 1 < argc) {
			long long n = cli_number(argv[++i]);

			if (n < MV_CHUNK_LOG_MIN || n > MV_CHUNK_LOG_MAX) {
				rc = cli_die(EX_USAGE, "--chunk-size-log takes %d..%d", MV_CHUNK_LOG_MIN,
					     MV_CHUNK_LOG_MAX);
				goto out;
			}
			co.chunk_log = (unsigned)n;
		} else if (argv[i][0] == '-') {
			rc = cli_die(EX_USAGE, "unknown option '%.*s'", (int)strcspn(argv[i], "="), argv[i]);
			goto out;
		} else if (!src) {
			src = argv[i];
		} else if (!arch) {
			arch = argv[i];
		} else {
			rc = cli_die(EX_USAGE, "usage: mbox-vault pull SOURCE ARCHIVE");
			goto out;
		}
	}
	if (!src || !arch) {
		rc = cli_die(EX_USAGE, "usage: mbox-vault pull SOURCE ARCHIVE");
		goto out;
	}
	if (strncmp(src, "maildir:", 8) != 0 && strncmp(src, "mbox:", 5) != 0 &&
	    !cli_is_imap(src)) {
		rc = cli_die(EX_USAGE, "unknown source '%s' (maildir:PATH, mbox:PATH, "
			     "imaps://USER@HOST[:PORT] or imap://...)", src);
		goto out;
	}
	if (cli_is_imap(src)) {
		if ((rc = cli_imap_load(&ci, src, &io.conn)) != EX_OK)
			goto out;
		io.include = ci.include;
		io.ninclude = ci.ninclude;
		io.exclude = ci.exclude;
		io.nexclude = ci.nexclude;
		io.event = cli_imap_event;
	}
	o.source = src;
	o.progress = cli_progress;
	if (access(arch, F_OK) == 0) {
		if (mv_vault_open(&v, arch, 1, &e)) {
			if (e.code != MV_E_TORN || e.record != 0) {
				rc = cli_error(&e);
				goto out;
			}
			/* Creation was killed before the header was whole. */
			if (!cli_quiet)
				fprintf(stderr, "mbox-vault: %s; starting it over\n", e.msg);
			mv_error_clear(&e);
			creating = 1;
			co.replace_uncommitted = 1;
		} else if (!v->has_commit) {
			/* A creation that never committed: start it over --
			 * unless a version of this archive was seen here, in
			 * which case its commits were damaged and starting
			 * over would throw away mail. */
			if (cli_state_known(v)) {
				rc = cli_die(EX_CORRUPT, "'%s' has no intact version, but versions "
					     "of it were seen here before: refusing to start it "
					     "over (run verify; move the file aside to start anew)",
					     arch);
				goto out;
			}
			if (!cli_quiet)
				fprintf(stderr, "mbox-vault: '%s' holds no committed version; "
					"starting it over\n", arch);
			mv_vault_free(v);
			v = NULL;
			creating = 1;
			co.replace_uncommitted = 1;
		}
	} else {
		creating = 1;
	}
	if (cli_keys_load(&k, 1, creating, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	if (creating) {
		co.recipients = (const uint8_t (*)[MV_X25519_LEN])rcpt;
		co.nrecipients = nrcpt;
		co.now = mv_now();
		if (mv_vault_create(&v, arch, &co, &k.creds, &e)) {
			rc = cli_error(&e);
			goto out;
		}
	} else {
		if (nrcpt) {
			rc = cli_die(EX_USAGE, "--recipient applies when an archive is created; use 'grant' to add a reader");
			goto out;
		}
		/* Only the records added since this machine last found them
		 * intact are read again (a no-op pull of a 20,000-message
		 * archive read 5,000 windows for nothing); verify reads all. */
		if (cli_state_check(v, &e) ||
		    mv_vault_check_records_since(v, cli_state_proven(v), &damaged, &e) ||
		    mv_vault_unlock(v, &k.creds, &e)) {
			rc = cli_error(&e);
			goto out;
		}
		if (damaged) {
			/* A new version would sign over the damage. */
			rc = cli_die(EX_CORRUPT, "'%s' is damaged or altered (its records do not "
				     "match its signed versions): refusing to add a version; "
				     "run verify", arch);
			goto out;
		}
		if (v->torn && !cli_quiet)
			fprintf(stderr, "mbox-vault: cutting a torn tail of %llu bytes after version %u\n",
				(unsigned long long)v->torn, v->last.number);
	}
	if (mv_writer_begin(v, &w, &e) ||
	    (cli_is_imap(src) ? mv_pull_imap(v, w, &o, &io, &st, &rep, &e)
			      : mv_pull_local(v, w, &o, &st, &e))) {
		rc = cli_error(&e);
		/* An archive this run created and never committed to holds
		 * nothing: do not leave it behind (e.g. the server refused
		 * the login). */
		if (creating && v && !v->has_commit)
			unlink(arch);
		goto out;
	}
	/* Checked at the start, and everything since written here. */
	cli_state_set_proven(v->last.number);
	cli_state_save(v);
	cli_progress_done();
	if (cli_log_json)
		fprintf(stderr, "{\"event\":\"done\",\"version\":%u,\"folders\":%llu,\"messages\":%llu,\"bytes\":%llu,\"stored_messages\":%llu,\"stored_bytes\":%llu,\"deduplicated\":%llu,\"checkpoints\":%llu}\n",
			st.commit, (unsigned long long)st.folders, (unsigned long long)st.messages,
			(unsigned long long)st.bytes, (unsigned long long)st.stored_messages,
			(unsigned long long)st.stored_bytes, (unsigned long long)st.deduplicated,
			(unsigned long long)st.checkpoints);
	if (!cli_quiet)
		printf("version %u: %llu folders, %llu messages (%llu bytes); stored %llu new (%llu bytes), %llu already in the archive\n",
		       st.commit, (unsigned long long)st.folders, (unsigned long long)st.messages,
		       (unsigned long long)st.bytes, (unsigned long long)st.stored_messages,
		       (unsigned long long)st.stored_bytes, (unsigned long long)st.deduplicated);
	if (cli_is_imap(src))
		rc = imap_report(&rep, ci.pin != NULL);
out:
	mv_imap_report_release(&rep);
	cli_imap_release(&ci);
	mv_writer_free(w);
	mv_vault_free(v);
	cli_keys_release(&k);
	free(rcpt);
	return rc;
}

int cmd_grant(int argc, char **argv)
{
	struct cli_keys k;
	struct mv_vault *v = NULL;
	struct mv_writer *w = NULL;
	struct mv_error e;
	const char *arch = NULL;
	uint8_t pk[MV_X25519_LEN];
	int have = 0, rc = EX_OK, damaged = 0;

	memset(&k, 0, sizeof k);
	mv_error_clear(&e);
	for (int i = 1; i < argc; i++) {
		int r = cli_key_option(&k, argc, argv, &i);

		if (r < 0)
			return cli_die(EX_USAGE, "%s needs a value", argv[i]);
		if (r)
			continue;
		if (strcmp(argv[i], "--recipient") == 0 && i + 1 < argc) {
			if (mv_recipient_parse(argv[++i], pk) != 0)
				return cli_die(EX_USAGE, "'%s' is not a recipient (mvr1...)", argv[i]);
			have = 1;
		} else if (argv[i][0] != '-' && !arch) {
			arch = argv[i];
		} else {
			return cli_die(EX_USAGE, "usage: mbox-vault grant ARCHIVE --recipient PUBKEY");
		}
	}
	if (!arch || !have)
		return cli_die(EX_USAGE, "usage: mbox-vault grant ARCHIVE --recipient PUBKEY");
	if (mv_vault_open(&v, arch, 1, &e) || cli_state_check(v, &e) ||
	    mv_vault_check_records(v, &damaged, &e) ||
	    (damaged && mv_fail(&e, MV_E_MERKLE, "'%s' is damaged or altered: refusing to "
				"add a reader; run verify", arch)) ||
	    cli_keys_load(&k, 1, 0, &e) || mv_vault_unlock(v, &k.creds, &e) ||
	    mv_writer_begin(v, &w, &e) || mv_writer_grant(w, pk, &e)) {
		rc = cli_error(&e);
		goto out;
	}
	cli_state_save(v);
	if (!cli_quiet)
		printf("version %u: granted read access to %s\n", v->last.number, argv[0] ? "the recipient" : "");
out:
	mv_writer_free(w);
	mv_vault_free(v);
	cli_keys_release(&k);
	return rc;
}
