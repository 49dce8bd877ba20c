/* The report's two forms: JSON for tools (docs/report.md) and a table for people. */
#include "report_data.h"

#include <stdlib.h>
#include <string.h>

#include "mpishm_internal.h"

static const char *const protect_name[] = {"off", "readonly", "warn"};

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_ints(FILE *out, const int *v, int n)
{
    fputc('[', out);
    for (int i = 0; i < n; i++)
        fprintf(out, "%s%d", i ? ", " : "", v[i]);
    fputc(']', out);
}

/* A site frame's other calls: "more_offsets" (none: nothing). */
static void json_more(FILE *out, const wire_frame *f)
{
    if (f->nmore) {
        fputs(", \"more_offsets\": [", out);
        for (int k = 0; k < f->nmore; k++)
            fprintf(out, "%s%lu", k ? ", " : "", f->more[k]);
        fputc(']', out);
    }
}

static void json_frame(FILE *out, const wire_frame *f)
{
    fputs("{\"function\": ", out);
    json_string(out, f->function);
    fprintf(out, ", \"offset\": %lu, \"object\": ", f->offset);
    json_string(out, f->object);
    fprintf(out, ", \"object_offset\": %lu", f->object_offset);
    json_more(out, f);
    fputc('}', out);
}

static void json_reasons(FILE *out, const unsigned long *not_shared)
{
    fputc('{', out);
    for (int k = 0; k < WHY_COUNT; k++)
        fprintf(out, "%s\"%s\": %lu", k ? ", " : "", why_not_key[k], not_shared[k]);
    fputc('}', out);
}

/* A node's saving: 0 at MPI_Finalize, 1 the same measured (PSS), 2 at the peak, 3 the
 * same measured (pages present from the node copies, less each copy's once). */
static unsigned long long node_saved(const node_figures *f, int which)
{
    switch (which) {
    case 0: return f->mapped - f->segments;
    case 1: return f->measured;
    case 2: return f->peak_mapped - f->peak_segments;
    default: return f->peak_present - f->peak_present_once;
    }
}

static unsigned long long saved(const job_report *j, int which)
{
    unsigned long long sum = 0;
    for (int n = 0; n < j->nodes; n++)
        sum += node_saved(&j->node[n], which);
    return sum;
}

/* A node's memory for its shared arrays: its node copies, the pages its ranks wrote (private
 * copies) and the page tables mapping the arrays in every rank; and that in node copies. */
static unsigned long long node_memory(const node_figures *f)
{
    return f->segments + f->private_bytes + f->page_tables;
}

static double node_copies(const node_figures *f)
{
    return f->segments ? (double)node_memory(f) / (double)f->segments : 0;
}

static unsigned long long page_tables(const job_report *j)
{
    unsigned long long sum = 0;
    for (int n = 0; n < j->nodes; n++)
        sum += j->node[n].page_tables;
    return sum;
}

static int arrays(const job_report *j)
{
    int sum = 0;
    for (int n = 0; n < j->nodes; n++)
        sum += j->node[n].arrays;
    return sum;
}

static void json_options(FILE *out, const job_report *j)
{
    fprintf(out, "  \"options\": {\"threshold\": %zu, \"sites\": [", j->threshold);
    const char *p = j->sites_option;
    for (int first = 1; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ","), len = n;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            char name[1024];
            snprintf(name, sizeof name, "%.*s", (int)len, p);
            fputs(first ? "" : ", ", out);
            json_string(out, name);
            first = 0;
        }
        p += n;
    }
    fprintf(out, "], \"auto\": %s, \"protect\": \"%s\", \"scope\": \"%s\"},\n",
            j->auto_select ? "true" : "false", protect_name[j->protect],
            j->scope_numa ? "numa" : "node");
}

