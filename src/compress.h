/*
 * compress.h - per-message zstd compression and Padme padding
 * (format-spec/FORMAT.md 5.2).  The only module that includes zstd.h.
 *
 * Each message is one zstd frame of its own: never a shared context or a
 * dictionary, so attacker-chosen text never shares a window with another
 * message (CRIME).
 */
#ifndef MV_COMPRESS_H
#define MV_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Level 1: mail is compressed one message at a time, and most of its
 * bytes are base64 attachments.  On the bench corpus (2,000 messages,
 * 101 MB) levels 1 / 2 / 3 give 0.691 / 0.689 / 0.687 of the input at
 * 319 / 235 / 195 MB/s; on its text-only messages 0.441 / 0.443 / 0.438
 * at 169 / 158 / 116 MB/s.  Level 3 would cost 1.5x the CPU of the
 * largest step of a pull for under 1% of size. */
#define MV_ZSTD_LEVEL 1
#define MV_ZSTD_WINDOW_LOG_MAX 23

/* Padme length of n (format-spec 5.2). */
uint64_t mv_padme(uint64_t n);

/* Streaming compressor for one message at a time (reusable). */
struct mv_zc;
struct mv_zc *mv_zc_new(void);
void mv_zc_free(struct mv_zc *z);
/* Starts a frame; size is the exact number of bytes to come (recorded in
 * the frame header so the decoder can check it). */
enum mv_err mv_zc_begin(struct mv_zc *z, uint64_t size, struct mv_error *e);
/*
 * Feeds in[0..n) (n may be 0 with end = 1) and appends output to the
 * callback in pieces.  end = 1 finishes the frame.
 */
typedef enum mv_err (*mv_out_fn)(void *ctx, const uint8_t *p, size_t n,
				 struct mv_error *e);
enum mv_err mv_zc_feed(struct mv_zc *z, const uint8_t *in, size_t n, int end,
		       mv_out_fn out, void *ctx, struct mv_error *e);

/* Streaming decompressor with the window capped at 2^23. */
struct mv_zd;
struct mv_zd *mv_zd_new(void);
void mv_zd_free(struct mv_zd *z);
void mv_zd_begin(struct mv_zd *z);
/*
 * Feeds compressed in[0..n); decompressed bytes go to out.  Sets *done
 * once the frame has ended; bytes after the frame's end are MV_E_COMPRESS.
 */
enum mv_err mv_zd_feed(struct mv_zd *z, const uint8_t *in, size_t n,
		       int *done, mv_out_fn out, void *ctx, struct mv_error *e);

#endif
