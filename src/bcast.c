#define _GNU_SOURCE
#include "bcast.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "callsite.h"
#include "fault.h"
#include "headroom.h"
#include "layout.h"
#include "peak.h"
#include "procmaps.h"
#include "log.h"
#include "protect.h"
#include "region.h"
#include "release.h"
#include "report.h"
#include "segment.h"
#include "sites.h"
#include "stats.h"
#include "topo.h"
#include "wait.h"

bcast_config bcast_cfg;

/* Inter-node broadcasts go in chunks: int counts stop at 2 GiB. */
#define SEED_CHUNK ((size_t)1 << 30)

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* The partial first and last pages that a broadcast into data already in place resends
 * (two pages of 4 KiB; with larger pages every broadcast makes a new node copy). */
#define EDGE_BYTES 8192

/* Scratch bytes per rank of the communicator: a headroom vote, a seg_ref, an offset, a group
 * leader and a rank's place in the votes' order (arrays of that many, in that order, so that
 * each stays aligned; the node's ranks use the first entries of the middle three). */
#define SCRATCH_PER_RANK                                                                      \
    (sizeof(headroom_vote) + sizeof(seg_ref) + sizeof(size_t) + 2 * sizeof(int))


/* Status values reduced with MPI_MAX across the communicator. */
enum { ST_OK = 0, ST_OPEN_FAILED = 1, ST_FAILED = 2 };

/* A type whose data is its bytes in order, with no gap: what a byte copy reproduces. */
static int type_is_contiguous(MPI_Datatype type, int depth)
{
    int ni, na, nd, combiner;
    if (depth > 8 || PMPI_Type_get_envelope(type, &ni, &na, &nd, &combiner) != MPI_SUCCESS)
        return 0;
    if (combiner == MPI_COMBINER_NAMED)
        return 1;
    if ((combiner != MPI_COMBINER_DUP && combiner != MPI_COMBINER_CONTIGUOUS) || nd != 1 ||
        ni > 1 || na > 0)
        return 0;
    int ints[1];
    MPI_Aint addrs[1];
    MPI_Datatype inner;
    if (PMPI_Type_get_contents(type, ni, na, nd, ints, addrs, &inner) != MPI_SUCCESS)
        return 0;
    int ok = type_is_contiguous(inner, depth + 1);
    int ni2, na2, nd2, comb2;
    PMPI_Type_get_envelope(inner, &ni2, &na2, &nd2, &comb2);
    if (comb2 != MPI_COMBINER_NAMED)
        PMPI_Type_free(&inner);
    return ok;
}

static int type_is_dense(MPI_Datatype type)
{
    MPI_Count size, lb, extent, tlb, textent;
    if (PMPI_Type_size_x(type, &size) != MPI_SUCCESS ||
        PMPI_Type_get_extent_x(type, &lb, &extent) != MPI_SUCCESS ||
        PMPI_Type_get_true_extent_x(type, &tlb, &textent) != MPI_SUCCESS)
        return 0;
    return lb == 0 && tlb == 0 && size == extent && size == textent && type_is_contiguous(type, 0);
}

/* Verbose mode only: a marked array whose broadcasts are too small to share would otherwise
 * be silently left alone. Said once per call by rank 0 of the communicator. */
static void note_below_threshold(const void *buf, size_t bytes, MPI_Comm comm)
{
    region r;
    int rank = -1;
    if (bytes == 0 || PMPI_Comm_rank(comm, &rank) != MPI_SUCCESS || rank != 0 ||
        !region_find((uintptr_t)buf, bytes, &r))
        return;
    log_msg(1, "broadcast of %zu bytes into a marked array not shared: below MPISHM_THRESHOLD "
            "(%zu bytes)", bytes, bcast_cfg.threshold);
}

/* The addresses [*lo, *hi) that MPI may write for `count` elements of `type` at buf: from
 * the type's true lower bound, which may lie below buf (a negative displacement) or far
 * above it (MPI_BOTTOM and absolute addresses). Clamped to the address space; the whole of
 * it when the type cannot be measured. */
static void type_reach(const void *buf, MPI_Count count, MPI_Datatype type, uintptr_t *lo,
                       uintptr_t *hi)
{
    MPI_Count lb, extent, tlb, textent;
    *lo = 0, *hi = UINTPTR_MAX;
    if (PMPI_Type_get_extent_x(type, &lb, &extent) != MPI_SUCCESS ||
        PMPI_Type_get_true_extent_x(type, &tlb, &textent) != MPI_SUCCESS || textent < 0)
        return;
    /* element i writes [buf + i*extent + tlb, ... + textent); extent may be negative */
    __int128 last = (__int128)(count - 1) * extent;
    __int128 from = (__int128)(uintptr_t)buf + tlb + (last < 0 ? last : 0);
    __int128 to = (__int128)(uintptr_t)buf + tlb + textent + (last > 0 ? last : 0);
    *lo = from < 0 ? 0 : from > (__int128)UINTPTR_MAX ? UINTPTR_MAX : (uintptr_t)from;
    *hi = to < 0 ? 0 : to > (__int128)UINTPTR_MAX ? UINTPTR_MAX : (uintptr_t)to;
}

int bcast_candidate(void *buf, MPI_Count count, MPI_Datatype type, int root, MPI_Comm comm,
                    bcast_call *call)
{
    /* Only tests whose answer is the same on every rank of a correct program may skip the
     * agreement: "nothing marked here" is not one of them (another rank may have marked). */
    if (!bcast_cfg.active || count <= 0)
        return 0;
    MPI_Count size;
    if (PMPI_Type_size_x(type, &size) != MPI_SUCCESS || size <= 0 ||
        (size_t)count > SIZE_MAX / (size_t)size)
        return 0;
    size_t total = (size_t)count * (size_t)size;
    int below = total < bcast_cfg.threshold;
    if (bcast_cfg.report)
        report_call(comm, below);
    if (below) {
        if (log_verbosity >= 1)
            note_below_threshold(buf, total, comm);
        return 0;
    }
    int inter = 1, nranks = 1;
    /* an intercommunicator, a single rank, or an invalid root (the same on every rank: MPI
     * reports the error) */
    if (PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter ||
        PMPI_Comm_size(comm, &nranks) != MPI_SUCCESS || nranks < 2 || root < 0 ||
        root >= nranks) {
        if (bcast_cfg.report)
            report_outcome(comm, 0, WHY_OTHER, total);
        return 0;
    }
    /* A non-contiguous type falls back on this rank only; the agreement makes it collective. */
    *call = (bcast_call){.buf = buf, .bytes = total, .size = total, .lo = (uintptr_t)buf,
                         .root = root, .comm = comm, .count = count, .type = type};
    call->hi = total > UINTPTR_MAX - call->lo ? UINTPTR_MAX : call->lo + total;
    if (!type_is_dense(type)) {
        log_msg(2, "datatype is not contiguous: not shared");
        call->bytes = 0;
        type_reach(buf, count, type, &call->lo, &call->hi);
    }
    return 1;
}

/* One attempt at a shared broadcast, with everything it must release. */
typedef struct attempt {
    void *buf;
    size_t bytes;
    size_t size; /* the data's size, also for a non-contiguous type (bytes 0) */
    int root;
    MPI_Comm comm;
    topo *t;
    layout lay;
    /* arrays in the topology's scratch space (no allocation per broadcast): [size] votes,
     * [node_size] the rest */
    headroom_vote *votes;
    int *order;                  /* [size], for headroom_short */
    size_t *offsets;             /* in-page offset of every node rank's buffer */
    int *leader;                 /* node rank that makes each rank's segment */
    seg_ref *refs;               /* segments made by group leaders */
    segment own;                 /* the segment this rank maps */
    segment primary;             /* node rank 0's segment, when this rank also needs it */
    int status;                  /* ST_*, this rank's */
    const char *failed_step;
    int failed_errno;
    int lost; /* errno: mapping failed and the buffer could not be refilled */
    int mapped; /* this rank's buffer maps the segment (its pages were not refilled privately) */
    double seed_seconds, map_seconds; /* this rank's time making and filling, and mapping */
    /* selection */
    uintptr_t call_pc;           /* the application's call (0: not captured) */
    int by_site;                 /* MPISHM_SITES names a function on the call stack */
    int origin;                  /* region_origin of the buffer's array, -1 when none */
    int implicit;                /* this call added the array to the registry */
    int unselectable;            /* not marked, and no selection could share it here */
    int site;                    /* sites.h id of the call, -1 when not captured */
    int written;                 /* a selected array was written since it was shared */
    int in_place;                /* agreed: every rank's copy is untouched since it was shared */
    int slow;                    /* a selected array whose site shares slower than MPI_Bcast */
    int probe;                   /* all fall back so that this rank times MPI_Bcast at its site */
    int keep_fd;                 /* this rank keeps its segment open read-write (rewrite) */
    int old_on_node;             /* a rank of the node keeps an earlier segment until mapped */
    int same_last;               /* agreed: every rank's buffer is what one shared broadcast
                                  * filled last, so its segment maps this buffer alone */
    int rewrite;                 /* agreed: the root's new data goes into the segments in place */
    size_t huge;                 /* the node's copies are laid out for huge pages of this size */
    why_not why;                 /* when not shared */
    /* MPI_Bcast called by the library (bcast_now), before or without a shared attempt */
    const bcast_call *call;
    int delivered;               /* it was called: the data is there, or bcast_rc says why not */
    int bcast_rc;
    double bcast_seconds;        /* its time, not the library's */
} attempt;

