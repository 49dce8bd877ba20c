/* Aligned large allocations. A node copy in 2 MiB pages can be mapped with page-middle
 * directory entries only where a rank's buffer and the copy's file offset agree modulo
 * 2 MiB, and all ranks of a node map one copy; large malloc'ed tables start at addresses
 * that differ modulo 2 MiB from one process to the next. So blocks of at least
 * MPISHM_THRESHOLD from the malloc family (and from C++ new, Fortran ALLOCATE and numpy,
 * which go through it) start on a 2 MiB boundary, the same on every rank; a block below
 * 2 MiB can hold no such page and starts on a page boundary (the same in-page offset on
 * every rank, what one node copy needs). Options are read when the library loads
 * (allocations come before MPI_Init): MPISHM_ALIGN=0 or MPISHM_DISABLE=1 turn it off. */
#ifndef MPISHM_ALIGN_H
#define MPISHM_ALIGN_H

#include <stddef.h>

/* The smallest block that is aligned; SIZE_MAX: none (off, or before the constructor). */
extern size_t align_from;

/* Whether a block of n bytes is aligned (one load and one compare: the small blocks' cost). */
static inline int align_large(size_t n) { return n >= __atomic_load_n(&align_from, __ATOMIC_RELAXED); }

/* realloc(p, n) for a large n (align_large): an aligned block holding p's content (p itself
 * where it is aligned and n fits, as a rule), or NULL with p untouched. Marks and watched
 * copies of p are the caller's to end first. */
void *align_realloc(void *p, size_t n);

#endif
