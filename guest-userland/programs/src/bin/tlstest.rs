//! `tlstest`: ntdll's static TLS on this program's own TLS directory, defined by hand as
//! MSVC's CRT does in tlssup (`_tls_used`, `_tls_index`, a template in `.tls` and a
//! callback array), since Rust's `#[thread_local]` is unstable, and on `tlsdll.dll`'s,
//! which it imports. Checks that the program got TLS index 0 and tlsdll index 1; that the
//! main thread's blocks are copies of the templates with their zero fill; that a second
//! thread (RtlCreateUserThread) gets fresh copies of its own, after the main thread changed
//! its, whose writes the main thread does not see; and, in the log tlsdll keeps for all
//! three, that the callbacks and tlsdll's DllMain ran in NT's order: for
//! DLL_PROCESS_ATTACH (before main), DLL_THREAD_ATTACH and DLL_THREAD_DETACH, tlsdll's
//! callback, its DllMain, then the program's callback, each attach with the thread's block
//! already there. Main ends with RtlExitUserThread: as the process's last thread, that
//! ends the process, so at DLL_PROCESS_DETACH the program's callback prints the events
//! logged since main.
//!
//! Prints `ok:`/`WRONG:` per check; exits 0 only when every check holds.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use abi::nt::{DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH};
use abi::service::CURRENT_PROCESS_HANDLE;
use rt::tally::{ExpectedValue, Tally};
use rt::{Args, NtStatus, print, println};

#[link(name = "tlsdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn TlsDllRecord(event: u32);
    fn TlsDllEvent(index: u32) -> u32;
    fn TlsDllIndex() -> u32;
    fn TlsDllBlock() -> *mut u8;
}

rt::entry!(main, ntdll);

/// The template's bytes: what every thread's block starts with.
const TEMPLATE: [u8; 16] = *b"tls template 42!";
/// The zero bytes after the template in every block.
const ZERO_FILL: usize = 48;
const BLOCK_SIZE: usize = TEMPLATE.len() + ZERO_FILL;
/// tlsdll's template, and its block's size with the zero fill.
const DLL_TEMPLATE: [u8; 8] = *b"tlsdll!\0";
const DLL_BLOCK_SIZE: usize = 16;

/// Who the log says was called, besides the reason.
const DLL_CALLBACK: u32 = 0x100;
const DLL_MAIN: u32 = 0x200;
const CALLBACK: u32 = 0x300;

abi::static_tls!(
    directory;
    template: TEMPLATE,
    zero_fill: ZERO_FILL,
    callback: tls_callback,
);

/// Whether an attach callback ever ran without the calling thread's block being a fresh
/// copy of the template (it runs before the thread's own code can change it).
static CALLBACK_SAW_NO_BLOCK: AtomicBool = AtomicBool::new(false);
/// How many events the log had when main ended.
static EVENTS_AT_MAIN_END: AtomicUsize = AtomicUsize::new(0);

unsafe extern "system" fn tls_callback(_module: u64, reason: u32, _reserved: u64) {
    // SAFETY: tlsdll's export, bound before any callback runs.
    unsafe { TlsDllRecord(CALLBACK | reason) };
    let attach = reason == DLL_PROCESS_ATTACH || reason == DLL_THREAD_ATTACH;
    if attach && !block().is_some_and(|block| is_fresh(block)) {
        CALLBACK_SAW_NO_BLOCK.store(true, Ordering::Release);
    }
    if reason == DLL_PROCESS_DETACH {
        // After main: only the console can show it.
        print!("tlstest: DLL_PROCESS_DETACH events:");
        for event in events(EVENTS_AT_MAIN_END.load(Ordering::Acquire)..64) {
            print!(" {event:#x}");
        }
        println!();
    }
}

/// The log's events from `range.start` on (to its end, at most `range.end`).
fn events(range: core::ops::Range<usize>) -> impl Iterator<Item = u32> {
    range
        // SAFETY: tlsdll's export, bound before main.
        .map(|index| unsafe { TlsDllEvent(index as u32) })
        .take_while(|event| *event != u32::MAX)
}

/// Shows the logged events, for a WRONG line.
struct Events(usize);

impl core::fmt::Display for Events {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for event in events(0..self.0) {
            write!(f, "{event:#x} ")?;
        }
        Ok(())
    }
}

/// Whether the log, from its start, holds exactly `expected`.
fn logged(expected: &[u32]) -> bool {
    events(0..64).eq(expected.iter().copied())
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

/// The calling thread's block of tlsdll.
fn dll_block() -> Option<&'static mut [u8; DLL_BLOCK_SIZE]> {
    // SAFETY: tlsdll's block has its template's size plus its zero fill, and only this
    // thread uses it.
    unsafe { TlsDllBlock().cast::<[u8; DLL_BLOCK_SIZE]>().as_mut() }
}

fn is_fresh(block: &[u8; BLOCK_SIZE]) -> bool {
    block[..TEMPLATE.len()] == TEMPLATE && block[TEMPLATE.len()..].iter().all(|byte| *byte == 0)
}

