//! `synctest SUBCOMMAND`: exercises the dispatcher objects and scheduling services, one
//! feature per subcommand, with the bad inputs of each:
//! - `semaphore`: counts, waits, releases, the limit, WaitAll, bad counts and handles;
//! - `mutant`: ownership, recursion, STATUS_MUTANT_NOT_OWNED, hand-over to a waiter;
//! - `abandon`: a mutant whose owner dies is abandoned; its next owner is told so;
//! - `named`: events, semaphores and mutants opened by name under `\BaseNamedObjects`;
//! - `signalwait`: NtSignalAndWaitForSingleObject with events, semaphores and mutants;
//! - `priority`: strict priority order and preemption, relative base priorities, process
//!   priority classes, affinity, and bad priorities, classes and masks;
//! - `boost`: wait-completion boosts and their decay back to the base, none for real-time
//!   threads or timeouts;
//! - `starvation`: a thread a higher one keeps from running gets the starvation boost;
//! - `timer`: one-shot and periodic, notification and synchronization timers, relative and
//!   absolute due times, cancellation, and bad timer types, periods and pointers;
//! - `apc`: user APCs delivered in order at alertable waits and NtTestAlert with
//!   STATUS_USER_APC, to this thread and another; alerts; bad routines, handles and
//!   contexts;
//! - `pingpong [SIGNALS]`: event signals (100,000 by default) between two threads, none
//!   lost; with several processors the two threads run on different ones;
//! - `storm [SECONDS]`: 256 threads waking and waiting at random on events, semaphores
//!   and mutants (200 actions each, and on until SECONDS have passed), every one
//!   accounted for;
//! - `processors`: the active processors, affinity of threads and of the process, threads
//!   running on several processors at once, and a priority-31 thread spinning on one
//!   processor (in this process and in a child, `synctest spin MASK`) while the others go
//!   on and end it, and a page freed on one processor while another reads it (a child,
//!   `synctest reader PROCESSOR`);
//! - `switches`: what the kernel reports of address-space switches (PCIDs, CR3 loads), and
//!   a child's page freed or made read-only while the child is switched out, which its
//!   next write must fault on (the child is `synctest revisit PROCESSOR`).
//!
//! `priority`, `boost` and `starvation` check what one processor does: with several, they
//! first keep the process on processor 0.
//!
//! Prints one `ok:` or `WRONG:` line per case, then `synctest NAME: N cases, M wrong`, and
//! exits 0 only when every answer was right (STATUS_INVALID_PARAMETER for a bad or missing
//! subcommand).
#![no_std]
#![no_main]

mod apc;
mod log;
mod objects;
mod priority;
mod processors;
mod stress;
mod switches;
mod timer;

use abi::access::EVENT_ALL_ACCESS;
use abi::dispatcher::{THREAD_BASIC_INFORMATION_CLASS, ThreadBasicInformation};
use abi::nt::{ObjectAttributes, UnicodeString};
use rt::name::ObjectName as Name;
use rt::syscall::{nt_close, nt_create_event, nt_query_information_thread};
use rt::tally::Tally;
use rt::wait::wait_for as wait;
use rt::wait::wait_for_multiple as wait_multiple;
use rt::{Args, NtStatus, println};

rt::entry!(main);

const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;
const BOGUS_HANDLE: u64 = 0x1234_5678;
/// 100 ns units per millisecond, for timeouts.
const MS: i64 = 10_000;
/// A zero timeout: the wait only polls.
const POLL: Option<i64> = Some(0);

/// A subcommand's name and what it runs.
type Subcommand = (&'static str, fn(&mut Tally));

const SUBCOMMANDS: [Subcommand; 14] = [
    ("semaphore", objects::semaphore),
    ("mutant", objects::mutant),
    ("abandon", objects::abandon),
    ("named", objects::named),
    ("signalwait", objects::signal_wait),
    ("priority", priority::priority),
    ("boost", priority::boost),
    ("starvation", priority::starvation),
    ("timer", timer::timer),
    ("apc", apc::apc),
    ("pingpong", stress::ping_pong),
    ("storm", stress::storm),
    ("processors", processors::processors),
    ("switches", switches::switches),
];

fn main(args: &Args) -> NtStatus {
    match args.get(1) {
        Some("spin") => return processors::spin(args.get(2).and_then(rt::parse_u32)),
        Some("reader") => return processors::reader(args.get(2).and_then(rt::parse_u32)),
        Some("revisit") => return switches::revisit_child(args.get(2).and_then(rt::parse_u32)),
        Some("storm") => {
            if let Some(seconds) = args.get(2) {
                let Some(seconds) = rt::parse_u32(seconds).filter(|&seconds| seconds <= 600) else {
                    println!("usage: synctest storm [SECONDS (up to 600)]");
                    return NtStatus::INVALID_PARAMETER;
                };
                stress::set_storm_seconds(seconds);
            }
        }
        Some("pingpong") => {
            if let Some(signals) = args.get(2) {
                let Some(signals) = rt::parse_u32(signals).filter(|&signals| signals >= 2) else {
                    println!("usage: synctest pingpong [SIGNALS (2 or more)]");
                    return NtStatus::INVALID_PARAMETER;
                };
                stress::set_ping_pong_signals(signals);
            }
        }
        _ => {}
    }
    let Some((name, run)) = args
        .get(1)
        .and_then(|wanted| SUBCOMMANDS.iter().find(|(name, _)| *name == wanted))
    else {
        println!(
            "usage: synctest semaphore|mutant|abandon|named|signalwait|priority|boost|starvation|timer|apc|pingpong [SIGNALS]|storm [SECONDS]|processors|switches"
        );
        return NtStatus::INVALID_PARAMETER;
    };
    let mut tally = Tally::default();
    run(&mut tally);
    println!(
        "synctest {name}: {} cases, {} wrong",
        tally.cases, tally.wrong
    );
    if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

fn close(handle: u64) {
    // SAFETY: the handles closed here are this program's own, no longer used.
    unsafe { nt_close(handle) };
}

fn create_event(event_type: u32, signaled: bool) -> u64 {
    let mut handle = 0;
    // SAFETY: the handle pointer is a local; no attributes.
    let status = unsafe {
        nt_create_event(
            &mut handle,
            EVENT_ALL_ACCESS,
            core::ptr::null(),
            event_type,
            u32::from(signaled),
        )
    };
    assert!(status == NtStatus::SUCCESS, "NtCreateEvent: {status}");
    handle
}

/// `InitializeObjectAttributes` for an absolute name.
fn object_attributes(name: &UnicodeString, attributes: u32) -> ObjectAttributes {
    ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        object_name: name as *const UnicodeString as u64,
        attributes,
        ..ObjectAttributes::default()
    }
}

fn basic_information(thread: u64) -> Result<ThreadBasicInformation, NtStatus> {
    let mut info = ThreadBasicInformation::default();
    // SAFETY: the buffer is a local of the size given.
    let status = unsafe {
        nt_query_information_thread(
            thread,
            THREAD_BASIC_INFORMATION_CLASS,
            (&raw mut info).cast(),
            size_of::<ThreadBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status == NtStatus::SUCCESS {
        Ok(info)
    } else {
        Err(status)
    }
}
