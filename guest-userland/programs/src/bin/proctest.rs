//! `proctest`: exercises process creation and termination through NtCreateUserProcess and
//! friends: creation suspended then NtResumeThread; NtTerminateProcess of a child that
//! runs, one blocked in a wait, one created suspended and one suspended while running;
//! waits on process objects (single, WaitAll); exit statuses through
//! NtQueryInformationProcess; handle inheritance (PROCESS_CREATE_FLAGS_INHERIT_HANDLES);
//! process parameters that are not normalized; and bad pointers, handles, access, lengths,
//! flags and classes to NtCreateUserProcess, NtQueryInformationProcess,
//! NtQuerySystemInformation(SystemProcessInformation) and NtTerminateProcess, each with its
//! status. Ends by running `tlist`. Prints one `ok:` or `WRONG:` line per case and exits 0
//! only when every answer was right.
//!
//! The children are other programs and `proctest` itself: `proctest spin` runs for ever,
//! `proctest block` waits for ever, `proctest set HANDLE` sets the event HANDLE and exits
//! with NtSetEvent's status.
#![no_std]
#![no_main]

use abi::access::{
    EVENT_ALL_ACCESS, OBJ_INHERIT, PROCESS_QUERY_INFORMATION, PROCESS_VM_READ, SYNCHRONIZE,
    THREAD_ALL_ACCESS,
};
use abi::dispatcher::{NOTIFICATION_EVENT, THREAD_CREATE_FLAGS_CREATE_SUSPENDED, WAIT_ALL};
use abi::nt::{ObjectAttributes, RtlUserProcessParameters, UnicodeString};
use abi::process::{
    PROCESS_BASIC_INFORMATION_CLASS, PROCESS_CREATE_FLAGS_INHERIT_HANDLES, ProcessBasicInformation,
    SYSTEM_PROCESS_INFORMATION_CLASS, SystemProcessInformation,
};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::process::{Child, create_user_process, for_each_process, query_basic_information};
use rt::syscall::{
    nt_close, nt_create_event, nt_create_user_process, nt_delay_execution, nt_duplicate_object,
    nt_query_information_process, nt_query_system_information, nt_read_virtual_memory,
    nt_resume_thread, nt_set_event, nt_suspend_thread, nt_terminate_process,
    nt_wait_for_multiple_objects, nt_wait_for_single_object, nt_write_virtual_memory,
};
use rt::{Args, NtStatus, println};

use rt::tally::{ExpectedValue, Tally};
use rt::wait::wait_for as wait;

rt::entry!(main);

const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;
const UNMAPPED_ADDRESS: u64 = 0x0000_0000_1000_0000;
const BOGUS_HANDLE: u64 = 0x1234_5678;
/// 100 ns units per millisecond, for timeouts.
const MS: i64 = 10_000;

fn main(args: &Args) -> NtStatus {
    match (args.get(1), args.get(2).and_then(rt::parse_u32)) {
        (Some("spin"), _) => loop {
            core::hint::spin_loop();
        },
        // SAFETY: no timeout: waits on its own process, which never signals while it runs.
        (Some("block"), _) => unsafe {
            nt_wait_for_single_object(CURRENT_PROCESS_HANDLE, 0, core::ptr::null())
        },
        // SAFETY: no previous-state pointer.
        (Some("set"), Some(handle)) => unsafe {
            nt_set_event(u64::from(handle), core::ptr::null_mut())
        },
        (None, _) => run_all(),
        _ => {
            println!("usage: proctest [spin | block | set HANDLE]");
            NtStatus::INVALID_PARAMETER
        }
    }
}

/// The processes listed by SystemProcessInformation.
fn process_count() -> Result<u32, NtStatus> {
    let mut processes = 0;
    let mut buffer = [0u64; 2048];
    for_each_process(&mut buffer, |_: &SystemProcessInformation, _| {
        processes += 1
    })?;
    Ok(processes)
}

