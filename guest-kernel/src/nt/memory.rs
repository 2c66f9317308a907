//! The virtual-memory services: NtAllocateVirtualMemory, NtFreeVirtualMemory,
//! NtProtectVirtualMemory, NtQueryVirtualMemory, NtReadVirtualMemory and
//! NtWriteVirtualMemory. Each checks and captures its arguments in the order NT does,
//! references the process its handle names, and leaves the work to that process's address
//! space. No user memory is touched while an address space is locked: a fault on it would
//! need the lock.

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::NtStatus;
use abi::access::{
    PROCESS_QUERY_INFORMATION, PROCESS_VM_OPERATION, PROCESS_VM_READ, PROCESS_VM_WRITE,
};
use abi::memory::{
    MEM_RESERVE, MEMORY_BASIC_INFORMATION_CLASS, MM_HIGHEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS,
    MemoryBasicInformation,
};

use super::user_args::{arguments, bytes_of, probe_for_write, write_bytes};
use crate::arch::TrapFrame;
use crate::arch::user::copy_from_user;
use crate::mm::address_space::{
    check_allocation_range, check_allocation_type, check_free_range, check_free_type,
    check_protect_range,
};
use crate::mm::probe::{self, Plain};
use crate::mm::vad::validate_protection;
use crate::ob::{self, Object};
use crate::ps::Process;

// SAFETY: u64, u64, u32, u16, u16, u64, then four u32: no padding (pinned by
// `abi::memory`'s offset assertions, size 0x30).
unsafe impl Plain for MemoryBasicInformation {}

/// The most NtRead/WriteVirtualMemory move through the pool at a time
/// (`MI_MAX_TRANSFER_SIZE`).
const MAX_TRANSFER_SIZE: usize = 64 * 1024;

/// The process `handle` names, referenced for `desired_access` (ObReferenceObjectByHandle
/// with PsProcessType). NtCurrentProcess() names the caller's.
fn reference_process(handle: u64, desired_access: u32) -> Result<Arc<Object<Process>>, NtStatus> {
    ob::reference_object_by_handle::<Process>(handle, desired_access)
}

/// `ProbeForWritePointer`, `ProbeForWriteSize_t`, `ProbeForWriteUlong`: the `T` at
/// `address` must be aligned, in the user half, readable and writable. As NT's macros do,
/// the probe reads the value and writes it back, so a bad pointer fails before the
/// service changes anything. Returns the value.
pub(super) fn probe_in_out<T: Plain>(address: u64) -> Result<T, NtStatus> {
    probe_for_write(address, size_of::<T>(), align_of::<T>() as u64)?;
    let value: T = probe::capture(address)?;
    write_bytes(address, bytes_of(&value))?;
    Ok(value)
}

/// Writes a pointer-sized result back to a probed argument.
pub(super) fn write_u64(address: u64, value: u64) -> Result<(), NtStatus> {
    write_bytes(address, &value.to_le_bytes())
}

/// `NtAllocateVirtualMemory(ProcessHandle, PVOID *BaseAddress, ZeroBits, PSIZE_T
/// RegionSize, AllocationType, Protect)`: reserves and/or commits; the base and size of
/// what was done go back through the pointers.
pub fn nt_allocate_virtual_memory(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [
        process,
        base_address,
        zero_bits,
        region_size,
        allocation_type,
        protect,
    ] = arguments::<6>(frame)?;
    let (allocation_type, protect) = (allocation_type as u32, protect as u32);
    check_allocation_type(zero_bits, allocation_type, protect)?;
    let base = probe_in_out::<u64>(base_address)?;
    let size = probe_in_out::<u64>(region_size)?;
    check_allocation_range(base, size)?;
    // A new reservation stands even if the caller cannot learn where it is (as in NT); a
    // commit reports a failed write-back.
    let reserving = base == 0 || allocation_type & MEM_RESERVE != 0;
    let process = reference_process(process, PROCESS_VM_OPERATION)?;
    let (base, size) = process.address_space()?.allocate_virtual_memory(
        base,
        size,
        zero_bits,
        allocation_type,
        protect,
    )?;
    let written = write_u64(region_size, size).and_then(|()| write_u64(base_address, base));
    match written {
        Err(status) if !reserving => Err(status),
        _ => Ok(NtStatus::SUCCESS),
    }
}

