#define _GNU_SOURCE
#include <sys/socket.h>
#include "CSidecarSystem.h"

int csidecar_accept(int listener) {
    return accept4(listener, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