static void json_job(FILE *out, const job_report *j)
{
    fprintf(out, "  \"job\": {\n    \"ranks\": %d, \"nodes\": %d,\n", j->ranks, j->nodes);
    fprintf(out, "    \"broadcasts\": %lu, \"below_threshold\": %lu, \"shared\": %lu, "
                 "\"bytes_shared\": %llu,\n    \"not_shared\": ",
            j->broadcasts, j->below, j->shared, j->bytes_shared);
    json_reasons(out, j->not_shared);
    fputs(",\n    \"failures\": [", out);
    for (int i = 0; i < j->nfailures; i++) {
        const merged_failure *f = &j->failures[i];
        fprintf(out, "%s\n      {\"stage\": \"%s\", \"error\": ", i ? "," : "", f->f.stage);
        json_string(out, strcmp(f->f.stage, "mpi") == 0 ? "MPI error" : strerror(f->f.err));
        fputs(", \"ranks\": ", out);
        json_ints(out, f->ranks, f->nranks);
        fprintf(out, ", \"count\": %lu}", f->f.count);
    }
    fprintf(out, "%s],\n    \"headroom\": ", j->nfailures ? "\n    " : "");
    const wire_headroom *h = &j->headroom;
    if (h->times) {
        fprintf(out, "{\"times\": %lu, \"rank\": %d, \"node\": %d, \"limit\": ", h->times,
                j->headroom_rank, h->node);
        json_string(out, h->limit);
        fprintf(out, ", \"room_bytes\": %llu, \"given_back_bytes\": %llu, "
                     "\"needed_bytes\": %llu, \"margin_bytes\": %llu}",
                h->room, h->given_back, h->needed, h->margin);
    } else {
        fputs("null", out);
    }
    fprintf(out, ",\n    \"huge_pages\": {\"page_bytes\": %zu, \"why_not\": ", j->huge_page);
    if (j->huge_page || !j->huge_why_not)
        fputs("null", out);
    else
        json_string(out, j->huge_why_not);
    fputc('}', out);
    fprintf(out, ",\n    \"arrays_shared\": %d, \"saved_bytes\": %llu, "
                 "\"saved_bytes_measured\": %llu, \"page_table_bytes\": %llu,\n",
            arrays(j), saved(j, 0), saved(j, 1), page_tables(j));
    unsigned long long resident = 0;
    for (int i = 0; i < j->nsites; i++)
        resident += j->sites[i].s.resident_before;
    fprintf(out, "    \"peak_saved_bytes\": %llu, \"peak_saved_bytes_measured\": %llu, "
                 "\"resident_before_bytes\": %llu,\n",
            saved(j, 2), saved(j, 3), resident);
    fprintf(out, "    \"seconds\": %.6f, \"shared_seconds\": %.6f, \"seed_seconds\": %.6f, "
                 "\"map_seconds\": %.6f\n  },\n",
            j->seconds, j->shared_seconds, j->seed_seconds, j->map_seconds);
}

static void json_nodes(FILE *out, const job_report *j)
{
    fputs("  \"nodes\": [", out);
    for (int n = 0; n < j->nodes; n++) {
        const node_figures *f = &j->node[n];
        fprintf(out, "%s\n    {\"node\": %d, \"host\": ", n ? "," : "", n);
        json_string(out, f->host);
        fputs(", \"ranks\": ", out);
        json_ints(out, f->ranks, f->nranks);
        fprintf(out, ", \"numa_domains\": %d", f->domains);
        fprintf(out, ", \"arrays_shared\": %d, \"bytes_mapped\": %llu, \"segment_bytes\": %llu, "
                     "\"saved_bytes\": %llu, \"saved_bytes_measured\": %llu,\n     "
                     "\"peak_bytes_mapped\": %llu, \"peak_segment_bytes\": %llu, "
                     "\"peak_saved_bytes\": %llu, \"peak_saved_bytes_measured\": %llu,\n     "
                     "\"private_bytes\": %llu, \"pmd_mapped_bytes\": %llu, "
                     "\"page_table_bytes\": %llu, \"memory_bytes\": %llu, \"copies\": %.4f}",
                f->arrays, f->mapped, f->segments, f->mapped - f->segments, f->measured,
                f->peak_mapped, f->peak_segments, node_saved(f, 2), node_saved(f, 3),
                f->private_bytes, f->pmd_mapped, f->page_tables, node_memory(f), node_copies(f));
    }
    fputs("\n  ],\n", out);
}

static int partner_count(const job_report *j, int i)
{
    int n = 0;
    for (int o = 0; o < j->nsites; o++)
        n += o != i && j->sites[o].group == j->sites[i].group;
    return n;
}

/* The MPISHM_SITES names of the other sites of site i's group, as a JSON array or, for the
 * table, "a, b". */
