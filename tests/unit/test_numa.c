/* numa.c: a rank's NUMA node read from its affinity mask and a /sys/devices/system/node laid
 * out in a temporary tree as the kernel shows it (two sockets, a memory-only node, no
 * files), and the testing aid MPISHM_NUMA_FAKE's list. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake_tree.h"
#include "numa.h"

/* Two sockets of 4 CPUs each, numbered as many BIOSes do (0-1,4-5 and 2-3,6-7), and a node of
 * memory only (CXL or HBM): no CPUs. */
static void two_sockets(void)
{
    fake_tree_make("test_numa");
    put("sys/devices/system/node/node0/cpulist", "0-1,4-5\n");
    put("sys/devices/system/node/node1/cpulist", "2-3,6-7\n");
    put("sys/devices/system/node/node2/cpulist", "\n");
    put("sys/devices/system/node/online", "0-2\n");
    put("sys/devices/system/node/possible", "0-2\n");
}

/* The place of a rank allowed on the CPUs listed (ending with -1). */
static numa_place place_of(const int *cpus)
{
    cpu_set_t mask;
    CPU_ZERO(&mask);
    for (; *cpus >= 0; cpus++)
        CPU_SET(*cpus, &mask);
    numa_place p = {-7, -7};
    numa_probe(root, &mask, sizeof mask, &p);
    return p;
}

TestSuite(numa, .init = two_sockets, .fini = cleanup);

Test(numa, a_rank_bound_to_one_core_or_one_socket_is_placed)
{
    numa_place p = place_of((int[]){6, -1});
    cr_expect_eq(p.domain, 1, "CPU 6 is on node 1");
    cr_expect_eq(p.domains, 2, "the memory-only node holds no ranks: not a domain");
    p = place_of((int[]){0, 1, 4, 5, -1});
    cr_expect_eq(p.domain, 0, "the whole of socket 0");
}

Test(numa, a_rank_spanning_two_sockets_is_not_placed)
{
    numa_place p = place_of((int[]){1, 2, -1});
    cr_expect_eq(p.domain, -1);
    cr_expect_eq(p.domains, 2);
    p = place_of((int[]){0, 1, 2, 3, 4, 5, 6, 7, -1}); /* unbound: every CPU */
    cr_expect_eq(p.domain, -1);
}

Test(numa, without_the_files_one_domain)
{
    cleanup();
    numa_place p = place_of((int[]){0, -1});
    cr_expect_eq(p.domain, 0);
    cr_expect_eq(p.domains, 1);
    fake_tree_make("test_numa"); /* for .fini */
}

Test(numa, one_node_machine_binds_every_rank)
{
    cleanup();
    fake_tree_make("test_numa");
    put("sys/devices/system/node/node0/cpulist", "0-1\n");
    put("sys/devices/system/node/has_cpu", "0\n"); /* not a node: no digit after "node" */
    numa_place p = place_of((int[]){0, 1, -1});
    cr_expect_eq(p.domain, 0);
    cr_expect_eq(p.domains, 1);
}

Test(numa, a_malformed_cpulist_is_not_a_domain)
{
    put("sys/devices/system/node/node1/cpulist", "2-x\n");
    numa_place p = place_of((int[]){1, 2, -1});
    cr_expect_eq(p.domains, 1, "node 1's list cannot be read");
    cr_expect_eq(p.domain, 0, "of the nodes read, only node 0 holds this rank's CPUs");
    put("sys/devices/system/node/node1/cpulist", "3-2\n");
    p = place_of((int[]){1, -1});
    cr_expect_eq(p.domains, 1, "a descending range");
}

Test(numa, fake_list_is_read_cyclically_by_world_rank)
{
    int d = -7, n = -7;
    cr_expect_eq(numa_fake_parse("0,0,1,1", 2, &d, &n), 0);
    cr_expect_eq(d, 1);
    cr_expect_eq(n, 2);
    cr_expect_eq(numa_fake_parse("0,0,1,1", 5, &d, &n), 0);
    cr_expect_eq(d, 0, "rank 5 reads entry 1");
    cr_expect_eq(numa_fake_parse("0,*,3", 1, &d, &n), 0);
    cr_expect_eq(d, -1, "'*': bound to no single domain");
    cr_expect_eq(n, 4);
    cr_expect_eq(numa_fake_parse("7", 3, &d, &n), 0);
    cr_expect_eq(d, 7);
}

Test(numa, fake_list_empty_or_malformed)
{
    int d = -7, n = -7;
    cr_expect_eq(numa_fake_parse("", 0, &d, &n), 1);
    cr_expect_eq(numa_fake_parse(NULL, 0, &d, &n), 1);
    cr_expect_eq(numa_fake_parse("0,,1", 0, &d, &n), -1);
    cr_expect_eq(numa_fake_parse("0,-1", 0, &d, &n), -1);
    cr_expect_eq(numa_fake_parse("a", 0, &d, &n), -1);
    cr_expect_eq(numa_fake_parse("0,1,", 0, &d, &n), -1);
    cr_expect_eq(numa_fake_parse("1234567", 0, &d, &n), -1);
    cr_expect_eq(d, -7, "untouched");
}

Test(numa, malformed_override_is_said_and_ignored)
{
    cr_redirect_stderr();
    numa_configure(1, "0,x", 0);
    cr_expect(numa_scope());
    fflush(stderr);
    cr_expect_stderr_eq_str("libmpishm[?]: MPISHM_NUMA_FAKE=\"0,x\" is not a list of NUMA domain "
                            "numbers or '*' (e.g. 0,0,1,1); ignored\n");
    numa_configure(1, "0,1", 1); /* valid: rank 1 in domain 1 of 2 */
    numa_place p;
    numa_locate(&p);
    cr_expect_eq(p.domain, 1);
    cr_expect_eq(p.domains, 2);
}

Test(numa, without_override_the_affinity_mask_decides)
{
    numa_configure(0, "", 0);
    cr_expect(!numa_scope());
    numa_place p = {-7, -7};
    numa_locate(&p); /* this machine's own files and mask */
    cr_expect(p.domains >= 1);
    cr_expect(p.domain >= -1 && p.domain < 1 << 20);
    if (p.domains == 1)
        cr_expect_eq(p.domain, 0, "one NUMA node holds every CPU, this process's too");
}
