//! `fault [0xADDRESS] [read]`: writes to (or reads) a kernel address, by default the first
//! page of kernel text; the kernel must end the program with STATUS_ACCESS_VIOLATION
//! (0xC0000005). ADDRESS is hexadecimal with 0x.
//!
//! `fault MODE` faults another way, and the kernel must end the program with MODE's status:
//! see [`MODES`]. `fault isolation` is the parent of them all: it starts a sibling
//! (`fault sibling PING PONG ROUNDS`, answering pings on two inherited events), then one
//! child per mode, one after another. It checks each child's exit status and, after each,
//! that the sibling still answers; it prints `ok:`/`WRONG:` per check and exits 0 when
//! every one held.
#![no_std]
#![no_main]

use core::fmt::Write;

use abi::dispatcher::{SYNCHRONIZATION_EVENT, TIMEOUT_UNITS_PER_SECOND};
use abi::process::PROCESS_CREATE_FLAGS_INHERIT_HANDLES;
use rt::process::{Child, create_user_process, query_basic_information, wait};
use rt::syscall::{nt_close, nt_set_event, nt_wait_for_single_object};
use rt::tally::Tally;
use rt::text::TextBuffer;
use rt::{Args, NtStatus, println};

rt::entry!(main);

/// The first page of kernel text (KERNEL_BASE + KERNEL_PHYS_BASE).
const KERNEL_TEXT: u64 = 0xFFFF_FFFF_8020_0000;

/// A way to fault and the status the process must end with.
struct Mode {
    name: &'static str,
    fault: fn() -> !,
    status: NtStatus,
}

/// The faults `fault isolation` runs, in order.
const MODES: [Mode; 7] = [
    Mode {
        name: "kernel-write",
        fault: write_kernel_text,
        status: NtStatus::ACCESS_VIOLATION,
    },
    Mode {
        name: "null-read",
        fault: read_null,
        status: NtStatus::ACCESS_VIOLATION,
    },
    Mode {
        name: "privileged",
        fault: halt,
        status: NtStatus::PRIVILEGED_INSTRUCTION,
    },
    Mode {
        name: "illegal",
        fault: undefined_instruction,
        status: NtStatus::ILLEGAL_INSTRUCTION,
    },
    Mode {
        name: "divide",
        fault: divide_by_zero,
        status: NtStatus::INTEGER_DIVIDE_BY_ZERO,
    },
    // The stack grows a page at a time through its guard page until the guard would take
    // the reservation's last page.
    Mode {
        name: "stack-overflow",
        fault: overflow_stack,
        status: NtStatus::STACK_OVERFLOW,
    },
    // A non-canonical address raises #GP, which NT reports as an access violation.
    Mode {
        name: "general-protection",
        fault: read_non_canonical,
        status: NtStatus::ACCESS_VIOLATION,
    },
];

/// How long the parent waits for a child or the sibling before calling it hung.
const PATIENCE_SECONDS: i64 = 10;

fn main(args: &Args) -> NtStatus {
    match args.get(1) {
        Some("isolation") if args.len() == 2 => return isolation(),
        Some("sibling") => return sibling(args),
        Some(name) if args.len() == 2 => {
            if let Some(mode) = MODES.iter().find(|m| m.name == name) {
                (mode.fault)();
            }
        }
        _ => {}
    }
    let address = match args.get(1) {
        None => KERNEL_TEXT,
        Some(text) => match text
            .strip_prefix("0x")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        {
            Some(address) => address,
            None => return usage(),
        },
    };
    let read = match args.get(2) {
        None => false,
        Some("read") if args.len() == 3 => true,
        Some(_) => return usage(),
    };
    access(address, read);
    let access = if read { "read of" } else { "write to" };
    println!("fault: a user-mode {access} {address:#x} did not fault");
    NtStatus::UNSUCCESSFUL
}

fn usage() -> NtStatus {
    println!("usage: fault [0xADDRESS] [read]");
    println!("       fault MODE   (MODE: kernel-write, null-read, privileged, illegal, divide,");
    println!("                     stack-overflow, general-protection)");
    println!("       fault isolation");
    NtStatus::INVALID_PARAMETER
}

