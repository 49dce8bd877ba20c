/* Call sites, after mpiP's record_stack: raw return addresses into a fixed array on the hot
 * path (libunwind's unw_backtrace), names from the symbol tables only when asked. */
#define _GNU_SOURCE
#include "callsite.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY /* else libunwind's remote-unwinding symbols are referenced */
#include <libunwind.h>

/* Code ranges whose frames are dropped: libmpishm and MPI's libraries. */
#define MAX_SKIPPED 32
static struct { uintptr_t lo, hi; } skipped[MAX_SKIPPED];
static int nskipped;

/* libmpishm.so itself, MPICH's libmpi and libmpifort, Open MPI's libmpi and bindings */
static int is_internal_object(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "libmpi", 6) == 0;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *unused)
{
    (void)size, (void)unused;
    if (!info->dlpi_name || !is_internal_object(info->dlpi_name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nskipped < MAX_SKIPPED; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            skipped[nskipped].lo = info->dlpi_addr + ph->p_vaddr;
            skipped[nskipped].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            nskipped++;
        }
    }
    return 0;
}

static void scan_objects(void)
{
    nskipped = 0;
    dl_iterate_phdr(add_object, NULL);
}

static pthread_once_t scanned = PTHREAD_ONCE_INIT;

void callsite_init(void) { pthread_once(&scanned, scan_objects); }

static int internal(uintptr_t pc)
{
    for (int i = 0; i < nskipped; i++)
        if (pc >= skipped[i].lo && pc < skipped[i].hi)
            return 1;
    return 0;
}

/* unw_backtrace keeps a per-thread cache whose destructor runs after ThreadSanitizer has
 * let go of the exiting thread (and crashes it): there, step a cursor instead. */
static int backtrace_raw(void **out, int max)
{
#if defined(__SANITIZE_THREAD__)
    unw_context_t context;
    unw_cursor_t cursor;
    int n = 0;
    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0)
        return 0;
    while (n < max && unw_step(&cursor) > 0) {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0)
            break;
        out[n++] = (void *)ip;
    }
    return n;
#else
    return unw_backtrace(out, max);
#endif
}

void callsite_capture(callstack *s)
{
    callsite_init(); /* an array may be marked before MPI_Init */
    void *raw[CALLSITE_DEPTH + 16];
    int n = backtrace_raw(raw, (int)(sizeof raw / sizeof raw[0]));
    int i = 0;
    /* our own frames and MPI's bindings (MPICH's Fortran pmpi_bcast_, say) come first */
    while (i < n && internal((uintptr_t)raw[i]))
        i++;
    s->n = 0;
    for (; i < n && s->n < CALLSITE_DEPTH; i++)
        if (raw[i])
            s->pc[s->n++] = (uintptr_t)raw[i] - 1;
}

/* The object's path: the main program's link map entry has an empty name. */
static void object_path(const char *name, char *out, size_t size)
{
    if (name && name[0] == '/') {
        snprintf(out, size, "%s", name);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    if (n < 0)
        snprintf(out, size, "%s", name ? name : "");
    else
        out[n] = '\0';
}

/* Whether `name`, found as the nearest symbol at `start` below pc, is an exported symbol
 * that ends before pc: then pc lies in a function no symbol names (glibc's static
 * __libc_start_call_main reads as the exported __libc_init_first+0x8a, one byte long), and
 * the name would mislead. (A static function named by .symtab is not exported: trusted.) */
static int past_symbol(uintptr_t pc, uintptr_t start, const char *name)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    return dladdr1((void *)start, &info, (void **)&sym, RTLD_DL_SYMENT) && sym &&
           info.dli_sname && strcmp(info.dli_sname, name) == 0 &&
           (uintptr_t)info.dli_saddr == start && sym->st_size > 0 && pc >= start + sym->st_size;
}

void callsite_name(uintptr_t pc, frame_name *out)
{
    memset(out, 0, sizeof *out);
    Dl_info info;
    struct link_map *map = NULL;
    if (dladdr1((void *)pc, &info, (void **)&map, RTLD_DL_LINKMAP) && map) {
        object_path(map->l_name, out->object, sizeof out->object);
        out->object_offset = pc - map->l_addr; /* load bias: what addr2line expects */
    }
    /* libunwind reads .symtab, which names static functions too; a cursor moved to `pc`
     * is enough for unw_get_proc_name. */
    unw_context_t context;
    unw_cursor_t cursor;
    unw_word_t off = 0;
    if (unw_getcontext(&context) == 0 && unw_init_local(&cursor, &context) == 0 &&
        unw_set_reg(&cursor, UNW_REG_IP, (unw_word_t)pc) == 0 &&
        unw_get_proc_name(&cursor, out->function, sizeof out->function, &off) == 0 &&
        !past_symbol(pc, pc - (uintptr_t)off, out->function)) {
        out->offset = (unsigned long)off + 1;
        return;
    }
    out->function[0] = '\0';
    if (map && info.dli_sname && info.dli_saddr &&
        !past_symbol(pc, (uintptr_t)info.dli_saddr, info.dli_sname)) {
        snprintf(out->function, sizeof out->function, "%s", info.dli_sname);
        out->offset = pc + 1 - (uintptr_t)info.dli_saddr;
    }
}

char *callsite_format(uintptr_t pc, char *buf, size_t size)
{
    frame_name f;
    callsite_name(pc, &f);
    const char *base = strrchr(f.object, '/');
    base = base ? base + 1 : f.object;
    if (f.function[0])
        snprintf(buf, size, "%s+0x%lx (%s)", f.function, f.offset, base);
    else
        snprintf(buf, size, "0x%lx (%s)", f.object_offset, base);
    return buf;
}

int callsite_program_ends(const frame_name *f)
{
    if (strcmp(f->function, "main") == 0)
        return 1;
    const char *base = strrchr(f->object, '/');
    base = base ? base + 1 : f->object;
    return !f->function[0] && strncmp(base, "libc.so", 7) == 0 ? 2 : 0;
}

int callsite_frame_matches(const char *name, const frame_name *f)
{
    const char *plus = NULL; /* the last "+0x": a file name may hold one */
    for (const char *p = strstr(name, "+0x"); p; p = strstr(p + 1, "+0x"))
        plus = p;
    if (!plus)
        return callsite_name_matches(name, f->function);
    const char *digits = plus + 3;
    if (!*digits || strspn(digits, "0123456789abcdefABCDEF") != strlen(digits))
        return 0;
    const char *base = strrchr(f->object, '/');
    base = base ? base + 1 : f->object;
    unsigned long long off = strtoull(digits, NULL, 16);
    return base[0] && (size_t)(plus - name) == strlen(base) &&
           strncmp(name, base, (size_t)(plus - name)) == 0 && off == f->object_offset;
}

int callsite_name_matches(const char *name, const char *symbol)
{
    size_t n = strlen(name), m = strlen(symbol);
    if (n == 0)
        return 0;
    return strcmp(name, symbol) == 0 ||
           (m == n + 1 && symbol[n] == '_' && strncmp(name, symbol, n) == 0);
}
