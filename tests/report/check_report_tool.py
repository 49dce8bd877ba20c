#!/usr/bin/env python3
"""Runs tools/mpishm-report the way a user would, on the reports in fixtures/, and checks what
it prints.

    check_report_tool.py TOOL

The fixtures are written by hand after docs/report.md. Their frames are pointed at a small C
program built here with gcc -g (an executable whose loaders broadcast through one helper, as
real programs do, a shared library that calls the stand-in broadcast itself, and that stand-in
in a second library): the program prints the return address of each call relative to its
object's load address, as libmpishm records it, so the file:line the tool prints comes from
addr2line on real code, and the expected line is found in the source text. The sites share
their own frame (the helper's) and are told apart by their call stack: each row's
MPISHM_SITES name (select_as), the file:line of that function's frame (not the helper's), the
stack, and --compare matching sites by their whole stack. Also: the candidates' order,
not_selectable and reasons the tool does not know, MPISHM_SITES, --sites, --json, a non-PIE
executable, objects without debug information or gone, no addr2line at all, one addr2line per
object, and bad input (exit 2, one line, no traceback).
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return cond


# The program. mpi_bcast() stands for MPI_Bcast (it lives in another object, as libmpi does).
# As in real programs, the broadcasts go through one helper, bcast(), and two loaders through a
# second one, read_array(): the site's own frame (the one that calls "MPI") is bcast for all but
# load_basis, and only the call stack tells the sites apart. Each function prints its return
# address as "from <function> for <site>" (mpi_bcast as "from MPI for <site>"): where(tag,
# address) prints "tag <TAB> object <TAB> address - load bias <TAB> address - start of the
# object's first mapping".
APP_C = r"""#include <stdio.h>
#include <stdlib.h>
void mpi_bcast(const char *site, void *buf, size_t bytes);
void where(const char *tag, const void *address);
void load_basis(void);

static double *mesh, *grid, *table;

__attribute__((noinline)) void bcast(const char *site, void *buf, size_t bytes)
{
    char tag[80];
    snprintf(tag, sizeof tag, "from bcast for %s", site);
    where(tag, __builtin_return_address(0));
    mpi_bcast(site, buf, bytes);
}

__attribute__((noinline)) void read_array(const char *site, void *buf, size_t bytes)
{
    char tag[80];
    snprintf(tag, sizeof tag, "from read_array for %s", site);
    where(tag, __builtin_return_address(0));
    bcast(site, buf, bytes);
}

__attribute__((noinline)) void load_mesh(void)
{
    where("from load_mesh for load_mesh", __builtin_return_address(0));
    mesh = calloc(1024, sizeof *mesh);
    bcast("load_mesh", mesh, 1024 * sizeof *mesh);
}

__attribute__((noinline)) void load_grid(void)
{
    where("from load_grid for load_grid", __builtin_return_address(0));
    grid = calloc(128, sizeof *grid);
    read_array("load_grid", grid, 128 * sizeof *grid);
}

__attribute__((noinline)) void read_table(void)
{
    where("from read_table for read_table", __builtin_return_address(0));
    table = calloc(512, sizeof *table);
    read_array("read_table", table, 512 * sizeof *table);
}

__attribute__((noinline)) void use_scratch(void)
{
    double scratch[64] = {0};
    where("from use_scratch for use_scratch", __builtin_return_address(0));
    bcast("use_scratch", scratch, sizeof scratch);
}

__attribute__((noinline)) void rescale(double *t)
{
    where("writer rescale", &&write);
write:
    t[1] = t[0] * 2.0;
}

int main(void)
{
    load_mesh();
    load_basis();
    load_grid();
    read_table();
    use_scratch();
    rescale(mesh);
    return 0;
}
"""

BASIS_C = r"""#include <stdlib.h>
void mpi_bcast(const char *site, void *buf, size_t bytes);
void where(const char *tag, const void *address);

static double *basis;

__attribute__((noinline)) void load_basis(void)
{
    where("from load_basis for load_basis", __builtin_return_address(0));
    basis = calloc(256, sizeof *basis);
    mpi_bcast("load_basis", basis, 256 * sizeof *basis);
}
"""

STUB_C = r"""#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct find { uintptr_t address, bias; const char *name; int found; };

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find *f = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && f->address >= lo && f->address < lo + ph->p_memsz) {
            f->bias = info->dlpi_addr;
            f->name = info->dlpi_name;
            f->found = 1;
            return 1;
        }
    }
    return 0;
}

