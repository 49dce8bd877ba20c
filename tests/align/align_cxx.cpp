// C++'s new, new[] and std::vector go through malloc: their large blocks start on a 2 MiB
// boundary under the library (a page boundary below 2 MiB), small ones do not move.
// Prints "align_cxx: passed" when every check passed.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

static int failures;

static void check(const void *p, std::uintptr_t unit, const char *what)
{
    if (reinterpret_cast<std::uintptr_t>(p) % unit != 0) {
        failures++;
        std::fprintf(stderr, "FAIL: %s at %p, not a multiple of %lu\n", what, p,
                     static_cast<unsigned long>(unit));
    }
}

struct Cell {
    double v[4];
};

int main()
{
    const std::size_t big = 8u << 20; // doubles: 64 MiB
    double *a = new double[big];
    check(a, 2u << 20, "new double[8 Mi]");
    std::vector<double> v(big, 1.0);
    check(v.data(), 2u << 20, "std::vector<double>(8 Mi)");
    auto cells = std::make_unique<Cell[]>(1u << 20); // 32 MiB, value-initialised
    check(cells.get(), 2u << 20, "std::make_unique<Cell[]>(1 Mi)");
    char *mid = new char[3u << 19]; // 1.5 MiB
    check(mid, 4096, "new char[1.5 MiB]");
    delete[] mid;
    delete[] a;
    if (failures == 0)
        std::printf("align_cxx: passed\n");
    return failures != 0;
}
