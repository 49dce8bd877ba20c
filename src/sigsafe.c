/* Signal-safe messages and frame names (see sigsafe.h).
 *
 * What a handler reaches here, and how:
 *  - the objects table (the code of every loaded object and where its symbol table sits in
 *    its file) is built outside the handler, under a seqlock the handler reads lock-free; the
 *    handler names a frame by reading the object's file with open, pread and close;
 *  - messages are formatted by hand into a stack buffer and written with write(2);
 *  - open, pread, close and write are plain system calls in glibc.
 * libunwind: the handler calls unw_init_local2 (with the signal's context, as its manual
 * advises for a sigaction handler), unw_step and unw_get_reg, which the manual declares
 * signal-safe for local unwinding. unw_get_proc_name is declared safe too, but 1.6.2 opens
 * /proc/self/maps, allocates, and mmaps the object's file, and UCX patches libc's mmap with
 * a hook that takes locks: it is not called here. */
#define _GNU_SOURCE
#include "sigsafe.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/lib-names.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY /* else libunwind's remote-unwinding symbols are referenced */
#include <libunwind.h>

static int my_rank = -1;

/* ---- Lines: "libmpishm[rank]: " + text, built by hand, written with write(2). */

void sigsafe_put_str(sigsafe_line *l, const char *s)
{
    while (*s && l->n < sizeof l->buf - 1)
        l->buf[l->n++] = *s++;
}

void sigsafe_put_num(sigsafe_line *l, unsigned long v, unsigned base)
{
    char digits[24];
    int k = 0;
    do {
        digits[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (k > 0 && l->n < sizeof l->buf - 1)
        l->buf[l->n++] = digits[--k];
}

void sigsafe_put_hex(sigsafe_line *l, unsigned long v)
{
    sigsafe_put_str(l, "0x");
    sigsafe_put_num(l, v, 16);
}

void sigsafe_line_start(sigsafe_line *l)
{
    l->n = 0;
    sigsafe_put_str(l, "libmpishm[");
    if (my_rank >= 0)
        sigsafe_put_num(l, (unsigned long)my_rank, 10);
    else
        sigsafe_put_str(l, "?");
    sigsafe_put_str(l, "]: ");
}

void sigsafe_line_emit(sigsafe_line *l)
{
    l->buf[l->n++] = '\n';
    for (size_t off = 0; off < l->n;) {
        ssize_t w = write(STDERR_FILENO, l->buf + off, l->n - off);
        if (w <= 0 && errno != EINTR)
            return;
        if (w > 0)
            off += (size_t)w;
    }
}

SIGSAFE_OUT_OF_LINE void sigsafe_say(const char *text)
{
    sigsafe_line l;
    sigsafe_line_start(&l);
    sigsafe_put_str(&l, text);
    sigsafe_line_emit(&l);
}

/* ---- Loaded objects: where their code is, and where their symbol table sits in the file. */

#define MAX_OBJECTS 128

typedef struct object {
    uintptr_t lo, hi; /* executable segments */
    uintptr_t bias;   /* load address: an address minus bias is what addr2line takes */
    off_t sym_off, str_off; /* .symtab (.dynsym when stripped) and its strings; 0: none */
    size_t sym_size, str_size;
    int is_libc;
    char path[256];
} object;

static struct {
    unsigned seq; /* seqlock: odd while the table is rewritten */
    int n;
    object o[MAX_OBJECTS];
    unsigned long long adds, subs; /* dl_iterate_phdr's counters when it was built */
} objects;
static object scratch[MAX_OBJECTS]; /* the next table, built by sigsafe_objects_refresh */
static int nscratch;

static int read_section(int fd, const Elf64_Ehdr *eh, unsigned i, Elf64_Shdr *sh)
{
    off_t at = (off_t)(eh->e_shoff + (size_t)i * sizeof *sh);
    return i < eh->e_shnum && pread(fd, sh, sizeof *sh, at) == (ssize_t)sizeof *sh;
}

/* Note where o's symbol table and its strings sit in its file (outside the handler):
 * .symtab, which names static functions too, or .dynsym in a stripped object. */
static void find_symbols(object *o)
{
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf64_Ehdr eh;
    int elf = pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
              !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
              eh.e_shentsize == sizeof(Elf64_Shdr);
    for (int pass = 0; elf && pass < 2 && !o->sym_size; pass++)
        for (unsigned i = 0; i < eh.e_shnum && !o->sym_size; i++) {
            Elf64_Shdr sh, strs;
            if (read_section(fd, &eh, i, &sh) && sh.sh_type == (pass ? SHT_DYNSYM : SHT_SYMTAB) &&
                sh.sh_entsize == sizeof(Elf64_Sym) && read_section(fd, &eh, sh.sh_link, &strs)) {
                o->sym_off = (off_t)sh.sh_offset, o->sym_size = sh.sh_size;
                o->str_off = (off_t)strs.sh_offset, o->str_size = strs.sh_size;
            }
        }
    close(fd);
}

static int add_object(struct dl_phdr_info *info, size_t size, void *unused)
{
    (void)size, (void)unused;
    if (nscratch == MAX_OBJECTS)
        return 1;
    object *o = &scratch[nscratch];
    memset(o, 0, sizeof *o);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            o->lo = o->lo && o->lo < lo ? o->lo : lo;
            o->hi = o->hi > hi ? o->hi : hi;
        }
    }
    const char *name = info->dlpi_name;
    if (!o->hi || (name[0] && strlen(name) >= sizeof o->path))
        return 0; /* no code, or a path too long to open: frames show as raw addresses */
    o->bias = info->dlpi_addr;
    if (name[0] == '\0') { /* the main program */
        ssize_t k = readlink("/proc/self/exe", o->path, sizeof o->path - 1);
        o->path[k > 0 ? k : 0] = '\0';
    } else {
        strcpy(o->path, name);
    }
    const char *base = strrchr(o->path, '/');
    o->is_libc = strcmp(base ? base + 1 : o->path, LIBC_SO) == 0;
    if (o->path[0] == '/')
        find_symbols(o);
    nscratch++;
    return 0;
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *out)
{
    unsigned long long *c = out;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        return 1;
    c[0] = info->dlpi_adds, c[1] = info->dlpi_subs;
    return 1;
}

