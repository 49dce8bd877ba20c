/* The report: per-rank counters during the run; at MPI_Finalize every rank sends rank 0 a
 * summary and a blob (its sites, shared arrays, violations and failures), and rank 0 merges
 * them per node and per call site. */
#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcast.h"
#include "content.h"
#include "fault.h"
#include "layout.h"
#include "hugepage.h"
#include "log.h"
#include "options.h"
#include "peak.h"
#include "procmaps.h"
#include "protect.h"
#include "region.h"
#include "report_data.h"
#include "stats.h"
#include "topo.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static rank_summary counted;
#define MAX_FAILURES 32
static wire_failure failures[MAX_FAILURES];
static int nfailures;

static int counts_here(MPI_Comm comm)
{
    int rank = -1;
    return PMPI_Comm_rank(comm, &rank) == MPI_SUCCESS && rank == 0;
}

void report_call(MPI_Comm comm, int below_threshold)
{
    if (!counts_here(comm))
        return;
    pthread_mutex_lock(&lock);
    counted.broadcasts++;
    counted.below += below_threshold != 0;
    pthread_mutex_unlock(&lock);
}

void report_outcome(MPI_Comm comm, int shared, why_not why, size_t bytes)
{
    if (!counts_here(comm))
        return;
    pthread_mutex_lock(&lock);
    if (shared) {
        counted.shared++;
        counted.bytes_shared += bytes;
    } else {
        counted.not_shared[why]++;
    }
    pthread_mutex_unlock(&lock);
}

void report_headroom(const char *limit, int node, unsigned long long room,
                     unsigned long long given_back, unsigned long long needed,
                     unsigned long long margin)
{
    pthread_mutex_lock(&lock);
    wire_headroom *h = &counted.headroom;
    h->times++;
    snprintf(h->limit, sizeof h->limit, "%s", limit);
    h->node = node, h->room = room, h->given_back = given_back, h->needed = needed;
    h->margin = margin;
    pthread_mutex_unlock(&lock);
}

void report_failure(const char *stage, int err)
{
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < nfailures && (failures[i].err != err || strcmp(failures[i].stage, stage) != 0))
        i++;
    if (i < MAX_FAILURES) {
        if (i == nfailures) {
            snprintf(failures[i].stage, sizeof failures[i].stage, "%s", stage);
            failures[i].err = err;
            nfailures++;
        }
        failures[i].count++;
    }
    pthread_mutex_unlock(&lock);
}

/* ---- this rank's part ---------------------------------------------------------------- */

static void name_frame(uintptr_t pc, wire_frame *w)
{
    frame_name f;
    callsite_name(pc, &f);
    snprintf(w->function, sizeof w->function, "%s", f.function);
    snprintf(w->object, sizeof w->object, "%s", f.object);
    w->offset = f.offset;
    w->object_offset = f.object_offset;
}

/* Site `from`'s calls at each place of the stack join site `into`'s (the same functions). */
static void add_offsets(wire_site *into, const wire_site *from)
{
    for (int k = 0; k < into->nframes && k < from->nframes; k++) {
        wire_frame *f = &into->frame[k];
        const wire_frame *g = &from->frame[k];
        for (int n = -1; n < g->nmore; n++) {
            unsigned long off = n < 0 ? g->object_offset : g->more[n];
            int seen = off == f->object_offset;
            for (int m = 0; m < f->nmore && !seen; m++)
                seen = f->more[m] == off;
            if (!seen && f->nmore < FRAME_MORE)
                f->more[f->nmore++] = off;
        }
    }
}

/* A site is a chain of functions: calls from two lines of one function are one site (the
 * compiler may also duplicate a call), as MPISHM_SITES selects by function. Addresses differ
 * between ranks (address space randomisation); objects, names and offsets do not. */
static int same_site(const wire_site *a, const wire_site *b)
{
    if (a->nframes != b->nframes)
        return 0;
    for (int k = 0; k < a->nframes; k++) {
        const wire_frame *x = &a->frame[k], *y = &b->frame[k];
        int named = x->function[0] && y->function[0];
        if (strcmp(x->object, y->object) != 0 ||
            (named ? strcmp(x->function, y->function) != 0 : x->object_offset != y->object_offset))
            return 0;
    }
    return 1;
}

static void to_wire(const site_record *r, wire_site *w)
{
    w->calls = r->calls;
    w->shared = r->shared;
    memcpy(w->not_shared, r->not_shared, sizeof w->not_shared);
    memcpy(w->by_origin, r->by_origin, sizeof w->by_origin);
    w->max_bytes = r->max_bytes;
    w->candidate_bytes = r->candidate_bytes;
    w->shared_bytes = r->shared_bytes;
    w->key = r->key;
    w->resident_before = r->resident_before;
    w->nroot_keys = r->nroot_keys;
    memcpy(w->root_keys, r->root_keys, sizeof w->root_keys);
}

