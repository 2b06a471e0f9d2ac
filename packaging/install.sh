#!/bin/sh
# Add VHD Annotator to your desktop's menu (for this user, no root needed):
#
#   ./install.sh              the menu entry, the icons, and ~/.local/bin/vhd-annotator
#   ./install.sh --uninstall  take them away again (the unpacked folder itself stays)
#
# The entry points at this unpacked folder: move the folder, then run this again.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${XDG_BIN_HOME:-$HOME/.local/bin}
LINK=$BIN_DIR/vhd-annotator

case "${1:-}" in
  --uninstall)
    "$HERE/vhd-annotator" desktop uninstall
    if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$HERE/vhd-annotator" ]; then
      rm -f "$LINK"
      echo "removed $LINK"
    fi
    ;;
  "")
    "$HERE/vhd-annotator" desktop install
    mkdir -p "$BIN_DIR"
    if [ -e "$LINK" ] && ! [ -L "$LINK" ]; then
      echo "left $LINK alone (not a link this script made)"
    else
      ln -sfn "$HERE/vhd-annotator" "$LINK"
      echo "linked $LINK -> $HERE/vhd-annotator"
    fi
    ;;
  *)
    echo "usage: $0 [--uninstall]" >&2
    exit 2
    ;;
esac
