#!/usr/bin/env bash
# Builds everything (quietly), then boots the image: `vmm run target/guest.img ARGS...`.
#
# Usage: scripts/run.sh [vmm run options] [-- PROGRAM [ARGS...]]
#   scripts/run.sh                  runs the default program, hello
#   scripts/run.sh -- exit 42       runs System32/exit.exe with argument 42
#   scripts/run.sh --stats          prints boot timings and VM exit counts too
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
    -h | --help)
        sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
esac

bash scripts/build.sh --quiet
exec target/release/vmm run target/guest.img "$@"
