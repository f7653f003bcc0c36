/*
 * cli.h - what the command files share: the command table entry, option
 * handling, credentials, rollback state, progress and exit codes.
 * Only the CLI prints and exits; the library returns errors.
 */
#ifndef MV_CLI_H
#define MV_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "header.h"
#include "identity.h"
#include "pull.h"
#include "transport.h"
#include "vault.h"

/* Exit codes (README "Exit codes"). */
enum {
	EX_OK = 0,
	EX_FAIL = 1,        /* I/O and other errors */
	EX_USAGE = 2,
	EX_KEY = 3,         /* wrong key or passphrase */
	EX_CORRUPT = 4,     /* archive damaged or forged */
	EX_TORN = 5,        /* torn tail: recoverable */
	EX_SIGNER = 6,      /* signed by another key */
	EX_AUTH = 7,        /* IMAP authentication */
	EX_TLS = 8,
	EX_NET = 9,
	EX_PARTIAL = 10,    /* finished, but something was skipped */
	EX_INPUT = 11,      /* malformed mailbox, proof or key file */
	EX_NOTFOUND = 12,
};

struct cli_cmd {
	const char *name;
	const char *usage;
	int (*run)(int argc, char **argv);
};

/* Global flags set by main. */
extern int cli_log_json;
extern int cli_quiet;

/* Prints "mbox-vault: <msg>" (or a JSON line) and returns the exit code
 * for e. */
int cli_error(const struct mv_error *e);
/* printf-style usage/other error; returns code. */
int cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_exit_code(enum mv_err code);
/* Writes s as a JSON string (quotes and escapes). */
void cli_json_str(FILE *f, const char *s);

/* Key material from the command line and environment. */
struct cli_keys {
	const char *identity_path;
	const char *passphrase_file;
	struct mv_identity *id;
	char *pass;              /* secure memory */
	size_t passlen;
	struct mv_creds creds;
};
/* Parses --identity FILE / --passphrase-file FILE at argv[*i]; returns 1 if
 * consumed (and advances *i), 0 if not a key option, -1 on error. */
int cli_key_option(struct cli_keys *k, int argc, char **argv, int *i);
/* Loads the identity and/or passphrase.  need: 0 = only what was named
 * (the environment's MBOX_VAULT_PASSPHRASE counts as named), 1 = prompt
 * for a passphrase if nothing was named. confirm: ask twice (creation). */
int cli_keys_load(struct cli_keys *k, int need, int confirm, struct mv_error *e);
int cli_keys_present(const struct cli_keys *k);
void cli_keys_release(struct cli_keys *k);

/* The first line of a file, or an environment variable's value, in
 * secure memory (mv_secure_free); NULL if absent or unreadable. */
char *cli_secret_file(const char *path, size_t *len, struct mv_error *e);
char *cli_secret_env(const char *name, size_t *len);

/* IMAP connection options shared by pull and push (cli_imap.c). */
struct cli_imap {
	const char *user, *password_file, *token_file, *cacert, *pin;
	int insecure_plaintext;
	char *secret;                /* secure memory */
	const char **include, **exclude;
	size_t ninclude, nexclude;
};
/* Parses an IMAP option at argv[*i] as cli_key_option does. */
int cli_imap_option(struct cli_imap *ci, int argc, char **argv, int *i);
/* 1 for imap:// and imaps:// targets. */
int cli_is_imap(const char *s);
/* Fills o from the URL and options, reading the password (file,
 * MBOX_VAULT_IMAP_PASSWORD, no-echo prompt) or token; an exit code. */
int cli_imap_load(struct cli_imap *ci, const char *url, struct mv_conn_opts *o);
void cli_imap_release(struct cli_imap *ci);
/* Key and IMAP options at argv[*i]: 1 consumed, 0 not one of them, or
 * minus the exit code of an error already reported. */
int cli_conn_option(struct cli_keys *k, struct cli_imap *ci, int argc, char **argv, int *i);
/* Reports an IMAP event (reconnect, throttled, skipped, warning...) on
 * stderr, or as a JSON line with --log-json. */
void cli_imap_event(void *ctx, const char *kind, const char *text);

/* Reads a secret from the TTY without echo; NULL if there is no TTY. */
char *cli_prompt_secret(const char *prompt, size_t *len);

/* Rollback protection (format-spec 12): compare with / save the state. */
enum mv_err cli_state_check(struct mv_vault *v, struct mv_error *e);
void cli_state_save(struct mv_vault *v);
/* The version up to whose commit this machine found the archive's
 * records intact (0: none), once cli_state_check has passed; and the
 * version to remember so at the next cli_state_save. */
uint32_t cli_state_proven(const struct mv_vault *v);
void cli_state_set_proven(uint32_t n);
/* The path of a per-archive state file "<state dir>/<archive ID>.<suffix>"
 * (the directory made 0700); -1 without a state directory. */
int cli_state_file(const struct mv_vault *v, const char *suffix, char *out, size_t cap);
/* 1 if a state file exists for v's archive ID (a version was seen). */
int cli_state_known(const struct mv_vault *v);

/* Progress display for pulls (TTY line, or JSON lines with --log-json). */
void cli_progress(void *ctx, const struct mv_progress *p);
void cli_progress_done(void);

/* Opens an archive for reading with optional keys, checks state.  Returns
 * an exit code (0 on success). */
int cli_open(const char *path, struct cli_keys *k, int need_key, struct mv_vault **out);

/* Picks a commit: number 0 = newest complete version. */
int cli_pick_commit(struct mv_vault *v, uint32_t number, struct mv_commit_info *out);

/* UTF-8 display name of a folder ('/' between levels); malloc'd. */
char *cli_folder_display(const struct mv_folder *f);

/* Finds FOLDER/UID or #ID in ix; 0 or an exit code. */
int cli_resolve_ref(struct mv_vault *v, struct mv_index *ix, const char *ref,
		    size_t *fno, size_t *eno);

/* Parses a non-negative integer option value; -1 if malformed. */
long long cli_number(const char *s);

int cmd_keygen(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_prove(int argc, char **argv);
int cmd_check_proof(int argc, char **argv);
int cmd_grant(int argc, char **argv);
int cmd_push(int argc, char **argv);
/* verify ARCHIVE --against TARGET (cmd_push.c). */
int cmd_verify_against(int argc, char **argv);

#endif
