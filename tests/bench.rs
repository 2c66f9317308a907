//! Runs `vmm bench` on the real guest.img (built by scripts/build.sh) with few iterations
//! and checks the JSON (metrics, floors, the boot breakdown and its floor), the table and
//! the plot. Never asserts a speed.

mod common;

use std::process::Command;

use common::guest_image;

const ITERATIONS: u64 = 200;

#[test]
fn bench_reports_every_metric_without_exits() {
    let dir = std::env::temp_dir().join(format!("vmm-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json_path, svg_path) = (dir.join("bench.json"), dir.join("bench.svg"));
    let output = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .arg("bench")
        .arg(guest_image())
        .args(["--iterations", &ITERATIONS.to_string(), "--json"])
        .arg(&json_path)
        .arg("--plot")
        .arg(&svg_path)
        .output()
        .expect("cannot start vmm");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("bench: thread_switch: guest"), "{stderr}");
    assert!(stderr.contains("bench: floors"), "{stderr}");
    assert!(stdout.contains("floor ns"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let machine = &json["machine"];
    assert!(machine["tsc_khz"].as_u64().unwrap() > 0, "{machine}");
    assert_eq!(machine["cpus"], 1);
    assert!(["kvm", "kvm-pvm"].contains(&machine["kvm"].as_str().unwrap()));
    assert!(machine["cpu_model"].is_string() && machine["backend"].is_string());
    check_boot(&json["boot"], &stdout);
    let floors = &json["floors"];
    for cost in [
        "round_trip_ns",
        "user_gs_base_load_ns",
        "fpu_save_restore_ns",
        "cr3_switch_ns",
    ] {
        assert!(floors[cost].as_f64().is_some_and(|v| v > 0.0), "{floors}");
    }

    let metrics = json["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "null_syscall",
            "thread_switch",
            "process_switch",
            "thread_create_exit",
            "process_create_exit",
            "yield",
            "boot_to_exit"
        ]
    );
    for metric in metrics {
        let name = metric["name"].as_str().unwrap();
        assert!(stdout.contains(name), "{name} not in the table:\n{stdout}");
        let positive = |key: &str| metric[key].as_f64().is_some_and(|v| v > 0.0);
        assert!(
            positive("guest_ns_median") && positive("guest_ns_p99"),
            "{metric}"
        );
        if name == "boot_to_exit" {
            assert_eq!(metric["iterations"], ITERATIONS.min(20), "{metric}");
            assert!(positive("floor_ns"), "{metric}");
            assert!(metric["host_ns_median"].is_null(), "{metric}");
            continue;
        }
        assert!(positive("floor_ns"), "{metric}");
        assert!(
            positive("host_ns_median") && positive("host_ns_p99"),
            "{metric}"
        );
        assert!(positive("ratio"), "{metric}");
        assert_eq!(metric["iterations"], ITERATIONS, "{metric}");
        assert_eq!(metric["exits"], 0, "{metric}");
    }

    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The boot object: the last run's milestones and exits, the phase breakdown (the VMM's
/// steps and the guest's milestones, in order) and the floor guest's runs, all in the table.
fn check_boot(boot: &serde_json::Value, table: &str) {
    assert!(boot["exits"].as_u64().unwrap() > 0, "{boot}");
    assert_eq!(boot["runs"], ITERATIONS.min(20), "{boot}");
    let names = |phases: &serde_json::Value| -> Vec<String> {
        phases
            .as_array()
            .unwrap()
            .iter()
            .map(|phase| {
                assert!(phase["median_us"].as_f64().unwrap() >= 0.0, "{phase}");
                phase["name"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let hello = names(&boot["phases"]);
    for (earlier, later) in [
        ("create VM", "guest: kernel init"),
        ("guest: to kernel entry", "guest: kernel init"),
        ("guest: kernel init", "guest: first process to user mode"),
        ("guest: program to shutdown", "destroy VM"),
    ] {
        let at = |name| hello.iter().position(|n| n == name);
        assert!(
            at(earlier) < at(later) && at(earlier).is_some(),
            "{hello:?}"
        );
    }
    let floor = &boot["floor"];
    assert_eq!(floor["runs"], ITERATIONS.min(20), "{floor}");
    assert!(floor["wall_us_median"].as_f64().unwrap() > 0.0, "{floor}");
    assert_eq!(
        floor["exits"], 1,
        "the floor guest only shuts down: {floor}"
    );
    let floor = names(&floor["phases"]);
    assert!(floor.iter().any(|n| n == "destroy VM"), "{floor:?}");
    assert!(
        !floor.iter().any(|n| n == "guest: kernel init"),
        "{floor:?}"
    );
    for name in &hello {
        assert!(
            table.contains(name.as_str()),
            "{name} not in the table:\n{table}"
        );
    }
}

#[test]
fn bench_passes_cpus_to_the_guest_and_runs_only_the_metrics_named() {
    let dir = std::env::temp_dir().join(format!("vmm-bench-cpus-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .arg("bench")
        .arg(guest_image())
        .args([
            "--cpus",
            "2",
            "--iterations",
            "50",
            "--only",
            "process_create_exit,process_switch",
            "--json",
        ])
        .arg(&json_path)
        .output()
        .expect("cannot start vmm");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["machine"]["cpus"], 2);
    // Without boot_to_exit, the boot object comes from one run of hello and has no floor.
    let boot = &json["boot"];
    assert_eq!(boot["runs"], 1, "{boot}");
    assert!(!boot["phases"].as_array().unwrap().is_empty(), "{boot}");
    assert!(boot["floor"].is_null(), "{boot}");
    let metrics = json["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    // In the fixed order, whatever the order named.
    assert_eq!(names, ["process_switch", "process_create_exit"]);
    for metric in metrics {
        assert_eq!(metric["iterations"], 50, "{metric}");
        assert_eq!(metric["exits"], 0, "{metric}");
        assert!(
            metric["guest_ns_median"].as_f64().unwrap() > 0.0,
            "{metric}"
        );
        assert!(metric["host_ns_median"].as_f64().unwrap() > 0.0, "{metric}");
        assert!(metric["floor_ns"].as_f64().unwrap() > 0.0, "{metric}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_rejects_unknown_metrics() {
    let output = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .arg("bench")
        .arg(guest_image())
        .args(["--only", "null_syscall,warp_drive"])
        .output()
        .expect("cannot start vmm");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("unknown metric 'warp_drive'"), "{stderr}");
}

#[test]
fn bench_pong_without_its_handles_prints_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .arg("run")
        .args(["--pvm", "native"])
        .arg(guest_image())
        .args(["--", "bench", "pong", "4", "8"])
        .output()
        .expect("cannot start vmm");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("0xc000000d"), "{stderr}");
    assert!(stdout.contains("usage: bench"), "{stdout}");
}

#[test]
fn bench_floors_takes_no_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .arg("run")
        .arg(guest_image())
        .args(["--", "bench", "floors", "now"])
        .output()
        .expect("cannot start vmm");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("0xc000000d"), "{stderr}");
    assert!(stdout.contains("bench floors"), "{stdout}");
    assert!(!stdout.contains("bench-floors"), "{stdout}");
}
