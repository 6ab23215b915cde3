#!/bin/sh
# The official redis entrypoint's contract: options or a *.conf first argument run redis-server; as root,
# redis-server gets /data chowned and runs as the redis user (util-linux setpriv here, su-exec or gosu there).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
# The official image compiles protected mode off (other containers connect without a password); Debian's
# binary keeps it on, so turn it off as the first option, where a config file or a later flag still overrides it.
if [ "$1" = redis-server ] && [ -z "${REDIS_STAND_IN_PROTECTED:-}" ]; then
  shift
  if [ "${1%.conf}" != "${1:-}" ]; then
    conf="$1"
    shift
    set -- redis-server "$conf" --protected-mode no "$@"
  else
    set -- redis-server --protected-mode no "$@"
  fi
  export REDIS_STAND_IN_PROTECTED=set
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec /usr/bin/setpriv --reuid=999 --regid=1000 --clear-groups "$0" "$@"
fi
um="$(umask)"
if [ "$um" = 0022 ]; then
  umask 0077
fi
exec "$@"
