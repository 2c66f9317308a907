//! Resource exhaustion on the real guest.img: `exhaust` runs a child per resource that
//! takes handles, threads, processes or memory until the kernel refuses. Each child must
//! end with the refusal, not crash or hang the kernel; once it has gone, every counter is
//! back where it was and processes can still be created.

mod common;

use std::time::Duration;

use abi::NtStatus;
use common::{assert_exited, boot_program};
use vmm::PvmMode;

#[test]
fn every_resource_runs_out_with_a_refusal_and_comes_back() {
    let outcome = boot_program(&["exhaust"], PvmMode::Native, Duration::from_secs(240));
    let console = outcome.console_text();
    // Handles and threads are refused at the pool reserve; processes there or when one of
    // their pool allocations finds no room; committed memory at the commit limit.
    let pool = [NtStatus::INSUFFICIENT_RESOURCES].as_slice();
    let pool_or_allocation = [NtStatus::INSUFFICIENT_RESOURCES, NtStatus::NO_MEMORY].as_slice();
    for (resource, refusals) in [
        ("handles", pool),
        ("threads", pool),
        ("processes", pool_or_allocation),
        ("memory", [NtStatus::COMMITMENT_LIMIT].as_slice()),
    ] {
        let found = refusals.iter().any(|refusal| {
            console.contains(&format!(
                "exhaust: {resource}: child ended with {refusal}; counters restored; \
                 processes still created"
            ))
        });
        assert!(
            found,
            "{resource} did not end with {refusals:?}:\n{console}"
        );
    }
    for (resource, at_least) in [
        ("handles", 10_000),
        ("threads", 100),
        ("processes", 50),
        ("memory", 100),
    ] {
        let took = console
            .lines()
            .find_map(|line| {
                let rest = line.strip_prefix("exhaust: took ")?;
                let (count, _) = rest.split_once(&format!(" {resource} before "))?;
                count.parse::<u64>().ok()
            })
            .unwrap_or_else(|| panic!("no count for {resource}:\n{console}"));
        assert!(took >= at_least, "only {took} {resource}:\n{console}");
    }
    assert!(console.contains("exhaust: 0 wrong"), "{console}");
    assert_exited(&outcome, NtStatus::SUCCESS);
}

#[test]
fn an_unknown_resource_is_refused() {
    let outcome = boot_program(
        &["exhaust", "disks"],
        PvmMode::Native,
        Duration::from_secs(30),
    );
    assert!(
        outcome.console_text().contains("unknown resource 'disks'"),
        "{}",
        outcome.console_text()
    );
    assert_exited(&outcome, NtStatus::INVALID_PARAMETER);
}
