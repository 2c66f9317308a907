//! The CID table: IDs, reuse, lookups of entries that do not keep objects alive.

use std::sync::{Arc, Weak};

use crate::ps::cid::CidTable;

#[test]
fn ids_are_multiples_of_4_from_4() {
    let table = CidTable::new();
    let ids: Vec<u64> = ["System", "smss", "smss thread"]
        .into_iter()
        .map(|name| table.allocate(name).unwrap())
        .collect();
    assert_eq!(ids, [4, 8, 12]);
    assert_eq!(table.lookup(8), Some("smss"));
}

#[test]
fn freed_ids_are_reused() {
    let table = CidTable::new();
    for i in 0..4 {
        table.allocate(i).unwrap();
    }
    assert!(table.free(8));
    assert!(!table.free(8), "an ID is freed once");
    assert_eq!(table.lookup(8), None);
    assert_eq!(table.allocate(10).unwrap(), 8);
    assert_eq!(table.lookup(8), Some(10));
}

#[test]
fn ids_that_name_nothing() {
    let table = CidTable::new();
    table.allocate(1).unwrap();
    for id in [0, 8, 0x1234_5678, u64::MAX] {
        assert_eq!(table.lookup(id), None, "id {id:#x}");
        assert!(!table.free(id));
    }
}

#[test]
fn entries_do_not_keep_objects_alive() {
    let table = CidTable::new();
    let process = Arc::new("process");
    let id = table.allocate(Arc::downgrade(&process)).unwrap();
    assert_eq!(Arc::strong_count(&process), 1);
    let found: Weak<&str> = table.lookup(id).unwrap();
    assert_eq!(found.upgrade().as_deref(), Some(&"process"));
    drop(process);
    assert!(table.lookup(id).unwrap().upgrade().is_none());
    assert!(table.free(id));
}