/// Reads or writes a byte at `address`.
fn access(address: u64, read: bool) {
    // SAFETY: a user-mode access to a kernel or unmapped address raises #PF (a non-canonical
    // one #GP) before anything is read or written; the kernel turns the fault into the end
    // of this process. The access goes through asm so the compiler makes no assumption
    // about the address.
    unsafe {
        if read {
            core::arch::asm!(
                "mov {value}, byte ptr [{address}]",
                address = in(reg) address,
                value = out(reg_byte) _,
                options(nostack, preserves_flags, readonly),
            );
        } else {
            core::arch::asm!(
                "mov byte ptr [{address}], 0",
                address = in(reg) address,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// Ends the process with STATUS_UNSUCCESSFUL: the fault that should have ended it did not.
fn survived(what: &str) -> ! {
    println!("fault: {what} did not fault");
    rt::terminate_process(NtStatus::UNSUCCESSFUL)
}

fn write_kernel_text() -> ! {
    access(KERNEL_TEXT, false);
    survived("a write to kernel text")
}

fn read_null() -> ! {
    access(0, true);
    survived("a read of NULL")
}

fn read_non_canonical() -> ! {
    access(0x8000_0000_0000_0000, true);
    survived("a read of a non-canonical address")
}

fn halt() -> ! {
    // SAFETY: `hlt` at CPL 3 raises #GP before it halts anything.
    unsafe { core::arch::asm!("hlt", options(nomem, nostack)) };
    survived("hlt")
}

fn undefined_instruction() -> ! {
    // SAFETY: `ud2` only raises #UD.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    survived("ud2")
}

fn divide_by_zero() -> ! {
    // SAFETY: `div` by a zero register raises #DE before it writes rax or rdx.
    unsafe {
        core::arch::asm!(
            "div {divisor}",
            divisor = in(reg) 0u64,
            inout("rax") 1u64 => _,
            inout("rdx") 0u64 => _,
            options(nomem, nostack),
        );
    }
    survived("a division by zero")
}

fn overflow_stack() -> ! {
    // SAFETY: the loop moves rsp down a page at a time, touching each, until it runs off the
    // stack reservation and faults; it never returns, so nothing uses the stack it took.
    unsafe {
        core::arch::asm!(
            "2:",
            "sub rsp, 0x1000",
            "mov qword ptr [rsp], 0",
            "jmp 2b",
            options(noreturn),
        );
    }
}

/// `fault sibling PING PONG ROUNDS`: answers ROUNDS pings on the inherited events.
fn sibling(args: &Args) -> NtStatus {
    let number = |index| args.get(index).and_then(rt::parse_u32).map(u64::from);
    let (Some(ping), Some(pong), Some(rounds), 5) = (number(2), number(3), number(4), args.len())
    else {
        return usage();
    };
    for _ in 0..rounds {
        let waited = wait(ping);
        if waited != NtStatus::SUCCESS {
            return waited;
        }
        set_event(pong);
    }
    NtStatus::SUCCESS
}

fn set_event(event: u64) -> NtStatus {
    // SAFETY: no previous-state pointer.
    unsafe { nt_set_event(event, core::ptr::null_mut()) }
}

/// Waits up to [`PATIENCE_SECONDS`].
fn wait_patiently(handle: u64) -> NtStatus {
    let timeout = -PATIENCE_SECONDS * TIMEOUT_UNITS_PER_SECOND;
    // SAFETY: the timeout is a local.
    unsafe { nt_wait_for_single_object(handle, 0, &timeout) }
}

fn create_inheritable_event() -> Result<u64, NtStatus> {
    rt::event::create_event(SYNCHRONIZATION_EVENT, false, true)
}

/// The exit status of an ended child, or the status of the failed query.
fn exit_status(child: &Child) -> NtStatus {
    match query_basic_information(child.process) {
        Ok(information) => NtStatus(information.exit_status),
        Err(status) => status,
    }
}

fn isolation() -> NtStatus {
    let mut tally = Tally::default();
    match run_isolation(&mut tally) {
        Ok(()) if tally.wrong == 0 => {
            println!("fault: isolation: {} checks, all ok", tally.cases);
            NtStatus::SUCCESS
        }
        Ok(()) => {
            println!(
                "fault: isolation: {} of {} checks wrong",
                tally.wrong, tally.cases
            );
            NtStatus::UNSUCCESSFUL
        }
        Err(status) => {
            println!("fault: isolation: failed: {status}");
            status
        }
    }
}

fn run_isolation(tally: &mut Tally) -> Result<(), NtStatus> {
    let ping = create_inheritable_event()?;
    let pong = create_inheritable_event()?;
    let mut command = TextBuffer::<96>::new();
    write!(command, "fault sibling {ping} {pong} {}", MODES.len())
        .map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let sibling = create_user_process(
        "fault",
        command.as_str(),
        PROCESS_CREATE_FLAGS_INHERIT_HANDLES,
        0,
    )?;
    for mode in &MODES {
        let mut command = TextBuffer::<64>::new();
        write!(command, "fault {}", mode.name).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        let child = create_user_process("fault", command.as_str(), 0, 0)?;
        let waited = wait_patiently(child.process);
        let status = if waited == NtStatus::SUCCESS {
            exit_status(&child)
        } else {
            waited
        };
        child.close();
        let mut name = TextBuffer::<64>::new();
        let _ = write!(name, "{} ends the child", mode.name);
        tally.status(name.as_str(), status, mode.status);
        let answered = match set_event(ping) {
            NtStatus::SUCCESS => wait_patiently(pong),
            failed => failed,
        };
        let mut name = TextBuffer::<64>::new();
        let _ = write!(name, "the sibling runs on after {}", mode.name);
        tally.status(name.as_str(), answered, NtStatus::SUCCESS);
    }
    let ended = wait_patiently(sibling.process);
    let sibling_status = if ended == NtStatus::SUCCESS {
        exit_status(&sibling)
    } else {
        ended
    };
    tally.status(
        "the sibling exits normally",
        sibling_status,
        NtStatus::SUCCESS,
    );
    sibling.close();
    // SAFETY: both events are this program's own, no longer used.
    unsafe {
        nt_close(ping);
        nt_close(pong);
    }
    Ok(())
}
