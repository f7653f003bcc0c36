/* main.c - mbox-vault's command table and global options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cli.h"
#include "crypto.h"

static const struct cli_cmd commands[] = {
	{ "keygen", "keygen -o FILE [--unprotected]", cmd_keygen },
	{ "pull", "pull maildir:PATH|mbox:PATH|imaps://USER@HOST[:PORT]|imap://... ARCHIVE\n"
		  "          [--identity FILE] [--passphrase-file FILE] [--recipient PUBKEY]...\n"
		  "          [--mbox-format mboxrd|mboxo|mboxcl2] [--no-compress] [--checkpoint-mb N]\n"
		  "          [--cacert FILE] [--pin sha256//B64] [--user NAME] [--password-file FILE]\n"
		  "          [--oauth2-token-file FILE] [--folder PAT]... [--exclude PAT]...\n"
		  "          [--insecure-plaintext] [--batch N]", cmd_pull },
	{ "push", "push ARCHIVE imaps://USER@HOST[:PORT]|imap://...|maildir:PATH|mbox:PATH\n"
		  "          [--version N] [--dry-run]\n"
		  "          [--map 'Old/Name=New/Name']... [--folder PAT]... [--exclude PAT]...\n"
		  "          [--identity FILE] [--passphrase-file FILE] [--cacert FILE] [--pin sha256//B64]\n"
		  "          [--user NAME] [--password-file FILE] [--oauth2-token-file FILE] [--batch N]\n"
		  "          [--no-state]", cmd_push },
	{ "log", "log ARCHIVE", cmd_log },
	{ "ls", "ls ARCHIVE [--version N] [--json] [FOLDER]", cmd_ls },
	{ "cat", "cat ARCHIVE REF [--version N]", cmd_cat },
	{ "export", "export ARCHIVE --format maildir|mbox|tar|zip OUT [--version N]", cmd_export },
	{ "verify", "verify ARCHIVE [--signer FINGERPRINT] [--identity FILE | --passphrase-file FILE]\n"
		    "          verify ARCHIVE --against imaps://USER@HOST[:PORT]|maildir:PATH|mbox:PATH\n"
		    "                 [--json] [--version N] [--map 'Old/Name=New/Name']...\n"
		    "                 [--folder PAT]... [--exclude PAT]... [IMAP options]", cmd_verify },
	{ "prove", "prove ARCHIVE REF -o FILE [--version N]", cmd_prove },
	{ "check-proof", "check-proof FILE MESSAGE.eml --signer FINGERPRINT", cmd_check_proof },
	{ "grant", "grant ARCHIVE --recipient PUBKEY", cmd_grant },
};

static void usage(FILE *f)
{
	fputs("usage: mbox-vault [--log-json] [--quiet] COMMAND ...\n\ncommands:\n", f);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fputs("\nKeys and passphrases are never taken from the command line: see README.md.\n", f);
}

int main(int argc, char **argv)
{
	struct mv_error e;
	struct rlimit rl = { 0, 0 };
	int i = 1;

	/* No core dumps: they would hold keys and message content. */
	setrlimit(RLIMIT_CORE, &rl);
	/* Everything we create is private (0600 files, 0700 directories). */
	umask(077);
	mv_error_clear(&e);
	if (mv_crypto_init(&e) != MV_OK)
		return cli_error(&e);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--log-json") == 0)
			cli_log_json = 1;
		else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0)
			cli_quiet = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EX_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			puts("mbox-vault 0.1 (archive format 1)");
			return EX_OK;
		} else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			return commands[c].run(argc - i, argv + i);
	fprintf(stderr, "mbox-vault: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return EX_USAGE;
}
