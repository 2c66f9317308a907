//! PE image validation: a well-formed image's layout, relocations and page contents, the
//! status of each kind of damage, and thousands of mutated images, none of which may make
//! the validation or the layout's users panic.

use abi::NtStatus;
use abi::memory::{PAGE_EXECUTE_READ, PAGE_READONLY};

use crate::mm::image::{Fixup, ImageLayout};

const PAGE: u64 = 0x1000;
const BASE: u64 = 0x1_4000_0000;
/// Where the pointer the image's one relocation fixes is, in `.text`.
const POINTER_RVA: u32 = 0x1008;

fn put(file: &mut [u8], at: usize, bytes: &[u8]) {
    file[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A small, valid PE32+ image: headers, `.text` (one pointer to itself) and `.reloc`
/// (one DIR64 fixup for it).
fn image() -> Vec<u8> {
    let mut file = vec![0u8; 0x600];
    put(&mut file, 0, b"MZ");
    put(&mut file, 0x3C, &0x40u32.to_le_bytes());
    put(&mut file, 0x40, b"PE\0\0");
    let header = 0x44;
    put(&mut file, header, &0x8664u16.to_le_bytes());
    put(&mut file, header + 2, &2u16.to_le_bytes());
    put(&mut file, header + 16, &240u16.to_le_bytes());
    put(&mut file, header + 18, &0x22u16.to_le_bytes());
    let optional = header + 20;
    put(&mut file, optional, &0x20Bu16.to_le_bytes());
    put(&mut file, optional + 16, &0x1000u32.to_le_bytes()); // AddressOfEntryPoint
    put(&mut file, optional + 24, &BASE.to_le_bytes());
    put(&mut file, optional + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
    put(&mut file, optional + 36, &0x200u32.to_le_bytes()); // FileAlignment
    put(&mut file, optional + 56, &0x3000u32.to_le_bytes()); // SizeOfImage
    put(&mut file, optional + 60, &0x200u32.to_le_bytes()); // SizeOfHeaders
    put(&mut file, optional + 68, &1u16.to_le_bytes()); // Subsystem: native
    put(&mut file, optional + 72, &0x10_0000u64.to_le_bytes()); // stack reserve
    put(&mut file, optional + 80, &0x1000u64.to_le_bytes()); // stack commit
    put(&mut file, optional + 108, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
    put(&mut file, optional + 112 + 5 * 8, &0x2000u32.to_le_bytes()); // BASERELOC
    put(&mut file, optional + 112 + 5 * 8 + 4, &12u32.to_le_bytes());
    let sections = optional + 240;
    let section = |file: &mut [u8], at: usize, name: &[u8], rva: u32, raw: u32, flags: u32| {
        put(file, at, name);
        put(file, at + 8, &0x10u32.to_le_bytes()); // VirtualSize
        put(file, at + 12, &rva.to_le_bytes());
        put(file, at + 16, &0x200u32.to_le_bytes()); // SizeOfRawData
        put(file, at + 20, &raw.to_le_bytes());
        put(file, at + 36, &flags.to_le_bytes());
    };
    section(&mut file, sections, b".text", 0x1000, 0x200, 0x6000_0020);
    section(
        &mut file,
        sections + 40,
        b".reloc",
        0x2000,
        0x400,
        0x4200_0040,
    );
    put(&mut file, 0x208, &(BASE + 0x1000).to_le_bytes());
    put(&mut file, 0x400, &0x1000u32.to_le_bytes());
    put(&mut file, 0x404, &12u32.to_le_bytes());
    put(&mut file, 0x408, &(0xA000u16 | 0x008).to_le_bytes());
    file
}

#[test]
fn a_well_formed_image_is_laid_out_page_by_page() {
    let file = image();
    let layout = ImageLayout::parse(&file).unwrap();
    assert_eq!(layout.preferred_base, BASE);
    assert_eq!(layout.size, 3 * PAGE);
    assert_eq!(layout.information.transfer_address, BASE + 0x1000);
    assert_eq!(layout.information.machine, 0x8664);
    assert_eq!(layout.information.subsystem_type, 1);
    assert_eq!(layout.information.maximum_stack_size, 0x10_0000);
    assert_eq!(layout.information.image_contains_code, 1);
    assert_eq!(layout.fixups(), Some(&[Fixup::Dir64(POINTER_RVA)][..]));
    assert_eq!(layout.page_protection(0), Some(PAGE_READONLY));
    assert_eq!(layout.page_protection(PAGE), Some(PAGE_EXECUTE_READ));
    assert_eq!(layout.page_protection(3 * PAGE), None);
    let mut page = vec![0xEE; PAGE as usize];
    layout.page_contents(&file, PAGE, &mut page);
    assert_eq!(&page[8..16], &(BASE + 0x1000).to_le_bytes());
    assert!(
        page[0x200..].iter().all(|&b| b == 0),
        "past the raw data is zero"
    );
    layout.page_contents(&file, 0, &mut page);
    assert_eq!(&page[..2], b"MZ");
    assert!(
        page[0x200..].iter().all(|&b| b == 0),
        "past the headers is zero"
    );
    // No page is held whole by the file (FileAlignment 0x200): views copy them.
    assert_eq!(layout.page_file_offset(PAGE), None);
}

#[test]
fn each_kind_of_damage_has_its_status() {
    let good = image();
    let patched = |at: usize, bytes: &[u8]| {
        let mut file = good.clone();
        put(&mut file, at, bytes);
        file
    };
    let format = Err(NtStatus::INVALID_IMAGE_FORMAT);
    let not_mz = Err(NtStatus::INVALID_IMAGE_NOT_MZ);
    let status = |file: &[u8]| ImageLayout::parse(file).map(|_| ());
    assert_eq!(status(b""), not_mz);
    assert_eq!(status(b"M"), not_mz);
    assert_eq!(status(b"#!/bin/sh\n"), not_mz);
    assert_eq!(status(b"MZ"), format);
    assert_eq!(status(&good[..0x100]), format, "truncated headers");
    assert_eq!(status(&good[..0x300]), format, "truncated sections");
    assert_eq!(status(&patched(0x40, b"NE")), format, "no PE signature");
    assert_eq!(status(&patched(0x3C, &u32::MAX.to_le_bytes())), format);
    assert_eq!(
        status(&patched(0x44, &0x14Cu16.to_le_bytes())),
        format,
        "i386"
    );
    assert_eq!(
        status(&patched(0x58, &0x10Bu16.to_le_bytes())),
        format,
        "PE32"
    );
    assert_eq!(status(&patched(0x58 + 32, &0x800u32.to_le_bytes())), format);
    assert_eq!(status(&patched(0x58 + 36, &0x300u32.to_le_bytes())), format);
    assert_eq!(
        status(&patched(0x58 + 24, &0x1234_5000u64.to_le_bytes())),
        format
    );
    assert_eq!(
        status(&patched(0x58 + 24, &(1u64 << 47).to_le_bytes())),
        format
    );
    assert_eq!(status(&patched(0x58 + 56, &u32::MAX.to_le_bytes())), format);
    assert_eq!(
        status(&patched(0x58 + 60, &0x4000u32.to_le_bytes())),
        format
    );
    assert_eq!(
        status(&patched(0x58 + 16, &0x2FF0u32.to_le_bytes())),
        Ok(())
    );
    assert_eq!(
        status(&patched(0x58 + 16, &0x3000u32.to_le_bytes())),
        format
    );
    let text = 0x58 + 240;
    assert_eq!(
        status(&patched(text + 20, &0x7FFF_0000u32.to_le_bytes())),
        format
    );
    assert_eq!(status(&patched(text + 16, &u32::MAX.to_le_bytes())), format);
    assert_eq!(
        status(&patched(text + 8, &0xFFFF_F000u32.to_le_bytes())),
        format
    );
    assert_eq!(
        status(&patched(text + 12, &0x1800u32.to_le_bytes())),
        format
    );
    assert_eq!(
        status(&patched(text + 40 + 12, &0x1000u32.to_le_bytes())),
        format,
        "overlap"
    );
    let mut past_the_end = patched(0x400, &0x2000u32.to_le_bytes());
    put(&mut past_the_end, 0x408, &(0xA000u16 | 0xFFC).to_le_bytes());
    assert_eq!(status(&past_the_end), format, "a fixup past the image");
    assert_eq!(
        status(&patched(0x408, &(0x5000u16 | 0x008).to_le_bytes())),
        format
    );
    assert_eq!(status(&patched(0x404, &0x1000u32.to_le_bytes())), format);
    // Relocations stripped: valid, but the image cannot move.
    let stripped = patched(0x44 + 18, &0x23u16.to_le_bytes());
    assert_eq!(ImageLayout::parse(&stripped).unwrap().fixups(), None);
}

/// xorshift64*: a fixed, repeatable stream of mutations.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn thousands_of_mutated_images_never_panic() {
    let good = image();
    let mut random = Random(0x5EC7_1015_0000_0001);
    let interesting = [
        0u32,
        1,
        0x1000,
        0x7FFF_FFFF,
        0x8000_0000,
        u32::MAX - 0xFFF,
        u32::MAX,
    ];
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut file = good.clone();
        for _ in 0..1 + random.below(6) {
            // Most damage goes where the headers and the relocations are.
            let at = match random.below(4) {
                0 => random.below(file.len()),
                1 => 0x400 + random.below(0x10),
                _ => random.below(0x2F0),
            };
            if at >= file.len() {
                continue;
            }
            match random.below(3) {
                0 => file[at] = random.next() as u8,
                1 if at + 4 <= file.len() => {
                    let value = interesting[random.below(interesting.len())];
                    put(&mut file, at & !3, &value.to_le_bytes());
                }
                _ => file.truncate(at.max(1)),
            }
        }
        let Ok(layout) = ImageLayout::parse(&file) else {
            continue;
        };
        accepted += 1;
        // What a view does with an accepted image must hold for every page.
        assert!(layout.size <= 256 << 20);
        let mut page = vec![0; PAGE as usize];
        for rva in (0..layout.size).step_by(PAGE as usize) {
            if layout.page_protection(rva).is_some() {
                layout.page_contents(&file, rva, &mut page);
            }
            if let Some(offset) = layout.page_file_offset(rva) {
                assert!(offset + PAGE <= file.len() as u64);
            }
        }
        for fixup in layout.fixups().unwrap_or_default() {
            let (rva, length) = fixup.span();
            assert!(rva + length <= layout.size);
            assert!(layout.page_protection(rva).is_some());
        }
    }
    assert!(accepted > 100, "some mutations stay valid: {accepted}");
}
