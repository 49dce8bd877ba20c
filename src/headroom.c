#define _GNU_SOURCE
#include "headroom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const limit_name[LIMIT_KINDS] = {
    "none", "MemAvailable", "memory.max", "memory.high", "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes"};

/* A cgroup v1 limit this large means none (the kernel shows LONG_MAX rounded to pages). */
#define NO_LIMIT ((uint64_t)1 << 62)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

/* The first line of the file, without its newline; 0 when it could not be read. */
static int read_line(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int ok = fgets(out, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\n")] = '\0';
    return ok;
}

/* A number of bytes from a one-line file ("max" for cgroup v2's none): 1 when read. */
static int read_bytes(const char *dir, const char *name, uint64_t *out)
{
    char path[4096], line[64], *end;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!read_line(path, line, sizeof line))
        return 0;
    if (strcmp(line, "max") == 0) {
        *out = UINT64_MAX;
        return 1;
    }
    unsigned long long v = strtoull(line, &end, 10);
    if (end == line)
        return 0;
    *out = v >= NO_LIMIT ? UINT64_MAX : (uint64_t)v;
    return 1;
}

/* The value of `key` in a "key value" file (memory.stat, meminfo), times `unit`; 0 if absent. */
static uint64_t read_keyed(const char *path, const char *key, uint64_t unit)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[256];
    size_t n = strlen(key);
    uint64_t v = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && (line[n] == ' ' || line[n] == ':')) {
            v = strtoull(line + n + 1 + strspn(line + n + 1, " \t"), NULL, 10) * unit;
            break;
        }
    fclose(f);
    return v;
}

/* This process's cgroup directory for a v1 controller (`v1` set: the hierarchy holding
 * "memory") or the v2 hierarchy: found in /proc/self/cgroup and /proc/self/mountinfo. Writes
 * the directory and its hierarchy's mount point; 0 when there is none. */
static int cgroup_dir(const char *root, int v1, char *dir, size_t size, char *top, size_t tsize)
{
    char path[4096], line[4096], rel[4096] = "";
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        char *ctl = c1 + 1;
        if (v1) {
            for (char *save, *t = strtok_r(ctl, ",", &save); t; t = strtok_r(NULL, ",", &save))
                found |= strcmp(t, "memory") == 0;
        } else {
            found = strncmp(line, "0:", 2) == 0 && *ctl == '\0';
        }
        if (found)
            snprintf(rel, sizeof rel, "%s", c2 + 1);
    }
    fclose(f);
    if (!found)
        return 0;
    snprintf(path, sizeof path, "%s/proc/self/mountinfo", root);
    if (!(f = fopen(path, "re")))
        return 0;
    found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        /* id parent dev root mountpoint options [tags] - fstype source superoptions */
        char mroot[1024], mpoint[1024], fstype[64], super[1024] = "";
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", mroot, mpoint) != 2 ||
            sscanf(dash + 3, "%63s %*s %1023s", fstype, super) < 1)
            continue;
        if (v1) {
            if (strcmp(fstype, "cgroup") != 0)
                continue;
            for (char *save, *t = strtok_r(super, ",", &save); t; t = strtok_r(NULL, ",", &save))
                found |= strcmp(t, "memory") == 0;
        } else {
            found = strcmp(fstype, "cgroup2") == 0;
        }
        if (!found)
            continue;
        /* the path is relative to the hierarchy's root; the mount shows mroot there */
        size_t lr = strcmp(mroot, "/") == 0 ? 0 : strlen(mroot);
        const char *tail = strncmp(rel, mroot, lr) == 0 ? rel + lr : rel;
        int w = snprintf(top, tsize, "%s%s", root, mpoint);
        int d = snprintf(dir, size, "%s%s%s", top, *tail == '/' || *tail == '\0' ? "" : "/", tail);
        found = w > 0 && (size_t)w < tsize && d > 0 && (size_t)d < size; /* else: not this one */
    }
    fclose(f);
    return found;
}

