/* Strict mode (MPISHM_PROTECT) as a user meets it: every rank marks a table, rank 0 fills it,
 * one broadcast shares it; then a rank may write into it, or fault somewhere else, and the
 * program says what every rank saw.
 *
 *   protect_check [--bytes N] [--rounds N] [--write-rank R [--offset X] [--pages K]
 *                 [--memset] [--writer-thread] [--recv-bytes N]] [--fault-rank R [--fault-readonly]]
 *                 [--app-handler | --plain-handler] [--arrays N]
 *
 *  --rounds N       N broadcasts into the table; before each later one rank 0 unmarks it,
 *                   refills it and marks it again (a writer must unmark first in readonly mode)
 *  --write-rank R   after the broadcasts rank R writes one byte at --offset (overwrite_table),
 *                   and with --pages K one more byte in each of the K-1 following pages;
 *                   R must see its writes, every other rank its data unchanged
 *  --memset         overwrite_table writes with memset (the C library's code writes)
 *  --writer-thread  rank R writes from a thread of its own (writer_thread), which has an
 *                   alternate signal stack of 8 KiB, as some applications give their threads
 *  --recv-bytes N   rank 0 then sends N bytes that rank --write-rank receives at --offset of
 *                   its table (MPI itself writes into the shared array)
 *  --fault-rank R   rank R then writes through an unmapped pointer (a bug outside any array),
 *                   or with --fault-readonly into a read-only page of its own
 *  --app-handler    install the application's own SIGSEGV handler before MPI_Init: it prints
 *                   "protect_check[R]: application handler caught SIGSEGV at ADDR" and exits 3
 *  --plain-handler  the same with a plain handler (no SA_SIGINFO), which prints
 *                   "protect_check[R]: plain application handler caught SIGSEGV"
 *  --arrays N       before the table, share N small arrays (3 pages each: run with
 *                   MPISHM_THRESHOLD=0), then rank 1 writes into the first (at offset 5000)
 *                   and the last (at offset 6000)
 *
 * Rank 0 also prints which object's handler SIGSEGV has after MPI_Init. Exit status 0 when
 * every check passed on every rank. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "mpishm.h"

static int rank, nranks, failures;

static struct {
    size_t bytes, offset;
    size_t recv_bytes;
    int rounds, write_rank, pages, use_memset, writer_thread, fault_rank, fault_readonly;
    int app_handler, plain_handler, arrays, unmarked;
} opt = {.bytes = 4 << 20, .offset = 1000000, .rounds = 1, .write_rank = -1, .pages = 1,
         .fault_rank = -1};

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        int *flag = !strcmp(a, "--app-handler")      ? &opt.app_handler
                    : !strcmp(a, "--plain-handler")  ? &opt.plain_handler
                    : !strcmp(a, "--writer-thread")  ? &opt.writer_thread
                    : !strcmp(a, "--fault-readonly") ? &opt.fault_readonly
                    : !strcmp(a, "--memset")         ? &opt.use_memset
                    : !strcmp(a, "--unmarked")       ? &opt.unmarked : NULL;
        if (flag) {
            *flag = 1;
            continue;
        }
        if (!strcmp(a, "--bytes")) opt.bytes = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--offset")) opt.offset = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--rounds")) opt.rounds = atoi(v);
        else if (!strcmp(a, "--write-rank")) opt.write_rank = atoi(v);
        else if (!strcmp(a, "--pages")) opt.pages = atoi(v);
        else if (!strcmp(a, "--fault-rank")) opt.fault_rank = atoi(v);
        else if (!strcmp(a, "--recv-bytes")) opt.recv_bytes = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--arrays")) opt.arrays = atoi(v);
        else {
            fprintf(stderr, "protect_check: unknown argument %s\n", a);
            exit(2);
        }
        i++;
    }
}

/* ---- The application's own SIGSEGV handler: async-signal-safe, as a real one should be. */

static void say(const char *s) { write(STDERR_FILENO, s, strlen(s)); }

