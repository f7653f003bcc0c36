/*
 * t.h - the unit test harness: each check prints "PASS: name" or
 * "FAIL: name (file:line: expression)" and main returns non-zero if any
 * failed.  tests/run.sh counts the lines.
 */
#ifndef MV_T_H
#define MV_T_H

#include <stdio.h>

static int t_failed;
static int t_passed;

#define T_CHECK(name, expr)                                                  \
	do {                                                                 \
		if (expr) {                                                  \
			t_passed++;                                          \
			printf("PASS: %s\n", (name));                        \
		} else {                                                     \
			t_failed++;                                          \
			printf("FAIL: %s (%s:%d: %s)\n", (name), __FILE__,   \
			       __LINE__, #expr);                             \
		}                                                            \
	} while (0)

/* Silent unless it fails: for checks inside loops. */
#define T_ASSERT(name, expr)                                                 \
	do {                                                                 \
		if (!(expr)) {                                               \
			t_failed++;                                          \
			printf("FAIL: %s (%s:%d: %s)\n", (name), __FILE__,   \
			       __LINE__, #expr);                             \
		}                                                            \
	} while (0)

#define T_DONE() (fflush(stdout), t_failed ? 1 : 0)

#endif
