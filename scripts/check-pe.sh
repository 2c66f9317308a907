#!/usr/bin/env bash
# Checks the user programs' PE32+ headers with objdump (installing binutils if missing):
# x86-64 PE32+, native subsystem, an entry point, a .reloc section, imports from ntdll.dll
# and testdll.dll at most (and tlstest's from tlsdll.dll) (args, hello, exit, tlist, spawn, params and rtltest must have
# ntdll's; nodll.exe deliberately names a missing DLL); ntdll.dll: a movable PE32+ DLL
# without imports exporting the Nt* and Zw* stub of every service in abi/src/service.rs,
# the loader and the Rtl helpers; and testdll.dll: a PE32+ DLL with an entry point and base
# relocations, importing from ntdll.dll only and exporting TestDllAdd, with ordinals from 7
# (TestDllAdd's); tlstest.exe, badtls.exe and tlsdll.dll: a TLS directory (data directory 9,
# which the linker sets from their `_tls_used`). Run after scripts/build.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v objdump >/dev/null; then
    apt_install binutils
fi

# PE_DIR checks another directory of images (tests/ntdll.rs checks broken ones).
PROGRAM_DIR="${PE_DIR:-guest-userland/target/x86_64-pc-windows-msvc/release}"
shopt -s nullglob
programs=("$PROGRAM_DIR"/*.exe)
shopt -u nullglob
if ((${#programs[@]} == 0)); then
    die "no programs in $PROGRAM_DIR: run scripts/build.sh first"
fi

# Whether `objdump -p` output ($1) shows a TLS directory (data directory 9) of 0x28 bytes.
has_tls_directory() {
    grep -Eq '^Entry 9 0*[1-9a-f][0-9a-f]* 0+28 ' <<<"$1"
}

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
        # nodll.exe imports from a DLL that does not exist, to test the loader's refusal.
        if [[ -n "$dll" && "${dll,,}" != ntdll.dll && "${dll,,}" != testdll.dll && "$name" != nodll.exe ]] &&
            [[ "${dll,,}" != tlsdll.dll || "$name" != tlstest.exe ]]; then
            problems+=("imports from $dll")
        fi
    done < <(awk '/DLL Name:/ { print $3 }' <<<"$headers")
    # These programs define their TLS directory by hand; the loader's TLS needs it there.
    case "$name" in
        tlstest.exe | badtls.exe)
            if ! has_tls_directory "$headers"; then
                problems+=("no TLS directory")
            fi
            ;;
    esac
    # These programs exist to call the system through ntdll.dll's exports.
    case "$name" in
        args.exe | hello.exe | exit.exe | tlist.exe | spawn.exe | params.exe | rtltest.exe)
            if ! grep -Eq 'DLL Name: ntdll\.dll' <<<"$headers"; then
                problems+=("does not import from ntdll.dll")
            fi
            ;;
    esac
    if ((${#problems[@]} > 0)); then
        status=1
        for problem in "${problems[@]}"; do
            echo "error: $name: $problem" >&2
        done
    else
        step "$name: PE32+ x86-64, native subsystem, entry RVA $(printf '%#x' "$((16#$entry))"), .reloc present"
    fi
done
# ntdll.dll: a relocatable PE32+ DLL with an export for every system service.
ntdll="$PROGRAM_DIR/ntdll.dll"
if [[ ! -f "$ntdll" ]]; then
    die "no $ntdll: run scripts/build.sh first"
fi
headers="$(objdump -p "$ntdll")"
problems=()
grep -q 'file format pei-x86-64' <<<"$headers" || problems+=("not an x86-64 PE image")
grep -Eq '^Magic[[:space:]]+020b' <<<"$headers" || problems+=("not PE32+")
characteristics="$(awk '$1 == "Characteristics" { print $2 }' <<<"$headers")"
# IMAGE_FILE_DLL (0x2000) and IMAGE_FILE_EXECUTABLE_IMAGE (0x0002).
if [[ -z "$characteristics" ]] || (((characteristics & 0x2002) != 0x2002)); then
    problems+=("characteristics ${characteristics:-missing} lack DLL and EXECUTABLE_IMAGE")
fi
# Position-independent code needs no base relocations, so there may be no .reloc section,
# but the image must not claim it cannot move (IMAGE_FILE_RELOCS_STRIPPED, 0x0001).
if [[ -n "$characteristics" ]] && (((characteristics & 0x0001) != 0)); then
    problems+=("relocations stripped")
fi
if grep -q 'DLL Name:' <<<"$headers"; then
    problems+=("has imports")
fi
exports="$(awk '/^\[Ordinal\/Name Pointer\] Table/ { listing = 1; next } listing && /^\t\[/ { print $3 }' <<<"$headers")"
services=()
while read -r service; do
    services+=("$service" "Zw${service#Nt}")
done < <(sed -n 's/^    \(Nt[A-Za-z]*\) = .*/\1/p' abi/src/service.rs)
if ((${#services[@]} == 0)); then
    problems+=("no services found in abi/src/service.rs")
fi
rtl=(RtlInitUnicodeString RtlCopyUnicodeString RtlEqualUnicodeString RtlAppendUnicodeToString
    RtlCreateProcessParameters RtlDestroyProcessParameters RtlCreateUserProcess
    RtlCreateUserThread RtlExitUserThread RtlExitUserProcess RtlUserThreadStart RtlGetCurrentPeb
    RtlAllocateHeap RtlFreeHeap RtlReAllocateHeap RtlSizeHeap)
for name in "${services[@]}" LdrInitializeThunk KiUserApcDispatcher LdrLoadDll LdrUnloadDll LdrGetDllHandle \
    LdrGetProcedureAddress LdrDisableThreadCalloutsForDll LdrShutdownThread LdrShutdownProcess \
    "${rtl[@]}"; do
    grep -qx "$name" <<<"$exports" || problems+=("no export $name")
done
if ((${#problems[@]} > 0)); then
    status=1
    for problem in "${problems[@]}"; do
        echo "error: ntdll.dll: $problem" >&2
    done
else
    step "ntdll.dll: PE32+ x86-64 DLL, no imports, $(wc -l <<<"$exports") exports (Nt*/Zw* for $((${#services[@]} / 2)) services), movable"
fi
# testdll.dll: the loader's test DLL, which must need relocating and initializing.
testdll="$PROGRAM_DIR/testdll.dll"
if [[ -f "$testdll" ]]; then
    headers="$(objdump -p "$testdll")"
    sections="$(objdump -h "$testdll")"
    problems=()
    grep -Eq '^Magic[[:space:]]+020b' <<<"$headers" || problems+=("not PE32+")
    characteristics="$(awk '$1 == "Characteristics" { print $2 }' <<<"$headers")"
    if [[ -z "$characteristics" ]] || (((characteristics & 0x2002) != 0x2002)); then
        problems+=("characteristics ${characteristics:-missing} lack DLL and EXECUTABLE_IMAGE")
    fi
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
    # The ordinal base is the pinned ordinal of TestDllAdd, the lowest.
    grep -q 'Ordinal Base 7$' <<<"$headers" || problems+=("the ordinal base is not 7")
    grep -Eq '^[[:space:]]*\[ *[0-9]+\] TestDllAdd$' <<<"$headers" || problems+=("no export TestDllAdd")
    if ((${#problems[@]} > 0)); then
        status=1
        for problem in "${problems[@]}"; do
            echo "error: testdll.dll: $problem" >&2
        done
    else
        step "testdll.dll: PE32+ x86-64 DLL, entry RVA $(printf '%#x' "$((16#$entry))"), .reloc present, ordinals from 7"
    fi
fi
# tlsdll.dll: the DLL with TLS that tlstest imports and LdrLoadDll must refuse later.
tlsdll="$PROGRAM_DIR/tlsdll.dll"
if [[ -f "$tlsdll" ]]; then
    if has_tls_directory "$(objdump -p "$tlsdll")"; then
        step "tlsdll.dll: TLS directory present"
    else
        status=1
        echo "error: tlsdll.dll: no TLS directory" >&2
    fi
fi
exit "$status"
