/*
 * imap_parse.h - a streaming reader of IMAP server responses (RFC 3501,
 * RFC 9051, literal8 from RFC 3516, MODSEQ and VANISHED from RFC 7162).
 *
 * The parser pulls bytes through a read callback, so the same code runs
 * over a TLS connection, a test buffer or a fuzz input.  It never holds a
 * message body: a literal that is the value of a FETCH body item
 * (BODY[...], BINARY[...], RFC822, RFC822.HEADER, RFC822.TEXT) goes to a
 * caller-supplied sink in pieces of at most MV_IMAP_PIECE bytes.
 * Everything else (atoms, quoted strings, literals elsewhere) is returned
 * whole, and is small by the limits below.
 *
 * Ownership: a struct mv_imap_resp and every string it points to belong to
 * the parser and stay valid until the next mv_imap_next_response() or
 * mv_imap_free().  Strings are NUL-terminated; those that may come from a
 * literal also have a length.  No string holds a NUL byte except `rest`
 * (a NUL in a literal that becomes any other string is MV_E_PARSE).
 *
 * Leniency: spaces before a CRLF, around list items and between FETCH
 * items, a status response without text, "+" without text, and bytes
 * 0x80-0xff in atoms, quoted strings and text (servers send UTF-8 there)
 * are accepted.  A bare LF, a CR without LF, a NUL outside literals, an
 * escape other than \" and \\, and a non-synchronising literal {n+}
 * (client-side only) are MV_E_PARSE.
 *
 * Errors (in e, which the caller clears; the message says what and where,
 * "where" counting bytes from 0 at the response's first byte, as in
 * "imap response, byte 36: connection closed mid-literal", and e->offset
 * holds the position in the whole stream):
 *   MV_E_NET    the connection closed ("mid-literal" when inside one), or
 *               the read callback failed with MV_E_NET;
 *   MV_E_PARSE  bytes that are not an IMAP response;
 *   MV_E_LIMIT  a length, count, depth or number over a bound below;
 *   MV_E_NOMEM  allocation failed;
 *   MV_E_INTERNAL  the read callback claimed more bytes than cap;
 *   any error the read callback or the body sink returns (its message
 *   kept, with where added in front).
 * After any error the stream is out of step: every later call returns the
 * same code without reading, and the caller drops the connection.
 */
#ifndef MV_IMAP_PARSE_H
#define MV_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* ---- Limits ---------------------------------------------------------- */

/* A line outside literals, CRLF included (the count restarts after each
 * literal). */
#define MV_IMAP_MAX_LINE (1u << 20)
/* A quoted string or a literal that is not streamed to the body sink,
 * kept or not (literals inside skipped FETCH items and in `rest` too). */
#define MV_IMAP_MAX_STRING (64u << 10)
/* Bytes kept for one response (strings, codes, text, `rest`). */
#define MV_IMAP_MAX_RESPONSE (2u << 20)
/* Nesting of parenthesised lists; FETCH's own list is the first level.
 * The bytes of an OTHER response are kept, not parsed, so not counted. */
#define MV_IMAP_MAX_DEPTH 64
/* Flags, list attributes and capabilities in one response, and the length
 * of each (the index's keyword limits, msgmeta.h).  FETCH's \Recent is
 * not kept, so not counted.  Response names and codes, and STATUS
 * attribute names, are atoms bounded by MV_IMAP_MAX_ATOM_LEN too. */
#define MV_IMAP_MAX_ATOMS 256
#define MV_IMAP_MAX_ATOM_LEN 255
/* A tag, and a FETCH item name with its section ("BODY[HEADER.FIELDS
 * (FROM)]<0>"). */
