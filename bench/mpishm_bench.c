/* The MPI program behind tools/mpishm-bench. One method per run, a few repeats, one JSON
 * line per repeat printed by rank 0; the driver interleaves runs and takes the statistics.
 *
 *   mpishm_bench bcast --method plain|mpishm|window|memcpy --bytes S [--repeats R]
 *                      [--lookups L]
 *   mpishm_bench latency [--min B] [--max B] [--iterations I]
 *   mpishm_bench hash --bytes S [--repeats R]
 *   mpishm_bench steps --bytes S --steps K --content same|refill [--resident yes] [--mark yes]
 *
 * bcast: rank 0 holds an S-byte array (filled before the clock starts), and every rank
 * ends up with it:
 *   plain   MPI_Bcast into a fresh malloc'ed array on every rank (run without the library);
 *   mpishm  the same with the array marked (run with the library);
 *   window  the hand-written rewrite: MPI_Win_allocate_shared on each node's first rank,
 *           the root's data copied in, MPI_Bcast among node leaders, a node barrier;
 *   memcpy  rank 0 alone copies the array into fresh memory (the other ranks sleep): the
 *           least it costs to get one copy onto a node.
 * Each repeat reports the broadcast time and the broadcast-then-read time (every rank reads
 * every byte once, checking the sum), both the maximum over ranks; the PSS of the array and
 * of whole processes, summed over all ranks and over the ranks of the fullest node; and the
 * page tables the array cost (each rank's VmPTE growth from before the array was allocated to
 * the measurement, summed the same ways): PSS does not show them, and with 4 KiB pages every
 * rank that maps the array pays 8 bytes per page of it, N/512 of a copy for N ranks.
 * With --lookups L (plain, mpishm, window), every rank then makes L random 8-byte reads over
 * the whole array at once, as a cross-section or equation-of-state lookup does: the CPU time
 * per million lookups, the mean over ranks (CPU time, not wall time: with more ranks than
 * cores a rank's wall time counts the others' turns), where the TLB's reach shows.
 *
 * latency: osu_bcast-style mean time of MPI_Bcast into an unmarked buffer, for sizes from
 * --min to --max bytes, doubling; one line per size.
 *
 * steps: a table broadcast K times from one array, as a code sends a table every step:
 * rank 0 fills it before each broadcast (refill, new content each time) or before the
 * first only (same); with --resident every rank writes its array before the first
 * broadcast (Fortran's `t = 0.0`); --mark marks it (MPISHM_SITES=bench_step_bcast and
 * MPISHM_AUTO select it unmarked). Every rank checks every step's sum (outside the clock).
 * One line: the first broadcast's time, and the median over the later ones of each
 * broadcast's slowest rank; the library's shared count on rank 0; the largest VmHWM sum
 * over a node's ranks (an upper bound of its peak: a shared page counts once per rank).
 *
 * hash: what report mode adds per large broadcast: every rank hashes its S-byte copy
 * (src/content.c's hash, compiled in) when it arrives and when its life ends. Each repeat
 * times, on every rank at once and in alternating order, one plain read pass over the array
 * (summing its words) and one hash pass; the slowest rank's times, and their ratio. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "content.h"
#include "memstat.h"
#include "mpishm.h"

enum method { PLAIN, MPISHM, WINDOW, MEMCPY };
static const char *const method_names[] = {"plain", "mpishm", "window", "memcpy"};

static int rank, nranks, nodes;
static MPI_Comm node_comm; /* for the per-node memory sums, made once before any timing */
static long lookup_count;  /* --lookups */

/* Bad arguments are the same on every rank: rank 0 says so and ends the job. The others
 * give it time to print first (their own MPI_Abort could kill it before it writes). */
