//! The boot floor: the smallest possible guest, an image whose "kernel" rings the Shutdown
//! doorbell at its first instruction, booted through the same `vmm::run` lifecycle as
//! `hello` (image, /dev/kvm, RAM, VM, memory slots, irqchip, vCPUs in long mode with the
//! VIF registered as for the native kernel, page tables, one KVM_RUN to the shutdown
//! hypercall, teardown). What `boot_to_exit` costs above it is our kernel's and program's.

use std::path::Path;

use abi::hypercall::{ABI_VERSION, Call, HypercallStatus, ShutdownKind};
use abi::image::{
    BOOT_CONFIG_PATH, DEFAULT_PROGRAM_KEY, KERNEL_PATH, PROGRAM_SUFFIX, SYSTEM32_DIR,
};
use abi::layout::{DIRECT_MAP_BASE, KERNEL_BASE, KERNEL_PHYS_BASE, PAGE_SIZE};

use crate::image::{Error, ImageWriter};

/// The program `boot_to_exit` boots. The floor image's boot.cfg names it as well, so both
/// runs get the same command line; the floor guest never loads it.
pub const PROGRAM: &str = "hello";

/// Size of the ELF header and of one program header.
const ELF_HEADER_SIZE: u64 = 64;
const PROGRAM_HEADER_SIZE: u64 = 56;
/// Where the code starts in the one segment: after the headers.
const CODE_OFFSET: u64 = 0x80;
/// Where the Shutdown request block is in the segment (8-byte aligned, after the code).
const BLOCK_OFFSET: u64 = 0x100;
/// Size of a Shutdown request block.
const BLOCK_SIZE: u64 = size_of::<abi::hypercall::Shutdown>() as u64;

/// The guest's code: `mov rax, doorbell; mov rcx, block; mov [rax], rcx; jmp $`. The store
/// is the Shutdown hypercall; the VMM ends the run there, so the `jmp` never runs.
fn code() -> Vec<u8> {
    let doorbell = DIRECT_MAP_BASE + Call::Shutdown.doorbell();
    let block = KERNEL_PHYS_BASE + BLOCK_OFFSET;
    let mut code = vec![0x48, 0xb8];
    code.extend_from_slice(&doorbell.to_le_bytes());
    code.extend_from_slice(&[0x48, 0xb9]);
    code.extend_from_slice(&block.to_le_bytes());
    code.extend_from_slice(&[0x48, 0x89, 0x08, 0xeb, 0xfe]);
    code
}

/// The Shutdown request, ready in the segment: exit with STATUS_SUCCESS.
fn request_block() -> Vec<u8> {
    let mut block = Vec::with_capacity(BLOCK_SIZE as usize);
    block.extend_from_slice(&ABI_VERSION.to_le_bytes());
    block.extend_from_slice(&(HypercallStatus::Pending as u32).to_le_bytes());
    block.extend_from_slice(&(ShutdownKind::Exit as u32).to_le_bytes());
    block.extend_from_slice(&0u32.to_le_bytes());
    block.resize(BLOCK_SIZE as usize, 0);
    block
}

/// The floor's kernel: an ELF64 executable with one read/write/execute PT_LOAD segment of
/// one page at KERNEL_PHYS_BASE (virtual KERNEL_BASE + KERNEL_PHYS_BASE, as the layout
/// requires of a kernel) holding the headers, the code and the request block.
pub fn kernel_elf() -> Vec<u8> {
    let vaddr = KERNEL_BASE + KERNEL_PHYS_BASE;
    let len = BLOCK_OFFSET + BLOCK_SIZE;
    let mut elf = vec![0u8; len as usize];
    let mut put = |at: u64, bytes: &[u8]| {
        elf[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    };
    put(0, b"\x7fELF\x02\x01\x01"); // 64-bit, little-endian, version 1
    put(16, &2u16.to_le_bytes()); // ET_EXEC
    put(18, &0x3eu16.to_le_bytes()); // EM_X86_64
    put(20, &1u32.to_le_bytes()); // EV_CURRENT
    put(24, &(vaddr + CODE_OFFSET).to_le_bytes()); // e_entry
    put(32, &ELF_HEADER_SIZE.to_le_bytes()); // e_phoff
    put(52, &(ELF_HEADER_SIZE as u16).to_le_bytes()); // e_ehsize
    put(54, &(PROGRAM_HEADER_SIZE as u16).to_le_bytes()); // e_phentsize
    put(56, &1u16.to_le_bytes()); // e_phnum
    let header = ELF_HEADER_SIZE;
    put(header, &1u32.to_le_bytes()); // PT_LOAD
    put(header + 4, &7u32.to_le_bytes()); // PF_R | PF_W | PF_X
    put(header + 8, &0u64.to_le_bytes()); // p_offset
    put(header + 16, &vaddr.to_le_bytes()); // p_vaddr
    put(header + 24, &KERNEL_PHYS_BASE.to_le_bytes()); // p_paddr
    put(header + 32, &len.to_le_bytes()); // p_filesz
    put(header + 40, &PAGE_SIZE.to_le_bytes()); // p_memsz
    put(header + 48, &PAGE_SIZE.to_le_bytes()); // p_align
    put(CODE_OFFSET, &code());
    put(BLOCK_OFFSET, &request_block());
    elf
}

/// Writes the floor's guest.img to `path`: the kernel, a boot.cfg naming [`PROGRAM`] and
/// a placeholder for that program.
pub fn write_image(path: &Path) -> Result<(), Error> {
    let mut image = ImageWriter::new();
    image.add(KERNEL_PATH, &kernel_elf())?;
    image.add(
        BOOT_CONFIG_PATH,
        format!("{DEFAULT_PROGRAM_KEY}={PROGRAM}\n").as_bytes(),
    )?;
    image.add(&format!("{SYSTEM32_DIR}{PROGRAM}{PROGRAM_SUFFIX}"), b"MZ")?;
    let bytes = image.finish()?;
    std::fs::write(path, bytes).map_err(|source| Error::WriteOutput {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_a_loadable_elf_at_the_kernel_base() {
        let elf = kernel_elf();
        let kernel = crate::image::parse_kernel(&elf).unwrap();
        assert_eq!(kernel.entry, KERNEL_BASE + KERNEL_PHYS_BASE + CODE_OFFSET);
        assert_eq!(kernel.segments.len(), 1);
        assert_eq!(kernel.segments[0].paddr, KERNEL_PHYS_BASE);
        const { assert!(CODE_OFFSET >= ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE) };
        const { assert!(BLOCK_OFFSET.is_multiple_of(8)) };
        assert!(CODE_OFFSET + code().len() as u64 <= BLOCK_OFFSET);
    }

    #[test]
    fn image_names_the_program() {
        let dir = std::env::temp_dir().join(format!("vmm-floor-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("floor.img");
        write_image(&path).unwrap();
        let image = crate::image::Image::open(&path).unwrap();
        assert!(image.contents.find_program(PROGRAM).is_some());
        assert_eq!(image.contents.default_program, PROGRAM);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
