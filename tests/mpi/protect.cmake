# Strict mode (MPISHM_PROTECT): protect_check marks a 4 MiB table (in load_table), shares it
# with one broadcast, then makes one rank write into it (in overwrite_table) or fault
# elsewhere. Included from CMakeLists.txt, whose mpi_test() runs and judges each scenario.
add_executable(protect_check protect_check.c)
target_link_libraries(protect_check PRIVATE MPI::MPI_C)
target_include_directories(protect_check PRIVATE ${PROJECT_SOURCE_DIR}/include)

set(PC PROGRAM protect_check)
set(ARRAY "write into shared array 0x[0-9a-f]+ \\(4194304 bytes, marked at load_table\\+0x[0-9a-f]+ \\(protect_check\\)\\) at offset 1000000")
set(STOPS ": MPISHM_PROTECT=readonly stops this rank")
set(PRIVATE_NOW ": the page is now private \\(MPISHM_PROTECT=warn\\)")
# A backtrace frame: the function, then the object and the address addr2line takes.
set(FRAME0 ":   #0 overwrite_table\\+0x[0-9a-f]+ \\(/[^ ]*/protect_check\\+0x[0-9a-f]+\\)")
# Strict mode installed its handler. (KILLED and the PREV_ strings: CMakeLists.txt.)
set(OURS PROGRAM protect_check STDOUT "rank 0: SIGSEGV handler in libmpishm\\.so")

# An array that MPISHM_AUTO selected (not marked) says so, and where its broadcast was.
mpi_test(protect_warn_auto_selected RANKS 2 ${PC} ENV MPISHM_PROTECT=warn MPISHM_AUTO=1
         ARGS --unmarked --write-rank 1
         STDERR "libmpishm\\[1\\]: write into shared array 0x[0-9a-f]+ \\(4194304 bytes, selected by MPISHM_AUTO at [a-z_]+\\+0x[0-9a-f]+ \\(protect_check\\)\\) at offset 1000000${PRIVATE_NOW}")
# readonly: the writer stops with the array, the offset and its backtrace; it dies of SIGSEGV
# (through the handler MPI installed before: UCX's under MPICH, Open MPI's own).
mpi_test(protect_readonly_stops_writer RANKS 2 FAIL ${OURS} ${KILLED} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --write-rank 1
         STDERR "libmpishm\\[1\\]: ${ARRAY}${STOPS}" "libmpishm\\[1\\]${FRAME0}"
                "libmpishm\\[1\\]:   #1 [a-z_]+\\+0x[0-9a-f]+ \\(/[^ ]*/protect_check\\+0x"
         NOSTDERR "libmpishm\\[0\\]")
mpi_test(protect_readonly_cliques2_ranks4 RANKS 4 CLIQUES 2 FAIL ${PC} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --write-rank 3 ${KILLED}
         STDERR "libmpishm\\[3\\]: ${ARRAY}${STOPS}" "libmpishm\\[3\\]${FRAME0}")
mpi_test(protect_readonly_thread RANKS 2 FAIL ${PC} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --write-rank 1 --writer-thread
         STDERR "libmpishm\\[1\\]: ${ARRAY}${STOPS}" "libmpishm\\[1\\]${FRAME0}"
                "libmpishm\\[1\\]:   #[0-9]+ writer_thread\\+0x")
mpi_test(protect_readonly_memset RANKS 2 FAIL ${PC} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --write-rank 1 --memset
         STDERR "libmpishm\\[1\\]: ${ARRAY}${STOPS}"
                "libmpishm\\[1\\]:   #0 \\(/[^ ]*/libc\\.so\\.6\\+0x[0-9a-f]+\\)"
                "libmpishm\\[1\\]:   #1 overwrite_table\\+0x")
# Without MPI's handler the previous action is the default one: still death by SIGSEGV.
mpi_test(protect_readonly_default_action RANKS 2 FAIL ${OURS} ${KILLED} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ${NO_PREV_HANDLER} ARGS --write-rank 1
         STDERR "libmpishm\\[1\\]: ${ARRAY}${STOPS}" NOSTDERR "${PREV_CAUGHT_ANY}")
# Later broadcasts into the array (rank 0 unmarks, refills and marks it between them) share it
# again and it stays watched.
mpi_test(protect_readonly_rebroadcast RANKS 3 FAIL ${PC} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --rounds 3 --write-rank 2 STDOUT "round 2: shared"
         STDERR "libmpishm\\[2\\]: ${ARRAY}${STOPS}")
