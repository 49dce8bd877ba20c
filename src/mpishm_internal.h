/* Included first by every source file of the library: the public API without the weak
 * wrappers of the application's view, and the export attribute. */
#ifndef MPISHM_INTERNAL_H
#define MPISHM_INTERNAL_H

#define MPISHM_BUILDING 1
#include "mpishm.h"

/* The library is built with -fvisibility=hidden: only what is marked here is exported. */
#define MPISHM_EXPORT __attribute__((visibility("default")))

#endif