fn run_all() -> NtStatus {
    let mut tally = Tally { cases: 0, wrong: 0 };
    let processes_before = process_count();
    suspended_creation(&mut tally);
    termination(&mut tally);
    waits(&mut tally);
    inheritance(&mut tally);
    parameters_not_normalized(&mut tally);
    bad_create_user_process(&mut tally);
    bad_query_information_process(&mut tally);
    bad_process_list_and_termination(&mut tally);
    memory_isolation(&mut tally);
    let processes_after = process_count();
    tally.check(
        "every child ran down: as many processes as before",
        processes_before.is_ok() && processes_before == processes_after,
        &ExpectedValue(
            u64::from(processes_after.unwrap_or(0)),
            u64::from(processes_before.unwrap_or(0)),
        ),
    );
    let tlist = run_child("tlist", "tlist");
    tally.value("tlist still works afterwards", tlist, 0);
    println!("proctest: {} cases, {} wrong", tally.cases, tally.wrong);
    if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

/// Eight bytes of a process at `address` through the handle `process`: the status and the
/// value read.
fn read_other(process: u64, address: u64) -> (NtStatus, u64) {
    let mut value = 0u64;
    let mut read = 0;
    // SAFETY: the buffer and the count are locals of the size passed.
    let status =
        unsafe { nt_read_virtual_memory(process, address, (&raw mut value).cast(), 8, &mut read) };
    (status, value)
}

fn write_other(process: u64, address: u64, value: u64) -> NtStatus {
    let mut written = 0;
    // SAFETY: the buffer and the count are locals of the size passed.
    unsafe { nt_write_virtual_memory(process, address, (&raw const value).cast(), 8, &mut written) }
}

/// A handle to `process` with only `access`.
fn reduced(process: u64, access: u32) -> u64 {
    let mut handle = 0;
    // SAFETY: the handle is a local.
    unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            process,
            CURRENT_PROCESS_HANDLE,
            &mut handle,
            access,
            0,
            0,
        )
    };
    handle
}

/// One process reaches another's memory only through a handle that grants it, and never
/// the kernel's: the same address holds each process's own contents.
fn memory_isolation(tally: &mut Tally) {
    let child = spawn("exit", "exit 0", 0, THREAD_CREATE_FLAGS_CREATE_SUSPENDED);
    let child_peb =
        query_basic_information(child.process).map_or(0, |basic| basic.peb_base_address);
    let own_peb =
        query_basic_information(CURRENT_PROCESS_HANDLE).map_or(0, |basic| basic.peb_base_address);
    // PEB.ImageBaseAddress: both programs are linked at the same base.
    let field = child_peb + 0x10;
    let (status, child_base) = read_other(child.process, field);
    tally.status(
        "NtReadVirtualMemory(child PEB, full access)",
        status,
        NtStatus::SUCCESS,
    );
    let marker = 0x5EC0_02E7_0000_0001;
    tally.status(
        "NtWriteVirtualMemory(child PEB, full access)",
        write_other(child.process, field, marker),
        NtStatus::SUCCESS,
    );
    tally.value(
        "the child's memory holds the write",
        read_other(child.process, field).1,
        marker,
    );
    let (_, own_base) = read_other(CURRENT_PROCESS_HANDLE, own_peb + 0x10);
    tally.check(
        "this process's own PEB is untouched",
        own_base == child_base && own_base != marker,
        &ExpectedValue(own_base, child_base),
    );
    let query_only = reduced(child.process, PROCESS_QUERY_INFORMATION);
    tally.status(
        "NtReadVirtualMemory without PROCESS_VM_READ",
        read_other(query_only, field).0,
        NtStatus::ACCESS_DENIED,
    );
    tally.status(
        "NtWriteVirtualMemory without PROCESS_VM_WRITE",
        write_other(query_only, field, 0),
        NtStatus::ACCESS_DENIED,
    );
    let read_only = reduced(child.process, PROCESS_VM_READ);
    tally.status(
        "NtReadVirtualMemory with PROCESS_VM_READ alone",
        read_other(read_only, field).0,
        NtStatus::SUCCESS,
    );
    tally.status(
        "NtWriteVirtualMemory with PROCESS_VM_READ alone",
        write_other(read_only, field, 0),
        NtStatus::ACCESS_DENIED,
    );
    tally.status(
        "NtReadVirtualMemory of the kernel through a child's handle",
        read_other(child.process, KERNEL_ADDRESS).0,
        NtStatus::ACCESS_VIOLATION,
    );
    terminate(child.process, 0);
    wait(child.process, None);
    for handle in [query_only, read_only] {
        // SAFETY: handles this program opened, closed once.
        unsafe { nt_close(handle) };
    }
    child.close();
}

