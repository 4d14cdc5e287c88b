#!/usr/bin/env bash
# Install (or remove) the one-folder bundle as a desktop application for one user or system-wide.
#
#   ./install-linux.sh [--prefix DIR]                 from an unpacked bundle (it ships this script)
#   packaging/linux/install-linux.sh BUNDLE_DIR [--prefix DIR]     from the repository
#   ./install-linux.sh --uninstall [--prefix DIR]
#   --link      link PREFIX/lib/rnxstudio to the bundle instead of copying it (smoke.sh, developers)
#
# --prefix defaults to ~/.local (per user; /usr/local for everyone, as root). Puts the bundle in
# PREFIX/lib/rnxstudio, a `rnxstudio` link in PREFIX/bin, the desktop entry, the icon and the
# .rnxproj MIME type in PREFIX/share, then refreshes the desktop and MIME caches when their
# tools (desktop-file-utils, shared-mime-info) are there. Image folders are not claimed as a MIME
# type (inode/directory would offer to make rnxstudio the file manager); open them from the app,
# by drag and drop, or with `rnxstudio gui FOLDER`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="$HOME/.local" BUNDLE="" UNINSTALL=0 LINK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift ;;
    --uninstall) UNINSTALL=1 ;;
    --link) LINK=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "install-linux.sh: unknown option $1" >&2; exit 2 ;;
    *) BUNDLE="$1" ;;
  esac
  shift
done
# next to this script: linux/ in a bundle, the script's own folder in the repository
DATA="$HERE/linux"; [ -f "$DATA/rnxstudio.desktop" ] || DATA="$HERE"
ICON_SRC="$DATA/rnxstudio.svg"; [ -f "$ICON_SRC" ] || ICON_SRC="$HERE/../../resources/icons/rnxstudio.svg"
[ -z "$BUNDLE" ] && [ -x "$HERE/rnxstudio" ] && BUNDLE="$HERE"
APPDIR="$PREFIX/lib/rnxstudio" SHARE="$PREFIX/share"
DESKTOP="$SHARE/applications/rnxstudio.desktop"
ICON="$SHARE/icons/hicolor/scalable/apps/rnxstudio.svg"
MIME="$SHARE/mime/packages/rnxstudio.xml"

refresh() {
  if command -v update-desktop-database >/dev/null; then update-desktop-database -q "$SHARE/applications" || true; fi
  if command -v update-mime-database >/dev/null; then update-mime-database "$SHARE/mime" >/dev/null || true; fi
  if command -v gtk-update-icon-cache >/dev/null; then gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true; fi
}

if [ "$UNINSTALL" = 1 ]; then
  rm -rf "$APPDIR"; rm -f "$PREFIX/bin/rnxstudio" "$DESKTOP" "$ICON" "$MIME"
  refresh; echo "removed rnxstudio from $PREFIX"; exit 0
fi
[ -n "$BUNDLE" ] && [ -x "$BUNDLE/rnxstudio" ] || { echo "install-linux.sh: BUNDLE_DIR must hold the rnxstudio executable (dist/rnxstudio)" >&2; exit 2; }
BUNDLE="$(cd "$BUNDLE" && pwd)"
mkdir -p "$PREFIX/bin" "$(dirname "$DESKTOP")" "$(dirname "$ICON")" "$(dirname "$MIME")"
mkdir -p "$(dirname "$APPDIR")"
if [ "$LINK" = 1 ]; then
  rm -rf "$APPDIR"; ln -s "$BUNDLE" "$APPDIR"
elif [ "$BUNDLE" != "$(cd "$APPDIR" 2>/dev/null && pwd -P)" ]; then
  rm -rf "$APPDIR.new"; cp -a "$BUNDLE" "$APPDIR.new"; rm -rf "$APPDIR"; mv "$APPDIR.new" "$APPDIR"
fi
ln -sfn "$APPDIR/rnxstudio" "$PREFIX/bin/rnxstudio"
sed "s|@EXEC@|$APPDIR/rnxstudio|g" "$DATA/rnxstudio.desktop" > "$DESKTOP"
install -m644 "$ICON_SRC" "$ICON"
install -m644 "$DATA/rnxstudio-mime.xml" "$MIME"
refresh
echo "installed: $APPDIR, $PREFIX/bin/rnxstudio, $DESKTOP"
