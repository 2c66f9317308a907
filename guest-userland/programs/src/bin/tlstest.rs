//! `tlstest`: ntdll's static TLS on this program's own TLS directory, defined by hand as
//! MSVC's CRT does in tlssup (`_tls_used`, `_tls_index`, a template in `.tls` and a
//! callback array), since Rust's `#[thread_local]` is unstable. Checks that the main
//! thread's block is a copy of the template with its zero fill, that a second thread
//! (RtlCreateUserThread) gets a fresh copy of its own whose writes the main thread does
//! not see, that the TLS callback ran with DLL_PROCESS_ATTACH before main, then
//! DLL_THREAD_ATTACH and DLL_THREAD_DETACH for the thread, each with the thread's block
//! already there (DLL_PROCESS_DETACH, after main, prints a line), and that LdrLoadDll of `tlsdll.dll`, a DLL with TLS, is refused with
//! STATUS_NOT_SUPPORTED (static TLS is fixed once the process runs).
//!
//! Prints `ok:`/`WRONG:` per check; exits 0 only when every check holds.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use abi::nt::{
    DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH, ImageTlsCallback,
    ImageTlsDirectory64, UnicodeString,
};
use abi::service::CURRENT_PROCESS_HANDLE;
use rt::tally::{ExpectedValue, Tally};
use rt::{Args, NtStatus, println};

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn LdrLoadDll(
        search_path: *const u16,
        characteristics: *const u32,
        name: *const UnicodeString,
        handle: *mut u64,
    ) -> NtStatus;
}

rt::entry!(main, ntdll);

/// The template's bytes: what every thread's block starts with.
const TEMPLATE: [u8; 16] = *b"tls template 42!";
/// The zero bytes after the template in every block.
const ZERO_FILL: usize = 48;
const BLOCK_SIZE: usize = TEMPLATE.len() + ZERO_FILL;

/// The template, in the section MSVC's CRT gathers TLS data in.
#[unsafe(link_section = ".tls")]
static TLS_TEMPLATE: [u8; TEMPLATE.len()] = TEMPLATE;

/// This program's TLS index, which the loader writes.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static _tls_index: AtomicU32 = AtomicU32::new(u32::MAX);

static TLS_CALLBACKS: [Option<ImageTlsCallback>; 2] = [Some(tls_callback), None];

/// The TLS directory: the linker points data directory 9 at the symbol of this name.
#[used]
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static _tls_used: ImageTlsDirectory64 = ImageTlsDirectory64 {
    start_address_of_raw_data: (&raw const TLS_TEMPLATE).cast(),
    end_address_of_raw_data: (&raw const TLS_TEMPLATE)
        .cast::<u8>()
        .wrapping_add(TEMPLATE.len()),
    address_of_index: (&raw const _tls_index).cast(),
    address_of_call_backs: TLS_CALLBACKS.as_ptr(),
    size_of_zero_fill: ZERO_FILL as u32,
    characteristics: 0,
};

/// The reasons the callback was called with, in order.
static EVENTS: [AtomicU32; 8] = [const { AtomicU32::new(u32::MAX) }; 8];
static EVENT_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Whether an attach callback ever ran without the calling thread's block being a fresh
/// copy of the template (it runs before the thread's own code can change it).
static CALLBACK_SAW_NO_BLOCK: AtomicBool = AtomicBool::new(false);

unsafe extern "system" fn tls_callback(_module: u64, reason: u32, _reserved: u64) {
    let slot = EVENT_COUNT.fetch_add(1, Ordering::AcqRel);
    if let Some(event) = EVENTS.get(slot) {
        event.store(reason, Ordering::Release);
    }
    if reason == DLL_PROCESS_DETACH {
        // After main: only the console can show it.
        println!("tlstest: DLL_PROCESS_DETACH callback");
    }
    let attach = reason == DLL_PROCESS_ATTACH || reason == DLL_THREAD_ATTACH;
    if attach && !block().is_some_and(|block| is_fresh(block)) {
        CALLBACK_SAW_NO_BLOCK.store(true, Ordering::Release);
    }
}

fn events() -> ([u32; 8], usize) {
    let count = EVENT_COUNT.load(Ordering::Acquire).min(EVENTS.len());
    (
        core::array::from_fn(|index| EVENTS[index].load(Ordering::Acquire)),
        count,
    )
}

/// The calling thread's block: `ThreadLocalStoragePointer[_tls_index]`, None when the
/// thread has no array.
fn block() -> Option<&'static mut [u8; BLOCK_SIZE]> {
    let array: *const *mut [u8; BLOCK_SIZE];
    // SAFETY: gs:[0x58] is the calling thread's TEB.ThreadLocalStoragePointer; the read
    // has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x58]", out(reg) array, options(nostack, readonly, preserves_flags));
    }
    if array.is_null() {
        return None;
    }
    let index = _tls_index.load(Ordering::Relaxed) as usize;
    // SAFETY: the loader gives every thread an array with a slot per TLS index, and in
    // this program's slot a block of the template's size plus its zero fill, which only
    // this thread uses.
    unsafe { array.add(index).read().as_mut() }
}

