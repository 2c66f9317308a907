//! Hostile PE files against the kernel's image validation (`mm/image.rs`, compiled by
//! host-tests as it is): the entry point shared by the property tests (tests/pe_image.rs)
//! and the `pe_image` fuzz target. Validation must never panic and must refuse a bad file
//! with an NT status; what it accepts must lay out every page without panicking.

use abi::NtStatus;
use host_tests::mm::image::ImageLayout;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};

const PAGE: u64 = 0x1000;
/// Pages of an accepted image whose protection and contents are computed: enough for every
/// seed's pages, bounded for images that claim gigabytes.
const PAGES_CHECKED: u64 = 256;

/// The statuses a bad image may get. The loader names every inconsistency
/// STATUS_INVALID_IMAGE_FORMAT; a file whose sections need more memory than there is gets
/// STATUS_NO_MEMORY from the page tables.
pub const REFUSALS: [NtStatus; 2] = [
    NtStatus::INVALID_IMAGE_FORMAT,
    NtStatus::INVALID_IMAGE_NOT_MZ,
];

/// Image base, entry point and size of the minimal PE.
const BASE: u64 = 0x1_4000_0000;
const ENTRY_RVA: u32 = 0x1000;
const IMAGE_SIZE: u32 = 0x3000;

/// A minimal valid PE32+ program: headers, `.text` (execute, read) and `.data` (read,
/// write), each with a page-aligned RVA and 512 bytes of file data.
pub fn minimal_pe() -> Vec<u8> {
    let mut pe = vec![0u8; 0x600];
    let put = |pe: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        pe[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut pe, 0, b"MZ");
    put(&mut pe, 0x3c, &0x40u32.to_le_bytes()); // e_lfanew
    put(&mut pe, 0x40, b"PE\0\0");
    // COFF header: AMD64, 2 sections, a PE32+ optional header of 240 bytes, executable.
    put(&mut pe, 0x44, &0x8664u16.to_le_bytes());
    put(&mut pe, 0x46, &2u16.to_le_bytes());
    put(&mut pe, 0x54, &240u16.to_le_bytes());
    put(&mut pe, 0x56, &0x22u16.to_le_bytes());
    let opt = 0x58;
    put(&mut pe, opt, &0x20bu16.to_le_bytes());
    put(&mut pe, opt + 16, &ENTRY_RVA.to_le_bytes());
    put(&mut pe, opt + 24, &BASE.to_le_bytes());
    put(&mut pe, opt + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
    put(&mut pe, opt + 36, &0x200u32.to_le_bytes()); // FileAlignment
    put(&mut pe, opt + 56, &IMAGE_SIZE.to_le_bytes());
    put(&mut pe, opt + 60, &0x200u32.to_le_bytes()); // SizeOfHeaders
    put(&mut pe, opt + 68, &1u16.to_le_bytes()); // IMAGE_SUBSYSTEM_NATIVE
    put(&mut pe, opt + 72, &0x10_0000u64.to_le_bytes()); // stack reserve
    put(&mut pe, opt + 80, &0x1000u64.to_le_bytes()); // stack commit
    put(&mut pe, opt + 108, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
    let sections: [(&[u8], u32, u32); 2] = [
        (b".text", 0x1000, 0x6000_0020),
        (b".data", 0x2000, 0xC000_0040),
    ];
    for (i, (name, rva, characteristics)) in sections.into_iter().enumerate() {
        let at = opt + 240 + i * 40;
        put(&mut pe, at, name);
        put(&mut pe, at + 8, &0x100u32.to_le_bytes()); // VirtualSize
        put(&mut pe, at + 12, &rva.to_le_bytes());
        put(&mut pe, at + 16, &0x200u32.to_le_bytes()); // SizeOfRawData
        put(&mut pe, at + 20, &(0x200 * (i as u32 + 1)).to_le_bytes()); // PointerToRawData
        put(&mut pe, at + 36, &characteristics.to_le_bytes());
    }
    put(&mut pe, 0x200, &[0xc3]); // the entry point: ret
    pe
}

/// A 32-bit value a header field could trip on.
fn interesting(choice: u8, value: u32, file_len: usize) -> u32 {
    match choice % 12 {
        0 => 0,
        1 => 1,
        2 => u32::MAX,
        3 => 0x8000_0000,
        4 => 0x7FFF_FFFF,
        5 => 0x1000,
        6 => 0x0FFF,
        7 => file_len as u32,
        8 => (file_len as u32).wrapping_add(1),
        9 => value << 12,
        10 => value.wrapping_neg(),
        _ => value,
    }
}

fn u32_at(pe: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(pe.get(at..at + 4)?.try_into().ok()?))
}

/// Applies the mutations encoded in `ops` (six bytes each) to `base`: byte writes and bit
/// flips anywhere, cuts, growth, and 32-bit fields of the NT headers and the section table
/// set to values that tend to break loaders.
pub fn mutate(base: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut pe = base.to_vec();
    for op in ops.chunks(6) {
        let [kind, a, b, c, d, e] = [0, 1, 2, 3, 4, 5].map(|i| op.get(i).copied().unwrap_or(0));
        let pos = usize::from(u16::from_le_bytes([a, b]));
        let value = u32::from_le_bytes([b, c, d, e]);
        let len = pe.len();
        let nt = u32_at(&pe, 0x3c).map_or(0, |v| v as usize);
        match kind % 8 {
            0 if len > 0 => pe[pos % len] = c,
            1 if len > 0 => pe[pos % len] ^= 1 << (c % 8),
            2 => pe.truncate(pos % (len + 1)),
            3 => pe.extend(std::iter::repeat_n(c, pos % 0x2000)),
            // A field of the COFF or optional header.
            4 | 5 => {
                let at = nt.saturating_add(4 + (pos % 264) / 4 * 4);
                let new = interesting(c, value, len).to_le_bytes();
                if let Some(field) = pe.get_mut(at..at + 4) {
                    field.copy_from_slice(&new);
                }
            }
            // A field of the section table.
            _ => {
                let table = nt.saturating_add(24 + 240);
                let at = table.saturating_add((pos % 160) / 4 * 4);
                let new = interesting(c, value, len).to_le_bytes();
                if let Some(field) = pe.get_mut(at..at + 4) {
                    field.copy_from_slice(&new);
                }
            }
        }
    }
    pe
}

/// Validates `file` as the kernel does for an image section and checks the result: a
/// refusal is one of [`REFUSALS`]; an accepted image has the headers' base, size, entry
/// point and stack sizes, and every page of it gets a protection and contents, as a view
/// maps them.
pub fn check_pe(file: &[u8]) -> Result<(), NtStatus> {
    let layout = match ImageLayout::parse(file) {
        Ok(layout) => layout,
        Err(status) => {
            assert!(REFUSALS.contains(&status), "unexpected refusal {status:?}");
            return Err(status);
        }
    };
    // What was accepted is what the file says, read here with the PE parser directly.
    let parsed = PeFile64::parse(file).expect("an accepted image parses");
    let header = parsed.nt_headers().optional_header();
    assert_eq!(layout.preferred_base, header.image_base());
    assert!(layout.size.is_multiple_of(PAGE) && layout.size >= u64::from(header.size_of_image()));
    let information = &layout.information;
    let expected_entry = match header.address_of_entry_point() {
        0 => 0,
        rva => header.image_base() + u64::from(rva),
    };
    assert_eq!(information.transfer_address, expected_entry);
    assert_eq!(
        (
            information.maximum_stack_size,
            information.committed_stack_size
        ),
        (
            header.size_of_stack_reserve(),
            header.size_of_stack_commit()
        )
    );
    let mut page = vec![0u8; PAGE as usize];
    for rva in (0..layout.size.min(PAGES_CHECKED * PAGE)).step_by(PAGE as usize) {
        let _ = layout.page_protection(rva);
        layout.page_contents(file, rva, &mut page);
    }
    for fixup in layout.fixups().unwrap_or_default() {
        let (rva, length) = fixup.span();
        assert!(rva + length <= layout.size, "{fixup:?} outside the image");
    }
    Ok(())
}

/// The fuzz and property-test entry point: the first byte picks the seed (the minimal PE,
/// or `real` when given), the rest mutates it; odd selectors take the input as a raw file.
pub fn pe_image(data: &[u8], real: Option<&[u8]>) -> Result<(), NtStatus> {
    let (&selector, rest) = data.split_first().unwrap_or((&0, &[]));
    match (selector % 4, real) {
        (1 | 3, _) => check_pe(rest),
        (2, Some(real)) => check_pe(&mutate(real, rest)),
        _ => check_pe(&mutate(&minimal_pe(), rest)),
    }
}