static void fail(attempt *a, int status, const char *step, int err)
{
    if (a->status != ST_OK)
        return; /* keep the first reason */
    a->status = status;
    a->failed_step = step;
    a->failed_errno = err;
}

/* A stage that may be made to fail by MPISHM_FAULT: the injected errno, else the real one. */
static int staged(fault_stage stage, int real_rc) { return real_rc ? real_rc : fault_inject(stage); }

/* Reduce `value` with `op` over the communicator: the agreement every branch point uses. */
static int agree(attempt *a, long long *value, MPI_Op op)
{
    return wait_allreduce(value, 1, MPI_LONG_LONG, op, a->comm);
}

static void release(attempt *a)
{
    seg_unlink(&a->own);
    seg_close(&a->own);
    seg_close(&a->primary);
    a->own = (segment)SEGMENT_INIT;
    a->primary = (segment)SEGMENT_INIT;
}

static int my_group_leader(const attempt *a) { return a->leader[a->t->node_rank]; }
static int root_is_here(const attempt *a) { return a->t->node_of[a->root] == a->t->node_index; }
static int is_root(const attempt *a) { return a->t->rank == a->root; }

/* The root alone on its node: its own buffer is that node's copy, sent to the other nodes'
 * leaders as it is; no segment there (one would be a second copy). */
static int lone_root(const attempt *a) { return a->t->node_size == 1 && is_root(a); }

/* The descriptor this rank keeps of its array's segment still is that segment, open for
 * writing, and not sealed against it. */
static int writable_segment(const region *r)
{
    struct stat st;
    if (r->fd < 0 || fstat(r->fd, &st) != 0 || (unsigned long)st.st_dev != r->dev ||
        (unsigned long)st.st_ino != r->ino || (fcntl(r->fd, F_GETFL) & O_ACCMODE) != O_RDWR)
        return 0;
    int seals = fcntl(r->fd, F_GET_SEALS);
    return seals >= 0 && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
}

/* Whether the array is this buffer alone, and mapped from an earlier broadcast's segment
 * (not pieces from several). */
static int shared_alone(const attempt *a, const region *r)
{
    return r->shared && r->base + bcast_cfg.page > (uintptr_t)a->buf &&
           (uintptr_t)a->buf + a->bytes + bcast_cfg.page > r->base + r->bytes;
}

/* The root may free its node's earlier segment before the new one is made when it needs
 * none of it: every page of its buffer is its own (it refilled them all), it holds the
 * segment open for writing, and the segment's other ranks, this communicator's, are about
 * to have their copies written anew. */
static int root_may_free(const void *buf, size_t bytes, MPI_Comm comm, const region *r)
{
    layout l;
    layout_compute(&l, (uintptr_t)buf, bytes, bcast_cfg.page);
    const topo *t = topo_cached(comm);
    /* the segment holds this buffer's data alone, and its ranks are this communicator's */
    if (!l.map_len || !r->shared || r->last_buf != (uintptr_t)buf || r->last_bytes != bytes ||
        !t || t->id != r->comm_id)
        return 0;
    long own = procmaps_private_pages(l.map_start, l.map_len);
    return own >= 0 && (size_t)own == l.map_len / bcast_cfg.page && writable_segment(r);
}

static int root_can_free_old(const attempt *a, const region *r)
{
    return root_may_free(a->buf, a->bytes, a->comm, r);
}

/* Whether this rank's array is mapped from an earlier broadcast's segment that it cannot
 * let go of before the new copy is made: as the root, its unchanged pages are that
 * segment's. (An array that reaches beyond this buffer, broadcast in pieces, is not
 * counted: the rest of it, shared, saves more than the piece's old segment costs.) */
static int old_stays(const attempt *a, const region *r, int found)
{
    if (!found || !shared_alone(a, r))
        return 0;
    return is_root(a) && !(a->lay.map_len && a->same_last && root_can_free_old(a, r));
}

/* Step 4: every node rank learns every buffer's offset (modulo the huge-page size where
 * node copies are laid out for huge pages, else the page), whether its rank keeps an earlier
 * broadcast's segment until the new one is mapped (old_stays), and its segment's maker. Ranks
 * at one in-page offset share a segment, in which their data starts at the maker's offset:
 * every rank whose buffer agrees with the maker's modulo 2 MiB maps its whole huge pages
 * with one page-table entry each, the others with 4 KiB ones. Huge pages are used where
 * every rank of the node says its system allows them. */
static int exchange_layout(attempt *a)
{
    int n = a->t->node_size;
    int size = a->t->size;
    size_t page = bcast_cfg.page, align = bcast_cfg.huge ? bcast_cfg.huge : page;
    a->votes = a->t->scratch;
    a->refs = (seg_ref *)(a->votes + size);
    a->offsets = (size_t *)(a->refs + size);
    a->leader = (int *)(a->offsets + size);
    a->order = a->leader + size;
    region r;
    int found = region_find((uintptr_t)a->buf, a->bytes, &r);
    size_t mine = ((uintptr_t)a->buf & (align - 1)) << 2 | (size_t)(bcast_cfg.huge != 0) << 1 |
                  (size_t)old_stays(a, &r, found);
    int rc = wait_allgather(&mine, a->offsets, sizeof(size_t), a->t->node);
    a->old_on_node = 0;
    a->huge = rc == MPI_SUCCESS ? bcast_cfg.huge : 0;
    for (int i = 0; rc == MPI_SUCCESS && i < n; i++) {
        a->old_on_node |= (int)(a->offsets[i] & 1);
        if (!(a->offsets[i] & 2))
            a->huge = 0;
        a->offsets[i] >>= 2;
    }
    if (rc != MPI_SUCCESS)
        return rc;
    for (int i = 0; !a->huge && i < n; i++)
        a->offsets[i] &= page - 1;
    layout_groups(a->offsets, n, page, a->leader);
    layout_place(&a->lay, (uintptr_t)a->buf, a->offsets[my_group_leader(a)], page);
    return rc;
}

/* A writable view of its own segment is needed by the node leader when nodes exchange
 * data (MPI reads or writes it there) and by a secondary group's maker (it copies into it).
 * Everyone else moves data with pread and pwrite and maps only the final pages. */
static int needs_view(const attempt *a)
{
    int me = a->t->node_rank;
    return me == 0 ? a->t->nodes > 1 : my_group_leader(a) == me;
}

/* Step 5, first half: group leaders make and reserve their segment. */
static void create_segment(attempt *a, seg_kind kind)
{
    if (my_group_leader(a) != a->t->node_rank || lone_root(a))
        return;
    int rc = staged(FAULT_CREATE, seg_create(&a->own, kind, a->lay.seg_size));
    if (rc) {
        fail(a, ST_FAILED, "create", rc);
        return;
    }
    if (fault_inject(FAULT_KILL)) /* a rank killed while its segment has a name */
        raise(SIGKILL);
    size_t from = a->lay.offset & ~(bcast_cfg.page - 1); /* (the pages before hold nothing) */
    rc = a->huge ? seg_reserve_huge(&a->own, from, a->huge, bcast_cfg.huge_unasked, needs_view(a))
                 : seg_reserve(&a->own);
    rc = staged(FAULT_RESERVE, rc);
    if (rc) {
        fail(a, ST_FAILED, "reserve", rc);
        return;
    }
    rc = needs_view(a) ? staged(FAULT_MAP, seg_map_shared(&a->own, 1)) : 0;
    if (rc)
        fail(a, ST_FAILED, "map", rc);
}

