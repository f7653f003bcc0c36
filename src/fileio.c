/* fileio.c - archive file I/O; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum mv_err mv_pread_full(int fd, void *p, size_t n, uint64_t off,
			  const char *path, struct mv_error *e)
{
	uint8_t *q = p;

	while (n) {
		ssize_t r = pread(fd, q, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return mv_fail(e, MV_E_IO, "cannot read '%s' at offset %llu: %s",
				       path, (unsigned long long)off, strerror(errno));
		}
		if (r == 0)
			return mv_fail(e, MV_E_LENGTH,
				       "'%s' ends at offset %llu, inside a record",
				       path, (unsigned long long)off);
		q += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return MV_OK;
}

void mv_crash_point(void)
{
#ifdef MV_TEST_HOOKS
	static long left = -2;

	if (left == -2) {
		const char *s = getenv("MV_TEST_CRASH_WRITES");

		left = s && *s ? atol(s) : -1;
	}
	if (left < 0)
		return;
	if (left == 0)
		raise(SIGKILL);
	left--;
#endif
}

/* Write-back is started every this many bytes, so the fdatasync at a
 * commit finds little left to do (the disk works while we compute). */
#define KICK_BYTES (8u << 20)

#define DIRECT_MIN (256u << 10)

struct mv_wfile {
	int fd;
	const char *path;
	uint64_t off;       /* offset of buf[0] */
	uint64_t kicked;    /* write-back started up to here */
	uint8_t *buf;
	size_t len, cap;
};

enum mv_err mv_wfile_new(struct mv_wfile **out, int fd, const char *path,
			 uint64_t at, size_t bufsize, struct mv_error *e)
{
	struct mv_wfile *w = calloc(1, sizeof *w);

	if (!w || !(w->buf = malloc(bufsize))) {
		free(w);
		return mv_fail(e, MV_E_NOMEM, "out of memory");
	}
	w->fd = fd;
	w->path = path;
	w->off = at;
	w->kicked = at;
	w->cap = bufsize;
	*out = w;
	return MV_OK;
}

uint64_t mv_wfile_offset(const struct mv_wfile *w)
{
	return w->off + w->len;
}

static enum mv_err write_all(struct mv_wfile *w, const uint8_t *p, size_t n,
			     struct mv_error *e)
{
	while (n) {
		ssize_t r;

		mv_crash_point();
		r = pwrite(w->fd, p, n, (off_t)w->off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return mv_fail(e, MV_E_IO, "cannot write '%s' at offset %llu: %s",
				       w->path, (unsigned long long)w->off,
				       strerror(errno));
		}
		p += r;
		n -= (size_t)r;
		w->off += (uint64_t)r;
	}
	return MV_OK;
}

enum mv_err mv_wfile_flush(struct mv_wfile *w, struct mv_error *e)
{
	enum mv_err rc;
	size_t n = w->len;

	w->len = 0;
	rc = write_all(w, w->buf, n, e);
	if (rc == MV_OK && w->off - w->kicked >= KICK_BYTES) {
		/* Only a hint: failure here changes nothing about durability,
		 * which fdatasync at each commit provides. */
		(void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->off - w->kicked),
				      SYNC_FILE_RANGE_WRITE);
		w->kicked = w->off;
	}
	return rc;
}

enum mv_err mv_wfile_append(struct mv_wfile *w, const void *p, size_t n,
			    struct mv_error *e)
{
	enum mv_err rc;

	/* Large records go out from the caller's memory: copying an index
	 * record of megabytes would only fault the buffer's pages in. */
	if (n >= w->cap || n >= DIRECT_MIN) {
		if ((rc = mv_wfile_flush(w, e)) != MV_OK)
			return rc;
		return write_all(w, p, n, e);
	}
	if (w->len + n > w->cap && (rc = mv_wfile_flush(w, e)) != MV_OK)
		return rc;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return MV_OK;
}

enum mv_err mv_wfile_reserve(struct mv_wfile *w, size_t n, uint8_t **p,
			     struct mv_error *e)
{
	enum mv_err rc;

	if (n >= w->cap)
		return mv_fail(e, MV_E_INTERNAL, "record of %zu bytes does not fit the buffer", n);
	if (w->len + n > w->cap && (rc = mv_wfile_flush(w, e)) != MV_OK)
		return rc;
	*p = w->buf + w->len;
	return MV_OK;
}

void mv_wfile_commit(struct mv_wfile *w, size_t n)
{
	w->len += n;
}

enum mv_err mv_wfile_sync(struct mv_wfile *w, struct mv_error *e)
{
	enum mv_err rc = mv_wfile_flush(w, e);

	if (rc)
		return rc;
	return mv_wfile_datasync(w, e);
}

enum mv_err mv_wfile_datasync(const struct mv_wfile *w, struct mv_error *e)
{
	if (fdatasync(w->fd) != 0)
		return mv_fail(e, MV_E_IO, "cannot sync '%s': %s", w->path,
			       strerror(errno));
	return MV_OK;
}

void mv_wfile_free(struct mv_wfile *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}
