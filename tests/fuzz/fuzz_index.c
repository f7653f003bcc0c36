/*
 * fuzz_index.c - the decrypted index bodies (format-spec 6): INDEX_ROOT,
 * then every page the root names is taken from the rest of the input.
 * The AEAD protects these in a real archive; the parser must still be
 * safe on anything, since a key holder may be the attacker.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mv_index ix;
	struct mv_pageref **pages = NULL;
	size_t *npages = NULL, split, nf;
	struct mv_error e;
	mv_mhash root;
	uint64_t count;

	if (size < 4)
		return 0;
	/* The first 4 bytes say where the root body ends. */
	split = mv_ld32(data) % (size - 3);
	mv_index_init(&ix);
	mv_error_clear(&e);
	if (mv_index_root_parse(&ix, data + 4, split, &pages, &npages, &e) == MV_OK) {
		const uint8_t *p = data + 4 + split;
		size_t left = size - 4 - split;

		nf = ix.nf;
		for (size_t i = 0; i < nf && left > 4; i++)
			for (size_t j = 0; j < npages[i] && left > 4; j++) {
				size_t n = mv_ld32(p) % left;

				mv_error_clear(&e);
				if (mv_index_page_parse(&ix, p + 4, n > 4 ? n - 4 : 0, (uint32_t)i,
							pages[i][j].count, 16, &e) != MV_OK)
					break;
				p += n > 4 ? n : 4;
				left -= n > 4 ? n : 4;
			}
		mv_error_clear(&e);
		mv_index_entries_root(&ix, root, &count, &e);
		mv_pagerefs_free(pages, npages, nf);
	}
	mv_index_release(&ix);
	return 0;
}