/// Creates a child; panics (ending the test) when it cannot.
fn spawn(image: &str, command_line: &str, process_flags: u32, thread_flags: u32) -> Child {
    match create_user_process(image, command_line, process_flags, thread_flags) {
        Ok(child) => child,
        Err(status) => panic!("NtCreateUserProcess({command_line}): {status}"),
    }
}

/// The exit status NtQueryInformationProcess reports (u64::MAX when the query fails).
fn exit_status(process: u64) -> u64 {
    query_basic_information(process).map_or(u64::MAX, |basic| u64::from(basic.exit_status))
}

/// Runs a child to its end and returns its exit status.
fn run_child(image: &str, command_line: &str) -> u64 {
    let child = spawn(image, command_line, 0, 0);
    rt::process::wait(child.process);
    let status = exit_status(child.process);
    child.close();
    status
}

fn delay(milliseconds: i64) {
    let interval = -milliseconds * MS;
    // SAFETY: the interval is a local.
    unsafe { nt_delay_execution(0, &interval) };
}

fn terminate(process: u64, status: u32) -> NtStatus {
    // SAFETY: terminating another process; the call returns.
    unsafe { nt_terminate_process(process, NtStatus(status)) }
}

fn suspended_creation(tally: &mut Tally) {
    let child = spawn("exit", "exit 5", 0, THREAD_CREATE_FLAGS_CREATE_SUSPENDED);
    tally.status(
        "a suspended child does not end",
        wait(child.process, Some(-50 * MS)),
        NtStatus::TIMEOUT,
    );
    tally.value(
        "a suspended child's exit status is STATUS_PENDING",
        exit_status(child.process),
        u64::from(NtStatus::PENDING.0),
    );
    let mut previous = u32::MAX;
    // SAFETY: the previous count is a local.
    let resumed = unsafe { nt_resume_thread(child.thread, &mut previous) };
    tally.status(
        "NtResumeThread(suspended child)",
        resumed,
        NtStatus::SUCCESS,
    );
    tally.value("its previous suspend count", u64::from(previous), 1);
    tally.status(
        "the resumed child ends",
        wait(child.process, None),
        NtStatus::SUCCESS,
    );
    tally.value(
        "the resumed child's exit status",
        exit_status(child.process),
        5,
    );
    child.close();
}

fn termination(tally: &mut Tally) {
    let running = spawn("proctest", "proctest spin", 0, 0);
    let blocked = spawn("proctest", "proctest block", 0, 0);
    let created_suspended = spawn(
        "proctest",
        "proctest spin",
        0,
        THREAD_CREATE_FLAGS_CREATE_SUSPENDED,
    );
    let suspended_later = spawn("proctest", "proctest spin", 0, 0);
    delay(30);
    // SAFETY: no previous-count pointer.
    let suspended = unsafe { nt_suspend_thread(suspended_later.thread, core::ptr::null_mut()) };
    tally.status(
        "NtSuspendThread(running child)",
        suspended,
        NtStatus::SUCCESS,
    );
    let cases = [
        ("running", running, 0xDEAD_0001),
        ("blocked", blocked, 0xDEAD_0002),
        ("created suspended", created_suspended, 0xDEAD_0003),
        ("suspended while running", suspended_later, 0xDEAD_0004),
    ];
    for (name, child, status) in cases {
        tally.status(
            &name_of("NtTerminateProcess(child ", name),
            terminate(child.process, status),
            NtStatus::SUCCESS,
        );
        tally.status(
            &name_of("the terminated child ends: ", name),
            wait(child.process, Some(-2000 * MS)),
            NtStatus::SUCCESS,
        );
        tally.value(
            &name_of("the terminated child's exit status: ", name),
            exit_status(child.process),
            u64::from(status),
        );
        tally.status(
            &name_of("NtTerminateProcess again: ", name),
            terminate(child.process, 1),
            NtStatus::PROCESS_IS_TERMINATING,
        );
        tally.value(
            &name_of("the first exit status stays: ", name),
            exit_status(child.process),
            u64::from(status),
        );
        child.close();
    }
}

/// `prefix` and `name` in one fixed buffer.
fn name_of(prefix: &str, name: &str) -> Name {
    let mut text = Name([0; 96], 0);
    for part in [prefix, name] {
        let end = (text.1 + part.len()).min(text.0.len());
        let length = end - text.1;
        text.0[text.1..end].copy_from_slice(&part.as_bytes()[..length]);
        text.1 = end;
    }
    text
}

struct Name([u8; 96], usize);