void sigsafe_objects_refresh(void)
{
    unsigned long long c[2] = {~0ull, ~0ull};
    dl_iterate_phdr(read_counters, c);
    if (objects.n && c[0] == objects.adds && c[1] == objects.subs)
        return;
    nscratch = 0;
    dl_iterate_phdr(add_object, NULL);
    __atomic_store_n(&objects.seq, objects.seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(objects.o, scratch, (size_t)nscratch * sizeof scratch[0]);
    objects.n = nscratch;
    objects.adds = c[0], objects.subs = c[1];
    __atomic_store_n(&objects.seq, objects.seq + 1, __ATOMIC_RELEASE);
}

/* The object whose code holds pc, copied to *out (signal-safe). Returns 1 when found. */
static int object_of(uintptr_t pc, object *out)
{
    for (int tries = 0; tries < 64; tries++) {
        unsigned s = __atomic_load_n(&objects.seq, __ATOMIC_ACQUIRE);
        int found = 0;
        for (int i = 0; !(s & 1) && !found && i < objects.n && i < MAX_OBJECTS; i++)
            if (pc >= objects.o[i].lo && pc < objects.o[i].hi) {
                memcpy(out, &objects.o[i], sizeof *out);
                found = 1;
            }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(s & 1) && __atomic_load_n(&objects.seq, __ATOMIC_RELAXED) == s)
            return found;
    }
    return 0;
}

/* The function containing file address `addr` in o, read from its file (signal-safe: open,
 * pread, close). Returns 1 and fills name and *start when found. */
static int symbol_at(const object *o, uintptr_t addr, char *name, size_t size, uintptr_t *start)
{
    if (!o->sym_size)
        return 0;
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_Sym chunk[16], hit = {0};
    for (size_t off = 0; off < o->sym_size && !hit.st_size;) {
        size_t want = o->sym_size - off < sizeof chunk ? o->sym_size - off : sizeof chunk;
        ssize_t got = pread(fd, chunk, want, o->sym_off + (off_t)off);
        if (got < (ssize_t)sizeof chunk[0])
            break;
        for (size_t i = 0; i < (size_t)got / sizeof chunk[0]; i++)
            if (ELF64_ST_TYPE(chunk[i].st_info) == STT_FUNC && chunk[i].st_value <= addr &&
                addr - chunk[i].st_value < chunk[i].st_size)
                hit = chunk[i];
        off += (size_t)got;
    }
    ssize_t got = 0;
    if (hit.st_size && hit.st_name < o->str_size)
        got = pread(fd, name, size - 1, o->str_off + (off_t)hit.st_name);
    close(fd);
    name[got > 0 ? got : 0] = '\0';
    *start = hit.st_value;
    return name[0] != '\0';
}

/* ---- The interrupted thread's frames. */

