/*
 * compress.h - per-message zstd compression and Padme padding
 * (format-spec/FORMAT.md 5.2).  The only module that includes zstd.h.
 *
 * A message is compressed on its own: never a shared context or a
 * dictionary, so attacker-chosen text never shares a window with another
 * message (CRIME).  Its stored stream is one zstd frame per segment of
 * MV_ZSTD_SEGMENT bytes (the last segment holds the rest), so that the
 * segments of one large message can be compressed on several cores at
 * once and a reader knows where every frame must end.
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
/* Bytes of message per frame: 1 MiB.  Compressing base64-heavy mail in
 * 1 MiB frames instead of one costs about 0.1% of size at level 1 (its
 * window is 512 KiB anyway) and lets two cores share a large message. */
#define MV_ZSTD_SEGMENT ((size_t)1 << 20)

/* Padme length of n (format-spec 5.2). */
uint64_t mv_padme(uint64_t n);

/* Streaming compressor for one message at a time (reusable). */
struct mv_zc;
struct mv_zc *mv_zc_new(void);
void mv_zc_free(struct mv_zc *z);
/* Starts a message; size is the exact number of bytes to come (each
 * frame records its segment's size so the decoder can check it). */
enum mv_err mv_zc_begin(struct mv_zc *z, uint64_t size, struct mv_error *e);
/*
 * Feeds in[0..n) (n may be 0 with end = 1) and appends output to the
 * callback in pieces, ending a frame after every segment.  end = 1
 * finishes the message: MV_E_LENGTH if more or fewer than size bytes came.
 */
typedef enum mv_err (*mv_out_fn)(void *ctx, const uint8_t *p, size_t n,
				 struct mv_error *e);
enum mv_err mv_zc_feed(struct mv_zc *z, const uint8_t *in, size_t n, int end,
		       mv_out_fn out, void *ctx, struct mv_error *e);

/*
 * One segment (n <= MV_ZSTD_SEGMENT bytes: one frame of the stream
 * mv_zc_begin/feed would make for it, with the same parameters) compressed
 * at once into dst[0..cap); cap >= mv_zc_bound(n) always suffices.  Sets
 * *len.  For worker threads that compress the segments of one message in
 * parallel; the frames, concatenated in order, are that message's stored
 * stream.
 */
enum mv_err mv_zc_segment(struct mv_zc *z, uint8_t *dst, size_t cap, const uint8_t *src,
			  size_t n, size_t *len, struct mv_error *e);
size_t mv_zc_bound(size_t n);

/* Streaming decompressor with the window capped at 2^23. */
struct mv_zd;
struct mv_zd *mv_zd_new(void);
void mv_zd_free(struct mv_zd *z);
void mv_zd_begin(struct mv_zd *z);
/*
 * Feeds compressed in[0..n); decompressed bytes go to out.  Sets *done
 * when the input so far ends exactly at the end of a frame.  Every frame
 * must hold exactly MV_ZSTD_SEGMENT bytes except the last, which holds
 * 1..MV_ZSTD_SEGMENT (0 only when it is the only frame: the empty
 * message); anything else, and bytes after a short frame, are
 * MV_E_COMPRESS.  The caller checks the total against the message size.
 */
enum mv_err mv_zd_feed(struct mv_zd *z, const uint8_t *in, size_t n,
		       int *done, mv_out_fn out, void *ctx, struct mv_error *e);

#endif
