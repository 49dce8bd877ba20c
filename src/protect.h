/* Strict mode (MPISHM_PROTECT): the pages a broadcast shared are mapped read-only, and a
 * SIGSEGV handler tells a write into them from any other fault.
 *  - readonly: the writing rank stops with a message naming the array, the call site that
 *    marked it, the offset written and the writer's backtrace;
 *  - warn: the written page becomes private and writable, the run goes on, and the write is
 *    counted for the report.
 * The handler is async-signal-safe, chains to the handler installed before it, and leaves
 * faults outside shared arrays to that handler untouched. Known limit: MPI writing into a
 * shared array through the kernel (UCX's CMA transport, a large MPI_Recv into it) makes UCX
 * abort instead of faulting (see protect.c). */
#ifndef MPISHM_PROTECT_H
#define MPISHM_PROTECT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { PROTECT_OFF = 0, PROTECT_READONLY = 1, PROTECT_WARN = 2 } protect_mode;

/* Install the handler (at MPI_Init, after PMPI_Init, so that MPI's own handler is the one
 * chained to), through libc's sigaction, never an interposed one. PROTECT_OFF installs
 * nothing; a second call only changes the mode. Returns 0 or an errno value. */
int protect_init(protect_mode mode);

/* The mode in effect (PROTECT_OFF until protect_init). */
protect_mode protect_current(void);

/* Make [start, start+len) (whole pages just mapped from a segment, inside the marked array
 * [base, base+bytes) that was marked at `marked_pc`, a captured call site or 0; `how` says
 * how it came to be shared: "marked at", "selected by MPISHM_AUTO at") read-only
 * and watch it; a range already watched (a new broadcast into the same array) keeps its
 * slot. Not for a signal handler. Returns 0 (also when strict mode is off), or an errno
 * value, after a warning: ENOSPC when the fixed table of watched ranges is full. The pages
 * then stay copy-on-write and unwatched. */
int protect_add(uintptr_t start, size_t len, uintptr_t base, size_t bytes, uintptr_t marked_pc,
                const char *how);

/* Stop watching every range overlapping [start, start+len), before its pages are made
 * private or unmapped; their pages become writable (copy-on-write) again. */
void protect_remove(uintptr_t start, size_t len);

/* Writes caught in warn mode, for the report. */
typedef struct protect_violation {
    uintptr_t base;       /* the marked array */
    size_t bytes;
    uintptr_t marked_pc;  /* where it was marked (0: unknown) */
    size_t offset;        /* first offset written */
    unsigned long count;  /* pages made private */
    uintptr_t writer_pc;  /* the writing code: the faulting instruction, or, when that is in
                             the C library (memcpy, memset), the innermost caller outside it;
                             an address inside the instruction, as callsite.h captures */
} protect_violation;

/* Copy up to `max` violations (one per array and writer) into out; returns how many exist. */
size_t protect_violations(protect_violation *out, size_t max);

#endif
