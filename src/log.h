/* Messages: one prefix "libmpishm[rank]: ", formatted on the stack and written with write(2),
 * so that printing never calls anything the library intercepts and never allocates. */
#ifndef MPISHM_LOG_H
#define MPISHM_LOG_H

/* Set the rank shown in the prefix (-1 before MPI_Init: shown as "?"). */
void log_set_rank(int rank);

/* Verbosity in effect (the MPISHM_VERBOSE option, cached here for speed). */
extern int log_verbosity;

/* Print when the verbosity is at least `level`. Level 0 is for warnings users must see. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A warning, printed whatever the verbosity; each call site prints at most LOG_WARN_MAX times. */
#define LOG_WARN_MAX 5
#define log_warn(...)                                                                  \
    do {                                                                               \
        static int log_warned_;                                                        \
        if (__atomic_fetch_add(&log_warned_, 1, __ATOMIC_RELAXED) < LOG_WARN_MAX)      \
            log_msg(0, __VA_ARGS__);                                                   \
    } while (0)

#endif
