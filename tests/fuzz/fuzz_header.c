/*
 * fuzz_header.c - the header payload parser and the STANZA record parser
 * (format-spec 4) on arbitrary bytes, then an unlock attempt with a
 * throwaway X25519 key (which must fail cleanly, never crash).
 */
#include <stdint.h>
#include <string.h>

#include "header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct mv_header h;
	struct mv_buf store;
	struct mv_error e;
	struct mv_keyring *kr = NULL;
	uint8_t sk[32], pk[32];
	struct mv_creds c;

	if (!init) {
		mv_crypto_init(NULL);
		init = 1;
	}
	mv_header_init(&h);
	mv_buf_init(&store, 64 * sizeof(void *));
	mv_error_clear(&e);
	if (mv_header_parse(&h, data, size, &e) == MV_OK) {
		memset(sk, 7, sizeof sk);
		mv_x25519_public(pk, sk);
		memset(&c, 0, sizeof c);
		c.x_sk = sk;
		c.x_pk = pk;
		/* Feed the tail of the input as a granted stanza too. */
		mv_error_clear(&e);
		mv_header_add_stanza_record(&h, &store, data + size / 2, size - size / 2, 1, &e);
		mv_error_clear(&e);
		if (mv_header_unlock(&h, &c, &kr, &e) == MV_OK)
			mv_keyring_free(kr);
	}
	mv_stanza_store_release(&store);
	mv_header_release(&h);
	return 0;
}
