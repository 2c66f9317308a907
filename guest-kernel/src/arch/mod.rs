//! The hardware layer: everything that touches privileged CPU state lives below here.
//!
//! The rest of the kernel sees only this interface, so a paravirtual backend can replace
//! the plain x86-64 one without touching `ke`, `mm` or `ps`.

mod x86_64;

pub use self::x86_64::*;
