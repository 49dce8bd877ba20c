/* One MPI program, many scenarios: broadcast into a (marked) buffer and check what a user
 * would notice: the data on every rank, whether the pages come from one segment per node
 * (read from /proc/self/maps, not from the library's word), the memory summed over the
 * ranks, descriptors and mappings left behind.
 *
 *   bcast_check [--bytes N[K|M|G]] [--root first|last|nonleader|R] [--offset same|alternate|each|N]
 *               [--mark all|none|allbut:R] [--comm world|split|dup] [--type byte|double|contig|vector]
 *               [--expect shared|private[,shared|private...]] (one word per round; rounds = words)
 *               [--private-rank R] [--write-after R] [--unmark] [--free-reuse] [--unmap] [--after-finalize]
 *               [--bcast-c] [--alloc mmap|malloc|memalign] [--iterations N] [--kill-after R] [--bad-root]
 *               [--first-fails] (errors return on comm; the first round must return an error)
 *               [--domains d,d,...] (ranks share a copy per NUMA domain: world rank r is in
 *               domain d[r mod count] of its node, as MPISHM_NUMA_FAKE says to the library)
 *
 * Exit status 0 when every check passed on every rank. */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "memstat.h"
#include "mpishm.h"

static int rank, nranks, failures;

static struct {
    size_t bytes;
    const char *root, *offset, *mark, *comm, *type, *expect, *alloc, *domains;
    int private_rank, write_after, kill_after, bad_root, unmark, free_reuse, unmap, first_fails, after_finalize, bcast_c, iterations;
} opt = {.bytes = 4 << 20, .root = "first", .offset = "same", .mark = "all", .comm = "world",
         .type = "byte", .expect = "shared", .alloc = "mmap", .private_rank = -1,
         .write_after = -1, .kill_after = -1, .iterations = 1};

static size_t parse_size(const char *s)
{
    char *end;
    size_t v = strtoull(s, &end, 10);
    switch (*end) {
    case 'G': v <<= 10; /* fall through */
    case 'M': v <<= 10; /* fall through */
    case 'K': v <<= 10; break;
    case 'p': v *= (size_t)sysconf(_SC_PAGESIZE); break;
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        int used = 1;
        if (!strcmp(a, "--bytes")) opt.bytes = parse_size(v);
        else if (!strcmp(a, "--root")) opt.root = v;
        else if (!strcmp(a, "--offset")) opt.offset = v;
        else if (!strcmp(a, "--mark")) opt.mark = v;
        else if (!strcmp(a, "--comm")) opt.comm = v;
        else if (!strcmp(a, "--type")) opt.type = v;
        else if (!strcmp(a, "--expect")) opt.expect = v;
        else if (!strcmp(a, "--alloc")) opt.alloc = v;
        else if (!strcmp(a, "--domains")) opt.domains = v;
        else if (!strcmp(a, "--private-rank")) opt.private_rank = atoi(v);
        else if (!strcmp(a, "--write-after")) opt.write_after = atoi(v);
        else if (!strcmp(a, "--iterations")) opt.iterations = atoi(v);
        else if (!strcmp(a, "--kill-after")) opt.kill_after = atoi(v);
        else {
            used = 0;
            if (!strcmp(a, "--unmark")) opt.unmark = 1;
            else if (!strcmp(a, "--free-reuse")) opt.free_reuse = 1;
            else if (!strcmp(a, "--unmap")) opt.unmap = 1;
            else if (!strcmp(a, "--first-fails")) opt.first_fails = 1;
            else if (!strcmp(a, "--after-finalize")) opt.after_finalize = 1;
            else if (!strcmp(a, "--bcast-c")) opt.bcast_c = 1;
            else if (!strcmp(a, "--bad-root")) opt.bad_root = 1;
            else {
                fprintf(stderr, "bcast_check: unknown argument %s\n", a);
                exit(2);
            }
        }
        i += used;
    }
}

