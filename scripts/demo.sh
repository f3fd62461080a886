#!/usr/bin/env bash
# The main job on embedded demo data, from a fresh machine: venv + install, synthetic tiles in the
# competition layout, split, SegFormer-B0 training on the CPU (~5 min on 2 cores), evaluation on
# the held-out split, folder prediction, and the comparison with a per-pixel colour baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
OUT="${OUT:-demo_output}"
ITERS="${ITERS:-400}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
echo "== installing into $VENV (first run: ~1-2 min)"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
PY="$VENV/bin/python"
echo "== generating demo tiles"
"$PY" scripts/make_demo_data.py --out "$OUT/data"
"$PY" data_split.py 0.8 0.2 0 "$OUT/data/img_train" "$OUT/data/lab_train" --seed 0
echo "== training SegFormer-B0 ($ITERS iterations; VisualDL logs in $OUT/train)"
"$PY" train.py --config configs/demo.yml --save_dir "$OUT/train" --iters "$ITERS" --do_eval --use_vdl \
  --save_interval 200 --log_iters 20 --seed 0 --opts "train_dataset.dataset_root=$OUT/data" "val_dataset.dataset_root=$OUT/data"
echo "== evaluating the best checkpoint on the held-out split"
"$PY" val.py --config configs/demo.yml --model_path "$OUT/train/best_model" --save_dir "$OUT/eval" \
  --opts "val_dataset.dataset_root=$OUT/data" "train_dataset.dataset_root=$OUT/data"
echo "== predicting $OUT/data/img_testA"
"$PY" predict.py --config configs/demo.yml --model_path "$OUT/train/best_model" --image_path "$OUT/data/img_testA" \
  --save_dir "$OUT/predict" --opts "val_dataset.dataset_root=$OUT/data" "train_dataset.dataset_root=$OUT/data"
echo "== SegFormer vs. colour baseline"
"$PY" scripts/compare_baseline.py --config configs/demo.yml --metrics "$OUT/eval/metrics.json" \
  --out "$OUT/comparison.json"
cat <<MSG

Outputs:
  checkpoints + VisualDL logs  $OUT/train   (visualdl --logdir $OUT/train)
  held-out metrics             $OUT/eval/metrics.json
  predictions                  $OUT/predict/{label,pseudo_color,overlay}
MSG
