#!/usr/bin/env python3
"""Run a program under libmpishm with MPISHM_REPORT and judge the report against what the
program did, as a user reading it would.

    check_report.py --mpiexec M --lib L --ranks N [--cliques K] CASE PROGRAM

CASE:
  report   sites_check: the JSON's counts, bytes and savings match the program, the two
           unmarked sites are the candidates in order of saving and named, the stack buffer
           is not one; the stderr table says the same, with the MPISHM_SITES line
  sites    sites_check run once for the report, then again with the MPISHM_SITES line the
           report suggested for the first candidate only: that site is shared, no other
  auto     sites_check with MPISHM_AUTO=1: every heap array and the static block shared, the
           stack buffer not; a field rewritten after each broadcast is shared once, then left
           to MPI, its data right
  failure  sites_check with segment creation failing on rank 0: the marked array falls back,
           and the report gives the failed step, its error and the rank
  grow     sites_check --grow under MPISHM_AUTO=1 and MPISHM_PROTECT=readonly: a buffer
           broadcast at 2, 4, then 2 MiB is shared each time, and a strided broadcast into
           it afterwards (MPI writing pages shared before) neither stops the rank nor counts
           as a write by the application
  memory   sites_check with the report's allocations failing (MPISHM_FAULT=report:...): on
           rank 0 first (no report, a warning), on rank 0 for the call sites (counts only),
           on rank 1 (its sites missing, every count right); an unwritable path warns
  fortran  sites_fortran: the Fortran subroutine and the C function are both named
           candidates; MPISHM_SITES=load_table (the Fortran name without its underscore)
           shares the Fortran site and not the C one
  content  content_check: its two never-written sites are read-only in this run, the one
           rank 1 writes (then broadcast again) and the one every rank writes are "written"
           by those ranks, counted per copy; the
           suggested MPISHM_SITES names exactly the two read-only ones, and a rerun with it
           shares them and leaves the other two to MPI, every rank's data right; under
           MPISHM_AUTO with MPISHM_PROTECT=warn the writers' functions are named
  partners  partners (rank 0 broadcasts from send_tables, the others receive in
           recv_tables): the two sites are paired, their savings add up to one copy per node
           of both tables (the root's included), the line names both and a rerun with it
           shares both tables on every rank; the same from an AUTO run's line without AUTO, and
           from a stripped copy of the program (sites by object and offset)
  pagetables  sites_check: each node's page tables for the shared 8 MiB array are what 4 KiB
           pages cost, 8 bytes per page per rank (N ranks: N x 8 MiB / 512, one page-table page
           more per rank at most where the array straddles a 2 MiB boundary), fewer where huge
           pages map it; memory per node is the node copy, the ranks' written pages and the page
           tables, in copies; the table says the same; the same figure (by arithmetic on the
           resident pages) where a rank cannot read /proc/self/pagemap (MPISHM_FAULT=pagemap)
  lifetimes  content_lifetimes: a copy ended by munmap, realloc, mremap, mpishm_unmark and
           free of the block holding it is read-only, each copy counted once, unchanged; a
           copy half inaccessible and half unmapped is unverified, and nothing crashes
Exit status 0 when every check passed; each failed check is printed."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MiB = 1 << 20
TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "mpishm-report")
PAGE = os.sysconf("SC_PAGE_SIZE")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(args, env, extra_args=()):
    cmd = [args.mpiexec, "-n", str(args.ranks), "-genv", "LD_PRELOAD", args.lib]
    if args.cliques:
        cmd += ["-genv", "MPIR_CVAR_NUM_CLIQUES", str(args.cliques)]
    for k, v in env.items():
        cmd += ["-genv", k, v]
    cmd += [args.program, *extra_args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    if p.returncode == 77:  # the launcher cannot run this layout here (tests/launch)
        sys.exit(77)
    check(p.returncode == 0, f"{' '.join(cmd)} exited with {p.returncode}")
    return p


def report_run(args, env=None, extra_args=()):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        p = run(args, {"MPISHM_REPORT": path, **(env or {})}, extra_args)
        try:
            with open(path) as f:
                return json.load(f), p
        except (OSError, ValueError) as e:
            check(False, f"no valid JSON report: {e}")
            sys.exit(1)


def node_sizes(report):
    return [len(n["ranks"]) for n in report["nodes"]]


def saving(report, nbytes):
    """What one copy per node of an nbytes array saves: nbytes * (ranks on the node - 1)."""
    return sum(nbytes * (n - 1) for n in node_sizes(report))


def site(report, function):
    """The site whose call stack passes through `function` (the loaders of sites_check)."""
    found = [s for s in report["sites"]
             if s["function"] == function or any(c["function"] == function for c in s["callers"])]
    check(len(found) == 1, f"one site through {function}, found {len(found)}")
    return found[0] if found else None


def check_page_tables(r, nbytes, label=""):
    """Every node's page tables for its one shared array of nbytes: 8 bytes per 4 KiB page per
    rank, one page-table page per 2 MiB span the rank maps with 4 KiB pages (a span straddled
    costs one page more), none for a span a huge-page entry maps."""
    span = PAGE // 8 * PAGE
    total = 0
    for n in r["nodes"]:
        ranks, pt = len(n["ranks"]), n["page_table_bytes"]
        huge_spans = n["pmd_mapped_bytes"] // span
        low = max(0, ranks * (nbytes // span - 1) - huge_spans) * PAGE
        high = ranks * (-(-nbytes // span) + 1) * PAGE - huge_spans * PAGE
        check(low <= pt <= high, f"{label}node {n['node']}: page tables {pt} for {ranks} ranks "
              f"mapping {nbytes} bytes ({n['pmd_mapped_bytes']} by huge pages) in [{low}, {high}]")
        if not n["pmd_mapped_bytes"]:  # 4 KiB pages: N ranks cost N/512 of a copy
            check(abs(pt - ranks * nbytes / 512) <= ranks * PAGE,
                  f"{label}node {n['node']}: {pt} is {ranks} x {nbytes} / 512 within a page a rank")
        memory = n["segment_bytes"] + n["private_bytes"] + pt
        check(n["memory_bytes"] == memory, f"{label}node {n['node']}: memory_bytes "
              f"{n['memory_bytes']} is the node copy, the written pages and the page tables {memory}")
        check(abs(n["copies"] - memory / n["segment_bytes"]) < 1e-3,
              f"{label}node {n['node']}: copies {n['copies']} == {memory / n['segment_bytes']:.4f}")
        total += pt
    check(r["job"]["page_table_bytes"] == total,
          f"{label}job.page_table_bytes {r['job']['page_table_bytes']} sums the nodes' {total}")


def judge_page_tables(args):
    r, _ = report_run(args)
    check_page_tables(r, 8 * MiB)
    for n in r["nodes"]:  # nothing writes the marked array in sites_check
        check(n["private_bytes"] == 0, f"node {n['node']}: no page written, {n['private_bytes']}")
    p = run(args, {"MPISHM_REPORT": "stderr"})
    lines = [line for line in p.stderr.splitlines() if line.startswith("  node memory")]
    check(len(lines) == len(r["nodes"]), f"a node memory line per node: {lines}")
    for line, n in zip(lines, r["nodes"]):  # (another run: its tables may straddle otherwise)
        m = re.search(r"node (\d+): 8\.0 MiB node copies \+ 0 B written by ranks \+ ([\d.]+) KiB "
                      r"page tables = [\d.]+ MiB, ([\d.]+) copies", line)
        check(m is not None, f"the table's node memory line: {line!r}")
        if m:
            pt, ranks = float(m.group(2)) * 1024, len(n["ranks"])
            low = 0 if "mapped by huge pages" in line else ranks * 8 * MiB / 512
            check(low <= pt <= ranks * (8 * MiB / 512 + PAGE),
                  f"the table's page tables, {m.group(2)} KiB for {ranks} ranks: 16 to 20 KiB a "
                  "rank with 4 KiB pages")
            check(abs(float(m.group(3)) - (1 + pt / (8 * MiB))) < 2e-3,
                  f"the table's copies {m.group(3)}: 1 + its page tables over the copy")
    faulted, _ = report_run(args, {"MPISHM_FAULT": "pagemap:1"})
    check_page_tables(faulted, 8 * MiB, "without pagemap on rank 1: ")


def program_counts(stdout):
    m = re.search(r"sites_check: calls (\d+) small (\d+) failures (\d+)", stdout)
    check(m is not None, "sites_check printed its counts")
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def judge_sites_check_report(args):
    expect = ["--expect", "cross_sections=shared", "--expect", "mesh=private",
              "--expect", "basis=private", "--expect", "scratch=private", "--expect", "common=private"]
    r, p = report_run(args, extra_args=expect)
    calls, small = program_counts(p.stdout)
    job = r["job"]
    check(job["ranks"] == args.ranks, f"job.ranks {job['ranks']} == {args.ranks}")
    check(job["nodes"] == (args.cliques or 1), f"job.nodes {job['nodes']}")
    check(job["broadcasts"] == calls, f"job.broadcasts {job['broadcasts']} == {calls} calls made")
    check(job["below_threshold"] == small, f"below_threshold {job['below_threshold']} == {small}")
    check(job["shared"] == 1 and job["bytes_shared"] == 8 * MiB,
          f"one 8 MiB broadcast shared: {job['shared']}, {job['bytes_shared']} bytes")
    ns = job["not_shared"]
    check(ns["not_marked"] == 3 and ns["not_selectable"] == 1 and ns["failed"] == 0,
          f"not shared: 3 not marked, 1 on the stack: {ns}")
    check(job["arrays_shared"] == job["nodes"], f"one array per node: {job['arrays_shared']}")
    # one 8 MiB malloc block: every rank maps its whole pages, the partial ones are copied
    want = saving(r, 8 * MiB)
    low = sum((8 * MiB - 2 * PAGE) * (n - 1) for n in node_sizes(r))
    check(low <= job["saved_bytes"] <= want, f"saved {job['saved_bytes']} in [{low}, {want}]")
    measured = job["saved_bytes_measured"]
    check(abs(measured - job["saved_bytes"]) <= 0.02 * want,
          f"measured saving {measured} within 2% of {job['saved_bytes']}")
    for n in r["nodes"]:
        check(n["arrays_shared"] == 1 and n["saved_bytes"] >= (8 * MiB - 2 * PAGE) * (len(n["ranks"]) - 1),
              f"node {n['node']}: one array, saved {n['saved_bytes']}")
    # the candidates: mesh (4 MiB), the static block (3 MiB), basis (2 MiB), named; the stack
    # buffer is not one
    candidates = [s for s in r["sites"] if s["candidate"]]
    names = [s["select_as"] for s in candidates]
    check(names == ["load_mesh", "load_common", "load_basis"], f"candidates in order of saving: {names}")
    for s, nbytes in zip(candidates, (4 * MiB, 3 * MiB, 2 * MiB)):
        check(s["saving_bytes"] == saving(r, nbytes), f"{s['select_as']}: saving {s['saving_bytes']}"
              f" == {saving(r, nbytes)}")
        check(s["broadcasts"] == 1 and s["bytes"] == nbytes and s["ranks"] == args.ranks,
              f"{s['select_as']}: 1 call of {nbytes} bytes on every rank: {s}")
        check(s["object"].endswith("sites_check"), f"site in the program: {s['object']}")
    marked = site(r, "load_cross_sections")
    if marked:
        check(marked["selected_by"] == "mark" and marked["shared"] == 1 and not marked["candidate"],
              f"the marked site is shared by mark: {marked}")
    scratch = site(r, "use_scratch")
    if scratch:
        check(not scratch["candidate"] and scratch["not_shared"]["not_selectable"] == 1,
              f"the stack buffer is not a candidate: {scratch}")
        c = scratch["content"]  # its copy ends unseen when its function returns: not checked
        check(c["verdict"] == "unverified" and c["unchanged"] + c["written"] == 0,
              f"the stack buffer's content is not judged: {c}")
    check(r["suggested_sites"] == "load_mesh,load_common,load_basis",
          f"suggested {r['suggested_sites']!r}")
    check_page_tables(r, 8 * MiB)
    # the table on stderr
    p = run(args, {"MPISHM_REPORT": "stderr"}, expect)
    table = p.stderr
    check(f"libmpishm report: {args.ranks} ranks on {job['nodes']} node(s)" in table,
          "the table's header")
    check("1 shared (8.0 MiB)" in table, "the table counts the shared broadcast")
    rows = [line for line in table.splitlines()
            if re.match(r"\s+\S+ \S+\s+1\s+\S+ \S+\s+\d+\s+\S+\s+load_", line)]
    check([row.split()[7] for row in rows] == ["load_mesh", "load_common", "load_basis"],
          f"the table lists load_mesh, load_common, load_basis: {rows}")
    check(all(row.split()[6] == "read-only" for row in rows),
          f"the table says they were read-only: {rows}")
    check("MPISHM_SITES=load_mesh,load_common,load_basis" in table, "the table's MPISHM_SITES line")
    return r


def judge_sites(args):
    first, _ = report_run(args)
    name = first["suggested_sites"].split(",")[0]
    check(name == "load_mesh", f"the largest candidate is load_mesh: {name}")
    r, _ = report_run(args, {"MPISHM_SITES": name},
                      ["--expect", "cross_sections=shared", "--expect", "mesh=shared",
                       "--expect", "basis=private", "--expect", "scratch=private",
                       "--expect", "common=private"])
    mesh, basis = site(r, "load_mesh"), site(r, "load_basis")
    if mesh:
        check(mesh["shared"] == 1 and mesh["selected_by"] == "sites" and not mesh["candidate"],
              f"load_mesh shared by sites: {mesh}")
        check(mesh["saving_bytes"] == saving(r, 4 * MiB), f"load_mesh saved {mesh['saving_bytes']}")
    if basis:
        check(basis["candidate"] and basis["shared"] == 0, f"load_basis still a candidate: {basis}")
    check(r["job"]["shared"] == 2, f"two broadcasts shared: {r['job']['shared']}")
    check(r["suggested_sites"] == "load_common,load_basis", f"suggested now {r['suggested_sites']!r}")
    check(r["options"]["sites"] == [name], f"options.sites {r['options']['sites']}")


def judge_auto(args):
    r, _ = report_run(args, {"MPISHM_AUTO": "1"},
                      ["--expect", "cross_sections=shared", "--expect", "mesh=shared",
                       "--expect", "basis=shared", "--expect", "scratch=private",
                       "--expect", "common=shared", "--rewrite"])
    job = r["job"]
    # the three loaders, the static block, and the rewritten field's first broadcast
    check(job["shared"] == 5 and job["bytes_shared"] == 19 * MiB,
          f"the heap arrays, the static block and the field's first broadcast shared: "
          f"{job['shared']}, {job['bytes_shared']} bytes")
    field = site(r, "rewrite_field")
    if field:
        check(field["shared"] == 1 and field["not_shared"]["written"] == 2 and not field["candidate"],
              f"the field, written after its first broadcast, is no longer selected: {field}")
    check(job["not_shared"]["not_selectable"] == 1, f"the stack buffer left alone: {job['not_shared']}")
    for fn in ("load_mesh", "load_basis", "load_common"):
        s = site(r, fn)
        if s:
            check(s["selected_by"] == "auto", f"{fn} selected by auto: {s['selected_by']}")
    check(r["options"]["auto"] is True, "options.auto")


def judge_failure(args):
    r, _ = report_run(args, {"MPISHM_FAULT": "create:0"},
                      ["--expect", "cross_sections=private", "--expect", "mesh=private"])
    job = r["job"]
    check(job["shared"] == 0 and job["not_shared"]["failed"] == 1,
          f"the marked broadcast failed and fell back: {job['shared']}, {job['not_shared']}")
    f = job["failures"]
    check(len(f) == 1 and f[0]["stage"] == "create" and f[0]["ranks"] == [0] and f[0]["count"] == 1
          and f[0]["error"], f"one failure, create on rank 0: {f}")
    marked = site(r, "load_cross_sections")
    if marked:
        check(marked["not_shared"]["failed"] == 1 and not marked["candidate"],
              f"the marked site failed, and is no candidate: {marked}")
    check(job["arrays_shared"] == 0 and job["saved_bytes"] == 0, "nothing saved")
    p = run(args, {"MPISHM_REPORT": "stderr", "MPISHM_FAULT": "create:0"})
    check(re.search(r"failure +create: .+, 1 time\(s\), rank\(s\) 0\n", p.stderr) is not None,
          "the table names the failed step and the rank")


def judge_grow(args):
    # (MPISHM_RESHARE=always: a site that makes a new copy again and again would otherwise be
    # timed against MPI_Bcast once, which is tested elsewhere)
    r, p = report_run(args, {"MPISHM_AUTO": "1", "MPISHM_PROTECT": "readonly",
                             "MPISHM_RESHARE": "always"}, ["--grow"])
    check("stops this rank" not in p.stderr and "written after" not in p.stderr,
          "no write reported: only MPI wrote, after the library made the pages private")
    # one site, or two when the helper bcast() is not inlined (an unoptimised build)
    grow = [s for s in r["sites"]
            if s["function"] == "grow_buffer" or any(c["function"] == "grow_buffer" for c in s["callers"])]
    shared = sum(s["shared"] for s in grow)
    strided = sum(s["not_shared"]["not_contiguous"] for s in grow)
    check(shared == 3 and strided == 1, f"three sizes shared, the strided one left to MPI: {grow}")
    check(r["job"]["not_shared"]["written"] == 0, f"nothing counted as written: {r['job']['not_shared']}")


def judge_memory(args):
    expect = ["--expect", "cross_sections=shared"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        p = run(args, {"MPISHM_REPORT": path, "MPISHM_FAULT": "report:0@2"}, expect)
        check("libmpishm[0]: MPISHM_REPORT: no memory for the report" in p.stderr,
              "rank 0 without memory says so")
        check(not os.path.exists(path), "and writes no report")
    r, p = report_run(args, {"MPISHM_FAULT": "report:0@3"}, expect)
    calls, _ = program_counts(p.stdout)
    check("MPISHM_REPORT: no memory for every rank's call sites: counts only" in p.stderr,
          "rank 0 without memory for the sites says so")
    check(r["sites"] == [] and r["job"]["broadcasts"] == calls and r["job"]["shared"] == 1,
          f"counts only: {r['job']['broadcasts']} broadcasts, {len(r['sites'])} sites")
    r, p = report_run(args, {"MPISHM_FAULT": "report:1@1"}, expect)
    calls, _ = program_counts(p.stdout)
    check(r["job"]["broadcasts"] == calls and r["job"]["shared"] == 1, "every count right")
    check(all(s["ranks"] == args.ranks - 1 for s in r["sites"]) and r["sites"],
          f"rank 1's sites missing: {[s['ranks'] for s in r['sites']]}")
    p = run(args, {"MPISHM_REPORT": "/nonexistent/dir/r.json"}, expect)
    check("libmpishm[0]: MPISHM_REPORT: cannot write /nonexistent/dir/r.json (No such file or "
          "directory)" in p.stderr, "an unwritable report path is named")


def judge_fortran(args):
    r, p = report_run(args)
    check("sites_fortran: failures 0" in p.stdout, "the Fortran program's data checks")
    candidates = [s for s in r["sites"] if s["candidate"]]
    names = [s["function"] for s in candidates]
    check(names == ["load_table_", "c_load_grid"], f"Fortran and C sites named, by saving: {names}")
    for s, nbytes in zip(candidates, (4 * MiB, 3 * MiB)):
        check(s["saving_bytes"] == saving(r, nbytes), f"{s['function']} saving {s['saving_bytes']}")
        check(any(c["function"] == "MAIN__" for c in s["callers"]), f"called from MAIN__: {s['callers']}")
    r, p = report_run(args, {"MPISHM_SITES": "load_table"})
    check("sites_fortran: failures 0" in p.stdout, "the Fortran program's data checks")
    fortran = [s for s in r["sites"] if s["function"] == "load_table_"]
    c = [s for s in r["sites"] if s["function"] == "c_load_grid"]
    check(len(fortran) == 1 and fortran[0]["shared"] == 1 and fortran[0]["selected_by"] == "sites",
          f"load_table shared by sites: {fortran}")
    check(len(c) == 1 and c[0]["candidate"] and c[0]["shared"] == 0, f"c_load_grid not shared: {c}")


def judge_content(args):
    ranks = list(range(args.ranks))
    r, p = report_run(args)
    check("content_check: passed" in p.stdout, "content_check passed")
    expect = {"load_mesh": ("read-only", 2, []), "load_basis": ("read-only", 1, []),
              "load_field": ("written", 2, [1]), "load_work": ("written", 1, ranks)}
    for function, (verdict, calls, writers) in expect.items():
        s = site(r, function)
        if not s:
            continue
        c = s["content"]
        check(c["verdict"] == verdict, f"{function}: {c['verdict']}, expected {verdict}")
        check(s["candidate"] and s["broadcasts"] == calls, f"{function}: a candidate, {calls} call(s)")
        check(c["written_by"] == writers and c["ranks_writing"] == len(writers),
              f"{function}: written by {c['written_by']}, expected {writers}")
        check(c["written"] == len(writers) and c["unchanged"] == args.ranks * calls - len(writers)
              and c["unchecked"] == 0, f"{function}: copies counted {c}")
        check("writer" not in c, f"{function}: no writer named without strict mode: {c}")
    check(r["suggested_sites"] == "load_mesh,load_basis",
          f"suggested {r['suggested_sites']!r}, expected the two read-only sites")
    # tools/mpishm-report on it: the line to paste, the written sites and who wrote them
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        with open(path, "w") as f:
            json.dump(r, f)
        line = subprocess.run([TOOL, "--sites", path], capture_output=True, text=True).stdout
        check(line == "MPISHM_SITES=load_mesh,load_basis\n", f"mpishm-report --sites: {line!r}")
        text = subprocess.run([TOOL, path], capture_output=True, text=True).stdout
        check(re.search(r"Written after the broadcast.*\n.*\n\s*load_field\s+1\s+1\s", text),
              f"mpishm-report lists load_field as written by rank 1: {text}")
        check("the candidates read-only in this run without editing the code" in text,
              "mpishm-report says the line holds the read-only candidates")
    # the table: a content column, who wrote, the line to paste
    table = run(args, {"MPISHM_REPORT": "stderr"}).stderr
    for function, (verdict, _, _) in expect.items():
        check(re.search(rf"\s{re.escape(verdict)}\s+{function}\s+(\S+ < )*{function}\+0x", table),
              f"the table's {function} row says {verdict}")
    check(re.search(r"written after the broadcast by rank\(s\) 1 \(1 copy\)\n", table),
          "the table says rank 1 wrote the field")
    check(f"written after the broadcast by rank(s) {' '.join(map(str, ranks))} "
          f"({args.ranks} copies)" in table, "the table says every rank wrote the work array")
    check("rerun with:\n    MPISHM_SITES=load_mesh,load_basis\n" in table, "the table's line")
    # the rerun with the line: those two shared, the others not, every rank's data right
    r2, p2 = report_run(args, {"MPISHM_SITES": r["suggested_sites"]},
                        ["--expect", "mesh=shared", "--expect", "basis=shared",
                         "--expect", "field=private", "--expect", "work=private"])
    check("content_check: passed" in p2.stdout, "the rerun's data and sharing as expected")
    for function, shared in (("load_mesh", 2), ("load_basis", 1), ("load_field", 0),
                             ("load_work", 0)):
        s = site(r2, function)
        check(s and s["shared"] == shared, f"rerun: {function} shared {s and s['shared']} time(s)")
    check(r2["suggested_sites"] == "", f"rerun: nothing left to suggest: {r2['suggested_sites']!r}")
    # every array shared, warn mode watching: the writers are named
    r3, p3 = report_run(args, {"MPISHM_AUTO": "1", "MPISHM_PROTECT": "warn"})
    check("content_check: passed" in p3.stdout, "under MPISHM_AUTO and warn mode, data right")
    for function, writer in (("load_field", "perturb_field"), ("load_work", "use_as_scratch"),
                             ("load_mesh", None)):
        s = site(r3, function)
        w = s and s["content"].get("writer")
        check((w["function"] if w else None) == writer, f"{function}: writer {w}, expected {writer}")


def judge_lifetimes(args):
    r, p = report_run(args)
    check("content_lifetimes: passed" in p.stdout, "content_lifetimes passed")
    for function in ("end_by_munmap", "end_by_realloc", "end_by_mremap", "end_by_unmark",
                     "end_by_free_inside"):
        s = site(r, function)
        c = s and s["content"]
        check(c and c["verdict"] == "read-only" and c["unchanged"] == args.ranks and
              c["written"] == 0 and c["unchecked"] == 0, f"{function}: {c}")
    s = site(r, "partly_unmapped")
    c = s and s["content"]
    check(c and c["verdict"] == "unverified" and c["unchecked"] == args.ranks,
          f"partly_unmapped: {c}")


TABLES = 12 * MiB  # partners: its two tables, 8 and 4 MiB


def partners_shared(args, p):
    """partners' line: every rank's data right, and how many ranks shared both tables."""
    m = re.search(r"partners: data right on every rank, (\d+) of (\d+) ranks shared", p.stdout)
    check(m is not None, f"partners' data right on every rank: {p.stdout!r}")
    return int(m.group(1)) if m else -1


def judge_line(args, r, label, env=None):
    """The pair of partners' sites, their savings (the root's copy included) and the line
    suggested in report r; then a rerun with that line alone shares both tables on every rank."""
    names = sorted(r["suggested_sites"].split(","))
    recv, send = site(r, "recv_tables"), site(r, "send_tables")
    if not (recv and send):
        return
    want = [recv["select_as"], send["select_as"]]
    check(names == sorted(want), f"{label}: suggested {r['suggested_sites']!r}, both sites {want}")
    check(recv["ranks"] == args.ranks - 1 and send["ranks"] == 1,
          f"{label}: receivers {recv['ranks']}, root {send['ranks']}")
    check(recv.get("partners") == [send["select_as"]] and send.get("partners") == [recv["select_as"]]
          and recv["group"] == send["group"], f"{label}: each the other's partner: {recv}, {send}")
    total = recv["saving_bytes"] + send["saving_bytes"]
    check(total == saving(r, TABLES), f"{label}: the pair saves {total} == {saving(r, TABLES)}")
    line = "MPISHM_SITES=" + r["suggested_sites"]
    again, p = report_run(args, {"MPISHM_SITES": r["suggested_sites"], **(env or {})})
    check(partners_shared(args, p) == args.ranks, f"{label}: {line} shares both tables everywhere")
    check(again["job"]["shared"] == 2 and again["job"]["saved_bytes"] >=
          saving(again, TABLES) - 2 * PAGE * args.ranks,
          f"{label}: rerun shared 2, saved {again['job']['saved_bytes']} of {saving(again, TABLES)}")
    check(again["suggested_sites"] == "", f"{label}: nothing left to suggest after the rerun: "
          f"{again['suggested_sites']!r}")
    job = again["job"]
    check(job["peak_saved_bytes"] == job["saved_bytes"] == saving(again, TABLES),
          f"{label}: saved at the peak {job['peak_saved_bytes']} and at MPI_Finalize "
          f"{job['saved_bytes']}, one copy per node: {saving(again, TABLES)}")
    # tables freed before MPI_Finalize: nothing shared at the end, the peak says what it saved
    freed, p = report_run(args, {"MPISHM_SITES": r["suggested_sites"], **(env or {})},
                          ["--free-early"])
    check(partners_shared(args, p) == args.ranks, f"{label}: --free-early shares both tables")
    job = freed["job"]
    check(job["saved_bytes"] == 0 and job["arrays_shared"] == 0,
          f"{label}: freed early, nothing shared at MPI_Finalize: {job['saved_bytes']}")
    check(job["peak_saved_bytes"] == saving(freed, TABLES),
          f"{label}: freed early, saved at the peak {job['peak_saved_bytes']} == "
          f"{saving(freed, TABLES)}")
    check(abs(job["peak_saved_bytes_measured"] - job["peak_saved_bytes"]) <= 2 * PAGE * args.ranks,
          f"{label}: freed early, measured at the peak {job['peak_saved_bytes_measured']} within "
          f"a few pages of {job['peak_saved_bytes']}")
    for n in freed["nodes"]:
        want = TABLES * (len(n["ranks"]) - 1)
        check(n["peak_saved_bytes"] == want and n["peak_segment_bytes"] == TABLES,
              f"{label}: node {n['node']} saved {n['peak_saved_bytes']} == {want} at the peak, "
              f"one copy of {n['peak_segment_bytes']}")


def judge_partners(args):
    # a plain run: two candidate sites, neither shares anything alone
    r, p = report_run(args)
    check(partners_shared(args, p) == 0, "nothing shared without a selection")
    judge_line(args, r, "report run")
    recv = site(r, "recv_tables")
    check(recv and len(recv.get("more_offsets", [])) == 1,
          f"recv_tables' two calls are one site that gives both: {recv}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.json")
        with open(path, "w") as f:
            json.dump(r, f)
        out = subprocess.run([sys.executable, TOOL, path], capture_output=True, text=True).stdout
        check(re.search(r"recv_tables\+0x[0-9a-f]+/0x[0-9a-f]+ < main", out) is not None,
              "the tool shows both calls of recv_tables")
        check(re.search(r"partners\.c:\d+,\d+ ", out) is not None or
              shutil.which("addr2line") is None, "the tool gives both calls' lines")
        check(re.search(r"recv_tables and send_tables: the same broadcasts", out) is not None,
              "the tool pairs the two sites")
    p = run(args, {"MPISHM_REPORT": "stderr"})
    check("the same broadcasts as send_tables" in p.stderr and
          "the same broadcasts as recv_tables" in p.stderr, "the table pairs the two sites")
    check(re.search(r"MPISHM_SITES=(recv_tables,send_tables|send_tables,recv_tables)\n",
                    p.stderr) is not None, "the table's line")
    # (an allocator may write a table's first page: AddressSanitizer fills the first 4 KiB of
    # every block it hands out)
    allocator = 2 * PAGE * (args.ranks - 1)
    check(r["job"]["resident_before_bytes"] <= allocator and
          all(s["resident_before_bytes"] <= allocator for s in r["sites"]),
          f"tables untouched before the broadcast: nothing resident before it but what the "
          f"allocator wrote: {r['job']['resident_before_bytes']}")
    # one root site for both tables, two receiving sites: one group, one copy per node of each
    r, p = report_run(args, extra_args=["--one-sender"])
    names = sorted(r["suggested_sites"].split(","))
    check(names == ["recv_first", "recv_second", "send_one"], f"--one-sender: suggested {names}")
    total = sum(s["saving_bytes"] for s in r["sites"])
    check(total == saving(r, TABLES), f"--one-sender: the three sites save {total} == "
          f"{saving(r, TABLES)}, one copy per node of each table")
    again, p = report_run(args, {"MPISHM_SITES": r["suggested_sites"]}, ["--one-sender"])
    check(partners_shared(args, p) == args.ranks, "--one-sender: the line shares both tables")
    # sent twice: the second time the receivers' pages are MPI's from the first, not set first
    r, p = report_run(args, extra_args=["--again"])
    check(r["job"]["resident_before_bytes"] <= allocator and r["job"]["broadcasts"] == 4,
          f"--again: nothing resident before the first broadcast, none counted at the second: "
          f"{r['job']['resident_before_bytes']}")
    check(site(r, "recv_tables")["saving_bytes"] + site(r, "send_tables")["saving_bytes"] ==
          saving(r, TABLES), "--again: each table counted once")
    # tables zeroed on every rank first: the receivers' copies resident before the broadcast
    r, p = report_run(args, extra_args=["--zero"])
    recv, send = site(r, "recv_tables"), site(r, "send_tables")
    want = (args.ranks - 1) * TABLES
    check(recv and recv["resident_before_bytes"] == want and send["resident_before_bytes"] == 0
          and r["job"]["resident_before_bytes"] == want,
          f"--zero: resident before the broadcast {want} on the receivers, none on the root: "
          f"{recv and recv['resident_before_bytes']}, job {r['job']['resident_before_bytes']}")
    p = run(args, {"MPISHM_REPORT": "stderr"}, ["--zero"])
    check(re.search(r"resident before the broadcast: .*initialising on the root alone would "
                    r"take this off the peak\n\s+" + re.escape(f"{want / MiB:.1f} MiB") +
                    r"\s+recv_tables", p.stderr) is not None, "--zero: the table says it")
    # an AUTO run: its line shares the same without AUTO
    r, p = report_run(args, {"MPISHM_AUTO": "1"})
    check(partners_shared(args, p) == args.ranks, "AUTO shares both tables")
    judge_line(args, r, "AUTO run")
    p = run(args, {"MPISHM_REPORT": "stderr", "MPISHM_AUTO": "1"})
    check("to share the sites MPISHM_AUTO shared, read-only in this run, without MPISHM_AUTO"
          in p.stderr, "the AUTO table's line says what it is")
    # a program without symbols: its sites by object and offset, and the line works
    with tempfile.TemporaryDirectory() as tmp:
        stripped = os.path.join(tmp, "partners_stripped")
        subprocess.run(["strip", "-o", stripped, args.program], check=True)
        plain_program, args.program = args.program, stripped
        r, p = report_run(args)
        for s in r["sites"]:
            check(s["function"] == "" and re.fullmatch(r"partners_stripped\+0x[0-9a-f]+",
                                                       s["select_as"]),
                  f"stripped: selected by object and offset: {s['select_as']!r}")
            check(all(c["function"] != "__libc_init_first" for c in s["callers"]),
                  f"stripped: no frame named after glibc's nearest export: {s['callers']}")
        # (each call its own site: without names, two calls of one function differ)
        names = sorted(r["suggested_sites"].split(","))
        check(len(names) == 4 and names == sorted(s["select_as"] for s in r["sites"]),
              f"stripped: suggested every site of the 4: {r['suggested_sites']!r}")
        total = sum(s["saving_bytes"] for s in r["sites"])
        check(total == saving(r, TABLES), f"stripped: the sites save {total}")
        again, p = report_run(args, {"MPISHM_SITES": r["suggested_sites"]})
        check(partners_shared(args, p) == args.ranks, "stripped: the line shares both tables")
        args.program = plain_program


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--ranks", type=int, default=3)
    ap.add_argument("--cliques", type=int, default=0)
    ap.add_argument("case", choices=["report", "sites", "auto", "failure", "grow", "memory",
                                     "fortran", "content", "lifetimes", "partners",
                                     "pagetables"])
    ap.add_argument("program")
    args = ap.parse_args()
    {"report": judge_sites_check_report, "sites": judge_sites, "auto": judge_auto,
     "failure": judge_failure, "grow": judge_grow, "memory": judge_memory, "fortran": judge_fortran,
     "content": judge_content, "lifetimes": judge_lifetimes,
     "partners": judge_partners, "pagetables": judge_page_tables}[args.case](args)
    if failures:
        print(f"check_report: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("check_report: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