/* Index of the first byte that differs from round r's pattern, or n. */
static size_t first_wrong(const unsigned char *p, size_t n, int r)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern_byte(i, r))
            return i;
    return n;
}

static int is_segment_name(const char *s)
{
    return strstr(s, "/memfd:libmpishm") || strstr(s, "/dev/shm/libmpishm-");
}

/* Descriptors open on the library's segments (MPI opens and closes its own meanwhile). */
static int count_segment_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        target[len > 0 ? len : 0] = '\0';
        n += len > 0 && is_segment_name(target);
    }
    if (d)
        closedir(d);
    return n;
}

/* Mappings of the library's segments in this process. */
static int count_segment_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += is_segment_name(line) != 0;
    if (f)
        fclose(f);
    return n;
}

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* This rank's buffer offset inside a page. */
static size_t my_offset(void)
{
    if (!strcmp(opt.offset, "same")) return 0;
    if (!strcmp(opt.offset, "alternate")) return (size_t)(rank % 2) * 512;
    if (!strcmp(opt.offset, "each")) return (size_t)rank * 8 % page_size();
    return (size_t)atoi(opt.offset);
}

static unsigned char *allocate(size_t bytes, void **block, size_t *block_len)
{
    if (!strcmp(opt.alloc, "malloc")) {
        *block_len = bytes;
        *block = malloc(bytes);
        return *block;
    }
    if (!strcmp(opt.alloc, "memalign")) { /* malloc's memory at a page boundary on every rank */
        *block_len = bytes;
        CHECK(posix_memalign(block, page_size(), bytes) == 0, "posix_memalign failed");
        return *block;
    }
    *block_len = bytes + 2 * page_size();
    *block = mmap(NULL, *block_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(*block != MAP_FAILED, "mmap of %zu bytes failed", *block_len);
    return (unsigned char *)*block + my_offset();
}

static void release_block(void *block, size_t len)
{
    if (!strcmp(opt.alloc, "malloc") || !strcmp(opt.alloc, "memalign"))
        free(block);
    else
        munmap(block, len);
}

static int pick_root(MPI_Comm comm, MPI_Comm node)
{
    int size, node_rank;
    MPI_Comm_size(comm, &size);
    MPI_Comm_rank(node, &node_rank);
    if (!strcmp(opt.root, "first")) return 0;
    if (!strcmp(opt.root, "last")) return size - 1;
    if (!strcmp(opt.root, "nonleader")) {
        /* the highest rank of comm that is not rank 0 of its node */
        int me, cand;
        MPI_Comm_rank(comm, &me);
        cand = node_rank > 0 ? me : -1;
        int best;
        MPI_Allreduce(&cand, &best, 1, MPI_INT, MPI_MAX, comm);
        return best < 0 ? 0 : best;
    }
    return atoi(opt.root);
}

static MPI_Comm make_comm(void)
{
    MPI_Comm c;
    if (!strcmp(opt.comm, "split"))
        MPI_Comm_split(MPI_COMM_WORLD, rank % 2, nranks - rank, &c); /* reversed order too */
    else if (!strcmp(opt.comm, "dup"))
        MPI_Comm_dup(MPI_COMM_WORLD, &c);
    else
        c = MPI_COMM_WORLD;
    return c;
}

static int is_marked_here(void)
{
    if (!strcmp(opt.mark, "none")) return 0;
    if (!strncmp(opt.mark, "allbut:", 7)) return rank != atoi(opt.mark + 7);
    return 1;
}

/* Returns MPI's code (checked to be MPI_SUCCESS unless the round is meant to fail). */
static int do_bcast(unsigned char *buf, size_t bytes, int root, MPI_Comm comm, int may_fail)
{
    MPI_Datatype t = MPI_BYTE;
    size_t count = bytes;
    if (!strcmp(opt.type, "double")) {
        t = MPI_DOUBLE, count = bytes / 8;
    } else if (!strcmp(opt.type, "contig")) {
        MPI_Type_contiguous(1024, MPI_BYTE, &t);
        count = bytes / 1024;
    } else if (!strcmp(opt.type, "vector")) {
        /* every other 512-byte block: not contiguous; the test checks those blocks */
        MPI_Type_vector((int)(bytes / 1024), 512, 1024, MPI_BYTE, &t);
        count = 1;
    }
    if (t != MPI_BYTE && t != MPI_DOUBLE)
        MPI_Type_commit(&t);
#if MPI_VERSION >= 4
    int rc = opt.bcast_c ? MPI_Bcast_c(buf, (MPI_Count)count, t, root, comm)
                         : MPI_Bcast(buf, (int)count, t, root, comm);
#else
    CHECK(!opt.bcast_c, "--bcast-c needs MPI 4 (MPI_Bcast_c); this MPI is %d.%d", MPI_VERSION,
          MPI_SUBVERSION);
    int rc = MPI_Bcast(buf, (int)count, t, root, comm);
#endif
    CHECK(rc == MPI_SUCCESS || may_fail, "MPI_Bcast returned %d", rc);
    if (t != MPI_BYTE && t != MPI_DOUBLE)
        MPI_Type_free(&t);
    return rc;
}

/* A root outside the communicator is MPI's error to report, library loaded or not. */
static void check_bad_root(unsigned char *buf, size_t bytes, MPI_Comm comm)
{
    int size;
    MPI_Comm_size(comm, &size);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, size, comm);
    CHECK(rc != MPI_SUCCESS, "MPI_Bcast with root %d of %d ranks returned success", size, size);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_ARE_FATAL);
}

