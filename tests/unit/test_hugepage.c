/* The system's huge-page policy for node copies, read from fake sysfs trees and mount tables. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hugepage.h"

static char dir[] = "/tmp/test_hugepage.XXXXXX";

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void make_tree(void)
{
    cr_assert(mkdtemp(dir));
    char sized[256];
    snprintf(sized, sizeof sized, "%s/hugepages-2048kB", dir);
    cr_assert_eq(mkdir(sized, 0700), 0);
    put("hpage_pmd_size", "2097152\n");
}

static void remove_tree(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(hugepage, .init = make_tree, .fini = remove_tree);

Test(hugepage, parse_bracketed_and_plain_words)
{
    int inherit = 0;
    cr_expect_eq(hugepage_parse("always within_size advise [never] deny force\n", &inherit),
                 HP_NEVER);
    cr_expect_eq(hugepage_parse("always [within_size] advise never deny force", &inherit),
                 HP_WITHIN_SIZE);
    cr_expect_eq(hugepage_parse("[always] within_size", &inherit), HP_ALWAYS);
    cr_expect_eq(hugepage_parse("always within_size advise never [deny] force", &inherit),
                 HP_NEVER);
    cr_expect_eq(hugepage_parse("always within_size advise never deny [force]", &inherit),
                 HP_ALWAYS);
    cr_expect_eq(hugepage_parse("advise", &inherit), HP_ADVISE); /* a mount's huge= */
    cr_expect_eq(hugepage_parse("within_size,size=1g", &inherit), HP_WITHIN_SIZE);
    cr_expect_eq(inherit, 0);
    cr_expect_eq(hugepage_parse("always [inherit] within_size advise never", &inherit), HP_NEVER);
    cr_expect_eq(inherit, 1);
    cr_expect_eq(hugepage_parse("[bogus]", &inherit), HP_NEVER);
    cr_expect_eq(hugepage_parse("", &inherit), HP_NEVER);
}

Test(hugepage, per_size_setting_inherits_or_decides)
{
    size_t size = 0;
    put("shmem_enabled", "always within_size advise [never] deny force\n");
    put("hugepages-2048kB/shmem_enabled", "always [inherit] within_size advise never\n");
    cr_expect_eq(hugepage_memfd_policy(dir, &size), HP_NEVER);
    cr_expect_eq(size, 2097152);
    put("hugepages-2048kB/shmem_enabled", "always inherit [within_size] advise never\n");
    cr_expect_eq(hugepage_memfd_policy(dir, &size), HP_WITHIN_SIZE);
    put("shmem_enabled", "always within_size advise never [deny] force\n");
    cr_expect_eq(hugepage_memfd_policy(dir, &size), HP_NEVER, "deny overrides every size");
    put("shmem_enabled", "always within_size [advise] never deny force\n");
    put("hugepages-2048kB/shmem_enabled", "always [inherit] within_size advise never\n");
    cr_expect_eq(hugepage_memfd_policy(dir, &size), HP_ADVISE);
}

Test(hugepage, older_kernel_and_none)
{
    size_t size = 0;
    put("shmem_enabled", "always [within_size] advise never deny force\n");
    char sized[300];
    snprintf(sized, sizeof sized, "%s/hugepages-2048kB", dir);
    cr_assert_eq(rmdir(sized), 0);
    cr_expect_eq(hugepage_memfd_policy(dir, &size), HP_WITHIN_SIZE, "no per-size files");
    put("hpage_pmd_size", "0\n");
    cr_expect_eq(hugepage_memfd_policy(dir, &size), HP_NEVER);
    cr_expect_eq(size, 0);
    cr_expect_eq(hugepage_memfd_policy("/nonexistent", &size), HP_NEVER);
}

Test(hugepage, dev_shm_mount_option)
{
    put("mounts", "proc /proc proc rw 0 0\n"
                  "tmpfs /dev/shm tmpfs rw,nosuid,nodev,size=65536k 0 0\n");
    char path[300];
    snprintf(path, sizeof path, "%s/mounts", dir);
    cr_expect_eq(hugepage_posix_policy(path), HP_NEVER);
    put("mounts", "tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n"
                  "tmpfs /dev/shm tmpfs rw,huge=within_size,size=1g 0 0\n");
    cr_expect_eq(hugepage_posix_policy(path), HP_WITHIN_SIZE, "the last mount is the one seen");
    put("mounts", "tmpfs /run/shm tmpfs rw,huge=always 0 0\n");
    cr_expect_eq(hugepage_posix_policy(path), HP_NEVER);
}

Test(hugepage, decide_off_says_why)
{
    const char *why = NULL;
    cr_expect_eq(hugepage_decide(HP_MODE_OFF, 0, &why), 0);
    cr_expect_str_eq(why, "MPISHM_HUGEPAGES=off");
    cr_expect_eq(hugepage_size(), 0);
    cr_expect_str_eq(hugepage_why_not(), "MPISHM_HUGEPAGES=off");
}
