//! Run statistics: boot milestones timed from VMM start, the VMM's own steps around them
//! (the boot's phase breakdown), VM exits counted by reason and hypercalls counted by the
//! status they got.

use std::fmt;
use std::time::{Duration, Instant};

use abi::hypercall::HypercallStatus;

use crate::hypercall::Outcome;

/// VM exits that reached the VMM, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitCounts {
    pub console_write: u64,
    pub shutdown: u64,
    pub boot_progress: u64,
    /// Doorbell rings with an offset that names no call.
    pub unknown_call: u64,
    /// MMIO writes outside the doorbell window, or not 8 bytes wide (including writes
    /// to the read-only image).
    pub mmio_write: u64,
    pub mmio_read: u64,
    pub io_in: u64,
    pub io_out: u64,
    pub hlt: u64,
    /// KVM_RUN returning to let the VMM stop a vCPU (signal kicks).
    pub interrupted: u64,
    pub other: u64,
}

impl ExitCounts {
    pub fn total(&self) -> u64 {
        self.console_write
            + self.shutdown
            + self.boot_progress
            + self.unknown_call
            + self.mmio_write
            + self.mmio_read
            + self.io_in
            + self.io_out
            + self.hlt
            + self.interrupted
            + self.other
    }

    fn named(&self) -> [(&'static str, u64); 11] {
        [
            ("hypercall console_write", self.console_write),
            ("hypercall shutdown", self.shutdown),
            ("hypercall boot_progress", self.boot_progress),
            ("hypercall unknown", self.unknown_call),
            ("mmio write", self.mmio_write),
            ("mmio read", self.mmio_read),
            ("io in", self.io_in),
            ("io out", self.io_out),
            ("hlt", self.hlt),
            ("interrupted", self.interrupted),
            ("other", self.other),
        ]
    }
}

/// Hypercalls by how the VMM answered them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HypercallStatusCounts {
    pub success: u64,
    pub bad_version: u64,
    pub unknown_call: u64,
    pub bad_address: u64,
    pub bad_length: u64,
    pub bad_argument: u64,
    /// Request blocks not in guest RAM: nothing could be written back.
    pub dropped: u64,
}

impl HypercallStatusCounts {
    /// Counts one doorbell ring by its outcome.
    pub fn count(&mut self, outcome: &Outcome) {
        let slot = match outcome {
            Outcome::Dropped(_) => &mut self.dropped,
            Outcome::Answered { status, .. } => match status {
                HypercallStatus::Success => &mut self.success,
                HypercallStatus::BadVersion => &mut self.bad_version,
                HypercallStatus::UnknownCall => &mut self.unknown_call,
                HypercallStatus::BadAddress => &mut self.bad_address,
                HypercallStatus::BadLength => &mut self.bad_length,
                HypercallStatus::BadArgument => &mut self.bad_argument,
                // dispatch never answers Pending; were it to, the guest would see no
                // answer, as with a dropped block.
                HypercallStatus::Pending => &mut self.dropped,
            },
        };
        *slot += 1;
    }

    /// The refusals by reason, as `--stats` names them.
    fn rejections(&self) -> [(&'static str, u64); 6] {
        [
            ("bad version", self.bad_version),
            ("unknown call", self.unknown_call),
            ("bad address", self.bad_address),
            ("bad length", self.bad_length),
            ("bad argument", self.bad_argument),
            ("dropped (block not in RAM)", self.dropped),
        ]
    }

    /// Every hypercall counted.
    pub fn total(&self) -> u64 {
        self.answered() + self.dropped
    }

    /// Hypercalls answered with a status.
    pub fn answered(&self) -> u64 {
        self.success
            + self.bad_version
            + self.unknown_call
            + self.bad_address
            + self.bad_length
            + self.bad_argument
    }
}

/// What `--stats` reports. Times are measured from the start of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The first KVM_RUN of the boot vCPU.
    pub first_run: Option<Duration>,
    /// The exit that carried BootMarker::KernelEntered.
    pub kernel_entered: Option<Duration>,
    /// BootMarker::KernelReady.
    pub kernel_ready: Option<Duration>,
    /// BootMarker::UserModeEntered.
    pub user_mode_entered: Option<Duration>,
    /// The exit that ended the run (shutdown, crash or timeout).
    pub shutdown: Option<Duration>,
    pub exits: ExitCounts,
    /// Hypercalls answered with an error status, plus those dropped unanswered.
    pub rejected_hypercalls: u64,
    /// Every hypercall by the status it got (or dropped): what a hostile guest achieved.
    pub hypercall_statuses: HypercallStatusCounts,
    /// How the kernel ran.
    pub backend: Option<crate::KernelBackend>,
    /// With [`crate::ConsoleSink::Capture`], one mark per console write, in order: lets a
    /// caller count the exits between two lines the guest printed (`vmm bench` does).
    pub console_marks: Vec<ConsoleMark>,
    /// The VMM's own steps before the guest runs and after it stops, in order.
    pub host_steps: Vec<Step>,
}

