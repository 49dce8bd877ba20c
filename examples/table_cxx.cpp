// A C++ program with a read-only table in a std::vector: rank 0 fills it, MPI_Bcast sends it
// to every rank. The one line added for libmpishm marks the vector's storage; the program
// runs the same without the library.
//
//   mpiexec -n 4 ./table_cxx [MiB=64]
//
// Rank 0 prints the table's memory summed over the ranks of each node, in copies per node
// (1.00 when shared, one per rank otherwise), and whether every rank holds the right table.
#include <mpi.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "memstat.h"
#include "mpishm.h"

static double entry(std::size_t i) { return std::sqrt(static_cast<double>(i)) + 0.5; }

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 64;
    std::size_t n = mib * 1024 * 1024 / sizeof(double);
    if (n == 0 || n > static_cast<std::size_t>(INT_MAX)) { // one MPI_Bcast of doubles
        if (rank == 0)
            std::fprintf(stderr, "table_cxx: give 1 to %d MiB\n", INT_MAX / (1024 * 1024 / 8));
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    {
        std::vector<double> table(n);
        mpishm_mark_readonly(table.data(), table.size() * sizeof(double)); // the added line
        if (rank == 0)
            for (std::size_t i = 0; i < n; i++)
                table[i] = entry(i);
        MPI_Bcast(table.data(), static_cast<int>(n), MPI_DOUBLE, 0, MPI_COMM_WORLD);

        long long wrong = 0, wrong_sum = 0;
        for (std::size_t i = 0; i < n; i += 509)
            wrong += table[i] != entry(i);
        MPI_Barrier(MPI_COMM_WORLD); // every rank has mapped the table before anyone measures
        long long pss = memstat_range_pss(table.data(), n * sizeof(double)), pss_sum = 0;

        MPI_Comm node;
        int node_rank, leader, nodes;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
        MPI_Comm_rank(node, &node_rank);
        leader = node_rank == 0;
        MPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Reduce(&pss, &pss_sum, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
        MPI_Reduce(&wrong, &wrong_sum, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rank == 0)
            std::printf("table_cxx: %d ranks, %d node(s), %zu MiB table: %.2f copies per node, "
                        "data %s on every rank\n",
                        size, nodes, mib, static_cast<double>(pss_sum) / (n * sizeof(double)) / nodes,
                        wrong_sum ? "WRONG" : "right");
        MPI_Comm_free(&node);
        MPI_Barrier(MPI_COMM_WORLD); // no rank frees the table while another still measures
    }
    MPI_Finalize();
    return 0;
}
