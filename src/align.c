/* Aligned large allocations (align.h): the malloc family's interposers. realloc's is in
 * release.c, with free's, and calls align_realloc. */
#define _GNU_SOURCE
#include "align.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator.h"
#include "mpishm_internal.h"
#include "options.h"

#define HUGE_PAGE ((size_t)2 << 20)

size_t align_from = SIZE_MAX;
static size_t page = 4096;
static int perturbed; /* glibc fills new blocks (MALLOC_PERTURB_): calloc clears them all */

static size_t alignment_for(size_t n) { return n >= HUGE_PAGE ? HUGE_PAGE : page; }

/* An alignment the caller asked for, raised to alignment_for(n) where it is a smaller power
 * of two (anything else is left for the allocator to refuse as it would). */
static size_t raised(size_t asked, size_t n)
{
    size_t a = alignment_for(n);
    return asked < a && asked && !(asked & (asked - 1)) ? a : asked;
}

/* An aligned block; where its slack of address space (up to 2 MiB) is refused (ulimit -v,
 * strict overcommit), the allocator's own block: alignment never makes an allocation fail
 * that would succeed without it. */
static void *aligned_block(size_t n)
{
    void *p = NEXT(memalign)(alignment_for(n), n);
    return p ? p : NEXT(malloc)(n);
}

/* Zero the pages of [p, p+n) that may hold data: those present or swapped out, as
 * /proc/self/pagemap says (bits 63 and 62); the others are still the kernel's zero-fill of
 * anonymous private memory (what glibc's heap is), and touching them would cost memory
 * that calloc does not. Without pagemap, all. */
static void clear_used(void *p, size_t n)
{
    uintptr_t start = (uintptr_t)p, end = start + n;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uint64_t e[512];
    for (uintptr_t pg = start & ~(uintptr_t)(page - 1); pg < end; pg += 512 * page) {
        ssize_t got = fd < 0 ? -1 : pread(fd, e, sizeof e, (off_t)(pg / page * sizeof *e));
        for (ssize_t i = 0; i < (got < 0 ? 512 : got / (ssize_t)sizeof *e); i++) {
            uintptr_t lo = pg + (size_t)i * page, hi = lo + page;
            lo = lo < start ? start : lo;
            hi = hi > end ? end : hi;
            if (lo < hi && (got < 0 || e[i] >> 62))
                memset((void *)lo, 0, hi - lo);
        }
    }
    if (fd >= 0)
        close(fd);
}

/* Only glibc's blocks are known to be fresh (an mmapped chunk) or not: another allocator's
 * calloc keeps its own, unaligned block rather than clearing pages it may know are zero. */
static void *large_calloc(size_t k, size_t n)
{
    size_t bytes;
    if (__builtin_mul_overflow(k, n, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!allocator_is_glibc())
        return NEXT(calloc)(k, n);
    void *p = aligned_block(bytes);
    if (p && (perturbed || !glibc_mmapped(p)))
        clear_used(p, bytes);
    return p;
}

MPISHM_EXPORT void *malloc(size_t n)
{
    return __builtin_expect(align_large(n), 0) ? aligned_block(n) : NEXT(malloc)(n);
}

MPISHM_EXPORT void *calloc(size_t k, size_t n)
{
    /* (a product that wraps below the threshold: the allocator's calloc refuses it) */
    return __builtin_expect(align_large(k * n), 0) ? large_calloc(k, n) : NEXT(calloc)(k, n);
}

MPISHM_EXPORT int posix_memalign(void **out, size_t alignment, size_t n)
{
    if (__builtin_expect(align_large(n), 0) && alignment % sizeof(void *) == 0)
        alignment = raised(alignment, n);
    return NEXT(posix_memalign)(out, alignment, n);
}

MPISHM_EXPORT void *aligned_alloc(size_t alignment, size_t n)
{
    /* (raised, through memalign: a size need not be a multiple of the raised alignment) */
    if (__builtin_expect(align_large(n), 0) && raised(alignment, n) != alignment)
        return NEXT(memalign)(raised(alignment, n), n);
    return NEXT(aligned_alloc)(alignment, n);
}

MPISHM_EXPORT void *memalign(size_t alignment, size_t n)
{
    if (__builtin_expect(align_large(n), 0))
        alignment = raised(alignment, n);
    return NEXT(memalign)(alignment, n);
}

MPISHM_EXPORT void *valloc(size_t n) { return memalign(page, n); }

MPISHM_EXPORT void *pvalloc(size_t n)
{
    size_t rounded = (n + page - 1) & ~(page - 1);
    if (rounded < n) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(page, rounded ? rounded : page);
}

/* p's first `keep` bytes moved into a new aligned block of n bytes, p freed; NULL (p
 * untouched) where there is no room. */
static void *move(void *p, size_t keep, size_t n)
{
    void *q = aligned_block(n);
    if (!q)
        return NULL;
    memcpy(q, p, keep < n ? keep : n);
    NEXT(free)(p);
    return q;
}

void *align_realloc(void *p, size_t n)
{
    if (!p)
        return aligned_block(n);
    size_t had = malloc_usable_size(p);
    /* A block that crosses the threshold now moves once into an aligned one (a copy of less
     * than the threshold). One already large grows or shrinks as the allocator does it:
     * glibc moves an mmapped chunk with mremap, which copies nothing and never holds both;
     * moving it here would double the peak and copy it all at every step (grown to 512 MiB
     * in 1 MiB steps: 0.66 s and 513 MiB plain, 142 s and 1026 MiB moved). Its new address
     * may then lie anywhere modulo 2 MiB. */
    if (!align_large(had))
        return move(p, had, n);
    return NEXT(realloc)(p, n);
}

__attribute__((constructor(102))) static void align_start(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    const char *tunables = getenv("GLIBC_TUNABLES");
    perturbed = getenv("MALLOC_PERTURB_") || (tunables && strstr(tunables, "malloc.perturb"));
    if (!option_from_env(OPT_ALIGN) || option_from_env(OPT_DISABLE))
        return;
    /* (the floor MPI_Init puts under the threshold: a buffer below two pages is never shared) */
    size_t from = (size_t)option_from_env(OPT_THRESHOLD);
    __atomic_store_n(&align_from, from > 2 * page ? from : 2 * page, __ATOMIC_RELAXED);
}
