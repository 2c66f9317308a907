//! The runtime library (`Rtl*`): counted strings ([`string`]), the PEB ([`peb`]), the
//! process heap ([`heap`]), process parameters and process creation the classic way
//! ([`process`]), and threads ([`thread`]). Every export is a `#[no_mangle]` function of
//! these modules, with NT's name and signature.

pub mod heap;
pub mod peb;
pub mod process;
pub mod string;
pub mod thread;

/// What the loader's process initialization asks of the runtime library before the entry
/// point runs: `PEB.ProcessHeap`.
///
/// # Safety
/// `peb` is the calling process's PEB.
pub unsafe fn initialize_process(peb: *mut abi::nt::Peb) {
    // SAFETY: the caller gives the process's PEB.
    unsafe { heap::initialize_process_heap(peb) };
}
