//! Hostile guest.img files against `vmm::image`: the entry point shared by the property
//! tests (tests/hostile_inputs.rs) and the `guest_image` fuzz target.
//!
//! The input's first byte chooses what to attack: raw bytes as an image, a good image
//! mutated by the rest of the input (with the tar checksums repaired or not, so mutations
//! get past the checksum to the fields behind it), or a mutated kernel ELF. The reader must
//! never panic; what it accepts must be consistent with the bytes.

use std::collections::HashSet;

use vmm::image::{Contents, ImageWriter, parse_kernel, read_entries};

/// Size of a tar header.
const BLOCK: usize = 512;
/// Where the tar header's fields lie: name, mode, size, checksum, typeflag, magic, prefix.
const FIELDS: [(usize, usize); 7] = [
    (0, 100),
    (100, 8),
    (124, 12),
    (148, 8),
    (156, 1),
    (257, 6),
    (345, 155),
];

/// A small valid ELF64 x86-64 kernel: two PT_LOAD segments and a PT_NOTE.
pub fn kernel_elf() -> Vec<u8> {
    let mut elf = vec![0u8; 0x200];
    elf[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    elf[16..18].copy_from_slice(&2u16.to_le_bytes());
    elf[18..20].copy_from_slice(&0x3eu16.to_le_bytes());
    elf[24..32].copy_from_slice(&0xFFFF_FFFF_8020_0000u64.to_le_bytes());
    elf[32..40].copy_from_slice(&64u64.to_le_bytes());
    elf[52..54].copy_from_slice(&64u16.to_le_bytes());
    elf[54..56].copy_from_slice(&56u16.to_le_bytes());
    elf[56..58].copy_from_slice(&3u16.to_le_bytes());
    let segments: [(u32, u64, u64, u64, u64); 3] = [
        (1, 0x100, 0x20_0000, 0x80, 0x1000),
        (4, 0x180, 0, 0x20, 0x20),
        (1, 0x1a0, 0x20_1000, 0x60, 0x3000),
    ];
    for (i, (kind, offset, paddr, file_size, mem_size)) in segments.into_iter().enumerate() {
        let ph = 64 + i * 56;
        elf[ph..ph + 4].copy_from_slice(&kind.to_le_bytes());
        elf[ph + 8..ph + 16].copy_from_slice(&offset.to_le_bytes());
        elf[ph + 16..ph + 24].copy_from_slice(&(0xFFFF_FFFF_8000_0000 + paddr).to_le_bytes());
        elf[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
        elf[ph + 32..ph + 40].copy_from_slice(&file_size.to_le_bytes());
        elf[ph + 40..ph + 48].copy_from_slice(&mem_size.to_le_bytes());
    }
    elf
}

/// A good guest.img: the kernel, boot.cfg and three programs.
pub fn good_image() -> Vec<u8> {
    let mut writer = ImageWriter::new();
    let entries: [(&str, &[u8]); 5] = [
        ("kernel", &kernel_elf()),
        ("boot.cfg", b"# test\ndefault=hello\n"),
        ("System32/hello.exe", b"MZ hello"),
        ("System32/Exit.EXE", &[0x4d; 600]),
        ("System32/ntdll.dll", b"MZ"),
    ];
    for (name, data) in entries {
        writer.add(name, data).unwrap();
    }
    writer.finish().unwrap()
}

/// Offsets of the 512-byte blocks that carry a ustar magic (the headers, as far as a
/// mutation left them recognisable).
fn headers(image: &[u8]) -> Vec<usize> {
    (0..image.len() / BLOCK)
        .map(|i| i * BLOCK)
        .filter(|&at| image[at + 257..at + 262] == *b"ustar")
        .collect()
}

/// Recomputes the checksum of every header.
fn repair_checksums(image: &mut [u8]) {
    for at in headers(image) {
        let header = &mut image[at..at + BLOCK];
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
}

/// A numeric tar field's worth of text that a reader could trip on.
fn field_text(choice: u8, value: u16) -> Vec<u8> {
    match choice % 8 {
        0 => format!("{value:o}").into_bytes(),
        1 => format!("{:011o}", u64::from(value) << 20).into_bytes(),
        2 => b"77777777777".to_vec(),
        3 => b"777777777777777777777777".to_vec(),
        4 => format!(" {value:o} ").into_bytes(),
        5 => b"9".to_vec(),
        6 => vec![0xff, 0xfe, b'/', b'.'],
        _ => b"./System32/../hello.exe".to_vec(),
    }
}

/// Applies the mutations encoded in `ops` (four bytes each) to `base`.
pub fn mutate(base: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut image = base.to_vec();
    for op in ops.chunks(4) {
        let [kind, a, b, value] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let pos = usize::from(u16::from_le_bytes([a, b]));
        let len = image.len();
        match kind % 8 {
            0 if len > 0 => image[pos % len] = value,
            1 if len > 0 => image[pos % len] ^= 1 << (value % 8),
            2 => image.truncate(pos % (len + 1)),
            3 | 4 => {
                // A header field gets text or raw bytes.
                let headers = headers(&image);
                if headers.is_empty() {
                    continue;
                }
                let header = headers[pos % headers.len()];
                let (start, size) = FIELDS[usize::from(value) % FIELDS.len()];
                let text = if kind % 8 == 3 {
                    field_text(value / 8, u16::from_le_bytes([a, b]))
                } else {
                    vec![value; size]
                };
                let field = &mut image[header + start..header + start + size];
                field.fill(0);
                let n = text.len().min(size);
                field[..n].copy_from_slice(&text[..n]);
            }
            5 => {
                // The typeflag of a header: long name, directory, link, unknown.
                let headers = headers(&image);
                if let Some(&header) = headers.get(pos % headers.len().max(1)) {
                    image[header + 156] = [b'L', b'5', b'1', b'x', 0, b'0'][usize::from(value) % 6];
                }
            }
            6 => {
                // One 512-byte block copied over another: duplicate or misplaced headers.
                let blocks = len / BLOCK;
                if blocks >= 2 {
                    let (from, to) = (pos % blocks, usize::from(value) % blocks);
                    image.copy_within(from * BLOCK..(from + 1) * BLOCK, to * BLOCK);
                }
            }
            _ => image.extend(std::iter::repeat_n(value, pos % 1500)),
        }
    }
    image
}

/// Parses `bytes` as guest.img and checks that whatever is accepted is consistent.
pub fn check_image(bytes: &[u8]) {
    let entries = read_entries(bytes);
    let contents = match Contents::parse(bytes) {
        Ok(contents) => contents,
        Err(error) => {
            // Every refusal can be explained.
            assert!(!vmm::error_chain(&error).is_empty());
            return;
        }
    };
    assert_eq!(entries.unwrap(), contents.entries);
    let mut names = HashSet::new();
    for entry in &contents.entries {
        assert!(entry.offset % BLOCK == 0, "{entry:?}");
        assert!(entry.offset + entry.size <= bytes.len(), "{entry:?}");
        assert!(names.insert(entry.name.to_ascii_lowercase()), "{entry:?}");
    }
    let kernel = contents.kernel_entry();
    assert_eq!(kernel.name, "kernel");
    let elf = &bytes[kernel.offset..kernel.offset + kernel.size];
    assert_eq!(parse_kernel(elf).unwrap(), contents.kernel);
    assert!(!contents.default_program.is_empty());
    for name in contents.program_names() {
        let entry = contents
            .find_program(&name)
            .expect("a listed program is found");
        assert!(entry.name.to_ascii_lowercase().ends_with(".exe"));
    }
}

/// Parses `bytes` as a kernel ELF and checks what is accepted.
pub fn check_kernel(bytes: &[u8]) {
    let Ok(kernel) = parse_kernel(bytes) else {
        return;
    };
    assert!(!kernel.segments.is_empty());
    for segment in &kernel.segments {
        assert!(segment.mem_size > 0 && segment.file_size <= segment.mem_size);
        assert!(segment.paddr.checked_add(segment.mem_size).is_some());
    }
    assert!(kernel.phys_start() < kernel.phys_end());
}

/// The fuzz and property-test entry point (see the module docs).
pub fn guest_image(data: &[u8]) {
    let (&selector, rest) = data.split_first().unwrap_or((&0, &[]));
    match selector % 4 {
        0 => check_image(rest),
        1 | 2 => {
            let mut image = mutate(&good_image(), rest);
            if selector % 4 == 1 {
                repair_checksums(&mut image);
            }
            check_image(&image);
        }
        _ => check_kernel(&mutate(&kernel_elf(), rest)),
    }
}