/// `NtFreeVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize, FreeType)`:
/// decommits or releases; the base and size of what was freed go back.
pub fn nt_free_virtual_memory(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [process, base_address, region_size, free_type] = arguments::<4>(frame)?;
    let free_type = free_type as u32;
    check_free_type(free_type)?;
    let base = probe_in_out::<u64>(base_address)?;
    let size = probe_in_out::<u64>(region_size)?;
    check_free_range(base, size)?;
    let process = reference_process(process, PROCESS_VM_OPERATION)?;
    let (base, size) = process
        .address_space()?
        .free_virtual_memory(base, size, free_type)?;
    // The memory is freed whether or not the caller can be told.
    let _ = write_u64(region_size, size).and_then(|()| write_u64(base_address, base));
    Ok(NtStatus::SUCCESS)
}

/// `NtProtectVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
/// NewProtect, PULONG OldProtect)`: the old protection of the first page goes back with
/// the base and size changed.
pub fn nt_protect_virtual_memory(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [process, base_address, region_size, new_protect, old_protect] = arguments::<5>(frame)?;
    let new_protect = new_protect as u32;
    validate_protection(new_protect)?;
    let base = probe_in_out::<u64>(base_address)?;
    let size = probe_in_out::<u64>(region_size)?;
    probe_in_out::<u32>(old_protect)?;
    check_protect_range(base, size)?;
    let process = reference_process(process, PROCESS_VM_OPERATION)?;
    let (base, size, old) =
        process
            .address_space()?
            .protect_virtual_memory(base, size, new_protect)?;
    let _ = write_bytes(old_protect, &old.to_le_bytes())
        .and_then(|()| write_u64(base_address, base))
        .and_then(|()| write_u64(region_size, size));
    Ok(NtStatus::SUCCESS)
}

