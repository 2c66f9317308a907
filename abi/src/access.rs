//! Access masks (`ACCESS_MASK`): the generic, standard and per-type specific rights, the
//! generic mappings of the object types, handle attributes (`OBJ_*`) and the options of
//! `NtDuplicateObject`. Values are NT's.

// Generic rights: mapped to specific rights by the object type's `GENERIC_MAPPING`.
pub const GENERIC_READ: u32 = 0x8000_0000;
pub const GENERIC_WRITE: u32 = 0x4000_0000;
pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
pub const GENERIC_ALL: u32 = 0x1000_0000;
/// Asks for every right the caller can be granted.
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;

// Standard rights, common to every object type.
pub const DELETE: u32 = 0x0001_0000;
pub const READ_CONTROL: u32 = 0x0002_0000;
pub const WRITE_DAC: u32 = 0x0004_0000;
pub const WRITE_OWNER: u32 = 0x0008_0000;
pub const SYNCHRONIZE: u32 = 0x0010_0000;
pub const STANDARD_RIGHTS_REQUIRED: u32 = 0x000F_0000;
pub const STANDARD_RIGHTS_READ: u32 = READ_CONTROL;
pub const STANDARD_RIGHTS_WRITE: u32 = READ_CONTROL;
pub const STANDARD_RIGHTS_EXECUTE: u32 = READ_CONTROL;
pub const STANDARD_RIGHTS_ALL: u32 = 0x001F_0000;
pub const SPECIFIC_RIGHTS_ALL: u32 = 0x0000_FFFF;

// Process rights.
pub const PROCESS_TERMINATE: u32 = 0x0001;
pub const PROCESS_CREATE_THREAD: u32 = 0x0002;
pub const PROCESS_SET_SESSIONID: u32 = 0x0004;
pub const PROCESS_VM_OPERATION: u32 = 0x0008;
pub const PROCESS_VM_READ: u32 = 0x0010;
pub const PROCESS_VM_WRITE: u32 = 0x0020;
pub const PROCESS_DUP_HANDLE: u32 = 0x0040;
pub const PROCESS_CREATE_PROCESS: u32 = 0x0080;
pub const PROCESS_SET_QUOTA: u32 = 0x0100;
pub const PROCESS_SET_INFORMATION: u32 = 0x0200;
pub const PROCESS_QUERY_INFORMATION: u32 = 0x0400;
pub const PROCESS_SUSPEND_RESUME: u32 = 0x0800;
pub const PROCESS_QUERY_LIMITED_INFORMATION: u32 = 0x1000;
pub const PROCESS_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF;

// Thread rights.
pub const THREAD_TERMINATE: u32 = 0x0001;
pub const THREAD_SUSPEND_RESUME: u32 = 0x0002;
pub const THREAD_ALERT: u32 = 0x0004;
pub const THREAD_GET_CONTEXT: u32 = 0x0008;
pub const THREAD_SET_CONTEXT: u32 = 0x0010;
pub const THREAD_SET_INFORMATION: u32 = 0x0020;
pub const THREAD_QUERY_INFORMATION: u32 = 0x0040;
pub const THREAD_SET_THREAD_TOKEN: u32 = 0x0080;
pub const THREAD_IMPERSONATE: u32 = 0x0100;
pub const THREAD_DIRECT_IMPERSONATION: u32 = 0x0200;
pub const THREAD_SET_LIMITED_INFORMATION: u32 = 0x0400;
pub const THREAD_QUERY_LIMITED_INFORMATION: u32 = 0x0800;
pub const THREAD_RESUME: u32 = 0x1000;
pub const THREAD_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF;

// Object directory rights.
pub const DIRECTORY_QUERY: u32 = 0x0001;
pub const DIRECTORY_TRAVERSE: u32 = 0x0002;
pub const DIRECTORY_CREATE_OBJECT: u32 = 0x0004;
pub const DIRECTORY_CREATE_SUBDIRECTORY: u32 = 0x0008;
pub const DIRECTORY_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | 0x000F;

/// `GENERIC_MAPPING`: the specific rights each generic right stands for in one object type.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenericMapping {
    pub generic_read: u32,
    pub generic_write: u32,
    pub generic_execute: u32,
    pub generic_all: u32,
}

