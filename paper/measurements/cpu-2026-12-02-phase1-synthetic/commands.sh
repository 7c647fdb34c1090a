set -x
cd REPO
S=./target/release/seje
M=WORK
rm -rf $M; mkdir -p $M
date; uptime; git rev-parse HEAD; git status --porcelain --untracked-files=no | wc -l
# categoriser on the generated 42-class set (spec/phase1-categoriser-training.md)
time $S synth --out $M/f101x --food101 $M/f101 --recipes 200 --image-size 64 --food101-train 100 --food101-test 25
time $S features categoriser --food101 $M/f101 --out $M/ctrel --arch tiny --image-size 64 --crop 56 --epochs 10 --batch 32 --lr 0.05 --threads 2
# Phase I on the 10,000-recipe benchmark (paper/measurements/cpu-2026-11-23-phase1-synthetic)
time $S features text --root runs/synth --out $M/text-synth
time $S features sentences --root runs/synth --w2v $M/text-synth/vocab.bin --out $M/synth-text --hidden 256 --epochs 3 --threads 1
cp $M/text-synth/term.safetensors $M/synth-text/
mkdir -p $M/synth-full; cp $M/text-synth/term.safetensors $M/synth-text/sentences.safetensors $M/synth-full/
time $S features categories --root runs/synth --categoriser $M/ctrel --w2v $M/text-synth/vocab.bin --food101 $M/f101 --out $M/synth-full
$S features stand-in --root runs/synth --out $M/standin
cp $M/standin/categories.safetensors $M/synth-text/
C=$(python3 -c "import json;print(json.load(open('$M/synth-full/labels.json'))['num_classes'])")
echo classes $C
time $S train --no-progress --config paper/configs/synthetic.toml --run-dir $M/phase2-full --set data.features=\"$M/synth-full\" --set model.sentence=256 --set model.classes=$C
time $S train --no-progress --config paper/configs/synthetic.toml --run-dir $M/phase2-text --set data.features=\"$M/synth-text\" --set model.sentence=256
time $S train --no-progress --config paper/configs/synthetic.toml --run-dir $M/phase2-nocat --set data.features=\"$M/synth-full\" --set model.sentence=256 --set model.classes=$C --set model.use_category_feature=false --set objective.category_image_weight=0.0 --set objective.category_recipe_weight=0.0
uptime; date