static size_t seg_size_of(const attempt *a, int node_rank)
{
    size_t page = bcast_cfg.page;
    return (a->offsets[node_rank] + a->bytes + page - 1) & ~(page - 1);
}

/* Open the segment made by node rank `maker`. */
static void open_segment(attempt *a, segment *s, int maker, int writable)
{
    const seg_ref *ref = &a->refs[maker];
    if (ref->pid == 0) { /* its maker failed and says why */
        fail(a, ST_FAILED, NULL, 0);
        return;
    }
    int rc = staged(FAULT_OPEN, seg_open(s, ref, seg_size_of(a, maker), writable));
    if (rc)
        fail(a, ST_OPEN_FAILED, "open", rc);
}

/* Step 5, second half: everyone opens the segment it maps from; the root also the node's
 * primary segment (node rank 0's), which it seeds; a secondary group's maker the primary
 * segment it copies from. */
static void open_segments(attempt *a)
{
    int me = a->t->node_rank, mine = my_group_leader(a);
    int seeds = is_root(a);
    if (mine != me)
        open_segment(a, &a->own, mine, (seeds && mine == 0) || a->keep_fd);
    int needs_primary = (seeds && mine != 0) || (mine == me && me != 0);
    if (needs_primary && a->status == ST_OK)
        open_segment(a, &a->primary, 0, seeds);
}

/* The node's primary segment: opened separately, or this rank's own. */
static segment *primary_of(attempt *a) { return a->primary.fd >= 0 ? &a->primary : &a->own; }

/* Step 6: the root fills its node's primary segment; node leaders broadcast it among nodes. */
static int seed(attempt *a)
{
    topo *t = a->t;
    int rc = MPI_SUCCESS;
    if (is_root(a)) {
        if (fault_inject(FAULT_KILL)) /* a rank killed in the middle of a broadcast */
            raise(SIGKILL);
        int err = lone_root(a) ? 0
                               : staged(FAULT_SEED, seg_write(primary_of(a), a->buf, a->bytes,
                                                              a->offsets[0]));
        if (err)
            fail(a, ST_FAILED, "seed", err);
    }
    if (t->nodes > 1) {
        if (root_is_here(a))
            rc = wait_barrier(t->node); /* the leader sends nothing before the root's copy */
        if (rc == MPI_SUCCESS && t->node_rank == 0) {
            char *data = lone_root(a) ? (char *)a->buf : (char *)a->own.map + a->offsets[0];
            int from = t->node_of[a->root];
            for (size_t done = 0; done < a->bytes && rc == MPI_SUCCESS; done += SEED_CHUNK) {
                size_t n = a->bytes - done < SEED_CHUNK ? a->bytes - done : SEED_CHUNK;
                rc = PMPI_Bcast(data + done, (int)n, MPI_BYTE, from, t->leaders);
            }
            int injected = fault_inject(FAULT_SEED);
            if (rc != MPI_SUCCESS || injected)
                fail(a, ST_FAILED, "seed", injected ? injected : EIO);
            rc = MPI_SUCCESS; /* the failure is agreed below, like any other */
        }
    }
    return rc;
}

/* Ranks whose buffer has another in-page offset than node rank 0's get their own segment,
 * filled from the primary one by its maker once the primary is seeded. The copy's outcome
 * is part of the agreement that follows, which also holds the group back until it is done. */
static int copy_to_secondary(attempt *a)
{
    topo *t = a->t;
    if (layout_group_count(a->leader, t->node_size) == 1)
        return MPI_SUCCESS;
    int rc = wait_barrier(t->node); /* the root's write or the leaders' broadcast is done */
    int me = t->node_rank;
    if (rc == MPI_SUCCESS && my_group_leader(a) == me && me != 0 && a->status == ST_OK) {
        int err = staged(FAULT_COPY, seg_read(&a->primary, (char *)a->own.map + a->offsets[me],
                                              a->bytes, a->offsets[0]));
        if (err)
            fail(a, ST_FAILED, "copy", err);
    }
    return rc;
}

/* Step 7: map the whole pages copy-on-write over the buffer; copy the partial ones.
 * Returns 0, or an errno value when this rank's buffer could not be filled at all. */
static int map_over_buffer(attempt *a)
{
    layout *l = &a->lay;
    int rc = 0, lost = 0;
    region r;
    /* Strict mode: an earlier broadcast's read-only pages of this array become writable
     * copy-on-write again first; this broadcast's partial pages may lie among them. */
    if (protect_current() != PROTECT_OFF && region_find((uintptr_t)a->buf, a->bytes, &r) &&
        r.shared) {
        size_t page = bcast_cfg.page;
        uintptr_t lo = r.base & ~(uintptr_t)(page - 1);
        protect_remove(lo, ((r.base + r.bytes + page - 1) & ~(uintptr_t)(page - 1)) - lo);
    }
    if (l->map_len) {
        rc = staged(FAULT_REMAP, 0);
        if (rc == 0)
            rc = seg_map_private(&a->own, (void *)l->map_start, l->map_len, l->map_seg_off,
                                 bcast_cfg.prefault);
    }
    if (rc) {
        /* Seeding is over, so the data is already on the node: this rank alone takes a
         * private copy. A failed MAP_FIXED may have unmapped the range: map it afresh. */
        log_warn("mapping the shared copy over %p failed (%s): this rank keeps a private copy",
                 (void *)l->map_start, strerror(rc));
        protect_remove(l->map_start, l->map_len); /* an earlier broadcast's read-only pages */
        lost = staged(FAULT_REFILL, mem_make_private((void *)l->map_start, l->map_len, 0));
        if (!lost)
            lost = seg_read(&a->own, (void *)l->map_start, l->map_len, l->map_seg_off);
    }
    if (!is_root(a) && !lost) {
        lost = seg_read(&a->own, a->buf, l->head_len, l->offset);
        if (!lost)
            lost = seg_read(&a->own, (char *)a->buf + a->bytes - l->tail_len, l->tail_len,
                            l->offset + a->bytes - l->tail_len);
    }
    a->mapped = rc == 0;
    unsigned long dev = 0, ino = 0;
    if (rc == 0 && seg_identity(&a->own, &dev, &ino) != 0)
        dev = ino = 0;
    if (region_find((uintptr_t)a->buf, a->bytes, &r)) { /* private again after a failed map */
        region_set_shared(r.base, rc == 0 ? l->map_len : 0, dev, ino);
        if (rc == 0 && l->map_len && protect_current() != PROTECT_OFF)
            protect_add(l->map_start, l->map_len, r.base, r.bytes, r.mark_pc,
                        r.origin == ORIGIN_MARK    ? "marked at"
                        : r.origin == ORIGIN_SITES ? "selected by MPISHM_SITES at"
                                                   : "selected by MPISHM_AUTO at");
    }
    return lost;
}

static void say_why(const attempt *a)
{
    if (a->failed_step) {
        log_msg(1, "%s of the node segment failed (%s): falling back to MPI_Bcast",
                a->failed_step, strerror(a->failed_errno));
        if (bcast_cfg.report)
            report_failure(a->failed_step, a->failed_errno);
    }
}

/* Bytes of page tables for `len` bytes mapped with 4 KiB pages: 8 per page. */
static uint64_t page_table_bytes(size_t len) { return (uint64_t)(len / 4096 + 1) * 8; }

/* The same for `len` bytes mapped at `addr` from offset `off` of a copy laid out for huge
 * pages of `huge` bytes (0: none): where address and offset agree modulo the huge page, 8
 * per huge page, and 4 KiB pages only in the partial huge pages at either end. */
static uint64_t mapping_table_bytes(uintptr_t addr, size_t len, size_t off, size_t huge)
{
    if (!huge || ((addr ^ off) & (huge - 1)))
        return page_table_bytes(len);
    return 2 * page_table_bytes(huge) + (uint64_t)(len / huge + 1) * 8;
}

/* What this rank is about to reserve: its group's segment if it makes it (from the page of
 * its data on: the pages before stay unallocated), and page tables for the mappings it
 * makes. */
static uint64_t reserve_need(const attempt *a)
{
    int me = a->t->node_rank;
    if (lone_root(a))
        return 0;
    const layout *l = &a->lay;
    uint64_t need = mapping_table_bytes(l->map_start, l->map_len, l->map_seg_off, a->huge);
    if (my_group_leader(a) == me) {
        size_t seg = seg_size_of(a, me);
        need += seg - (a->huge ? a->offsets[me] & ~(bcast_cfg.page - 1) : 0);
        need += needs_view(a) ? mapping_table_bytes(0, seg, 0, a->huge) : 0;
    }
    return need;
}