/* A write that warn mode saw into one of the site's buffers: its writer, named. */
static void find_writer(const site_record *r, const protect_violation *v, size_t nv,
                        wire_frame *writer)
{
    for (size_t i = 0; i < nv && !writer->function[0] && !writer->object[0]; i++)
        for (int b = 0; b < r->nbuffers; b++)
            if (v[i].writer_pc && v[i].base < r->buffers[b].addr + r->buffers[b].bytes &&
                v[i].base + v[i].bytes > r->buffers[b].addr) {
                name_frame(v[i].writer_pc, writer);
                break;
            }
}

/* This rank's sites, named, those that are one site once named folded together. */
static size_t local_sites(wire_site **out)
{
    size_t n = sites_snapshot(NULL, 0);
    site_record *rec = n ? calloc(n, sizeof *rec) : NULL;
    wire_site *w = n ? calloc(n, sizeof *w) : NULL;
    if (n && (!rec || !w)) {
        free(rec), free(w);
        *out = NULL;
        return 0;
    }
    size_t now = sites_snapshot(rec, n);
    n = now < n ? now : n;
    size_t nv = protect_violations(NULL, 0); /* none without strict mode */
    protect_violation *v = nv ? calloc(nv, sizeof *v) : NULL;
    nv = v ? protect_violations(v, nv) : 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        wire_site *site = &w[kept];
        memset(site, 0, sizeof *site);
        int frames = rec[i].stack.n < SITE_FRAMES ? rec[i].stack.n : SITE_FRAMES;
        for (int k = 0; k < frames; k++) {
            frame_name f;
            callsite_name(rec[i].stack.pc[k], &f);
            int ends = callsite_program_ends(&f);
            if (ends == 2 && k > 0)
                break; /* the C library starting a program without symbols */
            name_frame(rec[i].stack.pc[k], &site->frame[k]);
            site->nframes = k + 1;
            if (ends == 1)
                break; /* what lies beyond is the C library starting the program */
        }
        size_t k = 0;
        while (k < kept && !same_site(&w[k], site))
            k++;
        content_counts c;
        content_site_counts((int)i, &c); /* snapshot index = site id */
        wire_frame writer = {0};
        if (c.written)
            find_writer(&rec[i], v, nv, &writer);
        if (k < kept) {
            sites_merge(&rec[k], &rec[i]);
            to_wire(&rec[k], &w[k]);
            add_offsets(&w[k], site);
        } else {
            rec[kept] = rec[i];
            to_wire(&rec[kept], site);
            kept++;
        }
        w[k].unchanged += c.unchanged;
        w[k].written += c.written;
        w[k].unchecked += c.unchecked;
        if (!w[k].writer.function[0] && !w[k].writer.object[0])
            w[k].writer = writer;
    }
    free(rec), free(v);
    *out = w;
    return kept;
}

/* Of the mappings inside [lo, hi), from /proc/self/smaps: resident and proportional sizes,
 * the pages this rank wrote (Anonymous: its private copies) and those mapped by huge-page
 * entries (ShmemPmdMapped for a memfd, FilePmdMapped for a file). */
static void measure_range(uintptr_t lo, uintptr_t hi, wire_array *w)
{
    const struct { const char *name; unsigned long long *sum; } field[] = {
        {"Rss:", &w->rss}, {"Pss:", &w->pss}, {"Anonymous:", &w->private_bytes},
        {"ShmemPmdMapped:", &w->pmd_mapped}, {"FilePmdMapped:", &w->pmd_mapped}};
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return;
    char line[512];
    int inside = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b, kb;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && b <= hi;
            continue;
        }
        for (size_t k = 0; inside && k < sizeof field / sizeof field[0]; k++) {
            size_t len = strlen(field[k].name);
            if (strncmp(line, field[k].name, len) == 0 && sscanf(line + len, "%lu kB", &kb) == 1)
                *field[k].sum += (unsigned long long)kb << 10;
        }
    }
    fclose(f);
}

/* The page-table pages that map [start, start+len) in this rank: one per 2 MiB span (with
 * 4 KiB pages) holding a page mapped with 4 KiB entries; a span one huge-page entry maps
 * needs none. (The level above, a page per GiB, is left out: 1/512 of this.) */
static unsigned long long page_table_bytes(uintptr_t start, size_t len,
                                           const wire_array *w)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), span = page / sizeof(uint64_t) * page;
    long spans = fault_inject(FAULT_PAGEMAP) ? -1 : procmaps_table_spans(start, len);
    if (spans < 0) /* no pagemap: the resident pages as if together (one span fewer at most) */
        spans = (long)((w->rss + span - 1) / span);
    long huge = (long)(w->pmd_mapped / span);
    return spans > huge ? (unsigned long long)(spans - huge) * page : 0;
}

