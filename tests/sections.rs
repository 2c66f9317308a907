//! Files, sections and image views, natively: `sectiontest`'s cases (opening boot-image
//! files by NT path, image and page-file-backed sections, relocated views, sharing between
//! processes, private writable pages, bad input, frames given back), malformed PE files in
//! a boot image of their own, each rejected with its status by NtCreateSection and by
//! NtCreateUserProcess, and the two creation paths (NtCreateUserProcess, and
//! NtCreateProcessEx with NtCreateThread, from rt and from ntdll's RtlCreateUserProcess)
//! giving the same process.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use abi::NtStatus;
use common::{guest_image, temp_dir};
use vmm::{ConsoleSink, GuestExit, PvmMode, RunConfig, RunOutcome};

fn boot_image(image: &Path, program: &[&str]) -> RunOutcome {
    boot_image_with(image, program, PvmMode::Native)
}

fn boot_image_with(image: &Path, program: &[&str], pvm_mode: PvmMode) -> RunOutcome {
    let config = RunConfig {
        program: Some(program.iter().map(|s| s.to_string()).collect()),
        console: ConsoleSink::Capture,
        timeout: Duration::from_secs(60),
        pvm_mode,
        ..RunConfig::new(image.to_path_buf())
    };
    let outcome = vmm::run(&config).unwrap_or_else(|e| panic!("vmm: {}", vmm::error_chain(&e)));
    eprintln!("console of {program:?}:\n{}", outcome.console_text());
    outcome
}

#[track_caller]
fn assert_exit(outcome: &RunOutcome, status: NtStatus) {
    assert_eq!(
        outcome.exit,
        GuestExit::Exited(status),
        "console:\n{}",
        outcome.console_text()
    );
}