enum { VOTE_NO_SAVING = 1, VOTE_PROBE = 2, VOTE_SLOW = 4 };

/* Copies this node would hold at once, at most: one per segment, the root's own pages until
 * its mapping replaces them, and the segment an earlier broadcast shared the array from
 * while a rank still maps it (the root does, its unchanged pages are that segment's).
 * MPI_Bcast leaves one per rank. Reads the votes. */
static int node_saves(const attempt *a)
{
    if (a->t->node_size == 1 && root_is_here(a)) /* lone_root: its buffer only */
        return 1;
    int groups = layout_group_count(a->leader, a->t->node_size);
    return groups + root_is_here(a) + a->old_on_node <= a->t->node_size;
}

/* Bytes of this rank's buffer that giving its pages back would free: its private pages
 * (a receiver's only: the root keeps its data). */
static uint64_t give_back_bytes(const attempt *a)
{
    if (is_root(a) || !a->lay.map_len)
        return 0;
    long n = procmaps_private_pages(a->lay.map_start, a->lay.map_len);
    return n > 0 ? (uint64_t)n * bcast_cfg.page : 0;
}

/* A root whose pages are all its own frees its node's old segment, which every other rank
 * of the node is letting go of (or lets go of it in a fallback, unshare): its pages go at
 * once, a hole punched through the root's descriptor (its mapping stays, of private pages
 * only). Where that fails the root lets go of its own hold instead (its pages copied into
 * anonymous memory, 2 MiB at a time, its descriptor closed), so that the segment goes with
 * the node's last rank to let go, and no more is held than the peak count said. */
static void free_old_segment(const region *r, int unshare)
{
    int err = staged(FAULT_PUNCH, fd_free_pages(r->fd));
    if (err)
        log_msg(2, "freeing the node's earlier copy of the array at %p failed (%s): this "
                "rank lets go of it", (void *)r->base, strerror(err));
    if ((err || unshare) && unshare_region(r, 1) == 0)
        region_set_shared(r->base, 0, 0, 0);
}

/* Peak memory: a receiving rank's whole pages are about to be overwritten, by the node copy
 * or, after a failure, by MPI: give them back before any node copy is reserved, so that no
 * node holds its ranks' old pages and a new copy at once. Where the array was shared from an
 * earlier segment and nothing else of it is, drop that mapping too (and its descriptor), so
 * that the old segment goes with the last rank that holds it. (Through libc's madvise and
 * mmap, which UCX watches, so that a registration of those pages is dropped.) The root keeps
 * its pages until its mapping replaces them; partial first and last pages stay. */
static void give_back_pages(attempt *a)
{
    region r;
    int found = region_find((uintptr_t)a->buf, a->bytes, &r);
    if (!a->lay.map_len)
        return;
    if (is_root(a)) { /* its pages are all its own: the old segment's can go (nobody else
                       * on the node holds any of it: the layout exchange said so) */
        if (found && shared_alone(a, &r) && !a->old_on_node && a->same_last &&
            root_can_free_old(a, &r))
            free_old_segment(&r, 0);
        return;
    }
    if (found && r.shared && !old_stays(a, &r, found)) {
        peak_leaving();
        protect_remove(a->lay.map_start, a->lay.map_len); /* strict mode's read-only pages */
        if (mem_make_private((void *)a->lay.map_start, a->lay.map_len, 0) == 0)
            region_set_shared(r.base, 0, 0, 0);
    } else if (madvise((void *)a->lay.map_start, a->lay.map_len, MADV_DONTNEED) != 0) {
        log_msg(2, "giving back the buffer's pages failed (%s)", strerror(errno));
    }
}

/* The time policy's word on this broadcast (MPISHM_RESHARE=auto, a selected array only). */
static time_verdict time_policy(const attempt *a)
{
    if (bcast_cfg.reshare_always || a->origin == ORIGIN_MARK || a->origin < 0)
        return TIME_OK;
    return sites_time_verdict(a->site);
}

/* The lowest rank whose vote carries `flag`, or -1. */
static int first_with(const attempt *a, int flag)
{
    for (int i = 0; i < a->t->size; i++)
        if (a->votes[i].flags & flag)
            return i;
    return -1;
}

/* Where the ranks' votes say a selected site's sharing is slower than MPI_Bcast, or is
 * to be timed against it, every rank falls back (only where MPI_Bcast's own copies fit:
 * memory comes first). Returns 1 when they do. */
static int time_says_fall_back(attempt *a, time_verdict mine)
{
    int slow = first_with(a, VOTE_SLOW), probe = first_with(a, VOTE_PROBE);
    limit_kind kind;
    uint64_t room, freed, sum;
    if ((slow < 0 && probe < 0) ||
        headroom_short(a->votes, a->t->size, bcast_cfg.headroom, 1, a->order, &kind, &room,
                       &freed, &sum) >= 0)
        return 0;
    a->why = slow >= 0 ? WHY_SLOW : WHY_TIMING;
    if (slow >= 0) { /* agreed: every rank leaves its site (and the selection) to MPI */
        site_record r;
        sites_copy(a->site, &r);
        sites_mark_slow(a->site);
        if (a->t->rank == slow)
            log_msg(1, "broadcast of %zu bytes: sharing it took %.3f ms here, MPI_Bcast "
                    "%.3f ms: its call site is left to MPI from now on (MPISHM_RESHARE=always "
                    "keeps sharing)", a->bytes, 1e3 * r.share_seconds, 1e3 * r.plain_seconds);
    }
    a->probe = slow < 0 && mine == TIME_PROBE; /* the caller times its MPI_Bcast */
    return 1;
}

/* Whether two nodes' ranks draw on one pool of memory (one machine: simulated nodes, or the
 * NUMA domains of MPISHM_SCOPE=numa). */
static int pools_span_nodes(const attempt *a)
{
    for (int i = 1; i < a->t->size; i++)
        if (a->t->node_of[i] != a->t->node_of[0] && a->votes[i].machine == a->votes[0].machine)
            return 1;
    return 0;
}

/* Before anything is reserved, all ranks decide alike whether the copies fit: every rank
 * says what it reserves, what giving its buffer's pages back frees, and the room its limits
 * leave; each pool of memory must hold what its ranks reserve, less what they give back,
 * plus MPISHM_HEADROOM. The same votes carry the time policy's word and every node's "no
 * saving". Where all fits, receiving ranks give their pages back, and all wait for that
 * before any copy is reserved (across nodes too where they share a pool: simulated nodes).
 * Returns an MPI code; *fits 0 with a->why set when every rank must fall back. */
static int agree_room(attempt *a, int *fits)
{
    time_verdict timing = time_policy(a);
    uint64_t mine_freed = give_back_bytes(a);
    headroom_vote mine = {.need = reserve_need(a), .give_back = mine_freed,
                          .plain_need = is_root(a) ? 0
                                                   : page_table_bytes(a->bytes) + a->bytes -
                                                         mine_freed};
    headroom_probe("", &mine);
    if (fault_inject(FAULT_HEADROOM)) /* as if this rank's machine were full */
        mine.machine_room = 0;
    mine.flags = (node_saves(a) ? 0 : VOTE_NO_SAVING) | (timing == TIME_PROBE ? VOTE_PROBE : 0) |
                 (timing == TIME_SLOW ? VOTE_SLOW : 0);
    int rc = wait_allgather(&mine, a->votes, sizeof mine, a->comm);
    *fits = 0;
    if (rc != MPI_SUCCESS)
        return rc;
    int crowded = first_with(a, VOTE_NO_SAVING);
    if (crowded >= 0) {
        a->why = WHY_NO_SAVING;
        if (a->t->rank == 0)
            log_msg(1, "broadcast of %zu bytes not shared: %s %d would hold more copies "
                    "at once than MPI_Bcast leaves (its segments, one per in-page offset of "
                    "its ranks' buffers, the root's own pages and an earlier segment still "
                    "mapped would outnumber its ranks)", a->bytes, topo_unit(a->t),
                    a->t->node_of[crowded]);
        return MPI_SUCCESS;
    }
    if (time_says_fall_back(a, timing))
        return MPI_SUCCESS;
    limit_kind kind;
    uint64_t room, freed, sum;
    int short_at = headroom_short(a->votes, a->t->size, bcast_cfg.headroom, 0, a->order, &kind,
                                  &room, &freed, &sum);
    if (short_at >= 0) {
        a->why = WHY_NO_HEADROOM;
        if (a->t->rank == short_at && bcast_cfg.report) /* (the pool is the host's) */
            report_headroom(limit_name[kind], a->t->host_of[short_at], room, freed, sum,
                            bcast_cfg.headroom);
        if (a->t->rank == 0)
            log_msg(1, "broadcast of %zu bytes not shared: no memory headroom on node %d (rank "
                    "%d): %s leaves %.1f MiB and its ranks would give back %.1f MiB, the node "
                    "copies charged there need %.1f MiB and MPISHM_HEADROOM keeps %.1f MiB",
                    a->bytes, a->t->host_of[short_at], short_at, limit_name[kind],
                    (double)room / 1048576, (double)freed / 1048576, (double)sum / 1048576,
                    (double)bcast_cfg.headroom / 1048576);
        return MPI_SUCCESS;
    }
    give_back_pages(a);
    *fits = 1;
    return pools_span_nodes(a) ? wait_barrier(a->comm) : wait_barrier(a->t->node);
}

