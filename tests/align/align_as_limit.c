/* Under an address-space limit (ulimit -v) that leaves room for a 64 MiB block but not for
 * the 2 MiB of slack an aligned one takes, malloc still succeeds, as it would without the
 * library: the allocator's own block serves. Prints "align_as_limit: passed". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

int main(void)
{
    long vm = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &vm) == 1)
            break;
    if (f)
        fclose(f);
    struct rlimit as = {.rlim_cur = (rlim_t)vm * 1024 + (65 << 20),
                        .rlim_max = (rlim_t)vm * 1024 + (65 << 20)};
    if (vm <= 0 || setrlimit(RLIMIT_AS, &as) != 0) {
        printf("align_as_limit: no limit could be set\n");
        return 1;
    }
    char *p = malloc(64 << 20);
    if (!p) {
        printf("align_as_limit: a 64 MiB malloc failed with 65 MiB of address space left\n");
        return 1;
    }
    p[(64 << 20) - 1] = 1;
    free(p);
    printf("align_as_limit: passed\n");
    return 0;
}
