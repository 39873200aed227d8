#!/usr/bin/env bash
# The GPU numbers of the cells in one call: tfseq vs keras.layers vs torch.nn, one
# forward+backward step of LSTM and GRU (and SimpleRNN) at B64 T100 D128 H256 and
# B256 T200 D512 H1024, unmasked and right-padded (lengths T down to T/2), under
# KERAS_BACKEND=torch and then jax, with the path each layer ran (fused = cuDNN, or loop).
#
# For a lent GPU machine with PyTorch, JAX and cuDNN but no TensorFlow. Keras is installed at
# the version pyproject.toml pins, from a wheel carried with the tree in .whl/ (here:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl "keras==3.15.1" "namex" "optree"
#     "ml-dtypes" "h5py" "rich" "absl-py" (the ones the machine lacks))
# and run there with .whl carried:  bash benchmarks/gpu.sh        (within 8 minutes)
# Here, without a GPU:              bash benchmarks/gpu.sh --cpu  (tiny shapes, smoke test)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=gpu
[ "${1:-}" = "--cpu" ] && mode=cpu
python=${PYTHON:-python3}
if [ "$mode" = gpu ]; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
    fi
    shapes=(--shapes small large --repeats 5)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
    shapes=(--shapes tiny --repeats 1)
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
"$python" -c "import importlib.metadata as m, sys; print('keras', m.version('keras'), 'python', sys.version.split()[0])"
for backend in torch jax; do
    if ! "$python" -c "import $backend" 2>/dev/null; then
        echo "== KERAS_BACKEND=$backend: $backend is not installed, skipped"
        continue
    fi
    echo "== KERAS_BACKEND=$backend"
    KERAS_BACKEND=$backend timeout 230 "$python" benchmarks/cells.py "${shapes[@]}" --masked --ms --paths \
        || echo "(KERAS_BACKEND=$backend stopped: exit $?)"
done
