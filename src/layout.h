/* Where a buffer's bytes sit in a node segment, and which of its pages can be mapped.
 *
 * A segment holds the broadcast data starting at the buffer's own in-page offset, so that
 * segment page k lines up with the k-th page the buffer touches. Only pages lying entirely
 * inside the buffer are mapped from the segment; the partial first and last pages are
 * copied, since the bytes around the buffer belong to the application. */
#ifndef MPISHM_LAYOUT_H
#define MPISHM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct layout {
    size_t offset;       /* buf mod page: segment offset of buf[0] */
    size_t seg_size;     /* segment length, whole pages */
    uintptr_t map_start; /* first page boundary inside the buffer */
    size_t map_len;      /* length of the whole pages inside the buffer (0 if none) */
    size_t map_seg_off;  /* segment offset of map_start, a multiple of page */
    size_t head_len;     /* bytes of buf before map_start, copied */
    size_t tail_len;     /* bytes of buf after map_start + map_len, copied */
} layout;

/* Fill *l for the buffer [buf, buf+bytes) and a power-of-two page size. */
void layout_compute(layout *l, uintptr_t buf, size_t bytes, size_t page);

/* Place the buffer's data at `seg_offset` in its segment instead of at its in-page offset
 * (l as layout_compute filled it for buf): an offset congruent to buf modulo the page, e.g.
 * buf's group leader's address modulo the huge-page size, so that the leader's (and every
 * rank's at that address modulo 2 MiB) whole huge pages line up with the segment's. */
void layout_place(layout *l, uintptr_t buf, size_t seg_offset, size_t page);

/* For n ranks whose buffers start at offsets[0..n) modulo some multiple of the page size,
 * set leader[i] to the lowest j whose offset agrees with offsets[i] modulo `page`: ranks at
 * one in-page offset share one segment, made by that leader. */
void layout_groups(const size_t *offsets, int n, size_t page, int *leader);

/* Number of distinct groups in leader[0..n) as filled by layout_groups. */
int layout_group_count(const int *leader, int n);

#endif