/* Steps 4-7 with segments of one kind. Returns an MPI error code; *status is the agreed
 * outcome (ST_OK: delivered, unless a->lost says this rank's buffer could not be filled). */
static int attempt_kind(attempt *a, seg_kind kind, long long *status)
{
    a->seed_seconds = a->map_seconds = 0; /* a retry's times replace the failed attempt's */
    int rc;
    double t = PMPI_Wtime();
    create_segment(a, kind);
    a->seed_seconds += PMPI_Wtime() - t;
    seg_ref made = {0}; /* pid 0: "nothing made here" */
    if (my_group_leader(a) == a->t->node_rank && a->status == ST_OK)
        made = a->own.ref;
    rc = wait_allgather(&made, a->refs, sizeof made, a->t->node);
    if (rc != MPI_SUCCESS)
        return rc;
    open_segments(a);
    *status = a->status;
    rc = agree(a, status, MPI_MAX);
    if (rc != MPI_SUCCESS || *status != ST_OK)
        return rc;
    seg_unlink(&a->own); /* every peer has it open: the name can go */
    t = PMPI_Wtime();
    rc = seed(a);
    if (rc == MPI_SUCCESS)
        rc = copy_to_secondary(a);
    a->seed_seconds += PMPI_Wtime() - t;
    *status = a->status;
    if (rc == MPI_SUCCESS)
        rc = agree(a, status, MPI_MAX); /* also: every segment is seeded */
    if (rc != MPI_SUCCESS || *status != ST_OK)
        return rc;
    /* (not a segment that its ranks keep open to write: the seal would refuse that) */
    if (lone_root(a)) /* its buffer is the copy: nothing to seal or map */
        return MPI_SUCCESS;
    int sealed = my_group_leader(a) == a->t->node_rank && !a->keep_fd ? seg_seal_writes(&a->own)
                                                                      : 0;
    if (sealed != 0)
        log_msg(2, "sealing the segment against writes failed (%s)", strerror(sealed));
    t = PMPI_Wtime();
    a->lost = map_over_buffer(a);
    a->map_seconds = PMPI_Wtime() - t;
    return MPI_SUCCESS;
}

/* Without a mark, MPISHM_AUTO or a site named in MPISHM_SITES may select the buffer: it is
 * then marked here, for as long as it stays shared. Never a stack, never memory that is not
 * this process's private writable memory. */
static int select_unmarked(attempt *a)
{
    if (!bcast_cfg.auto_select && !a->by_site)
        return 0;
    if (sites_is_written(a->site)) {
        a->written = 1;
        return 0;
    }
    if (sites_is_slow(a->site)) {
        a->slow = 1;
        return 0;
    }
    uintptr_t start = (uintptr_t)a->buf;
    /* A buffer that grew over an earlier selection: that one ends first (its pages become
     * private and writable again, also in strict mode). A marked array there is not ours. */
    if (retire_selected(start, a->bytes) != 0)
        return 0;
    if (!procmaps_not_a_stack(start, start + a->bytes)) {
        log_msg(2, "broadcast of %zu bytes at %p not selected: not private writable memory, or "
                "a stack", a->bytes, a->buf);
        a->unselectable = 1;
        return 0;
    }
    region_origin origin = a->by_site ? ORIGIN_SITES : ORIGIN_AUTO;
    if (region_add_from(start, a->bytes, origin, a->call_pc, a->site) != 0)
        return 0;
    a->implicit = 1;
    a->origin = (int)origin;
    return 1;
}

/* An array selected without a mark carries no promise: if pages of its shared copy were
 * written since the last broadcast by a rank that receives this one, sharing it again would
 * make the writes fault and copy again. This rank then stops selecting it (and its call
 * site), which the agreement turns into a fallback everywhere. */
static int written_since_shared(attempt *a, const region *r)
{
    if (r->origin == ORIGIN_MARK || !r->shared)
        return 0;
    int rank = -1;
    PMPI_Comm_rank(a->comm, &rank);
    if (rank == a->root) /* its writes are the data it sends now: they end no selection */
        return 0;
    layout l;
    layout_compute(&l, r->base, r->bytes, bcast_cfg.page);
    long written = procmaps_private_pages(l.map_start, r->shared_bytes);
    if (written <= 0) /* -1: pagemap unreadable, nothing known: keep sharing */
        return 0;
    log_msg(1, "the array at %p (%zu bytes, selected by %s) was written after it was shared: "
            "the call sites that selected and broadcast it are left to MPI from now on",
            (void *)r->base, r->bytes, r->origin == ORIGIN_SITES ? "MPISHM_SITES" : "MPISHM_AUTO");
    sites_mark_written(a->site);
    sites_mark_written(r->site); /* and the site that selected it: neither takes it again */
    if (unshare_region(r, 1) == 0)
        region_remove(r->base, NULL);
    a->written = 1;
    return 1;
}

/* Whether this rank's kept descriptor still is the segment its array maps, open for
 * writing, unsealed, and the broadcast that filled it was on this communicator (so that the
 * segment's ranks are this broadcast's: nobody else would see its data change). */
static int rewritable(const attempt *a, const region *r)
{
    const topo *t = topo_cached(a->comm);
    return t && t->id == r->comm_id && r->one_group && writable_segment(r);
}

/* The stamp of this rank's copy when the array at buf holds, untouched, what the shared
 * broadcast that last filled it delivered (the same buffer and size, no page of its
 * mapping written since, the root's included): then, if every rank holds the same stamp,
 * the data is in place everywhere and only the partial first and last pages need sending.
 * 0 otherwise. */
static uint64_t in_place_stamp(const attempt *a, const region *r, uint64_t *rewrite)
{
    layout l;
    layout_compute(&l, (uintptr_t)a->buf, a->bytes, bcast_cfg.page);
    *rewrite = 0;
    if (!r->shared || !r->stamp || r->last_buf != (uintptr_t)a->buf || r->last_bytes != a->bytes ||
        2 * bcast_cfg.page > EDGE_BYTES || !l.map_len || r->shared_bytes != l.map_len)
        return 0;
    /* every page present, as the segment's or as this rank's own: memory mapped over the
     * buffer behind the library's back (an application's mmap) and never touched would show
     * neither */
    long file = 0, written = procmaps_page_kinds(l.map_start, l.map_len, &file);
    if (written < 0 || (size_t)(written + file) != l.map_len / bcast_cfg.page)
        return 0;
    int root = 0;
    PMPI_Comm_rank(a->comm, &root);
    root = root == a->root;
    if ((written == 0 || (written > 0 && root)) && rewritable(a, r))
        *rewrite = r->stamp;
    return written == 0 ? r->stamp : 0;
}

/* A selected array whose site (this call's, or the one that selected it) was found to
 * share slower than MPI_Bcast goes back to MPI: private again, no longer selected. */
static int left_slow(attempt *a, const region *r)
{
    if (r->origin == ORIGIN_MARK || (!sites_is_slow(a->site) && !sites_is_slow(r->site)))
        return 0;
    if (unshare_region(r, 1) == 0)
        region_remove(r->base, NULL);
    a->slow = 1;
    return 1;
}

/* What the eligibility vote agrees: each field reduced with MPI_MIN, so a maximum rides as
 * a negated minimum. The reasons ride along, so that every rank reports the same one (and a
 * testing aid: an MPI error injected on one rank becomes every rank's). */
