#!/usr/bin/env bash
# Build the desktop bundle and run the whole loop with it, as a new user would.
#
#   packaging/smoke.sh [--cpu] [--fresh] [--no-build | --build-only] [--archive] [--work DIR]
#
#   --cpu        the cpu flavour (GPU-only CUDA libraries left out, GPU hidden); default: cuda
#   --fresh      recreate the build venv (default: reuse WORK/venv, reinstalling the project)
#   --no-build   test the bundle already in WORK/dist (after a build of the same flavour)
#   --build-only build, print the size, test nothing
#   --archive    also pack the bundle as WORK/rnxstudio[-cpu]-VERSION-linux-ARCH.tar.gz (the
#                download; its size is printed)
#   --work DIR   scratch folder OUTSIDE the repository (venv ~5.5 GB, bundle 2-5 GB each);
#                default $RNXSTUDIO_SMOKE_DIR or ~/.cache/rnxstudio-smoke
#
# Environment: RNXSTUDIO_SMOKE_TORCH (pip requirements for torch, default "torch torchvision"),
# RNXSTUDIO_SMOKE_INDEX (an index URL for them, e.g. https://download.pytorch.org/whl/cpu for a
# CPU-only torch; gets its own venv).
#
# Then, in a clean environment (env -i, a new HOME and RNXSTUDIO_HOME, no network where
# `unshare -n` works): --version, `demo`, `predict` with the tiny model (results checked against
# the demo's COCO file), `train` for 4 steps (its evaluation runs pycocotools), `predict` and
# `eval` with the new checkpoint, `predict` on the demo video, the bundle's libraries exercised
# (packaging/smoke_bundle.py), `--demo` under Xvfb (time to first window, screenshot), the
# desktop entry installed into a scratch prefix and launched on the demo project, and a
# pre-label through the GUI's own actions (packaging/smoke_gui.py run by the bundle).
# Needs: python3 >= 3.10, Xvfb, xwininfo (x11-utils), import (imagemagick), readelf (binutils).
# Not part of CI (too big); run it before every change to packaging/. Exit 0 = PASS.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLAVOUR=cuda FRESH=0 BUILD=1 TEST=1 ARCHIVE=0
WORK="${RNXSTUDIO_SMOKE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rnxstudio-smoke}"
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) FLAVOUR=cpu ;;
    --fresh) FRESH=1 ;;
    --no-build) BUILD=0 ;;
    --build-only) TEST=0 ;;
    --archive) ARCHIVE=1 ;;
    --work) WORK="$2"; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "smoke.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$WORK"; WORK="$(cd "$WORK" && pwd)"