static void say_hex(uintptr_t v)
{
    char buf[2 + 16], *p = buf + sizeof buf;
    do {
        *--p = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    *--p = 'x', *--p = '0';
    write(STDERR_FILENO, p, (size_t)(buf + sizeof buf - p));
}

static void app_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    char r[2] = {(char)('0' + rank % 10), 0};
    say("protect_check[");
    say(r);
    say("]: application handler caught SIGSEGV at ");
    say_hex((uintptr_t)si->si_addr);
    say("\n");
    _exit(3);
}

static void plain_handler(int sig)
{
    (void)sig;
    char r[2] = {(char)('0' + rank % 10), 0};
    say("protect_check[");
    say(r);
    say("]: plain application handler caught SIGSEGV\n");
    _exit(3);
}

static void install_app_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (opt.plain_handler) {
        sa.sa_handler = plain_handler;
    } else {
        sa.sa_sigaction = app_handler;
        sa.sa_flags = SA_SIGINFO;
    }
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        perror("sigaction");
}

/* Which object's function handles SIGSEGV now (the library installs one only when strict
 * mode is on). */
static void show_handler(void)
{
    struct sigaction sa;
    sigaction(SIGSEGV, NULL, &sa);
    void *h = (void *)sa.sa_handler;
    Dl_info info;
    const char *who = h == (void *)SIG_DFL ? "the default action"
                      : dladdr(h, &info) && info.dli_fname ? info.dli_fname : "?";
    const char *base = strrchr(who, '/');
    printf("rank %d: SIGSEGV handler in %s\n", rank, base ? base + 1 : who);
}

/* ---- The table. */

static size_t wrong_bytes(const unsigned char *p, size_t n, int round)
{
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += p[i] != pattern_byte(i, round);
    return wrong;
}

