//! Runs the `vmm` binary: failure messages and exit codes for bad input, and how guest
//! outcomes map to exit codes and stderr. Uses raw test guests, never the real kernel.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn vmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmm"))
        .args(args)
        .output()
        .expect("cannot start vmm")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn assert_fails(output: &Output, code: i32, message: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(message), "stderr lacks {message:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn missing_image_names_the_path() {
    let out = vmm(&["run", "/nonexistent/dir/guest.img"]);
    assert_fails(
        &out,
        125,
        "vmm: image /nonexistent/dir/guest.img: cannot open: No such file or directory",
    );
}

#[test]
fn directory_is_not_an_image() {
    let dir = temp_dir("cli-dir");
    let out = vmm(&["run", path(&dir)]);
    assert_fails(&out, 125, "is a directory");
}

#[test]
fn non_image_file_says_why() {
    let file = temp_dir("cli-text").join("notes.txt");
    std::fs::write(&file, "just some text, not a tar archive\n".repeat(40)).unwrap();
    let out = vmm(&["run", path(&file)]);
    assert_fails(
        &out,
        125,
        &format!("vmm: image {}: not a ustar archive", file.display()),
    );
    let empty = temp_dir("cli-empty").join("empty.img");
    std::fs::write(&empty, b"").unwrap();
    assert_fails(&vmm(&["run", path(&empty)]), 125, "file is empty");
}

#[test]
fn image_without_kernel() {
    let img = archive(
        "cli-nokernel",
        &[
            ("boot.cfg", b"default=hello\n"),
            ("System32/hello.exe", b"MZ"),
        ],
    );
    assert_fails(&vmm(&["run", path(&img)]), 125, "no 'kernel' entry");
}

#[test]
fn image_with_a_bad_kernel() {
    let img = archive(
        "cli-badkernel",
        &[
            ("kernel", b"#!/bin/sh\necho hi\n"),
            ("boot.cfg", b"default=hello\n"),
        ],
    );
    assert_fails(
        &vmm(&["run", path(&img)]),
        125,
        "bad kernel: not an ELF file",
    );
}

#[test]
fn truncated_image() {
    let img = image("cli-truncated", &exit_guest(0), &[]);
    let bytes = std::fs::read(&img).unwrap();
    std::fs::write(&img, &bytes[..700]).unwrap();
    assert_fails(&vmm(&["run", path(&img)]), 125, "truncated");
}

#[test]
fn program_not_in_image_lists_the_programs() {
    let dir = temp_dir("cli-programs");
    let kernel = dir.join("kernel");
    std::fs::write(&kernel, elf(&exit_guest(0).code, &[])).unwrap();
    let mut programs = Vec::new();
    for name in ["hello.exe", "exit.exe", "ntdll.dll"] {
        let p = dir.join(name);
        std::fs::write(&p, b"MZ").unwrap();
        programs.push(p);
    }
    let img = dir.join("guest.img");
    vmm::image::write_image(&kernel, "hello", &programs, &img).unwrap();
    let out = vmm(&["run", path(&img), "--", "foo", "bar"]);
    assert_fails(
        &out,
        125,
        "vmm: program 'foo' not found in image (available: exit, hello)",
    );
}

#[test]
fn bad_arguments() {
    let img = image("cli-args", &exit_guest(0), &[]);
    assert_fails(
        &vmm(&["run", path(&img), "--memory", "12Q"]),
        125,
        "--memory",
    );
    assert_fails(&vmm(&["run", path(&img), "--memory", "1M"]), 125, "minimum");
    assert_fails(&vmm(&["run", path(&img), "--cpus", "0"]), 125, "--cpus");
    assert_fails(&vmm(&["run", path(&img), "--timeout=-3"]), 125, "--timeout");
    assert_fails(&vmm(&["frobnicate"]), 125, "frobnicate");
    assert_fails(&vmm(&["run"]), 125, "IMAGE");
}