typedef struct eligibility {
    long long marked, neg_marked;     /* every rank, any rank: the buffer is marked or selected */
    long long bytes, neg_bytes;       /* the smallest and largest byte count (0: non-contiguous) */
    long long neg_written;            /* any rank: its selection was written */
    long long neg_unselectable;       /* any rank: a stack, or not private memory */
    long long neg_fault;              /* any rank: an injected MPI error */
    long long neg_slow;               /* any rank: its site shares slower than MPI_Bcast */
    long long stamp, neg_stamp;       /* every rank's copy in place, and all the same stamp */
    long long rewrite, neg_rewrite;   /* every segment can take the root's new data in place */
    long long neg_timing;             /* any rank: its site is to be timed, or found slow */
    long long last, neg_last;         /* every buffer last filled by one shared broadcast */
    long long neg_early;              /* any rank: it called MPI_Bcast before the outcome */
    long long root_site;              /* the root's site key (sites.h), for the report */
} eligibility;

/* This rank's vote (local; where MPISHM_AUTO or MPISHM_SITES selects the buffer, it is
 * marked here). Returns 1 where the vote is a no: this rank knows the outcome alone. */
static int cast_vote(attempt *a, eligibility *v)
{
    int rank = -1;
    PMPI_Comm_rank(a->comm, &rank);
    region r;
    int marked = a->bytes > 0 && region_find((uintptr_t)a->buf, a->bytes, &r);
    uint64_t stamp = 0, rewrite = 0, last = 0;
    if (marked && written_since_shared(a, &r))
        marked = 0;
    else if (marked && left_slow(a, &r))
        marked = 0;
    else if (marked)
        a->origin = (int)r.origin, stamp = in_place_stamp(a, &r, &rewrite),
        /* (also where this rank's own mapping failed and it kept a private copy: it maps
         * nothing of that segment then) */
        last = r.last_buf == (uintptr_t)a->buf && r.last_bytes == a->bytes ? r.stamp : 0;
    else if (a->bytes > 0)
        marked = select_unmarked(a);
    if (a->bytes > 0 && !marked) {
        log_msg(2, "broadcast of %zu bytes at %p is not in a marked array: MPI_Bcast at once, "
                "the vote taken after", a->bytes, a->buf);
        /* the report's candidates are the buffers a selection could share */
        if (bcast_cfg.report && !bcast_cfg.auto_select && !a->by_site) {
            uintptr_t start = (uintptr_t)a->buf;
            a->unselectable = !procmaps_not_a_stack(start, start + a->bytes);
        }
    }
    *v = (eligibility){marked, -marked, (long long)a->bytes, -(long long)a->bytes,
                       -(long long)a->written, -(long long)a->unselectable,
                       fault_inject(FAULT_MPI) ? -1 : 0, -(long long)a->slow,
                       (long long)(stamp >> 1), -(long long)(stamp >> 1),
                       (long long)(rewrite >> 1), -(long long)(rewrite >> 1),
                       -(long long)(marked && rewrite && time_policy(a) != TIME_OK),
                       (long long)(last >> 1), -(long long)(last >> 1), -(long long)!marked,
                       rank == a->root ? (long long)sites_key(a->site) : LLONG_MAX};
    return !marked;
}

static void bcast_now(void *attempt_);

/* The agreed outcome of the vote (rc: its MPI code): *eligible, and what a shared broadcast
 * may skip. An injected MPI error is every rank's; where a rank has called MPI_Bcast
 * already, every rank calls it before the error is raised (so no rank waits alone in it). */
static int read_vote(attempt *a, const eligibility *v, int rc, int *eligible)
{
    int rank = -1;
    PMPI_Comm_rank(a->comm, &rank);
    if (rc == MPI_SUCCESS && v->neg_fault) { /* as MPI would: the handler, then the code */
        if (v->neg_early && !a->delivered)
            bcast_now(a);
        rc = PMPI_Comm_call_errhandler(a->comm, MPI_ERR_OTHER) == MPI_SUCCESS ? MPI_ERR_OTHER : rc;
    }
    if (rc == MPI_SUCCESS && bcast_cfg.report && v->root_site != LLONG_MAX)
        sites_note_root(a->site, (uint64_t)v->root_site);
    int same_bytes = v->bytes == -v->neg_bytes;
    *eligible = rc == MPI_SUCCESS && v->marked == 1 && same_bytes;
    a->in_place = *eligible && v->stamp != 0 && v->stamp == -v->neg_stamp;
    a->same_last = *eligible && v->last != 0 && v->last == -v->neg_last;
    /* (a rewrite moves data: where a site is to be timed or was slow, the whole path, whose
     * room vote decides that, runs instead) */
    a->rewrite = *eligible && !a->in_place && v->rewrite != 0 && v->rewrite == -v->neg_rewrite &&
                 !v->neg_timing;
    a->why = !same_bytes || v->bytes == 0 ? WHY_NOT_CONTIGUOUS /* 0 bytes: a non-contiguous type */
             : v->neg_written ? WHY_WRITTEN
             : v->neg_slow ? WHY_SLOW
             : v->neg_unselectable ? WHY_NOT_SELECTABLE : WHY_NOT_MARKED;
    if (rc == MPI_SUCCESS && !*eligible && rank == 0 && -v->neg_marked == 1)
        log_msg(1, "broadcast of %zu bytes not shared: %s", a->size,
                !same_bytes ? "a rank passes a non-contiguous datatype"
                            : "the buffer is not marked on every rank");
    return rc;
}

/* Step 2: every rank must have the buffer inside a marked array, with the same byte count.
 * A rank that votes no knows the outcome, a fallback: it calls MPI_Bcast at once and takes
 * the vote's result after (every rank posts the same nonblocking vote first, so the order of
 * collectives is the same everywhere); only the others wait for it, and, as one rank said
 * no, call MPI_Bcast next. Nothing that follows a fallback needs another collective. */
static int agree_eligible(attempt *a, int *eligible)
{
    eligibility v;
    int count = sizeof v / sizeof(long long), rc;
    /* Where the ranks arrive together, a wait ends within wait_request's spinning phase. */
    if (cast_vote(a, &v))
        rc = wait_allreduce_while(&v, count, MPI_LONG_LONG, MPI_MIN, a->comm, bcast_now, a);
    else
        rc = wait_allreduce(&v, count, MPI_LONG_LONG, MPI_MIN, a->comm);
    return read_vote(a, &v, rc, eligible);
}

/* The data is in place on every rank (in_place_stamp): the root sends only the bytes of its
 * first and last pages, and each rank copies those of its partial pages (its whole pages
 * already hold them, mapped from its node's segment). */
static int resend_edges(attempt *a)
{
    size_t page = bcast_cfg.page;
    unsigned char edges[EDGE_BYTES];
    unsigned char *buf = a->buf;
    int rank = -1, rc = PMPI_Comm_rank(a->comm, &rank);
    if (rc == MPI_SUCCESS && rank == a->root) {
        memcpy(edges, buf, page);
        memcpy(edges + page, buf + a->bytes - page, page);
    }
    if (rc == MPI_SUCCESS)
        rc = PMPI_Bcast(edges, (int)(2 * page), MPI_BYTE, a->root, a->comm);
    if (rc == MPI_SUCCESS && rank != a->root) {
        layout l;
        layout_compute(&l, (uintptr_t)buf, a->bytes, page);
        memcpy(buf, edges, l.head_len);
        memcpy(buf + a->bytes - l.tail_len, edges + 2 * page - l.tail_len, l.tail_len);
    }
    return rc;
}

/* A shared view of the array's segment, for the ranks that write into it in a rewrite: the
 * root (its new data) and, with several nodes, a node leader (what the leaders' broadcast
 * brings). Kept with the array (region_keep_view), so that each later rewrite is a memcpy
 * into pages already mapped. NULL on other ranks or when it cannot be mapped (*err says
 * why); *temporary where it could not be kept and is unmapped after this call. */
static char *segment_view(const attempt *a, const region *r, size_t *len, int *err,
                          int *temporary)
{
    struct stat st;
    *err = 0, *len = 0, *temporary = 0;
    if (!is_root(a) && (a->t->nodes == 1 || a->t->node_rank != 0))
        return NULL;
    if (r->view && r->fd >= 0) {
        *len = r->view_len;
        return r->view;
    }
    if (fstat(r->fd, &st) != 0) {
        *err = errno;
        return NULL;
    }
    void *view = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    *err = view == MAP_FAILED ? errno : fault_inject(FAULT_MAP);
    if (*err) {
        if (view != MAP_FAILED)
            munmap(view, (size_t)st.st_size);
        return NULL;
    }
    *len = (size_t)st.st_size;
    *temporary = region_keep_view(r->base, r->fd, view, *len) != 0;
    return view;
}

