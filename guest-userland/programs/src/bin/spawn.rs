//! `spawn [--nt] [--env NAME=VALUE]... N PROGRAM [ARGS]`: creates N child processes of
//! PROGRAM one after another through ntdll.dll: with RtlCreateUserProcess (the classic
//! path), or with `--nt` NtCreateUserProcess, both from the same process parameters
//! (RtlCreateProcessParameters: the NT path of PROGRAM, the command line `PROGRAM ARGS`,
//! and an environment of the `--env` strings when there are any). It waits for each,
//! reads each exit status back with NtQueryInformationProcess (they must all be the same),
//! and prints the count and the memory and handle counters before and after
//! (NtQuerySystemInformation: SystemPerformanceInformation, SystemProcessInformation and
//! the kernel's process-notify counts). Every counter must come back to exactly where it
//! started. Exits 0 when all of that holds, STATUS_UNSUCCESSFUL otherwise.
#![no_std]
#![no_main]

use abi::access::{PROCESS_ALL_ACCESS, THREAD_ALL_ACCESS};
use abi::nt::{RtlUserProcessParameters, UnicodeString};
use abi::process::{
    PROCESS_BASIC_INFORMATION_CLASS, ProcessBasicInformation, SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS,
    SystemProcessNotifyCounters,
};
use abi::service::CURRENT_PROCESS_HANDLE;
use abi::user_process::RtlUserProcessInformation;
use rt::counters::{counters_with, settle};
use rt::ntdll::{
    NtClose, NtCreateUserProcess, NtQueryInformationProcess, NtQuerySystemInformation,
    NtResumeThread, NtWaitForSingleObject, RtlCreateProcessParameters, RtlCreateUserProcess,
    RtlDestroyProcessParameters,
};
use rt::process::{counted, nt_image_path};
use rt::{Args, NtStatus, println};

rt::entry!(main, ntdll);

/// Children listed one per line up to this many.
const LISTED_CHILDREN: u32 = 10;
/// The longest command line passed on, in bytes and in UTF-16 units.
const MAX_COMMAND_LINE: usize = 1024;
/// The longest image path, in UTF-16 units.
const MAX_IMAGE_PATH: usize = 260;
/// The longest environment block given with `--env`, in UTF-16 units.
const MAX_ENVIRONMENT: usize = 1024;

fn to_result(status: NtStatus) -> Result<(), NtStatus> {
    if status.is_success() {
        Ok(())
    } else {
        Err(status)
    }
}

fn notify_counters() -> Result<SystemProcessNotifyCounters, NtStatus> {
    let mut counters = SystemProcessNotifyCounters::default();
    // SAFETY: a local of the size passed.
    to_result(unsafe {
        NtQuerySystemInformation(
            SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS,
            (&raw mut counters).cast(),
            size_of::<SystemProcessNotifyCounters>() as u32,
            core::ptr::null_mut(),
        )
    })?;
    Ok(counters)
}

fn query_basic_information(process: u64) -> Result<ProcessBasicInformation, NtStatus> {
    let mut information = ProcessBasicInformation::default();
    // SAFETY: a local of the size passed.
    to_result(unsafe {
        NtQueryInformationProcess(
            process,
            PROCESS_BASIC_INFORMATION_CLASS,
            (&raw mut information).cast(),
            size_of::<ProcessBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    })?;
    Ok(information)
}

/// What the command line asks for.
struct Request<'a> {
    native: bool,
    count: u32,
    program: &'a str,
    /// The index of PROGRAM among the arguments: it and those after it make the
    /// children's command line.
    first_word: usize,
}

/// Parses the options and the count; the `--env` strings go into `environment` as an
/// environment block (empty when there are none).
fn parse<'a>(
    args: &'a Args,
    environment: &mut [u16; MAX_ENVIRONMENT],
    environment_units: &mut usize,
) -> Option<Request<'a>> {
    let mut native = false;
    let mut index = 1;
    let mut length = 0;
    loop {
        match args.get(index)? {
            "--nt" => native = true,
            "--env" => {
                index += 1;
                for unit in args.get(index)?.encode_utf16().chain([0]) {
                    // Room for the block's final NUL too.
                    if length + 1 >= environment.len() {
                        return None;
                    }
                    environment[length] = unit;
                    length += 1;
                }
            }
            _ => break,
        }
        index += 1;
    }
    if length > 0 {
        environment[length] = 0;
        length += 1;
    }
    *environment_units = length;
    Some(Request {
        native,
        count: rt::parse_u32(args.get(index)?)?,
        program: args.get(index + 1)?,
        first_word: index + 1,
    })
}

/// The children's command line: the program and its arguments, space-separated, in
/// UTF-16.
fn command_line<'a>(
    args: &Args,
    first_word: usize,
    buffer: &'a mut [u16; MAX_COMMAND_LINE],
) -> Option<&'a [u16]> {
    let mut length = 0;
    for (index, word) in args.iter().skip(first_word).enumerate() {
        let separator = (index > 0).then_some(u16::from(b' '));
        for unit in separator.into_iter().chain(word.encode_utf16()) {
            *buffer.get_mut(length)? = unit;
            length += 1;
        }
    }
    Some(&buffer[..length])
}

