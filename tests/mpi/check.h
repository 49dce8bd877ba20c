/* What the MPI test programs share: the check that counts a failure and says where, and the
 * data pattern a broadcast carries.
 *
 * Convention: the program defines `static int rank, failures;` (rank in MPI_COMM_WORLD), and
 * ends with a non-zero exit status when any rank's `failures` is not 0. */
#ifndef MPISHM_TESTS_CHECK_H
#define MPISHM_TESTS_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* When cond is false: count a failure and print "FAIL rank R (file:line): " + the printf-style
 * message to stderr. The program goes on. */
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "FAIL rank %d (%s:%d): ", rank, __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

/* The content of byte i in round r: differs between rounds and positions. */
static inline unsigned char pattern_byte(size_t i, int round)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)round * 0xD1B54A32D192ED03ull;
    return (unsigned char)(x >> 56);
}

/* Fill p[0..n) with round r's pattern. */
static inline void pattern_fill(unsigned char *p, size_t n, int round)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern_byte(i, round);
}

#endif
