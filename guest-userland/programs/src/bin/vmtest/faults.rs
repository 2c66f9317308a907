//! vmtest's faulting modes: each makes one access the kernel must end the process for.

use super::*;

fn not_faulted(what: &str) -> NtStatus {
    println!("vmtest: {what} did not fault");
    NtStatus::UNSUCCESSFUL
}

pub(super) fn fault_readonly() -> NtStatus {
    let (_, base, _) = allocate(0, PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    // SAFETY: committed read-write.
    unsafe { poke(base, 1) };
    let (status, _, _, _) = protect(base, PAGE, PAGE_READONLY);
    println!("vmtest: protected {base:#x} read-only ({status}); writing to it");
    // SAFETY: the write must fault: the kernel ends the process.
    unsafe { poke(base, 2) };
    not_faulted("a write to a read-only page")
}

pub(super) fn fault_guard() -> NtStatus {
    let (status, base, _) = allocate(
        0,
        PAGE,
        MEM_RESERVE | MEM_COMMIT,
        PAGE_READWRITE | PAGE_GUARD,
    );
    println!("vmtest: guard page at {base:#x} ({status}); touching it");
    // SAFETY: the read must fault with a guard-page violation, which ends the process.
    unsafe { peek(base) };
    not_faulted("the first touch of a guard page")
}

pub(super) fn fault_decommitted() -> NtStatus {
    let (_, base, _) = allocate(0, 2 * PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    // SAFETY: committed read-write.
    unsafe { poke(base + PAGE, 1) };
    let (status, _, _) = free(base + PAGE, PAGE, MEM_DECOMMIT);
    println!(
        "vmtest: decommitted {:#x} ({status}); reading it",
        base + PAGE
    );
    // SAFETY: the read must fault: the kernel ends the process.
    unsafe { peek(base + PAGE) };
    not_faulted("a read of a decommitted page")
}

pub(super) fn fault_released() -> NtStatus {
    let (_, base, _) = allocate(0, PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    // SAFETY: committed read-write.
    unsafe { poke(base, 1) };
    let (status, _, _) = free(base, 0, MEM_RELEASE);
    println!("vmtest: released {base:#x} ({status}); reading it");
    // SAFETY: the read must fault: the kernel ends the process.
    unsafe { peek(base) };
    not_faulted("a read of a released page")
}

pub(super) fn fault_noaccess() -> NtStatus {
    let (_, base, _) = allocate(0, PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    // SAFETY: committed read-write.
    unsafe { poke(base, 1) };
    let (status, _, _, _) = protect(base, PAGE, PAGE_NOACCESS);
    println!("vmtest: protected {base:#x} no-access ({status}); reading it");
    // SAFETY: the read must fault: the kernel ends the process.
    unsafe { peek(base) };
    not_faulted("a read of a no-access page")
}

pub(super) fn fault_execute() -> NtStatus {
    let (_, base, _) = allocate(0, PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    // `ret`
    // SAFETY: committed read-write.
    unsafe { (base as *mut u8).write_volatile(0xC3) };
    let (status, _, _, _) = protect(base, PAGE, PAGE_EXECUTE_READ);
    // SAFETY: the page holds a lone `ret` and is executable: calling it returns at once.
    let function: extern "C" fn() = unsafe { core::mem::transmute(base as usize) };
    function();
    println!(
        "vmtest: called {base:#x} while executable ({status}); making it read-write and calling again"
    );
    let (status, _, _, _) = protect(base, PAGE, PAGE_READWRITE);
    println!("vmtest: read-write again ({status})");
    function();
    not_faulted("a call into a no-execute page")
}