/// `NtQueryVirtualMemory(ProcessHandle, BaseAddress, MemoryInformationClass,
/// MemoryInformation, MemoryInformationLength, PSIZE_T ReturnLength)`: only
/// MemoryBasicInformation.
pub fn nt_query_virtual_memory(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    let [process, address, class, buffer, length, return_length] = arguments::<6>(frame)?;
    if address > MM_HIGHEST_USER_ADDRESS {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let length = usize::try_from(length).map_err(|_| NtStatus::ACCESS_VIOLATION)?;
    probe_for_write(buffer, length, size_of::<u64>() as u64)?;
    if return_length != 0 {
        probe_in_out::<u64>(return_length)?;
    }
    if class as u32 != MEMORY_BASIC_INFORMATION_CLASS {
        return Err(NtStatus::INVALID_INFO_CLASS);
    }
    if length < size_of::<MemoryBasicInformation>() {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    let process = reference_process(process, PROCESS_QUERY_INFORMATION)?;
    let information = process.address_space()?.query_virtual_memory(address);
    write_bytes(buffer, bytes_of(&information))?;
    if return_length != 0 {
        write_u64(return_length, size_of::<MemoryBasicInformation>() as u64)?;
    }
    Ok(NtStatus::SUCCESS)
}

/// The checks NtRead/WriteVirtualMemory make first: neither range may wrap or reach past
/// the user half (STATUS_ACCESS_VIOLATION), and the optional byte count must be writable.
fn check_transfer(base: u64, buffer: u64, size: u64, count: u64) -> Result<(), NtStatus> {
    let ends_in_user = |start: u64| {
        start
            .checked_add(size)
            .is_some_and(|end| end <= MM_USER_PROBE_ADDRESS)
    };
    if !ends_in_user(base) || !ends_in_user(buffer) {
        return Err(NtStatus::ACCESS_VIOLATION);
    }
    if count != 0 {
        probe_in_out::<u64>(count)?;
    }
    Ok(())
}

/// A pool buffer for moving `size` bytes in pieces of at most [`MAX_TRANSFER_SIZE`].
fn transfer_buffer(size: u64) -> Result<Vec<u8>, NtStatus> {
    let len = size.min(MAX_TRANSFER_SIZE as u64) as usize;
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(len)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    buffer.resize(len, 0);
    Ok(buffer)
}

/// How a transfer between the caller and a process ended, and how many bytes moved.
struct Transfer {
    status: NtStatus,
    done: u64,
}

/// `NtReadVirtualMemory(ProcessHandle, BaseAddress, Buffer, NumberOfBytesToRead, PSIZE_T
/// NumberOfBytesRead)`: copies from the process into the caller's buffer
/// (MmCopyVirtualMemory). Pages of the process it may not read end the copy with
/// STATUS_PARTIAL_COPY; a caller's buffer it cannot write, with STATUS_ACCESS_VIOLATION.
pub fn nt_read_virtual_memory(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    copy_virtual_memory(frame, read_process)
}

/// What NtReadVirtualMemory and NtWriteVirtualMemory share: their arguments
/// (ProcessHandle, BaseAddress, Buffer, Size, PSIZE_T NumberOfBytes), checked, and the
/// count of bytes copied written back; `transfer` moves the bytes.
fn copy_virtual_memory(
    frame: &TrapFrame,
    transfer: fn(u64, u64, u64, u64) -> Result<Transfer, NtStatus>,
) -> Result<NtStatus, NtStatus> {
    let [process, base, buffer, size, count] = arguments::<5>(frame)?;
    check_transfer(base, buffer, size, count)?;
    let transfer = match size {
        0 => Transfer {
            status: NtStatus::SUCCESS,
            done: 0,
        },
        _ => transfer(process, base, buffer, size)?,
    };
    if count != 0 {
        let _ = write_u64(count, transfer.done);
    }
    Ok(transfer.status)
}

fn read_process(process: u64, base: u64, buffer: u64, size: u64) -> Result<Transfer, NtStatus> {
    let process = reference_process(process, PROCESS_VM_READ)?;
    let mut bounce = transfer_buffer(size)?;
    let mut done = 0;
    while done < size {
        let piece = &mut bounce[..(size - done).min(MAX_TRANSFER_SIZE as u64) as usize];
        let read = process.address_space()?.read_memory(base + done, piece);
        let (copied, status) = match read {
            Ok(()) => (piece.len(), NtStatus::SUCCESS),
            Err(copied) => (copied, NtStatus::PARTIAL_COPY),
        };
        if write_bytes(buffer + done, &piece[..copied]).is_err() {
            return Ok(Transfer {
                status: NtStatus::ACCESS_VIOLATION,
                done,
            });
        }
        done += copied as u64;
        if status != NtStatus::SUCCESS {
            return Ok(Transfer { status, done });
        }
    }
    Ok(Transfer {
        status: NtStatus::SUCCESS,
        done,
    })
}

/// `NtWriteVirtualMemory(ProcessHandle, BaseAddress, Buffer, NumberOfBytesToWrite, PSIZE_T
/// NumberOfBytesWritten)`: copies the caller's buffer into the process
/// (MmCopyVirtualMemory). Pages of the process it may not write end the copy with
/// STATUS_PARTIAL_COPY; a caller's buffer it cannot read, with STATUS_ACCESS_VIOLATION.
pub fn nt_write_virtual_memory(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    copy_virtual_memory(frame, write_process)
}

fn write_process(process: u64, base: u64, buffer: u64, size: u64) -> Result<Transfer, NtStatus> {
    let process = reference_process(process, PROCESS_VM_WRITE)?;
    let mut bounce = transfer_buffer(size)?;
    let mut done = 0;
    while done < size {
        let piece = &mut bounce[..(size - done).min(MAX_TRANSFER_SIZE as u64) as usize];
        if copy_from_user(piece, buffer + done).is_err() {
            return Ok(Transfer {
                status: NtStatus::ACCESS_VIOLATION,
                done,
            });
        }
        let written = process.address_space()?.write_memory(base + done, piece);
        match written {
            Ok(()) => done += piece.len() as u64,
            Err(copied) => {
                return Ok(Transfer {
                    status: NtStatus::PARTIAL_COPY,
                    done: done + copied as u64,
                });
            }
        }
    }
    Ok(Transfer {
        status: NtStatus::SUCCESS,
        done,
    })
}
