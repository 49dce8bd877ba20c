#include "hugepage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSFS_THP "/sys/kernel/mm/transparent_hugepage"

static size_t decided_size;
static int decided_unasked;
static const char *decided_why = "MPISHM_HUGEPAGES is not decided yet (MPI_Init)";

hp_policy hugepage_parse(const char *text, int *inherit)
{
    static const struct {
        const char *word;
        hp_policy policy;
    } words[] = {{"always", HP_ALWAYS}, {"force", HP_ALWAYS}, {"within_size", HP_WITHIN_SIZE},
                 {"advise", HP_ADVISE}, {"never", HP_NEVER}, {"deny", HP_NEVER}};
    const char *open = strchr(text, '['), *word = open ? open + 1 : text;
    size_t len = strcspn(word, open ? "]" : " \n,");
    *inherit = len == 7 && strncmp(word, "inherit", 7) == 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == len && strncmp(word, words[i].word, len) == 0)
            return words[i].policy;
    return HP_NEVER;
}

/* The first line of `dir`/`name` into line[size]; 0 where it cannot be read. */
static int read_line(const char *dir, const char *name, char *line, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int ok = fgets(line, (int)size, f) != NULL;
    fclose(f);
    return ok;
}

hp_policy hugepage_memfd_policy(const char *sysfs, size_t *size)
{
    char line[256], name[64];
    int inherit = 0;
    *size = read_line(sysfs, "hpage_pmd_size", line, sizeof line) ? strtoull(line, NULL, 10) : 0;
    if (*size == 0 || !read_line(sysfs, "shmem_enabled", line, sizeof line))
        return HP_NEVER;
    hp_policy global = hugepage_parse(line, &inherit);
    /* deny and force override every size; "deny" parses as never */
    if (strstr(line, "[deny]") || strstr(line, "[force]"))
        return global;
    snprintf(name, sizeof name, "hugepages-%zukB/shmem_enabled", *size >> 10);
    if (!read_line(sysfs, name, line, sizeof line))
        return global; /* a kernel without per-size settings */
    hp_policy sized = hugepage_parse(line, &inherit);
    return inherit ? global : sized;
}

hp_policy hugepage_posix_policy(const char *mounts)
{
    FILE *f = fopen(mounts, "re");
    char line[1024];
    hp_policy p = HP_NEVER;
    int inherit;
    while (f && fgets(line, sizeof line, f)) {
        char dev[256], dir[256], type[64], opts[512];
        if (sscanf(line, "%255s %255s %63s %511s", dev, dir, type, opts) != 4 ||
            strcmp(dir, "/dev/shm") != 0 || strcmp(type, "tmpfs") != 0)
            continue;
        const char *huge = strstr(opts, "huge=");
        p = huge ? hugepage_parse(huge + 5, &inherit) : HP_NEVER; /* the last mount wins */
    }
    if (f)
        fclose(f);
    return p;
}

size_t hugepage_decide(hp_mode mode, int posix_only, const char **why)
{
    size_t size = 0;
    hp_policy p = hugepage_memfd_policy(SYSFS_THP, &size);
    if (posix_only)
        p = hugepage_posix_policy("/proc/self/mounts");
    if (mode == HP_MODE_OFF)
        *why = "MPISHM_HUGEPAGES=off";
    else if (size == 0)
        *why = "this kernel has no transparent huge pages (" SYSFS_THP "/hpage_pmd_size)";
    else if (p == HP_NEVER && posix_only)
        *why = "/dev/shm is mounted without huge=within_size, always or advise (MPISHM_SHM=posix)";
    else if (p == HP_NEVER)
        *why = "the system's policy for shared memory is never or deny (" SYSFS_THP
               "/shmem_enabled: within_size, always or advise allows them)";
    else
        *why = NULL;
    decided_size = *why ? 0 : size;
    decided_unasked = size && (p == HP_WITHIN_SIZE || p == HP_ALWAYS);
    decided_why = *why;
    return decided_size;
}

size_t hugepage_size(void) { return decided_size; }
int hugepage_unasked(void) { return decided_unasked; }
const char *hugepage_why_not(void) { return decided_why; }
