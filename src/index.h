/*
 * index.h - a version's index in memory, and its encrypted records
 * (format-spec/FORMAT.md section 6).
 */
#ifndef MV_INDEX_H
#define MV_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "merkle.h"

#define MV_BLOB_ID_LEN 16
#define MV_BLOBREF_LEN 101
#define MV_MAX_FOLDERS 100000
#define MV_PAGE_MAX_ENTRIES 4096
#define MV_MAX_SRCMETA 4096
#define MV_MAX_DATE_LEN 64
#define MV_MAX_MESSAGE ((uint64_t)1 << 40)

enum { MV_COMP_NONE = 0, MV_COMP_ZSTD = 1 };

/* Special-use bits (format-spec 6.1). */
#define MV_SU_ALL 1u
#define MV_SU_ARCHIVE 2u
#define MV_SU_DRAFTS 4u
#define MV_SU_FLAGGED 8u
#define MV_SU_JUNK 16u
#define MV_SU_SENT 32u
#define MV_SU_TRASH 64u
#define MV_SU_NOSELECT 128u

struct mv_blobref {
	uint8_t id[MV_BLOB_ID_LEN];
	uint64_t first_seq;
	uint64_t first_off;
	uint32_t nchunks;
	uint64_t raw_size;
	uint64_t stored_size;
	uint64_t padded_size;
	uint8_t comp;
	uint8_t content_hash[32];
};

struct mv_entry {
	uint32_t uid;
	uint32_t flags;
	char date[MV_MAX_DATE_LEN + 1];
	uint16_t nkw;
	char **kw;                 /* nkw malloc'd strings */
	char *srcmeta;             /* malloc'd, srcmeta_len bytes + NUL */
	uint16_t srcmeta_len;
	struct mv_blobref blob;
};

struct mv_folder {
	char *name;                /* malloc'd, name_len bytes + NUL */
	uint16_t name_len;
	uint8_t delim;
	uint8_t special;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t modseq;
	struct mv_entry *e;        /* sorted by UID once complete */
	size_t n, cap;
	/* e is another folder's (mv_folder_borrow): not ours to free, and
	 * copied before any change. */
	int borrowed;
};

struct mv_index {
	uint32_t commit;
	char *source;              /* malloc'd */
	char *info;                /* malloc'd, may be empty */
	struct mv_folder *f;
	size_t nf, cap;
};

void mv_index_init(struct mv_index *ix);
void mv_index_release(struct mv_index *ix);

/* Finds a folder by exact name bytes; NULL if absent. */
struct mv_folder *mv_index_folder(struct mv_index *ix, const char *name, size_t len);
/* Adds an empty folder (name copied); NULL on allocation failure. */
struct mv_folder *mv_index_add_folder(struct mv_index *ix, const char *name,
				      size_t len, uint8_t delim);
/* Makes room for `more` entries beyond f->n (one allocation instead of
 * doublings, whose slack and copies were most of a pull's memory growth
 * with the mailbox); -1 when out of memory.  Entries may move. */
int mv_folder_reserve(struct mv_folder *f, size_t more);
/* Appends a zeroed entry to f and returns it, or NULL. */
struct mv_entry *mv_folder_add_entry(struct mv_folder *f);
/*
 * f (empty) takes src's entries as they are, without copying them: a
 * folder a pull finds unchanged keeps the previous version's 20,000
 * entries for the price of a pointer.  src must stay alive and unchanged
 * while f is used; any change to f (add, reserve, a sort that moves
 * entries) copies them first.  -1 if f is not empty.
 */
int mv_folder_borrow(struct mv_folder *f, const struct mv_folder *src);
/* Drops every entry of f (borrowed ones are only let go). */
void mv_folder_clear(struct mv_folder *f);
/* Sorts f's entries by UID: 0 when they were in order already (none
 * moved), 1 when some moved, -1 if two entries share a UID, -2 out of
 * memory (copying borrowed entries). */
int mv_folder_sort(struct mv_folder *f);
/* Finds an entry by UID (entries sorted), or NULL. */
struct mv_entry *mv_folder_find_uid(struct mv_folder *f, uint32_t uid);
/* Deep-copies src into dst (keywords and metadata duplicated). */
int mv_entry_copy(struct mv_entry *dst, const struct mv_entry *src);
void mv_entry_release(struct mv_entry *en);

/* Serialises one entry as in format-spec 6.2 (appends to out). */
enum mv_err mv_entry_encode(struct mv_buf *out, const struct mv_entry *en);
/* Parses one entry from r; MV_E_INDEX / MV_E_LIMIT with the reason. */
struct mv_rd;
enum mv_err mv_entry_decode(struct mv_rd *r, struct mv_entry *en, unsigned chunk_log,
			    struct mv_error *e);
void mv_blobref_encode(uint8_t out[MV_BLOBREF_LEN], const struct mv_blobref *b);
enum mv_err mv_blobref_decode(const uint8_t in[MV_BLOBREF_LEN], struct mv_blobref *b,
			      unsigned chunk_log, struct mv_error *e);

/* The entries-tree leaf data of an entry (format-spec 6.4). */
enum mv_err mv_entry_leaf_data(struct mv_buf *out, uint32_t commit,
			       const struct mv_folder *f, const struct mv_entry *en);

/*
 * Page and root bodies (plaintext).  Encryption is done by the vault.
 * mv_index_page_body encodes entries [from, from+count) of folder fno.
 */
enum mv_err mv_index_page_body(struct mv_buf *out, const struct mv_index *ix,
			       uint32_t fno, size_t from, size_t count);
enum mv_err mv_index_page_parse(struct mv_index *ix, const uint8_t *p, size_t n,
				uint32_t expect_fno, uint32_t expect_count,
				unsigned chunk_log, struct mv_error *e);

/* A page pointer as stored in the root. */
struct mv_pageref {
	uint64_t seq, off;
	uint32_t first_uid, count;
};
/* Root body: folders with their page lists (pages[fno] has npages[fno]). */
enum mv_err mv_index_root_body(struct mv_buf *out, const struct mv_index *ix,
			       struct mv_pageref *const *pages, const size_t *npages);
/*
 * Parses a root body into ix (folders, no entries) and returns the page
 * lists through *pages / *npages (malloc'd arrays; free with
 * mv_pagerefs_free).
 */
enum mv_err mv_index_root_parse(struct mv_index *ix, const uint8_t *p, size_t n,
				struct mv_pageref ***pages, size_t **npages,
				struct mv_error *e);
void mv_pagerefs_free(struct mv_pageref **pages, size_t *npages, size_t nf);

/* Number of entries over all folders. */
uint64_t mv_index_count(const struct mv_index *ix);

/* Root of the entries tree (format-spec 6.4) and the entry count. */
enum mv_err mv_index_entries_root(const struct mv_index *ix, mv_mhash root,
				  uint64_t *count, struct mv_error *e);

#endif
