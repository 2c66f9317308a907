#!/usr/bin/env bash
# Checks the user programs' PE32+ headers with objdump (installing binutils if missing):
# x86-64 PE32+, native subsystem, an entry point, a .reloc section, imports from ntdll.dll
# at most. Run after scripts/build.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v objdump >/dev/null; then
    apt_install binutils
fi

PROGRAM_DIR=guest-userland/target/x86_64-pc-windows-msvc/release
shopt -s nullglob
programs=("$PROGRAM_DIR"/*.exe)
shopt -u nullglob
if ((${#programs[@]} == 0)); then
    die "no programs in $PROGRAM_DIR: run scripts/build.sh first"
fi

status=0
for exe in "${programs[@]}"; do
    name="$(basename "$exe")"
    headers="$(objdump -p "$exe")"
    sections="$(objdump -h "$exe")"
    problems=()
    grep -q 'file format pei-x86-64' <<<"$headers" || problems+=("not an x86-64 PE image")
    grep -Eq '^Magic[[:space:]]+020b' <<<"$headers" || problems+=("not PE32+")
    grep -Eq '^Subsystem[[:space:]]+0*1[[:space:]]' <<<"$headers" || problems+=("subsystem is not Native (1)")
    entry="$(awk '$1 == "AddressOfEntryPoint" { print $2 }' <<<"$headers")"
    if [[ -z "$entry" ]] || ((16#$entry == 0)); then
        problems+=("no entry point")
    fi
    grep -Eq '^ +[0-9]+ \.reloc ' <<<"$sections" || problems+=("no .reloc section")
    while read -r dll; do
        if [[ -n "$dll" && "${dll,,}" != ntdll.dll ]]; then
            problems+=("imports from $dll")
        fi
    done < <(awk '/DLL Name:/ { print $3 }' <<<"$headers")
    if ((${#problems[@]} > 0)); then
        status=1
        for problem in "${problems[@]}"; do
            echo "error: $name: $problem" >&2
        done
    else
        step "$name: PE32+ x86-64, native subsystem, entry RVA $(printf '%#x' "$((16#$entry))"), .reloc present"
    fi
done
exit "$status"
