#!/usr/bin/env bash
# The stack's generated secrets - the Grafana admin password and the analytics API token - kept in .env, which
# is git-ignored and readable by its owner only (mode 600).
#   scripts/credentials.sh ensure   create .env from .env.example on first use, fill every secret left empty,
#                                   and print only what it generated (make up runs this)
#   scripts/credentials.sh show     print the secrets again (make credentials)
# ENV_FILE and ENV_EXAMPLE name other files (tests).
set -euo pipefail

env_file=${ENV_FILE:-.env}
example=${ENV_EXAMPLE:-.env.example}
SECRETS=(GRAFANA_ADMIN_PASSWORD ANALYTICS_TOKEN)

value_of() { sed -n "s/^$1=//p" "$env_file" | tail -n 1; }
random_secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

case "${1:-}" in
  ensure)
    if [ ! -f "$env_file" ]; then
      (umask 077 && cp "$example" "$env_file")
      echo "==> created $env_file from $example"
    fi
    chmod 600 "$env_file"
    for name in "${SECRETS[@]}"; do
      [ -z "$(value_of "$name")" ] || continue
      secret=$(random_secret)
      if grep -q "^$name=" "$env_file"; then
        sed -i "s/^$name=.*/$name=$secret/" "$env_file"
      else
        printf '%s=%s\n' "$name" "$secret" >>"$env_file"
      fi
      echo "  generated $name=$secret   (make credentials shows it again)"
    done
    ;;
  show)
    [ -f "$env_file" ] || { echo "error: no $env_file yet: make up creates it" >&2; exit 1; }
    echo "Grafana        user $(value_of GRAFANA_ADMIN_USER || true)  password $(value_of GRAFANA_ADMIN_PASSWORD)"
    echo "Analytics API  Authorization: Bearer $(value_of ANALYTICS_TOKEN)"
    ;;
  *)
    echo "usage: $0 ensure|show" >&2
    exit 2
    ;;
esac
