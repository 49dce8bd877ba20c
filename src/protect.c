/* Strict mode (MPISHM_PROTECT): the pages a broadcast shared are made read-only, and a
 * SIGSEGV handler tells a write into them from every other fault.
 *
 * What the handler touches, and how (it must be async-signal-safe, in any thread):
 *  - the watch table (one slot per shared range) is written under a mutex by protect_add and
 *    protect_remove and read lock-free by the handler; each slot is a seqlock, so the handler
 *    never sees half of an update;
 *  - warn-mode counts live in a fixed table claimed with compare-and-swap;
 *  - messages and the writer's frames go through sigsafe.h (its objects table is refreshed
 *    under the watch table's mutex, outside the handler);
 *  - mprotect is a plain system call in glibc, like the listed write and read.
 *
 * The handler is installed through libc's own sigaction: UCX ships libucs_signal.so, which,
 * when preloaded, silently ignores every later sigaction() on SIGSEGV. UCX itself installs a
 * SIGSEGV handler when libucs loads (before main); it is the previous handler chained to,
 * unless the application replaced it before MPI_Init.
 *
 * Known limits:
 *  - MPI writing into a read-only shared page (a later MPI_Recv, or a collective other than a
 *    broadcast, into a shared array): a copy done in user space (UCX's shared-memory eager
 *    path, small messages) is caught like any write, but a copy done by the kernel (UCX's CMA
 *    transport: process_vm_readv into the receiver's page) fails with EFAULT, and UCX aborts
 *    the rank ("process_vm_readv(...) returned -1: Bad address") instead of faulting, in warn
 *    mode too. Broadcasts are safe: the library makes the pages writable (protect_remove)
 *    before one falls back to MPI_Bcast, and a shared one maps fresh pages.
 *  - A SIGSEGV handler the application installs after MPI_Init replaces this one: writes are
 *    then no longer told apart (the pages stay read-only, the application's handler sees them).
 *  - The root that refills a shared array for a new broadcast writes into it: in readonly mode
 *    it must unmark the array first (and mark it again). */
#define _GNU_SOURCE
#include "protect.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/lib-names.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "callsite.h"
#include "log.h"
#include "sigsafe.h"

#if __has_include(<mpi.h>) /* the unit tests build this file without MPI */
#include <mpi.h>
#endif

static protect_mode mode; /* atomic: the handler reads it */
static size_t page_size;

/* ---- The watch table. */

#define WATCH_SLOTS 4096
#define MARKED_TEXT 200

typedef struct watch {
    unsigned seq;       /* seqlock: odd while the slot is rewritten */
    uintptr_t start;    /* the read-only range; 0: free */
    size_t len;
    uintptr_t base;     /* the marked array */
    size_t bytes;
    uintptr_t marked_pc;
    int warned;         /* warn mode: the first write's line was printed */
    char marked[MARKED_TEXT]; /* "marked at load_table+0x2e (app)", by protect_add */
} watch;

static watch watches[WATCH_SLOTS];
static size_t watch_high; /* slots in use are below it */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long removals; /* ranges unwatched so far, see retry_once */

static void watch_begin(watch *w)
{
    __atomic_store_n(&w->seq, w->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void watch_end(watch *w) { __atomic_store_n(&w->seq, w->seq + 1, __ATOMIC_RELEASE); }

/* A consistent copy of slot w (signal-safe). Returns 1 when it is in use. */
static int watch_read(const watch *w, watch *out)
{
    for (int tries = 0; tries < 64; tries++) {
        unsigned s = __atomic_load_n(&w->seq, __ATOMIC_ACQUIRE);
        if (s & 1)
            continue;
        memcpy(out, w, sizeof *out);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&w->seq, __ATOMIC_RELAXED) == s)
            return out->start != 0;
    }
    return 0;
}

/* The slot whose range holds addr, its copy in *out (signal-safe), or NULL. */
static watch *watch_find(uintptr_t addr, watch *out)
{
    size_t n = __atomic_load_n(&watch_high, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n; i++) {
        watch *w = &watches[i];
        uintptr_t s = __atomic_load_n(&w->start, __ATOMIC_RELAXED);
        size_t len = __atomic_load_n(&w->len, __ATOMIC_RELAXED);
        if (s && addr - s < len && watch_read(w, out) && addr - out->start < out->len)
            return w;
    }
    return NULL;
}

/* The pages become writable (copy-on-write) before the slot is freed, so that a write the
 * handler can no longer match is one that succeeds when retried. */
