//! The executive handle table: values, reuse, tag bits, limits, duplication.

use abi::NtStatus;

use crate::ob::handle_table::HandleTable;

fn table_with(entries: &[&'static str]) -> HandleTable<&'static str> {
    let mut table = HandleTable::new();
    for entry in entries {
        table.create(*entry).unwrap();
    }
    table
}

#[test]
fn values_are_multiples_of_4_from_4() {
    let mut table = HandleTable::new();
    let values: Vec<u64> = (0..5).map(|i| table.create(i).unwrap()).collect();
    assert_eq!(values, [4, 8, 12, 16, 20]);
    assert_eq!(table.get(12), Some(&2));
}

#[test]
fn freed_values_are_reused_most_recent_first() {
    let mut table = table_with(&["a", "b", "c", "d"]);
    assert_eq!(table.destroy(8), Some("b"));
    assert_eq!(table.create("e").unwrap(), 8);
    assert_eq!(table.destroy(4), Some("a"));
    assert_eq!(table.destroy(12), Some("c"));
    assert_eq!(table.create("f").unwrap(), 12);
    assert_eq!(table.create("g").unwrap(), 4);
    assert_eq!(table.create("h").unwrap(), 20);
    assert_eq!(table.get(4), Some(&"g"));
    assert_eq!(table.get(8), Some(&"e"));
}

#[test]
fn an_emptied_table_starts_over() {
    let mut table = table_with(&["a", "b", "c"]);
    for handle in [8, 4, 12] {
        assert!(table.destroy(handle).is_some());
    }
    assert_eq!(table.count(), 0);
    assert_eq!(table.create("d").unwrap(), 4);
    assert_eq!(table.create("e").unwrap(), 8);
}

#[test]
fn lookups_ignore_tag_bits_and_reject_what_names_nothing() {
    let table = table_with(&["a", "b"]);
    for handle in [4, 5, 6, 7] {
        assert_eq!(table.get(handle), Some(&"a"), "handle {handle}");
    }
    for handle in [0, 1, 2, 3, 12, 0x1234_5678, u64::MAX, u64::MAX - 1, 1 << 63] {
        assert_eq!(table.get(handle), None, "handle {handle:#x}");
    }
}

#[test]
fn destroying_twice_or_never_created_values_fails() {
    let mut table = table_with(&["a"]);
    assert_eq!(table.destroy(0), None);
    assert_eq!(table.destroy(8), None);
    assert_eq!(table.destroy(4), Some("a"));
    assert_eq!(table.destroy(4), None);
    assert_eq!(table.get(4), None);
}

#[test]
fn a_full_table_refuses_new_entries() {
    let mut table = HandleTable::with_limit(3);
    for i in 0..3 {
        table.create(i).unwrap();
    }
    assert_eq!(table.create(3), Err(NtStatus::INSUFFICIENT_RESOURCES));
    table.destroy(8).unwrap();
    assert_eq!(table.create(4), Ok(8));
}

#[test]
fn duplication_keeps_values_of_the_entries_it_copies() {
    let table = table_with(&["keep-4", "drop-8", "keep-12", "drop-16", "drop-20"]);
    let mut copy = table
        .duplicate(|entry| entry.starts_with("keep").then_some(*entry))
        .unwrap();
    assert_eq!(copy.get(4), Some(&"keep-4"));
    assert_eq!(copy.get(8), None);
    assert_eq!(copy.get(12), Some(&"keep-12"));
    assert_eq!(copy.get(16), None);
    // Values left out are free in the copy, lowest first, then new ones follow.
    assert_eq!(copy.create("new").unwrap(), 8);
    assert_eq!(copy.create("new").unwrap(), 16);
    assert_eq!(copy.create("new").unwrap(), 20);
    // The original is untouched.
    assert_eq!(table.get(8), Some(&"drop-8"));
}

#[test]
fn duplication_keeps_the_limit() {
    let table: HandleTable<u32> = HandleTable::with_limit(1);
    let mut copy = table.duplicate(|entry| Some(*entry)).unwrap();
    copy.create(1).unwrap();
    assert_eq!(copy.create(2), Err(NtStatus::INSUFFICIENT_RESOURCES));
}

#[test]
fn take_all_empties_the_table() {
    let mut table = table_with(&["a", "b", "c"]);
    table.destroy(8).unwrap();
    assert_eq!(table.take_all(), [(4, "a"), (12, "c")]);
    assert_eq!(table.get(4), None);
    assert_eq!(table.create("d").unwrap(), 4);
    assert_eq!(table.create("e").unwrap(), 8);
}

#[test]
fn many_entries() {
    let mut table = HandleTable::new();
    for i in 0..10_000u64 {
        assert_eq!(table.create(i).unwrap(), (i + 1) * 4);
    }
    for i in (0..10_000u64).step_by(2) {
        assert_eq!(table.destroy((i + 1) * 4), Some(i));
    }
    assert_eq!(table.get(8), Some(&1));
    assert_eq!(table.take_all().len(), 5_000);
}

#[test]
fn free_values_at_the_end_are_dropped() {
    // A burst of entries after a long-lived one, gone again in creation order: the table
    // shrinks back and values continue right after the survivor.
    let mut table = table_with(&["survivor"]);
    let burst: Vec<u64> = (0..1000).map(|_| table.create("burst").unwrap()).collect();
    for value in &burst {
        assert_eq!(table.destroy(*value), Some("burst"));
    }
    assert_eq!(table.count(), 1);
    assert_eq!(table.create("next").unwrap(), 8);
    // A hole below the end stays free and is reused; freeing the end drops it too.
    let last = table.create("last").unwrap();
    assert_eq!(last, 12);
    assert_eq!(table.destroy(8), Some("next"));
    assert_eq!(table.destroy(12), Some("last"));
    assert_eq!(table.create("again").unwrap(), 8);
    assert_eq!(table.get(4), Some(&"survivor"));
}

#[test]
fn freeing_from_the_end_backwards_keeps_every_value_valid() {
    let mut table = table_with(&["a", "b", "c", "d", "e"]);
    assert_eq!(table.destroy(8), Some("b"));
    assert_eq!(table.destroy(20), Some("e"));
    assert_eq!(table.destroy(16), Some("d"));
    // 12 is now the end; 8 is still a free hole and is handed out first.
    assert_eq!(table.create("f").unwrap(), 8);
    assert_eq!(table.create("g").unwrap(), 16);
    assert_eq!(table.get(12), Some(&"c"));
    assert_eq!(table.get(4), Some(&"a"));
    assert_eq!(table.count(), 4);
}
