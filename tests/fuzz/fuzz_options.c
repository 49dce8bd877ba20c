/* libFuzzer target: the option parser (src/options.c). Each input is split at its first
 * byte into an option (which of the table) and a value; the value is parsed as every type,
 * matched against every choice list, and loaded from the environment. Whatever the bytes,
 * parsing must not crash, and a loaded option must hold its default or a valid value. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    option_id id = (option_id)(data[0] % OPT_COUNT);
    char value[2048];
    size_t n = size - 1 < sizeof value - 1 ? size - 1 : sizeof value - 1;
    memcpy(value, data + 1, n);
    value[n] = '\0';
    long long v;
    for (int type = OPT_BOOL; type <= OPT_STRING; type++)
        if (option_parse((option_type)type, value, &v) == 0 && type == OPT_BOOL && v != 0 && v != 1)
            abort(); /* a boolean is 0 or 1 */
    for (int i = 0; i < OPT_COUNT; i++)
        if (options_table[i].choices) {
            int c = option_choice(options_table[i].choices, value);
            if (c < -1 || c > 8)
                abort();
        }
    option_closest(value);
    if (strlen(value) == n && !strchr(value, '=')) { /* representable in the environment */
        log_verbosity = -1; /* the warnings themselves are tested elsewhere */
        setenv(options_table[id].name, value, 1);
        options_load(0);
        const option_desc *d = &options_table[id];
        long long got = option_int(id);
        if ((d->type == OPT_BOOL && got != 0 && got != 1) || (d->type != OPT_STRING && got < 0) ||
            (d->choices && (got < 0 || option_choice(d->choices, value) >= 0 &&
                                           got != option_choice(d->choices, value))) ||
            strlen(option_str(id)) >= 1024)
            abort();
        unsetenv(d->name);
    }
    return 0;
}
