/*
 * vault.h - an archive file: open, find and check the newest commit,
 * unlock, read messages and indexes, and append versions
 * (format-spec/FORMAT.md sections 8 and 10).
 *
 * A struct mv_vault is opened keyless; mv_vault_unlock adds the keys.
 * Writing goes through a struct mv_writer, one at a time per file
 * (an exclusive flock is taken).
 */
#ifndef MV_VAULT_H
#define MV_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "frame.h"
#include "header.h"
#include "index.h"
#include "merkle.h"
#include "note.h"
#include "sha256.h"

#define MV_MAX_STANZA_RECORDS MV_MAX_GRANTS

struct mv_commit_info {
	uint32_t number;
	int kind;
	uint64_t time;
	uint64_t offset;              /* of the COMMIT record */
	uint64_t end;                 /* offset just past it */
	uint64_t prev;
	uint64_t tree_size;           /* == its sequence number */
	struct mv_frontier frontier;
	mv_mhash root;
	mv_mhash leaf;                /* its own record hash */
	uint64_t index_seq, index_off;
	mv_mhash entries_root;
	uint64_t entries;
	uint64_t cut_bytes;
	uint8_t cut_hash[32];
	uint16_t nstanzas;
	uint64_t stanza_off[MV_MAX_STANZA_RECORDS];
	char note[MV_NOTE_MAX + 1];
	size_t note_len;
};

struct mv_vault {
	int fd;
	char *path;
	int writable;
	struct mv_header h;
	struct mv_buf stanza_store;
	int has_commit;
	struct mv_commit_info last;   /* newest valid commit */
	uint64_t file_size;
	uint64_t torn;                /* bytes after the newest commit */
	/* Set by mv_vault_check_records on a damaged archive: bit i says
	 * record i is proven by a signed frontier; records not proven are
	 * refused when read.  NULL: every record is proven (or unchecked). */
	uint8_t *authentic;
	uint64_t nauthentic;          /* records the bitmap covers */
	struct mv_keyring *kr;        /* NULL until unlocked */
};

/*
 * Opens path and finds its newest commit, verifying that commit's frame,
 * frontier, signature and chain pointer (not the whole file: see
 * mv_verify).  A file with a header but no commit opens with has_commit 0.
 * A torn tail is not an error here: v->torn says how many bytes follow
 * the newest commit.  Bytes after it that are not a torn write (a whole
 * record with a bad hash, garbage) are MV_E_RECORD_HASH / MV_E_FRAME.
 */
enum mv_err mv_vault_open(struct mv_vault **out, const char *path, int writable,
			  struct mv_error *e);
void mv_vault_free(struct mv_vault *v);

/* Creates a new archive file (0600, must not exist or be empty of
 * commits) with its header; returns it open for writing and unlocked. */
enum mv_err mv_vault_create(struct mv_vault **out, const char *path,
			    const struct mv_create_opts *o, const struct mv_creds *c,
			    struct mv_error *e);

enum mv_err mv_vault_unlock(struct mv_vault *v, const struct mv_creds *c,
			    struct mv_error *e);

/* Parses and checks a COMMIT record payload against the header's key. */
enum mv_err mv_commit_parse(const struct mv_vault *v, const uint8_t *p, size_t n,
			    uint64_t offset, uint64_t seq, struct mv_commit_info *ci,
			    struct mv_error *e);

/*
 * Lists all commits oldest first, following the chain back from the
 * newest and checking each (signature, numbering, offsets).  *out is
 * malloc'd.
 */
enum mv_err mv_vault_commits(struct mv_vault *v, struct mv_commit_info **out,
			     size_t *n, struct mv_error *e);

/* Loads a commit's index (needs keys).  folder != NULL loads only that
 * folder's entries (the others are listed with no entries). */
enum mv_err mv_vault_load_index(struct mv_vault *v, const struct mv_commit_info *c,
				const char *folder, struct mv_index *ix,
				struct mv_error *e);

/*
 * Binds every record before the newest commit to that commit's signed
 * Merkle frontier (format-spec 7), reading 48 bytes per record: records
 * read afterwards are checked against their trailers, so none can have
 * been altered, even by a reader holding the content keys, without this
 * failing.  Every command that reads or extends an archive calls it
 * (verify does more).  When the records do not rebuild the frontier (a
 * damaged or forged record), the subtrees that every commit's signed
 * frontier covers are checked one by one: records inside a matching
 * subtree stay readable, the others are refused when read (v->authentic),
 * so that damage costs only the messages it touched (P2) and a forgery
 * is never served.  Returns MV_OK then, with *damaged set; callers that
 * extend the archive must refuse.  MV_E_IO, MV_E_NOMEM.
 */