static void partners(FILE *out, const job_report *j, int i, int json)
{
    int n = 0;
    if (json)
        fputc('[', out);
    for (int o = 0; o < j->nsites; o++) {
        if (o == i || j->sites[o].group != j->sites[i].group)
            continue;
        fputs(n++ ? ", " : "", out);
        if (json)
            json_string(out, j->sites[o].select_as);
        else
            fputs(j->sites[o].select_as[0] ? j->sites[o].select_as : "-", out);
    }
    if (json)
        fputc(']', out);
}

static void json_sites(FILE *out, const job_report *j)
{
    fputs("  \"sites\": [", out);
    for (int i = 0; i < j->nsites; i++) {
        const merged_site *m = &j->sites[i];
        const wire_frame *f = &m->s.frame[0];
        fprintf(out, "%s\n    {\"function\": ", i ? "," : "");
        json_string(out, f->function);
        fprintf(out, ", \"offset\": %lu, \"object\": ", f->offset);
        json_string(out, f->object);
        fprintf(out, ", \"object_offset\": %lu", f->object_offset);
        json_more(out, f);
        fputs(",\n     \"callers\": [", out);
        for (int k = 1; k < m->s.nframes; k++) {
            fputs(k > 1 ? ", " : "", out);
            json_frame(out, &m->s.frame[k]);
        }
        fprintf(out, "],\n     \"ranks\": %d, \"broadcasts\": %lu, \"bytes\": %llu, "
                     "\"shared\": %lu, \"not_shared\": ",
                m->ranks, m->s.calls, m->s.max_bytes, m->s.shared);
        json_reasons(out, m->s.not_shared);
        fprintf(out, ",\n     \"selected_by\": \"%s\", \"candidate\": %s, \"saving_bytes\": %llu, "
                     "\"select_as\": ",
                m->selected_by, m->candidate ? "true" : "false", m->saving);
        json_string(out, m->select_as);
        fprintf(out, ", \"group\": %d, \"resident_before_bytes\": %llu, \"partners\": ",
                m->group, m->s.resident_before);
        partners(out, j, i, 1);
        fprintf(out, ",\n     \"content\": {\"verdict\": \"%s\", \"unchanged\": %lu, "
                     "\"written\": %lu, \"unchecked\": %lu, \"ranks_writing\": %d, "
                     "\"written_by\": ",
                m->content, m->s.unchanged, m->s.written, m->s.unchecked, m->writing_ranks);
        json_ints(out, m->written_by, m->writing_ranks < 16 ? m->writing_ranks : 16);
        if (m->s.writer.function[0] || m->s.writer.object[0]) {
            fputs(", \"writer\": ", out);
            json_frame(out, &m->s.writer);
        }
        fputs("}}", out);
    }
    fputs("\n  ],\n", out);
}

static void json_violations(FILE *out, const job_report *j)
{
    fputs("  \"violations\": [", out);
    for (int i = 0; i < j->nviolations; i++) {
        const wire_violation *v = &j->violations[i].v;
        fprintf(out, "%s\n    {\"rank\": %d, \"array\": \"0x%llx\", \"array_bytes\": %llu, "
                     "\"marked_at\": ",
                i ? "," : "", j->violations[i].rank, v->base, v->bytes);
        json_frame(out, &v->marked);
        fprintf(out, ", \"offset\": %llu, \"count\": %llu, \"writer\": ", v->offset, v->count);
        json_frame(out, &v->writer);
        fputc('}', out);
    }
    fputs(j->nviolations ? "\n  ],\n" : "],\n", out);
}

/* The functions of the candidates read-only in this run, largest saving first, each once:
 * MPISHM_SITES's value. */
static void suggested_sites(FILE *out, const job_report *j)
{
    int first = 1;
    for (int i = 0; i < j->nsites; i++) {
        const merged_site *m = &j->sites[i];
        const char *name = m->select_as;
        if (!m->suggest || !name[0])
            continue;
        int seen = 0;
        for (int k = 0; k < i && !seen; k++)
            seen = j->sites[k].suggest && strcmp(j->sites[k].select_as, name) == 0;
        if (!seen) {
            fprintf(out, "%s%s", first ? "" : ",", name);
            first = 0;
        }
    }
}

