/*
 * err.h - the library's error contract.
 *
 * Every library function that can fail returns an enum mv_err and, when it
 * fails, fills a caller-supplied struct mv_error with a one-line message
 * that names what failed and where.  The numbers are stable: vectors name
 * errors by mv_err_name(), the CLI maps them to exit codes with
 * mv_err_class().  The library never prints and never exits.
 */
#ifndef MV_ERR_H
#define MV_ERR_H

#include <stdarg.h>
#include <stdint.h>

enum mv_err {
	MV_OK = 0,
	/* Usage and environment. */
	MV_E_USAGE = 1,        /* a caller passed arguments that make no sense */
	MV_E_IO = 2,           /* a system call failed (open, read, write, fsync) */
	MV_E_NOMEM = 3,        /* allocation failed */
	MV_E_EXISTS = 4,       /* refusing to overwrite something */
	MV_E_NOTFOUND = 5,     /* a named folder, message or version is absent */
	MV_E_INTERNAL = 6,     /* a library (zstd, libarchive...) failed oddly */
	/* Keys. */
	MV_E_KEY = 10,         /* no stanza opens with the key or passphrase given */
	MV_E_NEED_OWNER = 11,  /* the key can read but the operation needs to sign */
	/* Archive structure: every one of these is "corruption". */
	MV_E_MAGIC = 20,       /* not an mbox-vault archive */
	MV_E_VERSION = 21,     /* format version or feature flag not supported */
	MV_E_FRAME = 22,       /* record frame malformed (type, flags, length) */
	MV_E_RECORD_HASH = 23, /* a record's trailer does not match its bytes */
	MV_E_SEQUENCE = 24,    /* a record's sequence number is not its position */
	MV_E_LIMIT = 25,       /* a length or count exceeds a hard limit */
	MV_E_LENGTH = 26,      /* a declared length disagrees with the bytes */
	MV_E_HEADER_MAC = 27,  /* the header MAC does not verify */
	MV_E_STANZA = 28,      /* a key stanza is malformed */
	MV_E_KDF_LIMIT = 29,   /* Argon2 parameters over the cap */
	MV_E_LOW_ORDER = 30,   /* X25519 point of small order */
	MV_E_COMMITMENT = 31,  /* key commitment does not match */
	MV_E_DECRYPT = 32,     /* AEAD authentication failed */
	MV_E_CHUNK = 33,       /* chunks missing, duplicated, reordered or cut */
	MV_E_INDEX = 34,       /* index record malformed or inconsistent */
	MV_E_MERKLE = 35,      /* a Merkle root or frontier does not match */
	MV_E_SIGNATURE = 36,   /* a checkpoint signature does not verify */
	MV_E_SIGNER = 37,      /* signed by a key other than the one required */
	MV_E_CHAIN = 38,       /* versions are not a consistent append-only chain */
	MV_E_TORN = 39,        /* bytes after the last commit (recoverable) */
	MV_E_ROLLBACK = 40,    /* the archive is older than one seen before */
	MV_E_CONTENT = 41,     /* message bytes disagree with their content hash */
	MV_E_COMPRESS = 42,    /* compressed data malformed */
	MV_E_PROOF = 43,       /* a proof is malformed or does not check */
	MV_E_EMPTY = 44,       /* the archive has no committed version */
	/* Mailbox input. */
	MV_E_PARSE = 50,       /* a mailbox, proof file or key file is malformed */
	/* Network (IMAP issues). */
	MV_E_AUTH = 60,
	MV_E_TLS = 61,
	MV_E_NET = 62,
	MV_E_PARTIAL = 63,     /* the job finished but skipped something */
};

/* Where an archive error was found; -1 / 0 where unknown. */
struct mv_error {
	enum mv_err code;
	int64_t version;       /* version (commit number) hit, or -1 */
	int64_t record;        /* record sequence number hit, or -1 */
	int64_t offset;        /* byte offset in the file, or -1 */
	char msg[768];
};

/* Clears e to "no error, no location". */
void mv_error_clear(struct mv_error *e);

/*
 * Records code and a printf-style message in e (which may be NULL) and
 * returns code, so a caller writes `return mv_fail(e, MV_E_IO, "...")`.
 * A message already present is kept as context: the new text is prefixed.
 */
enum mv_err mv_fail(struct mv_error *e, enum mv_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Adds "context: " in front of the current message; returns e->code. */
enum mv_err mv_error_prefix(struct mv_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Stable lower-case name such as "header-mac"; "unknown" if unknown. */
const char *mv_err_name(enum mv_err code);

/* Parses a name back; returns -1 if unknown. */
int mv_err_from_name(const char *name);

/* Broad class used for exit codes. */
enum mv_err_class {
	MV_CLASS_OK = 0,
	MV_CLASS_USAGE,
	MV_CLASS_IO,
	MV_CLASS_KEY,
	MV_CLASS_CORRUPT,
	MV_CLASS_TORN,
	MV_CLASS_SIGNER,
	MV_CLASS_AUTH,
	MV_CLASS_TLS,
	MV_CLASS_NET,
	MV_CLASS_PARTIAL,
	MV_CLASS_INPUT,
	MV_CLASS_NOTFOUND,
};
enum mv_err_class mv_err_class(enum mv_err code);

/*
 * Events: the warnings and notices the library hands its caller (it never
 * prints them itself).  mv_eventv formats one (cut at 899 bytes) and
 * passes it to fn(ctx, kind, text); nothing happens when fn is NULL.
 */
typedef void (*mv_event_fn)(void *ctx, const char *kind, const char *text);
void mv_eventv(mv_event_fn fn, void *ctx, const char *kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#endif
