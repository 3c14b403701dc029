#ifndef CFUZZ_DRIVER_H
#define CFUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (LLVMFuzzerRunDriver) on `callback`; -1 when the binary was not
/// linked with -sanitize=fuzzer.
int cfuzz_run_driver(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));
#endif