void report_print_json(FILE *out, const job_report *j)
{
    fputs("{\n  \"schema\": \"mpishm-report/1\",\n  \"version\": \"" MPISHM_VERSION_STRING
          "\",\n  \"program\": ", out);
    json_string(out, j->program);
    fputs(",\n", out);
    json_options(out, j);
    json_job(out, j);
    json_nodes(out, j);
    json_sites(out, j);
    json_violations(out, j);
    fputs("  \"suggested_sites\": \"", out);
    suggested_sites(out, j);
    fputs("\"\n}\n", out);
}

/* ---- table ------------------------------------------------------------------------------ */

static const char *human(unsigned long long bytes, char *buf, size_t size)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    if (u == 0)
        snprintf(buf, size, "%llu B", bytes);
    else
        snprintf(buf, size, "%.1f %s", v, unit[u]);
    return buf;
}

static const char *basename_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void table_frame(FILE *out, const wire_frame *f)
{
    if (f->function[0])
        fprintf(out, "%s+0x%lx (%s)", f->function, f->offset, basename_of(f->object));
    else
        fprintf(out, "0x%lx (%s)", f->object_offset, basename_of(f->object));
}

/* "f+0x19 < g+0x2c (app) < h+0x10 (libx.so)": the object once per run of frames in it. */
static void table_stack(FILE *out, const wire_site *s)
{
    for (int k = 0; k < s->nframes; k++) {
        const wire_frame *f = &s->frame[k];
        if (f->function[0])
            fprintf(out, "%s%s+0x%lx", k ? " < " : "", f->function, f->offset);
        else
            fprintf(out, "%s0x%lx", k ? " < " : "", f->object_offset);
        for (int m = 0; m < f->nmore; m++) /* its function's other calls here */
            fprintf(out, "/0x%lx", f->function[0] ? f->more[m] - f->object_offset + f->offset
                                                  : f->more[m]);
        if (k + 1 == s->nframes || strcmp(f->object, s->frame[k + 1].object) != 0)
            fprintf(out, " (%s)", basename_of(f->object));
    }
}

/* "node memory  node 0: 64.0 MiB node copies + 0 B written + 2.1 MiB page tables = 66.1 MiB,
 * 1.033 copies": what a node holds for its shared arrays, page tables counted (PSS leaves
 * them out; with 4 KiB pages N ranks cost N/512 of a copy). */
static void table_node_memory(FILE *out, int n, const node_figures *f)
{
    char a[32], b[32], c[32], d[32], e[32];
    if (!f->segments)
        return;
    fprintf(out, "  node memory   node %d: %s node copies + %s written by ranks + %s page tables "
                 "= %s, %.3f copies",
            n, human(f->segments, a, sizeof a), human(f->private_bytes, b, sizeof b),
            human(f->page_tables, c, sizeof c), human(node_memory(f), d, sizeof d),
            node_copies(f));
    if (f->pmd_mapped)
        fprintf(out, " (%s mapped by huge pages)", human(f->pmd_mapped, e, sizeof e));
    fputc('\n', out);
}

/* "  in 2 NUMA domains (a copy each) " for a node whose copies are its domains', else "  ". */
static const char *domains_note(const node_figures *f, char *text, size_t size)
{
    if (f->domains <= 1)
        return "  ";
    snprintf(text, size, " in %d NUMA domains (a copy each) ", f->domains);
    return text;
}

