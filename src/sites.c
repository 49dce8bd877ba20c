/* Call-site table: a small open-addressing hash of whole stacks pointing into a table of
 * sites keyed by the call's address. Only large broadcasts get here, so one mutex is fine. */
#include "sites.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

const char *const why_not_key[WHY_COUNT] = {"not_marked", "not_selectable", "written",
                                            "not_contiguous",
                                            "one_rank_per_node", "no_saving", "no_headroom",
                                            "timing", "slow", "failed", "other"};

#define MAX_STACKS 1024 /* a power of two */
#define MAX_NAMES 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static site_record sites[SITES_MAX];
static int nsites;
static struct { uint64_t hash; int used, site, selected; callstack stack; } stacks[MAX_STACKS];
static char names[MAX_NAMES][256];
static int nnames;

int sites_configure(const char *list)
{
    nnames = 0;
    for (const char *p = list; p && *p && nnames < MAX_NAMES;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t len = n;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len && len < sizeof names[0]) {
            memcpy(names[nnames], p, len);
            names[nnames++][len] = '\0';
        } else if (len) {
            log_msg(0, "MPISHM_SITES: a name of %zu characters is too long (at most %zu); "
                    "ignored", len, sizeof names[0] - 1);
        }
        p += n;
    }
    return nnames;
}