case "$WORK/" in "$REPO"/*) echo "smoke.sh: --work $WORK is inside the repository" >&2; exit 2 ;; esac

NAME=rnxstudio; [ "$FLAVOUR" = cpu ] && NAME=rnxstudio-cpu
VENV="$WORK/venv${RNXSTUDIO_SMOKE_INDEX:+-index}"
DIST="$WORK/dist/$NAME"
OUT="$WORK/out-$FLAVOUR"
T_START=$(date +%s)

step() { printf '\n== %s\n' "$*"; }
fail() { echo "SMOKE FAIL ($FLAVOUR): $*" >&2; exit 1; }
secs() { echo "$(( $(date +%s) - $1 )) s"; }
for tool in python3 Xvfb xwininfo import; do
  command -v "$tool" >/dev/null || fail "$tool not found (Debian: xvfb x11-utils imagemagick; packaging/README.md)"
done

if [ "$BUILD" = 1 ]; then
  step "build venv $VENV"
  [ "$FRESH" = 1 ] && rm -rf "$VENV"
  if [ ! -x "$VENV/bin/pyinstaller" ]; then
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086  # RNXSTUDIO_SMOKE_TORCH is a list of requirements
    "$VENV/bin/pip" install -q ${RNXSTUDIO_SMOKE_INDEX:+--index-url "$RNXSTUDIO_SMOKE_INDEX"} \
      ${RNXSTUDIO_SMOKE_TORCH:-torch torchvision}
    "$VENV/bin/pip" install -q pyinstaller
  fi
  "$VENV/bin/pip" install -q "$REPO"                                  # dependencies
  "$VENV/bin/pip" install -q --no-deps --force-reinstall "$REPO"     # this tree's code
  "$VENV/bin/python" -c "import torch, torchvision, PyInstaller; print('torch', torch.__version__, \
'(CUDA', torch.version.cuda, ') torchvision', torchvision.__version__, 'PyInstaller', PyInstaller.__version__)"

  step "pyinstaller packaging/rnxstudio.spec -- --flavour $FLAVOUR"
  t=$(date +%s)
  rm -rf "$DIST"
  if ! (cd "$WORK" && "$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$WORK/dist" \
        --workpath "$WORK/build-$FLAVOUR" "$REPO/packaging/rnxstudio.spec" -- --flavour "$FLAVOUR") \
        > "$WORK/build-$FLAVOUR.log" 2>&1; then
    tail -30 "$WORK/build-$FLAVOUR.log"; fail "pyinstaller failed (log: $WORK/build-$FLAVOUR.log)"
  fi
  grep "rnxstudio.spec:" "$WORK/build-$FLAVOUR.log" || true
  echo "built in $(secs "$t")"
fi
APP="$DIST/rnxstudio"
[ -x "$APP" ] || fail "no bundle at $DIST (build it first)"
SIZE_MB=$(( $(du -sb "$DIST" | cut -f1) / 1000000 ))
echo "bundle: $DIST, $SIZE_MB MB"
ARCHIVE_NOTE="not made (--archive)"
if [ "$ARCHIVE" = 1 ]; then
  t=$(date +%s)
  VERSION=$("$APP" --version | awk '{print $2}')
  TARBALL="$WORK/$NAME-$VERSION-linux-$(uname -m).tar.gz"
  tar -C "$WORK/dist" -czf "$TARBALL" "$NAME"
  ARCHIVE_NOTE="$TARBALL, $(( $(stat -c %s "$TARBALL") / 1000000 )) MB"
  echo "archive: $ARCHIVE_NOTE (packed in $(secs "$t"))"
fi
[ "$TEST" = 1 ] || exit 0

# A clean environment: nothing inherited but the display, a new home, no network if possible.
HOME_DIR="$WORK/home-$FLAVOUR"
rm -rf "$HOME_DIR" "$OUT"; mkdir -p "$HOME_DIR" "$OUT"
NET="" OFFLINE="RNXSTUDIO_NO_DOWNLOAD=1 (unshare -n unavailable)"
if unshare -n true 2>/dev/null; then NET="unshare -n"; OFFLINE="no network (unshare -n)"; fi
clean() {  # the command in that environment (unshare and env exec it: same pid, signals reach it)
  # shellcheck disable=SC2086
  exec $NET env -i HOME="$HOME_DIR" PATH=/usr/bin:/bin LANG=C.UTF-8 RNXSTUDIO_HOME="$HOME_DIR/rnx" \
    ${DISPLAY_NUM:+DISPLAY=:$DISPLAY_NUM} ${NET:-RNXSTUDIO_NO_DOWNLOAD=1} "$@"
}
run() {  # run NAME CMD...: log to OUT/NAME.log, fail with its tail
  local name="$1"; shift
  local t; t=$(date +%s)
  if ! (clean "$@") > "$OUT/$name.log" 2>&1; then
    tail -25 "$OUT/$name.log"; fail "$name failed (log: $OUT/$name.log)"
  fi
  echo "$name: ok in $(secs "$t")"
}

step "CLI in a clean environment ($OFFLINE), RNXSTUDIO_HOME=$HOME_DIR/rnx"
(clean "$APP" --version) | tee "$OUT/version.log"
grep -q "^rnxstudio [0-9]" "$OUT/version.log" || fail "--version printed $(cat "$OUT/version.log")"
run demo "$APP" demo
IMAGES="$HOME_DIR/rnx/demo/images"; GT="$IMAGES/annotations.json"
[ -f "$GT" ] || fail "demo made no $GT"
CLASSES=$(python3 "$REPO/packaging/smoke_check.py" classes "$GT")
run predict_tiny "$APP" predict "$IMAGES" --model resnext_tiny_fpn --classes "$CLASSES" --coco "$GT" \
  --out "$OUT/predict_tiny.json" --no-progress
python3 "$REPO/packaging/smoke_check.py" results "$GT" "$OUT/predict_tiny.json" || fail "predict (tiny) results"
run train "$APP" train --coco "$GT" --model resnext_tiny_fpn --out "$OUT/run" --max-steps 4 --batch 2 --log-every 1
grep -q "done after 4 steps" "$OUT/train.log" || fail "train did not report 4 steps (log: $OUT/train.log)"
grep -E "^AP " "$OUT/train.log" | head -1
CKPT="$OUT/run/model_final.safetensors"
[ -f "$CKPT" ] && [ -f "${CKPT%.safetensors}.json" ] || fail "train wrote no $CKPT with its .json"
run predict_ckpt "$APP" predict "$IMAGES" --model "$CKPT" --coco "$GT" --out "$OUT/predict_ckpt.json" --no-progress
python3 "$REPO/packaging/smoke_check.py" results "$GT" "$OUT/predict_ckpt.json" || fail "predict (checkpoint) results"
run eval "$APP" eval "$GT" --model "$CKPT" --split all --out "$OUT/eval.json"
[ -s "$OUT/eval.json" ] || fail "eval wrote no $OUT/eval.json"
VIDEO="$HOME_DIR/rnx/demo/video/shapes.avi"
run predict_video "$APP" predict "$VIDEO" --model "$CKPT" --every 30 --out "$OUT/predict_video.json" --no-progress
python3 "$REPO/packaging/smoke_check.py" results - "$OUT/predict_video.json" || fail "predict (video) results"
if ! (clean env QT_QPA_PLATFORM=offscreen RNXSTUDIO_FROZEN_SCRIPT="$REPO/packaging/smoke_bundle.py" \
      "$APP" "$FLAVOUR" "$VIDEO") > "$OUT/bundle.log" 2>&1; then
  cat "$OUT/bundle.log"; fail "a library the app needs is missing or broken (log: $OUT/bundle.log)"
fi
cat "$OUT/bundle.log"

step "GUI under Xvfb"
exec 3> "$OUT/xvfb.display"
Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp > "$OUT/xvfb.log" 2>&1 &
XVFB_PID=$!
APP_PID=""
trap '[ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null; kill "$XVFB_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$OUT/xvfb.display" ] && break; sleep 0.1; done
DISPLAY_NUM=$(head -1 "$OUT/xvfb.display"); exec 3>&-
[ -n "$DISPLAY_NUM" ] || fail "Xvfb did not start ($(cat "$OUT/xvfb.log"))"
export DISPLAY=":$DISPLAY_NUM"  # for xwininfo/import here; the app gets it through clean()

since() { python3 -c "import time; print(f'{time.time() - $1:.1f}')"; }
viewable() {  # viewable REGEX: a mapped top-level window whose title matches
  local id
  for id in $(xwininfo -root -children 2>/dev/null | grep -E "$1" | awk '{print $1}'); do
    xwininfo -id "$id" 2>/dev/null | grep -q "Map State: IsViewable" && return 0
  done
  return 1
}
FIRST="" OPENED=""
show() {  # show NAME CMD...: start the app, time its first window and the demo project's title
  local name="$1" t0; shift
  t0=$(date +%s.%N); FIRST="" OPENED=""
  (clean "$@") > "$OUT/$name.log" 2>&1 &
  APP_PID=$!
  for _ in $(seq 3000); do  # up to 5 minutes
    if [ -z "$FIRST" ] && viewable 'rnxstudio"'; then FIRST=$(since "$t0"); fi
    if viewable '"images.* rnxstudio"'; then OPENED=$(since "$t0"); FIRST=${FIRST:-$OPENED}; break; fi
    kill -0 "$APP_PID" 2>/dev/null || { tail -25 "$OUT/$name.log"; fail "$name: the app exited"; }
    sleep 0.1
  done
  [ -n "$OPENED" ] || { tail -25 "$OUT/$name.log"; fail "$name: no demo project window within 5 minutes"; }
  sleep 3  # let it paint
  import -window root "$OUT/$name.png"
  kill -TERM "$APP_PID"; wait "$APP_PID" || true; APP_PID=""  # SIGTERM closes the window normally
}
show demo "$APP" --demo
T_FIRST=$FIRST T_OPENED=$OPENED
echo "rnxstudio --demo: first window after $T_FIRST s, demo project shown after $T_OPENED s ($OUT/demo.png)"

# The desktop entry: install (linked, into a scratch prefix), validate, check the .rnxproj MIME
# type, then launch its Exec line on the demo's project file as a file manager would.
PREFIX="$WORK/prefix-$FLAVOUR"; rm -rf "$PREFIX"
"$DIST/install-linux.sh" --link --prefix "$PREFIX" > "$OUT/install.log" 2>&1 || fail "install-linux.sh (log: $OUT/install.log)"
ENTRY="$PREFIX/share/applications/rnxstudio.desktop"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$ENTRY" || fail "$ENTRY is not valid"; fi
PROJECT=$(find "$HOME_DIR/rnx/projects" -name '*.rnxproj' | head -1)
if command -v xdg-mime >/dev/null; then
  mime=$(XDG_DATA_HOME="$PREFIX/share" xdg-mime query filetype "$PROJECT")
  handler=$(XDG_DATA_HOME="$PREFIX/share" xdg-mime query default "$mime")
  [ "$mime" = application/x-rnxstudio-project ] && [ "$handler" = rnxstudio.desktop ] \
    || fail "the project file is $mime opened by '$handler'"
  echo "desktop entry: valid; *.rnxproj is $mime, opened by $handler"
fi
read -ra EXEC <<< "$(sed -n 's/^Exec=//p' "$ENTRY" | tr -d '"')"  # the scratch prefix has no spaces
for i in "${!EXEC[@]}"; do [ "${EXEC[$i]}" = %f ] && EXEC[i]="$PROJECT"; done
show desktop_entry "${EXEC[@]}"
echo "desktop entry Exec on the project file: window after $FIRST s ($OUT/desktop_entry.png)"

t=$(date +%s)
if ! (clean env RNXSTUDIO_FROZEN_SCRIPT="$REPO/packaging/smoke_gui.py" "$APP" "$OUT") \
     > "$OUT/gui_prelabel.log" 2>&1; then
  tail -25 "$OUT/gui_prelabel.log"; fail "pre-label through the GUI (log: $OUT/gui_prelabel.log)"
fi
grep "smoke_gui" "$OUT/gui_prelabel.log" | tail -5
echo "gui pre-label: ok in $(secs "$t")"

step "summary"
echo "flavour:              $FLAVOUR ($DIST)"
echo "bundle size:          $SIZE_MB MB ($(du -sh "$DIST" | cut -f1)); archive: $ARCHIVE_NOTE"
echo "time to first window: $T_FIRST s (rnxstudio --demo; demo project on screen after $T_OPENED s)"
echo "screenshots:          $OUT/demo.png $OUT/desktop_entry.png $OUT/prelabel.png"
echo "SMOKE PASS ($FLAVOUR) in $(secs "$T_START")"