static size_t local_arrays(wire_array **out)
{
    size_t n = region_snapshot(NULL, 0);
    region *r = n ? calloc(n, sizeof *r) : NULL;
    wire_array *w = n ? calloc(n, sizeof *w) : NULL;
    size_t k = 0;
    if (r && w) {
        size_t now = region_snapshot(r, n);
        n = now < n ? now : n;
        for (size_t i = 0; i < n; i++) {
            if (!r[i].shared || !r[i].shared_bytes)
                continue;
            layout l;
            layout_compute(&l, r[i].base, r[i].bytes, bcast_cfg.page);
            w[k].dev = r[i].dev;
            w[k].ino = r[i].ino;
            w[k].mapped = r[i].shared_bytes;
            measure_range(l.map_start, l.map_start + r[i].shared_bytes, &w[k]);
            w[k].page_tables =
                page_table_bytes(l.map_start, r[i].shared_bytes, &w[k]);
            k++;
        }
    }
    free(r);
    *out = w;
    return k;
}

static size_t local_violations(wire_violation **out)
{
    size_t n = protect_violations(NULL, 0);
    protect_violation *v = n ? calloc(n, sizeof *v) : NULL;
    wire_violation *w = n ? calloc(n, sizeof *w) : NULL;
    if (!v || !w) {
        free(v), free(w);
        *out = NULL;
        return 0;
    }
    size_t now = protect_violations(v, n);
    n = now < n ? now : n;
    for (size_t i = 0; i < n; i++) {
        w[i].base = v[i].base;
        w[i].bytes = v[i].bytes;
        w[i].offset = v[i].offset;
        w[i].count = v[i].count;
        if (v[i].marked_pc)
            name_frame(v[i].marked_pc, &w[i].marked);
        if (v[i].writer_pc)
            name_frame(v[i].writer_pc, &w[i].writer);
    }
    free(v);
    *out = w;
    return n;
}

/* This rank's summary and blob (malloc'd, *blob_bytes long); without memory for the blob,
 * NULL and a summary that announces nothing after it. */
static char *collect(rank_summary *me, size_t *blob_bytes)
{
    pthread_mutex_lock(&lock);
    *me = counted;
    pthread_mutex_unlock(&lock);
    mpishm_stats st;
    stats_get(&st);
    me->seconds = st.seconds;
    me->shared_seconds = stats_shared_seconds();
    me->seed_seconds = st.seed_seconds;
    me->map_seconds = st.map_seconds;
    gethostname(me->host, sizeof me->host - 1);
    wire_site *s;
    wire_array *a;
    wire_violation *v;
    static wire_array peak[PEAK_ARRAYS];
    me->nsites = (int)local_sites(&s);
    me->narrays = (int)local_arrays(&a);
    me->npeak = peak_arrays(peak, PEAK_ARRAYS);
    me->nviolations = (int)local_violations(&v);
    pthread_mutex_lock(&lock);
    me->nfailures = nfailures;
    size_t parts[5] = {me->nsites * sizeof *s, me->narrays * sizeof *a, me->npeak * sizeof *a,
                       me->nviolations * sizeof *v, (size_t)nfailures * sizeof failures[0]};
    const void *from[5] = {s, a, peak, v, failures};
    *blob_bytes = parts[0] + parts[1] + parts[2] + parts[3] + parts[4];
    char *blob = fault_inject(FAULT_REPORT) ? NULL : malloc(*blob_bytes ? *blob_bytes : 1);
    if (blob)
        for (size_t i = 0, off = 0; i < 5; off += parts[i], i++)
            if (parts[i])
                memcpy(blob + off, from[i], parts[i]);
    pthread_mutex_unlock(&lock);
    free(s), free(a), free(v);
    if (!blob) { /* send the summary alone */
        me->nsites = me->narrays = me->npeak = me->nviolations = me->nfailures = 0;
        *blob_bytes = 0;
    }
    return blob;
}

/* ---- rank 0: merging --------------------------------------------------------------- */


/* One rank's part of a site: its distinct buffers' bytes, as a candidate [0] and shared [1].
 * Savings are made of these (group_savings). */
typedef struct contribution {
    int site, group, node, rank;
    unsigned long long bytes[2];
} contribution;