#define MV_IMAP_MAX_TAG 64
#define MV_IMAP_MAX_ITEM 1024
/* Body bytes handed to the sink in one call. */
#define MV_IMAP_PIECE (64u << 10)
/* Numbers: UIDs, sequence numbers and UIDVALIDITY are 1..2^32-1,
 * counts 0..2^32-1, MODSEQ and sizes 0..2^63-1.  A value past its range
 * is MV_E_LIMIT; a zero where IMAP says nz-number is MV_E_PARSE.
 * Literal sizes and <origin> are sizes; HIGHESTMODSEQ (code and STATUS)
 * may be 0; STATUS UIDNEXT and UIDVALIDITY are nz-numbers. */

/* ---- Input and body output ------------------------------------------ */

/*
 * Reads up to cap bytes into buf and sets *got; *got == 0 with MV_OK means
 * the connection closed.  May block.  On failure fills e and returns its
 * code, which the parser passes on.
 */
typedef enum mv_err (*mv_imap_read_fn)(void *ctx, uint8_t *buf, size_t cap,
				       size_t *got, struct mv_error *e);

/* What a body sink is told when a body item starts. */
struct mv_imap_body {
	uint32_t seq;         /* message sequence number of the FETCH */
	uint32_t uid;         /* UID if it came earlier in this FETCH, else 0 */
	const char *item;     /* "BODY[]", "BINARY[]", "BODY[HEADER]<0>", ...:
			       * upper-cased up to '[', section as sent */
	uint64_t size;        /* exact byte count that will follow */
	int literal8;         /* sent as ~{n} (RFC 3516): may hold NUL; a plain
			       * literal is passed on as sent, unchecked */
};

/*
 * Receives body items: begin once, data zero or more times (pieces of
 * 1..MV_IMAP_PIECE bytes, only valid during the call, adding up to
 * b->size), then end.  A quoted body is delivered the same way; a NIL body
 * calls nothing (see mv_imap_fetch.body_nil).  If the connection closes or
 * a callback fails between begin and end, end is not called and
 * mv_imap_next_response() returns the error: the caller discards what it
 * got.  b and its strings are valid until end returns.  Any callback may
 * be NULL; a NULL sink discards bodies.  A quoted body counts against
 * max_body like a literal.
 */
struct mv_imap_body_sink {
	enum mv_err (*begin)(void *ctx, const struct mv_imap_body *b,
			     struct mv_error *e);
	enum mv_err (*data)(void *ctx, const uint8_t *p, size_t n,
			    struct mv_error *e);
	enum mv_err (*end)(void *ctx, struct mv_error *e);
	void *ctx;
};

/* ---- Responses ------------------------------------------------------- */

enum mv_imap_kind {
	MV_IMAP_TAGGED = 1,     /* tag SP (OK / NO / BAD) SP resp-text */
	MV_IMAP_UNTAGGED = 2,   /* "* ..." */
	MV_IMAP_CONTINUE = 3,   /* "+ ...": text in resp.text */
};

enum mv_imap_type {
	MV_IMAP_NONE = 0,       /* continuation requests */
	MV_IMAP_OTHER,          /* untagged, not interpreted: name and rest */
	/* Status responses; tagged ones are only OK, NO or BAD. */
	MV_IMAP_OK,
	MV_IMAP_NO,
	MV_IMAP_BAD,
	MV_IMAP_PREAUTH,
	MV_IMAP_BYE,
	/* Untagged data. */
	MV_IMAP_CAPABILITY,     /* atoms: capability names */
	MV_IMAP_ENABLED,        /* atoms: extension names */
	MV_IMAP_FLAGS,          /* atoms: flags, "\Seen", "$Label1" */
	MV_IMAP_LIST,           /* atoms: attributes; delim; mailbox */
	MV_IMAP_LSUB,           /* same as LIST */
	MV_IMAP_STATUS,         /* mailbox; status */
	MV_IMAP_EXISTS,         /* num */
	MV_IMAP_RECENT,         /* num */
	MV_IMAP_EXPUNGE,        /* num (a sequence number, not a UID) */
	MV_IMAP_FETCH,          /* num (sequence number); fetch */
	MV_IMAP_VANISHED,       /* earlier; set */
};

