//! NTSTATUS: the guest's error currency, shared with the VMM so it can name exit statuses.

/// An NT status code. Severity is in the top two bits: `0b11` error, `0b10` warning.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NtStatus(pub u32);

macro_rules! statuses {
    ($($name:ident = $value:expr,)*) => {
        impl NtStatus {
            $(pub const $name: Self = Self($value);)*

            /// The symbolic name of a status this crate defines.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(concat!("STATUS_", stringify!($name))),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    SUCCESS = 0x0000_0000,
    UNSUCCESSFUL = 0xC000_0001,
    ACCESS_VIOLATION = 0xC000_0005,
    INVALID_HANDLE = 0xC000_0008,
    INVALID_CID = 0xC000_000B,
    INVALID_PARAMETER = 0xC000_000D,
    ILLEGAL_INSTRUCTION = 0xC000_001D,
    NO_MEMORY = 0xC000_0017,
    OBJECT_NAME_INVALID = 0xC000_0033,
    OBJECT_NAME_NOT_FOUND = 0xC000_0034,
    OBJECT_NAME_COLLISION = 0xC000_0035,
    OBJECT_PATH_INVALID = 0xC000_0039,
    OBJECT_PATH_NOT_FOUND = 0xC000_003A,
    OBJECT_PATH_SYNTAX_BAD = 0xC000_003B,
    OBJECT_TYPE_MISMATCH = 0xC000_0024,
    INVALID_PARAMETER_MIX = 0xC000_0030,
    INVALID_INFO_CLASS = 0xC000_0003,
    INFO_LENGTH_MISMATCH = 0xC000_0004,
    OBJECT_NAME_EXISTS = 0x4000_0000,
    PRIVILEGE_NOT_HELD = 0xC000_0061,
    DATATYPE_MISALIGNMENT = 0x8000_0002,
    BREAKPOINT = 0x8000_0003,
    SINGLE_STEP = 0x8000_0004,
    INTEGER_DIVIDE_BY_ZERO = 0xC000_0094,
    INTEGER_OVERFLOW = 0xC000_0095,
    PRIVILEGED_INSTRUCTION = 0xC000_0096,
    INSUFFICIENT_RESOURCES = 0xC000_009A,
    FLOAT_INVALID_OPERATION = 0xC000_0090,
    ARRAY_BOUNDS_EXCEEDED = 0xC000_008C,
    STACK_OVERFLOW = 0xC000_00FD,
    INVALID_IMAGE_FORMAT = 0xC000_007B,
    INVALID_SYSTEM_SERVICE = 0xC000_001C,
    NOT_IMPLEMENTED = 0xC000_0002,
    IMAGE_MACHINE_TYPE_MISMATCH = 0x4000_000E,
    ACCESS_DENIED = 0xC000_0022,
    ASSERTION_FAILURE = 0xC000_0420,
    // Virtual memory (NtAllocate/Free/Protect/Query/Read/WriteVirtualMemory) and page faults.
    GUARD_PAGE_VIOLATION = 0x8000_0001,
    PARTIAL_COPY = 0x8000_000D,
    CONFLICTING_ADDRESSES = 0xC000_0018,
    UNABLE_TO_FREE_VM = 0xC000_001A,
    UNABLE_TO_DELETE_SECTION = 0xC000_001B,
    NOT_COMMITTED = 0xC000_002D,
    INVALID_PAGE_PROTECTION = 0xC000_0045,
    FREE_VM_NOT_AT_BASE = 0xC000_009F,
    MEMORY_NOT_ALLOCATED = 0xC000_00A0,
    INVALID_PARAMETER_1 = 0xC000_00EF,
    INVALID_PARAMETER_2 = 0xC000_00F0,
    INVALID_PARAMETER_3 = 0xC000_00F1,
    INVALID_PARAMETER_4 = 0xC000_00F2,
    INVALID_PARAMETER_5 = 0xC000_00F3,
    INVALID_PARAMETER_6 = 0xC000_00F4,
    // Dispatcher: waits, threads and events.
    KERNEL_APC = 0x0000_0100,
    TIMEOUT = 0x0000_0102,
    PENDING = 0x0000_0103,
    NO_YIELD_PERFORMED = 0x4000_0024,
    SUSPEND_COUNT_EXCEEDED = 0xC000_004A,
    THREAD_IS_TERMINATING = 0xC000_004B,
    CANT_TERMINATE_SELF = 0xC000_00DB,
    // Processes.
    PROCESS_IS_TERMINATING = 0xC000_010A,
    // Resource limits.
    QUOTA_EXCEEDED = 0xC000_0044,
    TOO_MANY_THREADS = 0xC000_0129,
    COMMITMENT_LIMIT = 0xC000_012D,
    // Dispatcher objects: semaphores, mutants, timers and APCs.
    ABANDONED_WAIT_0 = 0x0000_0080,
    USER_APC = 0x0000_00C0,
    ALERTED = 0x0000_0101,
    MUTANT_NOT_OWNED = 0xC000_0046,
    SEMAPHORE_LIMIT_EXCEEDED = 0xC000_0047,
    TIMER_RESUME_IGNORED = 0x4000_0025,
    NOT_SUPPORTED = 0xC000_00BB,
    // Files, sections and images.
    INVALID_PARAMETER_7 = 0xC000_00F5,
    INVALID_PARAMETER_8 = 0xC000_00F6,
    INVALID_PARAMETER_9 = 0xC000_00F7,
    INVALID_PARAMETER_10 = 0xC000_00F8,
    NOT_MAPPED_VIEW = 0xC000_0019,
    INVALID_VIEW_SIZE = 0xC000_001F,
    INVALID_FILE_FOR_SECTION = 0xC000_0020,
    SECTION_NOT_IMAGE = 0xC000_0049,
    SECTION_PROTECTION = 0xC000_004E,
    FILE_IS_A_DIRECTORY = 0xC000_00BA,
    NOT_A_DIRECTORY = 0xC000_0103,
    INVALID_IMAGE_NOT_MZ = 0xC000_012F,
    MAPPED_ALIGNMENT = 0xC000_0220,
    IMAGE_NOT_AT_BASE = 0x4000_0003,
    DLL_NOT_FOUND = 0xC000_0135,
    ENTRYPOINT_NOT_FOUND = 0xC000_0139,
    // ntdll's runtime library (rtl).
    BUFFER_TOO_SMALL = 0xC000_0023,
    PROCEDURE_NOT_FOUND = 0xC000_007A,
    ORDINAL_NOT_FOUND = 0xC000_0138,
    DLL_INIT_FAILED = 0xC000_0142,
    NAME_TOO_LONG = 0xC000_0106,
}

impl NtStatus {
    /// `NT_SUCCESS`: success and informational codes.
    pub const fn is_success(self) -> bool {
        (self.0 as i32) >= 0
    }

    /// `NT_ERROR`: error severity.
    pub const fn is_error(self) -> bool {
        self.0 >> 30 == 0b11
    }
}

impl core::fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for NtStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{:#010x} ({name})", self.0),
            None => write!(f, "{:#010x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_and_names() {
        assert!(NtStatus::SUCCESS.is_success());
        assert!(NtStatus::ACCESS_VIOLATION.is_error());
        assert!(!NtStatus::BREAKPOINT.is_error() && !NtStatus::BREAKPOINT.is_success());
        assert_eq!(
            NtStatus::PRIVILEGED_INSTRUCTION.name(),
            Some("STATUS_PRIVILEGED_INSTRUCTION")
        );
        assert_eq!(
            format!("{}", NtStatus(0xC000_0005)),
            "0xc0000005 (STATUS_ACCESS_VIOLATION)"
        );
    }
}
