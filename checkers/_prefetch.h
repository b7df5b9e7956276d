/* prefetch(p): ask for the cache line at p now, to be read a little later. The C loops over a
 * history's millions of objects wait on memory more than they compute (checkers/_jsonl.c,
 * checkers/elle/_edges.h). An asm statement: GCC 12's dead code elimination drops a
 * __builtin_prefetch whose address it had to load. */
#ifndef SPLITBRAIN_PREFETCH_H
#define SPLITBRAIN_PREFETCH_H

static inline void prefetch(const void *p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetcht0 (%0)" : : "r"(p));
#elif defined(__GNUC__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

#endif
