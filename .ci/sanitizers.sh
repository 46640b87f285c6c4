#!/usr/bin/env bash
# ASan + UBSan build of the extension, and a test subset run against it.
#
# Run from the repository root inside the venv .ci/run activates (it needs
# that venv's build tools: scikit-build-core, cython, cython-cmake, ninja,
# cmake). Builds into a temporary folder, never into the venv, and runs the
# tests with the sanitizer runtime preloaded (the Python interpreter itself
# is not instrumented). Leak detection is off: CPython keeps its own
# allocations alive until exit. Any ASan or UBSan report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# -O1: the sanitizers need no more, and the build is most of this step.
flags="-O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1"

# The scalar family and the widest one this CPU runs: a family the CPU
# cannot run would only add build time (a third of this step) to a check of
# the code that executes.
families=scalar
flags_of_cpu=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { for f in "$@"; do [[ " $flags_of_cpu " == *" $f "* ]] || return 1; done; }
if has avx512f avx512vl avx512bw avx512dq avx2 fma; then
    families="scalar;avx512"
elif has avx2 fma; then
    families="scalar;avx2"
fi

echo "=== sanitizer build, families $families (${SECONDS}s)"
python -m pip install --quiet --no-build-isolation --no-deps --target "$work/site" \
    -Cbuild-dir="$work/build" -Ccmake.build-type=Debug \
    -Ccmake.define.CMAKE_CXX_FLAGS="$flags" -Ccmake.define.CMAKE_C_FLAGS="$flags" \
    -Ccmake.define.CMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -Ccmake.define.GCONV_BUILD_TESTS=ON -Ccmake.define.GCONV_ISA_FAMILIES="$families" \
    -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
    -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" .

asan_lib=$(${CXX:-g++} -print-file-name=libasan.so)
ubsan_lib=$(${CXX:-g++} -print-file-name=libubsan.so)
if [ ! -e "$asan_lib" ]; then
    echo "libasan.so not found next to ${CXX:-g++}" >&2
    exit 1
fi
preload="$asan_lib"
[ -e "$ubsan_lib" ] && preload="$preload:$ubsan_lib"

echo "=== tests under ASan + UBSan (${SECONDS}s)"
# The sanitized build comes first on the path; check that it is the one imported.
export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
# allocator_may_return_null: the limits tests ask for impossible sizes and expect MemoryError.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export GCONV_HYPOTHESIS_PROFILE=ci
LD_PRELOAD="$preload" python -c "
import gconv, sys
assert gconv.__file__.startswith('$work/site'), gconv.__file__
print('sanitized gconv from', gconv.__file__, gconv.build_info()['isa_active'])
"
LD_PRELOAD="$preload" python -m pytest -q -p no:cacheprovider \
    -k "not cli and not bench and not torch and not huge_stride" \
    tests/python/test_guard_regions.py tests/python/test_limits.py tests/python/test_errors.py \
    tests/python/test_out.py tests/python/test_nonfinite.py tests/python/test_algorithms.py \
    tests/python/test_isa.py tests/python/test_concurrency.py tests/python/test_properties.py \
    tests/python/test_fuzz_arguments.py tests/python/test_plan.py tests/python/test_layouts.py \
    tests/python/test_grad.py tests/python/test_conv3d.py tests/python/test_transposed_depthwise.py \
    tests/python/test_transposed_grouped.py tests/python/test_conv3d_depthwise.py \
    tests/python/test_weight_grad_depthwise_nhwc.py

echo "=== C/C++ tests (ctest) under ASan + UBSan + LeakSanitizer (${SECONDS}s)"
# The same sanitized build's tests/cpp; leaks are reported here (no Python).
(cd "$work/build" && ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1" LD_PRELOAD= \
    ctest --output-on-failure -LE valgrind)
echo "=== 10,000 plan create/execute/destroy cycles under LeakSanitizer (${SECONDS}s)"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1" "$work/build/tests/cpp/leak_loop" 10000
echo "=== sanitizers clean (${SECONDS}s)"
