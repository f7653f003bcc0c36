/*
 * push_report.h - what a push and a compare (verify --against) report,
 * whatever the target (imap_push.h, imap_compare.h, local_push.h): per
 * folder counts, and for a compare the list of differences.  A few fields
 * only one kind of target fills are marked; the others leave them zero.
 */
#ifndef MV_PUSH_REPORT_H
#define MV_PUSH_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* ---- push ---- */

struct mv_push_folder {
	char *source;                  /* UTF-8, '/' */
	char *target;                  /* UTF-8, '/' (after --map) */
	char *path;                    /* local: on disk, relative to the target root; IMAP: NULL */
	int created;                   /* created (or would be, dry run) */
	uint64_t messages;             /* in the version */
	uint64_t present;              /* already on the target */
	uint64_t appended;             /* appended (or would be) */
	uint64_t bytes;                /* of those appended */
	uint64_t refused;              /* the target refused them */
	uint64_t dropped_keywords;     /* appended without some keywords */
};

struct mv_push_report {
	struct mv_push_folder *f;
	size_t nf;
	uint64_t appended, present, refused, dropped_keywords;
	uint64_t cut_bytes;            /* mbox: a torn tail of an interrupted push, cut */
	uint64_t present_by_record;    /* IMAP, of present: known from push's record */
	uint64_t reconnects;           /* IMAP: attempts to connect again */
	int multiappend, literal_plus, binary;  /* IMAP: how messages were appended */
};

/* Adds a zeroed folder; NULL when out of memory. */
struct mv_push_folder *mv_push_report_add(struct mv_push_report *r);
/* Frees what r holds and zeroes it; accepts NULL. */
void mv_push_report_release(struct mv_push_report *r);

/* ---- compare ---- */

struct mv_diff_folder {
	char *source, *target;         /* UTF-8, '/' */
	char *path;                    /* local: on disk, relative to the target root; IMAP: NULL */
	int absent;                    /* the target has no such folder */
	uint64_t messages, matched;    /* in the version; found by bytes */
	uint64_t rendered;             /* IMAP, of matched: only as the server renders them */
	uint64_t missing, extra, altered, flags, dates;
};

struct mv_diff_item {
	char kind[8];                  /* missing extra altered flags date */
	char *folder;                  /* source folder, UTF-8 */
	uint32_t src_uid, dst_uid;     /* 0 where there is none (local: dst_uid 0) */
	char *dst_name;                /* local target: the message's file or place; IMAP: NULL */
};

#define MV_DIFF_MAX_ITEMS 10000

struct mv_diff_report {
	struct mv_diff_folder *f;
	size_t nf;
	struct mv_diff_item *items;    /* at most MV_DIFF_MAX_ITEMS */
	size_t nitems, more;
	uint64_t rendered;             /* IMAP: matched only as the server renders them */
	uint64_t missing, extra, altered, flags, dates;
};

/* Adds a zeroed folder; NULL when out of memory. */
struct mv_diff_folder *mv_diff_report_add(struct mv_diff_report *r);
/*
 * Counts one difference of kind ("missing", "extra", "altered", "flags",
 * "date") in df and r and lists it (past MV_DIFF_MAX_ITEMS, or out of
 * memory, only r->more grows).  dst_name may be NULL.
 */
void mv_diff_report_item(struct mv_diff_report *r, struct mv_diff_folder *df,
			 const char *kind, uint32_t src_uid, uint32_t dst_uid,
			 const char *dst_name);
/* 1 when r holds any difference. */
int mv_diff_report_differs(const struct mv_diff_report *r);
/* Frees what r holds and zeroes it; accepts NULL. */
void mv_diff_report_release(struct mv_diff_report *r);

#endif
