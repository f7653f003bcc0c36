/*
 * fuzz_record.c - what a keyless reader parses from an archive file:
 * the magic, record frames, the header, COMMIT records and their signed
 * notes (format-spec 2, 8).  The input is written to a temporary file and
 * opened as an archive, so the whole open path (tail probe, forward walk,
 * torn-tail rules) runs on it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "note.h"
#include "vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	char path[] = "/tmp/mv-fuzz-record-XXXXXX";
	struct mv_vault *v = NULL;
	struct mv_error e;
	struct mv_checkpoint cp;
	uint8_t pk[32] = { 0 };
	int fd;

	if (!init) {
		mv_crypto_init(NULL);
		init = 1;
	}
	/* The note parser on its own, too. */
	mv_error_clear(&e);
	mv_note_verify((const char *)data, size, pk, &cp, &e);
	fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		mv_error_clear(&e);
		if (mv_vault_open(&v, path, 0, &e) == MV_OK) {
			struct mv_commit_info *list = NULL;
			size_t n = 0;

			mv_error_clear(&e);
			if (mv_vault_commits(v, &list, &n, &e) == MV_OK)
				free(list);
			mv_vault_free(v);
		}
	}
	close(fd);
	unlink(path);
	return 0;
}
