/* tests/unit/unit.h: a minimal test harness: each TEST prints one PASS/FAIL line; tests/run.sh counts them. */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_fail_count;
static int unit_total_failed;
static const char *unit_skip_why;

/* Inside a test: it cannot run here (say why); it is reported as SKIP, never as PASS. */
#define SKIP(why) do { unit_skip_why = (why); return; } while (0)

#define CHECK(cond) do { \
	if (!(cond)) { \
		printf("  check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		unit_fail_count++; \
	} \
} while (0)

#define RUN(fn) do { \
	unit_fail_count = 0; \
	unit_skip_why = NULL; \
	fn(); \
	if (unit_skip_why && !unit_fail_count) \
		printf("SKIP %s: %s\n", #fn, unit_skip_why); \
	else \
		printf("%s %s\n", unit_fail_count ? "FAIL" : "PASS", #fn); \
	unit_total_failed += unit_fail_count != 0; \
} while (0)

#define UNIT_DONE() (unit_total_failed ? 1 : 0)
#endif
