//! Semaphore objects (`KSEMAPHORE`, and the executive's `ExSemaphoreObjectType`): a count
//! bounded by a limit; each satisfied wait takes one unit, a release adds some back.

use abi::NtStatus;
use abi::access::{SEMAPHORE_ALL_ACCESS, SEMAPHORE_GENERIC_MAPPING};

use super::dispatcher::{DispatcherHeader, DispatcherObject, lock};
use super::priority::SEMAPHORE_INCREMENT;
use super::wait;
use crate::ob::{self, ObjectBody, ObjectType};

/// The semaphore object type (`ExSemaphoreObjectType`).
pub static SEMAPHORE_TYPE: ObjectType =
    ObjectType::new("Semaphore", SEMAPHORE_GENERIC_MAPPING, SEMAPHORE_ALL_ACCESS);

/// A semaphore object's body.
#[derive(Debug)]
pub struct Semaphore {
    /// The signal state is the count.
    header: DispatcherHeader,
    /// `Limit`: the most the count may reach.
    limit: i32,
}

impl Semaphore {
    /// `KeInitializeSemaphore`: callers check `0 <= count <= limit` and `limit > 0`.
    pub fn new(count: i32, limit: i32) -> Self {
        Self {
            header: DispatcherHeader::with_signal_state(true, count),
            limit,
        }
    }

    /// `KeReleaseSemaphore`: adds `adjustment` (above 0) to the count, releasing waiters,
    /// and returns the previous count. STATUS_SEMAPHORE_LIMIT_EXCEEDED, with the count
    /// unchanged, when the count would pass the limit.
    pub fn release(&self, adjustment: i32) -> Result<i32, NtStatus> {
        let mut db = lock();
        let previous = self.header.signal_state();
        if previous
            .checked_add(adjustment)
            .is_none_or(|count| count > self.limit)
        {
            return Err(NtStatus::SEMAPHORE_LIMIT_EXCEEDED);
        }
        self.header.add_signal_state(adjustment);
        wait::wait_test(&mut db, self, SEMAPHORE_INCREMENT);
        Ok(previous)
    }

    /// The current count and the limit (`SEMAPHORE_BASIC_INFORMATION`).
    pub fn state(&self) -> (i32, i32) {
        let _db = lock();
        (self.header.signal_state(), self.limit)
    }
}

impl DispatcherObject for Semaphore {
    fn dispatcher_header(&self) -> &DispatcherHeader {
        &self.header
    }
}

impl ObjectBody for Semaphore {
    fn object_type() -> &'static ObjectType {
        &SEMAPHORE_TYPE
    }
}

/// Registers the semaphore object type (`ExpSemaphoreInitialization`).
pub fn init() {
    ob::create_object_type(&SEMAPHORE_TYPE);
}