/* Every byte the broadcast was meant to deliver equals the root's. */
static void check_data(const unsigned char *buf, size_t bytes, int round, const char *when)
{
    if (!strcmp(opt.type, "vector")) {
        for (size_t b = 0; b + 1024 <= bytes; b += 1024)
            for (size_t i = b; i < b + 512; i++)
                if (buf[i] != pattern_byte(i, round)) {
                    CHECK(0, "%s: byte %zu is %u, expected %u", when, i, buf[i],
                          pattern_byte(i, round));
                    return;
                }
        return;
    }
    size_t bad = first_wrong(buf, bytes, round);
    CHECK(bad == bytes, "%s: byte %zu of %zu is %u, expected %u", when, bad, bytes,
          bad < bytes ? buf[bad] : 0, bad < bytes ? pattern_byte(bad, round) : 0);
}

/* Where the pages come from: the first whole page of the buffer is a segment (inode != 0)
 * when shared; equal inodes on a node, different ones across nodes. */
static void check_sharing(const unsigned char *buf, int want_shared, int want_all,
                          MPI_Comm comm, MPI_Comm node, unsigned long *ino_out)
{
    size_t pg = page_size();
    const unsigned char *first = (const unsigned char *)(((uintptr_t)buf + pg - 1) & ~(pg - 1));
    unsigned long dev = 0, ino = 0;
    CHECK(memstat_mapping_id(first, &dev, &ino) == 0, "no mapping at %p", (void *)first);
    *ino_out = ino;
    int shared = ino != 0;
    CHECK(shared == want_shared, "pages at %p are %s, expected %s", (void *)first,
          shared ? "from a segment" : "private", want_shared ? "shared" : "private");
    mpishm_info info;
    int q = mpishm_query(buf, &info);
    if (q != MPISHM_ENOTLOADED) {
        CHECK(q == 0, "mpishm_query failed: %d", q);
        CHECK(info.shared == want_shared, "mpishm_query says shared=%d, expected %d",
              info.shared, want_shared);
        if (want_shared && info.shared)
            CHECK(info.segment_inode == ino, "mpishm_query inode %lu, maps say %lu",
                  info.segment_inode, ino);
    }
    /* Ranks of one node with the same offset map one segment; nodes never share. */
    int node_size, node_rank;
    MPI_Comm_size(node, &node_size);
    MPI_Comm_rank(node, &node_rank);
    unsigned long mine[2] = {ino, my_offset()}, all[2 * 256];
    if (node_size > 256)
        return;
    MPI_Allgather(mine, 2, MPI_UNSIGNED_LONG, all, 2, MPI_UNSIGNED_LONG, node);
    if (want_shared)
        for (int r = 0; r < node_size; r++)
            if (all[2 * r + 1] == mine[1] && all[2 * r]) /* 0: a rank expected private */
                CHECK(all[2 * r] == ino, "node rank %d maps inode %lu, this rank %lu", r,
                      all[2 * r], ino);
    MPI_Comm leaders;
    MPI_Comm_split(comm, node_rank == 0 ? 0 : MPI_UNDEFINED, 0, &leaders);
    if (leaders != MPI_COMM_NULL) {
        int nl;
        MPI_Comm_size(leaders, &nl);
        unsigned long *inos = malloc(sizeof *inos * (size_t)nl);
        MPI_Allgather(&ino, 1, MPI_UNSIGNED_LONG, inos, 1, MPI_UNSIGNED_LONG, leaders);
        for (int i = 0; want_all && i < nl; i++)
            for (int j = i + 1; j < nl; j++)
                CHECK(inos[i] != inos[j], "nodes %d and %d share segment inode %lu", i, j,
                      inos[i]);
        free(inos);
        MPI_Comm_free(&leaders);
    }
}

