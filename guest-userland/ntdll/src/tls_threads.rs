//! The threads the loader knows, by TEB address, so that a DLL with TLS loaded after
//! process start can give each of them a block ([`crate::tls`]).
//!
//! A thread is listed, under the loader lock, when it goes through the loader on its way
//! in (the process's first thread, when it has DLLs or TLS; every other thread that starts
//! while the process has a DLL of its own attached or TLS) or loads a DLL with TLS, and
//! taken off in `LdrShutdownThread`. A thread that started while the process had neither
//! skipped the loader, which keeps such a process free of loader work, and is not listed.
//! A thread that ended without `LdrShutdownThread` stays listed until the loader finds its
//! TEB gone, which is why other threads' TEBs are only ever reached through the kernel
//! ([`crate::ldr_calls::read_u64`]).
//! The list is an array in the process heap, grown as needed.

use core::cell::UnsafeCell;

use abi::NtStatus;

use crate::rtl::heap::{RtlAllocateHeap, RtlReAllocateHeap, process_heap_handle};

/// One listed thread.
#[derive(Clone, Copy)]
pub struct Thread {
    /// The thread's TEB.
    pub teb: u64,
    /// A TLS array made for the thread and not yet installed in its TEB, 0 for none.
    pub pending: u64,
}

struct List {
    threads: *mut Thread,
    count: usize,
    capacity: usize,
}

struct Threads(UnsafeCell<List>);

// SAFETY: the list is only read and changed under the loader lock.
unsafe impl Sync for Threads {}

static THREADS: Threads = Threads(UnsafeCell::new(List {
    threads: core::ptr::null_mut(),
    count: 0,
    capacity: 0,
}));

/// Lists the calling thread (once). STATUS_NO_MEMORY when the list cannot grow.
pub fn list_current() -> Result<(), NtStatus> {
    let teb = current_teb();
    let mut listed = false;
    retain(|thread| {
        listed |= thread.teb == teb;
        true
    });
    if listed {
        return Ok(());
    }
    // SAFETY: under the loader lock; no slice of the list is alive across the change.
    let list = unsafe { &mut *THREADS.0.get() };
    if list.count == list.capacity {
        let capacity = (list.capacity * 2).max(8);
        let size = capacity * size_of::<Thread>();
        let heap = process_heap_handle();
        let threads = if list.threads.is_null() {
            RtlAllocateHeap(heap, 0, size)
        } else {
            RtlReAllocateHeap(heap, 0, list.threads as u64, size)
        };
        if threads == 0 {
            return Err(NtStatus::NO_MEMORY);
        }
        list.threads = threads as *mut Thread;
        list.capacity = capacity;
    }
    // SAFETY: the array has room for `capacity` entries, `count` of them in use.
    unsafe {
        list.threads
            .add(list.count)
            .write(Thread { teb, pending: 0 })
    };
    list.count += 1;
    Ok(())
}

/// Takes the calling thread off the list.
pub fn unlist_current() {
    let teb = current_teb();
    retain(|thread| thread.teb != teb);
}

/// Calls `keep` with each listed thread and keeps those for which it is true (the order
/// is not kept). `keep` must not change the list.
pub fn retain(mut keep: impl FnMut(&mut Thread) -> bool) {
    // SAFETY: under the loader lock; no slice of the list is alive across the change.
    let list = unsafe { &mut *THREADS.0.get() };
    let mut index = 0;
    while index < list.count {
        // SAFETY: `index` is below `count`.
        let thread = unsafe { &mut *list.threads.add(index) };
        if keep(thread) {
            index += 1;
        } else {
            list.count -= 1;
            // SAFETY: both indices are below the old count.
            unsafe {
                list.threads
                    .add(index)
                    .write(list.threads.add(list.count).read())
            };
        }
    }
}

/// `TEB.NtTib.Self`.
pub fn current_teb() -> u64 {
    let teb: u64;
    // SAFETY: gs:[0x30] is the calling thread's TEB.NtTib.Self; the read has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x30]", out(reg) teb, options(nostack, readonly, preserves_flags));
    }
    teb
}