impl GenericMapping {
    /// `RtlMapGenericMask`: replaces the generic rights in `access` by the specific rights
    /// they map to.
    pub const fn map(&self, access: u32) -> u32 {
        let mut mapped = access & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
        if access & GENERIC_READ != 0 {
            mapped |= self.generic_read;
        }
        if access & GENERIC_WRITE != 0 {
            mapped |= self.generic_write;
        }
        if access & GENERIC_EXECUTE != 0 {
            mapped |= self.generic_execute;
        }
        if access & GENERIC_ALL != 0 {
            mapped |= self.generic_all;
        }
        mapped
    }
}

/// The process object type's generic mapping (`PspProcessMapping`).
pub const PROCESS_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | PROCESS_VM_READ | PROCESS_QUERY_INFORMATION,
    generic_write: STANDARD_RIGHTS_WRITE
        | PROCESS_CREATE_THREAD
        | PROCESS_VM_OPERATION
        | PROCESS_VM_WRITE
        | PROCESS_DUP_HANDLE
        | PROCESS_CREATE_PROCESS
        | PROCESS_SET_QUOTA
        | PROCESS_SET_INFORMATION
        | PROCESS_SUSPEND_RESUME,
    generic_execute: STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION,
    generic_all: PROCESS_ALL_ACCESS,
};

/// The thread object type's generic mapping (`PspThreadMapping`).
pub const THREAD_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | THREAD_GET_CONTEXT | THREAD_QUERY_INFORMATION,
    generic_write: STANDARD_RIGHTS_WRITE
        | THREAD_TERMINATE
        | THREAD_SUSPEND_RESUME
        | THREAD_ALERT
        | THREAD_SET_CONTEXT
        | THREAD_SET_INFORMATION
        | THREAD_SET_LIMITED_INFORMATION,
    generic_execute: STANDARD_RIGHTS_EXECUTE
        | SYNCHRONIZE
        | THREAD_QUERY_LIMITED_INFORMATION
        | THREAD_RESUME,
    generic_all: THREAD_ALL_ACCESS,
};

// Event object rights.
pub const EVENT_QUERY_STATE: u32 = 0x0001;
pub const EVENT_MODIFY_STATE: u32 = 0x0002;
pub const EVENT_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3;

/// The event object type's generic mapping (`ExpEventMapping`).
pub const EVENT_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | EVENT_QUERY_STATE,
    generic_write: STANDARD_RIGHTS_WRITE | EVENT_MODIFY_STATE,
    generic_execute: STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE,
    generic_all: EVENT_ALL_ACCESS,
};

// Semaphore object rights.
pub const SEMAPHORE_QUERY_STATE: u32 = 0x0001;
pub const SEMAPHORE_MODIFY_STATE: u32 = 0x0002;
pub const SEMAPHORE_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3;

/// The semaphore object type's generic mapping (`ExpSemaphoreMapping`).
pub const SEMAPHORE_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | SEMAPHORE_QUERY_STATE,
    generic_write: STANDARD_RIGHTS_WRITE | SEMAPHORE_MODIFY_STATE,
    generic_execute: STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE,
    generic_all: SEMAPHORE_ALL_ACCESS,
};

// Mutant object rights.
pub const MUTANT_QUERY_STATE: u32 = 0x0001;
pub const MUTANT_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | MUTANT_QUERY_STATE;

/// The mutant object type's generic mapping (`ExpMutantMapping`).
pub const MUTANT_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | MUTANT_QUERY_STATE,
    generic_write: STANDARD_RIGHTS_WRITE,
    generic_execute: STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE,
    generic_all: MUTANT_ALL_ACCESS,
};

// Timer object rights.
pub const TIMER_QUERY_STATE: u32 = 0x0001;
pub const TIMER_MODIFY_STATE: u32 = 0x0002;
pub const TIMER_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3;

/// The timer object type's generic mapping (`ExpTimerMapping`).
pub const TIMER_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | TIMER_QUERY_STATE,
    generic_write: STANDARD_RIGHTS_WRITE | TIMER_MODIFY_STATE,
    generic_execute: STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE,
    generic_all: TIMER_ALL_ACCESS,
};