impl core::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        core::str::from_utf8(&self.0[..self.1]).unwrap_or("?")
    }
}

fn waits(tally: &mut Tally) {
    let children = [
        spawn("exit", "exit 1", 0, 0),
        spawn("exit", "exit 2", 0, 0),
        spawn("exit", "exit 3", 0, 0),
    ];
    let handles = children.map(|child| child.process);
    let timeout = -2000 * MS;
    // SAFETY: three handles in a local array; the timeout is a local.
    let status =
        unsafe { nt_wait_for_multiple_objects(3, handles.as_ptr(), WAIT_ALL, 0, &timeout) };
    tally.status("WaitAll on three children", status, NtStatus::SUCCESS);
    for (index, child) in children.iter().enumerate() {
        tally.value(
            "each child's exit status",
            exit_status(child.process),
            index as u64 + 1,
        );
    }
    tally.status(
        "an ended process stays signaled",
        wait(children[0].process, Some(0)),
        NtStatus::SUCCESS,
    );
    let own = query_basic_information(CURRENT_PROCESS_HANDLE).map_or(0, |b| b.unique_process_id);
    let parent = query_basic_information(children[0].process)
        .map_or(u64::MAX, |b| b.inherited_from_unique_process_id);
    tally.value("a child's parent is this process", parent, own);
    for child in children {
        child.close();
    }
}

/// Formats `prefix` and `value` in decimal into `buffer`.
fn with_number<'a>(prefix: &str, value: u64, buffer: &'a mut [u8; 64]) -> &'a str {
    let mut digits = [0u8; 20];
    let mut count = 0;
    let mut rest = value;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buffer[..prefix.len()].copy_from_slice(prefix.as_bytes());
    for (index, digit) in digits[..count].iter().rev().enumerate() {
        buffer[prefix.len() + index] = *digit;
    }
    core::str::from_utf8(&buffer[..prefix.len() + count]).unwrap_or("")
}

fn inheritance(tally: &mut Tally) {
    let attributes = ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        attributes: OBJ_INHERIT,
        ..ObjectAttributes::default()
    };
    let mut event = 0;
    // SAFETY: the handle and the attributes are locals.
    let status = unsafe {
        nt_create_event(
            &mut event,
            EVENT_ALL_ACCESS,
            &attributes,
            NOTIFICATION_EVENT,
            0,
        )
    };
    tally.status("NtCreateEvent(OBJ_INHERIT)", status, NtStatus::SUCCESS);
    let mut buffer = [0u8; 64];
    let command = with_number("proctest set ", event, &mut buffer);
    let without = run_child("proctest", command);
    tally.value(
        "without PROCESS_CREATE_FLAGS_INHERIT_HANDLES the child has no such handle",
        without,
        u64::from(NtStatus::INVALID_HANDLE.0),
    );
    let child = spawn("proctest", command, PROCESS_CREATE_FLAGS_INHERIT_HANDLES, 0);
    rt::process::wait(child.process);
    tally.value(
        "with it the child sets the inherited event",
        exit_status(child.process),
        0,
    );
    child.close();
    tally.status(
        "the event the child set is signaled",
        wait(event, Some(0)),
        NtStatus::SUCCESS,
    );
    // SAFETY: the event handle is no longer used.
    unsafe { nt_close(event) };
}

/// Process parameters with the strings right after the structure.
#[repr(C)]
struct ParametersBlock {
    parameters: RtlUserProcessParameters,
    image: [u16; 40],
    command: [u16; 40],
    image_units: usize,
    command_units: usize,
}

impl ParametersBlock {
    /// Normalized parameters naming `image` and `command`, pointing into the block itself.
    fn new(image: &str, command: &str) -> Self {
        let mut block = Self {
            parameters: RtlUserProcessParameters::default(),
            image: [0; 40],
            command: [0; 40],
            image_units: 0,
            command_units: 0,
        };
        for (unit, slot) in image.encode_utf16().zip(block.image.iter_mut()) {
            *slot = unit;
            block.image_units += 1;
        }
        for (unit, slot) in command.encode_utf16().zip(block.command.iter_mut()) {
            *slot = unit;
            block.command_units += 1;
        }
        block.parameters.length = size_of::<RtlUserProcessParameters>() as u32;
        block.parameters.maximum_length = size_of::<Self>() as u32;
        block.parameters.flags = abi::nt::PROCESS_PARAMETERS_NORMALIZED;
        block
    }

