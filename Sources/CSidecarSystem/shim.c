#define _GNU_SOURCE
#include <sys/socket.h>
#include "CSidecarSystem.h"

int csidecar_accept(int listener) {
    return accept4(listener, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <limits.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#include <malloc.h>

void csidecar_fix_mmap_threshold(int bytes) {
    // A fixed threshold turns off glibc's dynamic one, which rises to the largest block freed
    // (up to 32 MiB) and then keeps such blocks in the heap: after one burst of large fan-out
    // aggregates the process would hold their memory for good. Fixed, each block from it up is
    // its own mapping and goes back to the system when freed; smaller ones (a node's answer,
    // most aggregates) are reused from the heap without a page fault each time.
    mallopt(M_MMAP_THRESHOLD, bytes);
}

int csidecar_trim_startup_pages(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return -1;
    char line[PATH_MAX + 256];
    int trimmed = 0;
    while (fgets(line, sizeof(line), maps)) {
        unsigned long start, end;
        char perms[5], path[PATH_MAX];
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %4095s", &start, &end, perms, path) < 3) continue;
        /* Our executable and the shared libraries: read-only file pages only. Pages other
           processes also map are left alone by the kernel. */
        if (path[0] != '/' || perms[1] == 'w' || (strcmp(path, exe) != 0 && strstr(path, ".so") == 0)) continue;
        madvise((void *)start, end - start, MADV_RANDOM);
        if (madvise((void *)start, end - start, MADV_PAGEOUT) == 0) trimmed++;
        /* PAGEOUT leaves alone the pages another process also maps (a second sidecar from the
           same binary, any process using the same libcurl): for code, drop our mappings of them
           too. Code pages are never written (no copy-on-write copy to lose), so the next use
           maps the page cache's copy again with a minor fault. Read-only data is not dropped:
           its relocated (RELRO) pages are private copies. */
        if (perms[2] == 'x') madvise((void *)start, end - start, MADV_DONTNEED);
    }
    fclose(maps);
    return trimmed;
}
