//! The unit tests, and the test object types they share.

mod address_space;
mod cid;
mod handle_table;
mod image;
mod namespace;
mod object;
mod object_table;
mod pfn;
mod ready_queue;
mod vad;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use abi::access::{GenericMapping, READ_CONTROL, STANDARD_RIGHTS_REQUIRED, SYNCHRONIZE};

use crate::ob::object::{ObjectType, ObjectTypes};

/// The registry the test types register with.
static TYPES: ObjectTypes = ObjectTypes::new();

pub const WIDGET_READ: u32 = 0x1;
pub const WIDGET_WRITE: u32 = 0x2;
pub const WIDGET_EXECUTE: u32 = 0x4;
pub const WIDGET_ALL_ACCESS: u32 = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x7;
pub const WIDGET_MAPPING: GenericMapping = GenericMapping {
    generic_read: READ_CONTROL | WIDGET_READ,
    generic_write: READ_CONTROL | WIDGET_WRITE,
    generic_execute: READ_CONTROL | SYNCHRONIZE | WIDGET_EXECUTE,
    generic_all: WIDGET_ALL_ACCESS,
};

/// `object_type`, registered on first use (tests run in parallel, in any order).
pub fn registered(object_type: &'static ObjectType) -> &'static ObjectType {
    if object_type.index() == 0 {
        let _ = TYPES.register(object_type);
    }
    object_type
}

/// Counts how often a body's delete procedure ran.
#[derive(Clone, Debug, Default)]
pub struct Deleted(Arc<AtomicUsize>);

impl Deleted {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Defines an object body type `$body { deleted: Deleted }` of its own object type
/// `$type_static`, whose delete procedure counts in `deleted`. Tests that assert on a
/// type's counters use a type of their own, as tests run in parallel.
macro_rules! widget_type {
    ($body:ident, $type_static:ident, $name:literal) => {
        static $type_static: $crate::ob::object::ObjectType = $crate::ob::object::ObjectType::new(
            $name,
            $crate::tests::WIDGET_MAPPING,
            $crate::tests::WIDGET_ALL_ACCESS,
        );

        #[derive(Debug, Default)]
        struct $body {
            deleted: $crate::tests::Deleted,
        }

        impl $crate::ob::object::ObjectBody for $body {
            fn object_type() -> &'static $crate::ob::object::ObjectType {
                $crate::tests::registered(&$type_static)
            }
        }

        impl Drop for $body {
            fn drop(&mut self) {
                self.deleted
                    .0
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    };
}
pub(crate) use widget_type;