static void add_site(job_report *j, contribution *c, const rank_summary *r, const wire_site *w)
{
    int i = 0;
    while (i < j->nsites && !same_site(&j->sites[i].s, w))
        i++;
    merged_site *m = &j->sites[i];
    if (i == j->nsites) {
        j->nsites++;
        m->s = *w;
        memset(m->s.by_origin, 0, sizeof m->s.by_origin);
    } else {
        m->s.calls = w->calls > m->s.calls ? w->calls : m->s.calls;
        m->s.shared = w->shared > m->s.shared ? w->shared : m->s.shared;
        for (int k = 0; k < WHY_COUNT; k++)
            if (w->not_shared[k] > m->s.not_shared[k])
                m->s.not_shared[k] = w->not_shared[k];
        if (w->max_bytes > m->s.max_bytes)
            m->s.max_bytes = w->max_bytes;
    }
    for (int k = 0; k < 3; k++)
        m->s.by_origin[k] += w->by_origin[k];
    add_offsets(&m->s, w);
    for (int k = 0; k < w->nroot_keys; k++) {
        int o = 0;
        while (o < m->s.nroot_keys && m->s.root_keys[o] != w->root_keys[k])
            o++;
        if (o == m->s.nroot_keys && o < SITE_ROOT_KEYS)
            m->s.root_keys[m->s.nroot_keys++] = w->root_keys[k];
    }
    if (m->ranks) { /* an earlier rank's record (a new one was copied whole above) */
        m->s.resident_before += w->resident_before;
        m->s.unchanged += w->unchanged;
        m->s.written += w->written;
        m->s.unchecked += w->unchecked;
        if (!m->s.writer.function[0] && !m->s.writer.object[0])
            m->s.writer = w->writer;
    }
    if (w->written) {
        if (m->writing_ranks < (int)(sizeof m->written_by / sizeof m->written_by[0]))
            m->written_by[m->writing_ranks] = r->rank;
        m->writing_ranks++;
    }
    m->ranks++;
    /* with MPISHM_AUTO every buffer that could be selected was: nothing left to suggest */
    m->candidate |= w->not_shared[WHY_NOT_MARKED] > 0 && !bcast_cfg.auto_select;
    *c = (contribution){.site = i, .node = r->node, .rank = r->rank,
                        .bytes = {w->candidate_bytes, w->shared_bytes}};
}

/* Every large call was into a stack or memory that is not private: no MPISHM_SITES name can
 * select the site, so sharing a name with it selects nothing more. */
static int never_selectable(const merged_site *m)
{
    return m->s.calls && m->s.not_shared[WHY_NOT_SELECTABLE] >= m->s.calls;
}

/* The name MPISHM_SITES knows frame k of site m by: its function, or where it has none (a
 * stripped program), the object's file name and the offset in it, "app+0x2068"
 * (callsite_frame_matches). */
static const char *frame_token(const merged_site *m, int k, char *buf, size_t size)
{
    const wire_frame *f = &m->s.frame[k];
    if (f->function[0])
        return f->function;
    const char *base = strrchr(f->object, '/');
    base = base ? base + 1 : f->object;
    if (!base[0])
        return "";
    snprintf(buf, size, "%s+0x%lx", base, f->object_offset);
    return buf;
}

static int site_has_function(const merged_site *m, const char *name)
{
    char buf[560];
    for (int k = 0; k < m->s.nframes; k++)
        if (strcmp(frame_token(m, k, buf, sizeof buf), name) == 0)
            return 1;
    return 0;
}

/* The innermost frame of the site's stack that no other site's stack passes through (else
 * none that a site not to be suggested passes through; else the call's own frame, which
 * then only names the site: no name selects it alone, and it is not suggested): naming it in
 * MPISHM_SITES selects this site and as few others as possible. */
static const char *name_to_select(job_report *j, int i)
{
    merged_site *m = &j->sites[i];
    char buf[560];
    for (int strict = 1; strict >= 0; strict--)
        for (int k = 0; k < m->s.nframes; k++) {
            const char *f = frame_token(m, k, buf, sizeof buf);
            int clash = !f[0];
            for (int o = 0; o < j->nsites && !clash; o++)
                clash = o != i &&
                        (strict || (!j->sites[o].suggest && !never_selectable(&j->sites[o]))) &&
                        site_has_function(&j->sites[o], f);
            if (!clash) {
                snprintf(m->select_token, sizeof m->select_token, "%s", f);
                return m->select_token;
            }
        }
    return frame_token(m, 0, m->select_token, sizeof m->select_token);
}

/* Union-find over sites: the group's representative. */
static int group_of(int *parent, int i)
{
    while (parent[i] != i)
        i = parent[i] = parent[parent[i]];
    return i;
}

/* Sites that take part in the same broadcasts, one group: a root's site and its receivers'
 * (a root-only send function and a receive-only one), linked by the root's site key every
 * receiver recorded. */
static void find_groups(job_report *j, int *parent)
{
    for (int i = 0; i < j->nsites; i++)
        parent[i] = i;
    for (int i = 0; i < j->nsites; i++)
        for (int k = 0; k < j->sites[i].s.nroot_keys; k++)
            for (int o = 0; o < j->nsites; o++)
                if (o != i && j->sites[o].s.key == j->sites[i].s.root_keys[k]) {
                    int a = group_of(parent, i), b = group_of(parent, o);
                    parent[a > b ? a : b] = a < b ? a : b;
                }
}

