/* headroom.c: the limits read from /proc and cgroup files (laid out in a temporary tree as
 * the kernel shows them, cgroup v1 and v2, limits on an ancestor), and the shared verdict. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake_tree.h"
#include "headroom.h"

#define MiB (1024ULL * 1024)

static void machine(void)
{
    fake_tree_make("test_headroom");
    put("proc/sys/kernel/random/boot_id", "68dcf8a7-76d2-4a59-b85f-71aa34c4b476\n");
    put("proc/meminfo", "MemTotal:       24000000 kB\nMemFree:        20000000 kB\n"
                        "MemAvailable:   10240000 kB\n");
}

TestSuite(headroom, .init = machine, .fini = cleanup);

Test(headroom, no_cgroup_gives_memavailable_only)
{
    headroom_vote v = {.need = 5};
    headroom_probe(root, &v);
    cr_expect(v.machine != 0);
    cr_expect_eq(v.machine_room, 10240000ULL * 1024);
    cr_expect_eq(v.cgroup, 0);
    cr_expect_eq(v.cgroup_kind, LIMIT_NONE);
    cr_expect_eq(v.need, 5, "the need is the caller's");
}

Test(headroom, cgroup_v2_limit_on_an_ancestor_and_high)
{
    put("proc/self/cgroup", "0::/job_7/step_0/task_1\n");
    put("proc/self/mountinfo",
        "24 1 0:22 / /proc rw - proc proc rw\n"
        "31 23 0:28 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n");
    /* the job's limit binds: 512 MiB, 300 MiB used of which 40 MiB are clean file pages */
    put("sys/fs/cgroup/job_7/memory.max", "536870912\n");
    put("sys/fs/cgroup/job_7/memory.current", "314572800\n");
    put("sys/fs/cgroup/job_7/memory.stat", "anon 200000000\ninactive_file 41943040\n");
    put("sys/fs/cgroup/job_7/step_0/memory.max", "max\n");
    put("sys/fs/cgroup/job_7/step_0/memory.high", "max\n");
    put("sys/fs/cgroup/job_7/step_0/memory.current", "300000000\n");
    put("sys/fs/cgroup/job_7/step_0/task_1/memory.max", "max\n");
    put("sys/fs/cgroup/job_7/step_0/task_1/memory.current", "1000\n");
    headroom_vote v = {0};
    headroom_probe(root, &v);
    cr_expect_eq(v.cgroup_kind, LIMIT_V2_MAX);
    cr_expect_eq(v.cgroup_limit, 512 * MiB);
    cr_expect_eq(v.cgroup_room, 512 * MiB - (300 * MiB - 40 * MiB));
    cr_expect(v.cgroup != 0);
    /* memory.high lower than the room memory.max leaves: it binds */
    put("sys/fs/cgroup/job_7/step_0/memory.high", "400000000\n");
    headroom_vote w = {0};
    headroom_probe(root, &w);
    cr_expect_eq(w.cgroup_kind, LIMIT_V2_HIGH);
    cr_expect_eq(w.cgroup_room, 400000000ULL - 300000000ULL);
    cr_expect_neq(w.cgroup, v.cgroup, "another cgroup binds");
}

Test(headroom, cgroup_v1_memory_and_memsw_under_a_namespace_root)
{
    /* the hierarchy is mounted from /docker/abc: paths in /proc/self/cgroup are below it */
    put("proc/self/cgroup", "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc/slurm/job_3\n0::/\n");
    put("proc/self/mountinfo",
        "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/memory.usage_in_bytes", "900000000\n");
    put("sys/fs/cgroup/memory/slurm/job_3/memory.limit_in_bytes", "1073741824\n");
    put("sys/fs/cgroup/memory/slurm/job_3/memory.usage_in_bytes", "536870912\n");
    put("sys/fs/cgroup/memory/slurm/job_3/memory.memsw.limit_in_bytes", "1073741824\n");
    put("sys/fs/cgroup/memory/slurm/job_3/memory.memsw.usage_in_bytes", "805306368\n");
    put("sys/fs/cgroup/memory/slurm/job_3/memory.stat", "cache 0\ntotal_inactive_file 0\n");
    headroom_vote v = {0};
    headroom_probe(root, &v);
    cr_expect_eq(v.cgroup_kind, LIMIT_V1_MEMSW, "memory plus swap leaves the least");
    cr_expect_eq(v.cgroup_room, 1024 * MiB - 768 * MiB);
    cr_expect_eq(v.cgroup_limit, 1024 * MiB);
}

static headroom_vote vote(uint64_t machine, uint64_t mroom, uint64_t cgroup, uint64_t croom,
                          uint64_t need)
{
    return (headroom_vote){.machine = machine, .machine_room = mroom, .cgroup = cgroup,
                           .cgroup_room = croom, .cgroup_kind = cgroup ? LIMIT_V1 : LIMIT_NONE,
                           .need = need};
}

