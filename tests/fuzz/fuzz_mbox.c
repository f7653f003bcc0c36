/*
 * fuzz_mbox.c - drives the mbox reader over arbitrary bytes in all three
 * variants, and the header flag parser over each message's first bytes.
 *
 * Besides memory errors it checks what the reader promises: messages come
 * in file order, never add bytes (mboxrd only removes '>'), and a rewind
 * gives the same bytes again.  A broken promise calls abort() so libFuzzer
 * keeps the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 8192
#define HEAD 4096
#define MAX_MESSAGES 10000

/* Reads the rest of the current message; returns its length and an
 * FNV-1a hash, keeping its first HEAD bytes in head. */
static int drain(struct mv_mbox *m, uint8_t *buf, uint8_t *head,
		 size_t *head_len, uint64_t *len, uint64_t *hash)
{
	struct mv_error e;
	size_t got;

	*len = 0;
	*hash = 1469598103934665603u;
	*head_len = 0;
	mv_error_clear(&e);
	for (;;) {
		if (mv_mbox_read(m, buf, CAP, &got, &e) != MV_OK)
			return -1;
		if (got == 0)
			return 0;
		if (got > CAP)
			abort();
		for (size_t i = 0; i < got; i++)
			*hash = (*hash ^ buf[i]) * 1099511628211u;
		if (*head_len < HEAD) {
			size_t k = got < HEAD - *head_len ? got : HEAD - *head_len;

			memcpy(head + *head_len, buf, k);
			*head_len += k;
		}
		*len += got;
	}
}

static void run(int fd, size_t size, enum mv_mbox_format fmt)
{
	static uint8_t buf[CAP], head[HEAD];
	struct mv_mbox *m = NULL;
	struct mv_error e;
	uint64_t last_off = 0, total = 0;
	int count = 0;

	mv_error_clear(&e);
	if (mv_mbox_open_fd(&m, fd, "fuzz", fmt, &e) != MV_OK)
		abort();
	while (count < MAX_MESSAGES) {
		int has;
		const char *fl;
		size_t fn, head_len, head_len2;
		uint64_t off, len, hash, len2, hash2;
		int64_t when;

		if (mv_mbox_next(m, &has, &fl, &fn, &off, &e) != MV_OK || !has)
			break;
		if ((count > 0 && off <= last_off) || off >= size || fn > 4096 - 5 ||
		    fl[fn] != '\0')
			abort();
		last_off = off;
		(void)mv_mbox_from_date(fl, fn, &when);
		/* Read half the messages twice, around a rewind. */
		if (count % 2 == 0) {
			if (drain(m, buf, head, &head_len, &len, &hash) != 0)
				break;
			if (mv_mbox_rewind(m, &e) != MV_OK)
				abort();
		}
		if (count % 3 != 2) {
			if (drain(m, buf, head, &head_len2, &len2, &hash2) != 0)
				break;
			if (count % 2 == 0 && (len2 != len || hash2 != hash ||
					       head_len2 != head_len))
				abort();
			total += len2 + 5 + fn;
			if (total > size)
				abort();
			{
				uint32_t flags;
				char **kw;
				size_t nkw;

				mv_mail_header_flags(head, head_len2, &flags, &kw, &nkw);
				if (nkw > 256 || (flags & ~0x3fu))
					abort();
				for (size_t i = 0; i < nkw; i++) {
					size_t l = strlen(kw[i]);

					if (l == 0 || l > 255)
						abort();
					free(kw[i]);
				}
				free(kw);
			}
		}
		/* Every third message is left unread for next() to skip. */
		count++;
	}
	mv_mbox_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_mbox", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		return 0;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);

		if (w <= 0)
			goto out;
		done += (size_t)w;
	}
	run(fd, size, MV_MBOXRD);
	run(fd, size, MV_MBOXO);
	run(fd, size, MV_MBOXCL2);
out:
	close(fd);
	return 0;
}