static void table_job(FILE *out, const job_report *j)
{
    char a[32], b[32], e[64];
    int domains = 0;
    for (int n = 0; n < j->nodes; n++)
        domains += j->node[n].domains;
    if (j->scope_numa)
        snprintf(e, sizeof e, " in %d NUMA domain(s), a copy each", domains);
    fprintf(out, "libmpishm report: %d ranks on %d node(s)%s, threshold %s, program %s\n",
            j->ranks, j->nodes, j->scope_numa ? e : "", human(j->threshold, a, sizeof a),
            basename_of(j->program));
    fprintf(out, "  broadcasts    %lu intercepted: %lu shared (%s), %lu below the threshold, "
                 "%lu large ones not shared\n",
            j->broadcasts, j->shared, human(j->bytes_shared, a, sizeof a), j->below,
            j->broadcasts - j->shared - j->below);
    static const char *const why_text[WHY_COUNT] = {
        "not marked on every rank",
        "not marked, and on a stack or in memory that is not private: cannot be shared",
        "selected without a mark, but written after an earlier shared broadcast",
        "non-contiguous datatype", "one rank per node",
        "no saving: a node would hold more copies at once than MPI_Bcast leaves",
        "no memory headroom: a node's memory limit has no room for its node copy",
        "timing: one MPI_Bcast in place of a shared one at a selected site, to compare",
        "slow: sharing at a selected site was slower than MPI_Bcast: left to MPI",
        "failed and fell back", "other (intercommunicator, one rank, MPI error)"};
    for (int k = 0; k < WHY_COUNT; k++)
        if (j->not_shared[k])
            fprintf(out, "  not shared    %lu: %s\n", j->not_shared[k],
                    k == WHY_ONE_PER_NODE && j->scope_numa ? "one rank per node or NUMA domain"
                                                           : why_text[k]);
    const wire_headroom *h = &j->headroom;
    char c[32], d[32];
    if (h->times)
        fprintf(out, "  no headroom   %lu time(s); on node %d (rank %d) %s left %s, its ranks "
                     "would give back %s, the node copies needed %s, MPISHM_HEADROOM %s\n",
                h->times, h->node, j->headroom_rank, h->limit, human(h->room, a, sizeof a),
                human(h->given_back, b, sizeof b), human(h->needed, c, sizeof c),
                human(h->margin, d, sizeof d));
    for (int i = 0; i < j->nfailures; i++) {
        const merged_failure *f = &j->failures[i];
        fprintf(out, "  failure       %s: %s, %lu time(s), rank(s)", f->f.stage,
                strcmp(f->f.stage, "mpi") == 0 ? "MPI error" : strerror(f->f.err), f->f.count);
        for (int r = 0; r < f->nranks && r < 8; r++)
            fprintf(out, " %d", f->ranks[r]);
        fputs(f->nranks > 8 ? " ...\n" : "\n", out);
    }
    fprintf(out, "  memory saved  %s at the peak (the most shared at once), measured %s; %s at "
                 "MPI_Finalize (%d array(s) shared), measured %s\n",
            human(saved(j, 2), c, sizeof c), human(saved(j, 3), d, sizeof d),
            human(saved(j, 0), a, sizeof a), arrays(j), human(saved(j, 1), b, sizeof b));
    for (int n = 0; n < j->nodes && (j->nodes > 1 || j->node[n].domains > 1); n++)
        fprintf(out, "    node %-3d %-16s %3d ranks%s saved %s at the peak, measured %s; %d "
                     "array(s) at MPI_Finalize, saved %s, measured %s\n",
                n, j->node[n].host, j->node[n].nranks, domains_note(&j->node[n], e, sizeof e),
                human(node_saved(&j->node[n], 2), c, sizeof c),
                human(node_saved(&j->node[n], 3), d, sizeof d), j->node[n].arrays,
                human(node_saved(&j->node[n], 0), a, sizeof a),
                human(node_saved(&j->node[n], 1), b, sizeof b));
    for (int n = 0; n < j->nodes; n++)
        table_node_memory(out, n, &j->node[n]);
    if (j->huge_page)
        fprintf(out, "  huge pages    node copies laid out for %s pages (each node's ranks must "
                     "all allow them)\n", human(j->huge_page, a, sizeof a));
    else if (j->huge_why_not)
        fprintf(out, "  huge pages    none, node copies in 4 KiB pages: %s\n", j->huge_why_not);
    fprintf(out, "  time          %.3f s in large broadcasts (deciding, and sharing), of it %.3f s "
                 "in the shared ones (seeding %.3f s, mapping %.3f s), the most of any rank\n",
            j->seconds, j->shared_seconds, j->seed_seconds, j->map_seconds);
}

/* "written after the broadcast by rank(s) 1 3 (2 copies), e.g. from f+0x1a (app)" */
static void table_writers(FILE *out, const merged_site *m)
{
    fputs("      written after the broadcast by rank(s)", out);
    int shown = m->writing_ranks < 16 ? m->writing_ranks : 16;
    for (int r = 0; r < shown; r++)
        fprintf(out, " %d", m->written_by[r]);
    fprintf(out, "%s (%lu cop%s)", m->writing_ranks > shown ? " ..." : "", m->s.written,
            m->s.written == 1 ? "y" : "ies");
    if (m->s.writer.function[0] || m->s.writer.object[0]) {
        fputs(", from ", out);
        table_frame(out, &m->s.writer);
    }
    fputc('\n', out);
}