fn is_fresh_dll(block: &[u8; DLL_BLOCK_SIZE]) -> bool {
    block[..DLL_TEMPLATE.len()] == DLL_TEMPLATE
        && block[DLL_TEMPLATE.len()..].iter().all(|byte| *byte == 0)
}

/// What the second thread found, for main to check.
static THREAD_FRESH: AtomicBool = AtomicBool::new(false);
static THREAD_DLL_FRESH: AtomicBool = AtomicBool::new(false);
static THREAD_BLOCK: AtomicUsize = AtomicUsize::new(0);
static THREAD_DLL_BLOCK: AtomicUsize = AtomicUsize::new(0);

extern "system" fn second_thread(_: u64) -> NtStatus {
    if let Some(block) = block() {
        THREAD_FRESH.store(is_fresh(block), Ordering::Release);
        THREAD_BLOCK.store(block.as_ptr() as usize, Ordering::Release);
        block[..4].copy_from_slice(b"thrd");
    }
    if let Some(block) = dll_block() {
        THREAD_DLL_FRESH.store(is_fresh_dll(block), Ordering::Release);
        THREAD_DLL_BLOCK.store(block.as_ptr() as usize, Ordering::Release);
        block[0] = b'T';
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
        "the program's TLS index",
        _tls_index.load(Ordering::Relaxed).into(),
        0,
    );
    // SAFETY: tlsdll's export.
    let dll_index = unsafe { TlsDllIndex() };
    tally.value("tlsdll's TLS index", dll_index.into(), 1);
    let process_attach = [
        DLL_CALLBACK | DLL_PROCESS_ATTACH,
        DLL_MAIN | DLL_PROCESS_ATTACH,
        CALLBACK | DLL_PROCESS_ATTACH,
    ];
    tally.check(
        "DLL_PROCESS_ATTACH before main: tlsdll's callback, its DllMain, the program's callback",
        logged(&process_attach),
        &Events(64),
    );

    let (Some(main_block), Some(main_dll_block)) = (block(), dll_block()) else {
        tally.check("the main thread has TLS blocks", false, &"no array");
        return finish(&tally);
    };
    tally.check(
        "the main thread's block is the template and its zero fill",
        is_fresh(main_block),
        &Bytes(&main_block[..]),
    );
    tally.check(
        "the main thread's tlsdll block is tlsdll's template and its zero fill",
        is_fresh_dll(main_dll_block),
        &Bytes(&main_dll_block[..]),
    );
    main_block[..4].copy_from_slice(b"main");
    main_dll_block[0] = b'M';

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
        "the thread's blocks are fresh copies after main changed its own",
        THREAD_FRESH.load(Ordering::Acquire) && THREAD_DLL_FRESH.load(Ordering::Acquire),
        &"not the templates",
    );
    let thread_block = THREAD_BLOCK.load(Ordering::Acquire);
    tally.check(
        "the thread's block is not main's",
        thread_block != 0 && thread_block != main_block.as_ptr() as usize,
        &ExpectedValue(thread_block as u64, main_block.as_ptr() as u64),
    );
    let thread_dll_block = THREAD_DLL_BLOCK.load(Ordering::Acquire);
    tally.check(
        "the thread's tlsdll block is neither main's nor its own program block",
        thread_dll_block != 0
            && thread_dll_block != main_dll_block.as_ptr() as usize
            && thread_dll_block != thread_block,
        &ExpectedValue(thread_dll_block as u64, main_dll_block.as_ptr() as u64),
    );
    tally.check(
        "main's blocks keep main's writes, not the thread's",
        main_block[..4] == *b"main"
            && main_block[4..TEMPLATE.len()] == TEMPLATE[4..]
            && main_dll_block[0] == b'M',
        &Bytes(&main_block[..]),
    );
    let mut expected = [0; 9];
    expected[..3].copy_from_slice(&process_attach);
    for (events, reason) in expected[3..]
        .chunks_mut(3)
        .zip([DLL_THREAD_ATTACH, DLL_THREAD_DETACH])
    {
        events.copy_from_slice(&[DLL_CALLBACK | reason, DLL_MAIN | reason, CALLBACK | reason]);
    }
    tally.check(
        "the thread's attach and detach: tlsdll's callback, its DllMain, the program's callback",
        logged(&expected),
        &Events(64),
    );
    tally.check(
        "every attach callback found the thread's fresh block",
        !CALLBACK_SAW_NO_BLOCK.load(Ordering::Acquire),
        &"a callback ran without it",
    );
    EVENTS_AT_MAIN_END.store(expected.len(), Ordering::Release);
    finish(&tally)
}

fn finish(tally: &Tally) -> NtStatus {
    println!("tlstest: {} checks, {} wrong", tally.cases, tally.wrong);
    let status = if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    };
    // The process's last thread: RtlExitUserThread ends the process, DLL_PROCESS_DETACH
    // included, as NT's does.
    // SAFETY: no pointer arguments; the call does not return.
    unsafe { rt::ntdll::RtlExitUserThread(status) }
}

/// A block's bytes, for a WRONG line.
struct Bytes<'a>(&'a [u8]);

impl core::fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