static void die(const char *msg)
{
    if (rank == 0) {
        fprintf(stderr, "mpishm_bench: %s\n", msg);
        fflush(stderr);
    } else {
        sleep(10);
    }
    MPI_Abort(MPI_COMM_WORLD, 2);
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
    if (errno || end == s || (shift && end[1]) || (!shift && *end) || v > (SIZE_MAX >> shift))
        die("sizes are numbers of bytes with an optional K, M or G suffix");
    return (size_t)v << shift;
}

/* ---- the array: a pattern whose word sum is known without reading it ---- */

#define GOLDEN 0x9E3779B97F4A7C15ull

static void fill(uint64_t *w, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        w[i] = i * GOLDEN + seed;
}

static uint64_t expected_sum(size_t n, uint64_t seed)
{
    uint64_t pairs = n % 2 ? (uint64_t)n * ((n - 1) / 2) : (uint64_t)(n / 2) * (n - 1);
    return pairs * GOLDEN + (uint64_t)n * seed;
}

static uint64_t read_sum(const uint64_t *w, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += w[i];
    return s;
}

static uint64_t *array_alloc(size_t bytes)
{
    uint64_t *p = malloc(bytes);
    if (!p)
        die("out of memory for the array");
    return p;
}

/* A field of /proc/self/status given in kB ("VmHWM:", the peak resident set; "VmPTE:", the
 * page tables), in bytes; 0 when unknown. */
