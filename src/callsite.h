/* Call sites: where the application called MPI_Bcast (or marked an array) from. Captured as
 * raw addresses on the hot path, named only when a report or a selection needs the names. */
#ifndef MPISHM_CALLSITE_H
#define MPISHM_CALLSITE_H

#include <stddef.h>
#include <stdint.h>

/* Frames kept per stack, counted from the application's call (frames inside libmpishm and
 * inside MPI's own libraries are dropped first). */
#define CALLSITE_DEPTH 16

typedef struct callstack {
    int n;
    uintptr_t pc[CALLSITE_DEPTH]; /* return address - 1: inside the call instruction */
} callstack;

/* Find the code of libmpishm and of MPI's libraries (every object named libmpi*: libmpishm,
 * MPICH's libmpi and libmpifort, Open MPI's libmpi and Fortran bindings), whose frames capture
 * drops. Done once, by the first capture or at MPI_Init, whichever comes first. */
void callsite_init(void);

/* The calling thread's stack, the library's and MPI's frames dropped: s->pc[0] is the
 * application's call into MPI (or into libmpishm). Never fails: s->n may be 0. */
void callsite_capture(callstack *s);

/* A frame's name: function (from the symbol table, static functions included, "" when
 * unknown) and the return address's offset in it; the object's path and the address's
 * offset from the object's load address (what addr2line takes). */
typedef struct frame_name {
    char function[256];
    unsigned long offset;
    char object[512];
    unsigned long object_offset;
} frame_name;

/* Name `pc` (as captured). Not for the hot path or a signal handler. */
void callsite_name(uintptr_t pc, frame_name *out);

/* "function+0x4f (object basename)" into buf; returns buf. */
char *callsite_format(uintptr_t pc, char *buf, size_t size);

/* Does `name` (as the report prints it) designate `symbol`? Equal, or equal but for the
 * trailing underscore Fortran compilers append. */
int callsite_name_matches(const char *name, const char *symbol);

/* Whether frame f lies beyond the program: its `main` (the frame itself belongs to it, the
 * next ones do not: 1), or code of the C library that no symbol names, its start-up (this
 * frame no longer: 2, as in a program without symbols, whose main has no name). 0 else. */
int callsite_program_ends(const frame_name *f);

/* Does `name` designate frame f? A function's name (callsite_name_matches), or, for the
 * frames of a program without symbols, its object's file name and the frame's offset in it
 * as the report gives them: "app+0x2068" (the object_offset, in hexadecimal). */
int callsite_frame_matches(const char *name, const frame_name *f);

#endif
