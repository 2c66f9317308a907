//! Address-space switches: what the kernel reports of them (whether processors tag
//! translations with PCIDs, the CR3 loads and how many kept what the TLB held), and a child
//! whose page its parent frees, or makes read-only, while the child is switched out: the
//! child's next write must fault. With PCIDs, the child's processor still holds the old
//! translation behind the child's tag, and only the kernel marking that tag stale keeps
//! the processor from using it; the case runs with the child on this processor and, with
//! several, on another.

use abi::dispatcher::THREAD_AFFINITY_MASK_CLASS;
use abi::memory::{MEM_RELEASE, PAGE_READONLY};
use abi::service::CURRENT_THREAD_HANDLE;
use abi::system_information::{
    SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS, SystemAddressSpaceSwitchInformation,
};
use rt::NtStatus;
use rt::process::{active_processors, create_user_process, query_basic_information, query_system};
use rt::syscall::{
    nt_free_virtual_memory, nt_protect_virtual_memory, nt_read_virtual_memory, nt_terminate_process,
};
use rt::tally::Tally;
use rt::text::TextBuffer;

use super::priority::set_thread_value;
use super::processors::{commit_page, delay_ms, keep_this_thread_to};
use super::{MS, wait};

/// Where `synctest revisit` commits the page it writes, which its parent changes.
const REVISITED_PAGE: u64 = 0x6000_0000;
/// How long the parent waits for the child's writes, and for its end.
const PATIENCE_MS: i64 = 10_000;
/// The child's pause between writes: long enough that it is nearly always switched out.
const REVISIT_PAUSE_MS: i64 = 2;
/// Writes the parent waits for before it changes the page.
const WRITES_BEFORE_CHANGE: u64 = 5;

/// What a parent does to the child's page while the child is switched out.
#[derive(Clone, Copy)]
enum Change {
    Free,
    MakeReadOnly,
}

