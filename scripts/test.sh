#!/usr/bin/env bash
# Builds everything and runs every test and check: formatting, clippy, the PE checks, the
# guest crates' host unit tests (guest-kernel's are in its host-tests crate), then the host
# workspace's tests (unit tests and the integration tests that boot target/guest.img under
# KVM). Exits non-zero if any fails; the checks all run even when one fails, the host tests
# last.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_rust
ensure_rust_components
bash scripts/build.sh

HOST="$(host_target)"
failed=()

# check NAME COMMAND...: runs COMMAND, remembering NAME if it fails.
check() {
    local name="$1"
    shift
    step "$name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

# in_dir DIR COMMAND...: runs COMMAND in DIR.
in_dir() {
    (cd "$1" && shift && "$@")
}

check "rustfmt: host workspace" cargo fmt --all --check
check "rustfmt: guest-kernel" in_dir guest-kernel cargo fmt --check
check "rustfmt: guest-userland" in_dir guest-userland cargo fmt --check

check "clippy: host workspace" cargo clippy --workspace --all-targets --release -- -D warnings
check "clippy: guest-kernel" in_dir guest-kernel cargo clippy --release -- -D warnings
check "clippy: guest-userland" in_dir guest-userland cargo clippy --release -- -D warnings

check "PE checks: guest-userland" bash scripts/check-pe.sh

check "unit tests on the host: guest-userland" in_dir guest-userland cargo test --workspace --lib --target "$HOST"
check "unit tests on the host: guest-kernel" in_dir guest-kernel cargo test -p host-tests --target "$HOST"

check "tests: host workspace" cargo test --release --workspace

if ((${#failed[@]} > 0)); then
    echo >&2
    for name in "${failed[@]}"; do
        echo "FAILED: $name" >&2
    done
    exit 1
fi