static int by_group_node_rank(const void *x, const void *y)
{
    const contribution *a = x, *b = y;
    return a->group != b->group ? (a->group > b->group) - (a->group < b->group)
           : a->node != b->node ? (a->node > b->node) - (a->node < b->node)
                                : (a->rank > b->rank) - (a->rank < b->rank);
}

/* Savings: sharing leaves one copy per node of what a group's ranks held there, the copy
 * of the rank that held the most (the root's on its node: its buffers are the node copy),
 * charged to that rank's sites; each site saves its ranks' distinct buffers less what was
 * charged to it, and a group's sites add up to what one copy per node saves, whatever the
 * number of sites on either side (one root-only send function for tables received in two). */
static void group_savings(job_report *j, contribution *c, int n, int *parent)
{
    for (int k = 0; k < n; k++) {
        c[k].group = group_of(parent, c[k].site);
        j->sites[c[k].site].saving += c[k].bytes[!j->sites[c[k].site].candidate];
    }
    qsort(c, (size_t)n, sizeof *c, by_group_node_rank);
    for (int k = 0; k < n;) { /* a run of one group on one node */
        int end = k, best = k, best_end = k;
        unsigned long long most = 0;
        while (end < n && c[end].group == c[k].group && c[end].node == c[k].node) {
            int r = end; /* a rank's contributions */
            unsigned long long held = 0;
            while (end < n && c[end].group == c[k].group && c[end].node == c[k].node &&
                   c[end].rank == c[r].rank)
                held += c[end].bytes[!j->sites[c[end].site].candidate], end++;
            if (r == k || held > most)
                most = held, best = r, best_end = end;
        }
        for (int o = best; o < best_end; o++)
            j->sites[c[o].site].saving -= c[o].bytes[!j->sites[c[o].site].candidate];
        k = end;
    }
}

/* A group goes into the line when a name would share one of its sites at least (a
 * candidate, or a site MPISHM_AUTO shared), every such site was read-only in this run,
 * every other one was shared by a mark (a site neither would keep the group's broadcasts
 * from being shared: a root whose buffer is on its stack, say), and it saves something. */
static void suggest_groups(job_report *j, int *parent)
{
    for (int g = 0; g < j->nsites; g++) {
        if (group_of(parent, g) != g)
            continue;
        int any = 0, ok = 1;
        unsigned long long saving = 0;
        for (int i = g; i < j->nsites; i++) {
            const merged_site *m = &j->sites[i];
            if (group_of(parent, i) != g)
                continue;
            saving += m->saving;
            any |= m->line;
            ok &= m->line ? strcmp(m->content, "read-only") == 0
                          : m->s.shared > 0 && strcmp(m->selected_by, "mark") == 0;
        }
        for (int i = g; i < j->nsites; i++)
            if (group_of(parent, i) == g)
                j->sites[i].suggest = any && ok && saving > 0 && j->sites[i].line;
    }
}

/* parent and order: room for every site. */
static void finish_sites(job_report *j, contribution *c, int nc, int *parent, int *order)
{
    static const char *const origin[3] = {"mark", "sites", "auto"};
    for (int i = 0; i < j->nsites; i++) {
        merged_site *m = &j->sites[i];
        m->selected_by = "none";
        unsigned long best = 0;
        for (int o = 0; o < 3; o++)
            if (m->s.by_origin[o] > best)
                best = m->s.by_origin[o], m->selected_by = origin[o];
        m->content = m->s.written                          ? "written"
                     : m->s.unchanged && !m->s.unchecked ? "read-only"
                                                         : "unverified";
        if (never_selectable(m)) /* (a stack's pages: nothing a line or a mark could do) */
            m->s.resident_before = 0;
        /* an AUTO run's line: the sites MPISHM_AUTO shared, named */
        m->line = m->candidate ||
                  (j->auto_select && m->s.shared && m->s.by_origin[ORIGIN_AUTO] > 0);
    }
    find_groups(j, parent);
    group_savings(j, c, nc, parent);
    suggest_groups(j, parent);
    for (int i = 0; i < j->nsites; i++)
        j->sites[i].group = group_of(parent, i);
    /* candidates first, then the others; each by saving, largest first (insertion sort:
     * a few sites); order[new] = old index */
    for (int i = 0; i < j->nsites; i++)
        order[i] = i;
    for (int i = 1; i < j->nsites; i++) {
        merged_site x = j->sites[i];
        int xo = order[i], k = i;
        while (k > 0 && (j->sites[k - 1].candidate < x.candidate ||
                         (j->sites[k - 1].candidate == x.candidate &&
                          j->sites[k - 1].saving < x.saving))) {
            j->sites[k] = j->sites[k - 1];
            order[k] = order[k - 1];
            k--;
        }
        j->sites[k] = x;
        order[k] = xo;
    }
    for (int i = 0; i < j->nsites; i++) { /* a group by the sorted index of its first site */
        int k = 0;
        while (order[k] != j->sites[i].group && k < j->nsites - 1)
            k++;
        parent[i] = k;
    }
    for (int i = 0; i < j->nsites; i++) {
        int first = i;
        for (int o = 0; o < j->nsites; o++)
            if (parent[o] == parent[i] && o < first)
                first = o;
        j->sites[i].group = first;
    }
    for (int i = 0; i < j->nsites; i++) /* points into the sorted array */
        j->sites[i].select_as = name_to_select(j, i);
    /* a name that would select a site not suggested takes its whole group out of the line */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < j->nsites; i++) {
            merged_site *m = &j->sites[i];
            int clash = 0;
            for (int o = 0; o < j->nsites && m->suggest && !clash; o++)
                clash = o != i && !j->sites[o].suggest && !never_selectable(&j->sites[o]) &&
                        site_has_function(&j->sites[o], m->select_as);
            for (int o = 0; clash && o < j->nsites; o++)
                if (j->sites[o].group == m->group && j->sites[o].suggest)
                    j->sites[o].suggest = 0, changed = 1;
        }
    }
}

