//! Hostile hypercall requests against `vmm::hypercall::dispatch`: the entry point shared by
//! the property tests (tests/hostile_inputs.rs) and the `hypercall_request` fuzz target.
//!
//! The input bytes choose a doorbell offset, a block address and the block's fields, each
//! through a selector byte that favours the values that matter (RAM edges, the second RAM
//! range, wrapping addresses, lengths around the limit) so that random bytes reach every
//! check. The outcome is compared with an independent reading of the ABI, and memory must
//! be unchanged but for the status word.

use std::cell::RefCell;
use std::sync::OnceLock;

use abi::NtStatus;
use abi::hypercall::{
    ABI_VERSION, BootMarker, CONSOLE_WRITE_MAX, Call, DOORBELL_BASE, DOORBELL_WINDOW,
    HypercallStatus,
};
use vmm::hypercall::{self, Outcome, Request, RequestMemory, ShutdownRequest};

/// Size of the first RAM range of the test memory, from 0: room for the largest console
/// write.
pub const RAM_LEN: u64 = CONSOLE_WRITE_MAX + 0x1000;
/// Where the second RAM range starts (above a hole, as RAM above 3 GiB does).
pub const HIGH_RAM: u64 = 0x1_0000_0000;
/// Size of the second RAM range.
pub const HIGH_RAM_LEN: u64 = 0x1000;
/// Largest request block (Shutdown's).
const MAX_BLOCK: usize = 48;

/// Guest RAM as two plain buffers, `[0, RAM_LEN)` and `[HIGH_RAM, HIGH_RAM + HIGH_RAM_LEN)`.
#[derive(Debug)]
pub struct TestMemory {
    ranges: RefCell<[(u64, Vec<u8>); 2]>,
}

impl TestMemory {
    /// Both ranges filled with a pattern that differs at every nearby address.
    pub fn new() -> Self {
        static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
        let pattern =
            PATTERN.get_or_init(|| (0..RAM_LEN).map(|a| (a * 7 + a / 251) as u8).collect());
        let range = |start: u64, len: u64| (start, pattern[..len as usize].to_vec());
        Self {
            ranges: RefCell::new([range(0, RAM_LEN), range(HIGH_RAM, HIGH_RAM_LEN)]),
        }
    }

    /// Whether `[start, start + len)` lies inside one range (computed in u128: no wrap).
    pub fn contains(&self, start: u64, len: u64) -> bool {
        let (start, end) = (u128::from(start), u128::from(start) + u128::from(len));
        self.ranges.borrow().iter().any(|(base, bytes)| {
            let base = u128::from(*base);
            start >= base && start < base + bytes.len() as u128 && end <= base + bytes.len() as u128
        })
    }

    /// Stores whatever part of `data` at `start` falls in RAM.
    pub fn poke(&self, start: u64, data: &[u8]) {
        for (i, &byte) in data.iter().enumerate() {
            let Some(at) = start.checked_add(i as u64) else {
                break;
            };
            for (base, bytes) in self.ranges.borrow_mut().iter_mut() {
                if let Some(slot) = at
                    .checked_sub(*base)
                    .and_then(|o| bytes.get_mut(o as usize))
                {
                    *slot = byte;
                }
            }
        }
    }

    /// A copy of both ranges, with their start addresses.
    pub fn snapshot(&self) -> Vec<(u64, Vec<u8>)> {
        self.ranges.borrow().to_vec()
    }
}

impl Default for TestMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestMemory for TestMemory {
    fn read(&self, start: u64, len: usize) -> Option<Vec<u8>> {
        if !self.contains(start, len as u64) {
            return None;
        }
        let ranges = self.ranges.borrow();
        ranges.iter().find_map(|(base, bytes)| {
            let offset = usize::try_from(start.checked_sub(*base)?).ok()?;
            Some(bytes.get(offset..offset.checked_add(len)?)?.to_vec())
        })
    }

    fn write(&self, start: u64, data: &[u8]) -> bool {
        if !self.contains(start, data.len() as u64) {
            return false;
        }
        self.poke(start, data);
        true
    }
}

/// Reads the input a few bytes at a time; missing bytes read as zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for b in &mut bytes {
            *b = self.u8();
        }
        u64::from_le_bytes(bytes)
    }

    /// An address or length: a selector byte picks the kind, eight bytes the value.
    fn value(&mut self) -> u64 {
        let selector = self.u8();
        let raw = self.u64();
        match selector % 10 {
            0 => raw % RAM_LEN,
            1 => RAM_LEN - 1 - raw % 64,
            2 => HIGH_RAM + raw % HIGH_RAM_LEN,
            3 => HIGH_RAM + HIGH_RAM_LEN - 1 - raw % 64,
            4 => u64::MAX - raw % 64,
            5 => raw % 64,
            6 => CONSOLE_WRITE_MAX - 1 + raw % 3,
            7 => HIGH_RAM - 1 - raw % 64,
            _ => raw,
        }
    }
}

/// One request: where the guest rang, which block, what the block held.
#[derive(Clone, Debug)]
pub struct Case {
    pub offset: u64,
    pub block: u64,
    pub contents: [u8; MAX_BLOCK],
}

