// Proves, before the tests run, that a sanitizer report in an addon loaded by node does reach
// us: scripts/asan/run.sh loads this into node once per kind of bug and expects each to fail.
// Loaded with process.dlopen; it registers no module, its constructor does the damage.
#include <stdlib.h>
#include <string.h>

void *volatile nlkit_canary_keep;

__attribute__((constructor)) static void canary(void) {
  const char *kind = getenv("NLKIT_ASAN_CANARY");
  if (!kind) return;
  if (!strcmp(kind, "leak")) {
    nlkit_canary_keep = malloc(4242);
    nlkit_canary_keep = NULL;
  } else if (!strcmp(kind, "overflow")) {
    volatile char *p = malloc(8);  // volatile: the compiler may not drop the bad write as dead
    p[atoi("8")] = 1;
    free((void *)p);
  } else if (!strcmp(kind, "ub")) {
    volatile int big = 0x7fffffff;
    volatile int one = atoi("1");
    big += one;
  }
}
