//! The ready queues of a processor (`KPRCB.DispatcherReadyListHead` and `ReadySummary`):
//! one FIFO list per priority and a 32-bit summary with bit `p` set while list `p` holds a
//! thread, so the highest-priority ready thread is found with one bit scan.
//!
//! Pure logic over any item type: unit-tested on the host by `guest-kernel/host-tests`.

use alloc::collections::VecDeque;

/// Number of priority levels (0-31).
pub const PRIORITY_LEVELS: usize = 32;
/// Room each list keeps for ready threads ([`ReadyQueues::reserve`]); a list emptied with
/// more gives the rest back: a burst of ready threads must not keep pool after it has run,
/// and the pool the queues hold must not depend on which processors ran threads so far.
const KEPT_CAPACITY: usize = 16;

/// Ready threads by priority.
#[derive(Debug)]
pub struct ReadyQueues<T> {
    lists: [VecDeque<T>; PRIORITY_LEVELS],
    summary: u32,
}

impl<T> ReadyQueues<T> {
    pub const fn new() -> Self {
        Self {
            lists: [const { VecDeque::new() }; PRIORITY_LEVELS],
            summary: 0,
        }
    }

    /// Gives every list its kept room, once per processor when it starts.
    pub fn reserve(&mut self) {
        for list in &mut self.lists {
            list.reserve(KEPT_CAPACITY);
        }
    }

    /// Queues `item` at `priority` (`KiReadyThread` / `KxQueueReadyThread`): at the head
    /// when it was preempted (it resumes before its peers), else at the tail.
    pub fn insert(&mut self, priority: u8, item: T, at_head: bool) {
        let list = &mut self.lists[usize::from(priority) % PRIORITY_LEVELS];
        if at_head {
            list.push_front(item);
        } else {
            list.push_back(item);
        }
        self.summary |= 1 << (priority as usize % PRIORITY_LEVELS);
    }

    /// The highest priority with a ready item (`KiFindReadyThread`'s bit scan).
    pub fn highest_priority(&self) -> Option<u8> {
        (self.summary != 0).then(|| 31 - self.summary.leading_zeros() as u8)
    }

    /// The items ready at `priority`, first to run first.
    pub fn items(&self, priority: u8) -> impl Iterator<Item = &T> {
        self.lists[usize::from(priority) % PRIORITY_LEVELS].iter()
    }

    /// Takes the first item at `priority` that `matches` out of its list (a ready thread
    /// whose priority changes moves to another list).
    pub fn remove(&mut self, priority: u8, matches: impl Fn(&T) -> bool) -> Option<T> {
        let index = usize::from(priority) % PRIORITY_LEVELS;
        let list = &mut self.lists[index];
        let item = list.remove(list.iter().position(matches)?)?;
        if list.is_empty() {
            self.summary &= !(1 << index);
            list.shrink_to(KEPT_CAPACITY);
        }
        Some(item)
    }

    /// Takes the first item of the highest non-empty list, with its priority.
    pub fn pop_highest(&mut self) -> Option<(u8, T)> {
        let priority = self.highest_priority()?;
        let list = &mut self.lists[usize::from(priority)];
        let item = list.pop_front()?;
        if list.is_empty() {
            self.summary &= !(1 << priority);
            list.shrink_to(KEPT_CAPACITY);
        }
        Some((priority, item))
    }
}

impl<T> Default for ReadyQueues<T> {
    fn default() -> Self {
        Self::new()
    }
}
