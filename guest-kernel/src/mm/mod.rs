//! The memory manager: physical frames, kernel pool, user address spaces, image mapping
//! and the probing of user buffers.

pub mod address_space;
pub mod image;
mod pfn;
mod pool;
pub mod probe;
mod shared_data;

pub use address_space::AddressSpace;

use abi::boot::{BootInfo, PhysRange};
use abi::layout::phys_to_virt;

/// Takes over the usable RAM the BootInfo lists and creates the shared user data page.
pub fn init(boot_info: &BootInfo) {
    pfn::init(boot_info.memory_map());
    shared_data::init(crate::arch::system_calls_use_int_2e());
}

/// A reference to a `T` at guest-physical `phys`, through the direct map.
pub fn phys_to_ref<T>(phys: u64) -> Option<&'static T> {
    if phys == 0 || !phys.is_multiple_of(align_of::<T>() as u64) {
        return None;
    }
    // SAFETY: the direct map covers all guest RAM and the image for the kernel's lifetime;
    // callers only name ranges the VMM describes in the BootInfo, which nothing writes.
    Some(unsafe { &*(phys_to_virt(phys) as *const T) })
}

/// The bytes of a guest-physical range the VMM described, through the direct map.
pub fn phys_slice(range: PhysRange) -> Option<&'static [u8]> {
    range.end()?;
    if range.len == 0 {
        return Some(&[]);
    }
    // SAFETY: as for `phys_to_ref`: the range is one the VMM described and never changes.
    Some(unsafe {
        core::slice::from_raw_parts(phys_to_virt(range.start) as *const u8, range.len as usize)
    })
}