/* The root changed its copy since the shared broadcast that filled every rank's, and no
 * other rank changed its own (in_place_stamp): the root writes its data into its node's
 * segment, which every rank of the node maps, node leaders pass it on to theirs, and every
 * rank sees the new data through the mapping it has: no new segment, no new mapping. The
 * others copy their partial pages. Every step that can fail on one rank is agreed before anyone goes on.
 * Returns an MPI code; *done 0 when a step failed somewhere (agreed): every rank falls back
 * to MPI_Bcast, which writes all of every buffer. */
static int rewrite_in_place(attempt *a, const region *r, int *done)
{
    topo *t = NULL;
    int rc = topo_get(a->comm, SCRATCH_PER_RANK, &t); /* cached: no communication */
    layout l;
    layout_compute(&l, (uintptr_t)a->buf, a->bytes, bcast_cfg.page);
    long long failed = !t || rc != MPI_SUCCESS;
    a->t = t;
    *done = 0;
    size_t view_len = 0;
    int err = 0, temporary = 0;
    char *view = failed ? NULL : segment_view(a, r, &view_len, &err, &temporary);
    if (view && view_len < r->seg_offset + a->bytes) { /* (not the segment this buffer filled) */
        if (temporary)
            munmap(view, view_len);
        view = NULL, err = EINVAL;
    }
    if (!failed && is_root(a)) /* into its node's copy: through its view, else its descriptor */
        err = staged(FAULT_SEED, view ? (memcpy(view + r->seg_offset, a->buf, a->bytes), 0)
                                      : fd_transfer(r->fd, a->buf, a->bytes, r->seg_offset, 1));
    failed |= err != 0;
    /* every leader has its view, and the root's node its data */
    rc = wait_allreduce(&failed, 1, MPI_LONG_LONG, MPI_MAX, a->comm);
    if (rc != MPI_SUCCESS || failed) {
        if (view && temporary)
            munmap(view, view_len);
        return rc;
    }
    long long unsent = 0; /* a leader's broadcast among leaders failed */
    if (t->nodes > 1 && t->node_rank == 0) {
        int from = t->node_of[a->root];
        char *data = is_root(a) ? (char *)a->buf : view + r->seg_offset; /* (the root's: its own) */
        for (size_t off = 0; off < a->bytes && rc == MPI_SUCCESS; off += SEED_CHUNK) {
            size_t n = a->bytes - off < SEED_CHUNK ? a->bytes - off : SEED_CHUNK;
            rc = PMPI_Bcast(data + off, (int)n, MPI_BYTE, from, t->leaders);
        }
        unsent = rc != MPI_SUCCESS;
        rc = MPI_SUCCESS;
    }
    if (view && temporary)
        munmap(view, view_len);
    if (t->nodes > 1) /* every node has it */
        rc = wait_allreduce(&unsent, 1, MPI_LONG_LONG, MPI_MAX, a->comm);
    if (rc != MPI_SUCCESS || unsent)
        return rc;
    unsigned char *buf = a->buf;
    int lost = 0;
    /* The root keeps its pages: it refills them (dropped, every page of its next refill would
     * fault and copy the segment's: 4.6 -> 47.5 ms for 64 MiB here); its node then holds
     * its copy and the segment, one more than the node's copy alone, as many as MPI_Bcast
     * leaves on two ranks and fewer on more. */
    if (!is_root(a) && (l.head_len || l.tail_len)) {
        lost = staged(FAULT_REFILL, fd_transfer(r->fd, buf, l.head_len, r->seg_offset, 0));
        if (!lost)
            lost = fd_transfer(r->fd, buf + a->bytes - l.tail_len, l.tail_len,
                               r->seg_offset + a->bytes - l.tail_len, 0);
    }
    if (lost) { /* nothing to fall back on: the data went out; as map_over_buffer's refill */
        log_warn("the partial pages of the broadcast buffer at %p could not be read from the "
                 "node copy (%s)", a->buf, strerror(lost));
        if (bcast_cfg.report)
            report_failure("refill", lost);
        return PMPI_Comm_call_errhandler(a->comm, MPI_ERR_NO_MEM) == MPI_SUCCESS ? MPI_ERR_NO_MEM
                                                                               : MPI_ERR_OTHER;
    }
    *done = 1;
    return MPI_SUCCESS;
}

/* A root whose buffer is all its own pages (it refilled every one) needs nothing of the
 * segment its array was shared from: free that segment's pages now (the receivers let go of
 * theirs as MPI writes them), so that a fallback holds no more than MPI_Bcast does. */
static void free_refilled_segment(const bcast_call *call)
{
    region r;
    /* then the pages become anonymous memory, 2 MiB at a time (segment.c), so that the array
     * is private in every sense, as after any fallback */
    if (call->bytes && region_find((uintptr_t)call->buf, call->bytes, &r) &&
        root_may_free(call->buf, call->bytes, call->comm, &r))
        free_old_segment(&r, 1);
}

/* MPI_Bcast is about to write [lo, hi) itself. If an earlier broadcast shared an array
 * there (the same one, or one the new buffer overlaps, below the buffer too), those writes
 * would turn its pages into private copies while the mapping still pinned the old segment,
 * and the registry would still call it shared (in strict mode MPI's writes would even
 * fault): take private pages first (local, no communication), copying only what MPI will
 * not write (a receiver's buffer is written whole), so that no rank holds two copies. */
static void make_private_for_fallback(const bcast_call *call, int agreed)
{
    uintptr_t lo = call->lo, hi = call->hi;
    if (lo >= hi)
        return;
    int rank = -1;
    if (PMPI_Comm_rank(call->comm, &rank) != MPI_SUCCESS)
        return;
    if (rank == call->root) { /* MPI only reads the root's buffer: its mapping can stay */
        /* every rank's buffer is what the segment holds, and MPI writes all of it anew */
        if (agreed)
            free_refilled_segment(call);
        return;
    }
    /* A receiver's contiguous buffer is written whole by MPI: its pages need no copy. */
    int whole = call->bytes > 0;
    region found[16];
    size_t n, from = 0;
    do {
        n = region_overlapping(lo, hi - lo, from, found, 16);
        for (size_t i = 0; i < n; i++)
            if (found[i].shared && (whole ? unshare_region_for_write(&found[i], lo, hi)
                                          : unshare_region(&found[i], 1)) == 0)
                region_set_shared(found[i].base, 0, 0, 0);
        from += n;
    } while (n == 16);
}

/* The report: the bytes of a receiving rank's buffer (its whole pages) that are its own and
 * resident before the broadcast, set before it on every rank (a table zeroed everywhere, as
 * Fortran's `t = 0.0`): the job's memory peak holds them before the library can act. */
static size_t resident_before(const bcast_call *call)
{
    int rank = -1;
    if (!call->bytes || PMPI_Comm_rank(call->comm, &rank) != MPI_SUCCESS || rank == call->root)
        return 0;
    layout l;
    layout_compute(&l, (uintptr_t)call->buf, call->bytes, bcast_cfg.page);
    long file = 0, own = l.map_len ? procmaps_page_kinds(l.map_start, l.map_len, &file) : 0;
    return own > 0 ? (size_t)own * bcast_cfg.page : 0;
}

/* ", 4 NUMA domains (a copy each)" under MPISHM_SCOPE=numa, else "". */
static const char *scope_note(const topo *t)
{
    static __thread char text[64];
    if (!t->numa)
        return "";
    snprintf(text, sizeof text, ", %d NUMA domains (a copy each)", t->nodes);
    return text;
}

/* MPI's own broadcast, as the application called it. */
static int mpi_bcast(const bcast_call *call)
{
#if MPI_VERSION >= 4
    if (call->bcast_c)
        return PMPI_Bcast_c(call->buf, call->count, call->type, call->root, call->comm);
#endif
    return PMPI_Bcast(call->buf, (int)call->count, call->type, call->root, call->comm);
}

/* The fallback, called by the library itself: where this rank knows, before the vote's
 * result, that the broadcast cannot be shared (agree_eligible), and after an error that every
 * rank raises once all have called MPI_Bcast. (agreed 0: only the vote could tell that every
 * buffer holds what its segment does.) */
static void bcast_now(void *attempt_)
{
    attempt *a = attempt_;
    double start = PMPI_Wtime();
    make_private_for_fallback(a->call, 0);
    a->bcast_rc = mpi_bcast(a->call);
    a->delivered = 1;
    a->bcast_seconds = PMPI_Wtime() - start;
}

static __thread int inside; /* re-entrancy guard: the library's own MPI calls are not shared */