/* The least room left by the limits of `dir` and every cgroup above it up to `top`. */
static void walk_limits(const char *dir, const char *top, int v1, uint64_t boot,
                        headroom_vote *v)
{
    char here[4096];
    snprintf(here, sizeof here, "%s", dir);
    size_t ltop = strlen(top);
    for (;;) {
        char stat_path[4200];
        snprintf(stat_path, sizeof stat_path, "%s/memory.stat", here);
        uint64_t cache = read_keyed(stat_path, v1 ? "total_inactive_file" : "inactive_file", 1);
        struct { const char *limit, *usage; limit_kind kind; } pairs[2] = {
            {v1 ? "memory.limit_in_bytes" : "memory.max",
             v1 ? "memory.usage_in_bytes" : "memory.current", v1 ? LIMIT_V1 : LIMIT_V2_MAX},
            {v1 ? "memory.memsw.limit_in_bytes" : "memory.high",
             v1 ? "memory.memsw.usage_in_bytes" : "memory.current",
             v1 ? LIMIT_V1_MEMSW : LIMIT_V2_HIGH}};
        for (int i = 0; i < 2; i++) {
            uint64_t limit, usage;
            if (!read_bytes(here, pairs[i].limit, &limit) || limit == UINT64_MAX ||
                !read_bytes(here, pairs[i].usage, &usage))
                continue;
            usage = usage > cache ? usage - cache : 0; /* clean file pages are reclaimed */
            uint64_t room = limit > usage ? limit - usage : 0;
            struct stat st;
            if (room < v->cgroup_room && stat(here, &st) == 0) {
                v->cgroup_room = room;
                v->cgroup_limit = limit;
                v->cgroup_kind = pairs[i].kind;
                uint64_t id[2] = {(uint64_t)st.st_dev, (uint64_t)st.st_ino};
                v->cgroup = fnv(boot, id, sizeof id) | 1;
            }
        }
        char *slash = strrchr(here, '/');
        if (strlen(here) <= ltop || !slash || (size_t)(slash - here) < ltop)
            break;
        *slash = '\0';
    }
}

void headroom_probe(const char *root, headroom_vote *v)
{
    char path[4096], boot[64] = "";
    snprintf(path, sizeof path, "%s/proc/sys/kernel/random/boot_id", root);
    read_line(path, boot, sizeof boot);
    v->machine = fnv(0xcbf29ce484222325ULL, boot, strlen(boot)) | 1;
    snprintf(path, sizeof path, "%s/proc/meminfo", root);
    uint64_t avail = read_keyed(path, "MemAvailable", 1024);
    v->machine_room = avail ? avail : UINT64_MAX;
    v->cgroup = 0;
    v->cgroup_room = v->cgroup_limit = UINT64_MAX;
    v->cgroup_kind = LIMIT_NONE;
    char dir[4096], top[4096];
    for (int v1 = 0; v1 <= 1; v1++)
        if (cgroup_dir(root, v1, dir, sizeof dir, top, sizeof top))
            walk_limits(dir, top, v1, v->machine, v);
}

static uint64_t room_of(const headroom_vote *v, int cgroup)
{
    return cgroup ? v->cgroup_room : v->machine_room;
}

static uint64_t need_of(const headroom_vote *v, int plain) { return plain ? v->plain_need : v->need; }

static uint64_t pool_of(const headroom_vote *v, int cgroup) { return cgroup ? v->cgroup : v->machine; }

typedef struct { const headroom_vote *v; int cgroup; } pool_order;

/* By pool, then by rank: the same order on every rank. */
static int by_pool(const void *x, const void *y, void *arg)
{
    const pool_order *o = arg;
    int i = *(const int *)x, j = *(const int *)y;
    uint64_t a = pool_of(&o->v[i], o->cgroup), b = pool_of(&o->v[j], o->cgroup);
    return a != b ? (a > b) - (a < b) : (i > j) - (i < j);
}

/* Each pool is judged once, by the least room any of its ranks saw: the ranks sorted by
 * pool, O(n log n). */
int headroom_short(const headroom_vote *v, int n, uint64_t margin, int plain, int *order,
                   limit_kind *kind, uint64_t *room, uint64_t *given, uint64_t *sum)
{
    for (int cg = 0; cg <= 1; cg++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (!cg || v[i].cgroup)
                order[m++] = i;
        pool_order o = {v, cg};
        qsort_r(order, (size_t)m, sizeof *order, by_pool, &o);
        for (int start = 0, end; start < m; start = end) {
            uint64_t pool = pool_of(&v[order[start]], cg), need = 0, freed = 0;
            int tightest = -1;
            for (end = start; end < m && pool_of(&v[order[end]], cg) == pool; end++) {
                const headroom_vote *r = &v[order[end]];
                need += need_of(r, plain);
                freed += plain ? 0 : r->give_back;
                if (room_of(r, cg) != UINT64_MAX &&
                    (tightest < 0 || room_of(r, cg) < room_of(&v[tightest], cg)))
                    tightest = order[end];
            }
            if (!need || tightest < 0)
                continue;
            uint64_t have = room_of(&v[tightest], cg);
            *room = have;
            have = have > UINT64_MAX - freed ? UINT64_MAX : have + freed;
            if (have < margin || need > have - margin) {
                *kind = cg ? (limit_kind)v[tightest].cgroup_kind : LIMIT_MEMAVAILABLE;
                *given = freed;
                *sum = need;
                return tightest;
            }
        }
    }
    return -1;
}
