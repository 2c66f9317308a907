//! What the compiler calls without being asked: `memcpy`, `memmove`, `memset`, `memcmp`,
//! `bcmp`, `strlen`, `__chkstk` and the `_fltused` marker.
//!
//! There is no C runtime to provide them. Copies and fills are `rep movsb`/`rep stosb`,
//! comparisons read through `read_volatile`: neither can be turned back into a call to
//! the function being defined.

use core::arch::{asm, naked_asm};

/// `memcpy`: copies `n` bytes from `src` to `dst`; the ranges must not overlap.
///
/// # Safety
/// `src` is readable and `dst` writable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges; the direction flag is clear (ABI).
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        )
    };
    dst
}

/// `memmove`: copies `n` bytes from `src` to `dst`; the ranges may overlap.
///
/// # Safety
/// `src` is readable and `dst` writable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // `dst` is below `src` or past its end: a forward copy reads each byte before
        // it is overwritten.
        // SAFETY: as for memcpy; overlap is harmless in this direction.
        unsafe { memcpy(dst, src, n) }
    } else {
        // `dst` is inside `src..src + n`: copy backwards, from the last byte.
        // SAFETY: the caller guarantees both ranges, and `n > 0` here so `n - 1` is the
        // last byte of each; the direction flag is cleared again before the asm ends.
        unsafe {
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dst.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack),
            )
        };
        dst
    }
}

/// `memset`: fills `n` bytes at `dst` with the low byte of `c`.
///
/// # Safety
/// `dst` is writable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range; the direction flag is clear (ABI).
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        )
    };
    dst
}

/// `memcmp`: compares `n` bytes as unsigned; negative, zero or positive.
///
/// # Safety
/// `a` and `b` are readable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: `i < n` and the caller guarantees `n` readable bytes at each.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// `bcmp`: zero when the `n` bytes are equal (LLVM calls it for `==` on byte slices).
///
/// # Safety
/// `a` and `b` are readable for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's guarantee is memcmp's.
    unsafe { memcmp(a, b, n) }
}

/// `strlen`: bytes before the first NUL.
///
/// # Safety
/// `s` points to a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees a NUL at or after every byte read.
    while unsafe { s.add(n).read_volatile() } != 0 {
        n += 1;
    }
    n
}

/// `__chkstk`: called with the frame size in `rax` before a function moves `rsp` down by
/// more than a page. It touches each page of the new frame from the top down, so a guard
/// page below the committed stack is hit in order (and a stack overflow is a fault, not
/// a jump over the guard). It changes no register but the flags, and not `rsp`.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __chkstk() {
    naked_asm!(
        "push rcx",
        "push rax",
        // The caller's rsp before its call: our two pushes and the return address.
        "lea rcx, [rsp + 24]",
        "2:",
        "cmp rax, 0x1000",
        "jb 3f",
        "sub rcx, 0x1000",
        "test qword ptr [rcx], rcx",
        "sub rax, 0x1000",
        "jmp 2b",
        "3:",
        "sub rcx, rax",
        "test qword ptr [rcx], rcx",
        "pop rax",
        "pop rcx",
        "ret",
    )
}

/// Tells the MSVC toolchain floating point is in use; nothing reads its value.
#[unsafe(no_mangle)]
#[used]
#[allow(non_upper_case_globals)]
pub static _fltused: i32 = 0;
