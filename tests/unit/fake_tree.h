/* A temporary directory laid out as the kernel shows /proc and /sys, for the modules that
 * read them under a root prefix (headroom.c, numa.c). */
#ifndef UNIT_FAKE_TREE_H
#define UNIT_FAKE_TREE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char root[256]; /* the tree, made by fake_tree_make */

/* Make an empty tree named after `test`. */
static inline void fake_tree_make(const char *test)
{
    snprintf(root, sizeof root, "/tmp/%s.XXXXXX", test);
    cr_assert(mkdtemp(root), "cannot make %s", root);
}

/* Write `text` into the file `rel` of the tree, making its parent directories. */
static inline void put(const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) { /* parents */
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Remove the tree. */
static inline void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert(system(cmd) == 0);
}

#endif
