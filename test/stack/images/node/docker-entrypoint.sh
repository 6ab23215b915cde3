#!/bin/sh
# Same contract as the official Node image's entrypoint: an option or a non-command first argument runs node.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
