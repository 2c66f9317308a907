//! What every creator of a user process lays out in it, so that the creation paths (the
//! kernel's NtCreateUserProcess, ntdll's RtlCreateUserProcess, rt's classic path) give the
//! same process:
//!
//! - the normalized `RTL_USER_PROCESS_PARAMETERS` block at `PEB.ProcessParameters`: the
//!   structure, ImagePathName and CommandLine each with a terminating NUL (`Length` and
//!   `MaximumLength` end there), then the environment block when there is one
//!   (NUL-terminated strings ending with an empty one);
//! - for the classic path, the parameters written into the child and its first thread's
//!   stack ([`write_child_parameters`], [`create_classic_stack`], through the creator's
//!   own services: [`ChildMemory`]), sized as BaseCreateStack sizes it ([`ClassicStack`]);
//! - its initial `CONTEXT` ([`InitialContext`]).

use crate::NtStatus;
use crate::memory::{MEM_COMMIT, MEM_RESERVE, PAGE_GUARD, PAGE_READWRITE};
use crate::nt::{ClientId, PROCESS_PARAMETERS_NORMALIZED, RtlUserProcessParameters, UnicodeString};
use crate::process::{
    CONTEXT_FLAGS_OFFSET, CONTEXT_FULL, CONTEXT_RCX_OFFSET, CONTEXT_RIP_OFFSET, CONTEXT_RSP_OFFSET,
    CONTEXT_SIZE, InitialTeb,
};
use crate::section::SectionImageInformation;

/// `RTL_USER_PROCESS_INFORMATION`: what RtlCreateUserProcess gives back about the process
/// it made.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtlUserProcessInformation {
    /// `sizeof(RTL_USER_PROCESS_INFORMATION)`.
    pub length: u32,
    pub reserved: u32,
    pub process: u64,
    /// The first thread, created suspended: the caller resumes it.
    pub thread: u64,
    pub client_id: ClientId,
    pub image_information: SectionImageInformation,
}

const _: () = {
    assert!(size_of::<RtlUserProcessInformation>() == 0x68);
    assert!(core::mem::offset_of!(RtlUserProcessInformation, client_id) == 0x18);
    assert!(core::mem::offset_of!(RtlUserProcessInformation, image_information) == 0x28);
};

const PAGE_SIZE: u64 = 0x1000;
/// Stacks are reserved in allocation-granularity units.
const STACK_RESERVE_GRANULARITY: u64 = 0x1_0000;
/// What the kernel leaves above a new thread's initial `rsp`: the entry point's home
/// space and a return address, as a call leaves them (the kernel's own first threads
/// start the same way).
pub const INITIAL_STACK_FRAME: u64 = 0x30 + 8;

/// A classic-path stack's sizes: `reserve` bytes reserved, the top `commit` bytes
/// committed and a guard page below them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassicStack {
    pub reserve: u64,
    pub commit: u64,
}

impl ClassicStack {
    /// The sizes `image` asks for: its commit in whole pages (at least one), its reserve
    /// in allocation-granularity units with room for the commit and the guard page.
    pub fn of(image: &SectionImageInformation) -> Self {
        let commit = image
            .committed_stack_size
            .max(PAGE_SIZE)
            .next_multiple_of(PAGE_SIZE);
        let reserve = image
            .maximum_stack_size
            .max(commit + PAGE_SIZE)
            .next_multiple_of(STACK_RESERVE_GRANULARITY);
        Self { reserve, commit }
    }

    /// For a reservation at `allocation_base`: the stack's base (its top), its limit (the
    /// lowest committed address) and the guard page's address.
    pub fn bounds(&self, allocation_base: u64) -> (u64, u64, u64) {
        let base = allocation_base + self.reserve;
        let limit = base - self.commit;
        (base, limit, limit - PAGE_SIZE)
    }
}

/// Offset of `ProcessParameters` in the PEB.
const PEB_PROCESS_PARAMETERS: u64 = 0x20;

/// The memory services a classic-path creator calls on its new process, through its own
/// stubs (rt's, or ntdll's exports), so both share the steps below.
pub trait ChildMemory {
    /// `NtAllocateVirtualMemory(process, base, 0, size, allocation_type, protect)`: the
    /// base of what was allocated.
    fn allocate(
        &self,
        process: u64,
        base: u64,
        size: u64,
        allocation_type: u32,
        protect: u32,
    ) -> Result<u64, NtStatus>;
    /// `NtProtectVirtualMemory(process, base, size, protect)`.
    fn protect(&self, process: u64, base: u64, size: u64, protect: u32) -> Result<(), NtStatus>;
    /// `NtWriteVirtualMemory(process, address, bytes)`.
    fn write(&self, process: u64, address: u64, bytes: &[u8]) -> Result<(), NtStatus>;
}

