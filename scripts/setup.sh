#!/usr/bin/env bash
# Install everything songlens needs on a fresh Debian/Ubuntu machine with Python 3.11:
#  - system packages: ffmpeg (decoding m4a/aac and odd mp3s through audioread), the demo
#    catalog (real band recordings from Debian's Frets on Fire song packs), chromium and
#    fonts-noto-cjk (the web app's browser tests);
#  - a virtualenv in .venv with torch 2.13.0 (CPU build), the musicnn weights, songlens itself.
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
# the web app's browser tests: Debian's chromium, driven by Python playwright (nothing downloaded
# at run time), and CJK fonts so the pages' Chinese renders in their screenshots
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
[ -d /usr/share/games/fretsonfire/data/songs/muldjord ] || need+=(fretsonfire-songs-muldjord)
[ -d /usr/share/games/fretsonfire/data/songs/sectoid ] || need+=(fretsonfire-songs-sectoid)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need[*]}"
  if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then :; else
    echo "setup: WARNING: could not install ${need[*]} (m4a decoding, the demo catalog and the browser tests need them)" >&2
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi

stamp=.venv/.songlens-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: installing Python packages (first run takes a few minutes)"
.venv/bin/python -m pip install -q --upgrade pip
# torch first and exactly 2.13.0: the CPU build (any other version pulls a multi-GB CUDA build)
.venv/bin/python -m pip install -q "torch==2.13.0"
# musicnn is only the carrier of the trained MSD/MTT weights; its declared requirements
# (TensorFlow 1.x, numpy<1.17) cannot install on Python 3.11, and songlens never imports its code
.venv/bin/python -m pip install -q --no-deps "musicnn==0.1.0"
.venv/bin/python -m pip install -q -e ".[test]"
echo "$want" > "$stamp"
echo "setup: done"
