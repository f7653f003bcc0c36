/* frame.c - record framing; see frame.h and format-spec section 2. */
#include "frame.h"

#include "bytes.h"
#include "fileio.h"

#include <string.h>

const uint8_t mv_file_magic[MV_MAGIC_LEN] = { 0x89, 'M', 'B', 'X', 'V', 'L', 'T', '\n' };

const char *mv_rtype_name(uint8_t type)
{
	switch (type) {
	case MV_R_HEADER: return "header";
	case MV_R_CHUNK: return "chunk";
	case MV_R_PAGE: return "index page";
	case MV_R_ROOT: return "index root";
	case MV_R_STANZA: return "stanza";
	case MV_R_COMMIT: return "commit";
	default: return "unknown";
	}
}

uint32_t mv_frame_max_payload(uint8_t type, unsigned chunk_log)
{
	switch (type) {
	case MV_R_HEADER: return 65536;
	case MV_R_CHUNK: return chunk_log ? 96u + (1u << chunk_log) : 0;
	case MV_R_PAGE: return 16u << 20;
	case MV_R_ROOT: return 64u << 20;
	case MV_R_STANZA: return 4096;
	case MV_R_COMMIT: return 8192;
	default: return 0;
	}
}

void mv_frame_encode(uint8_t hdr[MV_FRAME_HDR], uint8_t type, uint8_t flags,
		     uint32_t len, uint64_t seq)
{
	hdr[0] = type;
	hdr[1] = flags;
	hdr[2] = 0;
	hdr[3] = 0;
	mv_st32(hdr + 4, len);
	mv_st64(hdr + 8, seq);
}

enum mv_err mv_frame_parse(const uint8_t hdr[MV_FRAME_HDR], uint64_t offset,
			   unsigned chunk_log, struct mv_frame *f,
			   struct mv_error *e)
{
	uint32_t max;

	f->type = hdr[0];
	f->flags = hdr[1];
	f->len = mv_ld32(hdr + 4);
	f->seq = mv_ld64(hdr + 8);
	f->offset = offset;
	if (f->type < MV_R_HEADER || f->type > MV_R_COMMIT)
		return mv_fail(e, MV_E_FRAME, "record at offset %llu has unknown type %u",
			       (unsigned long long)offset, f->type);
	if (hdr[2] || hdr[3] ||
	    (f->flags & ~(f->type == MV_R_CHUNK ? MV_RF_LAST : 0u)))
		return mv_fail(e, MV_E_FRAME,
			       "record at offset %llu has undefined flag bits set",
			       (unsigned long long)offset);
	max = mv_frame_max_payload(f->type, chunk_log);
	if (f->len > max)
		return mv_fail(e, f->type == MV_R_CHUNK ? MV_E_LENGTH : MV_E_LIMIT,
			       "%s record at offset %llu declares %u payload bytes (limit %u)",
			       mv_rtype_name(f->type), (unsigned long long)offset,
			       f->len, max);
	return MV_OK;
}

void mv_record_hash(mv_mhash out, const uint8_t hdr[MV_FRAME_HDR],
		    const uint8_t *payload, size_t len)
{
	mv_merkle_leaf_hash2(out, hdr, MV_FRAME_HDR, payload, len);
}

enum mv_err mv_record_read(int fd, const char *path, uint64_t offset,
			   unsigned chunk_log, int64_t expect_seq,
			   struct mv_frame *f, struct mv_buf *payload,
			   struct mv_error *e)
{
	uint8_t hdr[MV_FRAME_HDR];
	mv_mhash want;
	enum mv_err rc;
	uint8_t *p;

	if ((rc = mv_pread_full(fd, hdr, sizeof hdr, offset, path, e)) != MV_OK)
		return rc;
	if ((rc = mv_frame_parse(hdr, offset, chunk_log, f, e)) != MV_OK)
		return rc;
	mv_buf_reset(payload);
	if (mv_buf_grow(payload, f->len, &p) != MV_OK)
		return mv_fail(e, MV_E_NOMEM, "out of memory reading a %u-byte record",
			       f->len);
	if ((rc = mv_pread_full(fd, p, f->len, offset + MV_FRAME_HDR, path, e)) ||
	    (rc = mv_pread_full(fd, f->hash, MV_TRAILER,
				offset + MV_FRAME_HDR + f->len, path, e)))
		return rc;
	mv_record_hash(want, hdr, p, f->len);
	if (memcmp(want, f->hash, MV_TRAILER) != 0)
		return mv_fail(e, MV_E_RECORD_HASH,
			       "%s record at offset %llu does not match its hash",
			       mv_rtype_name(f->type), (unsigned long long)offset);
	if (expect_seq >= 0 && f->seq != (uint64_t)expect_seq)
		return mv_fail(e, MV_E_SEQUENCE,
			       "record at offset %llu has sequence number %llu, expected %lld",
			       (unsigned long long)offset, (unsigned long long)f->seq,
			       (long long)expect_seq);
	return MV_OK;
}
