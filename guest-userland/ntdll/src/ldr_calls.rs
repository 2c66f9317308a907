//! What the DLL loader asks of the system: mapping an image file (NtOpenFile,
//! NtCreateSection, NtMapViewOfSection), unmapping it, the loader lock (a mutant), the
//! wait for another thread's process initialization and checked access to other threads'
//! TEBs, over [`crate::native`]'s services.

use abi::NtStatus;
use abi::access::MUTANT_ALL_ACCESS;
use abi::memory::{MEM_RELEASE, PAGE_EXECUTE_WRITECOPY};
use abi::nt::UnicodeString;
use abi::section::VIEW_SHARE;
use abi::service::CURRENT_PROCESS_HANDLE;

use crate::native::{
    create_image_section, nt_close, nt_create_mutant, nt_delay_execution, nt_free_virtual_memory,
    nt_map_view_of_section, nt_read_virtual_memory, nt_release_mutant, nt_unmap_view_of_section,
    nt_wait_for_single_object, nt_write_virtual_memory, to_result,
};

/// Maps the image file at the NT path `path` into this process, where the kernel puts it:
/// its preferred base when that is free, else anywhere, with its base relocations applied
/// (STATUS_IMAGE_NOT_AT_BASE, a success). Returns the view's base. The file and section
/// handles are closed again; the view keeps the section.
pub fn map_image_file(path: &[u16]) -> Result<u64, NtStatus> {
    let name = UnicodeString {
        length: (path.len() * 2) as u16,
        maximum_length: (path.len() * 2) as u16,
        reserved: 0,
        buffer: path.as_ptr() as u64,
    };
    let section = create_image_section(&name)?;
    let mut base = 0;
    let mut view_size = 0;
    // SAFETY: the base and size are locals; no offset.
    let status = unsafe {
        nt_map_view_of_section(
            section,
            CURRENT_PROCESS_HANDLE,
            &mut base,
            0,
            0,
            core::ptr::null_mut(),
            &mut view_size,
            VIEW_SHARE,
            0,
            PAGE_EXECUTE_WRITECOPY,
        )
    };
    close(section);
    to_result(status)?;
    Ok(base)
}

/// Unmaps the view at `base` from this process.
pub fn unmap_image(base: u64) {
    // SAFETY: the loader unmaps only views it mapped and no longer uses. Failure leaves
    // the view mapped, which costs address space and nothing else.
    unsafe { nt_unmap_view_of_section(CURRENT_PROCESS_HANDLE, base) };
}

/// Releases the allocation at `base` ([`crate::calls::allocate_own_memory`]'s).
pub fn free_own_memory(base: u64) {
    let mut address = base;
    let mut size = 0;
    // SAFETY: both pointers are to locals; the loader frees only its own allocations, no
    // longer referred to. Failure leaves the allocation, which costs memory only.
    unsafe { nt_free_virtual_memory(CURRENT_PROCESS_HANDLE, &mut address, &mut size, MEM_RELEASE) };
}

/// `NtClose` of a handle of the loader's own that it no longer uses.
pub fn close(handle: u64) {
    // SAFETY: the handle is the caller's own and no longer used.
    unsafe { nt_close(handle) };
}

/// A new unnamed mutant, not owned: the loader lock.
pub fn create_mutant() -> Result<u64, NtStatus> {
    let mut handle = 0;
    // SAFETY: the handle pointer is a local; no attributes.
    to_result(unsafe { nt_create_mutant(&mut handle, MUTANT_ALL_ACCESS, core::ptr::null(), 0) })?;
    Ok(handle)
}

/// Waits for and owns `mutant` (again, when this thread owns it already). An abandoned
/// mutant (its owner died holding it) is owned all the same.
pub fn acquire_mutant(mutant: u64) {
    // SAFETY: no timeout pointer: the wait lasts until the mutant is free.
    unsafe { nt_wait_for_single_object(mutant, 0, core::ptr::null()) };
}

/// Releases one level of ownership of `mutant`.
pub fn release_mutant(mutant: u64) {
    // SAFETY: the previous count may be NULL.
    unsafe { nt_release_mutant(mutant, core::ptr::null_mut()) };
}

/// Sleeps one clock tick (10 ms), while another thread initializes the process.
pub fn delay_a_tick() {
    const ONE_TICK: i64 = -100_000;
    // SAFETY: the interval is a local, relative (negative) in 100 ns units.
    unsafe { nt_delay_execution(0, &ONE_TICK) };
}

/// The u64 at `address` in this process, read through the kernel: None when it is not
/// mapped (the TEB of a thread that ended without telling the loader).
pub fn read_u64(address: u64) -> Option<u64> {
    let mut value = 0u64;
    // SAFETY: the buffer is a local of the size given; the kernel checks the address.
    let status = unsafe {
        nt_read_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            address,
            (&raw mut value).cast(),
            8,
            core::ptr::null_mut(),
        )
    };
    status.is_success().then_some(value)
}

/// Writes `value` at `address` in this process through the kernel: false when it is not
/// mapped, as [`read_u64`].
pub fn write_u64(address: u64, value: u64) -> bool {
    // SAFETY: the buffer is a local of the size given; the kernel checks the address, and
    // the loader writes only fields of TEBs that only it writes.
    let status = unsafe {
        nt_write_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            address,
            (&raw const value).cast(),
            8,
            core::ptr::null_mut(),
        )
    };
    status.is_success()
}