    /// Points the strings at the block where it now lies; returns the block's address.
    fn place(&mut self) -> u64 {
        let counted = |units: usize, buffer: u64| UnicodeString {
            length: (units * 2) as u16,
            maximum_length: (units * 2) as u16,
            reserved: 0,
            buffer,
        };
        self.parameters.image_path_name = counted(self.image_units, self.image.as_ptr() as u64);
        self.parameters.command_line = counted(self.command_units, self.command.as_ptr() as u64);
        (&raw const *self) as u64
    }

    /// The parameters' address, for the call.
    fn address(&self) -> u64 {
        (&raw const self.parameters) as u64
    }
}

/// NtCreateUserProcess with every argument given, asking SYNCHRONIZE for the process.
#[expect(
    clippy::too_many_arguments,
    reason = "NtCreateUserProcess's own arguments"
)]
fn create_raw(
    process_handle: u64,
    thread_handle: u64,
    process_attributes: u64,
    process_flags: u32,
    thread_flags: u32,
    parameters: u64,
    create_info: u64,
    attribute_list: u64,
) -> NtStatus {
    // SAFETY: the kernel validates every pointer; valid ones are the caller's locals.
    unsafe {
        nt_create_user_process(
            process_handle as *mut u64,
            thread_handle as *mut u64,
            SYNCHRONIZE,
            THREAD_ALL_ACCESS,
            process_attributes as *const ObjectAttributes,
            core::ptr::null(),
            process_flags,
            thread_flags,
            parameters as *const RtlUserProcessParameters,
            create_info,
            attribute_list,
        )
    }
}

fn parameters_not_normalized(tally: &mut Tally) {
    let mut block = ParametersBlock::new("\\SystemRoot\\System32\\exit.exe", "exit 9");
    let base = block.place();
    block.parameters.flags = 0;
    block.parameters.image_path_name.buffer -= base;
    block.parameters.command_line.buffer -= base;
    let (mut process, mut thread) = (0u64, 0u64);
    let status = create_raw(
        (&raw mut process) as u64,
        (&raw mut thread) as u64,
        0,
        0,
        0,
        block.address(),
        0,
        0,
    );
    tally.status(
        "NtCreateUserProcess(parameters with offsets, full image path)",
        status,
        NtStatus::SUCCESS,
    );
    if status == NtStatus::SUCCESS {
        wait(process, None);
        let child = Child { process, thread };
        // Only SYNCHRONIZE was asked for the process.
        tally.status(
            "NtQueryInformationProcess without PROCESS_QUERY_INFORMATION",
            query_raw(process, PROCESS_BASIC_INFORMATION_CLASS, 0, 0x30, 0),
            NtStatus::ACCESS_DENIED,
        );
        tally.status(
            "NtTerminateProcess without PROCESS_TERMINATE",
            terminate(process, 1),
            NtStatus::ACCESS_DENIED,
        );
        child.close();
    }
}

/// A change that makes process parameters wrong.
type Breakage = fn(&mut ParametersBlock);

