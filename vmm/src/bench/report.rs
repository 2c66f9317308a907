//! `vmm bench` results: sample summaries (percentiles, ratio), the table printed on stdout,
//! the JSON written with `--json` and the SVG drawn with `--plot`.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::Stats;

/// Percentiles of one side's samples, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub min: f64,
    pub p1: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p99: f64,
    pub max: f64,
}

/// The nearest-rank percentile `p` (0..=100) of sorted samples; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Summarizes samples (any order); `None` when there are none.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |p| percentile(&sorted, p);
    Some(Summary {
        min: *sorted.first()?,
        p1: at(1.0)?,
        p25: at(25.0)?,
        median: at(50.0)?,
        p75: at(75.0)?,
        p99: at(99.0)?,
        max: *sorted.last()?,
    })
}

/// Guest median over host median; `None` without a positive host median.
pub fn ratio(guest: Option<&Summary>, host: Option<&Summary>) -> Option<f64> {
    match (guest, host) {
        (Some(g), Some(h)) if h.median > 0.0 => Some(g.median / h.median),
        _ => None,
    }
}

/// TSC cycles to nanoseconds at `tsc_khz`.
pub fn cycles_to_ns(cycles: f64, tsc_khz: u32) -> f64 {
    cycles * 1e6 / f64::from(tsc_khz)
}

/// The machine the bench ran on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub tsc_khz: u32,
    /// vCPUs given to the guest.
    pub cpus: u32,
    /// "kvm-pvm" or "kvm".
    pub kvm: String,
    /// The kernel backend the guest ran in.
    pub backend: String,
}

/// One metric's result.
#[derive(Clone, Debug)]
pub struct Metric {
    pub name: String,
    pub guest: Option<Summary>,
    pub host: Option<Summary>,
    /// The platform's floor for the operation (ns): the least the smallest guest path can
    /// cost here; `None` where none applies.
    pub floor: Option<f64>,
    /// Samples per side.
    pub iterations: u64,
    /// VM exits seen during the measured loop (warm-up included), markers excluded.
    pub exits: Option<u64>,
}

impl Metric {
    pub fn ratio(&self) -> Option<f64> {
        ratio(self.guest.as_ref(), self.host.as_ref())
    }

    /// Guest median over the floor: how far the kernel's path is from the platform's least.
    pub fn floor_ratio(&self) -> Option<f64> {
        match (self.guest, self.floor) {
            (Some(guest), Some(floor)) if floor > 0.0 => Some(guest.median / floor),
            _ => None,
        }
    }
}

/// The platform costs the floors are built from, in ns (see `bench::PlatformCosts`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Floors {
    pub round_trip_ns: f64,
    pub user_gs_base_load_ns: f64,
    pub fpu_save_restore_ns: f64,
    pub cr3_switch_ns: f64,
    /// Whether the guest tags translations with PCIDs, so that loading CR3 keeps them.
    pub pcids: bool,
}

/// Boot timings and exits of the `hello` runs: the milestones and exits of the last run,
/// the phase breakdown as medians over all of them, and the floor guest's runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Boot {
    pub first_run_us: Option<u64>,
    pub kernel_entered_us: Option<u64>,
    pub kernel_ready_us: Option<u64>,
    pub user_mode_entered_us: Option<u64>,
    pub shutdown_us: Option<u64>,
    pub exits: u64,
    pub exits_by_reason: BTreeMap<String, u64>,
    pub rejected_hypercalls: u64,
    /// Runs the phases are medians of.
    pub runs: usize,
    /// The run cut into consecutive phases (see `Stats::phases`), in order.
    pub phases: Vec<BootPhase>,
    /// The smallest guest booted the same way (`boot_to_exit` runs only).
    pub floor: Option<BootFloor>,
}

/// One phase of the boot breakdown: its median over the runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BootPhase {
    pub name: String,
    pub median_us: f64,
}

