//! vmtest's bad-input checks: every memory service with kernel, NULL and misaligned
//! pointers, overflowing sizes, bad protections and types, and unallocated ranges.

use super::*;

pub(super) fn bad_allocations(checks: &mut Checks) {
    let cases: [(&str, u64, u64, u64, u32, u32, NtStatus); 14] = [
        (
            "kernel base",
            KERNEL_ADDRESS,
            PAGE,
            0,
            MEM_RESERVE,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_2,
        ),
        (
            "base above the highest allocation address",
            MM_HIGHEST_VAD_ADDRESS + 1,
            PAGE,
            0,
            MEM_RESERVE,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_2,
        ),
        (
            "size into the kernel half",
            MM_HIGHEST_VAD_ADDRESS - 0xFFFF,
            0x2_0000,
            0,
            MEM_RESERVE,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_4,
        ),
        (
            "size 0",
            0,
            0,
            0,
            MEM_RESERVE,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_4,
        ),
        (
            "size u64::MAX",
            0,
            u64::MAX,
            0,
            MEM_RESERVE,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_4,
        ),
        (
            "ZeroBits 22",
            0,
            PAGE,
            22,
            MEM_RESERVE,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_3,
        ),
        (
            "no allocation type",
            0,
            PAGE,
            0,
            0,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_5,
        ),
        (
            "MEM_DECOMMIT as allocation type",
            0,
            PAGE,
            0,
            MEM_DECOMMIT,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_5,
        ),
        (
            "MEM_RESET with MEM_COMMIT",
            0,
            PAGE,
            0,
            MEM_RESET | MEM_COMMIT,
            PAGE_READWRITE,
            NtStatus::INVALID_PARAMETER_5,
        ),
        (
            "protection 0",
            0,
            PAGE,
            0,
            MEM_RESERVE,
            0,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            "two protections",
            0,
            PAGE,
            0,
            MEM_RESERVE,
            PAGE_READONLY | PAGE_READWRITE,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            "no-access guard",
            0,
            PAGE,
            0,
            MEM_RESERVE,
            PAGE_NOACCESS | PAGE_GUARD,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            "unknown protection bit",
            0,
            PAGE,
            0,
            MEM_RESERVE,
            PAGE_READWRITE | 0x800,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            "copy-on-write private memory",
            0,
            PAGE,
            0,
            MEM_RESERVE,
            PAGE_WRITECOPY,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
    ];
    for (name, base, size, zero_bits, allocation_type, protection, expected) in cases {
        let (status, _, _) =
            allocate_with_zero_bits(base, size, zero_bits, allocation_type, protection);
        checks.status(&concat("NtAllocateVirtualMemory: ", name), status, expected);
    }
    let mut size = PAGE;
    let mut base = 0u64;
    let misaligned = (&raw mut base as u64) + 1;
    let pointer_cases: [(&str, u64, u64, NtStatus); 5] = [
        (
            "NULL BaseAddress",
            0,
            &raw mut size as u64,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NULL RegionSize",
            &raw mut base as u64,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "kernel BaseAddress",
            KERNEL_ADDRESS,
            &raw mut size as u64,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "misaligned BaseAddress",
            misaligned,
            &raw mut size as u64,
            NtStatus::DATATYPE_MISALIGNMENT,
        ),
        (
            "read-only BaseAddress",
            KUSER_SHARED_DATA_ADDRESS,
            &raw mut size as u64,
            NtStatus::ACCESS_VIOLATION,
        ),
    ];
    for (name, base_pointer, size_pointer, expected) in pointer_cases {
        // SAFETY: every case has a pointer the kernel must refuse before allocating.
        let status = unsafe {
            nt_allocate_virtual_memory(
                PROCESS,
                base_pointer as *mut u64,
                0,
                size_pointer as *mut u64,
                MEM_RESERVE,
                PAGE_READWRITE,
            )
        };
        checks.status(&concat("NtAllocateVirtualMemory: ", name), status, expected);
    }
    for (name, handle, expected) in [
        ("bad process handle", 0x1234, NtStatus::INVALID_HANDLE),
        (
            "thread handle",
            CURRENT_THREAD_HANDLE,
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
    ] {
        let (mut base, mut size) = (0u64, PAGE);
        // SAFETY: the pointers are to locals.
        let status = unsafe {
            nt_allocate_virtual_memory(handle, &mut base, 0, &mut size, MEM_RESERVE, PAGE_READWRITE)
        };
        checks.status(&concat("NtAllocateVirtualMemory: ", name), status, expected);
    }
}

pub(super) fn bad_frees(checks: &mut Checks) {
    let (status, base, _) = allocate(0, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    checks.status("allocate for the bad frees", status, NtStatus::SUCCESS);
    let cases: [(&str, u64, u64, u32, NtStatus); 7] = [
        ("free type 0", base, 0, 0, NtStatus::INVALID_PARAMETER_4),
        (
            "MEM_DECOMMIT | MEM_RELEASE",
            base,
            0,
            MEM_DECOMMIT | MEM_RELEASE,
            NtStatus::INVALID_PARAMETER_4,
        ),
        (
            "MEM_COMMIT as free type",
            base,
            0,
            MEM_COMMIT,
            NtStatus::INVALID_PARAMETER_4,
        ),
        (
            "kernel base",
            KERNEL_ADDRESS,
            0,
            MEM_RELEASE,
            NtStatus::INVALID_PARAMETER_2,
        ),
        (
            "size into the kernel half",
            base,
            u64::MAX - base,
            MEM_RELEASE,
            NtStatus::INVALID_PARAMETER_3,
        ),
        (
            "nothing allocated there",
            UNALLOCATED,
            0,
            MEM_RELEASE,
            NtStatus::MEMORY_NOT_ALLOCATED,
        ),
        (
            "decommit nothing allocated",
            UNALLOCATED,
            PAGE,
            MEM_DECOMMIT,
            NtStatus::MEMORY_NOT_ALLOCATED,
        ),
    ];
    for (name, at, size, free_type, expected) in cases {
        let (status, _, _) = free(at, size, free_type);
        checks.status(&concat("NtFreeVirtualMemory: ", name), status, expected);
    }
    let mut size = 0u64;
    // SAFETY: a NULL BaseAddress the kernel must refuse.
    let status =
        unsafe { nt_free_virtual_memory(PROCESS, core::ptr::null_mut(), &mut size, MEM_RELEASE) };
    checks.status(
        "NtFreeVirtualMemory: NULL BaseAddress",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let mut at = base;
    // SAFETY: a kernel RegionSize pointer the kernel must refuse.
    let status = unsafe {
        nt_free_virtual_memory(PROCESS, &mut at, KERNEL_ADDRESS as *mut u64, MEM_RELEASE)
    };
    checks.status(
        "NtFreeVirtualMemory: kernel RegionSize",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let (status, _, _) = free(base, 0, MEM_RELEASE);
    checks.status("release after the bad frees", status, NtStatus::SUCCESS);
}

pub(super) fn bad_protections(checks: &mut Checks) {
    let (status, base, _) = allocate(0, 0x2000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    checks.status(
        "allocate for the bad protections",
        status,
        NtStatus::SUCCESS,
    );
    let cases: [(&str, u64, u64, u32, NtStatus); 7] = [
        (
            "protection 0",
            base,
            PAGE,
            0,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            "guard and no-cache",
            base,
            PAGE,
            PAGE_READWRITE | PAGE_GUARD | 0x200,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            "kernel base",
            KERNEL_ADDRESS,
            PAGE,
            PAGE_READONLY,
            NtStatus::INVALID_PARAMETER_2,
        ),
        (
            "size 0",
            base,
            0,
            PAGE_READONLY,
            NtStatus::INVALID_PARAMETER_3,
        ),
        (
            "size into the kernel half",
            base,
            u64::MAX - PAGE,
            PAGE_READONLY,
            NtStatus::INVALID_PARAMETER_3,
        ),
        (
            "nothing allocated there",
            UNALLOCATED,
            PAGE,
            PAGE_READONLY,
            NtStatus::CONFLICTING_ADDRESSES,
        ),
        (
            "copy-on-write private memory",
            base,
            PAGE,
            PAGE_WRITECOPY,
            NtStatus::INVALID_PARAMETER_4,
        ),
    ];
    for (name, at, size, new_protect, expected) in cases {
        let (status, _, _, _) = protect(at, size, new_protect);
        checks.status(&concat("NtProtectVirtualMemory: ", name), status, expected);
    }
    let (mut at, mut size) = (base, PAGE);
    // SAFETY: a NULL OldProtect the kernel must refuse before changing anything.
    let status = unsafe {
        nt_protect_virtual_memory(
            PROCESS,
            &mut at,
            &mut size,
            PAGE_READONLY,
            core::ptr::null_mut(),
        )
    };
    checks.status(
        "NtProtectVirtualMemory: NULL OldProtect",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let (mut at, mut size) = (base, PAGE);
    // SAFETY: a read-only OldProtect the kernel must refuse before changing anything.
    let status = unsafe {
        nt_protect_virtual_memory(
            PROCESS,
            &mut at,
            &mut size,
            PAGE_READONLY,
            KUSER_SHARED_DATA_ADDRESS as *mut u32,
        )
    };
    checks.status(
        "NtProtectVirtualMemory: read-only OldProtect",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    checks.region(
        "nothing changed",
        base,
        MEM_COMMIT,
        PAGE_READWRITE,
        MEM_PRIVATE,
        0x2000,
    );
    let (status, _, _) = free(base, 0, MEM_RELEASE);
    checks.status(
        "release after the bad protections",
        status,
        NtStatus::SUCCESS,
    );
}

pub(super) fn bad_queries(checks: &mut Checks) {
    let mut information = MemoryBasicInformation::default();
    let buffer = (&raw mut information).cast::<u8>();
    let here = buffer as u64;
    let mut returned = 0u64;
    let cases: [(&str, u64, u32, *mut u8, u64, *mut u64, NtStatus); 7] = [
        (
            "kernel address",
            KERNEL_ADDRESS,
            MEMORY_BASIC_INFORMATION_CLASS,
            buffer,
            0x30,
            &raw mut returned,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "unknown class",
            here,
            0x77,
            buffer,
            0x30,
            &raw mut returned,
            NtStatus::INVALID_INFO_CLASS,
        ),
        (
            "short buffer",
            here,
            MEMORY_BASIC_INFORMATION_CLASS,
            buffer,
            0x2F,
            &raw mut returned,
            NtStatus::INFO_LENGTH_MISMATCH,
        ),
        (
            "NULL buffer",
            here,
            MEMORY_BASIC_INFORMATION_CLASS,
            core::ptr::null_mut(),
            0x30,
            &raw mut returned,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "kernel buffer",
            here,
            MEMORY_BASIC_INFORMATION_CLASS,
            KERNEL_ADDRESS as *mut u8,
            0x30,
            &raw mut returned,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "misaligned buffer",
            here,
            MEMORY_BASIC_INFORMATION_CLASS,
            buffer.wrapping_add(4),
            0x30,
            &raw mut returned,
            NtStatus::DATATYPE_MISALIGNMENT,
        ),
        (
            "kernel ReturnLength",
            here,
            MEMORY_BASIC_INFORMATION_CLASS,
            buffer,
            0x30,
            KERNEL_ADDRESS as *mut u64,
            NtStatus::ACCESS_VIOLATION,
        ),
    ];
    for (name, address, class, buffer, length, return_length, expected) in cases {
        // SAFETY: the buffers are the local or ones the kernel must refuse.
        let status = unsafe {
            nt_query_virtual_memory(PROCESS, address, class, buffer, length, return_length)
        };
        checks.status(&concat("NtQueryVirtualMemory: ", name), status, expected);
    }
    let mut basic = SystemBasicInformation::default();
    let mut returned = 0u32;
    // SAFETY: a buffer one byte short of the class's size, and a local return length.
    let status = unsafe {
        nt_query_system_information(
            SYSTEM_BASIC_INFORMATION_CLASS,
            (&raw mut basic).cast(),
            0x3F,
            &mut returned,
        )
    };
    checks.verdict(
        status == NtStatus::INFO_LENGTH_MISMATCH && returned == 0x40,
        format_args!("NtQuerySystemInformation: short buffer: {status}, needs {returned:#x}"),
    );
    // SAFETY: an unknown class the kernel must refuse.
    let status = unsafe {
        nt_query_system_information(0x7777, (&raw mut basic).cast(), 0x40, &mut returned)
    };
    checks.status(
        "NtQuerySystemInformation: unknown class",
        status,
        NtStatus::INVALID_INFO_CLASS,
    );
    // SAFETY: a kernel buffer the kernel must refuse.
    let status = unsafe {
        nt_query_system_information(
            SYSTEM_BASIC_INFORMATION_CLASS,
            KERNEL_ADDRESS as *mut u8,
            0x40,
            &mut returned,
        )
    };
    checks.status(
        "NtQuerySystemInformation: kernel buffer",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
}

pub(super) fn bad_transfers(checks: &mut Checks) {
    let mut buffer = [0u8; 16];
    let local = buffer.as_mut_ptr() as u64;
    let (status, done) = read(UNALLOCATED, &mut buffer);
    checks.verdict(
        status == NtStatus::PARTIAL_COPY && done == 0,
        format_args!("NtReadVirtualMemory of unallocated memory: {status}, {done} bytes"),
    );
    let (status, _) = read(KERNEL_ADDRESS, &mut buffer);
    checks.status(
        "NtReadVirtualMemory of the kernel",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let (status, _) = write(KERNEL_ADDRESS, &buffer);
    checks.status(
        "NtWriteVirtualMemory to the kernel",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let mut done = 0u64;
    let cases: [(&str, u64, u64, u64, *mut u64, NtStatus); 5] = [
        (
            "into a kernel buffer",
            local,
            KERNEL_ADDRESS,
            16,
            &raw mut done,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "range wrapping around",
            local,
            local,
            u64::MAX - 8,
            &raw mut done,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "range ending in the kernel half",
            MM_HIGHEST_USER_ADDRESS - 8,
            local,
            0x2_0000,
            &raw mut done,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "kernel byte count",
            local,
            local,
            16,
            KERNEL_ADDRESS as *mut u64,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "into unmapped memory",
            local,
            UNALLOCATED,
            16,
            &raw mut done,
            NtStatus::ACCESS_VIOLATION,
        ),
    ];
    for (name, address, target, size, count, expected) in cases {
        // SAFETY: every case has a buffer or count the kernel must refuse, or the local.
        let status =
            unsafe { nt_read_virtual_memory(PROCESS, address, target as *mut u8, size, count) };
        checks.status(&concat("NtReadVirtualMemory: ", name), status, expected);
    }
    // SAFETY: the source is unmapped: the kernel must refuse it before writing anything.
    let status =
        unsafe { nt_write_virtual_memory(PROCESS, local, UNALLOCATED as *const u8, 16, &mut done) };
    checks.status(
        "NtWriteVirtualMemory: from unmapped memory",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    // SAFETY: a bad handle the kernel must refuse.
    let status = unsafe { nt_read_virtual_memory(0x1234, local, local as *mut u8, 16, &mut done) };
    checks.status(
        "NtReadVirtualMemory: bad process handle",
        status,
        NtStatus::INVALID_HANDLE,
    );
}
