//! `spawn N PROGRAM [ARGS]`: creates N child processes of PROGRAM one after another with
//! NtCreateUserProcess, waits for each, reads each exit status back with
//! NtQueryInformationProcess (they must all be the same), and prints the count and the
//! memory and handle counters before and after (NtQuerySystemInformation:
//! SystemPerformanceInformation, SystemProcessInformation and the kernel's process-notify
//! counts). Every counter must come back to exactly where it started. Exits 0 when all of
//! that holds, STATUS_UNSUCCESSFUL otherwise.
#![no_std]
#![no_main]

use abi::process::{SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS, SystemProcessNotifyCounters};
use rt::counters::counters;
use rt::process::{create_user_process, query_basic_information, wait};
use rt::syscall::nt_query_system_information;
use rt::{Args, NtStatus, println};

rt::entry!(main);

/// Children listed one per line up to this many.
const LISTED_CHILDREN: u32 = 10;
/// The longest command line passed on.
const MAX_COMMAND_LINE: usize = 1024;

fn notify_counters() -> Result<SystemProcessNotifyCounters, NtStatus> {
    let mut counters = SystemProcessNotifyCounters::default();
    // SAFETY: a local of the size passed.
    let status = unsafe {
        nt_query_system_information(
            SYSTEM_PROCESS_NOTIFY_COUNTERS_CLASS,
            (&raw mut counters).cast(),
            size_of::<SystemProcessNotifyCounters>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status.is_success() {
        Ok(counters)
    } else {
        Err(status)
    }
}

/// The children's command line: the program and its arguments, space-separated.
fn command_line<'a>(args: &Args, buffer: &'a mut [u8; MAX_COMMAND_LINE]) -> Option<&'a str> {
    let mut length = 0;
    for (index, word) in args.iter().skip(2).enumerate() {
        let separator = usize::from(index > 0);
        let end = length + separator + word.len();
        if end > buffer.len() {
            return None;
        }
        if separator == 1 {
            buffer[length] = b' ';
        }
        buffer[length + separator..end].copy_from_slice(word.as_bytes());
        length = end;
    }
    core::str::from_utf8(&buffer[..length]).ok()
}

fn main(args: &Args) -> NtStatus {
    let mut buffer = [0u8; MAX_COMMAND_LINE];
    let (Some(count), Some(program), Some(command)) = (
        args.get(1).and_then(rt::parse_u32),
        args.get(2),
        command_line(args, &mut buffer),
    ) else {
        println!("usage: spawn N PROGRAM [ARGS]");
        return NtStatus::INVALID_PARAMETER;
    };
    match run(count, program, command) {
        Ok(true) => NtStatus::SUCCESS,
        Ok(false) => NtStatus::UNSUCCESSFUL,
        Err(status) => {
            println!("spawn: failed: {status}");
            status
        }
    }
}

/// Spawns the children; Ok(true) when every check held.
fn run(count: u32, program: &str, command: &str) -> Result<bool, NtStatus> {
    let own = query_basic_information(abi::service::CURRENT_PROCESS_HANDLE)?;
    let before = counters()?;
    let notified_before = notify_counters()?;
    println!("spawn: before: {before}");
    let mut first_status = None;
    let mut same_status = 0;
    for index in 1..=count {
        let child = create_user_process(program, command, 0, 0)?;
        let waited = wait(child.process);
        let information = query_basic_information(child.process);
        child.close();
        if waited != NtStatus::SUCCESS {
            println!("spawn: waiting for child {index}: {waited}");
            return Ok(false);
        }
        let information = information?;
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
    let after = counters()?;
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
