//! Host unit tests of the kernel's pure data structures, the PCID tags and the translation
//! bookkeeping (arch code that touches no hardware) among them. The kernel's own files are
//! compiled here unchanged; `mm`, `ob` and `ps` mirror the kernel's module paths (`crate::mm::...`,
//! `crate::ob::...`, `crate::ps::...`) so the files' `super::`/`crate::` paths resolve as
//! they do there.
//!
//! Run with `cargo test -p host-tests --target x86_64-unknown-linux-gnu` in `guest-kernel/`
//! (the workspace builds for `x86_64-unknown-none` by default); `scripts/test.sh` does.

extern crate alloc;

#[path = "../../src/mm/address_space.rs"]
pub mod address_space;
#[path = "../../src/ps/cid.rs"]
pub mod cid;
#[path = "../../src/ob/handle_table.rs"]
pub mod handle_table;
#[path = "../../src/mm/image.rs"]
pub mod image;
#[path = "../../src/ob/namespace.rs"]
pub mod namespace;
#[path = "../../src/ob/object.rs"]
pub mod object;
#[path = "../../src/ob/object_table.rs"]
pub mod object_table;
#[path = "../../src/arch/x86_64/pcid.rs"]
pub mod pcid;
#[path = "../../src/mm/pfn.rs"]
pub mod pfn;
#[path = "../../src/ke/ready_queue.rs"]
pub mod ready_queue;
#[path = "../../src/arch/x86_64/translations.rs"]
pub mod translations;
#[path = "../../src/mm/vad.rs"]
pub mod vad;

/// The pure part of the kernel core (the ready queues), at its kernel path.
pub mod ke {
    pub use super::ready_queue;
}

/// The pure part of the memory manager (the PFN database, VADs, address-space logic, image
/// validation), at its kernel path.
pub mod mm {
    pub use super::{address_space, image, pfn, vad};
}

/// The pure part of the object manager, at its kernel path.
pub mod ob {
    pub use super::{handle_table, namespace, object, object_table};
}

/// The pure part of the process manager, at its kernel path.
pub mod ps {
    pub use super::cid;
}

#[cfg(test)]
mod tests;