/* Summed PSS of the buffer over comm: about one copy per node (per offset group) when
 * shared, one per rank when not. */
static void check_memory(const unsigned char *buf, size_t bytes, int want_shared, int extra,
                         MPI_Comm comm, MPI_Comm node)
{
    long long pss = memstat_range_pss(buf, bytes), sum = 0;
    MPI_Allreduce(&pss, &sum, 1, MPI_LONG_LONG, MPI_SUM, comm);
    int node_rank, size, nodes, leader;
    MPI_Comm_rank(node, &node_rank);
    MPI_Comm_size(comm, &size);
    leader = node_rank == 0;
    MPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, comm);
    /* groups of equal offsets per node (alternate: 2, each: every rank) */
    int groups = !strcmp(opt.offset, "each") ? size : !strcmp(opt.offset, "alternate") ? 2 * nodes : nodes;
    groups += extra; /* ranks expected to hold a private copy */
    if (groups > size)
        groups = size;
    double copies = (double)sum / (double)bytes;
    if (want_shared)
        CHECK(sum <= (long long)(1.02 * (double)bytes * groups) + 4LL * (long long)page_size() * size,
              "buffer PSS summed over %d ranks is %.2f copies, expected at most %d", size, copies,
              groups);
    else if (!strcmp(opt.type, "byte") || !strcmp(opt.type, "double"))
        CHECK(copies >= 0.98 * size, "buffer PSS is %.2f copies, expected %d private", copies,
              size);
    if (rank == 0)
        printf("bcast_check: %zu bytes on %d ranks, %d %s: %.2f copies\n", bytes, size, nodes,
               opt.domains ? "NUMA domain(s)" : "node(s)", copies);
    MPI_Barrier(comm); /* nobody unmaps while another rank measures */
}

/* Copy-on-write: one rank writes; nobody else sees it. */
static void check_write_after(unsigned char *buf, size_t bytes, int round, MPI_Comm comm)
{
    size_t where = bytes / 2;
    int crank;
    MPI_Comm_rank(comm, &crank);
    if (crank == opt.write_after)
        memset(buf + where, 0x5A ^ pattern_byte(where, round),
               4096 < bytes - where ? 4096 : bytes - where);
    MPI_Barrier(comm);
    if (crank == opt.write_after)
        CHECK(buf[where] == (0x5A ^ pattern_byte(where, round)), "the writer does not see its write");
    else
        check_data(buf, bytes, round, "after another rank wrote");
    MPI_Barrier(comm);
    if (crank == opt.write_after) /* put it back for later rounds' checks */
        for (size_t i = where; i < bytes && i < where + 4096; i++)
            buf[i] = pattern_byte(i, round);
}

