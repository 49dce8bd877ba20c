/* The next allocator and mmap family, looked up once it is safe (allocator.h). */
#define _GNU_SOURCE
#include "allocator.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
/* A sanitizer runtime's allocator, when its runtime is in the process: what serves before
 * dlsym may be called (glibc's would be handed blocks it does not own). */
extern void *__interceptor_malloc(size_t) __attribute__((weak));
extern void *__interceptor_calloc(size_t, size_t) __attribute__((weak));
extern void *__interceptor_realloc(void *, size_t) __attribute__((weak));
extern void __interceptor_free(void *) __attribute__((weak));
extern void *__interceptor_memalign(size_t, size_t) __attribute__((weak));
extern int __interceptor_posix_memalign(void **, size_t, size_t) __attribute__((weak));
extern void *__interceptor_aligned_alloc(size_t, size_t) __attribute__((weak));

int allocator_loaded;
static int resolved, glibc;
static __thread int resolving;

static int resolve(void);

/* glibc has no __libc_ form of these two: its memalign serves them. */
static int libc_posix_memalign(void **out, size_t alignment, size_t n)
{
    void *p = __libc_memalign(alignment, n);
    return p ? (*out = p, 0) : ENOMEM;
}
static void *libc_aligned_alloc(size_t alignment, size_t n) { return __libc_memalign(alignment, n); }

/* While dlsym runs (it may itself unmap), the system calls serve. */
static int sys_munmap(void *addr, size_t len) { return (int)syscall(SYS_munmap, addr, len); }
static void *sys_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *new_addr = va_arg(ap, void *);
    va_end(ap);
    return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

/* The stand-in for `fn` until the lookup: the next definition once it can be looked up, else
 * the sanitizer runtime's, else glibc's. */
#define STAND_IN(ret, fn, params, args, libc_fn)                                            \
    static ret early_##fn params                                                           \
    {                                                                                      \
        if (resolve())                                                                     \
            return NEXT(fn) args;                                                          \
        return __interceptor_##fn ? __interceptor_##fn args : libc_fn args;                \
    }
STAND_IN(void *, malloc, (size_t n), (n), __libc_malloc)
STAND_IN(void *, calloc, (size_t k, size_t n), (k, n), __libc_calloc)
STAND_IN(void *, realloc, (void *p, size_t n), (p, n), __libc_realloc)
STAND_IN(void, free, (void *p), (p), __libc_free)
STAND_IN(void *, memalign, (size_t a, size_t n), (a, n), __libc_memalign)
STAND_IN(int, posix_memalign, (void **o, size_t a, size_t n), (o, a, n), libc_posix_memalign)
STAND_IN(void *, aligned_alloc, (size_t a, size_t n), (a, n), libc_aligned_alloc)

static int early_munmap(void *addr, size_t len)
{
    return resolve() ? NEXT(munmap)(addr, len) : sys_munmap(addr, len);
}

static void *early_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *new_addr = va_arg(ap, void *);
    va_end(ap);
    return (resolve() ? NEXT(mremap) : sys_mremap)(old, old_len, new_len, flags, new_addr);
}

allocator_fns allocator_next = {early_malloc, early_calloc, early_realloc, early_free,
                                early_memalign, early_posix_memalign, early_aligned_alloc,
                                early_munmap, early_mremap};

int allocator_is_glibc(void) { return resolve() && glibc; }

static void *next_of(const char *name, void *fallback)
{
    void *f = dlsym(RTLD_NEXT, name);
    return f ? f : fallback;
}

#define SET(fn, value) __atomic_store_n(&allocator_next.fn, (__typeof__(allocator_next.fn))(value), \
                                        __ATOMIC_RELEASE)

/* Look the next definitions up, where it is safe: returns 1 when the table holds them. Under
 * a sanitizer runtime, not before this library's constructor: the runtime allocates while it
 * starts, before its dlsym works, and even a thread-local variable is not readable then (it
 * intercepts __tls_get_addr). Any other allocator (jemalloc, tcmalloc) is looked up at once:
 * the libraries initialised before this one free its blocks too. */
static int resolve(void)
{
    if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
        return 1;
    if ((!allocator_started() && __interceptor_free) || resolving)
        return 0; /* too early, or dlsym itself allocating: the stand-ins' fallbacks serve */
    resolving = 1;
    void *m = next_of("malloc", (void *)__libc_malloc);
    Dl_info info;
    const char *preload = getenv("LD_PRELOAD");
    /* (valgrind replaces glibc's allocator without changing its symbols: its preload says so) */
    glibc = dladdr(m, &info) && info.dli_fname && strstr(info.dli_fname, "/libc.so") &&
            !(preload && strstr(preload, "vgpreload"));
    SET(munmap, next_of("munmap", (void *)sys_munmap));
    SET(mremap, next_of("mremap", (void *)sys_mremap));
    SET(calloc, next_of("calloc", (void *)__libc_calloc));
    SET(realloc, next_of("realloc", (void *)__libc_realloc));
    SET(memalign, next_of("memalign", (void *)__libc_memalign));
    SET(posix_memalign, next_of("posix_memalign", (void *)libc_posix_memalign));
    SET(aligned_alloc, next_of("aligned_alloc", (void *)libc_aligned_alloc));
    SET(free, next_of("free", (void *)__libc_free));
    SET(malloc, m);
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
    resolving = 0;
    return 1;
}

/* Early (priority 101): the allocator's other users in this library start after it. */
__attribute__((constructor(101))) static void look_up_allocator(void)
{
    __atomic_store_n(&allocator_loaded, 1, __ATOMIC_RELEASE);
    resolve();
}
