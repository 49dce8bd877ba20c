/* The allocator and mmap family behind this library's interposers (release.c, align.c): the
 * next definitions of malloc's family, free, realloc, munmap and mremap, found with dlsym once
 * that is safe. Until then the table holds stand-ins that serve from the sanitizer runtime's
 * allocator (before this library's constructor: its runtime frees and allocates while it
 * starts, before dlsym works), from glibc's (while dlsym itself allocates), or from the system
 * calls. Every entry is callable at any time: the interposers load and call, nothing else. */
#ifndef MPISHM_ALLOCATOR_H
#define MPISHM_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct allocator_fns {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
} allocator_fns;

/* Read it through NEXT(fn): one load. */
extern allocator_fns allocator_next;
#define NEXT(fn) __atomic_load_n(&allocator_next.fn, __ATOMIC_ACQUIRE)

/* Set by this library's constructor: from then on dlsym may be called, and marks exist. */
extern int allocator_loaded;
static inline int allocator_started(void) { return __atomic_load_n(&allocator_loaded, __ATOMIC_ACQUIRE); }

/* Whether the next malloc is glibc's, whose chunk header may then be read (glibc_mmapped);
 * 0 while unknown (before the lookup) and for any other allocator (tcmalloc, jemalloc, a
 * sanitizer runtime's). */
int allocator_is_glibc(void);

/* Whether p, a block of glibc's allocator, is an mmapped chunk (its own fresh mapping, zero
 * until written). Only for glibc's blocks (allocator_is_glibc). */
static inline int glibc_mmapped(const void *p)
{
    return (*(const size_t *)((uintptr_t)p - sizeof(size_t)) & 2) != 0; /* IS_MMAPPED */
}

#endif