/* The index of array a's segment on `node` in the list of segments seen (its first entry
 * a copy of a: *fresh). */
static int segment_seen(wire_array *seen, int *nseen, int *seen_node, int node,
                        const wire_array *a, int *fresh)
{
    int k = 0;
    while (k < *nseen && !(seen_node[k] == node && seen[k].dev == a->dev && seen[k].ino == a->ino))
        k++;
    *fresh = k == *nseen;
    if (*fresh) {
        seen[k] = *a;
        seen_node[k] = node;
        (*nseen)++;
    }
    return k;
}

static void add_arrays(job_report *j, const rank_summary *r, const wire_array *a, int n,
                       wire_array *seen, int *nseen, int *seen_node)
{
    node_figures *nf = &j->node[r->node];
    for (int i = 0; i < n; i++) {
        nf->mapped += a[i].mapped;
        nf->measured += a[i].rss > a[i].pss ? a[i].rss - a[i].pss : 0;
        nf->private_bytes += a[i].private_bytes;
        nf->pmd_mapped += a[i].pmd_mapped;
        nf->page_tables += a[i].page_tables;
        int fresh, k = segment_seen(seen, nseen, seen_node, r->node, &a[i], &fresh);
        if (fresh) {
            nf->arrays++;
            nf->segments += a[i].mapped;
        } else if (a[i].mapped > seen[k].mapped) {
            nf->segments += a[i].mapped - seen[k].mapped;
            seen[k].mapped = a[i].mapped;
        }
    }
}

/* A rank's arrays at its peak: the node's peak figures add its ranks' peaks (the most each
 * rank held at once; ranks whose tables live together peak together). */
static void add_peak(job_report *j, const rank_summary *r, const wire_array *a, int n,
                     wire_array *seen, int *nseen, int *seen_node)
{
    node_figures *nf = &j->node[r->node];
    for (int i = 0; i < n; i++) {
        nf->peak_mapped += a[i].mapped;
        nf->peak_present += a[i].present;
        int fresh, k = segment_seen(seen, nseen, seen_node, r->node, &a[i], &fresh);
        if (fresh) {
            nf->peak_segments += a[i].mapped;
            nf->peak_present_once += a[i].present;
            continue;
        }
        if (a[i].mapped > seen[k].mapped)
            nf->peak_segments += a[i].mapped - seen[k].mapped, seen[k].mapped = a[i].mapped;
        if (a[i].present > seen[k].present)
            nf->peak_present_once += a[i].present - seen[k].present,
                seen[k].present = a[i].present;
    }
}

static void add_failures(job_report *j, int rank, const wire_failure *f, int n)
{
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < j->nfailures && (j->failures[k].f.err != f[i].err ||
                                    strcmp(j->failures[k].f.stage, f[i].stage) != 0))
            k++;
        merged_failure *m = &j->failures[k];
        if (k == j->nfailures) {
            j->nfailures++;
            m->f = f[i];
            m->f.count = 0;
        }
        m->f.count += f[i].count;
        m->ranks[m->nranks++] = rank;
    }
}

