// A shared table's life in C++: new[], mark, broadcast (shared), delete[]. Afterwards the
// mark is gone, no segment is mapped any more (the node's copy is freed), and memory
// allocated again behaves like any other: private writes, calloc-like zeroing by value-init.
// Rank 0 prints "lifetime_cxx: passed" when every check passed on every rank.
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "mpishm.h"

static int rank_, failures_;

static void check(bool ok, const char *what)
{
    if (!ok) {
        failures_++;
        std::fprintf(stderr, "FAIL rank %d: %s\n", rank_, what);
    }
}

// Mappings of a libmpishm segment in this process.
static int segment_mappings()
{
    std::ifstream maps("/proc/self/maps");
    int n = 0;
    for (std::string line; std::getline(maps, line);)
        n += line.find("memfd:libmpishm") != std::string::npos;
    return n;
}

// The node's shared memory (memfd and tmpfs pages), from /proc/meminfo, in bytes.
static long long node_shmem()
{
    std::ifstream info("/proc/meminfo");
    for (std::string line; std::getline(info, line);)
        if (line.rfind("Shmem:", 0) == 0)
            return std::stoll(line.substr(6)) * 1024;
    return -1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    const size_t n = 1 << 20; // 8 MiB of doubles
    MPI_Barrier(MPI_COMM_WORLD);
    const long long shmem_before = node_shmem();
    double *table = new double[n];
    check(mpishm_mark_readonly(table, n * sizeof *table) == 0, "mark");
    if (rank_ == 0)
        for (size_t i = 0; i < n; i++)
            table[i] = 0.5 * double(i);
    MPI_Bcast(table, int(n), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    mpishm_info info;
    check(mpishm_query(table, &info) == 0 && info.shared, "the table is shared");
    check(table[n - 1] == 0.5 * double(n - 1), "the data arrived");
    check(segment_mappings() == 1, "one segment mapping while shared");
    MPI_Barrier(MPI_COMM_WORLD);
    const long long shmem_shared = node_shmem();
    const volatile uintptr_t where = reinterpret_cast<uintptr_t>(table); // only the address
    delete[] table;
    check(mpishm_query(reinterpret_cast<const void *>(where), &info) == 0 && info.base == nullptr,
          "no mark after delete[]");
    check(segment_mappings() == 0, "no segment mapping after delete[]: the node's copy is freed");
    MPI_Barrier(MPI_COMM_WORLD); // every rank has deleted it: the node's memory goes down
    const long long shmem_after = node_shmem();
    const long long copy = (long long)(n * sizeof(double)) * 9 / 10;
    if (rank_ == 0)
        std::printf("lifetime_cxx: node shared memory %lld MiB, %lld MiB while shared, %lld MiB "
                    "after delete[]\n", shmem_before >> 20, shmem_shared >> 20, shmem_after >> 20);
    check(shmem_shared - shmem_before >= copy, "the node's copy shows in its shared memory");
    check(shmem_shared - shmem_after >= copy, "and leaves it after delete[]");
    double *again = new double[n](); // value-initialised: zeros, wherever it lands
    bool zeros = true;
    for (size_t i = 0; i < n; i += 511)
        zeros = zeros && again[i] == 0.0;
    check(zeros, "new memory reads zeros");
    for (size_t i = 0; i < n; i++)
        again[i] = double(rank_ + 1);
    MPI_Barrier(MPI_COMM_WORLD);
    check(again[n / 2] == double(rank_ + 1), "writes stay private");
    delete[] again;
    int total = 0;
    MPI_Allreduce(&failures_, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank_ == 0)
        std::printf("lifetime_cxx: %s\n", total ? "FAILED" : "passed");
    MPI_Finalize();
    return total != 0;
}