static void table_sites(FILE *out, const job_report *j, int candidates)
{
    int any = 0;
    char a[32], b[32];
    for (int i = 0; i < j->nsites; i++) {
        const merged_site *m = &j->sites[i];
        if (m->candidate != candidates || (!candidates && !m->s.shared))
            continue;
        if (!any++)
            fprintf(out, candidates
                             ? "  candidates: large broadcasts not shared because not marked, "
                               "largest saving first\n"
                             : "  shared sites\n");
        if (any == 1)
            fprintf(out, "    %-10s %5s %10s %5s  %-10s  %-20s %s\n",
                    candidates ? "saving" : "saved", "calls", "bytes/call", "ranks",
                    "content", candidates ? "MPISHM_SITES name" : "selected by",
                    "call stack (innermost first)");
        fprintf(out, "    %-10s %5lu %10s %5d  %-10s  %-20s ", human(m->saving, a, sizeof a),
                m->s.calls, human(m->s.max_bytes, b, sizeof b), m->ranks, m->content,
                candidates ? (m->select_as[0] ? m->select_as : "-") : m->selected_by);
        table_stack(out, &m->s);
        fputc('\n', out);
        if (partner_count(j, i)) {
            fputs("      the same broadcasts as ", out);
            partners(out, j, i, 0);
            fputs(" (called from there on the other ranks): shared together or not at all\n", out);
        }
        if (m->writing_ranks)
            table_writers(out, m);
    }
}

/* Sites whose receiving ranks held their copies, their own pages, before the broadcast. */
static void table_resident(FILE *out, const job_report *j)
{
    char a[32];
    int any = 0;
    for (int i = 0; i < j->nsites; i++) {
        const merged_site *m = &j->sites[i];
        if (!m->s.resident_before)
            continue;
        if (!any++)
            fputs("  resident before the broadcast: the receiving ranks' copies were set on every "
                  "rank first (zeroed, say), so the job's peak holds them before the library can "
                  "act; initialising on the root alone would take this off the peak\n", out);
        fprintf(out, "    %-10s %-20s ", human(m->s.resident_before, a, sizeof a),
                m->select_as[0] ? m->select_as : "-");
        table_stack(out, &m->s);
        fputc('\n', out);
    }
}

static void table_violations(FILE *out, const job_report *j)
{
    char a[32];
    for (int i = 0; i < j->nviolations; i++) {
        const wire_violation *v = &j->violations[i].v;
        if (i == 0)
            fputs("  writes into shared arrays (MPISHM_PROTECT=warn)\n", out);
        fprintf(out, "    rank %d wrote %llu page(s) of the array at 0x%llx (%s) from offset %llu: ",
                j->violations[i].rank, v->count, v->base, human(v->bytes, a, sizeof a),
                v->offset);
        table_frame(out, &v->writer);
        fputs(", marked at ", out);
        table_frame(out, &v->marked);
        fputc('\n', out);
    }
}

void report_print_table(FILE *out, const job_report *j)
{
    table_job(out, j);
    table_sites(out, j, 1);
    table_sites(out, j, 0);
    table_resident(out, j);
    table_violations(out, j);
    char *line = NULL;
    size_t len = 0;
    FILE *s = open_memstream(&line, &len);
    if (s) {
        suggested_sites(s, j);
        fclose(s);
    }
    int candidates = 0;
    for (int i = 0; i < j->nsites; i++)
        candidates += j->sites[i].candidate;
    if (line && len && j->auto_select)
        fprintf(out, "  to share the sites MPISHM_AUTO shared, read-only in this run, without "
                     "MPISHM_AUTO, rerun with:\n    MPISHM_SITES=%s\n", line);
    else if (line && len)
        fprintf(out, "  to share the candidates read-only in this run without editing code, "
                     "rerun with:\n    MPISHM_SITES=%s\n", line);
    else if (candidates)
        fputs("  no candidate was read-only in this run (and in a named function): nothing to "
              "suggest for MPISHM_SITES\n", out);
    free(line);
}
