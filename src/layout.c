#include "layout.h"

void layout_compute(layout *l, uintptr_t buf, size_t bytes, size_t page)
{
    uintptr_t end = buf + bytes;
    uintptr_t first = (buf + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t last = end & ~(uintptr_t)(page - 1);
    l->offset = buf & (page - 1);
    l->seg_size = (l->offset + bytes + page - 1) & ~(page - 1);
    if (first < last) {
        l->map_start = first;
        l->map_len = last - first;
        l->head_len = first - buf;
        l->tail_len = end - last;
    } else { /* no whole page: everything is copied */
        l->map_start = buf;
        l->map_len = 0;
        l->head_len = bytes;
        l->tail_len = 0;
    }
    l->map_seg_off = l->offset + (l->map_start - buf);
}

void layout_place(layout *l, uintptr_t buf, size_t seg_offset, size_t page)
{
    l->offset = seg_offset;
    l->seg_size = (seg_offset + (l->head_len + l->map_len + l->tail_len) + page - 1) &
                  ~(page - 1);
    l->map_seg_off = seg_offset + (l->map_start - buf);
}

void layout_groups(const size_t *offsets, int n, size_t page, int *leader)
{
    for (int i = 0; i < n; i++) {
        leader[i] = i;
        for (int j = 0; j < i; j++)
            if (((offsets[j] ^ offsets[i]) & (page - 1)) == 0) {
                leader[i] = j;
                break;
            }
    }
}

int layout_group_count(const int *leader, int n)
{
    int groups = 0;
    for (int i = 0; i < n; i++)
        groups += leader[i] == i;
    return groups;
}