/// The floor guest's runs (`bench::floor`): wall time, exits and phases.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BootFloor {
    pub runs: usize,
    pub wall_us_median: f64,
    /// VM exits of the last run: the shutdown hypercall alone.
    pub exits: u64,
    pub phases: Vec<BootPhase>,
}

impl BootFloor {
    /// Summarizes the floor's runs: wall times in ns and each run's statistics.
    pub fn from_runs(walls_ns: &[f64], runs: &[Stats]) -> Self {
        Self {
            runs: runs.len(),
            wall_us_median: summarize(walls_ns).map_or(0.0, |s| round(s.median / 1e3)),
            exits: runs.last().map_or(0, |stats| stats.exits.total()),
            phases: median_phases(runs),
        }
    }
}

/// Each phase's median over `runs`, in the order the phases first appear.
pub fn median_phases(runs: &[Stats]) -> Vec<BootPhase> {
    let mut order: Vec<&'static str> = Vec::new();
    let mut samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for phase in runs.iter().flat_map(Stats::phases) {
        let durations = samples.entry(phase.name).or_insert_with(|| {
            order.push(phase.name);
            Vec::new()
        });
        durations.push(phase.duration.as_nanos() as f64 / 1e3);
    }
    order
        .into_iter()
        .map(|name| BootPhase {
            name: name.into(),
            median_us: summarize(&samples[name]).map_or(0.0, |s| round(s.median)),
        })
        .collect()
}

impl Boot {
    /// Summarizes `hello` runs (at least one): see the type's docs.
    pub fn from_runs(runs: &[Stats]) -> Self {
        let Some(stats) = runs.last() else {
            return Self::default();
        };
        let us = |d: Option<std::time::Duration>| d.map(|d| d.as_micros() as u64);
        let e = &stats.exits;
        let exits_by_reason = [
            ("console_write", e.console_write),
            ("shutdown", e.shutdown),
            ("boot_progress", e.boot_progress),
            ("unknown_call", e.unknown_call),
            ("mmio_write", e.mmio_write),
            ("mmio_read", e.mmio_read),
            ("io_in", e.io_in),
            ("io_out", e.io_out),
            ("hlt", e.hlt),
            ("interrupted", e.interrupted),
            ("other", e.other),
        ]
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(name, n)| (name.to_string(), n))
        .collect();
        Self {
            first_run_us: us(stats.first_run),
            kernel_entered_us: us(stats.kernel_entered),
            kernel_ready_us: us(stats.kernel_ready),
            user_mode_entered_us: us(stats.user_mode_entered),
            shutdown_us: us(stats.shutdown),
            exits: e.total(),
            exits_by_reason,
            rejected_hypercalls: stats.rejected_hypercalls,
            runs: runs.len(),
            phases: median_phases(runs),
            floor: None,
        }
    }
}

/// Everything one `vmm bench` run measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub machine: Machine,
    pub metrics: Vec<Metric>,
    pub boot: Boot,
    /// `None` when no guest metric ran.
    pub floors: Option<Floors>,
}

#[derive(Serialize)]
struct JsonMetric<'a> {
    name: &'a str,
    guest_ns_median: Option<f64>,
    guest_ns_p99: Option<f64>,
    host_ns_median: Option<f64>,
    host_ns_p99: Option<f64>,
    ratio: Option<f64>,
    iterations: u64,
    exits: Option<u64>,
    floor_ns: Option<f64>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    machine: &'a Machine,
    metrics: Vec<JsonMetric<'a>>,
    boot: &'a Boot,
    floors: Option<Floors>,
}

impl Report {
    /// Metrics whose measured loops saw exits.
    pub fn exits_seen(&self) -> Vec<&Metric> {
        self.metrics
            .iter()
            .filter(|m| m.exits.is_some_and(|e| e > 0))
            .collect()
    }

