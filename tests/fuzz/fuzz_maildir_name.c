/*
 * fuzz_maildir_name.c - the Maildir file name splitter and the
 * dovecot-keywords parser over arbitrary bytes.  The input is used both
 * as a file name (cut at its first NUL) and as a keywords file; results
 * that break the documented shape call abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildir.h"
#include "msgmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[1024];
	size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
	size_t base_len;
	uint32_t flags;
	char letters[27];
	char *names[26];

	memcpy(name, data, n);
	name[n] = '\0';
	if (mv_maildir_parse_name(name, &base_len, &flags, letters) == 0) {
		size_t len = strlen(name), k = strlen(letters);

		if (base_len == 0 || base_len > len || len > 255 ||
		    memchr(name, ':', base_len) || (flags & ~MV_FLAG_ALL) || k > 26)
			abort();
		for (size_t i = 0; i < k; i++)
			if (letters[i] < 'a' || letters[i] > 'z' ||
			    (i > 0 && letters[i - 1] >= letters[i]))
				abort();
	}
	mv_maildir_parse_keywords((const char *)data, size, names);
	for (int i = 0; i < 26; i++) {
		if (!names[i])
			continue;
		if (strlen(names[i]) == 0 || strlen(names[i]) > MV_MAX_KEYWORD_LEN ||
		    strpbrk(names[i], " \t\r\n(){%*\"\\]"))
			abort();
		free(names[i]);
	}
	return 0;
}
