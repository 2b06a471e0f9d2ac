#!/usr/bin/env bash
# Build the Linux bundle from a checkout, with one command:
#
#   bash packaging/build.sh
#
# makes dist/vhd-annotator/vhd-annotator (a folder that needs no Python) and
# dist/vhd-annotator-<version>-linux-<arch>.tar.gz. It uses its own venv under build/bundle
# (set PYTHON to choose the interpreter, 3.11 or newer) and reaches no network but the package
# registries. A bundle runs where glibc is at least the build machine's: build releases on the
# oldest system you support.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
WORK=${VHD_BUNDLE_WORK:-$ROOT/build/bundle}
VENV=$WORK/venv
export VHD_BUNDLE_WORK=$WORK

step() { printf '\n== %s\n' "$*"; }

step "build venv ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# The project itself (not editable: the bundle gets what a wheel gets) and the pinned builder.
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$ROOT"
"$VENV/bin/python" -m pip install -q "$ROOT[bundle]"

VERSION=$("$VENV/bin/python" -c 'import vhd_gui; print(vhd_gui.__version__)')
ARCH=$(uname -m)
NAME=vhd-annotator-$VERSION-linux-$ARCH

step "PyInstaller (one folder)"
rm -rf "$ROOT/dist/vhd-annotator"
VHD_VERSION=$VERSION "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$ROOT/dist" --workpath "$WORK/pyinstaller" "$ROOT/packaging/vhd-annotator.spec"

BUNDLE=$ROOT/dist/vhd-annotator
install -m 755 "$ROOT/packaging/install.sh" "$BUNDLE/install.sh"

step "smoke check"
env -i HOME="$(mktemp -d)" PATH=/usr/bin:/bin "$BUNDLE/vhd-annotator" --version

step "tarball"
TARBALL=$ROOT/dist/$NAME.tar.gz
tar -C "$ROOT/dist" --owner=0 --group=0 -czf "$TARBALL.part" vhd-annotator
mv "$TARBALL.part" "$TARBALL"
du -sh "$BUNDLE" "$TARBALL"
echo "built $BUNDLE/vhd-annotator and $TARBALL"