/// A step of a run and when it ended, measured from the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub end: Duration,
}

/// Times the VMM's steps of one run: each [`Self::mark`] ends the step that began at the
/// previous mark (or at the start).
#[derive(Debug)]
pub struct StepClock {
    start: Instant,
    steps: Vec<Step>,
}

impl StepClock {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            steps: Vec::new(),
        }
    }

    /// Ends step `name` now.
    pub fn mark(&mut self, name: &'static str) {
        self.steps.push(Step {
            name,
            end: self.start.elapsed(),
        });
    }

    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }
}

/// One phase of the boot breakdown: what ran and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    pub name: &'static str,
    pub duration: Duration,
}

impl Stats {
    /// The run cut into consecutive phases, from the start of the run to the VMM's last
    /// step: the VMM's steps and the guest's milestones in the order they happened, each
    /// phase lasting from the previous milestone to its own. Phases whose milestone was
    /// never reached are left out (their time goes to the next phase).
    pub fn phases(&self) -> Vec<Phase> {
        let guest = [
            ("start vCPU thread, enter guest", self.first_run),
            ("guest: to kernel entry", self.kernel_entered),
            ("guest: kernel init", self.kernel_ready),
            ("guest: first process to user mode", self.user_mode_entered),
            ("guest: program to shutdown", self.shutdown),
        ];
        let mut ends: Vec<Step> = guest
            .into_iter()
            .filter_map(|(name, end)| Some(Step { name, end: end? }))
            .chain(self.host_steps.iter().copied())
            .collect();
        // Stable: a host step and a milestone at the same instant keep this order.
        ends.sort_by_key(|step| step.end);
        let mut previous = Duration::ZERO;
        ends.into_iter()
            .map(|step| {
                let duration = step.end.saturating_sub(previous);
                previous = previous.max(step.end);
                Phase {
                    name: step.name,
                    duration,
                }
            })
            .collect()
    }
}

