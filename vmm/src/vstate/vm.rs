//! The KVM VM: opening /dev/kvm, memory slots for RAM and the read-only image, the
//! in-kernel irqchip, and creating vCPUs.

use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES, KVM_MEM_READONLY, kvm_userspace_memory_region};
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};

use abi::layout::IMAGE_BASE;

use crate::image::Image;
use crate::memory::GuestRam;

/// Where KVM may put the three pages it needs for real-mode emulation on Intel (in the
/// MMIO hole, as Firecracker does). Unused once vCPUs start in long mode, but set anyway.
const TSS_ADDRESS: usize = 0xfffb_d000;

/// Why the VM could not be created.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot open /dev/kvm: permission denied; add the user to the 'kvm' group \
         (sudo usermod -aG kvm $USER, then log in again) or run with access to /dev/kvm"
    )]
    KvmPermission,
    #[error(
        "cannot open /dev/kvm: no such device; this host has no KVM (load the kvm module, \
         enable virtualization, or use a KVM-capable machine)"
    )]
    KvmMissing,
    #[error("cannot open /dev/kvm")]
    KvmOpen(#[source] kvm_ioctls::Error),
    #[error("KVM API version {0} is not supported (need 12)")]
    ApiVersion(i32),
    #[error("cannot create the VM")]
    CreateVm(#[source] kvm_ioctls::Error),
    #[error("cannot create the in-kernel irqchip")]
    Irqchip(#[source] kvm_ioctls::Error),
    #[error("cannot register guest memory at {addr:#x}")]
    MemorySlot {
        addr: u64,
        #[source]
        source: kvm_ioctls::Error,
    },
    #[error("cannot map a private copy of the image")]
    ImageCopy(#[source] std::io::Error),
    #[error("cannot read the supported CPUID")]
    Cpuid(#[source] kvm_ioctls::Error),
    #[error("cannot create vCPU {index}")]
    CreateVcpu {
        index: u32,
        #[source]
        source: kvm_ioctls::Error,
    },
    #[error("{count} vCPUs requested; this host allows at most {max}")]
    TooManyVcpus { count: u32, max: usize },
}

/// An open /dev/kvm.
#[derive(Debug)]
pub struct KvmSystem {
    kvm: Kvm,
}

impl KvmSystem {
    /// Opens /dev/kvm, explaining the usual failures.
    pub fn open() -> Result<Self, Error> {
        let kvm = Kvm::new().map_err(|e| match e.errno() {
            libc::EACCES | libc::EPERM => Error::KvmPermission,
            libc::ENOENT | libc::ENODEV | libc::ENXIO => Error::KvmMissing,
            _ => Error::KvmOpen(e),
        })?;
        let version = kvm.get_api_version();
        if version != 12 {
            return Err(Error::ApiVersion(version));
        }
        Ok(Self { kvm })
    }

    /// Whether /dev/kvm is kvm-pvm, KVM without hardware virtualization: the guest kernel
    /// must know, because such a host runs a non-PVM kernel in bootstrap mode.
    pub fn is_pvm(&self) -> bool {
        std::path::Path::new("/sys/module/kvm_pvm").exists()
    }

    /// Whether KVM accepts read-only memory slots.
    pub fn has_readonly_memory(&self) -> bool {
        self.kvm.check_extension(Cap::ReadonlyMem)
    }

    /// The CPUID KVM can offer guests.
    pub fn supported_cpuid(&self) -> Result<CpuId, Error> {
        self.kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(Error::Cpuid)
    }

    /// Creates a VM. Register its memory, then create the irqchip, then vCPUs.
    pub fn create_vm(&self, cpus: u32) -> Result<Vm, Error> {
        let max = self.kvm.get_max_vcpus();
        if cpus as usize > max {
            return Err(Error::TooManyVcpus { count: cpus, max });
        }
        let fd = self.kvm.create_vm().map_err(Error::CreateVm)?;
        // Not needed in long mode and refused by some backends: ignore failures.
        let _ = fd.set_tss_address(TSS_ADDRESS);
        Ok(Vm {
            fd,
            readonly: self.has_readonly_memory(),
            image_copy: None,
        })
    }
}

/// A VM with its memory registered.
#[derive(Debug)]
pub struct Vm {
    fd: VmFd,
    readonly: bool,
    /// A private writable copy of the image, when KVM lacks read-only slots.
    image_copy: Option<PrivateCopy>,
}

impl Vm {
    /// Registers guest RAM (slots 0, 1) and the image (the next slot, read-only).
    ///
    /// The caller keeps `ram` and `image` alive, unmodified in placement, for as long as
    /// the VM exists.
    pub fn register_memory(&mut self, ram: &GuestRam, image: &Image) -> Result<(), Error> {
        let mut slot = 0;
        for (addr, size, host) in ram.host_regions() {
            let region = kvm_userspace_memory_region {
                slot,
                flags: 0,
                guest_phys_addr: addr,
                memory_size: size,
                userspace_addr: host,
            };
            // SAFETY: `host..host + size` is a live anonymous mapping owned by `ram`, which
            // the caller keeps alive as long as the VM.
            unsafe { self.fd.set_user_memory_region(region) }
                .map_err(|source| Error::MemorySlot { addr, source })?;
            slot += 1;
        }
        let (mut host, size) = image.host_mapping();
        let mut flags = KVM_MEM_READONLY;
        if !self.readonly {
            // Fallback: a private copy-on-write mapping, so guest writes never reach the file.
            let copy = PrivateCopy::new(image.bytes(), size).map_err(Error::ImageCopy)?;
            host = copy.ptr;
            self.image_copy = Some(copy);
            flags = 0;
        }
        let region = kvm_userspace_memory_region {
            slot,
            flags,
            guest_phys_addr: IMAGE_BASE,
            memory_size: size as u64,
            userspace_addr: host as u64,
        };
        // SAFETY: the image mapping (or its private copy held by self) is live and at least
        // `size` bytes long, and outlives the VM as documented above.
        unsafe { self.fd.set_user_memory_region(region) }.map_err(|source| Error::MemorySlot {
            addr: IMAGE_BASE,
            source,
        })
    }

    /// Creates the in-kernel irqchip: the local APICs only (KVM's split irqchip), as the
    /// kernel uses nothing but the x2APIC. Call after [`Self::register_memory`] and before
    /// creating vCPUs.
    ///
    /// Why not KVM_CREATE_IRQCHIP with its PIC and IOAPIC: those register I/O-bus devices,
    /// and KVM frees each replaced bus after an SRCU grace period, which closing the VM
    /// then waits for (`srcu_barrier` in `kvm_destroy_vm`): 8-18 ms on kvm-pvm for a VM
    /// that lived a few milliseconds, against 0.6 ms now. For the same reason a memory slot
    /// registered after that irqchip cost 6-12 ms.
    pub fn create_irqchip(&self) -> Result<(), Error> {
        let split_irqchip = kvm_bindings::kvm_enable_cap {
            cap: kvm_bindings::KVM_CAP_SPLIT_IRQCHIP,
            // No IOAPIC routes: no device raises an interrupt through one.
            args: [0; 4],
            ..Default::default()
        };
        self.fd.enable_cap(&split_irqchip).map_err(Error::Irqchip)
    }

    /// Whether the image slot is read-only (false means the fallback copy is used).
    pub fn image_readonly(&self) -> bool {
        self.readonly
    }

    /// Creates vCPU `index` (its APIC id).
    pub fn create_vcpu(&self, index: u32) -> Result<VcpuFd, Error> {
        self.fd
            .create_vcpu(u64::from(index))
            .map_err(|source| Error::CreateVcpu { index, source })
    }
}

/// An anonymous private mapping holding a copy of the image.
#[derive(Debug)]
struct PrivateCopy {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this value; only KVM writes to it (on the guest's behalf).
unsafe impl Send for PrivateCopy {}
// SAFETY: as above; the host never accesses it after the copy.
unsafe impl Sync for PrivateCopy {}

impl PrivateCopy {
    fn new(bytes: &[u8], len: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = ptr.cast::<u8>();
        // SAFETY: `ptr` is a fresh writable mapping of `len >= bytes.len()` bytes that
        // cannot overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len().min(len)) };
        Ok(Self { ptr, len })
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping this value owns.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}
