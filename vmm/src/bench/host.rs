//! Host baselines for `vmm bench`: the same operations on the host's Linux, natively in the
//! VMM process, pinned to one CPU (as the guest runs on one vCPU) and timed with the TSC.
//!
//! | metric | baseline |
//! |---|---|
//! | `null_syscall` | `getppid` through `syscall(2)` |
//! | `thread_switch` | two threads ping-pong on a futex word; one sample is a round trip |
//! | `yield` | `sched_yield` with a second thread yielding back; one sample is a round trip |
//! | `process_switch` | a forked child ping-pongs one byte over two pipes; one sample is a round trip |
//! | `thread_create_exit` | `std::thread::spawn` of an empty closure + `join` (pthread_create + pthread_join) |
//! | `process_create_exit` | `posix_spawn` of a tiny static binary that exits at once + `waitpid` |
//!
//! The tiny static binary is [`TINY_ELF`], written to a temporary file for the run: a
//! 129-byte ELF whose only code is `exit_group(0)`, so the spawn measures
//! process creation, exec and exit without any dynamic loader or libc start-up.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
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
    #[error("{call} failed")]
    Os {
        call: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the tiny binary {}", path.display())]
    TinyBinary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the child process ended with wait status {0:#x}")]
    Child(i32),
}

/// An [`Error::Os`] for `call` from errno.
fn os_error(call: &'static str) -> Error {
    Error::Os {
        call,
        source: std::io::Error::last_os_error(),
    }
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
        "process_switch" => on_pinned_thread(cpu, move || pipe_ping_pong(warm_up, count)),
        "thread_create_exit" => on_pinned_thread(cpu, move || thread_create_exit(warm_up, count)),
        "process_create_exit" => on_pinned_thread(cpu, move || spawn_wait(warm_up, count)),
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

/// A pipe's read and write ends, closed on drop.
struct Pipe {
    read: libc::c_int,
    write: libc::c_int,
}

impl Pipe {
    fn new() -> Result<Self, Error> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(os_error("pipe2"));
        }
        Ok(Self {
            read: fds[0],
            write: fds[1],
        })
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: both descriptors are this pipe's own, closed once.
        unsafe {
            libc::close(self.read);
            libc::close(self.write);
        }
    }
}

/// Writes one byte to `fd`; false when that failed.
fn send_byte(fd: libc::c_int) -> bool {
    // SAFETY: one byte from a live local.
    unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) == 1 }
}

/// Reads one byte from `fd`; false on end of file or failure.
fn receive_byte(fd: libc::c_int) -> bool {
    let mut byte = 0u8;
    // SAFETY: one byte into a live local.
    unsafe { libc::read(fd, (&raw mut byte).cast(), 1) == 1 }
}

/// Waits for child `pid`; an error unless it exited with status 0.
fn reap(pid: libc::pid_t) -> Result<(), Error> {
    let mut status = 0;
    // SAFETY: `status` is a live local; `pid` is a child of this process.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(os_error("waitpid"));
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(Error::Child(status))
    }
}

/// Two processes on the caller's CPU (a forked child inherits its affinity) pass one byte
/// back and forth over two pipes.
fn pipe_ping_pong(warm_up: u32, count: usize) -> Result<Vec<u64>, Error> {
    let rounds = u64::from(warm_up) + count as u64;
    let (ping, pong) = (Pipe::new()?, Pipe::new()?);
    // SAFETY: the child runs only async-signal-safe calls (read, write, _exit) on
    // descriptors that already exist, and allocates nothing, so forking this
    // multi-threaded process is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os_error("fork"));
    }
    if pid == 0 {
        let answered = (0..rounds).all(|_| receive_byte(ping.read) && send_byte(pong.write));
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(i32::from(!answered)) };
    }
    let round_trip = || send_byte(ping.write) && receive_byte(pong.read);
    let mut answered = (0..warm_up).all(|_| round_trip());
    let mut samples = Vec::with_capacity(count);
    while answered && samples.len() < count {
        let start = rdtsc();
        answered = round_trip();
        samples.push(rdtsc() - start);
    }
    // Closing the ping pipe ends a child still waiting for a ping.
    drop(ping);
    reap(pid)?;
    if !answered {
        return Err(Error::Os {
            call: "pipe ping-pong",
            source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        });
    }
    Ok(samples)
}

