#ifndef BENCH_FILL_H
#define BENCH_FILL_H

/* Shared by the benchmarks: a store with accounts userNNNNNN@example.com. */

#include <stdbool.h>
#include <stddef.h>

double bench_now(void);
void bench_address(unsigned int i, char *buf, size_t size);
/* Creates accounts [first, last) in the store at dir, every third one
   migrated, the others queued; returns creates per second. */
double bench_fill(const char *dir, unsigned int first, unsigned int last, bool bulk);

#endif
