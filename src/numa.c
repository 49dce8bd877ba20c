#define _GNU_SOURCE
#include "numa.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int scope_numa;
static int fake_set, fake_domain, fake_domains;

/* CPUs a cpulist ("0-3,8-11", empty for a memory-only node) names: how many in all, and how
 * many of them lie in mask. -1 when the list is malformed. */
static int count_cpus(const char *list, const cpu_set_t *mask, size_t mask_size, int *in_mask)
{
    int total = 0;
    *in_mask = 0;
    for (const char *p = list; *p && *p != '\n';) {
        char *end;
        errno = 0;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (errno || end == p || !isdigit((unsigned char)*p))
            return -1;
        if (*end == '-') {
            p = end + 1;
            hi = strtoul(p, &end, 10);
            if (errno || end == p || !isdigit((unsigned char)*p) || hi < lo)
                return -1;
        }
        for (unsigned long c = lo; c <= hi && c < 1UL << 20; c++, total++)
            *in_mask += c < 8 * mask_size && CPU_ISSET_S(c, mask_size, mask);
        p = end + (*end == ',');
        if (*end != ',' && *end != '\n' && *end)
            return -1;
    }
    return total;
}

/* The node's cpulist file, read: -1 when absent or unreadable. */
static int node_cpus(const char *dir, const char *node, const cpu_set_t *mask, size_t mask_size,
                     int *in_mask)
{
    char path[4400], list[16384];
    snprintf(path, sizeof path, "%s/%s/cpulist", dir, node);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(list, 1, sizeof list - 1, f);
    fclose(f);
    list[n] = '\0';
    return count_cpus(list, mask, mask_size, in_mask);
}

void numa_probe(const char *root, const cpu_set_t *mask, size_t mask_size, numa_place *out)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sys/devices/system/node", root);
    *out = (numa_place){.domain = 0, .domains = 1};
    DIR *d = opendir(dir);
    if (!d)
        return;
    int with_cpus = 0, touched = 0, last = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, "node", 4) != 0 || !isdigit((unsigned char)e->d_name[4]))
            continue;
        long id = strtol(e->d_name + 4, &end, 10);
        int in_mask = 0;
        if (*end || node_cpus(dir, e->d_name, mask, mask_size, &in_mask) <= 0)
            continue; /* not a node, unreadable, or memory only */
        with_cpus++;
        if (in_mask)
            touched++, last = (int)id;
    }
    closedir(d);
    if (with_cpus)
        *out = (numa_place){.domain = touched == 1 ? last : -1, .domains = with_cpus};
}

/* One entry of the fake list: 0 with *domain (-1 for "*"), -1 when malformed. */
static int fake_entry(const char *p, size_t len, int *domain)
{
    if (len == 1 && *p == '*')
        return *domain = -1, 0;
    if (len == 0 || len > 6)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = 10 * v + (p[i] - '0');
    }
    return *domain = v, 0;
}

int numa_fake_parse(const char *spec, int rank, int *domain, int *domains)
{
    if (!spec || !*spec)
        return 1;
    int n = 0, highest = 0, v;
    for (const char *p = spec;; p++) { /* count the entries, and check each */
        size_t len = strcspn(p, ",");
        if (fake_entry(p, len, &v) != 0)
            return -1;
        highest = v > highest ? v : highest;
        n++;
        p += len;
        if (!*p)
            break;
    }
    const char *p = spec;
    for (int i = rank % n; i > 0; i--)
        p += strcspn(p, ",") + 1;
    fake_entry(p, strcspn(p, ","), domain);
    *domains = highest + 1;
    return 0;
}

void numa_configure(int numa, const char *fake, int world_rank)
{
    scope_numa = numa;
    int rc = numa_fake_parse(fake, world_rank < 0 ? 0 : world_rank, &fake_domain, &fake_domains);
    fake_set = rc == 0;
    if (rc < 0) /* (the environment is the job's: one rank warns) */
        log_msg(world_rank <= 0 ? 0 : 1, "MPISHM_NUMA_FAKE=\"%s\" is not a list of NUMA "
                "domain numbers or '*' (e.g. 0,0,1,1); ignored", fake);
}

int numa_scope(void) { return scope_numa; }

void numa_locate(numa_place *out)
{
    if (fake_set) {
        *out = (numa_place){.domain = fake_domain, .domains = fake_domains};
        return;
    }
    /* (the affinity mask, not getcpu: where a rank may run, not where it happens to be) */
    size_t size = CPU_ALLOC_SIZE(8192);
    cpu_set_t *mask = CPU_ALLOC(8192);
    if (!mask || sched_getaffinity(0, size, mask) != 0) {
        log_msg(2, "MPISHM_SCOPE=numa: the CPU affinity of this rank is unknown (%s)",
                mask ? strerror(errno) : "no memory");
        *out = (numa_place){.domain = -1, .domains = 1};
    } else {
        numa_probe("", mask, size, out);
    }
    CPU_FREE(mask);
}
