/* test_imap_match.c - folder patterns of --folder / --exclude. */
#include "imap_pull.h"
#include "t.h"

int main(void)
{
	static const struct { const char *pat, *name; int want; } c[] = {
		{ "INBOX", "INBOX", 1 },
		{ "INBOX", "inbox", 1 },                 /* INBOX in any case */
		{ "inbox/%", "INBOX/Sub", 1 },
		{ "Inbox", "Inboxes", 0 },
		{ "Work", "work", 0 },                   /* other names: exact */
		{ "*", "A/B/C", 1 },
		{ "%", "A/B", 0 },                       /* % stops at '/' */
		{ "%", "A", 1 },
		{ "A/%", "A/B", 1 },
		{ "A/%", "A/B/C", 0 },
		{ "A/*", "A/B/C", 1 },
		{ "A/*", "A", 0 },
		{ "A*", "A", 1 },
		{ "*/Old", "Archive/2020/Old", 1 },
		{ "%/Old", "Archive/2020/Old", 0 },
		{ "été/*", "été/2024", 1 },             /* UTF-8 compared as bytes */
		{ "*x*y*", "axbyc", 1 },
		{ "*x*y*", "aybxc", 0 },
		{ "", "", 1 },
		{ "", "A", 0 },
		{ "**%%", "anything", 1 },
	};

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char name[128];

		snprintf(name, sizeof name, "pattern '%s' %s '%s'", c[i].pat,
			 c[i].want ? "matches" : "does not match", c[i].name);
		T_CHECK(name, mv_imap_folder_match(c[i].pat, c[i].name) == c[i].want);
	}
	return T_DONE();
}