static void watch_clear(watch *w)
{
    __atomic_add_fetch(&removals, 1, __ATOMIC_SEQ_CST);
    mprotect((void *)w->start, w->len, PROT_READ | PROT_WRITE);
    watch_begin(w);
    __atomic_store_n(&w->start, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&w->len, 0, __ATOMIC_RELAXED);
    watch_end(w);
}

/* Unwatch every slot overlapping [start, start+len) except one covering exactly that range,
 * which is returned (NULL if none). Called with watch_lock held. */
static watch *unwatch_overlapping(uintptr_t start, size_t len, int keep_exact)
{
    watch *exact = NULL;
    for (size_t i = 0; i < watch_high; i++) {
        watch *w = &watches[i];
        if (!w->start || w->start >= start + len || start >= w->start + w->len)
            continue;
        if (keep_exact && !exact && w->start == start && w->len == len)
            exact = w;
        else
            watch_clear(w);
    }
    return exact;
}

static watch *free_slot(void)
{
    for (size_t i = 0; i < WATCH_SLOTS; i++)
        if (!watches[i].start) {
            if (i >= watch_high)
                __atomic_store_n(&watch_high, i + 1, __ATOMIC_RELEASE);
            __atomic_store_n(&watches[i].warned, 0, __ATOMIC_RELAXED);
            return &watches[i];
        }
    return NULL;
}

/* Publish the slot, then make the pages read-only: a fault in them always finds the slot.
 * Called with watch_lock held. */
static int watch_install(uintptr_t start, size_t len, uintptr_t base, size_t bytes,
                         uintptr_t marked_pc, const char *marked)
{
    watch *w = unwatch_overlapping(start, len, 1); /* a new broadcast into the same array */
    if (!w && !(w = free_slot()))
        return ENOSPC;
    watch_begin(w);
    w->base = base, w->bytes = bytes, w->marked_pc = marked_pc;
    memcpy(w->marked, marked, MARKED_TEXT);
    __atomic_store_n(&w->len, len, __ATOMIC_RELAXED);
    __atomic_store_n(&w->start, start, __ATOMIC_RELAXED);
    watch_end(w);
    if (mprotect((void *)start, len, PROT_READ) == 0)
        return 0;
    int err = errno;
    watch_clear(w);
    return err;
}

/* ---- Warn mode: counts per array and writer, claimed lock-free by the handler. */

#define MAX_VIOLATIONS 256

static struct {
    int state; /* 0 free, 1 being filled, 2 ready */
    protect_violation v;
} violations[MAX_VIOLATIONS];

static int same_writer(const protect_violation *a, const protect_violation *b)
{
    return a->base == b->base && a->bytes == b->bytes && a->writer_pc == b->writer_pc;
}

/* Count one page made private (signal-safe). Two threads may claim two entries for one
 * writer at once; protect_violations merges them. */
