#!/bin/bash
# Start Triton with the TensorRT-LLM backend: one MPI rank per GPU of this replica (leader mode).
#
# Environment (set by the chart): WORLD_SIZE, TP_SIZE, PP_SIZE, MODEL_REPOSITORY, TRTLLM_MODEL_NAME,
# GRPC_PORT, HTTP_PORT, METRICS_PORT. Extra tritonserver arguments come as this script's arguments.
# Rank 0 loads every model of the repository and serves the endpoints; the other ranks load only the
# TensorRT-LLM model, as the backend's own launch_triton_server.py does.
set -euo pipefail

fail() { echo "triton-launch: $*" >&2; exit 1; }

[[ "$WORLD_SIZE" -eq $((TP_SIZE * PP_SIZE)) ]] \
  || fail "world size $WORLD_SIZE is not tensorParallelSize $TP_SIZE x pipelineParallelSize $PP_SIZE"
[[ -d "$MODEL_REPOSITORY" ]] || fail "model repository $MODEL_REPOSITORY does not exist"

# The GPUs the device plugin gave this container must cover every rank.
if command -v nvidia-smi >/dev/null 2>&1; then
  gpus=$(nvidia-smi --list-gpus | wc -l)
  [[ "$gpus" -ge "$WORLD_SIZE" ]] || fail "$gpus GPU(s) visible, $WORLD_SIZE needed"
fi

# An engine built for another tp x pp fails late and obscurely; compare its mapping with ours first.
python3 - "$MODEL_REPOSITORY" "$TP_SIZE" "$PP_SIZE" <<'PY'
import json, pathlib, sys

repo, tp, pp = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for config in sorted(repo.glob("**/config.json")):
    try:
        mapping = json.loads(config.read_text()).get("pretrained_config", {}).get("mapping")
    except (OSError, ValueError, AttributeError):
        continue
    if not isinstance(mapping, dict):
        continue
    got = (int(mapping.get("tp_size", 1)), int(mapping.get("pp_size", 1)))
    if got != (tp, pp):
        sys.exit(f"triton-launch: engine {config.parent} was built for tp={got[0]} pp={got[1]}, "
                 f"but this replica runs tp={tp} pp={pp}")
PY

common=(
  "--model-repository=$MODEL_REPOSITORY"
  "--grpc-port=$GRPC_PORT" "--http-port=$HTTP_PORT" "--metrics-port=$METRICS_PORT"
  "--disable-auto-complete-config"
)

if [[ "$WORLD_SIZE" -eq 1 ]]; then
  exec tritonserver "${common[@]}" "--backend-config=python,shm-region-prefix-name=prefix0_" "$@"
fi

cmd=(mpirun -n 1 tritonserver "${common[@]}" "--backend-config=python,shm-region-prefix-name=prefix0_" "$@")
for ((rank = 1; rank < WORLD_SIZE; rank++)); do
  cmd+=(: -n 1 tritonserver "${common[@]}" "--backend-config=python,shm-region-prefix-name=prefix${rank}_"
        "--model-control-mode=explicit" "--load-model=$TRTLLM_MODEL_NAME")
done
exec "${cmd[@]}"