static void add_summary(job_report *j, const rank_summary *r)
{
    j->broadcasts += r->broadcasts;
    j->below += r->below;
    j->shared += r->shared;
    j->bytes_shared += r->bytes_shared;
    for (int k = 0; k < WHY_COUNT; k++)
        j->not_shared[k] += r->not_shared[k];
    j->seconds = r->seconds > j->seconds ? r->seconds : j->seconds;
    j->shared_seconds = r->shared_seconds > j->shared_seconds ? r->shared_seconds
                                                              : j->shared_seconds;
    j->seed_seconds = r->seed_seconds > j->seed_seconds ? r->seed_seconds : j->seed_seconds;
    j->map_seconds = r->map_seconds > j->map_seconds ? r->map_seconds : j->map_seconds;
    if (r->headroom.times) {
        unsigned long times = j->headroom.times + r->headroom.times;
        if (!j->headroom.times || r->rank < j->headroom_rank)
            j->headroom = r->headroom, j->headroom_rank = r->rank;
        j->headroom.times = times;
    }
    node_figures *nf = &j->node[r->node];
    if (!nf->nranks)
        snprintf(nf->host, sizeof nf->host, "%s", r->host);
    nf->domains = r->domains; /* (every rank of a node says the same) */
    nf->ranks[nf->nranks++] = r->rank;
}

/* Merge every rank's summary and blob. Returns 0, or ENOMEM. */
static int merge(job_report *j, const rank_summary *all, const char *blobs, const int *displs)
{
    int total_sites = 0, total_arrays = 0, total_fail = 0, total_viol = 0;
    for (int r = 0; r < j->ranks; r++) {
        total_sites += all[r].nsites;
        total_arrays += all[r].narrays + all[r].npeak; /* (room for both lists) */
        total_fail += all[r].nfailures;
        total_viol += all[r].nviolations;
    }
    j->node = calloc((size_t)j->nodes, sizeof *j->node);
    /* every node's list of ranks, then one list of up to `ranks` per failure row */
    int *rank_lists = j->rank_lists =
        calloc((size_t)j->ranks * ((size_t)total_fail + 1), sizeof(int));
    j->sites = calloc((size_t)total_sites + 1, sizeof *j->sites);
    contribution *contrib = calloc((size_t)total_sites + 1, sizeof *contrib);
    wire_array *seen = calloc((size_t)total_arrays + 1, sizeof *seen);
    int *seen_node = calloc((size_t)total_arrays + 1, sizeof *seen_node);
    j->failures = calloc((size_t)total_fail + 1, sizeof *j->failures);
    j->violations = calloc((size_t)total_viol + 1, sizeof *j->violations);
    int *parent = calloc((size_t)total_sites + 1, sizeof *parent);
    int *order = calloc((size_t)total_sites + 1, sizeof *order);
    int ok = j->node && rank_lists && j->sites && contrib && seen && seen_node && j->failures &&
             j->violations && parent && order;
    if (ok) {
        int *next = rank_lists;
        for (int r = 0; r < j->ranks; r++)
            j->node[all[r].node].nranks++;
        for (int n = 0; n < j->nodes; n++)
            j->node[n].ranks = next, next += j->node[n].nranks, j->node[n].nranks = 0;
        for (int f = 0; f < total_fail; f++)
            j->failures[f].ranks = next, next += j->ranks;
        int nseen = 0, npeak_seen = 0, ncontrib = 0;
        for (int r = 0; r < j->ranks; r++) /* the finalize arrays' list, then the peak's */
            npeak_seen += all[r].narrays;
        wire_array *peak_seen = seen + npeak_seen;
        int *peak_node = seen_node + npeak_seen;
        npeak_seen = 0;
        for (int r = 0; r < j->ranks; r++) {
            const rank_summary *s = &all[r];
            const char *p = blobs + displs[r];
            add_summary(j, s);
            const wire_site *ws = (const void *)p;
            for (int i = 0; i < s->nsites; i++)
                add_site(j, &contrib[ncontrib++], s, &ws[i]);
            const wire_array *wa = (const void *)(ws + s->nsites);
            add_arrays(j, s, wa, s->narrays, seen, &nseen, seen_node);
            add_peak(j, s, wa + s->narrays, s->npeak, peak_seen, &npeak_seen, peak_node);
            const wire_violation *wv = (const void *)(wa + s->narrays + s->npeak);
            for (int i = 0; i < s->nviolations; i++) {
                j->violations[j->nviolations].rank = s->rank;
                j->violations[j->nviolations++].v = wv[i];
            }
            add_failures(j, s->rank, (const void *)(wv + s->nviolations), s->nfailures);
        }
        finish_sites(j, contrib, ncontrib, parent, order);
    }
    free(contrib), free(seen), free(seen_node), free(parent), free(order);
    return ok ? 0 : ENOMEM;
}

static void free_report(job_report *j)
{
    free(j->node), free(j->rank_lists), free(j->sites), free(j->failures), free(j->violations);
}