#[test]
fn sectiontest_answers_every_case_right() {
    let outcome = boot_image(&guest_image(), &["sectiontest"]);
    assert_exit(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    assert!(!console.contains("WRONG"), "{console}");
    for line in [
        "ok: the I/O status block says FILE_OPENED",
        "ok: \\SystemRoot\\System32\\missing.exe",
        "ok: an image section of a text file",
        "ok: a relocated pointer",
        "ok: the child's view holds this process's write",
        "ok: this process sees the child's page change",
        "ok: a write to one view's data",
        "ok: a child of the same image starts with its own data",
        "ok: NtCreateProcessEx of exit.exe",
        "ok: a child opens the section by name and finds the value",
        "ok: the child's write shows here",
        "ok: a name relative to a file",
        "ok: a process of an image with an open section shares its pages",
        "ok: a bad NtCreateThread",
        "ok: every frame comes back once the sections and views are gone",
        " cases, 0 wrong",
    ] {
        assert!(console.contains(line), "missing {line:?} in:\n{console}");
    }
}

/// Offsets in a PE32+ file.
struct Pe {
    nt_headers: usize,
    optional_header: usize,
    first_section: usize,
}

impl Pe {
    fn of(file: &[u8]) -> Self {
        let nt_headers = u32::from_le_bytes(file[0x3C..0x40].try_into().unwrap()) as usize;
        let optional_header = nt_headers + 24;
        let optional_size =
            u16::from_le_bytes(file[nt_headers + 20..nt_headers + 22].try_into().unwrap());
        Self {
            nt_headers,
            optional_header,
            first_section: optional_header + usize::from(optional_size),
        }
    }
}

fn patched(file: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut copy = file.to_vec();
    copy[at..at + bytes.len()].copy_from_slice(bytes);
    copy
}

/// The broken files and the status each must get.
fn malformed_files(hello: &[u8]) -> Vec<(&'static str, Vec<u8>, NtStatus)> {
    let pe = Pe::of(hello);
    let optional = pe.optional_header;
    let section = pe.first_section;
    let format = NtStatus::INVALID_IMAGE_FORMAT;
    vec![
        (
            "notmz.exe",
            b"plain text, not an image".to_vec(),
            NtStatus::INVALID_IMAGE_NOT_MZ,
        ),
        ("empty.exe", Vec::new(), NtStatus::INVALID_IMAGE_NOT_MZ),
        (
            "truncated.exe",
            hello[..pe.nt_headers + 64].to_vec(),
            format,
        ),
        (
            "nosignature.exe",
            patched(hello, pe.nt_headers, b"XE\0\0"),
            format,
        ),
        (
            "lfanew.exe",
            patched(hello, 0x3C, &0x7FFF_FFF0u32.to_le_bytes()),
            format,
        ),
        (
            "machine.exe",
            patched(hello, pe.nt_headers + 4, &0x014Cu16.to_le_bytes()),
            format,
        ),
        (
            "alignment.exe",
            patched(hello, optional + 32, &0x1234u32.to_le_bytes()),
            format,
        ),
        (
            "imagesize.exe",
            patched(hello, optional + 56, &u32::MAX.to_le_bytes()),
            format,
        ),
        (
            "headers.exe",
            patched(hello, optional + 60, &0u32.to_le_bytes()),
            format,
        ),
        (
            "entry.exe",
            patched(hello, optional + 16, &0xFFFF_FFF0u32.to_le_bytes()),
            format,
        ),
        (
            "rawoutside.exe",
            patched(hello, section + 20, &0x7FFF_0000u32.to_le_bytes()),
            format,
        ),
        (
            "rawsize.exe",
            patched(hello, section + 16, &u32::MAX.to_le_bytes()),
            format,
        ),
        (
            "virtualsize.exe",
            patched(hello, section + 8, &0xFFFF_F000u32.to_le_bytes()),
            format,
        ),
        (
            "sectionaddress.exe",
            patched(hello, section + 12, &0x123u32.to_le_bytes()),
            format,
        ),
        // The base relocation directory (data directory 5) running past the file.
        (
            "relocations.exe",
            patched(
                hello,
                optional + 112 + 5 * 8 + 4,
                &0x00FF_FFF0u32.to_le_bytes(),
            ),
            format,
        ),
    ]
}

/// A boot image holding the real one's files and `extra` programs.
fn image_with(name: &str, extra: &[(&str, Vec<u8>, NtStatus)]) -> (PathBuf, Vec<u8>) {
    let bytes = std::fs::read(guest_image()).unwrap();
    let entries = vmm::image::read_entries(&bytes).unwrap();
    let mut writer = vmm::image::ImageWriter::new();
    let mut hello = Vec::new();
    for entry in &entries {
        let data = &bytes[entry.offset..entry.offset + entry.size];
        if entry.name.eq_ignore_ascii_case("System32/hello.exe") {
            hello = data.to_vec();
        }
        writer.add(&entry.name, data).unwrap();
    }
    for (file, data, _) in extra {
        writer.add(&format!("System32/{file}"), data).unwrap();
    }
    let path = temp_dir(name).join("guest.img");
    std::fs::write(&path, writer.finish().unwrap()).unwrap();
    (path, hello)
}

#[test]
fn malformed_images_are_rejected_with_their_status() {
    let (_, hello) = image_with("sections-hello", &[]);
    assert!(hello.starts_with(b"MZ"), "hello.exe is in the image");
    let files = malformed_files(&hello);
    let (image, _) = image_with("sections-malformed", &files);
    let mut program = vec!["sectiontest", "malformed"];
    program.extend(files.iter().map(|(name, _, _)| *name));
    program.push("hello.exe");
    let outcome = boot_image(&image, &program);
    assert_exit(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    for (name, _, status) in &files {
        for what in ["section", "process"] {
            let line = format!("{what} {name}: {status}");
            assert!(console.contains(&line), "missing {line:?} in:\n{console}");
        }
    }
    // The untouched file beside them still makes a section and runs.
    assert!(
        console.contains("section hello.exe: 0x00000000"),
        "{console}"
    );
    assert!(console.contains("hello from user mode"), "{console}");
    assert!(console.contains("process hello.exe: created"), "{console}");
}

#[test]
fn classic_path_and_nt_create_user_process_give_the_same_process() {
    // Both backends: the kernel emulated too (a few processes, so still quick).
    for mode in [PvmMode::Native, PvmMode::Bootstrap] {
        same_process_both_ways(mode);
    }
}

fn same_process_both_ways(mode: PvmMode) {
    let outcome = boot_image_with(&guest_image(), &["sectiontest", "paths"], mode);
    assert_exit(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    let pebs: Vec<&str> = console
        .lines()
        .filter(|line| line.starts_with("peb: "))
        .collect();
    assert_eq!(pebs.len(), 2, "one line from each child:\n{console}");
    assert_eq!(pebs[0], pebs[1], "the children differ:\n{console}");
    assert_eq!(
        pebs[0],
        "peb: image base 0x140000000, parameters length 0x110 flags 0x1, \
         image path \\SystemRoot\\System32\\sectiontest.exe, \
         command line sectiontest peb \"two words\" 42"
    );
    for line in [
        "ok: NtCreateUserProcess's child's exit status",
        "ok: the classic path's child's exit status",
        "ok: the classic path to a missing image",
        "sectiontest: 7 cases, 0 wrong",
    ] {
        assert!(console.contains(line), "missing {line:?} in:\n{console}");
    }

    // The same through ntdll: spawn's children by RtlCreateUserProcess and by
    // NtCreateUserProcess, from one RtlCreateProcessParameters block with an environment.
    let children: Vec<Vec<String>> = [&[][..], &["--nt"][..]]
        .iter()
        .map(|options| {
            let mut program = vec!["spawn"];
            program.extend_from_slice(options);
            program.extend_from_slice(&["--env", "A=1", "1", "params", "two words"]);
            let outcome = boot_image_with(&guest_image(), &program, mode);
            assert_exit(&outcome, NtStatus::SUCCESS);
            let console = outcome.console_text();
            assert!(console.contains("exit status 0x00000001"), "{console}");
            console
                .lines()
                .filter(|line| line.starts_with("params: "))
                .map(String::from)
                .collect()
        })
        .collect();
    assert_eq!(children[0], children[1], "the ntdll paths' children differ");
    assert_eq!(children[0].len(), 5, "{:?}", children[0]);
    assert_eq!(children[0][4], "params: environment A=1");
}

/// `image` laid out again so that every page of it is a whole page of the file at a
/// page-aligned offset: FileAlignment and SizeOfHeaders 0x1000, each section's raw data
/// at a page boundary, raw and virtual sizes rounded up to pages.
fn page_aligned_copy(image: &[u8]) -> Vec<u8> {
    let pe = Pe::of(image);
    let le32 = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap());
    let sections = u16::from_le_bytes(
        image[pe.nt_headers + 6..pe.nt_headers + 8]
            .try_into()
            .unwrap(),
    );
    let headers = le32(pe.optional_header + 60) as usize;
    let mut file = vec![0u8; 0x1000];
    file[..headers].copy_from_slice(&image[..headers]);
    put(&mut file, pe.optional_header + 36, 0x1000);
    put(&mut file, pe.optional_header + 60, 0x1000);
    for index in 0..usize::from(sections) {
        let header = pe.first_section + 40 * index;
        let (virtual_size, raw_size, raw) =
            (le32(header + 8), le32(header + 16), le32(header + 20));
        let rounded = |size: u32| size.next_multiple_of(0x1000);
        put(&mut file, header + 8, rounded(virtual_size));
        if raw_size == 0 {
            continue;
        }
        put(&mut file, header + 16, rounded(raw_size));
        let placed = file.len() as u32;
        put(&mut file, header + 20, placed);
        file.extend_from_slice(&image[raw as usize..(raw + raw_size) as usize]);
        file.resize(file.len().next_multiple_of(0x1000), 0);
    }
    file
}

fn put(file: &mut [u8], at: usize, value: u32) {
    file[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// What a ustar entry of `size` bytes takes in the archive: its header and its data, in
/// 512-byte blocks.
fn archive_space(size: usize) -> usize {
    512 + size.next_multiple_of(512)
}

#[test]
fn an_image_stored_page_aligned_is_shared_from_the_boot_image() {
    let bytes = std::fs::read(guest_image()).unwrap();
    let entries = vmm::image::read_entries(&bytes).unwrap();
    let mut writer = vmm::image::ImageWriter::new();
    let mut offset = 0;
    let mut hello = Vec::new();
    for entry in &entries {
        let data = &bytes[entry.offset..entry.offset + entry.size];
        if entry.name.eq_ignore_ascii_case("System32/hello.exe") {
            hello = data.to_vec();
        }
        writer.add(&entry.name, data).unwrap();
        offset += archive_space(data.len());
    }
    // A padding file puts the aligned image's data at a page boundary of the archive,
    // which the VMM maps at a page-aligned guest-physical address.
    let padding = (0x1000 - (offset + 2 * 512) % 0x1000) % 0x1000;
    writer.add("padding", &vec![0; padding]).unwrap();
    let aligned = page_aligned_copy(&hello);
    writer.add("System32/aligned.exe", &aligned).unwrap();
    let path = temp_dir("sections-aligned").join("guest.img");
    std::fs::write(&path, writer.finish().unwrap()).unwrap();
    let placed = vmm::image::read_entries(&std::fs::read(&path).unwrap()).unwrap();
    let entry = placed
        .iter()
        .find(|e| e.name == "System32/aligned.exe")
        .unwrap();
    assert_eq!(entry.offset % 0x1000, 0, "the image's data is page-aligned");

    let outcome = boot_image(
        &path,
        &["sectiontest", "malformed", "aligned.exe", "hello.exe"],
    );
    assert_exit(&outcome, NtStatus::SUCCESS);
    let console = outcome.console_text();
    let frames = |name: &str| -> u64 {
        let prefix = format!("frames {name}: ");
        let line = console
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{console}"));
        line[prefix.len()..].trim().parse().unwrap()
    };
    assert_eq!(
        frames("aligned.exe"),
        0,
        "every page shared in place:\n{console}"
    );
    assert!(
        frames("hello.exe") > 0,
        "hello.exe's pages are copied once:\n{console}"
    );
    assert!(
        console.contains("section aligned.exe: 0x00000000"),
        "{console}"
    );
    assert!(
        console.contains("process aligned.exe: created"),
        "{console}"
    );
    assert_eq!(
        console.matches("hello from user mode").count(),
        2,
        "{console}"
    );
}
