/*
 * frame.h - record framing (format-spec/FORMAT.md section 2).
 *
 * Keyless: a frame can be read, checked against its trailer (its RFC 6962
 * leaf hash) and skipped without any key.
 */
#ifndef MV_FRAME_H
#define MV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "merkle.h"

#define MV_MAGIC_LEN 8
extern const uint8_t mv_file_magic[MV_MAGIC_LEN];

#define MV_FRAME_HDR 16
#define MV_TRAILER 32
#define MV_FRAME_OVERHEAD (MV_FRAME_HDR + MV_TRAILER)

enum mv_rtype {
	MV_R_HEADER = 1,
	MV_R_CHUNK = 2,
	MV_R_PAGE = 3,
	MV_R_ROOT = 4,
	MV_R_STANZA = 5,
	MV_R_COMMIT = 6,
};
#define MV_RF_LAST 0x01u

struct mv_frame {
	uint8_t type;
	uint8_t flags;
	uint32_t len;         /* payload length */
	uint64_t seq;
	uint64_t offset;      /* where the frame starts */
	mv_mhash hash;        /* the trailer (checked) */
};

/* Name of a record type for messages ("chunk", "commit", ...). */
const char *mv_rtype_name(uint8_t type);

/* Largest payload a record of this type may declare (format-spec 9). */
uint32_t mv_frame_max_payload(uint8_t type, unsigned chunk_log);

void mv_frame_encode(uint8_t hdr[MV_FRAME_HDR], uint8_t type, uint8_t flags,
		     uint32_t len, uint64_t seq);

/*
 * Checks a frame header read at `offset`: known type, zero reserved bits,
 * length within limits.  chunk_log 0 means "not known yet" (only the
 * header record may be read then).  MV_E_FRAME / MV_E_LIMIT.
 */
enum mv_err mv_frame_parse(const uint8_t hdr[MV_FRAME_HDR], uint64_t offset,
			   unsigned chunk_log, struct mv_frame *f,
			   struct mv_error *e);

/*
 * Reads the whole record at offset into payload (replacing its contents),
 * checks its trailer and, if expect_seq >= 0, its sequence number.
 * MV_E_LENGTH if the file ends inside it, MV_E_RECORD_HASH, MV_E_SEQUENCE.
 */
enum mv_err mv_record_read(int fd, const char *path, uint64_t offset,
			   unsigned chunk_log, int64_t expect_seq,
			   struct mv_frame *f, struct mv_buf *payload,
			   struct mv_error *e);

/* Leaf hash of frame header + payload (what the trailer must be). */
void mv_record_hash(mv_mhash out, const uint8_t hdr[MV_FRAME_HDR],
		    const uint8_t *payload, size_t len);

#endif