#[test]
fn mkimage_checks_and_writes() {
    let dir = temp_dir("cli-mkimage");
    let kernel = dir.join("kernel");
    std::fs::write(&kernel, elf(&exit_guest(0).code, &[])).unwrap();
    let hello = dir.join("hello.exe");
    std::fs::write(&hello, b"MZ").unwrap();
    let out_img = dir.join("out.img");
    let args = |default: &'static str, kernel: &Path| {
        vec![
            "mkimage".to_string(),
            "--kernel".into(),
            path(kernel).into(),
            "--default".into(),
            default.into(),
            "--output".into(),
            path(&out_img).into(),
            path(&hello).into(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        vmm(&args)
    };
    assert_fails(&run(args("nope", &kernel)), 125, "default program 'nope'");
    assert_fails(&run(args("hello", &hello)), 125, "not an ELF file");
    assert_fails(
        &run(args("hello", &dir.join("missing"))),
        125,
        "cannot read",
    );
    let ok = run(args("hello", &kernel));
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let bytes = std::fs::read(&out_img).unwrap();
    let contents = vmm::image::Contents::parse(&bytes).unwrap();
    let names: Vec<&str> = contents.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["kernel", "boot.cfg", "System32/hello.exe"]);
    // Writing it again replaces the file rather than rewriting it, so a VM running the
    // old image (which maps it) keeps its bytes.
    let old = std::fs::File::open(&out_img).unwrap();
    let again = run(args("hello", &kernel));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    use std::os::unix::fs::MetadataExt;
    let old_inode = old.metadata().unwrap().ino();
    assert_ne!(std::fs::metadata(&out_img).unwrap().ino(), old_inode);
    assert_eq!(old.metadata().unwrap().len(), bytes.len() as u64);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn exit_status_maps_to_exit_code() {
    let img = image("cli-exit3", &exit_guest(3), &[]);
    let out = vmm(&["run", path(&img)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn large_status_exits_1_and_prints_it() {
    let img = image("cli-av", &exit_guest(0xC000_0005), &[]);
    let out = vmm(&["run", path(&img)]);
    assert_fails(
        &out,
        1,
        "vmm: program exited with status 0xc0000005 (STATUS_ACCESS_VIOLATION)",
    );
}

#[test]
fn bugcheck_exits_126() {
    let mut asm = Asm::default();
    asm.shutdown(1, 0x7E, [0xC000_0005, 0x1234, 0, 0]).spin();
    let img = image("cli-bugcheck", &asm, &[]);
    assert_fails(
        &vmm(&["run", path(&img)]),
        126,
        "vmm: guest bugcheck 0x0000007e (0xc0000005, 0x1234, 0x0, 0x0)",
    );
}

#[test]
fn triple_fault_exits_126_with_registers() {
    let mut asm = Asm::default();
    asm.mov_imm(Rbx, abi::layout::DIRECT_MAP_BASE + BLOCK)
        .lidt(Rbx)
        .ud2();
    let img = image("cli-triple", &asm, &[]);
    let out = vmm(&["run", path(&img)]);
    assert_fails(&out, 126, "triple fault on vCPU 0");
    assert!(stderr(&out).contains("rip "), "{}", stderr(&out));
}

#[test]
fn timeout_exits_124() {
    let mut asm = Asm::default();
    asm.spin();
    let img = image("cli-timeout", &asm, &[]);
    assert_fails(&vmm(&["run", path(&img), "--timeout", "1"]), 124, "timeout");
}

#[test]
fn console_goes_to_stdout_and_stats_to_stderr() {
    let text = b"line one\nline two\n";
    let mut asm = Asm::default();
    asm.console_write(1, DATA, text.len() as u64)
        .shutdown(0, 0, [0; 4])
        .spin();
    let img = image("cli-stats", &asm, text);
    let out = vmm(&["run", "--stats", path(&img), "--", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "line one\nline two\n");
    let err = stderr(&out);
    for line in [
        "stats: vmm start -> first KVM_RUN:",
        "stats: vmm start -> shutdown:",
        "stats: vm exits: 2",
        "stats:   hypercall console_write: 1",
        "stats:   hypercall shutdown: 1",
        "stats: rejected hypercalls: 0",
    ] {
        assert!(err.contains(line), "missing {line:?} in {err}");
    }
}

#[test]
fn no_kvm_permission_says_how_to_fix() {
    // Only meaningful as root with setpriv available: run vmm as 'nobody', who cannot open
    // /dev/kvm (mode 0600 or group kvm).
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = Path::new("/usr/bin/setpriv").exists();
    if !root || !setpriv {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let img = image("cli-nokvm", &exit_guest(0), &[]);
    for dir in [
        img.parent().unwrap(),
        img.parent().unwrap().parent().unwrap(),
    ] {
        let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    }
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_vmm"))
        .args(["run", path(&img)])
        .output()
        .unwrap();
    let err = stderr(&out);
    if err.contains("Permission denied") && err.contains("image") {
        eprintln!("skipped: 'nobody' cannot read the test image: {err}");
        return;
    }
    assert_fails(
        &out,
        125,
        "cannot open /dev/kvm: permission denied; add the user to the 'kvm' group",
    );
}