static void check_unmark(unsigned char *buf, size_t bytes, int round)
{
    int rc = mpishm_unmark(buf);
    CHECK(rc == 0, "mpishm_unmark: %s", mpishm_strerror(rc));
    check_data(buf, bytes, round, "after mpishm_unmark");
    size_t pg = page_size();
    unsigned long dev, ino = 1;
    memstat_mapping_id((void *)(((uintptr_t)buf + pg - 1) & ~(pg - 1)), &dev, &ino);
    CHECK(ino == 0, "after mpishm_unmark the pages still come from inode %lu", ino);
    mpishm_info info;
    CHECK(mpishm_query(buf, &info) == 0 && info.base == NULL, "still marked after unmark");
}

/* Memory handed out again where a shared array was behaves like ordinary memory: it reads
 * zeros (what calloc and a fresh mapping promise), and a write stays this rank's. */
static void check_ordinary(unsigned char *p, size_t len, uintptr_t was, const char *what)
{
    size_t nonzero = len;
    for (size_t i = 0; i < len; i++)
        if (p[i]) {
            nonzero = i;
            break;
        }
    CHECK(nonzero == len, "%s (%s address) has a nonzero byte at %zu", what,
          (uintptr_t)p == was ? "same" : "other", nonzero);
    memset(p, rank + 1, len);
    MPI_Barrier(MPI_COMM_WORLD);
    size_t bad = len;
    for (size_t i = 0; i < len; i += 509)
        if (p[i] != rank + 1) {
            bad = i;
            break;
        }
    CHECK(bad == len, "a write by another rank shows at byte %zu", bad);
}

/* free() of a shared array. */
static void check_free_reuse(void *block, size_t bytes)
{
    uintptr_t was = (uintptr_t)block; /* compared, never used */
    free(block);
    unsigned char *p = calloc(1, bytes);
    CHECK(p != NULL, "calloc failed");
    if (p)
        check_ordinary(p, bytes, was, "calloc'ed memory");
    free(p);
}

