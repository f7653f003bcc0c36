/*
 * msgmeta.h - what mbox-vault knows about a message besides its bytes,
 * shared by the mailbox readers (sources) and writers (sinks).
 */
#ifndef MV_MSGMETA_H
#define MV_MSGMETA_H

#include <stddef.h>
#include <stdint.h>

/* IMAP system flags (RFC 9051 2.3.2).  \Recent is never stored. */
#define MV_FLAG_SEEN     0x01u
#define MV_FLAG_ANSWERED 0x02u
#define MV_FLAG_FLAGGED  0x04u
#define MV_FLAG_DELETED  0x08u
#define MV_FLAG_DRAFT    0x10u
/* Maildir's 'P' (passed/forwarded) has no IMAP system flag; kept here so a
 * Maildir round trip is exact. */
#define MV_FLAG_PASSED   0x20u
#define MV_FLAG_ALL      0x3fu

/* Hard limits shared by readers and the index (format-spec 9). */
#define MV_MAX_KEYWORDS 256
#define MV_MAX_KEYWORD_LEN 255
#define MV_MAX_FOLDER_NAME 1024

struct mv_msgmeta {
	/* Folder: name bytes exactly as the source gives them (modified UTF-7
	 * for IMAP and Maildir++), "INBOX" for the top level, and the
	 * hierarchy delimiter ('\0' when the source has no hierarchy). */
	const char *folder;
	char delim;
	uint32_t flags;                 /* MV_FLAG_* */
	size_t nkeywords;
	const char *const *keywords;    /* each 1..MV_MAX_KEYWORD_LEN bytes */
	int64_t internaldate;           /* seconds since the epoch, UTC */
	int tzoff_min;                  /* zone of the INTERNALDATE, minutes */
	uint64_t size;                  /* exact byte count of the message */
	const char *mbox_from;          /* mbox From_ line without "From " and EOL, or NULL */
	const char *maildir_name;       /* Maildir unique base name (no info), or NULL */
};

#endif
