/*
 * fuzz_utf7.c - modified UTF-7 both ways over arbitrary bytes.  Whatever
 * decode accepts must encode back to exactly the input (there is one
 * spelling per name), and whatever encode accepts must decode back to
 * exactly the input; anything else calls abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const struct mv_buf *b, const uint8_t *data,
			  size_t size)
{
	if (b->len != size || (size && memcmp(b->data, data, size) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mv_buf a, b;

	mv_buf_init(&a, 1 << 20);
	mv_buf_init(&b, 1 << 20);
	if (mv_utf7_decode(&a, (const char *)data, size) == MV_OK) {
		if (mv_utf7_encode(&b, (const char *)a.data, a.len) != MV_OK)
			abort();
		same_or_abort(&b, data, size);
	}
	mv_buf_reset(&a);
	mv_buf_reset(&b);
	if (mv_utf7_encode(&a, (const char *)data, size) == MV_OK) {
		if (mv_utf7_decode(&b, (const char *)a.data, a.len) != MV_OK)
			abort();
		same_or_abort(&b, data, size);
	}
	mv_buf_release(&a);
	mv_buf_release(&b);
	return 0;
}
