//! `smss PROGRAM [ARGS...]`: the session manager, the first user process, a child of the
//! System process. The kernel starts it with the program and arguments given after `--`
//! on the `vmm run` line (or the boot configuration's default program). It creates that
//! program with NtCreateUserProcess, a name without a path meaning
//! `\SystemRoot\System32\NAME.exe`, with the rest of its own command line as the
//! program's, waits for it and exits with its exit status, which the VMM reports. Its
//! thread runs above the normal priority its children inherit, as NT's smss does (base
//! priority 11), so it reaches its wait before the program runs: the program then starts
//! in a settled system (`spawn`'s counters before its children see smss's wait already).
#![no_std]
#![no_main]

use abi::dispatcher::{THREAD_BASE_PRIORITY_CLASS, THREAD_BASE_PRIORITY_MAX};
use abi::service::CURRENT_THREAD_HANDLE;
use rt::process::{create_user_process, query_basic_information, wait};
use rt::text::TextBuffer;
use rt::{Args, NtStatus, println};

rt::entry!(main);

/// The longest command line passed on, in UTF-8 bytes.
const MAX_COMMAND_LINE: usize = 4096;

fn main(args: &Args) -> NtStatus {
    let Some(program) = args.get(1) else {
        println!("usage: smss PROGRAM [ARGS...]");
        return NtStatus::INVALID_PARAMETER;
    };
    let mut own = TextBuffer::<MAX_COMMAND_LINE>::new();
    for c in char::decode_utf16(rt::command_line().iter().copied()) {
        let mut utf8 = [0u8; 4];
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        if core::fmt::Write::write_str(&mut own, c.encode_utf8(&mut utf8)).is_err() {
            println!("smss: the command line is longer than {MAX_COMMAND_LINE} bytes");
            return NtStatus::INVALID_PARAMETER;
        }
    }
    let increment: i32 = THREAD_BASE_PRIORITY_MAX;
    // SAFETY: the increment is a local LONG of the length passed.
    let raised = unsafe {
        rt::syscall::nt_set_information_thread(
            CURRENT_THREAD_HANDLE,
            THREAD_BASE_PRIORITY_CLASS,
            (&raw const increment).cast(),
            size_of::<i32>() as u32,
        )
    };
    if !raised.is_success() {
        println!("smss: cannot raise its priority: {raised}");
    }
    let child = match create_user_process(program, after_program_name(own.as_str()), 0, 0) {
        Ok(child) => child,
        Err(status) => {
            println!("smss: cannot start {program}: {status}");
            return status;
        }
    };
    wait(child.process);
    let status = query_basic_information(child.process).map_or_else(
        |status| status,
        |information| NtStatus(information.exit_status),
    );
    child.close();
    status
}

/// The command line without its first argument (the program name, quoted or not, as
/// `CommandLineToArgvW` reads it) and the blanks after it.
fn after_program_name(command_line: &str) -> &str {
    let rest = match command_line.strip_prefix('"') {
        Some(quoted) => quoted.split_once('"').map_or("", |(_, rest)| rest),
        None => command_line
            .find([' ', '\t'])
            .map_or("", |end| &command_line[end..]),
    };
    rest.trim_start_matches([' ', '\t'])
}