impl Case {
    /// Decodes a case from arbitrary bytes (see the module docs).
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut input = Input(data);
        let selector = input.u8();
        let raw = input.u64();
        let offset = if selector & 1 == 0 {
            (u64::from(selector) >> 1) % 4 * 8
        } else {
            raw % (DOORBELL_WINDOW + 8)
        };
        let block = input.value();
        let mut contents = [0u8; MAX_BLOCK];
        let version = match input.u8() % 4 {
            0 => input.u64() as u32,
            _ => ABI_VERSION,
        };
        contents[..4].copy_from_slice(&version.to_le_bytes());
        contents[4..8].copy_from_slice(&(input.u64() as u32).to_le_bytes());
        // The u32 pairs at 8 (Shutdown's kind and code, BootProgress's marker) come out of
        // the first field; small values often, so that the defined ones come up.
        let first = match input.u8() % 3 {
            0 => (input.u64() % 4) | ((input.u64() % 4) << 32),
            _ => input.value(),
        };
        contents[8..16].copy_from_slice(&first.to_le_bytes());
        for field in contents[16..].chunks_mut(8) {
            field.copy_from_slice(&input.value().to_le_bytes());
        }
        Self {
            offset,
            block,
            contents,
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// What the ABI says the answer to `case` is, read independently of the VMM's code:
/// `None` when the block cannot be answered.
fn expected(memory: &TestMemory, case: &Case) -> Option<(HypercallStatus, Option<Request>)> {
    let call = Call::from_doorbell_offset(case.offset);
    let size = call.map_or(8, Call::request_size);
    let block = memory.read(case.block, size)?;
    let Some(call) = call else {
        return Some((HypercallStatus::UnknownCall, None));
    };
    if u32_at(&block, 0) != ABI_VERSION {
        return Some((HypercallStatus::BadVersion, None));
    }
    let (status, request) = match call {
        Call::ConsoleWrite => {
            let (buffer, len) = (u64_at(&block, 8), u64_at(&block, 16));
            if len > CONSOLE_WRITE_MAX {
                (HypercallStatus::BadLength, None)
            } else if len == 0 {
                (
                    HypercallStatus::Success,
                    Some(Request::ConsoleWrite(vec![])),
                )
            } else if memory.contains(buffer, len) {
                let bytes = memory.read(buffer, len as usize).unwrap();
                (HypercallStatus::Success, Some(Request::ConsoleWrite(bytes)))
            } else {
                (HypercallStatus::BadAddress, None)
            }
        }
        Call::Shutdown => {
            let code = u32_at(&block, 12);
            match u32_at(&block, 8) {
                0 => (
                    HypercallStatus::Success,
                    Some(Request::Shutdown(ShutdownRequest::Exit(NtStatus(code)))),
                ),
                1 => {
                    let parameters = [16, 24, 32, 40].map(|at| u64_at(&block, at));
                    let request = ShutdownRequest::BugCheck { code, parameters };
                    (HypercallStatus::Success, Some(Request::Shutdown(request)))
                }
                _ => (HypercallStatus::BadArgument, None),
            }
        }
        Call::BootProgress => {
            let marker = match u32_at(&block, 8) {
                0 => Some(BootMarker::KernelEntered),
                1 => Some(BootMarker::KernelReady),
                2 => Some(BootMarker::UserModeEntered),
                _ => None,
            };
            match marker {
                Some(marker) => {
                    let tsc = u64_at(&block, 16);
                    let request = Request::BootProgress { marker, tsc };
                    (HypercallStatus::Success, Some(request))
                }
                None => (HypercallStatus::BadArgument, None),
            }
        }
    };
    Some((status, request))
}

/// Runs one request decoded from `data` and checks the VMM's answer; panics on any
/// disagreement.
pub fn hypercall_request(data: &[u8]) {
    let case = Case::from_bytes(data);
    check_case(&case);
}

/// Runs `case` and checks the VMM's answer (see [`hypercall_request`]).
pub fn check_case(case: &Case) {
    let memory = TestMemory::new();
    memory.poke(case.block, &case.contents);
    let expected = expected(&memory, case);
    let before = memory.snapshot();
    let outcome = hypercall::dispatch(&memory, case.offset, case.block);
    let after = memory.snapshot();
    assert_eq!(
        outcome.rejected(),
        !matches!(expected, Some((HypercallStatus::Success, _))),
        "{case:?}: {outcome:?}"
    );
    let Some((status, request)) = expected else {
        assert!(
            matches!(outcome, Outcome::Dropped(_)),
            "{case:?}: {outcome:?}"
        );
        assert!(before == after, "{case:?}: a dropped request wrote to RAM");
        return;
    };
    assert_eq!(
        outcome,
        Outcome::Answered {
            call: Call::from_doorbell_offset(case.offset),
            status,
            request,
        },
        "{case:?}"
    );
    // Only the status word changed, and it holds the answer.
    let answer = (status as u32).to_le_bytes();
    let mut restored = after;
    for (base, bytes) in &mut restored {
        for (i, address) in (case.block + 4..case.block + 8).enumerate() {
            let offset = address
                .checked_sub(*base)
                .and_then(|o| usize::try_from(o).ok());
            if let Some(byte) = offset.and_then(|o| bytes.get_mut(o)) {
                assert_eq!(
                    *byte, answer[i],
                    "{case:?}: the status word is not the answer"
                );
                *byte = case.contents[4 + i];
            }
        }
    }
    assert!(
        before == restored,
        "{case:?}: wrote outside the status word"
    );
}

/// Any guest-physical address: inside the doorbell window exactly when the VMM says so.
pub fn doorbell_address(address: u64) {
    let inside = (DOORBELL_BASE..DOORBELL_BASE + DOORBELL_WINDOW).contains(&address);
    assert_eq!(
        hypercall::doorbell_offset(address),
        inside.then(|| address - DOORBELL_BASE)
    );
    if inside {
        // Every offset in the window gets an answer, never a crash.
        assert_eq!(
            Call::from_doorbell_offset(address - DOORBELL_BASE).is_some(),
            matches!(address - DOORBELL_BASE, 0 | 8 | 16)
        );
    }
}
