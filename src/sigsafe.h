/* Signal-safe messages and frame names: what a signal handler may print, in any thread, on a
 * small alternate signal stack. Lines carry the library's prefix "libmpishm[rank]: ", are
 * built by hand in a stack buffer and written with write(2); frames are walked with
 * libunwind from the signal's context and named from the objects' symbol tables, read with
 * open, pread and close. Nothing here allocates (sigsafe.c says why each call is safe).
 *
 * Before the handler can run, sigsafe_init (and sigsafe_objects_refresh whenever objects may
 * have been loaded) must be called outside it; every other function is async-signal-safe. */
#ifndef MPISHM_SIGSAFE_H
#define MPISHM_SIGSAFE_H

#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

/* For a handler's helpers that need large buffers: kept out of line, so that their frames do
 * not add up on the stack (an application's alternate signal stack may be only SIGSTKSZ). */
#define SIGSAFE_OUT_OF_LINE __attribute__((noinline))

/* Prepare for a signal handler: remember `rank` for the prefix (-1: shown as "?"), build the
 * objects table, and run the unwinder and write(2) once, so that the dynamic linker's lazy
 * binding (whose resolver needs more stack than a small alternate signal stack has) is done
 * before the handler needs them. Not signal-safe; must not overlap sigsafe_objects_refresh. */
void sigsafe_init(int rank);

/* Rebuild the table of loaded objects (their code, and where their symbol table sits in their
 * file) when an object was loaded or unloaded since the last time; a handler reading it
 * meanwhile sees the old or the new table, never a mix. Not signal-safe; calls must not
 * overlap each other or sigsafe_init (the caller holds a lock). */
void sigsafe_objects_refresh(void);

/* One message line, built on the caller's stack; text past the buffer is cut. */
typedef struct sigsafe_line {
    char buf[640];
    size_t n;
} sigsafe_line;

/* Start l with the prefix "libmpishm[rank]: " (async-signal-safe). */
void sigsafe_line_start(sigsafe_line *l);

/* Append a string, an unsigned number in `base` (10 or 16), or "0x" and v in hexadecimal to l
 * (async-signal-safe). */
void sigsafe_put_str(sigsafe_line *l, const char *s);
void sigsafe_put_num(sigsafe_line *l, unsigned long v, unsigned base);
void sigsafe_put_hex(sigsafe_line *l, unsigned long v);

/* End l with a newline and write it to stderr, retrying partial writes and EINTR; a failed
 * write is dropped (async-signal-safe). */
void sigsafe_line_emit(sigsafe_line *l);

/* Write "libmpishm[rank]: " + text as one line to stderr (async-signal-safe). */
void sigsafe_say(const char *text);

/* Print the interrupted thread's frames (uc: the handler's third argument), innermost first,
 * one line each: "  #1 main+0x2f (/path/app+0x1d4f)", the function when the object's file
 * names it and always the object and the address addr2line takes; an address outside every
 * object as a raw address. When the alternate signal stack is too small to unwind, prints
 * `no_room` and the faulting instruction alone. Async-signal-safe. */
void sigsafe_backtrace(ucontext_t *uc, const char *no_room);

/* The innermost frame of the interrupted thread outside the C library: the faulting
 * instruction, or when that is in the C library (memcpy, memset) the caller outside it, as an
 * address inside the call. Returns the faulting instruction when the stack is too small to
 * unwind or every frame is in the C library. Async-signal-safe. */
uintptr_t sigsafe_frame_outside_libc(ucontext_t *uc);

#endif