void where(const char *tag, const void *address)
{
    struct find f = {(uintptr_t)address, 0, NULL, 0};
    Dl_info dl;
    char path[PATH_MAX];
    dl_iterate_phdr(find_object, &f);
    if (!f.found || !dladdr(address, &dl) ||
        !realpath(f.name && *f.name ? f.name : "/proc/self/exe", path)) {
        printf("%s\t?\t0\t0\n", tag);
        return;
    }
    printf("%s\t%s\t%lu\t%lu\n", tag, path, (unsigned long)(f.address - f.bias),
           (unsigned long)(f.address - (uintptr_t)dl.dli_fbase));
}

__attribute__((noinline)) void mpi_bcast(const char *site, void *buf, size_t bytes)
{
    char tag[80];
    (void)buf;
    (void)bytes;
    snprintf(tag, sizeof tag, "from MPI for %s", site);
    where(tag, __builtin_return_address(0));
}
"""


def line_of(source, text):
    """The 1-based line of source containing text (exactly one)."""
    found = [i + 1 for i, line in enumerate(source.splitlines()) if text in line]
    assert len(found) == 1, f"{text!r} is on lines {found}"
    return found[0]


def gcc(args, cwd):
    p = subprocess.run(["gcc"] + args, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"gcc {' '.join(args)} failed:\n{p.stderr}")


def build(d):
    """Builds libstub.so, libbasis.so (with -g) and three executables: app (PIE, -g),
    app-nopie (-no-pie, -g) and app-nodebug (PIE, no -g). Returns {name: path}."""
    for name, text in (("app.c", APP_C), ("basis.c", BASIS_C), ("stub.c", STUB_C)):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    gcc(["-g", "-O0", "-fPIC", "-shared", "stub.c", "-o", "libstub.so", "-ldl"], d)
    gcc(["-g", "-O0", "-fPIC", "-shared", "basis.c", "-o", "libbasis.so", "-L.", "-lstub",
         "-Wl,-rpath,$ORIGIN"], d)
    link = ["-L.", "-lbasis", "-lstub", "-Wl,-rpath,$ORIGIN"]
    gcc(["-g", "-O0", "app.c", "-o", "app"] + link, d)
    gcc(["-g", "-O0", "-no-pie", "app.c", "-o", "app-nopie"] + link, d)
    gcc(["-O0", "app.c", "-o", "app-nodebug"] + link, d)
    return {n: os.path.join(d, n) for n in ("app", "app-nopie", "app-nodebug", "libbasis.so",
                                            "libstub.so", "app.c", "basis.c")}


def run_program(path):
    """{tag: (object, offset by load bias, offset by first mapping)} as the program prints
    them; return addresses are made return address - 1, as in the report (a writer's address
    is the writing instruction's own, and stays)."""
    p = subprocess.run([path], capture_output=True, text=True, check=True)
    out = {}
    for line in p.stdout.splitlines():
        tag, obj, by_bias, by_start = line.split("\t")
        minus = 0 if tag.startswith("writer") else 1
        out[tag] = (obj, int(by_bias) - minus, int(by_start) - minus)
    return out


def symbols(path):
    """{function: address} from nm."""
    p = subprocess.run(["nm", path], capture_output=True, text=True, check=True)
    return {f[2]: int(f[0], 16) for f in (l.split() for l in p.stdout.splitlines())
            if len(f) == 3 and f[1] in "Tt"}


def stack(site):
    return [site] + site.get("callers", [])


# The array the fixture's violation is about (256 MiB, load_mesh's): selected by MPISHM_SITES
# at its broadcast, so "marked at" that broadcast's own frame, the MPI call in the helper.
MARKED_AT = "from MPI for load_mesh"


def point(report, frames, convention=1):
    """The fixture with its frames set to the program's (from run_program): objects to the
    built files, object_offset and offset from the run. A site's frame k is the return address
    of the call into frame k-1's function (of "MPI" for k = 0), for the site its select_as
    names. convention 1: object_offset from the load bias (what addr2line takes); 2: from the
    start of the object's first mapping."""
    r = copy.deepcopy(report)
    nm = {}

    def fix(fr, tag):
        obj, by_bias, by_start = frames[tag]
        fr["object"], fr["object_offset"] = obj, (by_bias, by_start)[convention - 1]
        if obj not in nm:
            nm[obj] = symbols(obj)
        start = nm[obj][fr["function"]]
        # offset in the function of the return address (of the written instruction for a
        # writer): the address nm gives is the function's, on the same footing as by_bias
        fr["offset"] = by_bias + (0 if tag.startswith("writer") else 1) - start
        check(0 < fr["offset"] < 512, f"{tag}: offset {fr['offset']} in {fr['function']}"
                                      " (from nm) is plausible")

    for s in r["sites"]:
        if s["function"]:
            chain = stack(s)
            for k, fr in enumerate(chain):
                callee = "MPI" if k == 0 else chain[k - 1]["function"]
                fix(fr, f"from {callee} for {s['select_as']}")
    for v in r["violations"]:
        fix(v["marked_at"], MARKED_AT)
        fix(v["writer"], "writer " + v["writer"]["function"])
    r["program"] = frames[MARKED_AT][0]
    return r


def stack_text(site):
    """The call stack as the tool should print it, written out here for the sites the checks
    name: frames innermost first, the object's name after the last frame of each run in it."""
    out = []
    frames = stack(site)
    for i, fr in enumerate(frames):
        text = (f"{fr['function']}+0x{fr['offset']:x}" if fr["function"]
                else f"?+0x{fr['object_offset']:x}")
        if i + 1 == len(frames) or frames[i + 1]["object"] != fr["object"]:
            text += f" ({os.path.basename(fr['object'])})"
        out.append(text)
    return " < ".join(out)


def save(d, name, report):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    return path


def tool_run(tool, args, env=None):
    p = subprocess.run([sys.executable, tool] + args, capture_output=True, text=True, env=env)
    return p


def table_rows(out, title):
    """The table under the line starting with title: a list of {header: cell}. Cells are apart
    by two spaces or more, and none holds two spaces; [] when there is no such table."""
    parts = ("\n" + out).split("\n" + title, 1)
    if len(parts) < 2:
        return []
    text = parts[1].split("\n\n")[0].splitlines()[1:]
    if not text:
        return []
    header = re.split(r" {2,}", text[0].strip())
    rows = []
    for line in text[1:]:
        cells = re.split(r" {2,}", line.strip())
        check(len(cells) == len(header), f"table {title!r}: a row with {len(cells)} cells"
                                         f" under {len(header)} headers: {line!r}")
        rows.append(dict(zip(header, cells)))
    return rows


def by_name(rows):
    """{MPISHM_SITES name: row}; the name must tell the rows apart."""
    names = [r.get("MPISHM_SITES name") for r in rows]
    check(len(set(names)) == len(names), f"each row has its own MPISHM_SITES name: {names}")
    return {n: r for n, r in zip(names, rows)}


def main(tool):
    with open(os.path.join(FIXTURES, "before.json")) as f:
        before_fixture = json.load(f)
    with open(os.path.join(FIXTURES, "after.json")) as f:
        after_fixture = json.load(f)
    for name in ("gcc", "nm", "addr2line"):
        if not shutil.which(name):
            sys.exit(f"{name} is missing (apt-get install gcc binutils)")

    # The fixtures as they are: their objects do not exist here, every line is "-".
    p = tool_run(tool, [os.path.join(FIXTURES, "before.json")])
    check(p.returncode == 0, f"raw fixture: exit {p.returncode}: {p.stderr.strip()}")
    raw = by_name(table_rows(p.stdout, "Candidates"))
    check(raw.get("load_mesh", {}).get("file:line") == "-",
          f"raw fixture: a site whose object is gone shows file:line '-': {raw.get('load_mesh')}")
    check(raw.get("load_mesh", {}).get("call stack") ==
          "bcast+0x19 < load_mesh+0x2c < main+0x17 (app)",
          f"raw fixture: load_mesh's call stack: {raw.get('load_mesh')}")

    with tempfile.TemporaryDirectory() as d:
        built = build(d)
        app_c, basis_c = built["app.c"], built["basis.c"]
        # The line each site's MPISHM_SITES name stands for: in that function, the call on
        # towards MPI (into the helper for the loaders of app.c).
        call = {"load_mesh": 'bcast("load_mesh"', "load_grid": 'read_array("load_grid"',
                "read_table": 'read_array("read_table"', "use_scratch": 'bcast("use_scratch"'}
        want = {n: f"app.c:{line_of(APP_C, text)}" for n, text in call.items()}
        want.update({"load_basis": f"basis.c:{line_of(BASIS_C, 'mpi_bcast(' + chr(34))}",
                     "helper": f"app.c:{line_of(APP_C, 'mpi_bcast(site, buf, bytes);')}",
                     "main load_mesh": line_of(APP_C, "    load_mesh();"),
                     "main load_basis": line_of(APP_C, "    load_basis();"),
                     "writer": f"app.c:{line_of(APP_C, 't[1] = t[0] * 2.0;')}"})
        frames = run_program(built["app"])
        check(os.path.basename(frames["from MPI for load_basis"][0]) == "libbasis.so",
              "the program sees load_basis's call in libbasis.so")
        check(len({frames[f"from MPI for {n}"] for n in ("load_mesh", "load_grid", "read_table",
                                                          "use_scratch")}) == 1,
              "the sites through the helper share their own frame, as in real programs")
        before = point(before_fixture, frames)
        after = point(after_fixture, frames)
        site = {s["select_as"]: s for s in before["sites"]}
        # The library lists candidates by saving; the tool must not rely on it.
        shuffled = copy.deepcopy(before)
        shuffled["sites"].reverse()
        before_path = save(d, "before.json", shuffled)
        after_path = save(d, "after.json", after)

        # One addr2line per object, through a wrapper that logs its calls.
        bindir = os.path.join(d, "bin")
        os.mkdir(bindir)
        log = os.path.join(d, "addr2line.log")
        wrapper = os.path.join(bindir, "addr2line")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\necho \"$@\" >> {log}\nexec {shutil.which('addr2line')} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])

        # 1. The human report.
        p = tool_run(tool, [before_path], env)
        out = p.stdout
        print(out)
        check(p.returncode == 0, f"report: exit {p.returncode}: {p.stderr.strip()}")
        check("Traceback" not in p.stderr, "report: no traceback")
        calls = open(log).read().splitlines() if os.path.exists(log) else []
        check(len(calls) == 2 and all(c.split()[1] in (built["app"], built["libbasis.so"])
                                      for c in calls),
              f"one addr2line per existing object (app, libbasis.so), got {calls}")
        for text in ("/app", "8 on 2 node(s)", "1.0 MiB", "MPISHM_SITES=(none)",
                     "MPISHM_PROTECT=off"):
            check(text in out.split("\nJob")[0], f"header shows {text!r}")
        check(re.search(r"broadcasts intercepted\s+12", out), "job: 12 broadcasts")
        check(re.search(r"shared\s+2\s+64\.0 MiB", out), "job: 2 shared, 64.0 MiB")
        check(re.search(r"not shared\s+7\s+not marked 5, not selectable 1, not contiguous 1$",
                        out, re.M), "job: not shared by reason, not selectable included")
        check(re.search(r"arrays shared\s+2\s", out), "job: 2 arrays shared (one per node)")
        check(re.search(r"memory saved\s+192\.0 MiB\s+measured 191\.2 MiB", out),
              "job: memory saved, computed and measured")
        check(re.search(r"0\s+n001\s+4\s+-\s+-\s+1\s+96\.0 MiB\s+95\.6 MiB\s+-\s+-\s+-\s+0,2,4,6",
                        out), "node 0's row (a report without peak figures or page tables: -)")

        cand = table_rows(out, "Candidates")
        names = [r.get("MPISHM_SITES name") for r in cand]
        check(names == ["load_mesh", "load_basis", "load_grid"],
              f"candidates told apart by their MPISHM_SITES name, largest saving first: {names}")
        check([r.get("saving") for r in cand] == ["1.5 GiB", "384.0 MiB", "96.0 MiB"],
              f"candidates' savings: {[r.get('saving') for r in cand]}")
        cand = by_name(cand)
        mesh = cand.get("load_mesh", {})
        check([mesh.get(k) for k in ("calls", "bytes/call", "ranks")] == ["3", "256.0 MiB", "8"],
              f"load_mesh row: calls, bytes per call, ranks: {mesh}")
        check(mesh.get("call stack") == stack_text(site["load_mesh"]) and
              re.fullmatch(r"bcast\+0x[0-9a-f]+ < load_mesh\+0x[0-9a-f]+ < main\+0x[0-9a-f]+"
                           r" \(app\)", mesh.get("call stack", "")),
              f"load_mesh's call stack, the object named once: {mesh.get('call stack')!r}")
        check(cand.get("load_basis", {}).get("call stack") ==
              f"load_basis+0x{site['load_basis']['offset']:x} (libbasis.so) < "
              f"main+0x{site['load_basis']['callers'][0]['offset']:x} (app)",
              f"load_basis's stack names each object after its run of frames:"
              f" {cand.get('load_basis')}")
        check(re.fullmatch(r"bcast\+0x[0-9a-f]+ < read_array\+0x[0-9a-f]+ < load_grid\+0x[0-9a-f]+"
                           r" < main\+0x[0-9a-f]+ \(app\)",
                           cand.get("load_grid", {}).get("call stack", "")),
              f"load_grid's stack, through two helpers: {cand.get('load_grid')}")
        for n in ("load_mesh", "load_basis", "load_grid"):
            check(cand.get(n, {}).get("file:line") == want[n],
                  f"{n}: file:line of the frame in {n} ({want[n]}), not of the helper"
                  f" ({want['helper']}): {cand.get(n, {}).get('file:line')}")

        shared_rows = by_name(table_rows(out, "Shared sites"))
        table = shared_rows.get("read_table", {})
        check([table.get(k) for k in ("saved", "shared", "by", "calls", "bytes/call", "ranks",
                                      "file:line")] ==
              ["192.0 MiB", "2", "mark", "2", "32.0 MiB", "8", want["read_table"]] and
              table.get("call stack") == stack_text(site["read_table"]),
              f"shared sites: read_table by mark, its file:line two frames out"
              f" ({want['read_table']}), its stack: {table}")
        others = by_name(table_rows(out, "Other sites"))
        scratch, gone = others.get("use_scratch", {}), others.get("-", {})
        check(scratch.get("why") == "not selectable 1" and
              scratch.get("file:line") == want["use_scratch"] and
              scratch.get("call stack") == stack_text(site["use_scratch"]),
              f"other sites: use_scratch not selectable, at {want['use_scratch']}: {scratch}")
        check(gone.get("why") == "not contiguous 1" and gone.get("file:line") == "-" and
              gone.get("call stack") == "?+0x12000 (libgone.so)",
              f"other sites: a site with no function name, in an object that is gone: {gone}")
        check("Violations" not in out, "no violations section without violations")
        check(out.rstrip().splitlines()[-1] == "MPISHM_SITES=load_mesh,load_basis,load_grid",
              "the last line is MPISHM_SITES=load_mesh,load_basis,load_grid")

        # --full-paths and --no-lines.
        p = tool_run(tool, ["--full-paths", before_path])
        check(by_name(table_rows(p.stdout, "Candidates")).get("load_mesh", {}).get("file:line")
              == f"{app_c}:{want['load_mesh'].split(':')[1]}", "--full-paths shows the whole path")
        p = tool_run(tool, ["--no-lines", before_path])
        check(p.returncode == 0 and "app.c:" not in p.stdout and
              all(r.get("file:line") == "-" for r in table_rows(p.stdout, "Candidates")),
              "--no-lines shows '-'")

        # Reasons this tool does not know are shown by their key.
        extra = copy.deepcopy(shuffled)
        extra["job"]["not_shared"]["rank_disagreed"] = 2
        next(s for s in extra["sites"] if not s["select_as"])["not_shared"]["rank_disagreed"] = 2
        p = tool_run(tool, [save(d, "extra.json", extra)])
        check(p.returncode == 0 and "Traceback" not in p.stderr,
              f"an unknown reason: exit 0 ({p.returncode}, {p.stderr.strip()})")
        check(re.search(r"not shared\s+9\s+not marked 5, not selectable 1, not contiguous 1,"
                        r" rank_disagreed 2$", p.stdout, re.M),
              "job: an unknown reason shown by its key, after the known ones")
        check(by_name(table_rows(p.stdout, "Other sites")).get("-", {}).get("why") ==
              "not contiguous 1, rank_disagreed 2", "site: an unknown reason by its key")

        # The after report: violations, the remaining candidates.
        p = tool_run(tool, [after_path])
        out = p.stdout
        check(p.returncode == 0, f"after: exit {p.returncode}")
        viol = table_rows(out, "Violations")
        v = after["violations"][0]
        check(len(viol) == 1 and viol[0].get("marked at") ==
              f"bcast+0x{v['marked_at']['offset']:x} ({want['helper']})",
              f"violation: marked at the broadcast's MPI call, in the helper: {viol}")
        check(len(viol) == 1 and viol[0].get("written by") ==
              f"rescale+0x{v['writer']['offset']:x} ({want['writer']})",
              f"violation: written by rescale at {want['writer']} (the writing instruction"
              f" itself): {viol}")
        mesh = by_name(table_rows(out, "Shared sites")).get("load_mesh", {})
        check([mesh.get(k) for k in ("by", "shared", "bytes/call", "file:line")] ==
              ["sites", "3", "256.0 MiB", want["load_mesh"]], f"after: load_mesh shared by sites:"
                                                              f" {mesh}")
        check([r.get("MPISHM_SITES name") for r in table_rows(out, "Candidates")] ==
              ["load_basis", "load_grid"], "after: the remaining candidates")
        check(out.rstrip().splitlines()[-1] == "MPISHM_SITES=load_basis,load_grid",
              "after: MPISHM_SITES")

        # 2. --sites.
        p = tool_run(tool, ["--sites", before_path])
        check(p.returncode == 0 and p.stdout == "MPISHM_SITES=load_mesh,load_basis,load_grid\n",
              f"--sites prints only the line: {p.stdout!r}")
        none = copy.deepcopy(after)
        for s in none["sites"]:
            if s["candidate"]:
                s.update(candidate=False, shared=1, not_shared={}, selected_by="sites")
        none["suggested_sites"] = ""
        p = tool_run(tool, ["--sites", save(d, "none.json", none)])
        check(p.returncode == 0 and p.stdout == "" and "no candidates" in p.stderr,
              f"--sites without candidates: nothing on stdout, 'no candidates' on stderr"
              f" ({p.returncode}, {p.stdout!r}, {p.stderr!r})")
        p = tool_run(tool, [os.path.join(d, "none.json")])
        check("MPISHM_SITES=" not in p.stdout.split("options")[1].split("\n", 1)[1],
              "no MPISHM_SITES line without candidates")

        # 3. --compare: sites matched by their whole call stack, not their own frame (the
        # helper's, the same for four of them).
        p = tool_run(tool, ["--compare", before_path, after_path])
        out = p.stdout
        print(out)
        check(p.returncode == 0, f"compare: exit {p.returncode}: {p.stderr.strip()}")
        sites = table_rows(out, "Sites (matched by call stack)")
        check(len(sites) == 6, f"compare: six sites, each matched: {len(sites)} rows")
        sites = by_name(sites)
        expect = {"load_mesh": "candidate -> shared (by sites)",
                  "load_basis": "candidate, unchanged",
                  "load_grid": "candidate, unchanged",
                  "read_table": "shared (by mark), unchanged",
                  "use_scratch": "not shared (not selectable), unchanged",
                  "-": "not shared (not contiguous), unchanged"}
        for n, what in expect.items():
            check(sites.get(n, {}).get("change") == what,
                  f"compare: {n}: {what!r}: {sites.get(n)}")
        mesh = sites.get("load_mesh", {})
        check(mesh.get("saving before") == "1.5 GiB" and mesh.get("after") == "1.5 GiB",
              f"compare: saving before and after: {mesh}")
        check(mesh.get("file:line") == want["load_mesh"] and
              mesh.get("call stack") == stack_text(site["load_mesh"]),
              f"compare: the site's file:line and call stack: {mesh}")
        check(sites.get("read_table", {}).get("file:line") == want["read_table"],
              f"compare: read_table's file:line: {sites.get('read_table')}")
        check(re.search(r"shared\s+2\s+5\s+\+3", out), "compare: shared 2 -> 5, +3")
        check(re.search(r"not shared: not selectable\s+1\s+1\s+=", out),
              "compare: not selectable, before and after")
        check(re.search(r"saved \(computed\)\s+192\.0 MiB\s+1\.7 GiB\s+\+1\.5 GiB", out),
              "compare: saved computed with the change")
        check(re.search(r"node 1 \(n002\) measured\s+95\.6 MiB\s+862\.4 MiB", out),
              "compare: saved measured per node")
        check("1 now shared, 2 still candidate" in out, "compare: summary of the candidates")
        check(re.search(r"page tables\s+-\s+4\.5 MiB", out),
              "compare: page tables, none in the older report, 4.5 MiB after")
        out = tool_run(tool, [after_path, "--no-lines"]).stdout
        check(re.search(r"page tables\s+4\.5 MiB\s+mapping the shared arrays", out),
              "job: the page tables of the shared arrays")
        check(re.search(r"0\s+n001\s+4\s+.*\s2\.2 MiB\s+290\.2 MiB\s+1\.008\s+0,2,4,6", out),
              f"node 0's row: page tables, memory with them, copies: {out}")

        def compare_rows(a, b):
            p = tool_run(tool, ["--compare", a, b])
            check(p.returncode == 0 and "Traceback" not in p.stderr,
                  f"compare {a} {b}: exit {p.returncode}: {p.stderr.strip()}")
            return by_name(table_rows(p.stdout, "Sites (matched by call stack)"))

        gone = copy.deepcopy(after)
        gone["sites"] = [s for s in gone["sites"] if s["function"]]
        gone_path = save(d, "gone.json", gone)
        rows = compare_rows(before_path, gone_path)
        check(rows.get("-", {}).get("change") == "gone: was not shared (not contiguous)",
              f"compare: a site missing after is 'gone': {rows.get('-')}")
        rows = compare_rows(gone_path, before_path)
        check(rows.get("-", {}).get("change", "").startswith("new: not shared"),
              f"compare: a site missing before is 'new': {rows.get('-')}")
        check(rows.get("load_mesh", {}).get("change") == "shared (by sites) -> candidate",
              f"compare the other way: shared -> candidate: {rows.get('load_mesh')}")
        # One of the helper's sites missing after: the others keep their partners (matching
        # by the helper's frame would pair them with the wrong ones).
        no_mesh = copy.deepcopy(after)
        no_mesh["sites"] = [s for s in no_mesh["sites"] if s["select_as"] != "load_mesh"]
        rows = compare_rows(before_path, save(d, "no_mesh.json", no_mesh))
        check(len(rows) == 6 and rows.get("load_mesh", {}).get("change") == "gone: was candidate"
              and rows.get("read_table", {}).get("change") == "shared (by mark), unchanged"
              and rows.get("use_scratch", {}).get("change") ==
              "not shared (not selectable), unchanged",
              f"compare: load_mesh gone, the other helper sites matched: {rows}")
        # A rebuilt program: other offsets, the same functions: the same sites.
        rebuilt = copy.deepcopy(after)
        for s in rebuilt["sites"]:
            for fr in stack(s):
                if fr["function"]:
                    fr["offset"] += 8
                    fr["object_offset"] += 8
        rows = compare_rows(before_path, save(d, "rebuilt.json", rebuilt))
        check(len(rows) == 6 and not any(r.get("change", "").startswith(("new", "gone"))
                                         for r in rows.values()),
              f"compare: a rebuilt program's sites matched by their functions: {rows}")
        # load_grid gone: read_array now selects read_table's site alone.
        no_grid = copy.deepcopy(after)
        no_grid["sites"] = [s for s in no_grid["sites"] if s["select_as"] != "load_grid"]
        next(s for s in no_grid["sites"] if s["select_as"] == "read_table")["select_as"] = \
            "read_array"
        no_grid["suggested_sites"] = "load_basis"
        rows = compare_rows(before_path, save(d, "no_grid.json", no_grid))
        check(rows.get("read_table -> read_array", {}).get("change") ==
              "shared (by mark), unchanged" and
              rows.get("load_grid", {}).get("change") == "gone: was candidate",
              f"compare: a site whose MPISHM_SITES name changed: {rows}")

        # 4. --json: every frame with file and line.
        p = tool_run(tool, ["--json", before_path])
        try:
            enriched = json.loads(p.stdout)
        except ValueError:
            enriched = None
        if check(enriched is not None, "--json prints JSON"):
            sites = {s["select_as"]: s for s in enriched["sites"]}
            m = sites["load_mesh"]
            check(m["file"] == app_c and f"app.c:{m['line']}" == want["helper"],
                  f"--json: load_mesh's own frame is the helper's MPI call, {want['helper']},"
                  f" got {m['file']}:{m['line']}")
            check(m["callers"][0]["file"] == app_c and
                  f"app.c:{m['callers'][0]['line']}" == want["load_mesh"],
                  f"--json: its caller load_mesh at {want['load_mesh']}")
            check(m["callers"][1]["line"] == want["main load_mesh"],
                  f"--json: load_mesh's caller main at line {want['main load_mesh']}")
            check(sites["load_basis"]["callers"][0]["line"] == want["main load_basis"],
                  "--json: load_basis's caller (in app, from libbasis.so) resolved")
            check(sites["load_basis"]["file"] == basis_c, "--json: load_basis in basis.c")
            check(sites[""]["file"] is None and sites[""]["line"] is None,
                  "--json: file and line null where the object is gone")
            check(enriched["schema"] == "mpishm-report/1" and
                  enriched["suggested_sites"] == before["suggested_sites"],
                  "--json keeps the report")

        # A non-PIE executable, with offsets from the load bias (absolute addresses) and
        # from its first mapping; an executable without debug information.
        nopie = run_program(built["app-nopie"])
        for convention in (1, 2):
            r = point(before_fixture, nopie, convention)
            p = tool_run(tool, [save(d, f"nopie{convention}.json", r)])
            rows = by_name(table_rows(p.stdout, "Candidates"))
            check(rows.get("load_mesh", {}).get("file:line") == want["load_mesh"] and
                  rows.get("load_grid", {}).get("file:line") == want["load_grid"],
                  f"non-PIE executable, offsets by convention {convention}: {rows}")
        nodebug = run_program(built["app-nodebug"])
        r = point(before_fixture, nodebug)
        p = tool_run(tool, [save(d, "nodebug.json", r)])
        rows = by_name(table_rows(p.stdout, "Candidates"))
        check(p.returncode == 0 and rows.get("load_mesh", {}).get("file:line") == "-",
              "an executable without debug information shows '-'")
        check(rows.get("load_basis", {}).get("file:line") == want["load_basis"],
              "... while its library with debug information still resolves")

        # No addr2line at all.
        empty = os.path.join(d, "empty")
        os.mkdir(empty)
        p = tool_run(tool, [before_path], dict(os.environ, PATH=empty))
        rows = by_name(table_rows(p.stdout, "Candidates"))
        check(p.returncode == 0 and rows.get("load_mesh", {}).get("file:line") == "-",
              f"without addr2line: '-' and exit 0 ({p.returncode}, {p.stderr.strip()})")

        bad_input(tool, d, before)


def bad_input(tool, d, good):
    def write(name, text):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def without(path_keys):
        r = copy.deepcopy(good)
        *parents, last = path_keys
        target = r
        for k in parents:
            target = target[k]
        del target[last]
        return json.dumps(r)

    wrong_type = copy.deepcopy(good)
    wrong_type["sites"][1]["bytes"] = "64M"
    good_path = write("good.json", json.dumps(good))
    cases = [
        ("missing file", [os.path.join(d, "nonexistent.json")], "no such file"),
        ("not JSON", [write("text.json", "MPISHM report\nnot json\n")], "not JSON"),
        ("empty", [write("empty.json", "")], "not JSON"),
        ("truncated", [write("cut.json", json.dumps(good)[:200])], "not JSON"),
        ("a list", [write("list.json", "[1, 2]")], "not an object"),
        ("wrong schema", [write("schema.json", json.dumps(dict(good, schema="mpishm-report/2")))],
         "mpishm-report/2"),
        ("no schema", [write("noschema.json", without(["schema"]))], "schema"),
        ("missing key", [write("nojob.json", without(["job"]))], "job is missing"),
        ("missing field", [write("nobcast.json", without(["job", "broadcasts"]))],
         "job.broadcasts is missing"),
        ("wrong type", [write("type.json", json.dumps(wrong_type))],
         "sites[1].bytes should be an integer"),
        ("no select_as", [write("noselect.json", without(["sites", 0, "select_as"]))],
         "sites[0].select_as is missing"),
        ("directory", [d], "directory"),
        ("compare, bad second", ["--compare", good_path, os.path.join(d, "nonexistent.json")],
         "no such file"),
        ("--sites, bad", ["--sites", os.path.join(d, "text.json")], "not JSON"),
    ]
    for what, args, message in cases:
        p = tool_run(tool, args)
        named = args[-1]
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2, f"{what}: exit status 2, got {p.returncode}")
        check(len(lines) == 1, f"{what}: one line on stderr, got {p.stderr!r}")
        check("Traceback" not in p.stderr, f"{what}: no traceback")
        check(message in p.stderr and named in p.stderr,
              f"{what}: names {named} and says '{message}': {p.stderr.strip()!r}")
        check(p.stdout == "", f"{what}: nothing on stdout")
    for args in (["--compare", good_path], [], ["--sites", "--json", good_path]):
        p = tool_run(tool, args)
        check(p.returncode == 2 and "Traceback" not in p.stderr,
              f"usage error {args}: exit 2 without a traceback")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_report_tool.py TOOL")
    main(os.path.abspath(sys.argv[1]))
    print(f"{'FAILED: ' + str(len(failures)) if failures else 'all checks passed'}",
          file=sys.stderr)
    sys.exit(1 if failures else 0)