fn bad_create_user_process(tally: &mut Tally) {
    let mut block = ParametersBlock::new("exit", "exit 0");
    block.place();
    let good = block.address();
    let (mut process, mut thread) = ([0u64; 2], 0u64);
    let process_at = process.as_mut_ptr() as u64;
    let thread_at = (&raw mut thread) as u64;
    let create = |process_handle, thread_handle, attributes, flags, thread_flags, parameters| {
        create_raw(
            process_handle,
            thread_handle,
            attributes,
            flags,
            thread_flags,
            parameters,
            0,
            0,
        )
    };
    tally.status(
        "NtCreateUserProcess(kernel process handle pointer)",
        create(KERNEL_ADDRESS, thread_at, 0, 0, 0, good),
        NtStatus::ACCESS_VIOLATION,
    );
    tally.status(
        "NtCreateUserProcess(misaligned process handle pointer)",
        create(process_at + 1, thread_at, 0, 0, 0, good),
        NtStatus::DATATYPE_MISALIGNMENT,
    );
    tally.status(
        "NtCreateUserProcess(kernel thread handle pointer)",
        create(process_at, KERNEL_ADDRESS, 0, 0, 0, good),
        NtStatus::ACCESS_VIOLATION,
    );
    tally.status(
        "NtCreateUserProcess(NULL parameters)",
        create(process_at, thread_at, 0, 0, 0, 0),
        NtStatus::INVALID_PARAMETER,
    );
    tally.status(
        "NtCreateUserProcess(unmapped parameters)",
        create(process_at, thread_at, 0, 0, 0, UNMAPPED_ADDRESS),
        NtStatus::ACCESS_VIOLATION,
    );
    tally.status(
        "NtCreateUserProcess(kernel parameters)",
        create(process_at, thread_at, 0, 0, 0, KERNEL_ADDRESS),
        NtStatus::ACCESS_VIOLATION,
    );
    tally.status(
        "NtCreateUserProcess(unknown process flags)",
        create(process_at, thread_at, 0, 0x8000, 0, good),
        NtStatus::INVALID_PARAMETER,
    );
    tally.status(
        "NtCreateUserProcess(unknown thread flags)",
        create(process_at, thread_at, 0, 0, 0x2, good),
        NtStatus::INVALID_PARAMETER,
    );
    let bad_attributes = ObjectAttributes {
        length: 7,
        ..ObjectAttributes::default()
    };
    tally.status(
        "NtCreateUserProcess(OBJECT_ATTRIBUTES of the wrong length)",
        create(
            process_at,
            thread_at,
            (&raw const bad_attributes) as u64,
            0,
            0,
            good,
        ),
        NtStatus::INVALID_PARAMETER,
    );
    tally.status(
        "NtCreateUserProcess(unmapped OBJECT_ATTRIBUTES)",
        create(process_at, thread_at, UNMAPPED_ADDRESS, 0, 0, good),
        NtStatus::ACCESS_VIOLATION,
    );
    let cases: [(&str, Breakage, NtStatus); 6] = [
        (
            "NtCreateUserProcess(unmapped image path)",
            |b| b.parameters.image_path_name.buffer = UNMAPPED_ADDRESS,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtCreateUserProcess(kernel command line)",
            |b| b.parameters.command_line.buffer = KERNEL_ADDRESS,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtCreateUserProcess(odd image path length)",
            |b| b.parameters.image_path_name.length = 3,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "NtCreateUserProcess(length above maximum)",
            |b| b.parameters.command_line.maximum_length = 2,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "NtCreateUserProcess(empty image path)",
            |b| b.parameters.image_path_name.length = 0,
            NtStatus::INVALID_PARAMETER,
        ),
        (
            "NtCreateUserProcess(image not in the boot image)",
            |b| b.image[0] = u16::from(b'z'),
            NtStatus::OBJECT_NAME_NOT_FOUND,
        ),
    ];
    for (name, change, expected) in cases {
        let mut block = ParametersBlock::new("exit", "exit 0");
        block.place();
        change(&mut block);
        tally.status(
            name,
            create(process_at, thread_at, 0, 0, 0, block.address()),
            expected,
        );
    }
    tally.status(
        "NtCreateUserProcess(kernel CreateInfo)",
        create_raw(process_at, thread_at, 0, 0, 0, good, KERNEL_ADDRESS, 0),
        NtStatus::ACCESS_VIOLATION,
    );
    tally.status(
        "NtCreateUserProcess(unmapped AttributeList)",
        create_raw(process_at, thread_at, 0, 0, 0, good, 0, UNMAPPED_ADDRESS),
        NtStatus::ACCESS_VIOLATION,
    );
    let empty_list = 0u64;
    tally.status(
        "NtCreateUserProcess(AttributeList with TotalLength 0)",
        create_raw(
            process_at,
            thread_at,
            0,
            0,
            0,
            good,
            0,
            (&raw const empty_list) as u64,
        ),
        NtStatus::INVALID_PARAMETER,
    );
}

fn query_raw(process: u64, class: u32, information: u64, length: u32, returned: u64) -> NtStatus {
    // SAFETY: the kernel validates every pointer; valid ones are the caller's locals.
    unsafe {
        nt_query_information_process(
            process,
            class,
            information as *mut u8,
            length,
            returned as *mut u32,
        )
    }
}