/* Named functions: the messages must name where the array was marked and who wrote it. */
static __attribute__((noinline)) unsigned char *load_table(size_t bytes)
{
    unsigned char *t = malloc(bytes);
    if (!t || (!opt.unmarked && mpishm_mark_readonly(t, bytes) != MPISHM_SUCCESS)) {
        fprintf(stderr, "protect_check: cannot allocate and mark %zu bytes\n", bytes);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return t;
}

static __attribute__((noinline)) void overwrite_table(volatile unsigned char *t, size_t at,
                                                      unsigned char value)
{
    if (opt.use_memset) {
        memset((unsigned char *)t + at, value, (size_t)opt.use_memset); /* a call: size unknown */
        __asm__ volatile("" ::: "memory"); /* not a tail call: this frame stays on the stack */
    } else {
        t[at] = value;
    }
}

static volatile uintptr_t unmapped = 16; /* read at run time: the compiler cannot see a bug */

/* A bug that has nothing to do with shared arrays. */
static __attribute__((noinline)) void write_elsewhere(void)
{
    volatile char *p = (volatile char *)unmapped;
    if (opt.fault_readonly)
        p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *p = 1;
}

/* Round r's content, broadcast from rank 0; rank 0 unmarks, refills and marks it again
 * after the first round (in readonly mode its shared pages are not writable). */
static void broadcast_round(unsigned char *t, int r)
{
    if (rank == 0 && r > 0)
        CHECK(mpishm_unmark(t) == MPISHM_SUCCESS, "unmark before refilling");
    if (rank == 0)
        pattern_fill(t, opt.bytes, r);
    if (rank == 0 && r > 0)
        CHECK(mpishm_mark_readonly(t, opt.bytes) == MPISHM_SUCCESS, "mark again");
    MPI_Bcast(t, (int)opt.bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    CHECK(wrong_bytes(t, opt.bytes, r) == 0, "round %d: wrong data after the broadcast", r);
    mpishm_info info;
    mpishm_query(t, &info);
    if (rank == 0)
        printf("round %d: %s\n", r, info.shared ? "shared" : "private");
}

static struct {
    unsigned char *t;
    int round;
} job;

static void write_pages(unsigned char *t, int r)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (int k = 0; k < opt.pages; k++) {
        size_t at = opt.offset + (size_t)k * page;
        overwrite_table(t, at, (unsigned char)~pattern_byte(at, r));
        CHECK(t[at] == (unsigned char)~pattern_byte(at, r), "the writer does not see its write");
    }
}

/* The 8 KiB alternate stack has a guard page below it: a handler that needs more faults. */
static __attribute__((noinline)) void *writer_thread(void *unused)
{
    (void)unused;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = 8192;
    char *m = mmap(NULL, page + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ss = {.ss_sp = m + page, .ss_size = size};
    CHECK(m != MAP_FAILED && mprotect(m, page, PROT_NONE) == 0 && sigaltstack(&ss, NULL) == 0,
          "alternate signal stack");
    write_pages(job.t, job.round);
    return NULL;
}

/* The writer writes and sees its writes; every other rank, afterwards, its data unchanged. */
static void write_and_check(unsigned char *t, int r)
{
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == opt.write_rank) {
        pthread_t th;
        job.t = t, job.round = r;
        if (opt.writer_thread)
            CHECK(pthread_create(&th, NULL, writer_thread, NULL) == 0 && !pthread_join(th, NULL),
                  "writer thread");
        else
            write_pages(t, r);
        CHECK(wrong_bytes(t, opt.bytes, r) == (size_t)opt.pages, "the writer's other bytes changed");
        printf("rank %d: sees its own write\n", rank);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank != opt.write_rank) {
        size_t wrong = wrong_bytes(t, opt.bytes, r);
        CHECK(wrong == 0, "%zu bytes changed by rank %d's write", wrong, opt.write_rank);
        if (wrong == 0)
            printf("rank %d: data intact after rank %d's write\n", rank, opt.write_rank);
    }
}

/* MPI writes into the shared array: rank 0 sends, the writer receives into its table. */
static void receive_into(unsigned char *t, int r)
{
    unsigned char *msg = malloc(opt.recv_bytes);
    memset(msg, 0xA5, opt.recv_bytes);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        MPI_Send(msg, (int)opt.recv_bytes, MPI_BYTE, opt.write_rank, 0, MPI_COMM_WORLD);
    if (rank == opt.write_rank) {
        MPI_Recv(t + opt.offset, (int)opt.recv_bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        CHECK(!memcmp(t + opt.offset, msg, opt.recv_bytes), "the message did not arrive");
        printf("rank %d: received %zu bytes into the table\n", rank, opt.recv_bytes);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank != opt.write_rank)
        CHECK(wrong_bytes(t, opt.bytes, r) == 0, "the receive changed another rank's table");
    free(msg);
}

/* More shared arrays than the library can watch: the first is watched, the last is not
 * (its pages stay copy-on-write and its write passes silently). */
static __attribute__((noinline)) void many_arrays(void)
{
    size_t bytes = 3 * (size_t)sysconf(_SC_PAGESIZE);
    unsigned char **a = calloc((size_t)opt.arrays, sizeof *a);
    for (int i = 0; i < opt.arrays; i++) {
        a[i] = aligned_alloc((size_t)sysconf(_SC_PAGESIZE), bytes);
        CHECK(mpishm_mark_readonly(a[i], bytes) == MPISHM_SUCCESS, "mark small array %d", i);
        if (rank == 0)
            pattern_fill(a[i], bytes, i);
        MPI_Bcast(a[i], (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 1) {
        overwrite_table(a[opt.arrays - 1], 6000, 1);
        overwrite_table(a[0], 5000, 1);
        printf("rank 1: wrote into the first and the last small array\n");
    }
    MPI_Barrier(MPI_COMM_WORLD);
    for (int i = 0; i < opt.arrays; i++) {
        CHECK(rank == 1 || wrong_bytes(a[i], bytes, i) == 0, "small array %d changed", i);
        free(a[i]);
    }
    free(a);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (opt.app_handler || opt.plain_handler)
        install_app_handler();
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (rank == 0)
        show_handler();
    if (opt.arrays > 0)
        many_arrays();
    unsigned char *t = load_table(opt.bytes);
    for (int r = 0; r < opt.rounds; r++)
        broadcast_round(t, r);
    if (opt.write_rank >= 0 && opt.recv_bytes)
        receive_into(t, opt.rounds - 1);
    else if (opt.write_rank >= 0)
        write_and_check(t, opt.rounds - 1);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == opt.fault_rank) {
        fflush(stdout);
        write_elsewhere();
        printf("rank %d: survived a write through a bad pointer\n", rank);
    }
    free(t);
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s\n", all ? "FAILED" : "all checks passed");
    fflush(stdout);
    MPI_Finalize();
    return all ? 1 : 0;
}