/* STATUS attributes present (mv_imap_status.have). */
#define MV_IMAP_ST_MESSAGES      0x01u
#define MV_IMAP_ST_RECENT        0x02u
#define MV_IMAP_ST_UIDNEXT       0x04u
#define MV_IMAP_ST_UIDVALIDITY   0x08u
#define MV_IMAP_ST_UNSEEN        0x10u
#define MV_IMAP_ST_DELETED       0x20u
#define MV_IMAP_ST_SIZE          0x40u
#define MV_IMAP_ST_HIGHESTMODSEQ 0x80u

struct mv_imap_status {
	unsigned have;          /* MV_IMAP_ST_*; unknown attributes skipped */
	uint32_t messages, recent, uidnext, uidvalidity, unseen, deleted;
	uint64_t size, highestmodseq;
};

/* FETCH items present (mv_imap_fetch.have); others are skipped. */
#define MV_IMAP_F_UID          0x01u
#define MV_IMAP_F_FLAGS        0x02u
#define MV_IMAP_F_INTERNALDATE 0x04u
#define MV_IMAP_F_SIZE         0x08u   /* RFC822.SIZE */
#define MV_IMAP_F_MODSEQ       0x10u
#define MV_IMAP_F_BODY         0x20u   /* at least one body item (NIL too) */

struct mv_imap_fetch {
	unsigned have;              /* MV_IMAP_F_*; each item at most once
				     * (twice is MV_E_PARSE; body items may
				     * repeat) */
	uint32_t uid;
	/* FLAGS as sent, without \Recent (the archive never stores it):
	 * flags[0..nflags) is the same array as mv_imap_resp.atoms. */
	size_t nflags;
	const char *const *flags;
	int recent;                 /* \Recent was in FLAGS */
	const char *internaldate;   /* as sent, without quotes; "" if absent
				     * (a literal is accepted) */
	uint64_t rfc822_size;
	uint64_t modseq;
	/* Body items, whatever their order among the others. */
	unsigned nbodies;           /* body items seen (NIL ones included) */
	uint64_t body_size;         /* bytes of the last one */
	int body_literal8;          /* the last one came as ~{n} */
	int body_nil;               /* the last one was NIL */
};

struct mv_imap_resp {
	enum mv_imap_kind kind;
	enum mv_imap_type type;
	const char *tag;            /* tagged: the tag; else "" */
	/* Untagged: the response name upper-cased ("EXISTS", "FETCH",
	 * "XAPPLEPUSHSERVICE"); "" for tagged and continuation. */
	const char *name;
	int has_num;                /* "* N NAME" */
	uint32_t num;

	/* resp-text of status responses (tagged or untagged) and the text
	 * of continuations.  `code` is the response code atom upper-cased
	 * ("UIDNEXT", "THROTTLED") or ""; `code_arg` the raw text between
	 * its space and ']' ("38505 3955"); code_num[] the leading decimal
	 * numbers of code_arg, for UIDNEXT, UIDVALIDITY, UNSEEN,
	 * HIGHESTMODSEQ (checked: these must be a number in range),
	 * APPENDUID and COPYUID (the UIDVALIDITY, and for APPENDUID the
	 * UID when it is a single one).  `text` is what follows the code
	 * (one SP after ']' dropped).  A '[' that does not open a
	 * well-formed code ('[' atom ']', or '[' atom SP 1*char ']') is part
	 * of the text.  [CAPABILITY] and [PERMANENTFLAGS] arguments that are
	 * not atoms (flags, "\*" included) are MV_E_PARSE.  Continuations'
	 * codes are parsed the same way. */
	const char *code;
	const char *code_arg;
	unsigned ncode_num;
	uint64_t code_num[2];
	const char *text;
	/* Throttling, from any status response: Gmail's [THROTTLED] (as
	 * the code, or at the end of the text as Gmail sends it), and
	 * Microsoft 365's "Request is throttled. Suggested Backoff Time: N
	 * milliseconds" (backoff_ms = N; 0 when not given).  Matched without
	 * regard to ASCII case; either sentence alone is enough.  Never set
	 * for continuations. */
	int throttled;
	uint32_t backoff_ms;

