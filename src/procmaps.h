/* Reading this process's memory map (/proc/self/maps) without allocating. */
#ifndef MPISHM_PROCMAPS_H
#define MPISHM_PROCMAPS_H

#include <stdint.h>

/* 1 when [start, end) is covered, without a hole, by private writable mappings that are
 * not the main thread's stack; 0 otherwise (also when the map cannot be read). */
int procmaps_private_writable(uintptr_t start, uintptr_t end);

#endif
