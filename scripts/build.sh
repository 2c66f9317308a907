#!/usr/bin/env bash
# Builds everything: the VMM (target/release/vmm), the kernel, the user programs and the
# boot image (target/guest.img). Installs missing Rust targets first.
#
# Usage: scripts/build.sh [--quiet]     (--quiet: only warnings and errors)
set -euo pipefail

QUIET=0
for arg in "$@"; do
    case "$arg" in
        -q | --quiet) QUIET=1 ;;
        -h | --help)
            sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            echo "error: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_rust

cargo_flags=()
if [[ "$QUIET" == 1 ]]; then
    cargo_flags+=(--quiet)
fi

VMM=target/release/vmm
KERNEL=guest-kernel/target/x86_64-unknown-none/release/guest-kernel
PROGRAM_DIR=guest-userland/target/x86_64-pc-windows-msvc/release
IMAGE=target/guest.img
DEFAULT_PROGRAM=hello

step "building vmm"
cargo build --release -p vmm "${cargo_flags[@]}"

step "building guest-kernel"
(cd guest-kernel && cargo build --release "${cargo_flags[@]}")

step "building guest-userland"
(cd guest-userland && cargo build --release "${cargo_flags[@]}")

# Every image the userland build produced goes to System32/ in the boot image.
shopt -s nullglob
programs=("$PROGRAM_DIR"/*.exe "$PROGRAM_DIR"/*.dll)
shopt -u nullglob
if ((${#programs[@]} == 0)); then
    die "no programs in $PROGRAM_DIR"
fi

up_to_date=0
if [[ -f "$IMAGE" ]]; then
    up_to_date=1
    for input in "$VMM" "$KERNEL" "${programs[@]}"; do
        if [[ "$input" -nt "$IMAGE" ]]; then
            up_to_date=0
            break
        fi
    done
fi
if [[ "$up_to_date" == 1 ]]; then
    step "$IMAGE is up to date"
else
    step "writing $IMAGE"
    "$VMM" mkimage --kernel "$KERNEL" --default "$DEFAULT_PROGRAM" --output "$IMAGE" "${programs[@]}"
fi
