#!/bin/bash
# The GPU rows of the README's performance table (spec/benchmarks.md), for a lent GPU machine with
# PyTorch 2.11 installed and no Rust (spec/runtime.md): build `seje` on the project machine
# (`cargo build --release`), copy it to .gpu/seje, carry the working tree, then on the GPU machine
#
#   OUT=/some/dir bash benches/gpu.sh
#
# 1. Training-step throughput of the paper configuration (ResNeXt-101 32x8d, 224², batch 100, full
#    SEJE iteration) on one synthetic batch: `seje bench step` with the fused Adam update
#    (`optim.adam = "fused"`) and with the single-tensor one (the default, the earlier rows), against
#    the same architecture in PyTorch (benches/reference/train_step.py) with its foreach Adam (the
#    CUDA default) and its fused Adam, f32 and bf16, peak GPU memory by nvidia-smi polling (every
#    50 ms, CUDA context included, the same for both); the reference again with the single-tensor
#    Adam in f32.
# 2. Evaluation, 10 subsets × 10K pairs × both directions, 12,000 random 1024-d unit vectors, on the
#    GPU: `seje eval --device cuda` against benches/reference/eval_torch.py, both timed as whole
#    processes (start-up, CUDA initialisation, reading the .npy files included); eval_torch.py also
#    prints its warm compute time alone.
# 3. The bf16 profile: the reference's bf16 step under torch.profiler (CUDA time per operator and the
#    optimiser's share), and ours under nsys when the machine has it.
# 4. `seje train --device cuda`: one epoch of the synthetic benchmark's configuration on a small
#    generated set, to show the whole training loop runs on the GPU.
# Every result is a file in $OUT, written as soon as it is measured; the log is $OUT/gpu-log.txt.
set -u
SEJE=${SEJE:-.gpu/seje}
OUT=${OUT:?set OUT to the output directory}
I=${I:-20}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-log.txt") 2>&1
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
export LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)'
"$SEJE" info

peak() { # run a command while polling GPU memory; print the peak in MiB
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 > "$OUT/mem.txt" & P=$!
  "$@"; kill $P; sort -n "$OUT/mem.txt" | tail -1 | sed 's/^/peak_gpu_memory_mib /'; }
wall() { # run a command; print its wall-clock seconds
  local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
  python3 -c "print('wall_seconds', round($t1 - $t0, 3))"; }

echo "== 1. training step"
ours() { # precision, adam
  peak "$SEJE" --log warn bench step --config paper/configs/paper.toml --device cuda \
    --set run.precision=\"$1\" --set optim.adam=\"$2\" --warmup 5 --iterations "$I" --json \
    | tee "$OUT/seje_$1_adam_$2.json"; }
torch() { # precision, adam
  peak python3 benches/reference/train_step.py --device cuda --batch 100 --crop 224 \
    --precision "$1" --adam "$2" --cudnn-benchmark 0 --warmup 5 --iterations "$I" --json \
    | tee "$OUT/torch_$1_adam_$2.json"; }
for prec in f32 bf16; do
  ours $prec fused; torch $prec fused; torch $prec foreach; ours $prec single
done
torch f32 single

echo "== 2. evaluation on the GPU"
python3 - "$OUT" <<'EOF'
import sys, numpy as np
rng = np.random.default_rng(1234)
for name in ("image", "recipe"):
    x = rng.standard_normal((12000, 1024), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(f"{sys.argv[1]}/{name}.npy", x)
EOF
for run in 1 2; do
  wall "$SEJE" --log warn eval --image-emb "$OUT/image.npy" --recipe-emb "$OUT/recipe.npy" \
    --sizes 10000 --device cuda --json > "$OUT/seje_eval_$run.json"
  wall python3 benches/reference/eval_torch.py --image "$OUT/image.npy" --recipe "$OUT/recipe.npy" \
    --size 10000 --subsets 10 --device cuda | tee "$OUT/torch_eval_$run.json"
done
rm -f "$OUT/image.npy" "$OUT/recipe.npy"

echo "== 3. bf16 profile"
python3 benches/reference/train_step.py --device cuda --batch 100 --crop 224 --precision bf16 \
  --adam foreach --cudnn-benchmark 0 --warmup 5 --iterations 5 --profile "$OUT/torch_bf16_profile.txt" \
  > /dev/null
head -45 "$OUT/torch_bf16_profile.txt"
if command -v nsys > /dev/null; then
  nsys profile --stats=true --force-overwrite true -o "$OUT/seje_bf16" "$SEJE" --log warn bench step \
    --config paper/configs/paper.toml --device cuda --set run.precision=\"bf16\" \
    --set optim.adam=\"fused\" --warmup 5 --iterations 5 > "$OUT/seje_bf16_nsys.txt" 2>&1
  rm -f "$OUT"/seje_bf16.nsys-rep "$OUT"/seje_bf16.sqlite
  grep -A30 "cuda_gpu_kern_sum" "$OUT/seje_bf16_nsys.txt" | head -34
else
  echo "nsys: not on this machine; ours is profiled by the Adam rows of section 1 only"
fi

echo "== 4. seje train --device cuda"
"$SEJE" --log warn synth --recipes 2000 --out "$OUT/synth" > /dev/null
"$SEJE" --log warn features stand-in --root "$OUT/synth" --out "$OUT/features" > /dev/null
wall "$SEJE" --log info train --config paper/configs/synthetic.toml --run-dir "$OUT/train" \
  --device cuda --no-progress --set data.root=\"$OUT/synth\" --set data.features=\"$OUT/features\" \
  --set schedule.max_epochs=1
cp "$OUT/train/metrics.jsonl" "$OUT/train-metrics.jsonl"
rm -rf "$OUT/synth" "$OUT/features" "$OUT/train"
echo "== done"