/// Writes the parameters block for `image_path`, `command_line` and `environment` into
/// `process` (built in `scratch`, at least [`ParametersLayout::total`] bytes) and points
/// the PEB at `peb` at it: the block's address in the process.
pub fn write_child_parameters(
    memory: &impl ChildMemory,
    process: u64,
    peb: u64,
    scratch: &mut [u8],
    image_path: &[u16],
    command_line: &[u16],
    environment: &[u16],
) -> Result<u64, NtStatus> {
    let layout = ParametersLayout::new(image_path.len(), command_line.len(), environment.len())?;
    if scratch.len() < layout.total {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    let base = memory.allocate(
        process,
        0,
        layout.total as u64,
        MEM_RESERVE | MEM_COMMIT,
        PAGE_READWRITE,
    )?;
    let written = write_parameters(scratch, base, image_path, command_line, environment)?;
    memory.write(process, base, &scratch[..written])?;
    memory.write(process, peb + PEB_PROCESS_PARAMETERS, &base.to_le_bytes())?;
    Ok(base)
}

/// The first thread's stack in `process` for `image`, as BaseCreateStack makes it:
/// reserved, its top committed, a guard page below the committed part.
pub fn create_classic_stack(
    memory: &impl ChildMemory,
    process: u64,
    image: &SectionImageInformation,
) -> Result<InitialTeb, NtStatus> {
    let stack = ClassicStack::of(image);
    let allocation_base =
        memory.allocate(process, 0, stack.reserve, MEM_RESERVE, PAGE_READWRITE)?;
    let (stack_base, stack_limit, guard) = stack.bounds(allocation_base);
    memory.allocate(
        process,
        guard,
        stack.commit + PAGE_SIZE,
        MEM_COMMIT,
        PAGE_READWRITE,
    )?;
    memory.protect(process, guard, PAGE_SIZE, PAGE_READWRITE | PAGE_GUARD)?;
    Ok(InitialTeb {
        stack_base,
        stack_limit,
        stack_allocation_base: allocation_base,
        ..InitialTeb::default()
    })
}

/// A `CONTEXT`, 16-byte aligned as NtCreateThread requires, holding what a new thread
/// starts with.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct InitialContext(pub [u8; CONTEXT_SIZE]);

impl InitialContext {
    /// `CONTEXT_FULL` with `rip`, `rsp` and `rcx` (the entry point's argument) set.
    pub fn new(rip: u64, rsp: u64, rcx: u64) -> Self {
        let mut context = Self([0; CONTEXT_SIZE]);
        context.0[CONTEXT_FLAGS_OFFSET..CONTEXT_FLAGS_OFFSET + 4]
            .copy_from_slice(&CONTEXT_FULL.to_le_bytes());
        for (offset, value) in [
            (CONTEXT_RIP_OFFSET, rip),
            (CONTEXT_RSP_OFFSET, rsp),
            (CONTEXT_RCX_OFFSET, rcx),
        ] {
            context.0[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        }
        context
    }
}

/// The longest environment block a creator copies into a new process, in UTF-16 units
/// (its ending NULs included); a longer one, or one without an end, is
/// STATUS_INVALID_PARAMETER.
pub const MAX_ENVIRONMENT_UNITS: usize = 0x1_0000;

/// Where each part of a parameters block lies, as offsets from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParametersLayout {
    pub image_path: usize,
    pub command_line: usize,
    /// `Length`: the structure and both strings.
    pub length: usize,
    pub environment: usize,
    /// The whole block, environment included.
    pub total: usize,
}

impl ParametersLayout {
    /// The layout for strings of these lengths in UTF-16 units. An environment starts
    /// 8-byte aligned. STATUS_INVALID_PARAMETER when a string is too long for a
    /// `UNICODE_STRING`.
    pub fn new(
        image_path_units: usize,
        command_line_units: usize,
        environment_units: usize,
    ) -> Result<Self, NtStatus> {
        const MAX_STRING_UNITS: usize = (u16::MAX as usize - 2) / 2;
        if image_path_units > MAX_STRING_UNITS || command_line_units > MAX_STRING_UNITS {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let image_path = size_of::<RtlUserProcessParameters>();
        let command_line = image_path + 2 * image_path_units + 2;
        let length = command_line + 2 * command_line_units + 2;
        let environment = length.next_multiple_of(8);
        Ok(Self {
            image_path,
            command_line,
            length,
            environment,
            total: environment + 2 * environment_units,
        })
    }
}

/// The units of the environment block at the start of `units`: up to and including the
/// empty string that ends it (two NULs in a row, or one at the very start). None when
/// `units` holds no end.
pub fn environment_units(units: &[u16]) -> Option<usize> {
    if units.first() == Some(&0) {
        return Some(1);
    }
    units
        .windows(2)
        .position(|pair| pair == [0, 0])
        .map(|index| index + 2)
}

/// Writes the block for `image_path`, `command_line` and `environment` (UTF-16, the
/// environment whole with its ending NULs, or empty for none) into `block`, normalized for
/// an address `base`: the bytes written, which is `ParametersLayout::total`.
/// STATUS_BUFFER_TOO_SMALL when `block` is shorter.
pub fn write_parameters(
    block: &mut [u8],
    base: u64,
    image_path: &[u16],
    command_line: &[u16],
    environment: &[u16],
) -> Result<usize, NtStatus> {
    let layout = ParametersLayout::new(image_path.len(), command_line.len(), environment.len())?;
    let block = block
        .get_mut(..layout.total)
        .ok_or(NtStatus::BUFFER_TOO_SMALL)?;
    block.fill(0);
    let string = |units: &[u16], offset: usize| UnicodeString {
        length: (units.len() * 2) as u16,
        maximum_length: (units.len() * 2 + 2) as u16,
        reserved: 0,
        buffer: base + offset as u64,
    };
    let parameters = RtlUserProcessParameters {
        maximum_length: layout.length as u32,
        length: layout.length as u32,
        flags: PROCESS_PARAMETERS_NORMALIZED,
        image_path_name: string(image_path, layout.image_path),
        command_line: string(command_line, layout.command_line),
        environment: if environment.is_empty() {
            0
        } else {
            base + layout.environment as u64
        },
        ..RtlUserProcessParameters::default()
    };
    let header = size_of::<RtlUserProcessParameters>();
    // SAFETY: `RtlUserProcessParameters` is `#[repr(C)]` plain data whose padding is
    // spelled out as fields, so all its bytes are initialized; the slice covers exactly
    // the local.
    let bytes =
        unsafe { core::slice::from_raw_parts((&raw const parameters).cast::<u8>(), header) };
    block[..header].copy_from_slice(bytes);
    for (units, offset) in [
        (image_path, layout.image_path),
        (command_line, layout.command_line),
        (environment, layout.environment),
    ] {
        for (index, unit) in units.iter().enumerate() {
            block[offset + 2 * index..offset + 2 * index + 2].copy_from_slice(&unit.to_le_bytes());
        }
    }
    Ok(layout.total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    #[test]
    fn strings_follow_the_structure_with_their_nuls() {
        let path = utf16("\\SystemRoot\\System32\\a.exe");
        let command = utf16("a b");
        let environment = utf16("X=1\0\0");
        let mut block = vec![0xAAu8; 0x200];
        let written = write_parameters(&mut block, 0x1000, &path, &command, &environment).unwrap();
        let layout = ParametersLayout::new(path.len(), command.len(), environment.len()).unwrap();
        assert_eq!(written, layout.total);
        assert_eq!(layout.image_path, 0x88);
        assert_eq!(layout.command_line, 0x88 + 2 * path.len() + 2);
        assert_eq!(layout.environment % 8, 0);
        // SAFETY: the block holds a whole structure; read unaligned.
        let parameters = unsafe {
            block
                .as_ptr()
                .cast::<RtlUserProcessParameters>()
                .read_unaligned()
        };
        assert_eq!(parameters.length as usize, layout.length);
        assert_eq!(parameters.flags, PROCESS_PARAMETERS_NORMALIZED);
        assert_eq!(parameters.image_path_name.buffer, 0x1088);
        assert_eq!(parameters.command_line.length, 6);
        assert_eq!(parameters.command_line.maximum_length, 8);
        assert_eq!(parameters.environment, 0x1000 + layout.environment as u64);
        let nul = layout.command_line - 2;
        assert_eq!(block[nul..nul + 2], [0, 0]);
        assert_eq!(block[layout.environment], b'X');
    }

    #[test]
    fn no_environment_is_a_null_pointer_and_a_short_block_is_refused() {
        let mut block = vec![0u8; 0x100];
        write_parameters(&mut block, 0x1000, &utf16("p"), &utf16("c"), &[]).unwrap();
        // SAFETY: as above.
        let parameters = unsafe {
            block
                .as_ptr()
                .cast::<RtlUserProcessParameters>()
                .read_unaligned()
        };
        assert_eq!(parameters.environment, 0);
        let mut short = vec![0u8; 0x8F];
        assert_eq!(
            write_parameters(&mut short, 0, &utf16("p"), &utf16("c"), &[]),
            Err(NtStatus::BUFFER_TOO_SMALL)
        );
        let long = vec![u16::from(b'x'); 0x8000];
        assert_eq!(
            ParametersLayout::new(long.len(), 0, 0),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }

    #[test]
    fn a_classic_stack_has_room_for_its_commit_and_guard() {
        let image = SectionImageInformation {
            maximum_stack_size: 0x10_0000,
            committed_stack_size: 0x1800,
            ..SectionImageInformation::default()
        };
        let stack = ClassicStack::of(&image);
        assert_eq!(
            stack,
            ClassicStack {
                reserve: 0x10_0000,
                commit: 0x2000
            }
        );
        assert_eq!(stack.bounds(0x10_0000), (0x20_0000, 0x1F_E000, 0x1F_D000));
        let tiny = ClassicStack::of(&SectionImageInformation::default());
        assert_eq!(
            tiny,
            ClassicStack {
                reserve: 0x1_0000,
                commit: 0x1000
            }
        );
        let context = InitialContext::new(1, 2, 3);
        assert_eq!(context.0[CONTEXT_RIP_OFFSET], 1);
        assert_eq!(context.0[CONTEXT_RSP_OFFSET], 2);
        assert_eq!(context.0[CONTEXT_RCX_OFFSET], 3);
        assert_eq!(&context as *const _ as usize % 16, 0);
    }

    /// Records each call and answers allocations from a counter.
    #[derive(Default)]
    struct Recorder {
        calls: std::cell::RefCell<Vec<String>>,
    }

    impl ChildMemory for Recorder {
        fn allocate(
            &self,
            process: u64,
            base: u64,
            size: u64,
            allocation_type: u32,
            protect: u32,
        ) -> Result<u64, NtStatus> {
            let mut calls = self.calls.borrow_mut();
            calls.push(format!(
                "allocate {process} {base:#x} {size:#x} {allocation_type:#x} {protect:#x}"
            ));
            Ok(if base == 0 {
                0x10_0000 * calls.len() as u64
            } else {
                base
            })
        }

        fn protect(
            &self,
            process: u64,
            base: u64,
            size: u64,
            protect: u32,
        ) -> Result<(), NtStatus> {
            self.calls.borrow_mut().push(format!(
                "protect {process} {base:#x} {size:#x} {protect:#x}"
            ));
            Ok(())
        }

        fn write(&self, process: u64, address: u64, bytes: &[u8]) -> Result<(), NtStatus> {
            self.calls
                .borrow_mut()
                .push(format!("write {process} {address:#x} {:#x}", bytes.len()));
            Ok(())
        }
    }

    #[test]
    fn the_classic_steps_call_the_creators_services() {
        let memory = Recorder::default();
        let image = SectionImageInformation {
            maximum_stack_size: 0x2_0000,
            committed_stack_size: 0x2000,
            ..SectionImageInformation::default()
        };
        let teb = create_classic_stack(&memory, 7, &image).unwrap();
        assert_eq!(
            (teb.stack_base, teb.stack_limit, teb.stack_allocation_base),
            (0x12_0000, 0x11_E000, 0x10_0000)
        );
        let mut scratch = [0u8; 0x100];
        let path = utf16("p");
        let base =
            write_child_parameters(&memory, 7, 0x7000, &mut scratch, &path, &path, &[]).unwrap();
        assert_eq!(base, 0x40_0000);
        assert_eq!(
            *memory.calls.borrow(),
            [
                "allocate 7 0x0 0x20000 0x2000 0x4",
                "allocate 7 0x11d000 0x3000 0x1000 0x4",
                "protect 7 0x11d000 0x1000 0x104",
                "allocate 7 0x0 0x90 0x3000 0x4",
                "write 7 0x400000 0x90",
                "write 7 0x7020 0x8",
            ]
        );
        let mut short = [0u8; 0x10];
        assert_eq!(
            write_child_parameters(&memory, 7, 0x7000, &mut short, &path, &path, &[]),
            Err(NtStatus::BUFFER_TOO_SMALL)
        );
    }

    #[test]
    fn an_environment_ends_at_its_empty_string() {
        assert_eq!(environment_units(&utf16("A=1\0B=2\0\0rest")), Some(9));
        assert_eq!(environment_units(&[0, 5]), Some(1));
        assert_eq!(environment_units(&utf16("A=1\0")), None);
        assert_eq!(environment_units(&[]), None);
    }
}
