//! Event objects (`KEVENT`, and the executive's `ExEventObjectType`): notification events
//! stay signaled until reset and release every waiter; synchronization events release one
//! waiter and reset themselves.

use abi::access::{EVENT_ALL_ACCESS, EVENT_GENERIC_MAPPING};

use super::dispatcher::{DispatcherHeader, DispatcherObject, lock};
use super::priority::EVENT_INCREMENT;
use super::wait;
use crate::ob::{self, ObjectBody, ObjectType};

/// The event object type (`ExEventObjectType`).
pub static EVENT_TYPE: ObjectType =
    ObjectType::new("Event", EVENT_GENERIC_MAPPING, EVENT_ALL_ACCESS);

/// An event object's body.
#[derive(Debug)]
pub struct Event {
    header: DispatcherHeader,
}

impl Event {
    /// `KeInitializeEvent`: a synchronization (auto-reset) or notification event,
    /// signaled or not.
    pub fn new(synchronization: bool, signaled: bool) -> Self {
        Self {
            header: DispatcherHeader::new(synchronization, signaled),
        }
    }

    /// `KeSetEvent`: signals the event, releasing waiters; returns the previous state.
    pub fn set(&self) -> bool {
        wait::signal_object_boosting(self, EVENT_INCREMENT)
    }

    /// `KeResetEvent`: makes the event non-signaled; returns the previous state.
    pub fn reset(&self) -> bool {
        let _db = lock();
        self.header.set_signal_state(false)
    }

    /// `KePulseEvent`: releases the waiters a set would, then resets; returns the previous
    /// state.
    pub fn pulse(&self) -> bool {
        wait::pulse_object(self, EVENT_INCREMENT)
    }
}

impl DispatcherObject for Event {
    fn dispatcher_header(&self) -> &DispatcherHeader {
        &self.header
    }
}

impl ObjectBody for Event {
    fn object_type() -> &'static ObjectType {
        &EVENT_TYPE
    }
}

/// Registers the event object type (`ExpEventInitialization`).
pub fn init() {
    ob::create_object_type(&EVENT_TYPE);
}