/// A console write seen by the VMM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsoleMark {
    /// Where its bytes start in the captured console output.
    pub offset: usize,
    /// VM exits (all vCPUs, all reasons) counted before this write's own exit.
    pub exits_before: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |d: Option<Duration>| match d {
            Some(d) => format!("{} us", d.as_micros()),
            None => "-".to_string(),
        };
        if let Some(backend) = self.backend {
            writeln!(f, "stats: kernel backend: {backend}")?;
        }
        writeln!(
            f,
            "stats: vmm start -> first KVM_RUN:    {}",
            time(self.first_run)
        )?;
        writeln!(
            f,
            "stats: vmm start -> kernel entered:   {}",
            time(self.kernel_entered)
        )?;
        writeln!(
            f,
            "stats: vmm start -> kernel ready:     {}",
            time(self.kernel_ready)
        )?;
        writeln!(
            f,
            "stats: vmm start -> user mode:        {}",
            time(self.user_mode_entered)
        )?;
        writeln!(
            f,
            "stats: vmm start -> shutdown:         {}",
            time(self.shutdown)
        )?;
        let phases = self.phases();
        if !phases.is_empty() {
            writeln!(f, "stats: phases:")?;
            for phase in &phases {
                writeln!(
                    f,
                    "stats:   {:<36} {:>6} us",
                    phase.name,
                    phase.duration.as_micros()
                )?;
            }
        }
        writeln!(f, "stats: vm exits: {}", self.exits.total())?;
        for (name, count) in self.exits.named() {
            if count > 0 {
                writeln!(f, "stats:   {name}: {count}")?;
            }
        }
        write!(
            f,
            "stats: rejected hypercalls: {}",
            self.rejected_hypercalls
        )?;
        for (name, count) in self.hypercall_statuses.rejections() {
            if count > 0 {
                write!(f, "\nstats:   {name}: {count}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_milestones_and_nonzero_exits() {
        let stats = Stats {
            first_run: Some(Duration::from_micros(300)),
            shutdown: Some(Duration::from_micros(4000)),
            exits: ExitCounts {
                console_write: 2,
                shutdown: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let text = stats.to_string();
        assert!(text.contains("first KVM_RUN:    300 us"));
        assert!(text.contains("user mode:        -"));
        assert!(text.contains("vm exits: 3"));
        assert!(text.contains("hypercall console_write: 2"));
        assert!(!text.contains("io in"));
        assert!(text.ends_with("rejected hypercalls: 0"), "{text}");
    }

    #[test]
    fn phases_interleave_host_steps_and_guest_milestones() {
        let us = Duration::from_micros;
        let step = |name, end| Step { name, end: us(end) };
        let stats = Stats {
            first_run: Some(us(300)),
            kernel_entered: Some(us(450)),
            user_mode_entered: Some(us(900)),
            shutdown: Some(us(1000)),
            host_steps: vec![
                step("open image", 100),
                step("create VM", 250),
                step("stop vCPUs", 1100),
                step("destroy VM", 1600),
            ],
            ..Default::default()
        };
        let phases: Vec<(&str, u128)> = stats
            .phases()
            .iter()
            .map(|phase| (phase.name, phase.duration.as_micros()))
            .collect();
        assert_eq!(
            phases,
            [
                ("open image", 100),
                ("create VM", 150),
                ("start vCPU thread, enter guest", 50),
                ("guest: to kernel entry", 150),
                // No KernelReady marker: its time goes to the next phase.
                ("guest: first process to user mode", 450),
                ("guest: program to shutdown", 100),
                ("stop vCPUs", 100),
                ("destroy VM", 500),
            ]
        );
        let text = stats.to_string();
        assert!(text.contains("stats: phases:\n"), "{text}");
        assert!(text.contains("stats:   destroy VM"), "{text}");
        assert!(text.contains("500 us\n"), "{text}");
        assert!(Stats::default().phases().is_empty());
        assert!(!Stats::default().to_string().contains("phases"));
    }

    #[test]
    fn step_clock_marks_steps_in_order() {
        let mut clock = StepClock::new(Instant::now());
        clock.mark("first");
        clock.mark("second");
        let steps = clock.into_steps();
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[0].name, steps[1].name), ("first", "second"));
        assert!(steps[0].end <= steps[1].end);
    }

    #[test]
    fn hypercalls_are_counted_by_status() {
        use crate::hypercall::Error;
        let mut counts = HypercallStatusCounts::default();
        let answered = |status| Outcome::Answered {
            call: None,
            status,
            request: None,
        };
        counts.count(&answered(HypercallStatus::Success));
        counts.count(&answered(HypercallStatus::BadAddress));
        counts.count(&answered(HypercallStatus::BadAddress));
        counts.count(&Outcome::Dropped(Error::BlockNotInRam(1 << 40)));
        assert_eq!(
            counts,
            HypercallStatusCounts {
                success: 1,
                bad_address: 2,
                dropped: 1,
                ..Default::default()
            }
        );
        assert_eq!((counts.answered(), counts.total()), (3, 4));
        let stats = Stats {
            rejected_hypercalls: 3,
            hypercall_statuses: counts,
            ..Default::default()
        };
        let text = stats.to_string();
        assert!(
            text.ends_with(
                "rejected hypercalls: 3\nstats:   bad address: 2\n\
                 stats:   dropped (block not in RAM): 1"
            ),
            "{text}"
        );
    }
}
