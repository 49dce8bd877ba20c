/* libFuzzer target: random sequences of mark, unmark, lookup and free-style removal on the
 * registry of marked arrays (src/region.c), checked against a plain list of intervals. Each
 * operation takes 5 bytes: an opcode and two small numbers (address and length in units of
 * 16 bytes over a 64 KiB space), so that overlaps, neighbours and misses are frequent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpishm.h"
#include "region.h"

#define MAX 4096
static struct { uintptr_t base; size_t bytes; } model[MAX];
static size_t nmodel;

static int model_overlaps(uintptr_t b, size_t n)
{
    for (size_t i = 0; i < nmodel; i++)
        if (b < model[i].base + model[i].bytes && model[i].base < b + n)
            return 1;
    return 0;
}

static long model_containing(uintptr_t a, size_t n)
{
    for (size_t i = 0; i < nmodel; i++)
        if (model[i].base <= a && a + n <= model[i].base + model[i].bytes &&
            a < model[i].base + model[i].bytes) /* an empty range: the array holding a */
            return (long)i;
    return -1;
}

static void model_remove(size_t i) { model[i] = model[--nmodel]; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uintptr_t origin = 0x100000;
    region_clear();
    nmodel = 0;
    for (size_t k = 0; k + 5 <= size; k += 5) {
        uintptr_t a = origin + 16 * (uintptr_t)(data[k + 1] | data[k + 2] << 8) % 65536;
        size_t n = 16 * (size_t)(data[k + 3] | data[k + 4] << 8) % 8192;
        region r;
        switch (data[k] % 4) {
        case 0: { /* mark */
            int rc = region_add(a, n);
            int want = n == 0 ? MPISHM_EINVAL : model_overlaps(a, n) ? MPISHM_EOVERLAP : 0;
            if (rc != want)
                abort();
            if (rc == 0 && nmodel < MAX)
                model[nmodel].base = a, model[nmodel++].bytes = n;
            break;
        }
        case 1: { /* unmark by exact base */
            long i = -1;
            for (size_t j = 0; j < nmodel; j++)
                if (model[j].base == a)
                    i = (long)j;
            if ((region_remove(a, &r) == 0) != (i >= 0) || (i >= 0 && r.bytes != model[i].bytes))
                abort();
            if (i >= 0)
                model_remove((size_t)i);
            break;
        }
        case 2: { /* lookup */
            long i = model_containing(a, n);
            int found = region_find(a, n, &r);
            if (found != (i >= 0) || (found && (r.base != model[i].base || r.bytes != model[i].bytes)))
                abort();
            break;
        }
        case 3: { /* free of a block: every overlapping array goes */
            region taken[8];
            size_t got, total = 0;
            do {
                got = region_take_overlapping(a, n, taken, 8);
                for (size_t j = 0; j < got; j++) {
                    long i = -1;
                    for (size_t m = 0; m < nmodel; m++)
                        if (model[m].base == taken[j].base)
                            i = (long)m;
                    if (i < 0 || !(taken[j].base < a + n && a < taken[j].base + taken[j].bytes))
                        abort(); /* not marked, or not overlapping */
                    model_remove((size_t)i);
                }
                total += got;
            } while (got == 8);
            if (n && model_overlaps(a, n))
                abort(); /* one was left behind */
            break;
        }
        }
        if (region_count() != nmodel)
            abort();
    }
    return 0;
}
