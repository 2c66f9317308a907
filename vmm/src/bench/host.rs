//! Host baselines for `vmm bench`: the same operations on the host's Linux, natively in the
//! VMM process, pinned to one CPU (as the guest runs on one vCPU) and timed with the TSC.
//!
//! | metric | baseline |
//! |---|---|
//! | `null_syscall` | `getppid` through `syscall(2)` |
//! | `thread_switch` | two threads ping-pong on a futex word; one sample is a round trip |
//! | `yield` | `sched_yield` with a second thread yielding back; one sample is a round trip |
//! | `thread_create_exit` | `std::thread::spawn` of an empty closure + `join` (pthread_create + pthread_join) |

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Why a baseline could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot pin to CPU {cpu}")]
    Pin {
        cpu: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read this thread's CPU affinity")]
    Affinity(#[source] std::io::Error),
    #[error("cannot start a baseline thread")]
    Thread(#[source] std::io::Error),
    #[error("a baseline thread panicked")]
    Panicked,
    #[error("no host baseline for '{0}'")]
    Unknown(String),
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter; every x86-64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> Result<(), Error> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(Error::Pin {
            cpu,
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes a bit inside `set`; `cpu` is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size given; 0 names the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(Error::Pin {
            cpu,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Runs `f` on a fresh thread pinned to `cpu`, so the caller's affinity is left alone.
fn on_pinned_thread<T: Send + 'static>(
    cpu: usize,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    std::thread::Builder::new()
        .name("bench-host".into())
        .spawn(move || {
            pin(cpu)?;
            f()
        })
        .map_err(Error::Thread)?
        .join()
        .map_err(|_| Error::Panicked)?
}

/// The CPU the calling thread may run on first (the baselines' CPU).
pub fn default_cpu() -> Result<usize, Error> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size given.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(Error::Affinity(std::io::Error::last_os_error()));
    }
    // SAFETY: CPU_ISSET reads a bit inside `set` for each index below CPU_SETSIZE.
    Ok((0..libc::CPU_SETSIZE as usize)
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .unwrap_or(0))
}

/// Runs the baseline for `metric` on `cpu`: `warm_up` untimed rounds, then `count` samples
/// in TSC cycles (a round trip for `thread_switch` and `yield`).
pub fn run(metric: &str, cpu: usize, warm_up: u32, count: usize) -> Result<Vec<u64>, Error> {
    match metric {
        "null_syscall" => on_pinned_thread(cpu, move || Ok(null_syscall(warm_up, count))),
        "thread_switch" => on_pinned_thread(cpu, move || futex_ping_pong(cpu, warm_up, count)),
        "yield" => on_pinned_thread(cpu, move || yield_round_trips(cpu, warm_up, count)),
        "thread_create_exit" => on_pinned_thread(cpu, move || thread_create_exit(warm_up, count)),
        other => Err(Error::Unknown(other.to_string())),
    }
}

fn null_syscall(warm_up: u32, count: usize) -> Vec<u64> {
    let getppid = || {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) }
    };
    for _ in 0..warm_up {
        std::hint::black_box(getppid());
    }
    (0..count)
        .map(|_| {
            let start = rdtsc();
            std::hint::black_box(getppid());
            rdtsc() - start
        })
        .collect()
}

/// FUTEX_WAIT on `word` while it holds `value`.
fn futex_wait(word: &AtomicU32, value: u32) {
    // SAFETY: `word` is a live, aligned u32 for the call; no timeout, no second word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            value,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

/// FUTEX_WAKE of one waiter on `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32 for the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}

/// Whose turn it is: the pinger's (0) or the ponger's (1).
const PINGER: u32 = 0;
const PONGER: u32 = 1;

/// Waits on the futex until it is `me`'s turn.
fn wait_turn(turn: &AtomicU32, me: u32) {
    loop {
        let now = turn.load(Ordering::Acquire);
        if now == me {
            return;
        }
        futex_wait(turn, now);
    }
}

fn pass_turn(turn: &AtomicU32, to: u32) {
    turn.store(to, Ordering::Release);
    futex_wake(turn);
}

fn futex_ping_pong(cpu: usize, warm_up: u32, count: usize) -> Result<Vec<u64>, Error> {
    let rounds = u64::from(warm_up) + count as u64;
    let turn = Arc::new(AtomicU32::new(PINGER));
    let ponger = {
        let turn = Arc::clone(&turn);
        std::thread::Builder::new()
            .spawn(move || -> Result<(), Error> {
                pin(cpu)?;
                for _ in 0..rounds {
                    wait_turn(&turn, PONGER);
                    pass_turn(&turn, PINGER);
                }
                Ok(())
            })
            .map_err(Error::Thread)?
    };
    let round_trip = || {
        pass_turn(&turn, PONGER);
        wait_turn(&turn, PINGER);
    };
    for _ in 0..warm_up {
        round_trip();
    }
    let samples = (0..count)
        .map(|_| {
            let start = rdtsc();
            round_trip();
            rdtsc() - start
        })
        .collect();
    ponger.join().map_err(|_| Error::Panicked)??;
    Ok(samples)
}

fn yield_round_trips(cpu: usize, warm_up: u32, count: usize) -> Result<Vec<u64>, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let yielder = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .spawn(move || -> Result<(), Error> {
                pin(cpu)?;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::yield_now();
                }
                Ok(())
            })
            .map_err(Error::Thread)?
    };
    for _ in 0..warm_up {
        std::thread::yield_now();
    }
    let samples = (0..count)
        .map(|_| {
            let start = rdtsc();
            std::thread::yield_now();
            rdtsc() - start
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    yielder.join().map_err(|_| Error::Panicked)??;
    Ok(samples)
}

fn thread_create_exit(warm_up: u32, count: usize) -> Result<Vec<u64>, Error> {
    // Threads inherit the creator's affinity, so each runs on the same CPU.
    let once = || -> Result<(), Error> {
        std::thread::Builder::new()
            .spawn(|| {})
            .map_err(Error::Thread)?
            .join()
            .map_err(|_| Error::Panicked)
    };
    for _ in 0..warm_up {
        once()?;
    }
    (0..count)
        .map(|_| {
            let start = rdtsc();
            once()?;
            Ok(rdtsc() - start)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_baseline_runs() {
        let cpu = default_cpu().unwrap();
        for metric in [
            "null_syscall",
            "thread_switch",
            "yield",
            "thread_create_exit",
        ] {
            let samples = run(metric, cpu, 2, 5).unwrap();
            assert_eq!(samples.len(), 5, "{metric}");
            assert!(samples.iter().all(|&c| c > 0), "{metric}");
        }
        assert!(run("nothing", cpu, 1, 1).is_err());
    }
}