static uint64_t hash_stack(const callstack *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the addresses */
    for (int i = 0; i < s->n; i++) {
        h ^= s->pc[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Does a frame of `s` belong to a function MPISHM_SITES names? Only the frames a site is
 * made of (SITE_FRAMES, what the report shows and chooses names from) count: a name the
 * report suggests then selects no site it did not see. Names every frame once. */
static int stack_selected(const callstack *s)
{
    for (int i = 0; i < s->n && i < SITE_FRAMES && nnames; i++) {
        frame_name f;
        callsite_name(s->pc[i], &f);
        for (int k = 0; k < nnames; k++)
            if (callsite_frame_matches(names[k], &f))
                return 1;
    }
    return 0;
}

static int same_site(const callstack *a, const callstack *b)
{
    int n = a->n < SITE_FRAMES ? a->n : SITE_FRAMES;
    return n == (b->n < SITE_FRAMES ? b->n : SITE_FRAMES) &&
           memcmp(a->pc, b->pc, (size_t)n * sizeof a->pc[0]) == 0;
}

/* FNV-1a over a string, its terminator included. */
static uint64_t hash_text(uint64_t h, const char *p)
{
    do {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    } while (*p++);
    return h;
}

/* A site's frames by name, as the report tells sites apart (report.c's same_site): the
 * same on every rank. Never 0, and below 2^63. */
static uint64_t key_of(const callstack *s)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < s->n && i < SITE_FRAMES; i++) {
        frame_name f;
        callsite_name(s->pc[i], &f);
        int ends = callsite_program_ends(&f);
        if (ends == 2 && i > 0)
            break;
        h = hash_text(h, f.object);
        if (f.function[0]) {
            h = hash_text(h, f.function);
        } else {
            h ^= f.object_offset;
            h *= 1099511628211ull;
        }
        if (ends == 1)
            break; /* what lies beyond is the C library starting the program */
    }
    return h >> 1 | 1; /* a positive long long: it rides in the eligibility vote */
}

static int site_of_call(const callstack *s)
{
    for (int i = 0; i < nsites; i++)
        if (same_site(&sites[i].stack, s))
            return i;
    if (nsites == SITES_MAX)
        return -1;
    memset(&sites[nsites], 0, sizeof sites[nsites]);
    sites[nsites].stack = *s;
    sites[nsites].key = key_of(s);
    return nsites++;
}

int sites_lookup(const callstack *s, int *selected)
{
    *selected = 0;
    if (s->n == 0)
        return -1;
    uint64_t h = hash_stack(s);
    int id = -1;
    pthread_mutex_lock(&lock);
    for (size_t probe = 0; probe < MAX_STACKS; probe++) {
        size_t i = (h + probe) & (MAX_STACKS - 1);
        if (stacks[i].used && stacks[i].hash == h && stacks[i].stack.n == s->n &&
            memcmp(stacks[i].stack.pc, s->pc, (size_t)s->n * sizeof s->pc[0]) == 0) {
            *selected = stacks[i].selected;
            id = stacks[i].site;
            break;
        }
        if (!stacks[i].used) {
            id = site_of_call(s);
            if (id < 0)
                break;
            stacks[i].used = 1;
            stacks[i].hash = h;
            stacks[i].stack = *s;
            stacks[i].site = id;
            stacks[i].selected = *selected = stack_selected(s);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return id;
}

/* Count [buf, buf+bytes) once per site in the saving estimate; past SITE_BUFFERS distinct
 * buffers every further call is taken as a new one. */
static void count_buffer(site_record *r, int shared, int candidate, uintptr_t buf, size_t bytes,
                         size_t resident)
{
    int i = 0;
    while (i < r->nbuffers && (r->buffers[i].addr != buf || r->buffers[i].bytes != bytes))
        i++;
    if (i == SITE_BUFFERS) {
        r->candidate_bytes += candidate ? bytes : 0;
        r->shared_bytes += shared ? bytes : 0;
        return;
    }
    if (i == r->nbuffers) { /* (resident: at its first broadcast here, before MPI wrote it) */
        r->nbuffers++;
        r->buffers[i].addr = buf;
        r->buffers[i].bytes = bytes;
        r->buffers[i].resident = resident;
        r->resident_before += resident;
        r->buffers[i].candidate = r->buffers[i].shared = 0;
    }
    if (candidate && !r->buffers[i].candidate) {
        r->buffers[i].candidate = 1;
        r->candidate_bytes += bytes;
    }
    if (shared && !r->buffers[i].shared) {
        r->buffers[i].shared = 1;
        r->shared_bytes += bytes;
    }
}

void sites_merge(site_record *into, const site_record *from)
{
    into->calls += from->calls;
    into->shared += from->shared;
    for (int k = 0; k < WHY_COUNT; k++)
        into->not_shared[k] += from->not_shared[k];
    for (int k = 0; k < 3; k++)
        into->by_origin[k] += from->by_origin[k];
    if (from->max_bytes > into->max_bytes)
        into->max_bytes = from->max_bytes;
    for (int i = 0; i < from->nroot_keys; i++) {
        int k = 0;
        while (k < into->nroot_keys && into->root_keys[k] != from->root_keys[i])
            k++;
        if (k == into->nroot_keys && k < SITE_ROOT_KEYS)
            into->root_keys[into->nroot_keys++] = from->root_keys[i];
    }
    into->written |= from->written;
    into->slow |= from->slow;
    size_t listed_candidate = 0, listed_shared = 0, listed_resident = 0;
    for (int i = 0; i < from->nbuffers; i++) {
        const __typeof__(from->buffers[0]) *b = &from->buffers[i];
        listed_candidate += b->candidate ? b->bytes : 0;
        listed_shared += b->shared ? b->bytes : 0;
        listed_resident += b->resident;
        count_buffer(into, b->shared, b->candidate, b->addr, b->bytes, b->resident);
    }
    /* what `from` counted past its list of distinct buffers */
    into->candidate_bytes += from->candidate_bytes - listed_candidate;
    into->shared_bytes += from->shared_bytes - listed_shared;
    into->resident_before += from->resident_before - listed_resident;
}

void sites_record(int id, int shared, why_not why, int origin, uintptr_t buf, size_t bytes,
                  size_t resident)
{
    if (id < 0)
        return;
    pthread_mutex_lock(&lock);
    site_record *r = &sites[id];
    r->calls++;
    if (shared)
        r->shared++;
    else
        r->not_shared[why]++;
    if (origin >= 0 && origin < 3)
        r->by_origin[origin]++;
    if (bytes > r->max_bytes)
        r->max_bytes = bytes;
    count_buffer(r, shared, !shared && why == WHY_NOT_MARKED, buf, bytes, resident);
    pthread_mutex_unlock(&lock);
}

/* The flag at `offset` in site id's record: set when `set`, and its value (0 for -1). */
static int site_flag(int id, size_t offset, int set)
{
    if (id < 0)
        return 0;
    pthread_mutex_lock(&lock);
    int *flag = (int *)((char *)&sites[id] + offset);
    if (set)
        *flag = 1;
    int value = *flag;
    pthread_mutex_unlock(&lock);
    return value;
}

void sites_mark_written(int id) { site_flag(id, offsetof(site_record, written), 1); }
int sites_is_written(int id) { return site_flag(id, offsetof(site_record, written), 0); }

int sites_knows_buffer(int id, uintptr_t buf, size_t bytes)
{
    if (id < 0)
        return 1;
    pthread_mutex_lock(&lock);
    const site_record *r = &sites[id];
    int i = 0;
    while (i < r->nbuffers && (r->buffers[i].addr != buf || r->buffers[i].bytes != bytes))
        i++;
    int known = i < r->nbuffers || r->nbuffers == SITE_BUFFERS;
    pthread_mutex_unlock(&lock);
    return known;
}
void sites_mark_slow(int id) { site_flag(id, offsetof(site_record, slow), 1); }
int sites_is_slow(int id) { return site_flag(id, offsetof(site_record, slow), 0); }

void sites_note_share(int id, double seconds, size_t bytes)
{
    if (id < 0)
        return;
    pthread_mutex_lock(&lock);
    site_record *r = &sites[id];
    if (r->timed_bytes != bytes) {
        r->timed_bytes = bytes;
        r->shares_timed = r->shares_since = 0;
        r->probes = r->probe_warming = 0;
        r->plain_seconds = 0;
    }
    if (r->shares_timed == 0 || seconds < r->share_seconds)
        r->share_seconds = seconds;
    r->shares_timed++;
    r->shares_since++;
    pthread_mutex_unlock(&lock);
}

/* Sharing counts as slower only past 5 per cent, so that noise does not decide. A site
 * shared once (a table broadcast once, or kept in place since) is never timed. */
time_verdict sites_time_verdict(int id)
{
    if (id < 0)
        return TIME_OK;
    pthread_mutex_lock(&lock);
    const site_record *r = &sites[id];
    time_verdict v = r->shares_timed < 2                            ? TIME_OK
                     : r->probe_warming || r->probes == 0             ? TIME_PROBE
                     : r->share_seconds > 1.05 * r->plain_seconds     ? TIME_SLOW
                     : r->probes < 3 && r->shares_since >= 4UL << (r->probes - 1) ? TIME_PROBE
                                                                        : TIME_OK;
    pthread_mutex_unlock(&lock);
    return v;
}

void sites_note_plain(int id, double seconds)
{
    if (id < 0)
        return;
    pthread_mutex_lock(&lock);
    site_record *r = &sites[id];
    if (!r->probe_warming) { /* the first of a pair: it paid for faulting the pages in */
        r->probe_warming = 1;
    } else {
        if (r->probes == 0 || seconds < r->plain_seconds)
            r->plain_seconds = seconds;
        r->probes++;
        r->probe_warming = 0;
        r->shares_since = 0;
    }
    pthread_mutex_unlock(&lock);
}

uint64_t sites_key(int id)
{
    if (id < 0)
        return 0;
    pthread_mutex_lock(&lock);
    uint64_t key = sites[id].key;
    pthread_mutex_unlock(&lock);
    return key;
}

void sites_note_root(int id, uint64_t root_key)
{
    if (id < 0 || !root_key)
        return;
    pthread_mutex_lock(&lock);
    site_record *r = &sites[id];
    int i = 0;
    while (i < r->nroot_keys && r->root_keys[i] != root_key)
        i++;
    if (i == r->nroot_keys && i < SITE_ROOT_KEYS)
        r->root_keys[r->nroot_keys++] = root_key;
    pthread_mutex_unlock(&lock);
}

void sites_copy(int id, site_record *out)
{
    memset(out, 0, sizeof *out);
    if (id < 0)
        return;
    pthread_mutex_lock(&lock);
    *out = sites[id];
    pthread_mutex_unlock(&lock);
}

size_t sites_snapshot(site_record *out, size_t max)
{
    pthread_mutex_lock(&lock);
    size_t n = (size_t)nsites;
    if (n && max)
        memcpy(out, sites, (n < max ? n : max) * sizeof *out);
    pthread_mutex_unlock(&lock);
    return n;
}

void sites_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(stacks, 0, sizeof stacks);
    nsites = 0;
    nnames = 0;
    pthread_mutex_unlock(&lock);
}
