/*
 * maildir.h - reading Maildir and Maildir++ folders (Dovecot's layout).
 *
 * A Maildir root is INBOX; each subdirectory ".A.B" is folder "A.B" with
 * '.' as the hierarchy delimiter and names in modified UTF-7, exactly as
 * Dovecot stores them.  Messages are files in new/ and cur/; the info
 * suffix ":2,FLAGS" gives system flags (D F P R S T) and keyword letters
 * (a..z), which dovecot-keywords in the folder maps to keyword names.
 * INTERNALDATE is the file's modification time (as Dovecot uses it).
 */
#ifndef MV_MAILDIR_H
#define MV_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct mv_maildir_folder {
	char *name;    /* "INBOX" or the Maildir++ name without the leading '.' */
	char *path;    /* directory path */
};

/*
 * Lists INBOX (root itself) and every Maildir++ subfolder that has cur/ or
 * new/, sorted by name with INBOX first.  *out is a malloc'd array of *n
 * entries; free with mv_maildir_folders_free.  MV_E_IO / MV_E_NOTFOUND when
 * root is not a Maildir.  MV_E_PARSE if a subfolder would be named INBOX
 * (any case), which would collide with the root; MV_E_LIMIT if a path
 * would pass 4096 bytes.
 */
enum mv_err mv_maildir_list(const char *root, struct mv_maildir_folder **out,
			    size_t *n, struct mv_error *e);
void mv_maildir_folders_free(struct mv_maildir_folder *f, size_t n);

struct mv_maildir_msg {
	char *path;          /* full path of the file */
	char *base;          /* unique name: file name up to the info separator */
	uint32_t flags;      /* MV_FLAG_* from the info */
	char **keywords;     /* names resolved through dovecot-keywords (NULL if none) */
	size_t nkeywords;
	char *unknown_letters; /* keyword letters with no name in dovecot-keywords,
				* in a..z order, or NULL if there are none */
	int64_t mtime;       /* seconds since the epoch */
	uint64_t size;       /* file size from stat */
	int in_new;          /* 1 if the file is in new/ */
};

/*
 * Lists the messages of one folder (new/ and cur/, dot files and
 * directories skipped), sorted by base name.  Unreadable dovecot-keywords
 * lines are ignored.  Free with mv_maildir_msgs_free.  Only regular files
 * are messages; tmp/ is not read.  A base name found in both new/ and
 * cur/ (a message moved while we scanned) is listed once, from cur/.
 * MV_E_LIMIT past 10,000,000 messages.
 */
enum mv_err mv_maildir_scan(const struct mv_maildir_folder *f,
			    struct mv_maildir_msg **out, size_t *n,
			    struct mv_error *e);
void mv_maildir_msgs_free(struct mv_maildir_msg *m, size_t n);

/*
 * Splits a file name into base and info flags.  letters[] (size 27)
 * receives the keyword letters a..z found, NUL-terminated.  Returns 0, or
 * -1 if the name is not a plausible Maildir file name (empty, has '/',
 * starts with '.', starts with ':', longer than 255 bytes).  The base ends
 * at the first ':' (",S=" and ",W=" fields stay in it); flags are read
 * only after ":2,", unknown characters there are ignored, and letters come
 * out sorted and unique.  Pure function: the fuzz target drives it.
 */
int mv_maildir_parse_name(const char *name, size_t *base_len, uint32_t *flags,
			  char letters[27]);

/*
 * Parses a dovecot-keywords file body: lines "N name" with N in 0..25.
 * names[26] receives malloc'd strings (or NULL).  Ignores malformed lines.
 * All 26 entries are written (the caller frees each).  N is decimal
 * without leading zeros, one space follows, and the name must be an IMAP
 * atom of at most MV_MAX_KEYWORD_LEN bytes; the first line for an N wins.
 */
void mv_maildir_parse_keywords(const char *text, size_t n, char *names[26]);

/*
 * Reads dir/dovecot-keywords into names[26] as mv_maildir_parse_keywords
 * does; all 26 are NULL when there is no such file.  At most 64 KiB is
 * read, and a line cut there is dropped.  The caller frees each entry;
 * after a failure all are NULL.  MV_E_IO, MV_E_NOMEM, MV_E_LIMIT (path
 * over 4096 bytes).
 */
enum mv_err mv_maildir_read_keywords(const char *dir, char *names[26],
				     struct mv_error *e);

#endif
