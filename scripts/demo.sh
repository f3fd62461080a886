#!/usr/bin/env bash
# The main job on embedded demo data, from a fresh machine: venv + install, synthetic tiles in the
# competition layout, a train / val / test split, SegFormer-B0 training on the CPU (~5 min on 2 cores;
# val picks the best checkpoint), evaluation on the untouched test tiles, folder prediction, and the
# comparison with two per-pixel colour baselines on the same test tiles.
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
DATA="$OUT/data"
ROOTS=("train_dataset.dataset_root=$DATA" "val_dataset.dataset_root=$DATA")
echo "== generating demo tiles"
"$PY" scripts/make_demo_data.py --out "$DATA"
"$PY" data_split.py 0.7 0.1 0.2 "$DATA/img_train" "$DATA/lab_train" --seed 0
echo "== training SegFormer-B0 ($ITERS iterations; VisualDL logs in $OUT/train)"
"$PY" train.py --config configs/demo.yml --save_dir "$OUT/train" --iters "$ITERS" --do_eval --use_vdl \
  --save_interval 100 --log_iters 20 --seed 0 --opts "${ROOTS[@]}"
echo "== evaluating the best checkpoint on the held-out test tiles"
"$PY" val.py --config configs/demo.yml --model_path "$OUT/train/best_model" --save_dir "$OUT/eval" \
  --opts "${ROOTS[@]}" val_dataset.val_path=test.txt
echo "== predicting $DATA/img_testA"
"$PY" predict.py --config configs/demo.yml --model_path "$OUT/train/best_model" --image_path "$DATA/img_testA" \
  --save_dir "$OUT/predict" --opts "${ROOTS[@]}"
echo "== SegFormer vs. colour baselines (exit status 1 if SegFormer does not beat both)"
"$PY" scripts/compare_baseline.py --config configs/demo.yml --metrics "$OUT/eval/metrics.json" \
  --dataset_root "$DATA" --eval_list test.txt --out "$OUT/comparison.json"
cat <<MSG

Outputs:
  checkpoints + VisualDL logs  $OUT/train   (visualdl --logdir $OUT/train)
  held-out metrics             $OUT/eval/metrics.json, $OUT/comparison.json
  predictions                  $OUT/predict/{label,pseudo_color,overlay}
MSG
