#!/bin/sh
# Installs the build into a scratch prefix, then compiles the C99 end-to-end program *outside the tree*
# against the installed header and library using only `pkg-config --cflags --libs mojo`, and runs it.
# usage: check_install.sh MESON BUILD_DIR SOURCE_C
set -eu
meson_bin="$1"; build="$2"; src="$3"
dest="$(mktemp -d)"
trap 'rm -rf "$dest"' EXIT
"$meson_bin" install -C "$build" --destdir "$dest" --quiet --no-rebuild
pc="$(find "$dest" -name mojo.pc | head -1)"
[ -n "$pc" ] || { echo "mojo.pc was not installed"; exit 1; }
prefix="$(sed -n 's/^prefix=//p' "$pc")"
flags="$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --define-variable=prefix="$dest$prefix" --cflags --libs mojo)"
echo "pkg-config --cflags --libs mojo -> $flags"
cp "$src" "$dest/prog.c"
cc -std=c99 -pedantic-errors -Wall -Werror "$dest/prog.c" -o "$dest/prog" $flags -lm
libdir="$(dirname "$(find "$dest" -name 'libmojo.so.1' | head -1)")"
LD_LIBRARY_PATH="$libdir" MOJO_LOG_LEVEL=error "$dest/prog"