/// Where the tiny binary is loaded.
const TINY_BASE: u64 = 0x40_0000;
/// ELF header and one program header.
const TINY_HEADERS: usize = 64 + 56;
/// `mov eax, 231 (exit_group); xor edi, edi; syscall`.
const TINY_CODE: [u8; 9] = [0xB8, 0xE7, 0x00, 0x00, 0x00, 0x31, 0xFF, 0x0F, 0x05];

/// The smallest static x86-64 Linux executable that exits with status 0: an ELF header,
/// one read-execute PT_LOAD of the whole file at [`TINY_BASE`], and [`TINY_CODE`].
pub fn tiny_elf() -> Vec<u8> {
    let size = (TINY_HEADERS + TINY_CODE.len()) as u64;
    let mut elf = Vec::with_capacity(size as usize);
    // e_ident: magic, 64-bit, little-endian, version 1, System V ABI, padding.
    elf.extend_from_slice(&[0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    elf.extend_from_slice(&0x3Eu16.to_le_bytes()); // e_machine: EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&(TINY_BASE + TINY_HEADERS as u64).to_le_bytes()); // e_entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for half in [64u16, 56, 1, 64, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: PF_R | PF_X
    for quad in [0, TINY_BASE, TINY_BASE, size, size, 0x1000] {
        // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        elf.extend_from_slice(&quad.to_le_bytes());
    }
    elf.extend_from_slice(&TINY_CODE);
    elf
}

/// The tiny binary in a temporary file, removed on drop.
struct TinyBinary(PathBuf);

impl TinyBinary {
    fn write() -> Result<Self, Error> {
        // Unique per process and per call: tests write several at once.
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "vmm-bench-tiny-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &tiny_elf()));
        match written {
            Ok(()) => Ok(Self(path)),
            Err(source) => {
                let _ = std::fs::remove_file(&path);
                Err(Error::TinyBinary { path, source })
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TinyBinary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How often a spawn refused with ETXTBSY is tried again, a millisecond apart.
const MAX_BUSY_RETRIES: u32 = 2000;

/// posix_spawn of the tiny static binary and waitpid, on the caller's CPU (the child
/// inherits its affinity).
fn spawn_wait(warm_up: u32, count: usize) -> Result<Vec<u64>, Error> {
    let binary = TinyBinary::write()?;
    let path = CString::new(binary.path().as_os_str().as_bytes()).map_err(|_| Error::Os {
        call: "temporary path",
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    let argv = [path.as_ptr().cast_mut(), std::ptr::null_mut()];
    let envp = [std::ptr::null_mut()];
    let once = || -> Result<(), Error> {
        let mut pid = 0;
        let mut busy_retries = 0;
        let rc = loop {
            // SAFETY: the path and both NULL-terminated vectors outlive the call; no file
            // actions or attributes.
            let rc = unsafe {
                libc::posix_spawn(
                    &mut pid,
                    path.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                )
            };
            // A child another thread forked while the file was open for writing holds
            // that descriptor until it exits, and the kernel refuses to run a file open
            // for writing (ETXTBSY): wait for it.
            if rc != libc::ETXTBSY || busy_retries == MAX_BUSY_RETRIES {
                break rc;
            }
            busy_retries += 1;
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        if rc != 0 {
            return Err(Error::Os {
                call: "posix_spawn",
                source: std::io::Error::from_raw_os_error(rc),
            });
        }
        reap(pid)
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
            "process_switch",
            "yield",
            "thread_create_exit",
            "process_create_exit",
        ] {
            let samples = run(metric, cpu, 2, 5).unwrap();
            assert_eq!(samples.len(), 5, "{metric}");
            assert!(samples.iter().all(|&c| c > 0), "{metric}");
        }
        assert!(run("nothing", cpu, 1, 1).is_err());
    }

    #[test]
    fn tiny_binary_is_a_static_elf_that_exits_0() {
        let elf = tiny_elf();
        assert_eq!(elf.len(), 129);
        assert_eq!(&elf[..4], b"\x7fELF");
        let entry = u64::from_le_bytes(elf[24..32].try_into().unwrap());
        assert_eq!(entry, TINY_BASE + TINY_HEADERS as u64);
        let binary = TinyBinary::write().unwrap();
        // Another test's fork may still hold the file open for writing (ETXTBSY), as the
        // spawns in `process_create_exit` allow for.
        let status = (0..MAX_BUSY_RETRIES)
            .find_map(
                |_| match std::process::Command::new(binary.path()).status() {
                    Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        None
                    }
                    result => Some(result.unwrap()),
                },
            )
            .expect("the binary stays busy");
        assert_eq!(status.code(), Some(0));
    }
}