# A broadcast that falls back to MPI_Bcast writes into the formerly read-only pages.
mpi_test(protect_readonly_fallback RANKS 3 ${PC} ENV MPISHM_PROTECT=readonly
         MPISHM_FAULT=create:0@2 ARGS --rounds 3
         STDOUT "round 0: shared" "round 1: private" "round 2: shared" "all checks passed"
         NOSTDERR "write into shared array")

# warn: the page becomes the writer's, one line per array, the run goes on, the others keep
# their data.
mpi_test(protect_warn_goes_on RANKS 3 ${OURS} ENV MPISHM_PROTECT=warn
         ARGS --write-rank 1 --pages 3
         STDOUT "rank 1: sees its own write" "rank 0: data intact after rank 1's write"
                "rank 2: data intact after rank 1's write" "all checks passed"
         STDERR "libmpishm\\[1\\]: ${ARRAY}${PRIVATE_NOW}"
         NOSTDERR "libmpishm\\[[02]\\]" "at offset 100[48]" "stops this rank")
# The report counts pages per array and writer; a memset is named by its caller (here on a
# thread with a small alternate signal stack).
mpi_test(protect_warn_report RANKS 2 ${PC} ENV MPISHM_PROTECT=warn MPISHM_REPORT=stderr
         ARGS --write-rank 1 --pages 3 --memset --writer-thread STDOUT "all checks passed"
         STDERR "rank 1 wrote 3 page\\(s\\) of the array at 0x[0-9a-f]+ .* from offset 1000000: overwrite_table\\+0x[0-9a-f]+ \\(protect_check\\), marked at load_table")
mpi_test(protect_warn_thread RANKS 2 ${PC} ENV MPISHM_PROTECT=warn
         ARGS --write-rank 1 --writer-thread --pages 2
         STDOUT "rank 1: sees its own write" "rank 0: data intact after rank 1's write"
         STDERR "libmpishm\\[1\\]: ${ARRAY}${PRIVATE_NOW}")
mpi_test(protect_warn_cliques2_ranks4 RANKS 4 CLIQUES 2 ${PC} ENV MPISHM_PROTECT=warn
         ARGS --write-rank 2 STDOUT "rank 3: data intact after rank 2's write" "all checks passed"
         STDERR "libmpishm\\[2\\]: ${ARRAY}${PRIVATE_NOW}")
# MPI itself writing a small message into the array: UCX copies it in user space, caught.
mpi_test(protect_warn_mpi_recv RANKS 2 ${PC} ENV MPISHM_PROTECT=warn
         ARGS --write-rank 1 --recv-bytes 64 STDOUT "rank 1: received 64 bytes into the table"
         STDERR "libmpishm\\[1\\]: ${ARRAY}${PRIVATE_NOW}")
# A large message: MPICH hands it to UCX's CMA transport, which the kernel copies and cannot
# write into a read-only page, so UCX aborts instead of faulting (the known limit). Open MPI's
# shared-memory transport copies it in user space: caught like any write.
if(MPISHM_MPI STREQUAL "openmpi")
  mpi_test(protect_warn_mpi_recv_large RANKS 2 ${PC} ENV MPISHM_PROTECT=warn
           ARGS --write-rank 1 --recv-bytes 100000
           STDOUT "rank 1: received 100000 bytes into the table" "all checks passed"
           STDERR "libmpishm\\[1\\]: write into shared array .*${PRIVATE_NOW}")
else()
  mpi_test(protect_limit_mpi_recv_cma RANKS 2 FAIL ${PC} TIMEOUT 60 ENV MPISHM_PROTECT=warn
           ARGS --write-rank 1 --recv-bytes 100000 STDERR "process_vm_readv.*Bad address")
endif()
# More ranges than the table holds: the last array stays copy-on-write, unwatched.
mpi_test(protect_table_full RANKS 2 ${PC} ENV MPISHM_PROTECT=warn MPISHM_THRESHOLD=0
         ARGS --arrays 4097 STDOUT "all checks passed"
         STDERR "libmpishm\\[1\\]: MPISHM_PROTECT: more than 4096 shared ranges; the array at 0x[0-9a-f]+ stays copy-on-write"
                "libmpishm\\[1\\]: write into shared array 0x[0-9a-f]+ \\(12288 bytes, marked at many_arrays\\+0x[0-9a-f]+ \\(protect_check\\)\\) at offset 5000${PRIVATE_NOW}"
         NOSTDERR "at offset 6000")

