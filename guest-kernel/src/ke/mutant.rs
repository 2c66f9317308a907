//! Mutant objects (`KMUTANT`, and the executive's `ExMutantObjectType`): a lock with an
//! owner thread that may acquire it again (recursion), that only the owner may release
//! (STATUS_MUTANT_NOT_OWNED), and that is abandoned when its owner terminates holding it:
//! the next thread to acquire it learns that from STATUS_ABANDONED_WAIT_0.
//!
//! The signal state is NT's: 1 while free, 0 owned once, -n owned n + 1 times.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::NtStatus;
use abi::access::{MUTANT_ALL_ACCESS, MUTANT_GENERIC_MAPPING};
use spin::Mutex;

use super::dispatcher::{DispatcherDatabase, DispatcherHeader, DispatcherObject, lock};
use super::priority::MUTANT_INCREMENT;
use super::wait;
use crate::ob::{self, Object, ObjectBody, ObjectType};
use crate::ps::Thread;

/// The mutant object type (`ExMutantObjectType`).
pub static MUTANT_TYPE: ObjectType =
    ObjectType::new("Mutant", MUTANT_GENERIC_MAPPING, MUTANT_ALL_ACCESS);

/// A mutant object's body.
#[derive(Debug)]
pub struct Mutant {
    header: DispatcherHeader,
    /// `OwnerThread`. The owner's `owned_mutants` holds the mutant in turn; both links go
    /// when it is released or abandoned.
    owner: Mutex<Option<Arc<Object<Thread>>>>,
    /// `Abandoned`: its owner terminated holding it, and no thread acquired it since.
    abandoned: AtomicBool,
}

/// What `NtQueryMutant` reports.
pub struct MutantState {
    pub signal_state: i32,
    pub owned_by_caller: bool,
    pub abandoned: bool,
}

impl Mutant {
    /// `KeInitializeMutant`, free.
    pub fn new() -> Self {
        Self {
            header: DispatcherHeader::new(true, true),
            owner: Mutex::new(None),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Makes `thread` the owner of the new mutant `this` (`InitialOwner`).
    pub fn acquire_initially(this: &Arc<Object<Mutant>>, thread: &Arc<Object<Thread>>) {
        let _db = lock();
        let object: Arc<dyn DispatcherObject> = this.clone();
        this.satisfy_wait_for(&object, thread);
    }

    fn is_owned_by(&self, thread: &Arc<Object<Thread>>) -> bool {
        self.owner
            .lock()
            .as_ref()
            .is_some_and(|owner| Arc::ptr_eq(owner, thread))
    }

    /// `KeReleaseMutant` by `thread`: gives up one acquisition and returns the previous
    /// signal state; the last one frees the mutant for its waiters.
    /// STATUS_MUTANT_NOT_OWNED when `thread` does not own it.
    pub fn release(&self, thread: &Arc<Object<Thread>>) -> Result<i32, NtStatus> {
        let mut db = lock();
        if !self.is_owned_by(thread) {
            return Err(NtStatus::MUTANT_NOT_OWNED);
        }
        let previous = self.header.add_signal_state(1);
        if previous == 0 {
            *self.owner.lock() = None;
            thread
                .tcb
                .scheduling()
                .owned_mutants
                .retain(|owned| !core::ptr::eq(owned.dispatcher_header(), &self.header));
            wait::wait_test(&mut db, self, MUTANT_INCREMENT);
        }
        Ok(previous)
    }

    /// The signal state, whether `thread` owns the mutant and whether it is abandoned.
    pub fn state(&self, thread: &Arc<Object<Thread>>) -> MutantState {
        let _db = lock();
        MutantState {
            signal_state: self.header.signal_state(),
            owned_by_caller: self.is_owned_by(thread),
            abandoned: self.abandoned.load(Ordering::Relaxed),
        }
    }
}

impl Default for Mutant {
    fn default() -> Self {
        Self::new()
    }
}

impl DispatcherObject for Mutant {
    fn dispatcher_header(&self) -> &DispatcherHeader {
        &self.header
    }

    /// Free, or already owned by the waiter (a recursive acquisition).
    fn is_signaled_for(&self, thread: &Arc<Object<Thread>>) -> bool {
        self.header.is_signaled() || self.is_owned_by(thread)
    }

    /// One more acquisition; the first makes `thread` the owner and clears the abandoned
    /// state, which the wait reports.
    fn satisfy_wait_for(
        &self,
        this: &Arc<dyn DispatcherObject>,
        thread: &Arc<Object<Thread>>,
    ) -> bool {
        if self.header.add_signal_state(-1) != 1 {
            return false;
        }
        *self.owner.lock() = Some(thread.clone());
        thread.tcb.scheduling().owned_mutants.push(this.clone());
        self.abandoned.swap(false, Ordering::Relaxed)
    }

    /// `KeTerminateThread`'s walk of the mutant list: the mutant is freed, marked
    /// abandoned, and its waiters tested.
    fn abandon(&self, db: &mut DispatcherDatabase) {
        *self.owner.lock() = None;
        self.abandoned.store(true, Ordering::Relaxed);
        self.header.set_signal_state(true);
        wait::wait_test(db, self, MUTANT_INCREMENT);
    }
}

impl ObjectBody for Mutant {
    fn object_type() -> &'static ObjectType {
        &MUTANT_TYPE
    }
}

/// Registers the mutant object type (`ExpMutantInitialization`).
pub fn init() {
    ob::create_object_type(&MUTANT_TYPE);
}
