//! Objects and object types: the object header (`OBJECT_HEADER`: type, handle count, name)
//! in front of every object body, the counted pointer references that keep an object
//! alive, and the object types (`OBJECT_TYPE`) with their access rules and counters.
//!
//! An object lives in an `Arc`: a clone is a pointer reference (`ObReferenceObject`),
//! dropping one is `ObDereferenceObject`, and the body's `Drop` is the type's delete
//! procedure, run on the last dereference. Like NT's PointerCount, the pointer count
//! includes the reference each handle holds; the handle count is kept in the header.
//!
//! Pure data structures: no hardware, so they are unit-tested on the host.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use core::any::Any;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use abi::NtStatus;
use abi::access::{GenericMapping, MAXIMUM_ALLOWED};
use spin::Mutex;

use super::namespace::Directory;

/// A current count and its high-water mark.
#[derive(Debug)]
struct Counter {
    current: AtomicUsize,
    high_water: AtomicUsize,
}

impl Counter {
    const fn new() -> Self {
        Self {
            current: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
        }
    }

    fn increment(&self) {
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.high_water.fetch_max(now, Ordering::Relaxed);
    }

    fn decrement(&self) {
        self.current.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An object type (`OBJECT_TYPE`): its name, how generic rights map and which rights are
/// valid, and how many objects and handles of it exist.
#[derive(Debug)]
pub struct ObjectType {
    name: &'static str,
    generic_mapping: GenericMapping,
    valid_access_mask: u32,
    /// `TypeIndex`, 0 until the type is registered.
    index: AtomicU8,
    objects: Counter,
    handles: Counter,
}

impl ObjectType {
    /// A type not yet registered (the initializer `ObCreateObjectType` takes).
    pub const fn new(
        name: &'static str,
        generic_mapping: GenericMapping,
        valid_access_mask: u32,
    ) -> Self {
        Self {
            name,
            generic_mapping,
            valid_access_mask,
            index: AtomicU8::new(0),
            objects: Counter::new(),
            handles: Counter::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn generic_mapping(&self) -> GenericMapping {
        self.generic_mapping
    }

    pub fn valid_access_mask(&self) -> u32 {
        self.valid_access_mask
    }

    /// `TypeIndex`: 0 for a type never registered.
    pub fn index(&self) -> u8 {
        self.index.load(Ordering::Relaxed)
    }

    /// Objects of this type that exist now (`TotalNumberOfObjects`).
    pub fn object_count(&self) -> usize {
        self.objects.current.load(Ordering::Relaxed)
    }

    /// Handles to objects of this type open now (`TotalNumberOfHandles`).
    pub fn handle_count(&self) -> usize {
        self.handles.current.load(Ordering::Relaxed)
    }

    /// The most objects of this type that ever existed at once.
    pub fn high_water_object_count(&self) -> usize {
        self.objects.high_water.load(Ordering::Relaxed)
    }

    /// The most handles to objects of this type that were ever open at once.
    pub fn high_water_handle_count(&self) -> usize {
        self.handles.high_water.load(Ordering::Relaxed)
    }

    /// The access a new handle asking for `desired_access` is granted: generic rights
    /// mapped, MAXIMUM_ALLOWED as GENERIC_ALL, rights the type does not have dropped.
    /// Without security descriptors (Se) every valid right asked for is granted.
    pub fn grant_access(&self, desired_access: u32) -> u32 {
        let mut access = self.generic_mapping.map(desired_access);
        if access & MAXIMUM_ALLOWED != 0 {
            access |= self.generic_mapping.generic_all;
        }
        access & self.valid_access_mask
    }
}

/// The registry of object types (`ObpObjectTypes`), which hands out type indices.
#[derive(Debug)]
pub struct ObjectTypes {
    registered: AtomicU8,
}

impl ObjectTypes {
    /// NT's type indices start at 2: 0 and 1 never name a type.
    const FIRST_INDEX: u8 = 2;

    pub const fn new() -> Self {
        Self {
            registered: AtomicU8::new(0),
        }
    }

    /// Registers `object_type` (`ObCreateObjectType`); objects of it can be created from
    /// now on. Registering a type twice is STATUS_OBJECT_NAME_COLLISION.
    pub fn register(&self, object_type: &'static ObjectType) -> Result<u8, NtStatus> {
        if object_type.index() != 0 {
            return Err(NtStatus::OBJECT_NAME_COLLISION);
        }
        let index = self
            .registered
            .fetch_add(1, Ordering::Relaxed)
            .checked_add(Self::FIRST_INDEX)
            .ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        object_type
            .index
            .compare_exchange(0, index, Ordering::Relaxed, Ordering::Relaxed)
            .map_err(|_| NtStatus::OBJECT_NAME_COLLISION)?;
        Ok(index)
    }
}

impl Default for ObjectTypes {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a named object sits in the namespace (`OBJECT_HEADER_NAME_INFO`).
#[derive(Debug)]
pub struct NameInfo {
    pub directory: Weak<Object<Directory>>,
    pub name: Box<str>,
}

/// The object header (`OBJECT_HEADER`).
#[derive(Debug)]
pub struct ObjectHeader {
    object_type: &'static ObjectType,
    handle_count: AtomicUsize,
    /// OBJ_PERMANENT: the name stays in its directory when the last handle closes.
    permanent: AtomicBool,
    name: Mutex<Option<NameInfo>>,
}

impl ObjectHeader {
    pub fn object_type(&self) -> &'static ObjectType {
        self.object_type
    }

    /// Whether the object is of type `object_type`.
    pub fn is_a(&self, object_type: &ObjectType) -> bool {
        core::ptr::eq(self.object_type, object_type)
    }

    /// Open handles to the object (`HandleCount`).
    pub fn handle_count(&self) -> usize {
        self.handle_count.load(Ordering::Relaxed)
    }

    /// Counts a new handle (`ObpIncrementHandleCount`).
    pub fn increment_handle_count(&self) {
        self.handle_count.fetch_add(1, Ordering::Relaxed);
        self.object_type.handles.increment();
    }

    /// Counts a closed handle (`ObpDecrementHandleCount`); returns the handles left.
    pub fn decrement_handle_count(&self) -> usize {
        self.object_type.handles.decrement();
        self.handle_count.fetch_sub(1, Ordering::Relaxed) - 1
    }

    pub fn is_permanent(&self) -> bool {
        self.permanent.load(Ordering::Relaxed)
    }

    /// Makes the object permanent (OBJ_PERMANENT): its name outlives its handles.
    pub fn make_permanent(&self) {
        self.permanent.store(true, Ordering::Relaxed);
    }

    /// The object's name in its directory, if it has one.
    pub fn name(&self) -> Option<Box<str>> {
        self.name.lock().as_ref().map(|info| info.name.clone())
    }

    /// The name information slot, which the namespace fills on insertion and clears when
    /// it removes the name.
    pub fn name_info(&self) -> &Mutex<Option<NameInfo>> {
        &self.name
    }
}

/// What an object body declares: its type.
pub trait ObjectBody: Send + Sync + Sized + 'static {
    /// The registered type of objects with this body (`PsProcessType`, ...).
    fn object_type() -> &'static ObjectType;
}

/// An object: its header, then its body. Derefs to the body.
#[derive(Debug)]
pub struct Object<T: ObjectBody> {
    header: ObjectHeader,
    body: T,
}

impl<T: ObjectBody> Object<T> {
    /// A new object of `T`'s type holding one pointer reference, the caller's
    /// (`ObCreateObject`). Its type must be registered.
    pub fn create(body: T) -> Arc<Self> {
        let object_type = T::object_type();
        debug_assert!(
            object_type.index() != 0,
            "{} is not registered",
            object_type.name
        );
        object_type.objects.increment();
        Arc::new(Self {
            header: ObjectHeader {
                object_type,
                handle_count: AtomicUsize::new(0),
                permanent: AtomicBool::new(false),
                name: Mutex::new(None),
            },
            body,
        })
    }

    pub fn header(&self) -> &ObjectHeader {
        &self.header
    }
}

impl<T: ObjectBody> Deref for Object<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.body
    }
}

impl<T: ObjectBody> Drop for Object<T> {
    /// The last dereference: the body's `Drop` (the type's delete procedure) runs after
    /// this, and the object no longer counts among its type's objects.
    fn drop(&mut self) {
        self.header.object_type.objects.decrement();
    }
}

/// An object of any type, as handle tables and directories hold them.
pub trait AnyObject: Any + Send + Sync {
    fn header(&self) -> &ObjectHeader;
}

impl<T: ObjectBody> AnyObject for Object<T> {
    fn header(&self) -> &ObjectHeader {
        &self.header
    }
}

impl core::fmt::Debug for dyn AnyObject {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let header = self.header();
        f.debug_struct("Object")
            .field("type", &header.object_type().name())
            .field("handle_count", &header.handle_count())
            .field("name", &header.name())
            .finish()
    }
}

/// A counted pointer reference to an object of any type.
pub type ObjectRef = Arc<dyn AnyObject>;

/// The object's pointer count (`PointerCount`): every reference, those of handles included.
pub fn pointer_count(object: &ObjectRef) -> usize {
    Arc::strong_count(object)
}

/// The same reference as an object of type `T`, or STATUS_OBJECT_TYPE_MISMATCH.
pub fn downcast<T: ObjectBody>(object: ObjectRef) -> Result<Arc<Object<T>>, NtStatus> {
    let object: Arc<dyn Any + Send + Sync> = object;
    object
        .downcast()
        .map_err(|_| NtStatus::OBJECT_TYPE_MISMATCH)
}

/// Whether two references name the same object.
pub fn same_object(a: &ObjectRef, b: &ObjectRef) -> bool {
    core::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}
