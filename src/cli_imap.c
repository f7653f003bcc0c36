/* cli_imap.c - IMAP options and credentials for pull and push. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"

int cli_is_imap(const char *s)
{
	return strncmp(s, "imaps://", 8) == 0 || strncmp(s, "imap://", 7) == 0;
}

static int add_pattern(const char ***list, size_t *n, const char *p)
{
	const char **nl = realloc(*list, (*n + 1) * sizeof *nl);

	if (!nl)
		return -1;
	nl[(*n)++] = p;
	*list = nl;
	return 0;
}

int cli_imap_option(struct cli_imap *ci, int argc, char **argv, int *i)
{
	static const char *const valued[] = {
		"--user", "--password-file", "--oauth2-token-file", "--cacert", "--pin",
		"--folder", "--exclude",
	};
	const char *a = argv[*i], *v;
	size_t k;

	if (strcmp(a, "--insecure-plaintext") == 0) {
		ci->insecure_plaintext = 1;
		return 1;
	}
	if (strcmp(a, "--password") == 0)
		return -2;
	for (k = 0; k < sizeof valued / sizeof valued[0]; k++)
		if (strcmp(a, valued[k]) == 0)
			break;
	if (k == sizeof valued / sizeof valued[0])
		return 0;
	if (*i + 1 >= argc)
		return -1;
	v = argv[++*i];
	switch (k) {
	case 0: ci->user = v; break;
	case 1: ci->password_file = v; break;
	case 2: ci->token_file = v; break;
	case 3: ci->cacert = v; break;
	case 4: ci->pin = v; break;
	case 5: return add_pattern(&ci->include, &ci->ninclude, v) ? -1 : 1;
	default: return add_pattern(&ci->exclude, &ci->nexclude, v) ? -1 : 1;
	}
	return 1;
}

int cli_imap_load(struct cli_imap *ci, const char *url, struct mv_conn_opts *o)
{
	struct mv_error e;
	size_t len = 0;

	mv_error_clear(&e);
	memset(o, 0, sizeof *o);
	if (mv_url_parse(url, &o->url, &e))
		return cli_error(&e);
	o->user = ci->user;
	o->cacert = ci->cacert;
	o->pin = ci->pin;
	o->insecure_plaintext = ci->insecure_plaintext;
	if (!o->url.implicit_tls && ci->insecure_plaintext && !cli_quiet)
		fprintf(stderr, "mbox-vault: WARNING: --insecure-plaintext: if the server "
			"offers no STARTTLS, the password and all mail cross the network "
			"in clear text\n");
	if (!ci->user && !o->url.user[0])
		return cli_die(EX_USAGE, "no IMAP user: give imaps://USER@HOST or --user USER");
	if (ci->token_file) {
		if (ci->password_file)
			return cli_die(EX_USAGE, "give --password-file or --oauth2-token-file, not both");
		ci->secret = cli_secret_file(ci->token_file, &len, &e);
		if (!ci->secret)
			return cli_error(&e);
		o->oauth2_token = ci->secret;
	} else {
		if (ci->password_file)
			ci->secret = cli_secret_file(ci->password_file, &len, &e);
		else if (!(ci->secret = cli_secret_env("MBOX_VAULT_IMAP_PASSWORD", &len)))
			ci->secret = cli_prompt_secret("IMAP password: ", &len);
		if (!ci->secret)
			return e.code ? cli_error(&e)
				      : cli_die(EX_AUTH, "no IMAP password: use --password-file, "
						"MBOX_VAULT_IMAP_PASSWORD or a terminal");
		o->password = ci->secret;
	}
	if (!len)
		return cli_die(EX_AUTH, "the IMAP password or token is empty");
	return EX_OK;
}

void cli_imap_release(struct cli_imap *ci)
{
	mv_secure_free(ci->secret);
	ci->secret = NULL;
	free(ci->include);
	free(ci->exclude);
	ci->include = ci->exclude = NULL;
}

int cli_conn_option(struct cli_keys *k, struct cli_imap *ci, int argc, char **argv, int *i)
{
	int r = cli_key_option(k, argc, argv, i);

	if (r == 0)
		r = cli_imap_option(ci, argc, argv, i);
	if (r == -2)
		return -cli_die(EX_USAGE, "passwords are not taken on the command line: "
				"use --password-file, MBOX_VAULT_IMAP_PASSWORD or the prompt");
	if (r < 0)
		return -cli_die(EX_USAGE, "%s needs a value", argv[*i]);
	return r;
}

void cli_imap_event(void *ctx, const char *kind, const char *text)
{
	(void)ctx;
	cli_progress_done();
	if (cli_log_json) {
		fprintf(stderr, "{\"event\":\"%s\",\"message\":", kind);
		cli_json_str(stderr, text);
		fputs("}\n", stderr);
	} else if (!cli_quiet) {
		fprintf(stderr, "mbox-vault: %s: %s\n", kind, text);
	}
}