    /// The `--json` document.
    pub fn to_json(&self) -> String {
        let metrics = self
            .metrics
            .iter()
            .map(|m| JsonMetric {
                name: &m.name,
                guest_ns_median: m.guest.map(|s| round(s.median)),
                guest_ns_p99: m.guest.map(|s| round(s.p99)),
                host_ns_median: m.host.map(|s| round(s.median)),
                host_ns_p99: m.host.map(|s| round(s.p99)),
                ratio: m.ratio().map(|r| (r * 1000.0).round() / 1000.0),
                iterations: m.iterations,
                exits: m.exits,
                floor_ns: m.floor.map(round),
            })
            .collect();
        let json = JsonReport {
            machine: &self.machine,
            metrics,
            boot: &self.boot,
            floors: self.floors.map(|f| Floors {
                round_trip_ns: round(f.round_trip_ns),
                user_gs_base_load_ns: round(f.user_gs_base_load_ns),
                fpu_save_restore_ns: round(f.fpu_save_restore_ns),
                cr3_switch_ns: round(f.cr3_switch_ns),
                pcids: f.pcids,
            }),
        };
        // Plain structs of numbers and strings always serialize.
        serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
    }
}

/// A time (ns or us) to one decimal.
fn round(ns: f64) -> f64 {
    (ns * 10.0).round() / 10.0
}

/// A duration in ns for the table: one decimal below 100 ns, whole ns above.
pub fn format_ns(ns: Option<f64>) -> String {
    match ns {
        None => "-".into(),
        Some(ns) if ns < 100.0 => format!("{ns:.1}"),
        Some(ns) => format!("{ns:.0}"),
    }
}

impl fmt::Display for Report {
    /// The table: one row per metric.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(
            f,
            "{} | TSC {} kHz | {} | {} | {} vCPU(s)",
            m.cpu_model, m.tsc_khz, m.kvm, m.backend, m.cpus
        )?;
        writeln!(
            f,
            "{:<20} {:>14} {:>14} {:>10} {:>14} {:>14} {:>10} {:>11} {:>6}",
            "metric",
            "guest med ns",
            "guest p99 ns",
            "floor ns",
            "host med ns",
            "host p99 ns",
            "guest/host",
            "guest/floor",
            "exits"
        )?;
        let times = |r: Option<f64>| r.map_or_else(|| "-".to_string(), |r| format!("{r:.2}"));
        for metric in &self.metrics {
            writeln!(
                f,
                "{:<20} {:>14} {:>14} {:>10} {:>14} {:>14} {:>10} {:>11} {:>6}",
                metric.name,
                format_ns(metric.guest.map(|s| s.median)),
                format_ns(metric.guest.map(|s| s.p99)),
                format_ns(metric.floor),
                format_ns(metric.host.map(|s| s.median)),
                format_ns(metric.host.map(|s| s.p99)),
                times(metric.ratio()),
                times(metric.floor_ratio()),
                metric
                    .exits
                    .map_or_else(|| "-".to_string(), |e| e.to_string()),
            )?;
        }
        if let Some(floors) = &self.floors {
            writeln!(
                f,
                "address-space switches: {}",
                if floors.pcids {
                    "PCIDs in use, a CR3 load keeps the translations"
                } else {
                    "no PCIDs, every CR3 load flushes the TLB"
                }
            )?;
        }
        self.write_boot_phases(f)
    }
}