int bcast_shared(const bcast_call *call, int *done, int *site_out, int *probe)
{
    *probe = 0;
    void *buf = call->buf;
    size_t bytes = call->bytes;
    int root = call->root;
    MPI_Comm comm = call->comm;
    *done = 0;
    *site_out = -1;
    if (inside)
        return MPI_SUCCESS;
    inside = 1;
    attempt a = {.buf = buf, .bytes = bytes, .size = call->size, .root = root, .comm = comm,
                 .own = SEGMENT_INIT, .primary = SEGMENT_INIT, .origin = -1, .site = -1,
                 .call = call, .bcast_rc = MPI_SUCCESS};
    int eligible = 0, site = -1;
    size_t resident = 0; /* the report: this rank's own pages of the buffer before it */
    double start = PMPI_Wtime();
    if (bcast_cfg.report || bcast_cfg.by_sites || bcast_cfg.auto_select) {
        callstack stack;
        callsite_capture(&stack);
        site = a.site = *site_out = sites_lookup(&stack, &a.by_site);
        a.by_site &= bcast_cfg.by_sites;
        if (bcast_cfg.report && !sites_knows_buffer(site, (uintptr_t)buf, bytes))
            resident = resident_before(call);
        a.call_pc = stack.n ? stack.pc[0] : 0;
    }
    int rank = -1;
    const topo *known = topo_cached(comm); /* waits spin where the node has a core per rank */
    wait_spin_only(known && !known->crowded);
    int rc = agree_eligible(&a, &eligible);
    if (rc == MPI_SUCCESS && a.in_place) { /* nothing to copy: the data is there */
        rc = resend_edges(&a);
        *done = rc == MPI_SUCCESS;
        region r;
        if (*done && region_find((uintptr_t)buf, bytes, &r)) /* one more shared broadcast */
            region_set_shared(r.base, r.shared_bytes, r.dev, r.ino);
        if (*done && a.root == root && (PMPI_Comm_rank(comm, &rank), rank == 0))
            log_msg(2, "broadcast of %zu bytes: the shared copy is unchanged everywhere, only "
                    "its partial pages were sent", bytes);
        goto out;
    }
    if (rc == MPI_SUCCESS && a.rewrite) { /* the root's new data into the same segments */
        region r = {.fd = -1};
        (void)region_find((uintptr_t)buf, bytes, &r); /* (found: agree_eligible) */
        rc = rewrite_in_place(&a, &r, done);
        if (*done) {
            region_set_shared(r.base, r.shared_bytes, r.dev, r.ino); /* one more shared */
            if (a.origin != ORIGIN_MARK)
                sites_note_share(site, PMPI_Wtime() - start, bytes);
            if (a.t->rank == 0)
                log_msg(2, "broadcast of %zu bytes: the root's new data went into the node "
                        "copies in place", bytes);
        } else if (rc == MPI_SUCCESS) {
            a.why = WHY_FAILED;
            if (bcast_cfg.report)
                report_failure("rewrite", EIO);
        }
        goto out;
    }
    if (rc == MPI_SUCCESS && eligible)
        rc = topo_get(comm, SCRATCH_PER_RANK, &a.t);
    if (a.t)
        wait_spin_only(!a.t->crowded);
    if (rc == MPI_SUCCESS && eligible && !a.t) { /* no topology: every rank falls back */
        a.why = WHY_FAILED;
        if (bcast_cfg.report)
            report_failure("topology", ENOMEM);
    }
    if (rc != MPI_SUCCESS || !eligible || !a.t)
        goto out;
    if (a.t->nodes == a.t->size) {
        /* One rank per node: one copy per node already, and MPI's broadcast is faster. */
        if (a.t->rank == 0)
            log_msg(2, "broadcast of %zu bytes not shared: one rank per %s", bytes,
                    topo_unit(a.t));
        eligible = 0;
        a.why = WHY_ONE_PER_NODE;
        goto out;
    }
    layout_compute(&a.lay, (uintptr_t)buf, bytes, bcast_cfg.page);
    int fits = 0;
    rc = exchange_layout(&a);
    if (rc == MPI_SUCCESS)
        rc = agree_room(&a, &fits);
    if (rc != MPI_SUCCESS || !fits) {
        eligible = 0;
        goto out;
    }
    static const seg_kind kinds[3][2] = {{SEG_MEMFD, SEG_POSIX}, {SEG_MEMFD, SEG_MEMFD},
                                         {SEG_POSIX, SEG_POSIX}};
    long long status = ST_FAILED;
    /* No strict mode: the ranks keep their segment open read-write, so that the root's next
     * data can go into it in place (rewrite_in_place, where the node has one segment), or
     * the root can free it before a new one is made (give_back_pages). */
    a.keep_fd = protect_current() == PROTECT_OFF;
    int kept = -1;
    for (int k = 0; k < 2; k++) {
        rc = attempt_kind(&a, kinds[bcast_cfg.shm_kind][k], &status);
        say_why(&a);
        if (rc == MPI_SUCCESS && status == ST_OK && a.keep_fd && a.mapped)
            kept = a.own.fd, a.own.fd = -1; /* the registry owns it from here */
        release(&a);
        /* Only a refused open is worth a second try, with a named POSIX segment (a peer
         * may not open /proc/<pid>/fd of a non-dumpable process). */
        if (rc != MPI_SUCCESS || status != ST_OPEN_FAILED || bcast_cfg.shm_kind != 0 || k == 1)
            break;
        log_msg(1, "retrying with a POSIX shared memory segment");
        a.status = ST_OK, a.failed_step = NULL;
    }
    *done = rc == MPI_SUCCESS && status == ST_OK;
    if (*done && a.lost) {
        /* Nothing left to fall back on: the buffer's pages are gone. Say so through the
         * communicator's error handler (fatal by default) instead of returning bad data. */
        log_warn("the broadcast buffer at %p could not be refilled (%s)", buf, strerror(a.lost));
        if (bcast_cfg.report)
            report_failure("refill", a.lost);
        rc = PMPI_Comm_call_errhandler(comm, MPI_ERR_NO_MEM) == MPI_SUCCESS ? MPI_ERR_NO_MEM : rc;
    }
    if (*done && !a.lost) { /* the same stamp on every rank, new with every shared broadcast */
        region r;
        region_fill fill = {.buf = (uintptr_t)buf, .bytes = bytes,
                            .stamp = a.t->id + 2 * ++a.t->shares, .comm_id = a.t->id,
                            .one_group = layout_group_count(a.leader, a.t->node_size) == 1,
                            .seg_offset = a.lay.offset};
        if (region_find((uintptr_t)buf, bytes, &r))
            region_set_last(r.base, &fill, kept);
        else if (kept >= 0)
            close(kept);
    } else if (*done) {
        a.t->shares++;
    }
    if (*done && !a.lost && bcast_cfg.report) /* the report's high-water mark */
        peak_note_shared();
    if (*done && !a.lost && a.origin != ORIGIN_MARK) /* what sharing costs at this site */
        sites_note_share(site, PMPI_Wtime() - start, bytes);
    if (*done && a.t->rank == 0)
        log_msg(1, "shared a %zu-byte broadcast from rank %d over %d ranks on %d node(s)%s in "
                "%.3f s", bytes, root, a.t->size, a.t->hosts, scope_note(a.t), PMPI_Wtime() - start);
out:
    if (!*done && rc == MPI_SUCCESS && !a.delivered)
        make_private_for_fallback(call, a.same_last);
    *probe = !*done && rc == MPI_SUCCESS && a.probe;
    int shared = *done && !a.lost;
    if (!shared && a.implicit) /* selected by this call only to be shared */
        region_remove((uintptr_t)buf, NULL);
    if (rc != MPI_SUCCESS || (eligible && !shared)) {
        a.why = WHY_FAILED;
        if (rc != MPI_SUCCESS && bcast_cfg.report)
            report_failure("mpi", rc);
    }
    stats_record(shared ? STAT_SHARED
                 : rc == MPI_SUCCESS && !eligible ? STAT_DECLINED : STAT_FAILED,
                 bytes, PMPI_Wtime() - start - a.bcast_seconds, a.seed_seconds, a.map_seconds);
    if (bcast_cfg.report) {
        sites_record(site, shared, a.why, a.origin, (uintptr_t)buf, bytes, resident);
        report_outcome(comm, shared, a.why, bytes);
    }
    *done |= a.delivered; /* by MPI_Bcast: nothing left for the caller */
    inside = 0;
    return rc != MPI_SUCCESS ? rc : a.bcast_rc;
}
