/* examples/mm.c - the maskedmixer command-line tool. Commands arrive with the issues that
   build them (train, generate, tokenizer, ...); today it reports its version and build. */
#define MASKEDMIXER_IMPLEMENTATION
#include "../maskedmixer.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: mm <command> [options]\n"
            "\n"
            "maskedmixer %s - masked mixers (arXiv 2409.01482) in one C header.\n"
            "\n"
            "commands:\n"
            "  --version, version   print the version and how this binary was built\n"
            "  --help, help         print this help\n",
            MMIX_VERSION_STRING);
}

static void print_version(void) {
    printf("maskedmixer %s\n", MMIX_VERSION_STRING);
    printf("GEMM: %s\n", mmix_has_cblas() ? "cblas_sgemm (BLAS)"
                                         : "built-in (install libopenblas-openmp-dev and rebuild "
                                           "for the faster BLAS path)");
    printf("OpenMP: %s, %d thread(s)\n", mmix_has_openmp() ? "on" : "off", mmix_get_num_threads());
}

int main(int argc, char **argv) {
    const char *cmd;
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        print_version();
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    fprintf(stderr, "mm: unknown command '%s' (see 'mm --help')\n", cmd);
    return 2;
}
