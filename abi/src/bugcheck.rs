//! Bugcheck codes the kernel stops with (`KeBugCheckEx`), shared so the VMM can name them.

/// A bugcheck code; the kernel reports it with four parameters through `Shutdown`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BugCheck(pub u32);

macro_rules! bugchecks {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        impl BugCheck {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The symbolic name of a code this crate defines.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

bugchecks! {
    /// An exception in kernel mode: (NTSTATUS, rip, error code, cr2).
    KMODE_EXCEPTION_NOT_HANDLED = 0x1E,
    /// Boot information missing or inconsistent: (address, detail, detail, 0).
    PHASE0_INITIALIZATION_FAILED = 0x31,
    /// The System process or its threads could not be created: (NTSTATUS, 0, 0, 0).
    PROCESS1_INITIALIZATION_FAILED = 0x6B,
    /// A kernel-mode page fault nothing can resolve: (address, write, rip, error code).
    PAGE_FAULT_IN_NONPAGED_AREA = 0x50,
    /// guest.img cannot be read: (0, 0, 0, 0).
    INACCESSIBLE_BOOT_DEVICE = 0x7B,
    /// A double fault or a trap the kernel never expects: (vector, rip, error code, 0).
    UNEXPECTED_KERNEL_MODE_TRAP = 0x7F,
    /// Physical memory ran out where the kernel cannot fail: (pages wanted, 0, 0, 0).
    NO_PAGES_AVAILABLE = 0x4D,
    /// The PFN database is inconsistent, as when a frame not in use is released:
    /// (0x99 or 0x9A, physical address, 0, 0).
    PFN_LIST_CORRUPT = 0x4E,
    /// A Rust panic in the kernel (this project's own code; NT has none): the message is
    /// on the console, the parameters are (line, column, 0, 0).
    KERNEL_PANIC = 0xBAD,
}

impl core::fmt::Display for BugCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{:#010x} ({name})", self.0),
            None => write!(f, "{:#010x}", self.0),
        }
    }
}
