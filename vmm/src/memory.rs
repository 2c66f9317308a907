//! Guest RAM: its layout around the MMIO hole (abi::layout) and its anonymous host mappings,
//! backed by transparent huge pages where the host has them.

use abi::layout::{IMAGE_BASE, LARGE_PAGE_SIZE, MMIO_HOLE_END, MMIO_HOLE_START};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// Smallest guest RAM we accept: boot data, the kernel at 2 MiB and room to run.
pub const MIN_MEMORY: u64 = 8 << 20;
/// Largest guest RAM the layout allows: below the hole plus 4 GiB up to the image.
pub const MAX_MEMORY: u64 = MMIO_HOLE_START + (IMAGE_BASE - MMIO_HOLE_END);

/// Why guest RAM could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("memory size {0} is below the minimum of {MIN_MEMORY} bytes (8M)")]
    TooSmall(u64),
    #[error("memory size {0} is above the maximum of {MAX_MEMORY} bytes (63G)")]
    TooLarge(u64),
    #[error("memory size {0} is not a multiple of 2 MiB")]
    Unaligned(u64),
    #[error("cannot allocate guest memory: {0}")]
    Allocate(String),
}

/// Guest-physical RAM ranges `(start, len)` for `size` bytes of RAM: from 0 up to the MMIO
/// hole, the rest from 4 GiB.
pub fn ram_ranges(size: u64) -> Result<Vec<(u64, u64)>, Error> {
    if size < MIN_MEMORY {
        return Err(Error::TooSmall(size));
    }
    if size > MAX_MEMORY {
        return Err(Error::TooLarge(size));
    }
    if !size.is_multiple_of(LARGE_PAGE_SIZE) {
        return Err(Error::Unaligned(size));
    }
    let low = size.min(MMIO_HOLE_START);
    let mut ranges = vec![(0, low)];
    if size > low {
        ranges.push((MMIO_HOLE_END, size - low));
    }
    Ok(ranges)
}

/// Guest RAM: anonymous, zero-filled, lazily backed host memory, advised for transparent
/// huge pages.
///
/// Why huge pages: on kvm-pvm every first touch of a host page by the guest costs a host
/// page fault and a shadow-page fault. The kernel reaches its memory through 2 MiB
/// mappings, so with 2 MiB host pages one fault covers what took up to 512: a boot of
/// `hello` spent 1 ms less in the guest, for some 0.1 ms the host spends clearing each
/// 2 MiB page on its first touch. Linux places mappings this large on 2 MiB boundaries,
/// so guest and host huge pages line up.
#[derive(Debug)]
pub struct GuestRam {
    mem: GuestMemoryMmap,
    ranges: Vec<(u64, u64)>,
}

impl GuestRam {
    /// Allocates `size` bytes of guest RAM (see [`ram_ranges`]).
    pub fn new(size: u64) -> Result<Self, Error> {
        let ranges = ram_ranges(size)?;
        let regions: Vec<(GuestAddress, usize)> = ranges
            .iter()
            .map(|&(start, len)| (GuestAddress(start), len as usize))
            .collect();
        let mem =
            GuestMemoryMmap::from_ranges(&regions).map_err(|e| Error::Allocate(e.to_string()))?;
        let ram = Self { mem, ranges };
        for (_, size, host) in ram.host_regions() {
            // SAFETY: advice on a live anonymous mapping `ram` owns, exactly its extent; it
            // changes how the host backs the memory, never its contents. A refusal (a host
            // without transparent huge pages) leaves ordinary pages, so it is ignored.
            unsafe {
                libc::madvise(
                    host as *mut libc::c_void,
                    size as usize,
                    libc::MADV_HUGEPAGE,
                )
            };
        }
        Ok(ram)
    }

    /// The vm-memory view of guest RAM.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.mem
    }

    /// Guest-physical `(start, len)` of each RAM range, in address order.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// End of RAM below the MMIO hole.
    pub fn low_end(&self) -> u64 {
        self.ranges[0].1
    }

    /// Whether `[start, start + len)` is RAM, with overflow-checked arithmetic.
    pub fn contains(&self, start: u64, len: u64) -> bool {
        ranges_contain(&self.ranges, start, len)
    }

    /// Reads `len` bytes at `start`; `None` when the range is not RAM.
    pub fn read(&self, start: u64, len: usize) -> Option<Vec<u8>> {
        if !self.contains(start, len as u64) {
            return None;
        }
        let mut buf = vec![0u8; len];
        self.mem
            .read_slice(&mut buf, GuestAddress(start))
            .ok()
            .map(|()| buf)
    }

    /// Writes `data` at `start`; false when the range is not RAM.
    pub fn write(&self, start: u64, data: &[u8]) -> bool {
        self.contains(start, data.len() as u64)
            && self.mem.write_slice(data, GuestAddress(start)).is_ok()
    }

    /// Host address and size of each region, for KVM memory slots.
    pub fn host_regions(&self) -> Vec<(u64, u64, u64)> {
        self.mem
            .iter()
            .map(|region| {
                let host = region
                    .get_host_address(vm_memory::MemoryRegionAddress(0))
                    .map_or(0, |p| p as u64);
                (region.start_addr().0, region.len(), host)
            })
            .collect()
    }
}

/// Whether `[start, start + len)` lies inside one of `ranges` (a zero length must still
/// name an address inside RAM).
pub fn ranges_contain(ranges: &[(u64, u64)], start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    ranges.iter().any(|&(r_start, r_len)| {
        let r_end = r_start + r_len;
        start >= r_start && end <= r_end && start < r_end
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_splits_around_the_hole() {
        assert_eq!(ram_ranges(256 << 20).unwrap(), [(0, 256 << 20)]);
        assert_eq!(
            ram_ranges(4 << 30).unwrap(),
            [(0, 3 << 30), (4 << 30, 1 << 30)]
        );
        assert!(matches!(ram_ranges(1 << 20), Err(Error::TooSmall(_))));
        assert!(matches!(ram_ranges(64 << 30), Err(Error::TooLarge(_))));
        assert!(matches!(
            ram_ranges((256 << 20) + 4096),
            Err(Error::Unaligned(_))
        ));
        let max = ram_ranges(MAX_MEMORY).unwrap();
        assert_eq!(max[1].0 + max[1].1, IMAGE_BASE);
    }

    #[test]
    fn containment_is_overflow_checked() {
        let r = [(0, 0x1000), (0x1_0000_0000, 0x1000)];
        assert!(ranges_contain(&r, 0, 0x1000));
        assert!(ranges_contain(&r, 0xff0, 0x10));
        assert!(!ranges_contain(&r, 0xff0, 0x11));
        assert!(!ranges_contain(&r, 0x1000, 0));
        assert!(!ranges_contain(&r, u64::MAX, 2));
        assert!(!ranges_contain(&r, 0x800, 0x1_0000_0000));
        assert!(ranges_contain(&r, 0x1_0000_0800, 8));
    }

    #[test]
    fn reads_and_writes_stay_in_ram() {
        let ram = GuestRam::new(MIN_MEMORY).unwrap();
        assert!(ram.write(0x1000, b"abc"));
        assert_eq!(ram.read(0x1000, 3).unwrap(), b"abc");
        assert!(!ram.write(MIN_MEMORY - 1, b"ab"));
        assert!(ram.read(MIN_MEMORY, 1).is_none());
    }
}