/* munmap of a shared array, unmarked: the mark and the segment go with it. */
static void check_unmap(void *block, size_t len, const void *buf)
{
    CHECK(munmap(block, len) == 0, "munmap failed");
    mpishm_info info;
    CHECK(mpishm_query(buf, &info) == 0 && info.base == NULL, "still marked after munmap");
    CHECK(count_segment_maps() == 0, "%d segment mappings left after munmap", count_segment_maps());
    unsigned char *p = mmap(block, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed");
    if (p == MAP_FAILED)
        return;
    check_ordinary(p, len, (uintptr_t)block, "new memory");
    munmap(p, len);
}

/* The ranks expected to share one copy: the node's, or with --domains its NUMA domain's. */
static MPI_Comm copy_group(MPI_Comm comm, int crank)
{
    MPI_Comm node, domain;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, crank, MPI_INFO_NULL, &node);
    if (!opt.domains)
        return node;
    int n = 1, mine;
    for (const char *p = opt.domains; (p = strchr(p, ',')); p++)
        n++;
    const char *p = opt.domains;
    for (int i = rank % n; i > 0; i--)
        p = strchr(p, ',') + 1;
    mine = atoi(p);
    MPI_Comm_split(node, mine, crank, &domain);
    MPI_Comm_free(&node);
    return domain;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    parse_args(argc, argv);
    int fds_before = count_segment_fds(), maps_before = count_segment_maps();

    unsigned long long want_shared = 0; /* broadcasts the library should report as shared */
    for (int it = 0; it < opt.iterations; it++) {
        MPI_Comm comm = make_comm(), node;
        if (opt.first_fails)
            MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
        int crank;
        MPI_Comm_rank(comm, &crank);
        node = copy_group(comm, crank);
        int root = pick_root(comm, node);
        void *block;
        size_t block_len, bytes = opt.bytes;
        unsigned char *buf = allocate(bytes, &block, &block_len);
        if (is_marked_here()) {
            int rc = mpishm_mark_readonly(buf, bytes);
            CHECK(rc == 0 || rc == MPISHM_ENOTLOADED, "mark: %s", mpishm_strerror(rc));
        }
        if (opt.bad_root)
            check_bad_root(buf, bytes, comm);
        unsigned long prev_ino = 0;
        char expect[256];
        snprintf(expect, sizeof expect, "%s", opt.expect);
        int round = 0;
        for (char *w = strtok(expect, ","); w; w = strtok(NULL, ","), round++) {
            int want_all = !strcmp(w, "shared");
            int extra = round == 0 && opt.private_rank >= 0;
            int want = want_all && !(extra && crank == opt.private_rank);
            if (crank == root)
                pattern_fill(buf, bytes, round);
            else
                memset(buf, 0xEE, bytes);
            int rc = do_bcast(buf, bytes, root, comm, opt.first_fails && round == 0);
            if (opt.first_fails && round == 0) {
                int cls = -1;
                MPI_Error_class(rc, &cls);
                CHECK(cls == MPI_ERR_OTHER, "the failing round returned %d (class %d), "
                      "expected MPI_ERR_OTHER", rc, cls);
                continue;
            }
            want_shared += want_all;
            check_data(buf, bytes, round, "after the broadcast");
            unsigned long ino;
            check_sharing(buf, want, want_all, comm, node, &ino);
            check_memory(buf, bytes, want_all, extra, comm, node);
            if (round > 0 && want && prev_ino)
                CHECK(ino != prev_ino, "a new broadcast kept the old segment %lu", ino);
            prev_ino = ino;
            if (opt.write_after >= 0)
                check_write_after(buf, bytes, round, comm);
            if (crank == opt.kill_after)
                raise(SIGKILL); /* the job must end and leave no segment behind */
        }
        round--;
        if (prev_ino) { /* the old segments of earlier rounds are mapped nowhere here */
            int maps = count_segment_maps();
            CHECK(maps <= 1, "%d segment mappings in this process, expected at most 1", maps);
        }
        if (opt.unmark)
            check_unmark(buf, bytes, round);
        if (opt.after_finalize && it == opt.iterations - 1) {
            MPI_Comm_free(&node);
            if (comm != MPI_COMM_WORLD)
                MPI_Comm_free(&comm);
            int total;
            MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
            MPI_Finalize();
            check_data(buf, bytes, round, "after MPI_Finalize");
            if (rank == 0 && !total && !failures)
                printf("bcast_check: passed (data still right after MPI_Finalize)\n");
            return total || failures;
        }
        if (opt.free_reuse)
            check_free_reuse(block, bytes);
        else if (opt.unmap)
            check_unmap(block, block_len, buf);
        else {
            if (is_marked_here() && !opt.unmark)
                mpishm_unmark(buf);
            release_block(block, block_len);
        }
        MPI_Comm_free(&node);
        if (comm != MPI_COMM_WORLD)
            MPI_Comm_free(&comm);
    }
    int fds_after = count_segment_fds(), maps_after = count_segment_maps();
    CHECK(fds_after == fds_before, "%d segment descriptors open before, %d after", fds_before, fds_after);
    CHECK(maps_after == maps_before, "%d segment mappings before, %d after", maps_before, maps_after);
    mpishm_stats st;
    if (mpishm_get_stats(&st) == 0) {
        CHECK(st.shared == want_shared, "the library counts %llu shared broadcasts, expected %llu",
              st.shared, want_shared);
        if (rank == 0)
            printf("bcast_check: stats: shared %llu, declined %llu, failed %llu, %llu bytes\n",
                   st.shared, st.declined, st.failed, st.bytes_shared);
    }
    int total;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("bcast_check: %s (%d failure(s) over all ranks)\n", total ? "FAILED" : "passed", total);
    MPI_Finalize();
    return total != 0;
}
