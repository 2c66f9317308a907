//! Hypercall ABI v1: how the guest asks the host for console output, shutdown and boot markers.
//!
//! The guest writes the 64-bit guest-physical address of a request block to the doorbell
//! `DOORBELL_BASE + 8 * call` with a single 8-byte MMIO store (a `KVM_EXIT_MMIO` on the
//! host). Every request block starts with a [`RequestHeader`]; the host copies the whole
//! block out of guest memory, validates it, performs the call and writes the
//! [`HypercallStatus`] back into the header's `status` field. A request whose block address
//! itself is unusable cannot be answered and is dropped (the VMM counts it).

/// Version carried in every request; the host rejects any other with [`HypercallStatus::BadVersion`].
pub const ABI_VERSION: u32 = 1;

/// Guest-physical address of doorbell 0. The page `DOORBELL_BASE..DOORBELL_BASE + 4096`
/// is never RAM.
pub const DOORBELL_BASE: u64 = 0xF000_0000;
/// Size of the doorbell window; stores anywhere in it are hypercalls (or unknown calls).
pub const DOORBELL_WINDOW: u64 = 0x1000;

/// Hypercall numbers (`n` in `DOORBELL_BASE + 8 * n`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// [`ConsoleWrite`]: append bytes to the console.
    ConsoleWrite = 0,
    /// [`Shutdown`]: stop the VM with an exit status or a bugcheck.
    Shutdown = 1,
    /// [`BootProgress`]: a boot milestone, timestamped by the host.
    BootProgress = 2,
}

impl Call {
    /// The call for a doorbell offset, if the offset names a known call.
    pub const fn from_doorbell_offset(offset: u64) -> Option<Self> {
        if !offset.is_multiple_of(8) {
            return None;
        }
        match offset / 8 {
            0 => Some(Self::ConsoleWrite),
            1 => Some(Self::Shutdown),
            2 => Some(Self::BootProgress),
            _ => None,
        }
    }

    /// Guest-physical address of this call's doorbell.
    pub const fn doorbell(self) -> u64 {
        DOORBELL_BASE + 8 * self as u64
    }

    /// Size in bytes of this call's request block.
    pub const fn request_size(self) -> usize {
        match self {
            Self::ConsoleWrite => core::mem::size_of::<ConsoleWrite>(),
            Self::Shutdown => core::mem::size_of::<Shutdown>(),
            Self::BootProgress => core::mem::size_of::<BootProgress>(),
        }
    }
}

/// Result of a hypercall, written by the host into [`RequestHeader::status`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HypercallStatus {
    /// The guest sets this before ringing; the host always overwrites it.
    Pending = 0xFFFF_FFFF,
    Success = 0,
    /// `abi_version` is not [`ABI_VERSION`].
    BadVersion = 1,
    /// The doorbell offset names no call.
    UnknownCall = 2,
    /// A guest-physical range in the request lies outside guest memory or wraps.
    BadAddress = 3,
    /// A length is larger than the call allows.
    BadLength = 4,
    /// A field holds a value the call does not define.
    BadArgument = 5,
}

impl HypercallStatus {
    /// Decodes a raw status word written by the host.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            0 => Self::Success,
            1 => Self::BadVersion,
            2 => Self::UnknownCall,
            3 => Self::BadAddress,
            4 => Self::BadLength,
            5 => Self::BadArgument,
            0xFFFF_FFFF => Self::Pending,
            _ => return None,
        })
    }
}

/// First 8 bytes of every request block.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub abi_version: u32,
    /// A raw [`HypercallStatus`], written by the host.
    pub status: u32,
}

impl RequestHeader {
    pub const fn new() -> Self {
        Self {
            abi_version: ABI_VERSION,
            status: HypercallStatus::Pending as u32,
        }
    }
}

impl Default for RequestHeader {
    fn default() -> Self {
        Self::new()
    }
}

/// Largest console write the host accepts in one call.
pub const CONSOLE_WRITE_MAX: u64 = 64 * 1024;

/// [`Call::ConsoleWrite`]: `len` bytes at guest-physical `buffer` go to the console as UTF-8
/// (invalid sequences are replaced on the host).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleWrite {
    pub header: RequestHeader,
    pub buffer: u64,
    pub len: u64,
}

/// What a [`Shutdown`] request reports.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownKind {
    /// The first program exited; `code` is its exit status (an NTSTATUS).
    Exit = 0,
    /// The kernel stopped on a fatal error: `code` is the bugcheck code and `parameters`
    /// its four parameters, as `KeBugCheckEx` takes them.
    BugCheck = 1,
}

impl ShutdownKind {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::Exit),
            1 => Some(Self::BugCheck),
            _ => None,
        }
    }
}

/// [`Call::Shutdown`]: stop every vCPU and end the run.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shutdown {
    pub header: RequestHeader,
    /// A raw [`ShutdownKind`].
    pub kind: u32,
    pub code: u32,
    pub parameters: [u64; 4],
}

/// Boot milestones reported through [`Call::BootProgress`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMarker {
    /// First instructions of the kernel's entry point on the boot processor.
    KernelEntered = 0,
    /// Kernel initialisation finished; the first process is about to be created.
    KernelReady = 1,
    /// The first user-mode instruction is about to run.
    UserModeEntered = 2,
}

impl BootMarker {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(Self::KernelEntered),
            1 => Some(Self::KernelReady),
            2 => Some(Self::UserModeEntered),
            _ => None,
        }
    }
}

/// [`Call::BootProgress`]: the host records when it saw the marker.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootProgress {
    pub header: RequestHeader,
    /// A raw [`BootMarker`].
    pub marker: u32,
    pub reserved: u32,
    /// The guest's TSC when it reached the marker.
    pub tsc: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doorbell_offsets_round_trip() {
        for call in [Call::ConsoleWrite, Call::Shutdown, Call::BootProgress] {
            assert_eq!(
                Call::from_doorbell_offset(call.doorbell() - DOORBELL_BASE),
                Some(call)
            );
        }
        assert_eq!(Call::from_doorbell_offset(4), None);
        assert_eq!(Call::from_doorbell_offset(8 * 3), None);
    }

    #[test]
    fn request_sizes_are_stable() {
        assert_eq!(core::mem::size_of::<RequestHeader>(), 8);
        assert_eq!(Call::ConsoleWrite.request_size(), 24);
        assert_eq!(Call::Shutdown.request_size(), 48);
        assert_eq!(Call::BootProgress.request_size(), 24);
    }
}