fn main(args: &Args) -> NtStatus {
    let mut environment = [0u16; MAX_ENVIRONMENT];
    let mut environment_units = 0;
    let mut command_buffer = [0u16; MAX_COMMAND_LINE];
    let mut path_buffer = [0u16; MAX_IMAGE_PATH];
    let parsed = parse(args, &mut environment, &mut environment_units).and_then(|request| {
        let command = command_line(args, request.first_word, &mut command_buffer)?;
        let path = nt_image_path(request.program, &mut path_buffer).ok()?;
        Some((request, command, path))
    });
    let Some((request, command, path)) = parsed else {
        println!("usage: spawn [--nt] [--env NAME=VALUE]... N PROGRAM [ARGS]");
        return NtStatus::INVALID_PARAMETER;
    };
    let environment = &environment[..environment_units];
    let children = match Children::new(path, command, environment, request.native) {
        Ok(children) => children,
        Err(status) => {
            println!("spawn: RtlCreateProcessParameters failed: {status}");
            return status;
        }
    };
    match run(&children, request.count, request.program) {
        Ok(true) => NtStatus::SUCCESS,
        Ok(false) => NtStatus::UNSUCCESSFUL,
        Err(status) => {
            println!("spawn: failed: {status}");
            status
        }
    }
}

/// The children's parameters, made once, and how they are created.
struct Children {
    image_path: UnicodeString,
    parameters: *mut RtlUserProcessParameters,
    native: bool,
}

/// A child and its first thread.
struct Child {
    process: u64,
    thread: u64,
}

impl Children {
    fn new(
        image_path: &[u16],
        command_line: &[u16],
        environment: &[u16],
        native: bool,
    ) -> Result<Self, NtStatus> {
        let image_path = counted(image_path);
        let command_line = counted(command_line);
        let mut parameters = core::ptr::null_mut();
        let environment = if environment.is_empty() {
            core::ptr::null()
        } else {
            environment.as_ptr()
        };
        let null = core::ptr::null();
        // SAFETY: the out pointer is a local; the strings describe the caller's buffers,
        // which the call copies.
        to_result(unsafe {
            RtlCreateProcessParameters(
                &mut parameters,
                &image_path,
                null,
                null,
                &command_line,
                environment,
                null,
                null,
                null,
                null,
            )
        })?;
        Ok(Self {
            image_path,
            parameters,
            native,
        })
    }

    /// A running child: RtlCreateUserProcess and NtResumeThread, or NtCreateUserProcess.
    fn create(&self) -> Result<Child, NtStatus> {
        if self.native {
            let mut child = Child {
                process: 0,
                thread: 0,
            };
            // SAFETY: the handles are locals; the parameters are this value's.
            to_result(unsafe {
                NtCreateUserProcess(
                    &mut child.process,
                    &mut child.thread,
                    PROCESS_ALL_ACCESS,
                    THREAD_ALL_ACCESS,
                    core::ptr::null(),
                    core::ptr::null(),
                    0,
                    0,
                    self.parameters,
                    0,
                    0,
                )
            })?;
            return Ok(child);
        }
        let mut information = RtlUserProcessInformation::default();
        // SAFETY: the image path's buffer outlives this value (main's); the parameters
        // are this value's; the information is a local.
        to_result(unsafe {
            RtlCreateUserProcess(
                &self.image_path,
                0,
                self.parameters,
                0,
                0,
                0,
                0,
                0,
                0,
                &mut information,
            )
        })?;
        // SAFETY: the thread is the new process's, created suspended.
        unsafe { NtResumeThread(information.thread, core::ptr::null_mut()) };
        Ok(Child {
            process: information.process,
            thread: information.thread,
        })
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // SAFETY: RtlCreateProcessParameters made the block; nothing uses it any more.
        unsafe { RtlDestroyProcessParameters(self.parameters) };
    }
}

impl Child {
    /// Waits for the process to end: its basic information then.
    fn wait(self) -> Result<ProcessBasicInformation, NtStatus> {
        // SAFETY: no timeout pointer; the handle is this child's.
        let waited = unsafe { NtWaitForSingleObject(self.process, 0, core::ptr::null()) };
        let information = query_basic_information(self.process);
        // SAFETY: both handles are this child's and no longer used.
        unsafe {
            NtClose(self.thread);
            NtClose(self.process);
        }
        to_result(waited)?;
        information
    }
}

/// Spawns the children; Ok(true) when every check held.
fn run(children: &Children, count: u32, program: &str) -> Result<bool, NtStatus> {
    let own = query_basic_information(CURRENT_PROCESS_HANDLE)?;
    let before = counters_with(NtQuerySystemInformation)?;
    let notified_before = notify_counters()?;
    println!("spawn: before: {before}");
    let mut first_status = None;
    let mut same_status = 0;
    for index in 1..=count {
        let information = match children.create()?.wait() {
            Ok(information) => information,
            Err(status) => {
                println!("spawn: waiting for child {index}: {status}");
                return Ok(false);
            }
        };
        if index <= LISTED_CHILDREN {
            println!(
                "spawn: child {index}: pid {}, parent {}, exit status {:#010x}",
                information.unique_process_id,
                information.inherited_from_unique_process_id,
                information.exit_status
            );
        }
        if information.inherited_from_unique_process_id != own.unique_process_id {
            println!("spawn: child {index} has the wrong parent");
            return Ok(false);
        }
        let status = *first_status.get_or_insert(information.exit_status);
        if information.exit_status == status {
            same_status += 1;
        }
    }
    let after = settle(
        || counters_with(NtQuerySystemInformation),
        |after| *after == before,
    )?;
    let notified_after = notify_counters()?;
    println!("spawn: after: {after}");
    let status = first_status.unwrap_or(0);
    println!("spawn: {count} children of {program}: {same_status} exited with {status:#010x}");
    let created = notified_after.created - notified_before.created;
    let exited = notified_after.exited - notified_before.exited;
    println!("spawn: process-notify routine: {created} created, {exited} exited");
    let counted = created == u64::from(count) && exited == u64::from(count);
    if before == after {
        println!("spawn: counters back to where they started");
    } else {
        println!("spawn: LEAK: counters differ");
    }
    Ok(same_status == count && before == after && counted)
}
