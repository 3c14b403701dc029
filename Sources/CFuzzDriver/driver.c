#include "CFuzzDriver.h"

// Weak: only a -sanitize=fuzzer link provides it (SwiftPM names the executable's entry point
// itself, so libFuzzer's own main is not the one that runs).
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) __attribute__((weak));

int cfuzz_run_driver(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size)) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}