	/* CAPABILITY, ENABLED, FLAGS and LIST/LSUB attributes, and the
	 * [CAPABILITY ...] and [PERMANENTFLAGS (...)] codes; FETCH flags. */
	size_t natoms;
	const char *const *atoms;

	/* LIST, LSUB and STATUS: the mailbox name exactly as sent (modified
	 * UTF-7 or UTF-8), from an atom, quoted string or literal.
	 * LIST/LSUB: delim is the hierarchy delimiter, '\0' for NIL. */
	const char *mailbox;
	size_t mailbox_len;
	char delim;
	struct mv_imap_status status;

	/* VANISHED: (EARLIER) given, and the UID set, checked to be
	 * nz-number[:nz-number] separated by ','; see mv_imap_set_next. */
	int earlier;
	const char *set;

	struct mv_imap_fetch fetch;

	/* OTHER: the bytes after the name and its space up to the final
	 * CRLF, exactly as sent, literals inline ("{5}\r\nhello"). */
	const char *rest;
	size_t rest_len;
};

/* ---- The parser ------------------------------------------------------ */

struct mv_imap;

/*
 * Makes a parser reading through read(read_ctx).  max_body bounds every
 * literal streamed to the body sink: a larger announced size fails with
 * MV_E_LIMIT before anything is read or allocated for it.  MV_E_USAGE if
 * read is NULL or max_body is 0; MV_E_NOMEM.
 */
enum mv_err mv_imap_new(struct mv_imap **out, mv_imap_read_fn read,
			void *read_ctx, uint64_t max_body, struct mv_error *e);
void mv_imap_free(struct mv_imap *p);

/* Sets where body items go from the next response on (copied; NULL
 * discards them). */
void mv_imap_set_body_sink(struct mv_imap *p,
			   const struct mv_imap_body_sink *sink);

/*
 * Reads one whole response, streaming FETCH bodies to the sink on the
 * way, and points *out at it.  MV_E_NET when the connection closes, even
 * between responses (after a BYE that is the expected end).
 */
enum mv_err mv_imap_next_response(struct mv_imap *p,
				  const struct mv_imap_resp **out,
				  struct mv_error *e);

/* Bytes consumed from the stream so far. */
uint64_t mv_imap_bytes_read(const struct mv_imap *p);

/* ---- Helpers --------------------------------------------------------- */

/*
 * Finds Microsoft 365's "Suggested Backoff Time: N milliseconds" in a
 * response text.  Returns 1 and sets *ms (capped at UINT32_MAX) when
 * found, else 0.  ASCII case is ignored; "ms" is accepted for
 * "milliseconds", another unit is not.  text may be NULL.
 */
int mv_imap_backoff_ms(const char *text, uint32_t *ms);

/* 1 if name is among r->atoms, compared without regard to ASCII case
 * (for capabilities: "IMAP4rev1", "BINARY", "AUTH=PLAIN"). */
int mv_imap_has_atom(const struct mv_imap_resp *r, const char *name);

/*
 * Walks a set validated by the parser (VANISHED): returns 1 and the next
 * range lo..hi (lo <= hi; "5:3" gives 3..5) and moves *s past it and the
 * ',' after it, or 0 at the end or on anything malformed (then *s stays
 * where the bad range starts).  A range may also end at SP, ')' or CR,
 * where *s then stops, so a set inside other text (an ESEARCH "ALL 1:3,5
 * COUNT 4" in `rest`) can be walked too.
 */
int mv_imap_set_next(const char **s, uint32_t *lo, uint32_t *hi);

#endif