enum mv_err mv_vault_check_records(struct mv_vault *v, int *damaged, struct mv_error *e);
/*
 * The same, for an archive whose records up to and including the COMMIT
 * of version `proven` were checked so by an earlier run (the caller
 * remembers that, and that this version is still the one it saw): only
 * the records after it are read, from that commit's signed frontier.
 * Damage to the records before it then goes unnoticed until `verify`;
 * nothing is signed over it unseen all the same, because a new version's
 * tree grows from the signed frontier, never from re-read trailers.
 * Anything that does not fit falls back to the whole check.  proven = 0
 * (or a version the archive does not hold) is the whole check.
 */
enum mv_err mv_vault_check_records_since(struct mv_vault *v, uint32_t proven,
					 int *damaged, struct mv_error *e);
/* 1 if record seq may be read (see mv_vault_check_records). */
int mv_vault_record_proven(const struct mv_vault *v, uint64_t seq);

/* Streams a message's bytes to out (needs keys), checking everything. */
enum mv_err mv_vault_read_blob(struct mv_vault *v, const struct mv_blobref *b,
			       mv_out_fn out, void *ctx, struct mv_error *e);

/* Reads the raw bytes of the record at off (frame + payload, no trailer). */
enum mv_err mv_vault_record_bytes(struct mv_vault *v, uint64_t off, uint64_t seq,
				  struct mv_buf *out, struct mv_frame *f,
				  struct mv_error *e);

/* ---- Writing ---- */

struct mv_writer;

/*
 * Starts appending (needs an owner key).  Cuts a torn tail first and
 * remembers its length and hash for the next commit.
 */
enum mv_err mv_writer_begin(struct mv_vault *v, struct mv_writer **out,
			    struct mv_error *e);
void mv_writer_free(struct mv_writer *w);

/* Stores a message: begin (exact size), feed bytes, end. */
enum mv_err mv_writer_blob_begin(struct mv_writer *w, uint64_t raw_size,
				 int compress, int pad, struct mv_error *e);
enum mv_err mv_writer_blob_feed(struct mv_writer *w, const uint8_t *p, size_t n,
				struct mv_error *e);
enum mv_err mv_writer_blob_end(struct mv_writer *w, struct mv_blobref *out,
			       struct mv_error *e);

/* A run of bytes in memory. */
struct mv_span {
	const uint8_t *p;
	size_t n;
};

/*
 * Stores a message whose stored stream was made elsewhere, e.g. on
 * compression threads: the concatenation of parts[0..nparts) (the zstd
 * frames of its segments in order, or the raw bytes when comp is
 * MV_COMP_NONE); content_hash must be mv_vault_content_hash of the raw
 * bytes.
 */
enum mv_err mv_writer_blob_stored(struct mv_writer *w, uint64_t raw_size, int comp,
				  const struct mv_span *parts, size_t nparts,
				  const uint8_t content_hash[32], int pad,
				  struct mv_blobref *out, struct mv_error *e);
/*
 * The same in steps, for a message whose stored stream comes in pieces
 * (a large one compressed by several jobs): begin, add pieces in order,
 * end.  Nothing else may be stored in between.
 */
enum mv_err mv_writer_stored_begin(struct mv_writer *w, uint64_t raw_size, int comp,
				   int pad, struct mv_error *e);
enum mv_err mv_writer_stored_add(struct mv_writer *w, const struct mv_span *parts,
				 size_t nparts, struct mv_error *e);
enum mv_err mv_writer_stored_end(struct mv_writer *w, const uint8_t content_hash[32],
				 struct mv_blobref *out, struct mv_error *e);

/* Content hash (format-spec 5.3: HMAC-SHA-256 under this archive's
 * content ID key) of bytes in memory: MV_OK, or MV_E_NOMEM. */
enum mv_err mv_vault_content_hash(const struct mv_vault *v, const uint8_t *p, size_t n,
				  uint8_t out[32], struct mv_error *e);
/* The same, streaming (sha256.h: mv_hmac_update, _final, _free); NULL
 * when out of memory. */
struct mv_hmac *mv_vault_content_hasher(const struct mv_vault *v);

/* Waits until everything queued (a partial checkpoint too) is written
 * or has failed; the first write error, if any. */
enum mv_err mv_writer_wait(struct mv_writer *w, struct mv_error *e);

/* Bytes appended since begin (for checkpoint pacing). */
uint64_t mv_writer_bytes(const struct mv_writer *w);

/*
 * Writes ix's pages and root, then the commit: the data and index are
 * synced before it and the commit after it.  A partial checkpoint
 * (MV_COMMIT_PARTIAL) is finished behind the caller, so that its syncs
 * overlap the next messages' work; v->last names it only after the next
 * commit or mv_writer_wait().  Any other kind is on disk, and v->last,
 * on return.
 */
enum mv_err mv_writer_commit(struct mv_writer *w, struct mv_index *ix, int kind,
			     struct mv_error *e);

/* Appends a STANZA record for recipient and a grant commit. */
enum mv_err mv_writer_grant(struct mv_writer *w, const uint8_t recipient[MV_X25519_LEN],
			    struct mv_error *e);

/* Test/inspection hook: current time (MV_TEST_TIME in test builds). */
uint64_t mv_now(void);

#endif
