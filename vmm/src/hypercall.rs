//! Hypercall ABI v1, host side: copying a request block out of guest RAM, validating every
//! field, and writing the status back. Pure functions over [`RequestMemory`] (guest RAM,
//! or plain buffers in tests and fuzzers), so they run without KVM.

use abi::NtStatus;
use abi::hypercall::{
    ABI_VERSION, BootMarker, CONSOLE_WRITE_MAX, Call, DOORBELL_BASE, DOORBELL_WINDOW,
    HypercallStatus, ShutdownKind,
};

use crate::memory::GuestRam;

/// Size of the request header every block starts with.
const HEADER_SIZE: usize = 8;
/// Offset of the status word in the header.
const STATUS_OFFSET: u64 = 4;

/// A validated request, for the VMM to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Bytes for the console, already copied out of guest memory.
    ConsoleWrite(Vec<u8>),
    Shutdown(ShutdownRequest),
    BootProgress {
        marker: BootMarker,
        tsc: u64,
    },
}

/// How the guest asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownRequest {
    Exit(NtStatus),
    BugCheck { code: u32, parameters: [u64; 4] },
}

/// Why a request block could not even be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("request block at {0:#x} is not in guest RAM")]
    BlockNotInRam(u64),
}

/// What a doorbell ring amounted to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The status was written into the block; `request` is set when it was `Success`.
    Answered {
        call: Option<Call>,
        status: HypercallStatus,
        request: Option<Request>,
    },
    /// The block address was unusable: nothing was written.
    Dropped(Error),
}

impl Outcome {
    /// Whether the VMM refused the request (any error status, or dropped).
    pub fn rejected(&self) -> bool {
        !matches!(
            self,
            Self::Answered {
                status: HypercallStatus::Success,
                ..
            }
        )
    }
}

/// Guest-physical memory as a request sees it: ranges that are RAM can be read and written,
/// anything else cannot.
pub trait RequestMemory {
    /// Reads `len` bytes at `start`; `None` when the range is not all RAM.
    fn read(&self, start: u64, len: usize) -> Option<Vec<u8>>;
    /// Writes `data` at `start`; false (and nothing written) when the range is not all RAM.
    fn write(&self, start: u64, data: &[u8]) -> bool;
}

impl RequestMemory for GuestRam {
    fn read(&self, start: u64, len: usize) -> Option<Vec<u8>> {
        GuestRam::read(self, start, len)
    }

    fn write(&self, start: u64, data: &[u8]) -> bool {
        GuestRam::write(self, start, data)
    }
}

/// Whether a guest-physical MMIO address lies in the doorbell window; returns its offset.
pub fn doorbell_offset(addr: u64) -> Option<u64> {
    addr.checked_sub(DOORBELL_BASE)
        .filter(|&offset| offset < DOORBELL_WINDOW)
}

/// Handles a ring of the doorbell at `offset` with request block address `block`: copies
/// the block out, validates it, writes the status into it and returns what to do.
pub fn dispatch(ram: &(impl RequestMemory + ?Sized), offset: u64, block: u64) -> Outcome {
    let call = Call::from_doorbell_offset(offset);
    let size = call.map_or(HEADER_SIZE, Call::request_size);
    // Copy first: everything below looks only at this private copy.
    let Some(bytes) = ram.read(block, size) else {
        return Outcome::Dropped(Error::BlockNotInRam(block));
    };
    let (status, request) = match call {
        None => (HypercallStatus::UnknownCall, None),
        Some(call) => match validate(ram, call, &bytes) {
            Ok(request) => (HypercallStatus::Success, Some(request)),
            Err(status) => (status, None),
        },
    };
    // The block was RAM a moment ago and RAM does not move: this write cannot miss.
    ram.write(block + STATUS_OFFSET, &(status as u32).to_le_bytes());
    Outcome::Answered {
        call,
        status,
        request,
    }
}