Test(headroom, verdict_sums_what_one_pool_reserves)
{
    const uint64_t none = UINT64_MAX;
    int order[4];
    limit_kind kind;
    uint64_t room, freed, sum;
    /* two nodes of two ranks, each node's leader reserving 100 MiB, in its own cgroup */
    headroom_vote v[4] = {vote(1, none, 11, 300 * MiB, 100 * MiB), vote(2, none, 22, 150 * MiB, 100 * MiB),
                          vote(1, none, 11, 290 * MiB, 0), vote(2, none, 22, 140 * MiB, 0)};
    cr_expect_eq(headroom_short(v, 4, 32 * MiB, 0, order, &kind, &room, &freed, &sum), -1);
    /* a margin of 64 MiB: node 2's cgroup (the least room its ranks saw: 140 MiB) is short */
    cr_expect_eq(headroom_short(v, 4, 64 * MiB, 0, order, &kind, &room, &freed, &sum), 3);
    cr_expect_eq(room, 140 * MiB);
    cr_expect_eq(sum, 100 * MiB);
    cr_expect_eq(kind, LIMIT_V1);
    /* simulated nodes: one machine, one cgroup, two reservations that each fit alone */
    headroom_vote s[4] = {vote(1, none, 11, 250 * MiB, 100 * MiB), vote(1, none, 11, 250 * MiB, 100 * MiB),
                          vote(1, none, 11, 250 * MiB, 0), vote(1, none, 11, 250 * MiB, 0)};
    cr_expect_eq(headroom_short(s, 4, 64 * MiB, 0, order, &kind, &room, &freed, &sum), 0);
    cr_expect_eq(sum, 200 * MiB);
    /* the machine's MemAvailable counts too */
    headroom_vote m[2] = {vote(1, 120 * MiB, 0, none, 100 * MiB), vote(1, 500 * MiB, 0, none, 0)};
    cr_expect_eq(headroom_short(m, 2, 32 * MiB, 0, order, &kind, &room, &freed, &sum), 0);
    cr_expect_eq(kind, LIMIT_MEMAVAILABLE);
    /* nothing known, nothing reserved: no verdict against */
    headroom_vote u[2] = {vote(1, none, 0, none, 100 * MiB), vote(1, 0, 0, none, 0)};
    cr_expect_eq(headroom_short(u, 2, 32 * MiB, 0, order, &kind, &room, &freed, &sum), 1,
                 "a rank that saw no room at all stops it");
    headroom_vote z[2] = {vote(1, none, 0, none, 100 * MiB), vote(1, none, 0, none, 0)};
    cr_expect_eq(headroom_short(z, 2, 32 * MiB, 0, order, &kind, &room, &freed, &sum), -1);
    /* what MPI_Bcast would need instead: judged alike, from plain_need */
    headroom_vote p[2] = {vote(1, 300 * MiB, 0, none, 100 * MiB), vote(1, 300 * MiB, 0, none, 0)};
    p[0].plain_need = 0, p[1].plain_need = 280 * MiB;
    cr_expect_eq(headroom_short(p, 2, 32 * MiB, 0, order, &kind, &room, &freed, &sum), -1, "the copy fits");
    cr_expect_eq(headroom_short(p, 2, 32 * MiB, 1, order, &kind, &room, &freed, &sum), 0, "MPI_Bcast's does not");
    cr_expect_eq(sum, 280 * MiB);
}

/* What ranks give back before reserving counts as room: 4 ranks of one cgroup whose tables
 * are resident (300 MiB each given back by the 3 receivers), a 300 MiB node copy, 100 MiB
 * of room: fits; without the pages given back it would not. Many pools, many ranks: each
 * pool judged once. */
Test(headroom, pages_given_back_count_and_many_pools)
{
    const uint64_t none = UINT64_MAX;
    int order[4];
    limit_kind kind;
    uint64_t room, freed, sum;
    headroom_vote v[4];
    for (int i = 0; i < 4; i++)
        v[i] = vote(1, none, 11, 100 * MiB, i == 0 ? 300 * MiB : 0), v[i].give_back = i ? 300 * MiB : 0;
    cr_expect_eq(headroom_short(v, 4, 64 * MiB, 0, order, &kind, &room, &freed, &sum), -1);
    for (int i = 1; i < 4; i++)
        v[i].give_back = 0;
    cr_expect_eq(headroom_short(v, 4, 64 * MiB, 0, order, &kind, &room, &freed, &sum), 0);
    enum { N = 20000, PER_NODE = 64 };
    static headroom_vote many[N];
    static int work[N];
    for (int i = 0; i < N; i++) /* block placement: node i / 64, a cgroup each */
        many[i] = vote(100 + (uint64_t)i / PER_NODE, none, 1000 + (uint64_t)i / PER_NODE,
                       200 * MiB, i % PER_NODE == 0 ? 100 * MiB : MiB);
    cr_expect_eq(headroom_short(many, N, 32 * MiB, 0, work, &kind, &room, &freed, &sum), -1);
    many[N - 1].cgroup_room = 150 * MiB; /* the last node: 100 + 63 MiB + 32 > 150 */
    cr_expect_eq(headroom_short(many, N, 32 * MiB, 0, work, &kind, &room, &freed, &sum), N - 1);
    cr_expect_eq(sum, 100 * MiB + (uint64_t)(N - 1 - (N - 1) / PER_NODE * PER_NODE) * MiB);
}
