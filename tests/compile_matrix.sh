#!/usr/bin/env bash
# tests/compile_matrix.sh - builds tests/compile_all.c with -Wall -Wextra -pedantic -Werror
# in every configuration the header promises, runs each build, and checks the linkage and
# allocator-hook rules. Each configuration is one check. Usage: compile_matrix.sh OUTDIR
set -u
out=${1:-build/matrix}
mkdir -p "$out"
warn="-Wall -Wextra -pedantic -Werror"
blas_cflags="-DMMIX_USE_CBLAS $(pkg-config --cflags openblas 2>/dev/null)"
blas_libs="$(pkg-config --libs openblas 2>/dev/null)"
have_blas=0; pkg-config --exists openblas 2>/dev/null && have_blas=1
passed=0; failed=0

# check NAME COMMAND...: the command must succeed.
check() {
    local name=$1; shift
    if "$@" >"$out/$name.log" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL compile matrix: $name"; sed 's/^/    /' "$out/$name.log" | head -20
    fi
}
# build_run NAME COMPILER FLAGS...: compile compile_all.c, then run it.
build_run() {
    local name=$1 compiler=$2; shift 2
    check "$name" bash -c "$compiler $warn -O1 -I. $* -o $out/$name && $out/$name"
}

for omp in "" "-fopenmp"; do
    for blas in 0 1; do
        [ "$blas" = 1 ] && [ "$have_blas" = 0 ] && continue
        tag="${omp:+omp}${omp:-noomp}-$([ $blas = 1 ] && echo blas || echo noblas)"
        bflags=""; blibs=""
        [ "$blas" = 1 ] && { bflags=$blas_cflags; blibs=$blas_libs; }
        build_run "gcc-c99-$tag" gcc "-std=c99 $omp $bflags tests/compile_all.c $blibs -lm"
        build_run "clang-c99-$tag" clang "-std=c99 $omp $bflags tests/compile_all.c $blibs -lm"
        build_run "gxx-cpp-$tag" g++ "$omp $bflags -x c++ tests/compile_all.c $blibs -lm"
    done
done
build_run "clangxx-cpp" clang++ "-x c++ tests/compile_all.c -lm"
# The pseudo-inverse through LAPACKE (mmix_pinv), where pkg-config finds it: C and C++.
if pkg-config --exists lapacke 2>/dev/null; then
    lapacke="-DMMIX_USE_LAPACKE $(pkg-config --cflags lapacke)"
    build_run "gcc-c99-lapacke" gcc "-std=c99 $lapacke tests/compile_all.c $(pkg-config --libs lapacke) -lm"
    build_run "clangxx-cpp-lapacke" clang++ "-x c++ $lapacke tests/compile_all.c $(pkg-config --libs lapacke) -lm"
fi
# The command-line tool is read as C99 by both compilers and as C++ (it builds with make mm).
check "gcc-c99-mm" gcc -std=c99 $warn -fopenmp -I. -fsyntax-only examples/mm.c
check "clang-c99-mm" clang -std=c99 $warn -I. -fsyntax-only examples/mm.c
check "gxx-cpp-mm" g++ -x c++ $warn -I. -fsyntax-only examples/mm.c
build_run "gcc-c99-static-two-tus" gcc "-std=c99 tests/static_a.c tests/static_b.c -lm"
build_run "gxx-cpp-static-two-tus" g++ "-x c++ tests/static_a.c tests/static_b.c -lm"
build_run "gcc-c99-allocator-hooks" gcc "-std=c99 tests/alloc_hooks.c -lm"
# A partial set of allocator hooks must be refused with our #error, not compile.
if gcc -std=c99 $warn -I. -fsyntax-only tests/alloc_partial.c >"$out/alloc_partial.log" 2>&1; then
    failed=$((failed + 1)); echo "FAIL compile matrix: a partial allocator override compiled"
elif grep -q "MMIX_MALLOC, MMIX_REALLOC and MMIX_FREE" "$out/alloc_partial.log"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL compile matrix: partial allocator override failed without our #error"
fi
echo "[compile_matrix] checks: $passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
