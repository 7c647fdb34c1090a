#!/bin/bash
# Learning sweep on the synthetic benchmark (GPU machine): generate data, stand-in features, train variants.
set -u
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib; export LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
S=.gpu/seje; W=/tmp/w; mkdir -p $W
( time $S --log warn synth --out $W/synth ) 2>&1 | tail -3
$S --log warn features stand-in --root $W/synth --out $W/feat | tail -2
# fixture check of bf16 without warnings
$S features stand-in --root fixtures/recipe1m-mini --out $W/ffeat >/dev/null 2>&1
$S --log warn train --config paper/configs/fixture-mini.toml --run-dir $W/fx --device cuda --set data.features=\"$W/ffeat\" --set run.precision=\"bf16\" --no-progress 2>&1 | grep -c Warning
run() { name=$1; shift; timeout $T $S --log warn train --config paper/configs/synthetic.toml --run-dir $W/$name --device cuda --no-progress --set data.root=\"$W/synth\" --set data.features=\"$W/feat\" --set data.workers=14 --set run.threads=8 "$@" > $W/$name.log 2>&1; python3 - $W/$name/metrics.jsonl $name <<'PY'
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
print(sys.argv[2], " ".join(f"{r['epoch']}:{r['loss']['triplet']:.2f}/{r['val']['medr']:.0f}/{r['val']['r1']:.3f}" for r in rows), f"t/epoch {rows[-1]['train_seconds']:.1f}s")
PY
cp $W/$name/metrics.jsonl $OUT/$name.jsonl; }
T=${T:-100}





run ca1d --set optim.lr=1e-3 --set objective.category_image_weight=1.0 --set objective.category_recipe_weight=1.0