impl Report {
    /// The boot breakdown under the table: each phase's median for `hello` and, after a
    /// `boot_to_exit` run, for the floor guest.
    fn write_boot_phases(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let boot = &self.boot;
        if boot.phases.is_empty() {
            return Ok(());
        }
        let floor = boot.floor.as_ref();
        writeln!(
            f,
            "\nboot phases, median us of {} run(s){}",
            boot.runs,
            if floor.is_some() {
                " each; floor: the smallest guest booted the same way"
            } else {
                ""
            }
        )?;
        writeln!(f, "{:<36} {:>10} {:>10}", "phase", "hello", "floor")?;
        let floor_phase = |name: &str| {
            floor
                .and_then(|floor| floor.phases.iter().find(|p| p.name == name))
                .map(|p| p.median_us)
        };
        let us = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
        for phase in &boot.phases {
            writeln!(
                f,
                "{:<36} {:>10} {:>10}",
                phase.name,
                us(Some(phase.median_us)),
                us(floor_phase(&phase.name))
            )?;
        }
        Ok(())
    }
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Plot geometry.
const WIDTH: f64 = 960.0;
const LEFT: f64 = 170.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 60.0;
const STRIP: f64 = 16.0;
const ROW: f64 = 52.0;
const GUEST_COLOUR: &str = "#3b6fb6";
const HOST_COLOUR: &str = "#e07b28";
const FLOOR_COLOUR: &str = "#c0392b";

/// The `--plot` SVG: per metric, guest above host, a whisker from p1 to p99, a box from
/// p25 to p75 and a tick at the median, on one logarithmic nanosecond axis; the floor is a
/// dashed line across the guest's strip.
pub fn svg(report: &Report) -> String {
    let rows: Vec<&Metric> = report
        .metrics
        .iter()
        .filter(|m| m.guest.is_some() || m.host.is_some())
        .collect();
    let values = rows
        .iter()
        .flat_map(|m| [m.guest, m.host])
        .flatten()
        .flat_map(|s| [s.p1, s.p99])
        .chain(rows.iter().filter_map(|m| m.floor))
        .filter(|v| *v > 0.0);
    let (low, high) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (low, high) = if low.is_finite() && high > 0.0 {
        (
            10f64.powf(low.log10().floor()),
            10f64.powf(high.log10().ceil()),
        )
    } else {
        (1.0, 10.0)
    };
    let high = if high <= low { low * 10.0 } else { high };
    let span = WIDTH - LEFT - RIGHT;
    let x = |ns: f64| {
        let ns = ns.clamp(low, high);
        LEFT + (ns.log10() - low.log10()) / (high.log10() - low.log10()) * span
    };
    let height = TOP + ROW * rows.len() as f64 + 40.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14">vmm bench: latency per operation (ns, log scale); {} | {}</text>"#,
        escape(&report.machine.cpu_model),
        escape(&report.machine.backend)
    );
    let _ = writeln!(
        out,
        r#"<rect x="10" y="32" width="12" height="10" fill="{GUEST_COLOUR}"/><text x="26" y="41">guest</text><rect x="80" y="32" width="12" height="10" fill="{HOST_COLOUR}"/><text x="96" y="41">host</text><line x1="140" y1="32" x2="140" y2="42" stroke="{FLOOR_COLOUR}" stroke-width="2" stroke-dasharray="3,2"/><text x="146" y="41">floor</text><text x="200" y="41">whisker p1-p99, box p25-p75, tick median</text>"#
    );
    // Decade grid lines.
    let bottom = TOP + ROW * rows.len() as f64;
    let mut decade = low;
    while decade <= high * 1.0001 {
        let gx = x(decade);
        let _ = writeln!(
            out,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{bottom}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 16.0,
            decade_label(decade)
        );
        decade *= 10.0;
    }
    for (index, metric) in rows.iter().enumerate() {
        let top = TOP + ROW * index as f64 + 6.0;
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}">{}</text>"#,
            top + STRIP + 4.0,
            escape(&metric.name)
        );
        for (offset, summary, colour) in [
            (0.0, metric.guest, GUEST_COLOUR),
            (STRIP + 4.0, metric.host, HOST_COLOUR),
        ] {
            let Some(s) = summary else { continue };
            let y = top + offset;
            let mid = y + STRIP / 2.0;
            let _ = writeln!(
                out,
                r#"<line x1="{:.1}" y1="{mid:.1}" x2="{:.1}" y2="{mid:.1}" stroke="{colour}"/><rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{STRIP}" fill="{colour}" fill-opacity="0.5" stroke="{colour}"/><line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{:.1}" stroke="black" stroke-width="2"/>"#,
                x(s.p1),
                x(s.p99),
                x(s.p25),
                (x(s.p75) - x(s.p25)).max(1.0),
                x(s.median),
                x(s.median),
                y + STRIP
            );
        }
        if let Some(floor) = metric.floor {
            let fx = x(floor);
            let _ = writeln!(
                out,
                r#"<line x1="{fx:.1}" y1="{:.1}" x2="{fx:.1}" y2="{:.1}" stroke="{FLOOR_COLOUR}" stroke-width="2" stroke-dasharray="3,2"/>"#,
                top - 2.0,
                top + STRIP + 2.0
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn decade_label(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.0} s", n / 1e9),
        n if n >= 1e6 => format!("{:.0} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.0} us", n / 1e3),
        n if n >= 1.0 => format!("{n:.0} ns"),
        n => format!("{n} ns"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Step;

    fn summary(median: f64) -> Summary {
        Summary {
            min: median / 2.0,
            p1: median / 2.0,
            p25: median * 0.9,
            median,
            p75: median * 1.1,
            p99: median * 2.0,
            max: median * 3.0,
        }
    }

    fn report() -> Report {
        Report {
            machine: Machine {
                cpu_model: "Test <CPU>".into(),
                tsc_khz: 2_600_000,
                cpus: 1,
                kvm: "kvm-pvm".into(),
                backend: "kvm-pvm native".into(),
            },
            metrics: vec![
                Metric {
                    name: "null_syscall".into(),
                    guest: Some(summary(300.0)),
                    host: Some(summary(120.0)),
                    floor: Some(250.0),
                    iterations: 100,
                    exits: Some(0),
                },
                Metric {
                    name: "boot_to_exit".into(),
                    guest: Some(summary(15e6)),
                    host: None,
                    floor: None,
                    iterations: 20,
                    exits: None,
                },
                Metric {
                    name: "process_switch".into(),
                    guest: None,
                    host: None,
                    floor: None,
                    iterations: 0,
                    exits: None,
                },
            ],
            boot: Boot {
                runs: 20,
                phases: vec![
                    BootPhase {
                        name: "create VM".into(),
                        median_us: 230.0,
                    },
                    BootPhase {
                        name: "guest: kernel init".into(),
                        median_us: 200.0,
                    },
                ],
                floor: Some(BootFloor {
                    runs: 20,
                    wall_us_median: 1500.0,
                    exits: 1,
                    phases: vec![BootPhase {
                        name: "create VM".into(),
                        median_us: 220.0,
                    }],
                }),
                ..Boot::default()
            },
            floors: Some(Floors {
                round_trip_ns: 250.04,
                user_gs_base_load_ns: 2000.0,
                fpu_save_restore_ns: 40.0,
                cr3_switch_ns: 3000.0,
                pcids: false,
            }),
        }
    }

    #[test]
    fn boot_phases_are_medians_in_first_seen_order() {
        let run = |open: u64, guest: u64| Stats {
            first_run: Some(Duration::from_micros(open + 10)),
            shutdown: Some(Duration::from_micros(open + 10 + guest)),
            host_steps: vec![Step {
                name: "open image",
                end: Duration::from_micros(open),
            }],
            ..Stats::default()
        };
        let runs = [run(100, 1000), run(300, 3000), run(200, 2000)];
        let phases = median_phases(&runs);
        let medians: Vec<(&str, f64)> = phases
            .iter()
            .map(|p| (p.name.as_str(), p.median_us))
            .collect();
        assert_eq!(
            medians,
            [
                ("open image", 200.0),
                ("start vCPU thread, enter guest", 10.0),
                ("guest: program to shutdown", 2000.0),
            ]
        );
        let boot = Boot::from_runs(&runs);
        assert_eq!((boot.runs, boot.shutdown_us), (3, Some(2210)));
        let floor = BootFloor::from_runs(&[2e6, 1e6, 3e6], &runs);
        assert_eq!((floor.runs, floor.wall_us_median), (3, 2000.0));
        assert!(Boot::from_runs(&[]).phases.is_empty());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&sorted, 100.0), Some(100.0));
        assert_eq!(percentile(&sorted, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 5.0));
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn ratio_needs_both_sides() {
        let (g, h) = (summary(300.0), summary(120.0));
        assert_eq!(ratio(Some(&g), Some(&h)), Some(2.5));
        assert_eq!(ratio(Some(&g), None), None);
        assert_eq!(ratio(None, Some(&h)), None);
        assert_eq!(ratio(Some(&g), Some(&summary(0.0))), None);
        assert_eq!(cycles_to_ns(2600.0, 2_600_000), 1000.0);
    }

    #[test]
    fn table_lists_each_metric() {
        let text = report().to_string();
        assert!(text.contains("kvm-pvm native"));
        assert!(text.contains("address-space switches: no PCIDs, every CR3 load flushes the TLB"));
        let row = text
            .lines()
            .find(|l| l.starts_with("null_syscall"))
            .unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "null_syscall",
                "300",
                "600",
                "250",
                "120",
                "240",
                "2.50",
                "1.20",
                "0"
            ]
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("boot_to_exit"))
            .unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "boot_to_exit",
                "15000000",
                "30000000",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-"
            ]
        );
        let phase = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap()
                .split_whitespace()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
        };
        assert!(
            text.contains("boot phases, median us of 20 run(s) each"),
            "{text}"
        );
        assert_eq!(phase("create VM"), ["220", "230"]);
        assert_eq!(phase("guest: kernel init"), ["-", "200"]);
        assert_eq!(format_ns(Some(12.34)), "12.3");
        assert_eq!(format_ns(None), "-");
    }

    #[test]
    fn json_has_the_issue_shape() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(json["machine"]["tsc_khz"], 2_600_000);
        assert_eq!(json["machine"]["kvm"], "kvm-pvm");
        let metric = &json["metrics"][0];
        assert_eq!(metric["name"], "null_syscall");
        assert_eq!(metric["guest_ns_median"], 300.0);
        assert_eq!(metric["ratio"], 2.5);
        assert_eq!(metric["exits"], 0);
        assert_eq!(metric["floor_ns"], 250.0);
        assert!(json["metrics"][1]["floor_ns"].is_null());
        assert_eq!(json["floors"]["round_trip_ns"], 250.0);
        assert_eq!(json["floors"]["cr3_switch_ns"], 3000.0);
        assert_eq!(json["floors"]["pcids"], false);
        assert!(json["metrics"][1]["host_ns_median"].is_null());
        assert!(json["metrics"][1]["ratio"].is_null());
        assert!(json["boot"].is_object());
        assert_eq!(json["boot"]["phases"][1]["name"], "guest: kernel init");
        assert_eq!(json["boot"]["phases"][1]["median_us"], 200.0);
        assert_eq!(json["boot"]["floor"]["wall_us_median"], 1500.0);
        assert_eq!(json["boot"]["floor"]["exits"], 1);
    }

    #[test]
    fn svg_draws_available_metrics() {
        let svg = svg(&report());
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(">null_syscall<") && svg.contains(">boot_to_exit<"));
        assert!(!svg.contains(">process_switch<"));
        assert!(svg.contains("Test &lt;CPU&gt;"));
        assert!(svg.contains(">100 ns<") && svg.contains(">1 us<"));
        // The legend's floor line and null_syscall's, nothing for the metrics without one.
        assert_eq!(
            svg.matches(&format!("stroke=\"{FLOOR_COLOUR}\"")).count(),
            2
        );
    }
}
