#!/usr/bin/env bash
# Makes (once) a virtualenv holding the reference implementation, transformers 4.46.3 (the last
# release with ViTHybrid), and prints its python. It makes fixtures only; nothing runs on it.
#   py=$(scripts/reference-venv.sh) && "$py" tests/fixtures/make_model_fixtures.py
# transformers 4.46.3 needs huggingface_hub<1.0 (Gradio needs newer), hence its own environment;
# Pillow is the release requirements.txt pins, because some fixture inputs are resized by it.
set -euo pipefail
V="${REFERENCE_VENV:-$HOME/.cache/vit-hybrid-reference-venv}"
if [ ! -f "$V/.ready" ]; then
  rm -rf "$V"
  python3 -m venv "$V"
  "$V/bin/pip" install -q torch==2.13.0 "transformers==4.46.3" "huggingface_hub<1.0" safetensors \
      pillow==12.3.0 numpy >&2
  touch "$V/.ready"
fi
echo "$V/bin/python"