fn is_fresh(block: &[u8; BLOCK_SIZE]) -> bool {
    block[..TEMPLATE.len()] == TEMPLATE && block[TEMPLATE.len()..].iter().all(|byte| *byte == 0)
}

/// What the second thread found, for main to check.
static THREAD_FRESH: AtomicBool = AtomicBool::new(false);
static THREAD_BLOCK: AtomicUsize = AtomicUsize::new(0);

extern "system" fn second_thread(_: u64) -> NtStatus {
    if let Some(block) = block() {
        THREAD_FRESH.store(is_fresh(block), Ordering::Release);
        THREAD_BLOCK.store(block.as_ptr() as usize, Ordering::Release);
        block[..4].copy_from_slice(b"thrd");
    }
    NtStatus::SUCCESS
}

fn main(_args: &Args) -> NtStatus {
    let mut tally = Tally::default();
    // A volatile read keeps the directory referenced, so the linker cannot drop it.
    // SAFETY: the directory is this program's own static.
    let zero_fill = unsafe { (&raw const _tls_used.size_of_zero_fill).read_volatile() };
    tally.value(
        "the TLS directory's zero fill",
        zero_fill.into(),
        ZERO_FILL as u64,
    );
    tally.value(
        "the loader wrote TLS index 0",
        _tls_index.load(Ordering::Relaxed).into(),
        0,
    );
    let (log, count) = events();
    tally.check(
        "DLL_PROCESS_ATTACH callback before main",
        count == 1 && log[0] == DLL_PROCESS_ATTACH,
        &Events(log, count),
    );

    let Some(main_block) = block() else {
        tally.check("the main thread has a TLS block", false, &"no array");
        return finish(&tally);
    };
    tally.check(
        "the main thread's block is the template and its zero fill",
        is_fresh(main_block),
        &Bytes(&main_block[..]),
    );
    main_block[..4].copy_from_slice(b"main");

    let mut thread = 0;
    // SAFETY: the routine is this program's; the handle is a local.
    let status = unsafe {
        rt::ntdll::RtlCreateUserThread(
            CURRENT_PROCESS_HANDLE,
            0,
            0,
            0,
            0,
            0,
            second_thread,
            0,
            &mut thread,
            core::ptr::null_mut(),
        )
    };
    tally.status("RtlCreateUserThread", status, NtStatus::SUCCESS);
    if status.is_success() {
        tally.status(
            "the thread ends",
            rt::wait::wait_for(thread, None),
            NtStatus::SUCCESS,
        );
        // SAFETY: the handle is this program's.
        unsafe { rt::ntdll::NtClose(thread) };
    }
    tally.check(
        "the thread's block is a fresh copy after main changed its own",
        THREAD_FRESH.load(Ordering::Acquire),
        &"not the template",
    );
    let thread_block = THREAD_BLOCK.load(Ordering::Acquire);
    tally.check(
        "the thread's block is not main's",
        thread_block != 0 && thread_block != main_block.as_ptr() as usize,
        &ExpectedValue(thread_block as u64, main_block.as_ptr() as u64),
    );
    tally.check(
        "main's block keeps main's write, not the thread's",
        main_block[..4] == *b"main" && main_block[4..TEMPLATE.len()] == TEMPLATE[4..],
        &Bytes(&main_block[..]),
    );
    let (log, count) = events();
    tally.check(
        "callbacks: PROCESS_ATTACH, THREAD_ATTACH, THREAD_DETACH",
        count == 3 && log[..3] == [DLL_PROCESS_ATTACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH],
        &Events(log, count),
    );
    tally.check(
        "every attach callback found the thread's fresh block",
        !CALLBACK_SAW_NO_BLOCK.load(Ordering::Acquire),
        &"a callback ran without it",
    );

    let mut name = [0u16; 10];
    for (unit, byte) in name.iter_mut().zip(b"tlsdll.dll") {
        *unit = u16::from(*byte);
    }
    let string = UnicodeString {
        length: (name.len() * 2) as u16,
        maximum_length: (name.len() * 2) as u16,
        reserved: 0,
        buffer: name.as_ptr() as u64,
    };
    let mut base = 0;
    // SAFETY: the string describes `name`; the handle is a local.
    let status = unsafe { LdrLoadDll(core::ptr::null(), core::ptr::null(), &string, &mut base) };
    tally.status(
        "LdrLoadDll of a DLL with TLS",
        status,
        NtStatus::NOT_SUPPORTED,
    );
    finish(&tally)
}

fn finish(tally: &Tally) -> NtStatus {
    println!("tlstest: {} checks, {} wrong", tally.cases, tally.wrong);
    if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

/// The callback log, for a WRONG line.
struct Events([u32; 8], usize);

impl core::fmt::Display for Events {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", &self.0[..self.1])
    }
}

/// A block's bytes, for a WRONG line.
struct Bytes<'a>(&'a [u8]);

impl core::fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
