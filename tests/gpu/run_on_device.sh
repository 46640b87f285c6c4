#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (python3 with cupy, torch, cmake, ninja,
# cython, scikit-build-core, pytest): build gconv with CUDA, run the CPU test
# suite against that build, the GPU tests, then the GPU benchmark at N=16.
# Logs go to $OUT (else build/device-logs). Budget: the step timeouts add up to
# 470 s (typically about half is used on 16 cores), so the whole run stays under
# 8 minutes and one stuck step cannot eat the others' time.
#
#   bash tests/gpu/run_on_device.sh            # from the repository root
#
# cython-cmake may be missing there: a wheel of it in .whl/ is installed first.
set -u
cd "$(dirname "$0")/../.."
LOGS="${OUT:-build/device-logs}"
mkdir -p "$LOGS"
START=$(date +%s)
declare -A RC

elapsed() { echo $(( $(date +%s) - START )); }

# step NAME TIMEOUT_S COMMAND...: runs with a timeout, logs, prints the tail.
step() {
    local name=$1 limit=$2
    shift 2
    echo "=== [$(elapsed)s] $name: $*"
    timeout --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
    RC[$name]=$?
    tail -n "${TAIL_LINES:-15}" "$LOGS/$name.log"
    echo "=== [$(elapsed)s] $name: exit ${RC[$name]}"
}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3
    python3 --version
    python3 -c "import cupy, torch; print('cupy', cupy.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1
    nproc
} | tee "$LOGS/machine.log"

if ! command -v nvcc > /dev/null; then
    for dir in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
        if [ -x "$dir/nvcc" ]; then export PATH="$dir:$PATH"; break; fi
    done
fi
nvcc --version | tail -n 2 | tee -a "$LOGS/machine.log"

if ls .whl/*.whl > /dev/null 2>&1; then
    step deps 30 python3 -m pip install --no-index --no-deps .whl/*.whl
fi

export CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
step build 180 python3 -m pip install --no-build-isolation --no-deps --no-index -v \
    -Ccmake.define.GCONV_CUDA=ON -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 \
    -Cbuild-dir=build/device .
if [ "${RC[build]}" -ne 0 ]; then
    TAIL_LINES=60 step build_errors 5 grep -n -i -B2 -A8 "error" "$LOGS/build.log"
    echo "build failed; logs in $LOGS"
    exit 1
fi
python3 -c "import gconv, json; print(json.dumps(gconv.build_info())); print('cuda available:', gconv.cuda.is_available(), gconv.cuda.runtime_version())" \
    2>&1 | tee -a "$LOGS/machine.log"

unset GCONV_MAX_ISA  # the CPU tests reach every ISA family the CPU has themselves
step cpu_tests 90 python3 -m pytest -q -x -p no:cacheprovider tests/python -k "not cli"
TAIL_LINES=40 step gpu_tests 100 python3 -m pytest -q -p no:cacheprovider --durations=5 tests/gpu
TAIL_LINES=40 step bench 70 python3 tests/gpu/bench_gpu.py --batch 16 --reps 11 --inner 5 --json "$LOGS/bench_gpu.json"

echo "=== summary after $(elapsed)s:"
status=0
for name in "${!RC[@]}"; do
    echo "  $name: exit ${RC[$name]}"
    [ "${RC[$name]}" -ne 0 ] && status=1
done
exit $status
