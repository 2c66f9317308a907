# shellcheck shell=bash
# Shared by the scripts in this folder (source it, do not run it): moves to the repository
# root and provides progress output and the installation of missing prerequisites.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

# Set QUIET=1 to silence progress lines.
QUIET="${QUIET:-0}"

# Guest targets every build needs.
RUST_TARGETS=(x86_64-unknown-none x86_64-pc-windows-msvc)

step() {
    if [[ "$QUIET" != 1 ]]; then
        echo "==> $*" >&2
    fi
}

die() {
    echo "error: $*" >&2
    exit 1
}

# Runs a command as root, through sudo when we are not root.
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# Installs Debian/Ubuntu packages.
apt_install() {
    command -v apt-get >/dev/null || die "missing $*: install it with your package manager"
    step "installing $*"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Makes sure cargo, a C linker for the host and the guest targets are there.
ensure_rust() {
    if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cc >/dev/null; then
        apt_install build-essential
    fi
    if ! command -v cargo >/dev/null; then
        if ! command -v curl >/dev/null; then
            apt_install curl ca-certificates
        fi
        step "installing Rust (rustup, stable toolchain)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --default-toolchain stable >&2
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if command -v rustup >/dev/null; then
        local installed target missing=()
        installed="$(rustup target list --installed)"
        for target in "${RUST_TARGETS[@]}"; do
            if ! grep -qx "$target" <<<"$installed"; then
                missing+=("$target")
            fi
        done
        if ((${#missing[@]} > 0)); then
            step "adding Rust targets ${missing[*]}"
            rustup target add "${missing[@]}" >&2
        fi
    fi
}

# Makes sure rustfmt and clippy are there (for the checks in test.sh).
ensure_rust_components() {
    local missing=()
    if ! cargo fmt --version >/dev/null 2>&1; then
        missing+=(rustfmt)
    fi
    if ! cargo clippy --version >/dev/null 2>&1; then
        missing+=(clippy)
    fi
    if ((${#missing[@]} > 0)); then
        command -v rustup >/dev/null || die "missing ${missing[*]}: install them for your Rust toolchain"
        step "adding Rust components ${missing[*]}"
        rustup component add "${missing[@]}" >&2
    fi
}

# The host's target triple, for running guest crates' unit tests on the host.
host_target() {
    rustc -vV | sed -n 's/^host: //p'
}
