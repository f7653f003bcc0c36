/*
 * fileio.h - the archive file on disk: positioned reads, a buffered
 * appender, durable sync, and the test-build crash hook.
 *
 * Every byte mbox-vault appends to an archive goes through
 * mv_wfile_append() or mv_wfile_reserve(), so the crash tests (MV_TEST_CRASH_WRITES=N in a
 * MV_TEST_HOOKS build) can kill the process after exactly N write(2) calls.
 */
#ifndef MV_FILEIO_H
#define MV_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Reads exactly n bytes at off; MV_E_LENGTH if the file ends first. */
enum mv_err mv_pread_full(int fd, void *p, size_t n, uint64_t off,
			  const char *path, struct mv_error *e);

/* Appends to fd from offset `at` through a buffer of `bufsize` bytes. */
struct mv_wfile;
enum mv_err mv_wfile_new(struct mv_wfile **out, int fd, const char *path,
			 uint64_t at, size_t bufsize, struct mv_error *e);
/* Offset where the next appended byte will land. */
uint64_t mv_wfile_offset(const struct mv_wfile *w);
enum mv_err mv_wfile_append(struct mv_wfile *w, const void *p, size_t n,
			    struct mv_error *e);
/*
 * Room for n bytes (less than the buffer size) at the end of the buffer,
 * flushing first if needed: the caller builds a record in place (no copy)
 * and then adds it with mv_wfile_commit(w, n).  Nothing else may append
 * in between.
 */
enum mv_err mv_wfile_reserve(struct mv_wfile *w, size_t n, uint8_t **p,
			     struct mv_error *e);
void mv_wfile_commit(struct mv_wfile *w, size_t n);
enum mv_err mv_wfile_flush(struct mv_wfile *w, struct mv_error *e);
/* Flushes and fdatasyncs. */
enum mv_err mv_wfile_sync(struct mv_wfile *w, struct mv_error *e);
/* fdatasync alone, of what was written so far (not the buffer): safe in
 * another thread than the appender's, which it does not touch. */
enum mv_err mv_wfile_datasync(const struct mv_wfile *w, struct mv_error *e);
void mv_wfile_free(struct mv_wfile *w);   /* does not flush; accepts NULL */

/* The test hook: counts write(2) calls and SIGKILLs at the configured one. */
void mv_crash_point(void);

#endif
