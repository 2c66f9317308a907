//! The user-mode environment of a new process and thread: PEB, process parameters, TEB.

use alloc::vec::Vec;

use abi::NtStatus;
use abi::layout::PAGE_SIZE;
use abi::memory::{MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, MEM_TOP_DOWN, PAGE_READWRITE};
use abi::nt::{ClientId, Peb, Teb};
use abi::user_process::{ParametersLayout, write_parameters};

use crate::mm::AddressSpace;

/// Where the PEB goes; the process parameters follow it on the next page.
const PEB_ADDRESS: u64 = 0x0000_7FFE_0000_0000;
const PROCESS_PARAMETERS_ADDRESS: u64 = PEB_ADDRESS + PAGE_SIZE;
/// Where the first thread's TEB goes.
const TEB_ADDRESS: u64 = 0x0000_7FFE_1000_0000;
/// A TEB's allocation: two pages, as on x64 NT.
const TEB_SIZE: u64 = 2 * PAGE_SIZE;

/// The program a command line names: its first token, unquoted.
pub fn program_name(command_line: &str) -> &str {
    let command_line = command_line.trim_start();
    match command_line.strip_prefix('"') {
        Some(rest) => rest.split('"').next().unwrap_or(rest),
        None => command_line
            .split([' ', '\t'])
            .next()
            .unwrap_or(command_line),
    }
}

/// Views a plain `#[repr(C)]` NT structure from `abi::nt` as bytes.
fn bytes_of<T: Copy>(value: &T) -> &[u8] {
    // SAFETY: only used on `abi::nt` structures, which are `#[repr(C)]` with every padding
    // byte spelled out as a field, so all `size_of::<T>()` bytes are initialised.
    unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

fn utf16(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// What a new process's parameters hold (NtCreateUserProcess's, or the session's).
#[derive(Clone, Copy, Debug)]
pub struct Parameters<'a> {
    pub image_path: &'a str,
    pub command_line: &'a str,
    /// The environment block with its ending NULs; empty for none.
    pub environment: &'a [u16],
}

/// Creates the PEB in `space`, and with `parameters` the `RTL_USER_PROCESS_PARAMETERS`
/// (normalized, laid out as every creator lays them out: `abi::user_process`) it points
/// at; returns the PEB's address.
pub fn create_peb(
    space: &mut AddressSpace,
    image_base: u64,
    parameters: Option<Parameters<'_>>,
) -> Result<u64, NtStatus> {
    let Some(parameters) = parameters else {
        let peb = Peb {
            image_base_address: image_base,
            ..Peb::default()
        };
        space.allocate(PEB_ADDRESS, PAGE_SIZE, PAGE_READWRITE)?;
        space.write(PEB_ADDRESS, bytes_of(&peb))?;
        return Ok(PEB_ADDRESS);
    };
    let image_path = utf16(parameters.image_path);
    let command_line = utf16(parameters.command_line);
    let layout = ParametersLayout::new(
        image_path.len(),
        command_line.len(),
        parameters.environment.len(),
    )?;
    let mut block = Vec::new();
    block
        .try_reserve_exact(layout.total)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    block.resize(layout.total, 0);
    write_parameters(
        &mut block,
        PROCESS_PARAMETERS_ADDRESS,
        &image_path,
        &command_line,
        parameters.environment,
    )?;
    let peb = Peb {
        image_base_address: image_base,
        process_parameters: PROCESS_PARAMETERS_ADDRESS,
        ..Peb::default()
    };

    space.allocate(PEB_ADDRESS, PAGE_SIZE + layout.total as u64, PAGE_READWRITE)?;
    space.write(PEB_ADDRESS, bytes_of(&peb))?;
    space.write(PROCESS_PARAMETERS_ADDRESS, &block)?;
    Ok(PEB_ADDRESS)
}

/// Creates the first thread's TEB, for a thread with `client_id` whose stack spans
/// `[stack_limit, stack_base)`; returns its address.
pub fn create_teb(
    space: &mut AddressSpace,
    peb: u64,
    client_id: ClientId,
    stack_base: u64,
    stack_limit: u64,
) -> Result<u64, NtStatus> {
    space.allocate(TEB_ADDRESS, TEB_SIZE, PAGE_READWRITE)?;
    write_teb(space, TEB_ADDRESS, peb, client_id, stack_base, stack_limit)?;
    Ok(TEB_ADDRESS)
}

/// `MmCreateTeb` for a thread after the first: as [`create_teb`], wherever the address
/// space has room (from the top down, as NT places TEBs).
pub fn create_thread_teb(
    space: &mut AddressSpace,
    peb: u64,
    client_id: ClientId,
    stack_base: u64,
    stack_limit: u64,
) -> Result<u64, NtStatus> {
    let (address, _) = space.allocate_virtual_memory(
        0,
        TEB_SIZE,
        0,
        MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN,
        PAGE_READWRITE,
    )?;
    if let Err(status) = write_teb(space, address, peb, client_id, stack_base, stack_limit) {
        let _ = space.free_virtual_memory(address, 0, MEM_RELEASE);
        return Err(status);
    }
    Ok(address)
}

fn write_teb(
    space: &mut AddressSpace,
    address: u64,
    peb: u64,
    client_id: ClientId,
    stack_base: u64,
    stack_limit: u64,
) -> Result<(), NtStatus> {
    let teb = Teb {
        stack_base,
        stack_limit,
        self_pointer: address,
        client_id,
        process_environment_block: peb,
        ..Teb::default()
    };
    space.write(address, bytes_of(&teb))
}