static void count_violation(const watch *w, uintptr_t addr, uintptr_t writer)
{
    protect_violation v = {.base = w->base, .bytes = w->bytes, .marked_pc = w->marked_pc,
                           .offset = addr - w->base, .count = 1, .writer_pc = writer};
    for (size_t i = 0; i < MAX_VIOLATIONS; i++) {
        int st = __atomic_load_n(&violations[i].state, __ATOMIC_ACQUIRE), free_ = 0;
        if (st == 2 && same_writer(&violations[i].v, &v)) {
            __atomic_add_fetch(&violations[i].v.count, 1, __ATOMIC_RELAXED);
            return;
        }
        if (st == 0 && __atomic_compare_exchange_n(&violations[i].state, &free_, 1, 0,
                                                   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            violations[i].v = v;
            __atomic_store_n(&violations[i].state, 2, __ATOMIC_RELEASE);
            return;
        }
    }
    /* table full: the write still becomes private, it is just not counted */
}

/* ---- The handler. */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
static sigaction_fn real_sigaction;
static struct sigaction previous; /* written before the handler is installed */

/* Was the fault a write? (A read of a PROT_READ page never faults; an instruction fetch
 * from one does.) */
static int is_write(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0; /* the page-fault error code's W bit */
#else
    (void)uc;
    return 1;
#endif
}

/* "libmpishm[1]: write into shared array 0x7f.. (4194304 bytes, marked at load_table+0x2e
 * (app)) at offset 1000000" + outcome; "selected by MPISHM_AUTO at" for a selected array */
static SIGSAFE_OUT_OF_LINE void say_write(const watch *w, uintptr_t addr, const char *outcome)
{
    sigsafe_line l;
    sigsafe_line_start(&l);
    sigsafe_put_str(&l, "write into shared array ");
    sigsafe_put_hex(&l, w->base);
    sigsafe_put_str(&l, " (");
    sigsafe_put_num(&l, w->bytes, 10);
    sigsafe_put_str(&l, " bytes, ");
    sigsafe_put_str(&l, w->marked);
    sigsafe_put_str(&l, ") at offset ");
    sigsafe_put_num(&l, addr - w->base, 10);
    sigsafe_put_str(&l, outcome);
    sigsafe_line_emit(&l);
}

/* Warn mode: make the written page private and writable; the write, retried, copies it.
 * Returns 0, or -1 when the protection could not be changed. */
static int let_write(watch *slot, const watch *w, uintptr_t addr, ucontext_t *uc)
{
    uintptr_t page = addr & ~(uintptr_t)(page_size - 1);
    /* mprotect is a plain system call; when splitting the mapping fails (too many
     * mappings), the whole range becomes writable, which merges instead */
    if (mprotect((void *)page, page_size, PROT_READ | PROT_WRITE) != 0 &&
        mprotect((void *)w->start, w->len, PROT_READ | PROT_WRITE) != 0)
        return -1;
    count_violation(w, addr, sigsafe_frame_outside_libc(uc)); /* a memcpy: its caller */
    if (!__atomic_exchange_n(&slot->warned, 1, __ATOMIC_RELAXED))
        say_write(w, addr, ": the page is now private (MPISHM_PROTECT=warn)");
    return 0;
}

static SIGSAFE_OUT_OF_LINE void report_write(const watch *w, uintptr_t addr, ucontext_t *uc)
{
    say_write(w, addr, __atomic_load_n(&mode, __ATOMIC_RELAXED) == PROTECT_WARN
                           ? ": the page could not be made private (MPISHM_PROTECT=warn), "
                             "this rank stops"
                           : ": MPISHM_PROTECT=readonly stops this rank");
    sigsafe_say("the array is shared read-only by the node's ranks since a broadcast; unmark "
                "it before writing, or run with MPISHM_PROTECT=warn. Written from:");
    sigsafe_backtrace(uc, "(only the writing instruction: too little alternate signal stack "
                          "for a backtrace)");
}

static void restore_default(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    real_sigaction(sig, &dfl, NULL);
}

/* Hand the fault to the handler that was there before, as the kernel would have. With the
 * default action, restore it and return: the faulting instruction runs again and the kernel
 * kills the process with SIGSEGV (a signal sent with kill() is sent again). */
static void pass_on(int sig, siginfo_t *si, void *uc)
{
    void (*h)(int) = previous.sa_handler;
    if (h == SIG_IGN && si->si_code <= 0)
        return; /* sent with kill() and ignored, as before */
    if (h != SIG_DFL && h != SIG_IGN) {
        if (previous.sa_flags & SA_SIGINFO)
            previous.sa_sigaction(sig, si, uc);
        else
            h(sig);
        return;
    }
    restore_default(sig);
    if (si->si_code <= 0)
        raise(sig); /* pending until this handler returns */
}

/* A write that missed the table may have raced with protect_remove, which makes the pages
 * writable before it frees the slot: retry such a write once per address and removal. */
static __thread uintptr_t retried_addr __attribute__((tls_model("initial-exec")));
static __thread unsigned long retried_at __attribute__((tls_model("initial-exec")));

static int retry_once(uintptr_t addr)
{
    unsigned long r = __atomic_load_n(&removals, __ATOMIC_SEQ_CST);
    if (r == 0 || (retried_addr == addr && retried_at == r))
        return 0;
    retried_addr = addr, retried_at = r;
    return 1;
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    int saved = errno;
    ucontext_t *uc = ctx;
    uintptr_t addr = (uintptr_t)si->si_addr;
    int ours = si->si_code == SEGV_ACCERR && is_write(uc);
    watch w, *slot = ours ? watch_find(addr, &w) : NULL;
    if (slot && __atomic_load_n(&mode, __ATOMIC_RELAXED) == PROTECT_WARN &&
        let_write(slot, &w, addr, uc) == 0) {
        errno = saved;
        return;
    }
    if (!slot && ours && retry_once(addr)) {
        errno = saved;
        return;
    }
    if (slot)
        report_write(&w, addr, uc);
    pass_on(sig, si, ctx);
    if (slot)
        restore_default(sig); /* the previous handler returned: the retried write must kill */
    errno = saved;
}

/* ---- Setting up. */

/* libc's sigaction itself, not an interposed one (UCX's libucs_signal.so ignores SIGSEGV). */
static sigaction_fn libc_sigaction(void)
{
    void *libc = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
    void *f = libc ? dlsym(libc, "sigaction") : NULL;
    if (libc)
        dlclose(libc);
    return f ? (sigaction_fn)f : sigaction;
}

static int current_rank(void)
{
    int rank = -1;
#if __has_include(<mpi.h>)
    int up = 0;
    if (PMPI_Initialized(&up) == MPI_SUCCESS && up)
        PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
#endif
    return rank;
}

/* Run, once, what the handler calls outside sigsafe.c (sigsafe_init warms up its own): a
 * function called for the first time goes through the dynamic linker's lazy binding, whose
 * resolver needs more stack than a small alternate signal stack has. */
static void warm_up(void)
{
    int saved = errno;
    raise(0); /* signal 0: nothing is sent */
    errno = saved;
}

int protect_init(protect_mode m)
{
    static int installed;
    if (m == PROTECT_OFF)
        return 0;
    pthread_mutex_lock(&watch_lock);
    int rc = 0;
    if (!installed) {
        page_size = (size_t)sysconf(_SC_PAGESIZE);
        real_sigaction = libc_sigaction();
        sigsafe_init(current_rank());
        warm_up();
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK; /* the thread's alternate stack, if it has one */
        sigemptyset(&sa.sa_mask);
        if (real_sigaction(SIGSEGV, NULL, &previous) != 0 ||
            real_sigaction(SIGSEGV, &sa, NULL) != 0)
            rc = errno;
        installed = rc == 0;
    }
    if (rc == 0)
        __atomic_store_n(&mode, m, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&watch_lock);
    return rc;
}

protect_mode protect_current(void) { return __atomic_load_n(&mode, __ATOMIC_ACQUIRE); }

int protect_add(uintptr_t start, size_t len, uintptr_t base, size_t bytes, uintptr_t marked_pc,
                const char *how)
{
    if (protect_current() == PROTECT_OFF || len == 0)
        return 0;
    char marked[MARKED_TEXT], at[MARKED_TEXT] = "an unknown call site";
    if (marked_pc)
        callsite_format(marked_pc, at, sizeof at); /* dladdr: not in the handler */
    snprintf(marked, sizeof marked, "%s %s", how, at);
    pthread_mutex_lock(&watch_lock);
    sigsafe_objects_refresh(); /* MPI may have loaded objects since (UCX transports) */
    int rc = watch_install(start, len, base, bytes, marked_pc, marked);
    pthread_mutex_unlock(&watch_lock);
    if (rc == ENOSPC)
        log_warn("MPISHM_PROTECT: more than %d shared ranges; the array at %p stays "
                 "copy-on-write and its writes are not caught",
                 WATCH_SLOTS, (void *)base);
    else if (rc)
        log_warn("MPISHM_PROTECT: the array at %p could not be made read-only (%s); it stays "
                 "copy-on-write", (void *)base, strerror(rc));
    return rc;
}

void protect_remove(uintptr_t start, size_t len)
{
    if (len == 0 || __atomic_load_n(&watch_high, __ATOMIC_ACQUIRE) == 0)
        return;
    pthread_mutex_lock(&watch_lock);
    unwatch_overlapping(start, len, 0);
    pthread_mutex_unlock(&watch_lock);
}

static int ready(size_t i)
{
    return __atomic_load_n(&violations[i].state, __ATOMIC_ACQUIRE) == 2;
}

/* Entry i's count plus those of later entries for the same array and writer (two threads
 * may have claimed two entries at once); 0 when an earlier entry already counts them. */
static unsigned long merged_count(size_t i)
{
    unsigned long count = 0;
    for (size_t j = 0; j < MAX_VIOLATIONS; j++) {
        if (!ready(j) || !same_writer(&violations[j].v, &violations[i].v))
            continue;
        if (j < i)
            return 0;
        count += __atomic_load_n(&violations[j].v.count, __ATOMIC_RELAXED);
    }
    return count;
}

size_t protect_violations(protect_violation *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < MAX_VIOLATIONS; i++) {
        unsigned long count = ready(i) ? merged_count(i) : 0;
        if (count == 0)
            continue;
        if (n < max) {
            out[n] = violations[i].v;
            out[n].count = count;
        }
        n++;
    }
    return n;
}