# off (the default): no handler of ours, the write is silently private.
mpi_test(protect_off_default RANKS 2 ${PC} ARGS --write-rank 1
         STDOUT "rank 0: SIGSEGV handler in ${PREV_HANDLER}" "rank 1: sees its own write"
                "rank 0: data intact after rank 1's write" "all checks passed"
         NOSTDERR "libmpishm\\[[0-9]+\\]")
mpi_test(protect_disabled RANKS 2 ${PC} ENV MPISHM_PROTECT=readonly MPISHM_DISABLE=1
         ARGS --write-rank 1 STDOUT "rank 0: SIGSEGV handler in ${PREV_HANDLER}" "all checks passed")
mpi_test(protect_bad_value RANKS 2 ${PC} ENV MPISHM_PROTECT=strict ARGS --write-rank 1
         STDOUT "rank 0: SIGSEGV handler in ${PREV_HANDLER}" "all checks passed"
         STDERR "MPISHM_PROTECT=\"strict\" is not a valid value")

# UCX's libucs_signal.so, when preloaded, silently ignores sigaction() on SIGSEGV: the handler
# is installed through libc's own entry and still catches the write.
find_library(UCS_SIGNAL_LIBRARY ucs_signal)
if(UCS_SIGNAL_LIBRARY)
  mpi_test(protect_readonly_ucs_signal RANKS 2 FAIL ${OURS} TIMEOUT 60
           ENV "LD_PRELOAD=$<TARGET_FILE:mpishm> ${UCS_SIGNAL_LIBRARY}" MPISHM_PROTECT=readonly
           ARGS --write-rank 1 STDERR "libmpishm\\[1\\]: ${ARRAY}${STOPS}")
endif()

# Faults outside shared arrays reach the handler that was there before, untouched.
mpi_test(protect_app_handler_gets_fault RANKS 2 FAIL ${OURS} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --app-handler --fault-rank 1
         STDERR "protect_check\\[1\\]: application handler caught SIGSEGV at 0x10$"
         NOSTDERR "libmpishm\\[[0-9]+\\]")
mpi_test(protect_plain_handler_gets_fault RANKS 2 FAIL ${OURS} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --plain-handler --fault-rank 1
         STDERR "protect_check\\[1\\]: plain application handler caught SIGSEGV$"
         NOSTDERR "libmpishm\\[[0-9]+\\]")
mpi_test(protect_app_handler_readonly_page RANKS 2 FAIL ${OURS} TIMEOUT 60
         ENV MPISHM_PROTECT=warn ARGS --rounds 2 --app-handler --fault-rank 0 --fault-readonly
         STDERR "protect_check\\[0\\]: application handler caught SIGSEGV at 0x[0-9a-f]+$"
         NOSTDERR "libmpishm\\[[0-9]+\\]")
mpi_test(protect_app_handler_after_readonly_write RANKS 2 FAIL ${OURS} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --app-handler --write-rank 1
         STDERR "libmpishm\\[1\\]: ${ARRAY}${STOPS}"
                "protect_check\\[1\\]: application handler caught SIGSEGV at 0x[0-9a-f]+$")
mpi_test(protect_warn_app_handler RANKS 2 ${OURS} ENV MPISHM_PROTECT=warn
         ARGS --app-handler --write-rank 1 STDOUT "all checks passed"
         STDERR "libmpishm\\[1\\]: ${ARRAY}${PRIVATE_NOW}" NOSTDERR "application handler")
mpi_test(protect_fault_reaches_mpi_handler RANKS 2 FAIL ${OURS} ${KILLED} TIMEOUT 60
         ENV MPISHM_PROTECT=readonly ARGS --fault-rank 1
         STDERR "${PREV_CAUGHT}"
         NOSTDERR "libmpishm\\[[0-9]+\\]")
mpi_test(protect_fault_default_action RANKS 2 FAIL ${OURS} ${KILLED} TIMEOUT 60
         ENV MPISHM_PROTECT=warn ${NO_PREV_HANDLER} ARGS --fault-rank 1
         NOSTDERR "libmpishm\\[[0-9]+\\]" "${PREV_CAUGHT_ANY}")
