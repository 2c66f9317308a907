//! Steps over the system services that rt and ntdll both take, each through its own
//! service stubs: this file is a module of rt's `process` and of ntdll's `native`
//! (`#[path]`), whose `nt_*` functions and `to_result` it calls through `super`.

use abi::NtStatus;
use abi::access::SYNCHRONIZE;
use abi::access::THREAD_ALL_ACCESS;
use abi::file::{
    FILE_EXECUTE, FILE_NON_DIRECTORY_FILE, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SYNCHRONOUS_IO_NONALERT, IoStatusBlock,
};
use abi::memory::PAGE_EXECUTE;
use abi::nt::ClientId;
use abi::nt::{ObjectAttributes, UnicodeString};
use abi::process::{PROCESS_BASIC_INFORMATION_CLASS, ProcessBasicInformation};
use abi::section::SectionImageInformation;
use abi::section::{SEC_IMAGE, SECTION_ALL_ACCESS, SECTION_IMAGE_INFORMATION_CLASS};
use abi::user_process::{ChildMemory, INITIAL_STACK_FRAME, InitialContext, create_classic_stack};

use super::{
    nt_allocate_virtual_memory, nt_close, nt_create_section, nt_create_thread, nt_open_file,
    nt_protect_virtual_memory, nt_query_information_process, nt_query_section,
    nt_write_virtual_memory, to_result,
};

/// NtOpenFile of the image file `path` (an NT path), then NtCreateSection(SEC_IMAGE) of
/// it: the section's handle. The file's is closed again; the section references the file.
pub fn create_image_section(path: &UnicodeString) -> Result<u64, NtStatus> {
    let attributes = ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        object_name: path as *const UnicodeString as u64,
        ..ObjectAttributes::default()
    };
    let mut file = 0;
    let mut io_status = IoStatusBlock::default();
    // SAFETY: the handle, attributes and status block are locals; the name the caller's.
    to_result(unsafe {
        nt_open_file(
            &mut file,
            SYNCHRONIZE | FILE_EXECUTE,
            &attributes,
            &mut io_status,
            FILE_SHARE_READ | FILE_SHARE_DELETE,
            FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE,
        )
    })?;
    let mut section = 0;
    // SAFETY: the handle is a local; no attributes or size.
    let created = to_result(unsafe {
        nt_create_section(
            &mut section,
            SECTION_ALL_ACCESS,
            core::ptr::null(),
            core::ptr::null(),
            PAGE_EXECUTE,
            SEC_IMAGE,
            file,
        )
    });
    // SAFETY: the file handle is this function's and no longer needed.
    unsafe { nt_close(file) };
    created.map(|()| section)
}

/// The image section of the file `path` ([`create_image_section`]) and its image
/// information (NtQuerySection).
pub fn open_image_section(
    path: &UnicodeString,
) -> Result<(u64, SectionImageInformation), NtStatus> {
    let section = create_image_section(path)?;
    let mut image = SectionImageInformation::default();
    // SAFETY: a local of the size passed.
    let queried = to_result(unsafe {
        nt_query_section(
            section,
            SECTION_IMAGE_INFORMATION_CLASS,
            (&raw mut image).cast(),
            size_of::<SectionImageInformation>() as u32,
            core::ptr::null_mut(),
        )
    });
    match queried {
        Ok(()) => Ok((section, image)),
        Err(status) => {
            // SAFETY: the section handle is this function's.
            unsafe { nt_close(section) };
            Err(status)
        }
    }
}

/// The classic path's first thread of `process`, whose PEB is at `peb`: a stack as the
/// image asks, and an initial context entering the image's entry point as a call would,
/// with the PEB as its argument (the kernel starts it in the loader first); created
/// suspended. Its handle and client ID.
pub fn create_first_thread(
    process: u64,
    image: &SectionImageInformation,
    peb: u64,
) -> Result<(u64, ClientId), NtStatus> {
    let initial_teb = create_classic_stack(&ServiceStubs, process, image)?;
    let context = InitialContext::new(
        image.transfer_address,
        initial_teb.stack_base - INITIAL_STACK_FRAME,
        peb,
    );
    let mut thread = 0;
    let mut client_id = ClientId::default();
    // SAFETY: the handle, client ID, context and INITIAL_TEB are locals.
    to_result(unsafe {
        nt_create_thread(
            &mut thread,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            process,
            &mut client_id,
            context.0.as_ptr(),
            &initial_teb,
            1,
        )
    })?;
    Ok((thread, client_id))
}

/// The memory services on another process (or this one) through the stubs: what the
/// classic path's shared steps (`abi::user_process`) and thread creation call.
pub struct ServiceStubs;

impl ChildMemory for ServiceStubs {
    fn allocate(
        &self,
        process: u64,
        base: u64,
        size: u64,
        allocation_type: u32,
        protect: u32,
    ) -> Result<u64, NtStatus> {
        let (mut base, mut size) = (base, size);
        // SAFETY: the base and size are locals.
        to_result(unsafe {
            nt_allocate_virtual_memory(process, &mut base, 0, &mut size, allocation_type, protect)
        })?;
        Ok(base)
    }

    fn protect(&self, process: u64, base: u64, size: u64, protect: u32) -> Result<(), NtStatus> {
        let (mut base, mut size, mut old) = (base, size, 0);
        // SAFETY: the base, size and old protection are locals.
        to_result(unsafe {
            nt_protect_virtual_memory(process, &mut base, &mut size, protect, &mut old)
        })
    }

    fn write(&self, process: u64, address: u64, bytes: &[u8]) -> Result<(), NtStatus> {
        // SAFETY: the bytes are the caller's; the target is memory the caller allocated
        // in the process, or its PEB.
        to_result(unsafe {
            nt_write_virtual_memory(
                process,
                address,
                bytes.as_ptr(),
                bytes.len() as u64,
                core::ptr::null_mut(),
            )
        })
    }
}

/// The process's `PROCESS_BASIC_INFORMATION`.
pub fn query_basic_information(process: u64) -> Result<ProcessBasicInformation, NtStatus> {
    let mut information = ProcessBasicInformation::default();
    // SAFETY: a local of the size passed; no return length.
    let status = unsafe {
        nt_query_information_process(
            process,
            PROCESS_BASIC_INFORMATION_CLASS,
            (&raw mut information).cast(),
            size_of::<ProcessBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status.is_success() {
        Ok(information)
    } else {
        Err(status)
    }
}