fn bad_query_information_process(tally: &mut Tally) {
    let mut information = [0u64; 8];
    let buffer = information.as_mut_ptr() as u64;
    let size = size_of::<ProcessBasicInformation>() as u32;
    let mut returned = 0u32;
    tally.status(
        "NtQueryInformationProcess(current process)",
        query_raw(
            CURRENT_PROCESS_HANDLE,
            PROCESS_BASIC_INFORMATION_CLASS,
            buffer,
            size,
            (&raw mut returned) as u64,
        ),
        NtStatus::SUCCESS,
    );
    tally.value("its return length", u64::from(returned), u64::from(size));
    let cases = [
        (
            "NtQueryInformationProcess(bogus handle)",
            BOGUS_HANDLE,
            0,
            buffer,
            size,
            0,
            NtStatus::INVALID_HANDLE,
        ),
        (
            "NtQueryInformationProcess(thread handle)",
            CURRENT_THREAD_HANDLE,
            0,
            buffer,
            size,
            0,
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            "NtQueryInformationProcess(unknown class)",
            CURRENT_PROCESS_HANDLE,
            99,
            buffer,
            size,
            0,
            NtStatus::INVALID_INFO_CLASS,
        ),
        (
            "NtQueryInformationProcess(short length)",
            CURRENT_PROCESS_HANDLE,
            0,
            buffer,
            size - 1,
            0,
            NtStatus::INFO_LENGTH_MISMATCH,
        ),
        (
            "NtQueryInformationProcess(long length)",
            CURRENT_PROCESS_HANDLE,
            0,
            buffer,
            size + 8,
            0,
            NtStatus::INFO_LENGTH_MISMATCH,
        ),
        (
            "NtQueryInformationProcess(kernel buffer)",
            CURRENT_PROCESS_HANDLE,
            0,
            KERNEL_ADDRESS,
            size,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtQueryInformationProcess(unmapped buffer)",
            CURRENT_PROCESS_HANDLE,
            0,
            UNMAPPED_ADDRESS,
            size,
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtQueryInformationProcess(misaligned buffer)",
            CURRENT_PROCESS_HANDLE,
            0,
            buffer + 4,
            size,
            0,
            NtStatus::DATATYPE_MISALIGNMENT,
        ),
        (
            "NtQueryInformationProcess(kernel return length)",
            CURRENT_PROCESS_HANDLE,
            0,
            buffer,
            size,
            KERNEL_ADDRESS,
            NtStatus::ACCESS_VIOLATION,
        ),
    ];
    for (name, handle, class, information, length, returned, expected) in cases {
        tally.status(
            name,
            query_raw(handle, class, information, length, returned),
            expected,
        );
    }
}

fn bad_process_list_and_termination(tally: &mut Tally) {
    let mut buffer = [0u64; 512];
    let mut returned = 0u32;
    // SAFETY: a local buffer of the length passed, a local return length.
    let status = unsafe {
        nt_query_system_information(
            SYSTEM_PROCESS_INFORMATION_CLASS,
            buffer.as_mut_ptr().cast(),
            16,
            &mut returned,
        )
    };
    tally.status(
        "SystemProcessInformation into 16 bytes",
        status,
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    tally.check(
        "its return length covers a record",
        returned as usize >= size_of::<SystemProcessInformation>(),
        &returned,
    );
    let needed = returned;
    let status = if needed as usize <= size_of_val(&buffer) {
        // SAFETY: a buffer of at least the length passed (checked), a local return length.
        unsafe {
            nt_query_system_information(
                SYSTEM_PROCESS_INFORMATION_CLASS,
                buffer.as_mut_ptr().cast(),
                needed,
                &mut returned,
            )
        }
    } else {
        NtStatus::UNSUCCESSFUL
    };
    tally.status(
        "SystemProcessInformation into exactly the length returned",
        status,
        NtStatus::SUCCESS,
    );
    // SAFETY: the kernel probes the buffer.
    let status = unsafe {
        nt_query_system_information(
            SYSTEM_PROCESS_INFORMATION_CLASS,
            KERNEL_ADDRESS as *mut u8,
            0x10000,
            core::ptr::null_mut(),
        )
    };
    tally.status(
        "SystemProcessInformation into a kernel buffer",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    tally.status(
        "NtTerminateProcess(bogus handle)",
        terminate(BOGUS_HANDLE, 1),
        NtStatus::INVALID_HANDLE,
    );
    let mut event = 0;
    // SAFETY: the handle is a local; no attributes.
    unsafe {
        nt_create_event(
            &mut event,
            EVENT_ALL_ACCESS,
            core::ptr::null(),
            NOTIFICATION_EVENT,
            0,
        )
    };
    tally.status(
        "NtTerminateProcess(event handle)",
        terminate(event, 1),
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    // SAFETY: the event handle is no longer used.
    unsafe { nt_close(event) };
}