static uintptr_t fault_pc(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

#define MAX_FRAMES 24

/* The interrupted thread's frames, innermost first: the faulting instruction, then each
 * caller's return address - 1 (inside the call). Unwinding starts from the signal's own
 * context (UNW_INIT_SIGNAL_FRAME): no copy of the registers and none of the handler's frames
 * to walk past, which keeps this within a small alternate signal stack. Returns how many
 * (at least 1). */
static SIGSAFE_OUT_OF_LINE int interrupted_frames(ucontext_t *uc, uintptr_t *pc, int max)
{
    unw_cursor_t cur;
    int n = 0;
    if (unw_init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0)
        while (n < max) {
            unw_word_t ip = 0;
            if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
                break;
            pc[n] = (uintptr_t)ip - (n > 0);
            n++;
            if (unw_step(&cur) <= 0)
                break;
        }
    if (n == 0)
        pc[n++] = fault_pc(uc);
    return n;
}

/* Stack left below this frame when the handler runs on the thread's alternate signal stack
 * (the kernel records it in the signal's context), SIZE_MAX on the thread's own stack.
 * libunwind needs about 2.5 KiB (measured) and naming a frame 1.6 KiB; an application may
 * give its threads only the traditional SIGSTKSZ of 8 KiB, of which the kernel's signal frame
 * takes almost 4 with AVX-512. */
#define UNWIND_ROOM 3072

static size_t stack_room(const ucontext_t *uc)
{
    char here;
    uintptr_t lo = (uintptr_t)uc->uc_stack.ss_sp, at = (uintptr_t)&here;
    if (uc->uc_stack.ss_size == 0 || at < lo || at >= lo + uc->uc_stack.ss_size)
        return SIZE_MAX;
    return at - lo;
}

SIGSAFE_OUT_OF_LINE uintptr_t sigsafe_frame_outside_libc(ucontext_t *uc)
{
    object o;
    uintptr_t pc[MAX_FRAMES];
    if (!object_of(fault_pc(uc), &o) || !o.is_libc || stack_room(uc) < UNWIND_ROOM)
        return fault_pc(uc);
    int n = interrupted_frames(uc, pc, MAX_FRAMES);
    for (int i = 0; i < n; i++)
        if (!object_of(pc[i], &o) || !o.is_libc)
            return pc[i];
    return pc[0];
}

/* "  #1 main+0x2f (/path/app+0x1d4f)": function when the file names it, and always the
 * object and file address, which addr2line -f -e /path/app 0x1d4f resolves. */
static SIGSAFE_OUT_OF_LINE void print_frame(int i, uintptr_t pc)
{
    sigsafe_line l;
    object o;
    char name[160];
    uintptr_t start = 0;
    sigsafe_line_start(&l);
    sigsafe_put_str(&l, "  #");
    sigsafe_put_num(&l, (unsigned long)i, 10);
    sigsafe_put_str(&l, " ");
    if (!object_of(pc, &o)) {
        sigsafe_put_hex(&l, pc);
    } else {
        uintptr_t addr = pc - o.bias;
        if (symbol_at(&o, addr, name, sizeof name, &start)) {
            sigsafe_put_str(&l, name);
            sigsafe_put_str(&l, "+");
            sigsafe_put_hex(&l, addr - start);
            sigsafe_put_str(&l, " ");
        }
        sigsafe_put_str(&l, "(");
        sigsafe_put_str(&l, o.path[0] ? o.path : "?");
        sigsafe_put_str(&l, "+");
        sigsafe_put_hex(&l, addr);
        sigsafe_put_str(&l, ")");
    }
    sigsafe_line_emit(&l);
}

void sigsafe_backtrace(ucontext_t *uc, const char *no_room)
{
    uintptr_t pc[MAX_FRAMES];
    int n = 1;
    pc[0] = fault_pc(uc);
    if (stack_room(uc) >= UNWIND_ROOM)
        n = interrupted_frames(uc, pc, MAX_FRAMES);
    else
        sigsafe_say(no_room);
    for (int i = 0; i < n; i++)
        print_frame(i, pc[i]);
}

/* ---- Setting up. */

/* Run, once, what a handler runs here: a function called for the first time goes through the
 * dynamic linker's lazy binding, whose resolver saves the whole vector state on the stack
 * (2.7 KiB with AVX-512), too much for a small alternate signal stack. */
static void warm_up(void)
{
    unw_context_t ctx;
    uintptr_t pc[MAX_FRAMES];
    if (unw_getcontext(&ctx) == 0) /* the frames found are not used */
        interrupted_frames((ucontext_t *)&ctx, pc, MAX_FRAMES);
    int saved = errno;
    write(STDERR_FILENO, "", 0);
    errno = saved;
}

void sigsafe_init(int rank)
{
    my_rank = rank;
    sigsafe_objects_refresh();
    warm_up();
}