static long long status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = 0;
    size_t len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && sscanf(line + len, "%lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* L random 8-byte reads of w[0..n) (independent, as lookups into a table are); returns this
 * thread's CPU seconds per million of them. The index is a multiply-shift of a xorshift
 * stream, so that a division does not dilute what the page walks cost. */
static double lookup_phase(const uint64_t *w, size_t n, long count, uint64_t seed)
{
    uint64_t x = seed * GOLDEN | 1, sum = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (long i = 0; i < count; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        sum += w[(size_t)(((unsigned __int128)(x * 0x2545F4914F6CDD1Dull) * n) >> 64)];
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    volatile uint64_t sink = sum;
    (void)sink;
    double seconds = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    return count ? seconds * 1e6 / (double)count : 0;
}

/* ---- one repeat ---- */

typedef struct sample {
    double bcast, read;       /* seconds on this rank */
    long long array_pss;      /* bytes of the array's pages charged to this rank */
    long long process_pss;    /* bytes of the whole process, the array still alive */
    long long pte_before;     /* VmPTE before the array was allocated */
    long long pte_growth;     /* VmPTE growth since, at the measurement: the array's page tables */
    double lookup;            /* CPU seconds per million lookups on this rank (0: none made) */
    int ok;                   /* the sum read back is the root's */
    mpishm_stats before;      /* the library's counters around the broadcast */
    mpishm_stats after;
} sample;

/* Every rank's lookups at once, after every rank has its copy. */
static void lookups(sample *s, const uint64_t *w, size_t n, long count)
{
    if (count <= 0)
        return;
    MPI_Barrier(MPI_COMM_WORLD);
    s->lookup = lookup_phase(w, n, count, (uint64_t)rank + 7);
}

/* Broadcast of uint64 words. A count past INT_MAX goes through MPI_Bcast_c (MPI 4), or with
 * MPI 3 through a contiguous type of 2^k words (n is a power-of-two multiple of 4 KiB pages
 * when that large, so one call still carries the whole array). */
static void bcast_words(uint64_t *w, size_t n, int root, MPI_Comm comm)
{
    int rc;
    if (n <= INT32_MAX) {
        rc = MPI_Bcast(w, (int)n, MPI_UINT64_T, root, comm);
    } else {
#if MPI_VERSION >= 4
        rc = MPI_Bcast_c(w, (MPI_Count)n, MPI_UINT64_T, root, comm);
#else
        size_t words = 1;
        while (n / words > INT32_MAX || n % words != 0) {
            if (n % (2 * words) != 0)
                die("--bytes past 16 GiB must be a multiple of 4 KiB with MPI 3");
            words *= 2;
        }
        MPI_Datatype t;
        MPI_Type_contiguous((int)words, MPI_UINT64_T, &t);
        MPI_Type_commit(&t);
        rc = MPI_Bcast(w, (int)(n / words), t, root, comm);
        MPI_Type_free(&t);
#endif
    }
    if (rc != MPI_SUCCESS)
        die("MPI_Bcast failed");
}

static void finish_read(sample *s, const uint64_t *w, size_t n, uint64_t seed, double t0)
{
    s->ok = read_sum(w, n) == expected_sum(n, seed);
    s->read = MPI_Wtime() - t0;
}

/* PSS charges a shared page to the processes that have touched it, so every rank must be
 * done reading before any rank measures: call it collectively (memcpy: rank 0 alone). */
static void measure(sample *s, const void *array, size_t bytes)
{
    s->array_pss = array ? memstat_range_pss(array, bytes) : 0;
    s->process_pss = memstat_process_pss();
    s->pte_growth = array ? status_bytes("VmPTE:") - s->pte_before : 0;
}

static void run_bcast(sample *s, size_t bytes, int marked, uint64_t seed)
{
    size_t n = bytes / 8;
    s->pte_before = status_bytes("VmPTE:");
    uint64_t *w = array_alloc(bytes);
    if (marked && mpishm_mark_readonly(w, bytes) != 0)
        die("mpishm_mark_readonly failed: is the library loaded?");
    if (rank == 0)
        fill(w, n, seed);
    mpishm_get_stats(&s->before);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    bcast_words(w, n, 0, MPI_COMM_WORLD);
    s->bcast = MPI_Wtime() - t0;
    finish_read(s, w, n, seed, t0);
    mpishm_get_stats(&s->after);
    lookups(s, w, n, lookup_count);
    MPI_Barrier(MPI_COMM_WORLD);
    measure(s, w, bytes);
    MPI_Barrier(MPI_COMM_WORLD); /* every rank measures before any rank unmaps a page */
    free(w);
}

/* The rewrite of ../shared/reference: communicators made on first use and kept, as the
 * reference does; a window per array, freed when the array is done with. */
static MPI_Comm win_node = MPI_COMM_NULL, win_leaders = MPI_COMM_NULL;

static void window_comms(void)
{
    if (win_node != MPI_COMM_NULL)
        return;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &win_node);
    int node_rank;
    MPI_Comm_rank(win_node, &node_rank);
    MPI_Comm_split(MPI_COMM_WORLD, node_rank == 0 ? 0 : MPI_UNDEFINED, rank, &win_leaders);
}

static void run_window(sample *s, size_t bytes, uint64_t seed, MPI_Win *win)
{
    size_t n = bytes / 8;
    uint64_t *src = NULL;
    s->pte_before = status_bytes("VmPTE:");
    if (rank == 0) {
        src = array_alloc(bytes);
        fill(src, n, seed);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    window_comms();
    int node_rank;
    MPI_Comm_rank(win_node, &node_rank);
    uint64_t *base;
    if (MPI_Win_allocate_shared(node_rank == 0 ? (MPI_Aint)bytes : 0, 8, MPI_INFO_NULL,
                                win_node, &base, win) != MPI_SUCCESS)
        die("MPI_Win_allocate_shared failed");
    MPI_Aint size;
    int disp;
    uint64_t *w;
    MPI_Win_shared_query(*win, 0, &size, &disp, &w);
    if (node_rank == 0) {
        if (rank == 0) {
            memcpy(w, src, bytes);
            free(src);
        }
        const size_t chunk = (size_t)1 << 27; /* words: 1 GiB */
        for (size_t done = 0; win_leaders != MPI_COMM_NULL && done < n; done += chunk)
            bcast_words(w + done, n - done < chunk ? n - done : chunk, 0, win_leaders);
    }
    MPI_Barrier(win_node);
    s->bcast = MPI_Wtime() - t0;
    finish_read(s, w, n, seed, t0);
    lookups(s, w, n, lookup_count);
    MPI_Barrier(MPI_COMM_WORLD);
    measure(s, w, bytes);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Rank 0 copies; the others wait without spinning, so rank 0 has a core to itself. */
static void run_memcpy(sample *s, size_t bytes, uint64_t seed)
{
    size_t n = bytes / 8;
    uint64_t *src = NULL, *dst = NULL;
    if (rank == 0) {
        src = array_alloc(bytes);
        fill(src, n, seed);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        s->pte_before = status_bytes("VmPTE:");
        double t0 = MPI_Wtime();
        dst = array_alloc(bytes);
        memcpy(dst, src, bytes);
        s->bcast = MPI_Wtime() - t0;
        finish_read(s, dst, n, seed, t0);
        measure(s, dst, bytes);
    } else {
        s->ok = 1;
        measure(s, NULL, 0);
    }
    MPI_Request req;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    while (!done) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (!done)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    free(src);
    free(dst);
}

/* Sums over all ranks and over the fullest node, then one JSON line from rank 0. */
static void report(enum method m, size_t bytes, int repeat, const sample *s)
{
    long long mine[3] = {s->array_pss, s->process_pss, s->pte_growth}, node[3], total[3],
              node_max[3];
    MPI_Allreduce(mine, node, 3, MPI_LONG_LONG, MPI_SUM, node_comm);
    MPI_Reduce(mine, total, 3, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(node, node_max, 3, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    double t[4] = {s->bcast, s->read, s->after.seed_seconds - s->before.seed_seconds,
                   s->after.map_seconds - s->before.map_seconds};
    double tmax[4], lookup = 0;
    MPI_Reduce(t, tmax, 4, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&s->lookup, &lookup, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    int flags[2] = {s->ok, s->after.shared > s->before.shared}, all[2];
    MPI_Reduce(flags, all, 2, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
    if (rank != 0)
        return;
    printf("{\"method\":\"%s\",\"ranks\":%d,\"nodes\":%d,\"bytes\":%zu,\"repeat\":%d,"
           "\"seconds\":%.6f,\"read_seconds\":%.6f,\"array_pss_bytes\":%lld,"
           "\"process_pss_bytes\":%lld,\"node_array_pss_bytes\":%lld,"
           "\"node_process_pss_bytes\":%lld,\"page_table_bytes\":%lld,"
           "\"node_page_table_bytes\":%lld,\"seed_seconds\":%.6f,\"map_seconds\":%.6f,"
           "\"lookup_seconds_per_million\":%.6f,\"shared\":%s,\"ok\":%s}\n",
           method_names[m], nranks, nodes, bytes, repeat, tmax[0], tmax[1], total[0], total[1],
           node_max[0], node_max[1], total[2], node_max[2], tmax[2], tmax[3],
           m == MEMCPY ? 0 : lookup / nranks, all[1] ? "true" : "false",
           all[0] ? "true" : "false");
    fflush(stdout);
}

static void bench_bcast(enum method m, size_t bytes, int repeats)
{
    if (bytes < 8 || bytes % 8)
        die("--bytes must be a positive multiple of 8");
    for (int r = 0; r < repeats; r++) {
        sample s = {0};
        MPI_Win win = MPI_WIN_NULL;
        uint64_t seed = (uint64_t)r + 1;
        if (m == PLAIN || m == MPISHM)
            run_bcast(&s, bytes, m == MPISHM, seed);
        else if (m == WINDOW)
            run_window(&s, bytes, seed, &win);
        else
            run_memcpy(&s, bytes, seed);
        report(m, bytes, r, &s);
        if (win != MPI_WIN_NULL)
            MPI_Win_free(&win);
    }
}

/* Its own function: the call site MPISHM_SITES names in the benchmark's steps mode. */
__attribute__((noinline)) void bench_step_bcast(uint64_t *w, size_t n)
{
    bcast_words(w, n, 0, MPI_COMM_WORLD);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_steps(size_t bytes, int steps, int refill, int resident, int marked)
{
    if (bytes < 8 || bytes % 8 || steps < 2)
        die("steps needs --bytes a positive multiple of 8 and --steps at least 2");
    size_t n = bytes / 8;
    uint64_t *w = array_alloc(bytes);
    if (resident)
        memset(w, 0, bytes);
    if (marked && mpishm_mark_readonly(w, bytes) != 0)
        die("mpishm_mark_readonly failed: is the library loaded?");
    double *times = malloc(sizeof *times * (size_t)steps);
    if (!times)
        die("out of memory");
    int ok = 1;
    mpishm_stats before = {0}, after = {0};
    mpishm_get_stats(&before);
    for (int k = 0; k < steps; k++) {
        uint64_t seed = refill ? (uint64_t)k + 1 : 1;
        if (rank == 0 && (refill || k == 0))
            fill(w, n, seed);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        bench_step_bcast(w, n);
        double mine = MPI_Wtime() - t0;
        MPI_Allreduce(&mine, &times[k], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        ok &= read_sum(w, n) == expected_sum(n, seed);
    }
    mpishm_get_stats(&after);
    long long hwm = status_bytes("VmHWM:"), node_hwm = 0, most = 0;
    MPI_Allreduce(&hwm, &node_hwm, 1, MPI_LONG_LONG, MPI_SUM, node_comm);
    MPI_Reduce(&node_hwm, &most, 1, MPI_LONG_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    int all_ok = 0;
    MPI_Reduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
    double first = times[0];
    qsort(times + 1, (size_t)steps - 1, sizeof *times, cmp_double);
    double median = times[1 + (steps - 1) / 2];
    if (rank == 0)
        printf("{\"mode\":\"steps\",\"ranks\":%d,\"nodes\":%d,\"bytes\":%zu,\"steps\":%d,"
               "\"content\":\"%s\",\"resident\":%s,\"marked\":%s,\"first_seconds\":%.6f,"
               "\"step_seconds\":%.6f,\"shared\":%llu,\"node_hwm_bytes\":%lld,\"ok\":%s}\n",
               nranks, nodes, bytes, steps, refill ? "refill" : "same",
               resident ? "true" : "false", marked ? "true" : "false", first, median,
               after.shared - before.shared, most, all_ok ? "true" : "false");
    fflush(stdout);
    free(times);
    free(w);
}

static void bench_latency(size_t min, size_t max, int iterations)
{
    if (min == 0 || min > max)
        die("--min must be at least 1 and at most --max");
    char *buf = malloc(max);
    if (!buf)
        die("out of memory");
    memset(buf, 1, max);
    for (size_t size = min; size <= max; size *= 2) {
        int iters = size > 65536 ? iterations / 10 + 1 : iterations, warmup = iters / 10 + 1;
        double total = 0;
        for (int i = 0; i < warmup + iters; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Bcast(buf, (int)size, MPI_BYTE, 0, MPI_COMM_WORLD);
            if (i >= warmup)
                total += MPI_Wtime() - t0;
        }
        double mean = total / iters, sum;
        MPI_Reduce(&mean, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0)
            printf("{\"mode\":\"latency\",\"ranks\":%d,\"bytes\":%zu,\"iterations\":%d,"
                   "\"microseconds\":%.4f}\n",
                   nranks, size, iters, 1e6 * sum / nranks);
        fflush(stdout);
    }
    free(buf);
}

static void bench_hash(size_t bytes, int repeats)
{
    size_t n = bytes / sizeof(uint64_t);
    uint64_t *w = malloc(n * sizeof *w);
    if (!w)
        die("out of memory for the array");
    for (size_t i = 0; i < n; i++)
        w[i] = i * 0x9E3779B97F4A7C15ull;
    volatile uint64_t sink = 0;
    for (int r = 0; r < repeats; r++) {
        double t[2];
        for (int k = 0; k < 2; k++) {
            int hash = (k + r) % 2; /* alternate which pass runs first */
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime(), mine, slowest;
            if (hash) {
                sink ^= content_hash(w, n * sizeof *w);
            } else {
                uint64_t sum = 0;
                for (size_t i = 0; i < n; i++)
                    sum += w[i];
                sink ^= sum;
            }
            mine = MPI_Wtime() - t0;
            MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            t[hash] = slowest;
        }
        if (rank == 0)
            printf("{\"mode\":\"hash\",\"ranks\":%d,\"bytes\":%zu,\"read_seconds\":%.6f,"
                   "\"hash_seconds\":%.6f,\"read_GBps\":%.2f,\"hash_GBps\":%.2f,"
                   "\"hash_over_read\":%.3f}\n",
                   nranks, n * sizeof *w, t[0], t[1], n * 8 / t[0] / 1e9, n * 8 / t[1] / 1e9,
                   t[1] / t[0]);
        fflush(stdout);
    }
    free(w);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    /* Every large array comes fresh from mmap and goes back on free: no repeat reuses pages
     * an earlier one faulted in (glibc would otherwise raise its threshold after a free). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node_comm);
    int node_rank, first;
    MPI_Comm_rank(node_comm, &node_rank);
    first = node_rank == 0;
    MPI_Allreduce(&first, &nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);

    const char *mode = argc > 1 ? argv[1] : "";
    int method = -1, repeats = 3, iterations = 1000, steps = 0, refill = -1, resident = 0, mark = 0;
    size_t bytes = 0, min = 1, max = 512 * 1024;
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("every option takes a value");
        if (!strcmp(a, "--method")) {
            for (int m = 0; m < 4; m++)
                if (!strcmp(v, method_names[m]))
                    method = m;
        } else if (!strcmp(a, "--bytes")) bytes = parse_size(v);
        else if (!strcmp(a, "--repeats")) repeats = atoi(v);
        else if (!strcmp(a, "--min")) min = parse_size(v);
        else if (!strcmp(a, "--max")) max = parse_size(v);
        else if (!strcmp(a, "--iterations")) iterations = atoi(v);
        else if (!strcmp(a, "--lookups")) lookup_count = atol(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--content")) refill = !strcmp(v, "refill") ? 1 : !strcmp(v, "same") ? 0 : -2;
        else if (!strcmp(a, "--resident")) resident = !strcmp(v, "yes");
        else if (!strcmp(a, "--mark")) mark = !strcmp(v, "yes");
        else die("unknown option (see the comment at the top of bench/mpishm_bench.c)");
    }
    if (!strcmp(mode, "bcast")) {
        if (method < 0)
            die("--method must be plain, mpishm, window or memcpy");
        if (repeats < 1)
            die("--repeats must be at least 1");
        bench_bcast(method, bytes, repeats);
    } else if (!strcmp(mode, "hash")) {
        if (bytes < 8 || repeats < 1)
            die("--bytes must be at least 8 and --repeats at least 1");
        bench_hash(bytes, repeats);
    } else if (!strcmp(mode, "latency")) {
        if (iterations < 1)
            die("--iterations must be at least 1");
        bench_latency(min, max, iterations);
    } else if (!strcmp(mode, "steps")) {
        if (refill < 0)
            die("--content must be same or refill");
        bench_steps(bytes, steps, refill, resident, mark);
    } else {
        die("usage: mpishm_bench bcast|latency|hash|steps [options]");
    }
    if (win_node != MPI_COMM_NULL)
        MPI_Comm_free(&win_node);
    if (win_leaders != MPI_COMM_NULL)
        MPI_Comm_free(&win_leaders);
    MPI_Comm_free(&node_comm);
    MPI_Finalize();
    return 0;
}