static void print(const job_report *j, const char *dest)
{
    int to_stderr = strcmp(dest, "stderr") == 0;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        log_warn("MPISHM_REPORT: no memory for the report");
        return;
    }
    if (to_stderr)
        report_print_table(out, j);
    else
        report_print_json(out, j);
    if (fclose(out) != 0 || !text) {
        log_warn("MPISHM_REPORT: no memory for the report");
        free(text);
        return;
    }
    int fd = to_stderr ? STDERR_FILENO : open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_warn("MPISHM_REPORT: cannot write %s (%s)", dest, strerror(errno));
    } else {
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(fd, text + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                log_warn("MPISHM_REPORT: writing %s failed (%s)", dest, strerror(errno));
                break;
            }
            off += (size_t)w;
        }
        if (!to_stderr && close(fd) != 0)
            log_warn("MPISHM_REPORT: writing %s failed (%s)", dest, strerror(errno));
        else if (!to_stderr && off == len)
            log_msg(1, "report written to %s", dest);
    }
    free(text);
}

static int scope_numa; /* MPI_COMM_WORLD's copies are its NUMA domains' */

/* The node index of every world rank (cliques included), or the rank itself when the
 * topology could not be built; *domains: the copies on its node (its NUMA domains where
 * MPISHM_SCOPE=numa is in effect on MPI_COMM_WORLD, else 1). */
static int world_node(int rank, int *nodes, int *domains)
{
    topo *t = NULL;
    int rc = topo_get(MPI_COMM_WORLD, 0, &t);
    *domains = 1;
    scope_numa = t && t->numa;
    if (rc != MPI_SUCCESS || !t) {
        PMPI_Comm_size(MPI_COMM_WORLD, nodes);
        return rank;
    }
    *nodes = t->hosts;
    *domains = t->domains_here;
    return t->host_index;
}

/* Rank 0 says whether it has the memory to receive; every rank acts on the same answer. */
static int agreed(int ok)
{
    return PMPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD) == MPI_SUCCESS && ok;
}

static void write_report(rank_summary *all, int size, int nodes, const char *blobs,
                         const int *displs, const char *dest)
{
    job_report j = {.ranks = size, .nodes = nodes};
    j.threshold = bcast_cfg.threshold;
    j.sites_option = option_str(OPT_SITES);
    j.auto_select = bcast_cfg.auto_select;
    j.protect = (int)protect_current();
    j.scope_numa = scope_numa;
    j.huge_page = hugepage_size();
    j.huge_why_not = hugepage_why_not();
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    j.program = exe;
    if (!blobs) /* summaries only */
        for (int r = 0; r < size; r++)
            all[r].nsites = all[r].narrays = all[r].npeak = all[r].nviolations =
                all[r].nfailures = 0;
    if (merge(&j, all, blobs ? blobs : "", displs) == 0)
        print(&j, dest);
    else
        log_warn("MPISHM_REPORT: no memory for the report");
    free_report(&j);
}

int report_finish(const char *dest)
{
    int rank, size, nodes;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    /* every rank's last shared broadcast has mapped its pages: the measurement sees them */
    PMPI_Barrier(MPI_COMM_WORLD);
    int rc = MPI_SUCCESS;
    rank_summary me;
    size_t blob_bytes;
    char *blob = collect(&me, &blob_bytes); /* NULL: the summary goes alone */
    me.rank = rank;
    me.node = world_node(rank, &nodes, &me.domains);
    if (blob_bytes > (size_t)1 << 30) { /* Gatherv counts are ints: keep the summary */
        me.nsites = me.narrays = me.npeak = me.nviolations = me.nfailures = 0;
        blob_bytes = 0;
    }
    rank_summary *all = NULL;
    int *counts = NULL, *displs = NULL;
    if (rank == 0 && !fault_inject(FAULT_REPORT)) {
        all = calloc((size_t)size, sizeof *all);
        counts = calloc((size_t)size, sizeof *counts);
        displs = calloc((size_t)size, sizeof *displs);
    }
    if (rc != MPI_SUCCESS || !agreed(rank != 0 || (all && counts && displs))) {
        if (rank == 0)
            log_warn("MPISHM_REPORT: no memory for the report");
        goto out;
    }
    int mine = (int)blob_bytes;
    rc = PMPI_Gather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        rc = PMPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        goto out;
    char *blobs = NULL;
    if (rank == 0) {
        size_t total = 0;
        for (int r = 0; r < size; r++) {
            displs[r] = (int)total;
            total += (size_t)counts[r];
        }
        blobs = total < INT32_MAX && !fault_inject(FAULT_REPORT) ? malloc(total ? total : 1) : NULL;
    }
    if (agreed(rank != 0 || blobs))
        rc = PMPI_Gatherv(blob, mine, MPI_BYTE, blobs, counts, displs, MPI_BYTE, 0,
                          MPI_COMM_WORLD);
    else if (rank == 0)
        log_warn("MPISHM_REPORT: no memory for every rank's call sites: counts only");
    if (rank == 0 && rc == MPI_SUCCESS)
        write_report(all, size, nodes, blobs, displs, dest);
    free(blobs);
out:
    free(blob), free(all), free(counts), free(displs);
    return rc;
}