/// Validates a copied request block of `call`.
fn validate(
    ram: &(impl RequestMemory + ?Sized),
    call: Call,
    block: &[u8],
) -> Result<Request, HypercallStatus> {
    if u32_at(block, 0) != ABI_VERSION {
        return Err(HypercallStatus::BadVersion);
    }
    match call {
        Call::ConsoleWrite => {
            let buffer = u64_at(block, 8);
            let len = u64_at(block, 16);
            if len > CONSOLE_WRITE_MAX {
                return Err(HypercallStatus::BadLength);
            }
            if len == 0 {
                return Ok(Request::ConsoleWrite(Vec::new()));
            }
            ram.read(buffer, len as usize)
                .map(Request::ConsoleWrite)
                .ok_or(HypercallStatus::BadAddress)
        }
        Call::Shutdown => {
            let kind =
                ShutdownKind::from_raw(u32_at(block, 8)).ok_or(HypercallStatus::BadArgument)?;
            let code = u32_at(block, 12);
            Ok(Request::Shutdown(match kind {
                ShutdownKind::Exit => ShutdownRequest::Exit(NtStatus(code)),
                ShutdownKind::BugCheck => ShutdownRequest::BugCheck {
                    code,
                    parameters: [
                        u64_at(block, 16),
                        u64_at(block, 24),
                        u64_at(block, 32),
                        u64_at(block, 40),
                    ],
                },
            }))
        }
        Call::BootProgress => {
            let marker =
                BootMarker::from_raw(u32_at(block, 8)).ok_or(HypercallStatus::BadArgument)?;
            Ok(Request::BootProgress {
                marker,
                tsc: u64_at(block, 16),
            })
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::layout::{IMAGE_BASE, MMIO_HOLE_START};

    const BLOCK: u64 = 0x10_0000;
    const BUF: u64 = 0x20_0000;
    const MEM: u64 = 16 << 20;

    fn ram() -> GuestRam {
        GuestRam::new(MEM).unwrap()
    }

    fn console_block(ram: &GuestRam, version: u32, buffer: u64, len: u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&buffer.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        assert!(ram.write(BLOCK, &b));
    }

    fn status_in_block(ram: &GuestRam) -> u32 {
        u32::from_le_bytes(ram.read(BLOCK + 4, 4).unwrap().try_into().unwrap())
    }

    fn console(ram: &GuestRam) -> Outcome {
        dispatch(ram, Call::ConsoleWrite as u64 * 8, BLOCK)
    }

    fn assert_status(ram: &GuestRam, outcome: Outcome, expected: HypercallStatus) {
        match outcome {
            Outcome::Answered { status, .. } => assert_eq!(status, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
        assert_eq!(status_in_block(ram), expected as u32);
    }

    #[test]
    fn console_write_copies_the_buffer() {
        let ram = ram();
        ram.write(BUF, b"hi\n");
        console_block(&ram, ABI_VERSION, BUF, 3);
        let outcome = console(&ram);
        assert_eq!(
            outcome,
            Outcome::Answered {
                call: Some(Call::ConsoleWrite),
                status: HypercallStatus::Success,
                request: Some(Request::ConsoleWrite(b"hi\n".to_vec())),
            }
        );
        assert!(!outcome.rejected());
        assert_eq!(status_in_block(&ram), 0);
    }

    #[test]
    fn console_write_rejects_every_bad_field() {
        let ram = ram();
        let cases = [
            (2, BUF, 3, HypercallStatus::BadVersion),
            (0, BUF, 3, HypercallStatus::BadVersion),
            (ABI_VERSION, MEM, 1, HypercallStatus::BadAddress),
            (ABI_VERSION, MEM - 1, 2, HypercallStatus::BadAddress),
            (ABI_VERSION, u64::MAX - 4, 16, HypercallStatus::BadAddress),
            (
                ABI_VERSION,
                BUF,
                CONSOLE_WRITE_MAX + 1,
                HypercallStatus::BadLength,
            ),
            (ABI_VERSION, BUF, u64::MAX, HypercallStatus::BadLength),
            (ABI_VERSION, MMIO_HOLE_START, 4, HypercallStatus::BadAddress),
            (ABI_VERSION, DOORBELL_BASE, 4, HypercallStatus::BadAddress),
            (ABI_VERSION, IMAGE_BASE, 4, HypercallStatus::BadAddress),
        ];
        for (version, buffer, len, expected) in cases {
            console_block(&ram, version, buffer, len);
            let outcome = console(&ram);
            assert!(outcome.rejected());
            assert_status(&ram, outcome, expected);
        }
        // The largest allowed write is fine.
        console_block(&ram, ABI_VERSION, BUF, CONSOLE_WRITE_MAX);
        assert_status(&ram, console(&ram), HypercallStatus::Success);
        // So is an empty one.
        console_block(&ram, ABI_VERSION, BUF, 0);
        assert_status(&ram, console(&ram), HypercallStatus::Success);
    }

    #[test]
    fn unknown_calls_are_answered() {
        let ram = ram();
        console_block(&ram, ABI_VERSION, BUF, 3);
        for offset in [3 * 8, 4, 0xff8] {
            let outcome = dispatch(&ram, offset, BLOCK);
            assert_eq!(
                outcome,
                Outcome::Answered {
                    call: None,
                    status: HypercallStatus::UnknownCall,
                    request: None
                }
            );
            assert_eq!(status_in_block(&ram), HypercallStatus::UnknownCall as u32);
        }
    }

    #[test]
    fn unusable_blocks_are_dropped() {
        let ram = ram();
        for block in [MEM, MEM - 8, u64::MAX - 3, MMIO_HOLE_START, IMAGE_BASE] {
            let outcome = dispatch(&ram, 0, block);
            assert_eq!(outcome, Outcome::Dropped(Error::BlockNotInRam(block)));
            assert!(outcome.rejected());
        }
        // An unknown call at an unusable block is dropped too.
        assert!(matches!(dispatch(&ram, 0x100, MEM), Outcome::Dropped(_)));
    }

    fn shutdown_block(ram: &GuestRam, kind: u32, code: u32) {
        let mut b = Vec::new();
        b.extend_from_slice(&ABI_VERSION.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&code.to_le_bytes());
        for p in 1..=4u64 {
            b.extend_from_slice(&p.to_le_bytes());
        }
        assert!(ram.write(BLOCK, &b));
    }

    #[test]
    fn shutdown_requests() {
        let ram = ram();
        shutdown_block(&ram, 0, 0xC000_0005);
        let Outcome::Answered { request, .. } = dispatch(&ram, 8, BLOCK) else {
            panic!()
        };
        assert_eq!(
            request,
            Some(Request::Shutdown(ShutdownRequest::Exit(NtStatus(
                0xC000_0005
            ))))
        );
        shutdown_block(&ram, 1, 0xDEAD);
        let Outcome::Answered { request, .. } = dispatch(&ram, 8, BLOCK) else {
            panic!()
        };
        assert_eq!(
            request,
            Some(Request::Shutdown(ShutdownRequest::BugCheck {
                code: 0xDEAD,
                parameters: [1, 2, 3, 4]
            }))
        );
        shutdown_block(&ram, 7, 0);
        assert_status(&ram, dispatch(&ram, 8, BLOCK), HypercallStatus::BadArgument);
    }

    #[test]
    fn boot_progress_requests() {
        let ram = ram();
        let mut b = Vec::new();
        b.extend_from_slice(&ABI_VERSION.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&1234u64.to_le_bytes());
        ram.write(BLOCK, &b);
        let Outcome::Answered { request, .. } = dispatch(&ram, 16, BLOCK) else {
            panic!()
        };
        assert_eq!(
            request,
            Some(Request::BootProgress {
                marker: BootMarker::UserModeEntered,
                tsc: 1234
            })
        );
        ram.write(BLOCK + 8, &9u32.to_le_bytes());
        assert_status(
            &ram,
            dispatch(&ram, 16, BLOCK),
            HypercallStatus::BadArgument,
        );
    }

    #[test]
    fn doorbell_window() {
        assert_eq!(doorbell_offset(DOORBELL_BASE), Some(0));
        assert_eq!(doorbell_offset(DOORBELL_BASE + 0xfff), Some(0xfff));
        assert_eq!(doorbell_offset(DOORBELL_BASE + 0x1000), None);
        assert_eq!(doorbell_offset(DOORBELL_BASE - 1), None);
    }
}
