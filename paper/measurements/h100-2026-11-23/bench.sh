#!/bin/bash
# Throughput: ours vs the PyTorch reference on the same synthetic batch; memory by nvidia-smi polling.
set -u
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib; export LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
peak() { # run a command while polling GPU memory; print the peak in MiB
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 > /tmp/mem.txt & P=$!
  "$@"; kill $P; sort -n /tmp/mem.txt | tail -1 | sed 's/^/peak_gpu_memory_mib /'; }
I=${I:-20}
for prec in f32 bf16; do
  peak .gpu/seje --log warn bench step --config paper/configs/paper.toml --device cuda --set run.precision=\"$prec\" --warmup 5 --iterations $I --json | tee $OUT/seje_$prec.json
  peak python3 benches/reference/train_step.py --device cuda --batch 100 --crop 224 --precision $prec --cudnn-benchmark 0 --warmup 5 --iterations $I --json | tee $OUT/torch_$prec.json
done
peak python3 benches/reference/train_step.py --device cuda --batch 100 --crop 224 --precision f32 --cudnn-benchmark 0 --adam-foreach 0 --warmup 5 --iterations $I --json | tee $OUT/torch_f32_adam_single.json
