/*
 * fuzz_proof.c - libFuzzer target for the inclusion proof checker
 * (src/proof.c, format-spec/FORMAT.md 11.1).  Nothing may crash, read out
 * of bounds, leak or overflow, whatever the proof text.
 *
 * Input: the proof text, checked against a fixed small message (the one
 * tests/unit/test_verify.c proves when it writes this target's seeds).
 * The required signer is the fingerprint of the key on the input's own
 * "signer: " line when there is one, so mutations get past the signer
 * check and reach the note, Merkle, chunk and decoding code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "header.h"
#include "proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char msg[] = "Subject: fuzz\r\n\r\nhello\r\n";

/* The fingerprint of the key on the first "\nsigner: " line, if any. */
static void signer_of(const uint8_t *data, size_t size, char fp[65])
{
	static const char tag[] = "\nsigner: ";
	const uint8_t *p = memmem(data, size, tag, sizeof tag - 1), *nl;
	uint8_t pk[MV_ED_PK_LEN];

	memset(fp, 'a', 64);
	fp[64] = '\0';
	if (!p)
		return;
	p += sizeof tag - 1;
	nl = memchr(p, '\n', size - (size_t)(p - data));
	if (nl && mv_b64_decode(pk, sizeof pk, (const char *)p, (size_t)(nl - p)) ==
			  (long)sizeof pk)
		mv_signer_fingerprint(fp, pk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct mv_proof_result r;
	struct mv_error e;
	char fp[65];

	if (!ready) {
		mv_error_clear(&e);
		if (mv_crypto_init(&e) != MV_OK)
			abort();
		ready = 1;
	}
	signer_of(data, size, fp);
	mv_error_clear(&e);
	if (mv_proof_check((const char *)data, size, (const uint8_t *)msg, sizeof msg - 1, fp,
			   &r, &e) == MV_OK) {
		/* Only a proof of exactly these bytes may pass. */
		if (r.size != sizeof msg - 1)
			abort();
	} else if (e.code == MV_OK || e.msg[0] == '\0') {
		abort();   /* a failure must say what failed */
	}
	return 0;
}