/// `synctest switches`.
pub fn switches(t: &mut Tally) {
    let full = size_of::<SystemAddressSpaceSwitchInformation>() as u32;
    let (status, before, returned) = query_system(
        SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS,
        SystemAddressSpaceSwitchInformation::default(),
    );
    t.status(
        "SystemAddressSpaceSwitchInformation",
        status,
        NtStatus::SUCCESS,
    );
    t.value(
        "SystemAddressSpaceSwitchInformation's ReturnLength",
        u64::from(returned),
        u64::from(full),
    );
    let (status, _, returned) = query_system(
        SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS,
        [0u8; size_of::<SystemAddressSpaceSwitchInformation>() - 1],
    );
    t.status(
        "SystemAddressSpaceSwitchInformation into a short buffer",
        status,
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    t.value(
        "the short buffer's ReturnLength is the size needed",
        u64::from(returned),
        u64::from(full),
    );
    let pcids = before.process_context_ids != 0;
    rt::println!(
        "address-space switches: PCIDs {}",
        if pcids { "in use" } else { "not in use" }
    );

    // The thread, not the process: the children inherit the process's affinity, and one
    // of them runs on another processor.
    keep_this_thread_to(t, "this thread keeps to processor 0", 1);
    let count = active_processors().map_or(1, u64::count_ones);
    let places: &[u32] = if count > 1 { &[0, count - 1] } else { &[0] };
    for &processor in places {
        for change in [Change::Free, Change::MakeReadOnly] {
            revisit(t, processor, change);
        }
    }

    let (_, after, _) = query_system(
        SYSTEM_ADDRESS_SPACE_SWITCH_INFORMATION_CLASS,
        SystemAddressSpaceSwitchInformation::default(),
    );
    let loads = after.loads - before.loads;
    let kept = after.loads_keeping_translations - before.loads_keeping_translations;
    rt::println!("address-space switches: {loads} CR3 loads, {kept} kept their translations");
    t.check("the CR3 loads are counted", loads > 0, &loads);
    if pcids {
        t.check(
            "with PCIDs, switching back to a process kept its translations",
            kept > 0,
            &kept,
        );
    } else {
        t.value("without PCIDs, every CR3 load flushed", kept, 0);
    }
}

/// Starts `synctest revisit PROCESSOR`, waits until it has written its page a few times,
/// applies `change` to the page (the child, pausing between writes, is switched out), and
/// checks that the child's next write ended it with STATUS_ACCESS_VIOLATION.
fn revisit(t: &mut Tally, processor: u32, change: Change) {
    let (what, done) = match change {
        Change::Free => ("freed", "NtFreeVirtualMemory of the child's page"),
        Change::MakeReadOnly => (
            "made read-only",
            "NtProtectVirtualMemory of the child's page",
        ),
    };
    let place = if processor == 0 {
        "on this processor"
    } else {
        "on another processor"
    };
    let mut command = TextBuffer::<48>::new();
    let _ = core::fmt::Write::write_fmt(&mut command, format_args!("synctest revisit {processor}"));
    let child = match create_user_process("synctest", command.as_str(), 0, 0) {
        Ok(child) => child,
        Err(status) => {
            t.status("a revisiting child process", status, NtStatus::SUCCESS);
            return;
        }
    };
    let mut writes = 0u64;
    let mut waited = 0;
    while writes < WRITES_BEFORE_CHANGE && waited < PATIENCE_MS {
        delay_ms(1);
        waited += 1;
        // SAFETY: the buffer is a local of the size passed; the child's page may not be
        // there yet, which the kernel reports as an error.
        let status = unsafe {
            nt_read_virtual_memory(
                child.process,
                REVISITED_PAGE,
                (&raw mut writes).cast(),
                8,
                core::ptr::null_mut(),
            )
        };
        if !status.is_success() {
            writes = 0;
        }
    }
    t.check(
        "the child writes its page",
        writes >= WRITES_BEFORE_CHANGE,
        &writes,
    );
    let (mut base, mut size) = (REVISITED_PAGE, 0x1000u64);
    // SAFETY: the base, size and old protection are locals; the page is the child's.
    let status = unsafe {
        match change {
            Change::Free => {
                size = 0;
                nt_free_virtual_memory(child.process, &mut base, &mut size, MEM_RELEASE)
            }
            Change::MakeReadOnly => {
                let mut old = 0u32;
                nt_protect_virtual_memory(
                    child.process,
                    &mut base,
                    &mut size,
                    PAGE_READONLY,
                    &mut old,
                )
            }
        }
    };
    t.status(done, status, NtStatus::SUCCESS);
    let ended = wait(child.process, Some(-PATIENCE_MS * MS));
    if !ended.is_success() {
        // SAFETY: this program's own child.
        unsafe { nt_terminate_process(child.process, NtStatus::UNSUCCESSFUL) };
    }
    let status = query_basic_information(child.process).map_or(0, |info| info.exit_status);
    let mut case = TextBuffer::<96>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut case,
        format_args!("a page {what} while its process was switched out faults {place}"),
    );
    t.value(
        case.as_str(),
        u64::from(status),
        u64::from(NtStatus::ACCESS_VIOLATION.0),
    );
    child.close();
}

/// `synctest revisit PROCESSOR`: the child of the switch cases. Keeps to PROCESSOR,
/// commits [`REVISITED_PAGE`] and counts in it, pausing between writes, until a write
/// faults; exits with STATUS_UNSUCCESSFUL if none has after the patience.
pub fn revisit_child(processor: Option<u32>) -> NtStatus {
    let active = active_processors().unwrap_or(1);
    let Some(processor) =
        processor.filter(|&processor| processor < 64 && active & 1 << processor != 0)
    else {
        rt::println!("usage: synctest revisit PROCESSOR");
        return NtStatus::INVALID_PARAMETER;
    };
    let pinned = set_thread_value(
        CURRENT_THREAD_HANDLE,
        THREAD_AFFINITY_MASK_CLASS,
        &(1u64 << processor),
    );
    if !pinned.is_success() {
        return pinned;
    }
    let counter = match commit_page(REVISITED_PAGE) {
        Ok(page) => page as *mut u64,
        Err(status) => return status,
    };
    for _ in 0..PATIENCE_MS / REVISIT_PAUSE_MS {
        // SAFETY: the page is this process's and writable until the parent changes it;
        // the write after that must fault, which is what the parent checks.
        unsafe { counter.write_volatile(counter.read_volatile() + 1) };
        delay_ms(REVISIT_PAUSE_MS);
    }
    NtStatus::UNSUCCESSFUL
}
