# A Spack recipe for libmpishm: `spack repo add packaging/spack` from a clone, then
# `spack install libmpishm mpi=mpich` (or mpi=openmpi: one build per MPI ABI). The project
# has no public address yet: point `git` at your clone (or use `spack dev-build` in it).
from spack.package import *


class Libmpishm(CMakePackage):
    """One node-shared copy of every read-only array that MPI_Bcast fills: an MPI profiling
    (PMPI) library loaded under an unchanged application with LD_PRELOAD."""

    homepage = "file:///path/to/libmpishm"   # the clone this recipe comes from
    git = "file:///path/to/libmpishm"

    version("main", branch="main")

    variant("mpi", default="mpich", values=("mpich", "openmpi"), multi=False,
            description="The MPI the library is built for (their ABIs differ: one build each)")
    variant("fortran", default=True, description="Build the Fortran module (use mpishm)")
    variant("tests", default=False, description="Build the test programs (Criterion, ctest)")

    depends_on("c", type="build")
    depends_on("fortran", type="build", when="+fortran")
    depends_on("cmake@3.18:", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("mpich", when="mpi=mpich")
    depends_on("openmpi", when="mpi=openmpi")
    # call sites (the report, MPISHM_SITES) and strict mode's backtraces; required
    depends_on("libunwind")
    depends_on("criterion", type="build", when="+tests")

    def cmake_args(self):
        mpi = self.spec[self.spec.variants["mpi"].value]
        args = [
            self.define("MPISHM_MPI", self.spec.variants["mpi"].value),
            self.define("MPI_C_COMPILER", mpi.prefix.bin.mpicc),
            self.define("MPIEXEC_EXECUTABLE", mpi.prefix.bin.mpiexec),
            self.define("BUILD_TESTING", self.spec.satisfies("+tests")),
            self.define("MPISHM_UNIT_TESTS", self.spec.satisfies("+tests")),
        ]
        if self.spec.satisfies("+fortran"):
            args.append(self.define("MPI_Fortran_COMPILER", mpi.prefix.bin.mpif90))
        else:
            args.append(self.define("CMAKE_DISABLE_FIND_PACKAGE_MPI_Fortran", True))
        return args

    def setup_run_environment(self, env):
        env.set("MPISHM_LIB", join_path(self.prefix.lib, "libmpishm.so"))
        env.prepend_path("PYTHONPATH", join_path(self.prefix.lib, "python3", "dist-packages"))
