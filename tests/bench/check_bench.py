#!/usr/bin/env python3
"""Runs tools/mpishm-bench the way a user would and checks what it promises.

    check_bench.py run BENCH BUILD [MPIEXEC]   a small matrix: every method and record, the memory of
                                     each method on each node, the targets, the plots
    check_bench.py bad BENCH BUILD   bad arguments: a message and a failing exit status
    check_bench.py thp BENCH BUILD [MPIEXEC]   root: --thp sets shmem_enabled for the runs and puts
                                     it back, also when the benchmark is killed; --hugepages on,off
                                     reaches the library's runs, and no other
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

THP = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def run(bench, build, mpiexec=None):
    size, ranks = 4 << 20, 4
    page = os.sysconf("SC_PAGE_SIZE")
    with tempfile.TemporaryDirectory() as d:
        out, plots = os.path.join(d, "r.jsonl"), os.path.join(d, "plots")
        p = subprocess.run([bench, "--build", build, "--ranks", str(ranks), "--nodes", "1,2,4",
                            "--sizes", "4M", "--runs", "1", "--repeats", "2",
                            "--latency-runs", "2", "--latency-max", "4K", "--iterations", "50",
                            "--steps", "6", "--steps-sizes", "16M", "--steps-ranks", "3",
                            "--steps-runs", "1", "--lookups", "20000",
                            "--json", out, "--plots", plots]
                           # (the tests' mpiexec speaks MPICH's options under either MPI)
                           + (["--mpiexec", mpiexec, "--launcher", "hydra"] if mpiexec else []),
                           capture_output=True, text=True)
        print(p.stdout)
        print(p.stderr, file=sys.stderr)
        check(p.returncode == 0, f"exit status {p.returncode}")
        records = [json.loads(line) for line in open(out)] if os.path.exists(out) else []
        for name in ("memory-vs-ranks.png", "time-vs-size.png"):
            path = os.path.join(plots, name)
            ok = os.path.exists(path) and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
            check(ok, f"{name} is a PNG")
    for header in ("bcast+read s", "PT/node", "lookup", "target",
                   "overhead where nothing is shared", "a table broadcast 6 times"):
        check(header in p.stdout, f"the table has '{header}'")

    bcast = [r for r in records if r.get("kind") == "bcast"]
    required = ("method", "ranks", "nodes", "bytes", "seconds", "read_seconds",
                "array_pss_bytes", "process_pss_bytes", "bytes_per_node", "page_table_bytes",
                "node_page_table_bytes", "node_memory_bytes", "lookup_seconds_per_million",
                "hugepages", "thp")
    for r in bcast:
        missing = [k for k in required if k not in r]
        check(not missing, f"{r.get('method')} record lacks {missing}")
        check(r["ok"], f"{r['method']} on {r['nodes']} node(s): data read back is wrong")
        check(0 < r["seconds"] <= r["read_seconds"], f"{r['method']}: times in order")
    for nodes in (1, 2, 4):
        got = {r["method"]: r for r in bcast if r["nodes"] == nodes}
        check(sorted(got) == ["memcpy", "mpishm", "plain", "window"],
              f"{nodes} node(s): methods {sorted(got)}")
        if len(got) < 4:
            continue
        per_node = ranks // nodes
        plain, shared = got["plain"], got["mpishm"]
        # One rank per node: nothing to save, the library leaves the broadcast to MPI.
        check(shared["shared"] == (per_node > 1),
              f"{nodes} node(s): mpishm shared={shared['shared']} with {per_node} rank(s) per node")
        check(abs(plain["node_array_pss_bytes"] - per_node * size) <= 0.02 * size,
              f"{nodes} node(s): plain holds {per_node} copies per node, "
              f"got {plain['node_array_pss_bytes'] / size:.2f}")
        check(abs(plain["array_pss_bytes"] - ranks * size) <= 0.02 * size,
              f"{nodes} node(s): plain holds {ranks} copies in all")
        for m in ("mpishm", "window"):
            check(abs(got[m]["node_array_pss_bytes"] - size) <= 0.02 * size + 2 * page * per_node,
                  f"{nodes} node(s): {m} holds one copy per node, "
                  f"got {got[m]['node_array_pss_bytes'] / size:.2f}")
            check(abs(got[m]["array_pss_bytes"] - nodes * size) <= 0.02 * nodes * size +
                  2 * page * ranks, f"{nodes} node(s): {m} holds {nodes} copies in all")
        check(got["memcpy"]["array_pss_bytes"] == size, "memcpy makes exactly one copy")
        check((shared["seed_seconds"] > 0) == shared["shared"],
              f"{nodes} node(s): mpishm reports a seeding time when, and only when, it shares")
        check_page_tables(got, nodes, per_node, size, page)
        for m, r in got.items():
            check((r["lookup_seconds_per_million"] > 0) == (m != "memcpy"),
                  f"{nodes} node(s): {m} times its lookups: {r['lookup_seconds_per_million']}")

    goals = [r for r in records if r.get("kind") == "target"]
    with_tables = [g for g in goals if g["name"] == "node memory + page tables / S"]
    check(len(with_tables) == 3 and all(g["met"] for g in with_tables),
          f"memory with page tables within its target on 1, 2, 4 nodes: {with_tables}")
    lookup = [g for g in goals if g["name"] == "lookup / plain"]
    check(sorted(g["nodes"] for g in lookup) == [1, 2],
          f"a lookup ratio where the library shared (1 and 2 nodes): {lookup}")
    memory = [g for g in goals if g["name"].startswith("memory")]
    check(len(memory) == 3 and all(g["met"] for g in memory), "memory target met on 1, 2, 4 nodes")
    check(not [g for g in goals if g["nodes"] == ranks and "memory" not in g["name"]],
          "no speed or seeding target where the library did not share")
    mpishm_by_nodes = {r["nodes"]: r for r in bcast if r["method"] == "mpishm"}
    for g in memory:
        want = mpishm_by_nodes[g["nodes"]]["node_array_pss_bytes"] / size
        check(abs(g["ratio"] - want) < 1e-9, f"memory target on {g['nodes']} node(s) is "
              f"{g['ratio']}, the mpishm record says {want}")

    steps = [r for r in records if r.get("kind") == "steps"]
    variants = {(r["content"], r["resident"]) for r in steps}
    check(variants == {("same", False), ("refill", False), ("refill", True)},
          f"steps: same, refill, refill resident: {variants}")
    for content, resident in variants:
        got = {r["method"]: r for r in steps if (r["content"], r["resident"]) == (content, resident)}
        what = f"steps {content}{' resident' if resident else ''}"
        check(sorted(got) == ["auto", "mark", "plain", "sites"], f"{what}: methods {sorted(got)}")
        check(all(r["ok"] for r in got.values()), f"{what}: data read back is wrong")
        check(got.get("plain", {}).get("shared") == 0, f"{what}: plain shares nothing")
        check(got.get("mark", {}).get("shared") == 6, f"{what}: a mark shares every step")
        mark, plain = got.get("mark"), got.get("plain")
        table = 16 << 20
        if mark and plain and mark["peak_bytes"] and mark["peak_from"] == "cgroup":
            # 3 ranks of 16 MiB: MPI_Bcast ends with 3 copies; the library holds 2 at most (the
            # root's own until mapped, and the node's); tables touched on every rank first put
            # the job at 3 copies before any broadcast, and the library adds no copy to that,
            # only its own code, data and communicators (2-2.5 MiB here, whatever the table)
            if resident:
                check(mark["peak_bytes"] <= plain["peak_bytes"] + table // 4,
                      f"{what}: the mark's peak {mark['peak_bytes']} is plain's "
                      f"{plain['peak_bytes']} and less than a quarter of a copy")
            else:
                check(mark["peak_bytes"] < plain["peak_bytes"] - table // 2,
                      f"{what}: the mark's peak {mark['peak_bytes']} is below plain's "
                      f"{plain['peak_bytes']} by half a copy at least")

    overhead = [r for r in records if r.get("kind") == "overhead"]
    check([r["bytes"] for r in overhead] == [1 << i for i in range(13)],
          "overhead rows for 1 B to 4 KiB")
    check(all(r["plain_microseconds"] > 0 and r["mpishm_microseconds"] > 0 for r in overhead),
          "overhead times are positive")


def check_page_tables(got, nodes, per_node, size, page):
    """The page tables of a node's copies: each rank that maps a size-byte array holds 8 bytes
    per 4 KiB page of it (VmPTE growth; a page-table page at either end may exist already,
    one may straddle a 2 MiB boundary), plain and mpishm alike; huge pages, where the library
    uses them, need fewer. Memory per node counts them. With the library, where a rank's
    array is a 2 MiB-aligned block (MPISHM_ALIGN), the allocator's headers in the block's
    leading slack may take one or two page-table pages more."""
    low, high = per_node * (size // 512 - page), per_node * (size // 512 + page)
    aligned_high = high + per_node * 2 * page
    plain, shared = got["plain"], got["mpishm"]
    check(low <= plain["node_page_table_bytes"] <= high,
          f"{nodes} node(s): plain's page tables {plain['node_page_table_bytes']} in [{low}, {high}]")
    huge = shared["thp"] != "never" and shared["hugepages"] != "off"
    check((0 if huge else low) <= shared["node_page_table_bytes"] <= aligned_high,
          f"{nodes} node(s): mpishm's page tables {shared['node_page_table_bytes']} in "
          f"[{0 if huge else low}, {aligned_high}] (shmem_enabled {shared['thp']})")
    check(got["memcpy"]["node_page_table_bytes"] <= size // 512 + page,
          f"memcpy: one rank's page tables, {got['memcpy']['node_page_table_bytes']}")
    for m, r in got.items():
        check(r["node_memory_bytes"] == r["node_array_pss_bytes"] + r["node_page_table_bytes"]
              == r["bytes_per_node"], f"{nodes} node(s): {m}'s memory per node counts its page tables")


def thp(bench, build, mpiexec=None):
    if os.geteuid() != 0 or not os.path.exists(THP):
        print("not root, or no shmem_enabled: --thp not tested")
        sys.exit(77)
    before = current_thp()
    other = "within_size" if before != "within_size" else "never"
    base = [bench, "--build", build, "--ranks", "2", "--nodes", "1", "--sizes", "1M",
            "--methods", "plain,mpishm", "--runs", "1", "--repeats", "1", "--no-latency",
            "--steps", "0", "--lookups", "1000", "--thp", other, "--verbose"] + \
        (["--mpiexec", mpiexec, "--launcher", "hydra"] if mpiexec else [])
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.jsonl")
        p = subprocess.run(base + ["--hugepages", "on,off", "--json", out],
                           capture_output=True, text=True)
        print(p.stdout, p.stderr)
        check(p.returncode == 0, f"exit status {p.returncode}")
        rows = [json.loads(line) for line in open(out)] if os.path.exists(out) else []
    bcast = [r for r in rows if r.get("kind") == "bcast"]
    check(sorted((r["method"], r["hugepages"]) for r in bcast) ==
          [("mpishm", "off"), ("mpishm", "on"), ("plain", "off"), ("plain", "on")],
          f"each method under each --hugepages value: {[(r['method'], r['hugepages']) for r in bcast]}")
    check(all(r["thp"] == other for r in bcast), f"the rows say shmem_enabled {other}")
    commands = [line for line in p.stderr.splitlines() if line.startswith("  $ ")]
    for value in ("on", "off"):
        with_it = [c for c in commands if f"MPISHM_HUGEPAGES {value} " in c]
        check(len(with_it) == 1 and "--method mpishm" in with_it[0],
              f"MPISHM_HUGEPAGES={value} reaches the library's run alone: {with_it}")
    check(current_thp() == before, f"shmem_enabled back to {before}: {current_thp()}")
    # killed while a run is under way: put back all the same
    k = subprocess.Popen(base + ["--ranks", "4", "--sizes", "64M", "--repeats", "3"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said = ""
    while "for this run" not in said and k.poll() is None:
        said += k.stderr.readline()
    time.sleep(1)
    check(current_thp() == other, f"shmem_enabled {other} while the benchmark runs")
    k.send_signal(signal.SIGTERM)
    rest = k.communicate(timeout=120)[1]
    check(k.returncode == 128 + signal.SIGTERM, f"SIGTERM: exit status {k.returncode}: {rest}")
    check(current_thp() == before, f"after SIGTERM, shmem_enabled back to {before}: {current_thp()}")


def current_thp():
    words = open(THP).read().split()
    return next((w.strip("[]") for w in words if w.startswith("[")), "")


def bad(bench, build, mpiexec=None):
    cases = [(["--sizes", "12"], "multiples of 8"),
             (["--methods", "plain,fast"], "unknown method(s) fast"),
             (["--env", "MPISHM_PREFAULT"], "--env takes VAR=VALUE"),
             (["--hugepages", "on,maybe"], "--hugepages takes auto, on and off"),
             (["--lookups", "-1"], "--lookups must be 0 or more"),
             (["--thp", "sometimes"], "invalid choice: 'sometimes'"),
             (["--build", "/nonexistent"], "missing: run tools/setup.sh first")]
    for args, message in cases:
        p = subprocess.run([bench, "--build", build] + args, capture_output=True, text=True)
        check(p.returncode != 0, f"{args}: exit status {p.returncode}")
        check(message in p.stderr, f"{args}: says '{message}', said {p.stderr.strip()!r}")


if __name__ == "__main__":
    {"run": run, "bad": bad, "thp": thp}[sys.argv[1]](*sys.argv[2:5])
    sys.exit(1 if failures else 0)