/// The directory object type's generic mapping (`ObpDirectoryMapping`).
pub const DIRECTORY_GENERIC_MAPPING: GenericMapping = GenericMapping {
    generic_read: STANDARD_RIGHTS_READ | DIRECTORY_QUERY | DIRECTORY_TRAVERSE,
    generic_write: STANDARD_RIGHTS_WRITE | DIRECTORY_CREATE_OBJECT | DIRECTORY_CREATE_SUBDIRECTORY,
    generic_execute: STANDARD_RIGHTS_EXECUTE | DIRECTORY_QUERY | DIRECTORY_TRAVERSE,
    generic_all: DIRECTORY_ALL_ACCESS,
};

// Object attributes (`OBJECT_ATTRIBUTES.Attributes`, `HandleAttributes`).
/// The handle is inherited by child processes created with handle inheritance.
pub const OBJ_INHERIT: u32 = 0x0000_0002;
pub const OBJ_PERMANENT: u32 = 0x0000_0010;
pub const OBJ_EXCLUSIVE: u32 = 0x0000_0020;
pub const OBJ_CASE_INSENSITIVE: u32 = 0x0000_0040;
pub const OBJ_OPENIF: u32 = 0x0000_0080;
pub const OBJ_OPENLINK: u32 = 0x0000_0100;
pub const OBJ_KERNEL_HANDLE: u32 = 0x0000_0200;
pub const OBJ_FORCE_ACCESS_CHECK: u32 = 0x0000_0400;
pub const OBJ_IGNORE_IMPERSONATED_DEVICEMAP: u32 = 0x0000_0800;
pub const OBJ_DONT_REPARSE: u32 = 0x0000_1000;
/// Every attribute bit NT defines; others are STATUS_INVALID_PARAMETER.
pub const OBJ_VALID_ATTRIBUTES: u32 = 0x0000_1FF2;

// `NtDuplicateObject` options.
/// Close the source handle, whatever the outcome of the duplication.
pub const DUPLICATE_CLOSE_SOURCE: u32 = 0x1;
/// Give the new handle the source handle's access, ignoring `DesiredAccess`.
pub const DUPLICATE_SAME_ACCESS: u32 = 0x2;
/// Give the new handle the source handle's attributes, ignoring `HandleAttributes`.
pub const DUPLICATE_SAME_ATTRIBUTES: u32 = 0x4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_access_values_are_nts() {
        assert_eq!(PROCESS_ALL_ACCESS, 0x001F_FFFF);
        assert_eq!(THREAD_ALL_ACCESS, 0x001F_FFFF);
        assert_eq!(DIRECTORY_ALL_ACCESS, 0x000F_000F);
    }

    #[test]
    fn generic_mappings_are_nts() {
        let values = |m: GenericMapping| {
            [
                m.generic_read,
                m.generic_write,
                m.generic_execute,
                m.generic_all,
            ]
        };
        assert_eq!(
            values(PROCESS_GENERIC_MAPPING),
            [0x0002_0410, 0x0002_0BEA, 0x0012_1000, 0x001F_FFFF]
        );
        assert_eq!(
            values(THREAD_GENERIC_MAPPING),
            [0x0002_0048, 0x0002_0437, 0x0012_1800, 0x001F_FFFF]
        );
        assert_eq!(
            values(DIRECTORY_GENERIC_MAPPING),
            [0x0002_0003, 0x0002_000C, 0x0002_0003, 0x000F_000F]
        );
    }

    #[test]
    fn generic_rights_map_to_specific_rights() {
        let mapping = PROCESS_GENERIC_MAPPING;
        assert_eq!(mapping.map(GENERIC_ALL), PROCESS_ALL_ACCESS);
        assert_eq!(
            mapping.map(GENERIC_READ | PROCESS_TERMINATE),
            READ_CONTROL | PROCESS_VM_READ | PROCESS_QUERY_INFORMATION | PROCESS_TERMINATE
        );
        assert_eq!(mapping.map(SYNCHRONIZE), SYNCHRONIZE);
        assert_eq!(mapping.map(0), 0);
        assert_eq!(
            DIRECTORY_GENERIC_MAPPING.map(GENERIC_EXECUTE),
            READ_CONTROL | DIRECTORY_QUERY | DIRECTORY_TRAVERSE
        );
    }
}
