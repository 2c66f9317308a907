//! The ready queues: highest priority first, FIFO within a priority, preempted threads at
//! the head, the summary following the lists.

use crate::ke::ready_queue::ReadyQueues;

fn drain(queues: &mut ReadyQueues<&'static str>) -> Vec<(u8, &'static str)> {
    core::iter::from_fn(|| queues.pop_highest()).collect()
}

#[test]
fn empty_queues_have_nothing_ready() {
    let mut queues = ReadyQueues::<u32>::new();
    assert_eq!(queues.highest_priority(), None);
    assert_eq!(queues.pop_highest(), None);
}

#[test]
fn highest_priority_runs_first() {
    let mut queues = ReadyQueues::new();
    queues.insert(8, "normal", false);
    queues.insert(1, "low", false);
    queues.insert(31, "realtime", false);
    queues.insert(15, "high", false);
    assert_eq!(queues.highest_priority(), Some(31));
    assert_eq!(
        drain(&mut queues),
        [(31, "realtime"), (15, "high"), (8, "normal"), (1, "low")]
    );
    assert_eq!(queues.highest_priority(), None);
}

#[test]
fn round_robin_within_a_priority() {
    let mut queues = ReadyQueues::new();
    for name in ["a", "b", "c"] {
        queues.insert(8, name, false);
    }
    // Quantum end: the thread that ran goes to the tail of its list.
    let (priority, first) = queues.pop_highest().unwrap();
    queues.insert(priority, first, false);
    assert_eq!(drain(&mut queues), [(8, "b"), (8, "c"), (8, "a")]);
}

#[test]
fn preempted_thread_goes_to_the_head() {
    let mut queues = ReadyQueues::new();
    queues.insert(8, "waiting-turn", false);
    queues.insert(8, "preempted", true);
    queues.insert(9, "preemptor", false);
    assert_eq!(
        drain(&mut queues),
        [(9, "preemptor"), (8, "preempted"), (8, "waiting-turn")]
    );
}

#[test]
fn summary_clears_only_when_a_list_empties() {
    let mut queues = ReadyQueues::new();
    queues.insert(0, "zero", false);
    queues.insert(5, "x", false);
    queues.insert(5, "y", false);
    assert_eq!(queues.pop_highest(), Some((5, "x")));
    assert_eq!(queues.highest_priority(), Some(5));
    assert_eq!(queues.pop_highest(), Some((5, "y")));
    assert_eq!(queues.highest_priority(), Some(0));
    assert_eq!(queues.pop_highest(), Some((0, "zero")));
    assert_eq!(queues.highest_priority(), None);
    // Refilling a list sets its bit again.
    queues.insert(5, "z", false);
    assert_eq!(queues.highest_priority(), Some(5));
}

#[test]
fn every_level_is_usable() {
    let mut queues = ReadyQueues::new();
    for priority in 0..32u8 {
        queues.insert(priority, priority, priority % 2 == 0);
    }
    for expected in (0..32u8).rev() {
        assert_eq!(queues.pop_highest(), Some((expected, expected)));
    }
}

#[test]
fn removed_items_leave_their_list_and_the_summary() {
    let mut queues = ReadyQueues::new();
    queues.insert(12, "moving", false);
    queues.insert(8, "a", false);
    queues.insert(8, "b", false);
    assert_eq!(queues.remove(12, |item| *item == "moving"), Some("moving"));
    assert_eq!(queues.highest_priority(), Some(8));
    assert_eq!(queues.remove(8, |item| *item == "absent"), None);
    assert_eq!(queues.remove(8, |item| *item == "b"), Some("b"));
    assert_eq!(drain(&mut queues), [(8, "a")]);
}

#[test]
fn items_list_a_priority_in_run_order() {
    let mut queues = ReadyQueues::new();
    queues.insert(6, "first", false);
    queues.insert(6, "second", false);
    queues.insert(9, "other", false);
    assert_eq!(
        queues.items(6).copied().collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(queues.items(3).count(), 0);
}
