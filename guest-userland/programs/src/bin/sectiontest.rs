//! `sectiontest`: files and sections. Opens boot-image files by NT path (and fails to open
//! missing or badly named ones), creates image and page-file-backed sections, queries
//! them, maps image views (relocated when the preferred base is taken, each page with its
//! own protection, writable pages private), shares a page-file-backed section with a child
//! process, and checks every bad input's status and that the frames come back; prints
//! `ok:`/`WRONG:` per case and ends with 0 when every answer is right.
//!
//! `sectiontest malformed NAME...` tries to create an image section of each
//! `\SystemRoot\System32\NAME` and to start it as a process, printing both statuses and
//! the frames the section took.
//! `sectiontest named` opens the named section its parent made, adds one to the value in
//! it and exits with the value it found.
//! `sectiontest data` prints the initial value of a writable static and exits with it.
//! `sectiontest paths` runs only the comparison of the two creation paths.
//! `sectiontest peb ARGS...` prints its PEB's image base and process parameters and exits
//! with 0x100 + its argument count: what both creation paths must give alike.
#![no_std]
#![no_main]

use abi::access::{
    GENERIC_WRITE, OBJ_OPENIF, PROCESS_ALL_ACCESS, PROCESS_QUERY_INFORMATION, SYNCHRONIZE,
    THREAD_ALL_ACCESS,
};
use abi::dispatcher::THREAD_CREATE_FLAGS_CREATE_SUSPENDED;
use abi::file::{
    FILE_DIRECTORY_FILE, FILE_EXECUTE, FILE_OPENED, FILE_READ_DATA, FILE_SHARE_READ, IoStatusBlock,
};
use abi::memory::{
    MEM_COMMIT, MEM_FREE, MEM_IMAGE, MEM_MAPPED, MEM_RELEASE, PAGE_EXECUTE_READ,
    PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY,
};
use abi::nt::{ObjectAttributes, UnicodeString};
use abi::process::{CONTEXT_SIZE, InitialTeb};
use abi::section::{
    SEC_COMMIT, SEC_IMAGE, SEC_RESERVE, SECTION_ALL_ACCESS, SECTION_BASIC_INFORMATION_CLASS,
    SECTION_IMAGE_INFORMATION_CLASS, SECTION_MAP_READ, SectionBasicInformation,
    SectionImageInformation, VIEW_SHARE, VIEW_UNMAP,
};
use abi::service::CURRENT_PROCESS_HANDLE;
use abi::system_information::{SYSTEM_PERFORMANCE_INFORMATION_CLASS, SystemPerformanceInformation};
use rt::process::{
    Utf16, create_process_classic, create_user_process, query_basic_information, wait,
};
use rt::syscall::{
    nt_close, nt_create_process_ex, nt_create_section, nt_create_thread, nt_duplicate_object,
    nt_free_virtual_memory, nt_map_view_of_section, nt_open_file, nt_open_section,
    nt_protect_virtual_memory, nt_query_section, nt_read_virtual_memory, nt_terminate_process,
    nt_unmap_view_of_section, nt_write_virtual_memory, query_virtual_memory,
};
use rt::tally::Tally;
use rt::{Args, NtStatus, println};

rt::entry!(main);

/// A value in read-only data, and a pointer to it that the image's relocations fix up.
static ANCHOR: u32 = 0x5EC7_1015;
static ANCHOR_POINTER: &u32 = &ANCHOR;

/// A writable static: each process of this image starts with this value in it.
static mut DATA: u32 = 0x0DA7_A000;

const PAGE: u64 = 0x1000;
const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;

fn main(args: &Args) -> NtStatus {
    match args.get(1) {
        Some("malformed") => {
            for index in 2..args.len() {
                if let Some(name) = args.get(index) {
                    malformed(name);
                }
            }
            NtStatus::SUCCESS
        }
        Some("peb") => print_peb(args),
        Some("named") => named_child(),
        Some("paths") => {
            let mut tally = Tally::default();
            creation_paths(&mut tally);
            println!("sectiontest: {} cases, {} wrong", tally.cases, tally.wrong);
            if tally.wrong == 0 {
                NtStatus::SUCCESS
            } else {
                NtStatus::UNSUCCESSFUL
            }
        }
        Some("data") => {
            // SAFETY: this process has one thread; nothing else touches the static.
            let value = unsafe { DATA };
            println!("sectiontest data: {value:#x}");
            NtStatus(value)
        }
        _ => run_all(),
    }
}

fn run_all() -> NtStatus {
    let mut tally = Tally::default();
    files(&mut tally);
    section_creation(&mut tally);
    image_views(&mut tally);
    page_file_sections(&mut tally);
    bad_views(&mut tally);
    writable_pages_are_private(&mut tally);
    creation_paths(&mut tally);
    classic_bad_input(&mut tally);
    named_sections(&mut tally);
    processes_share_images(&mut tally);
    // The first cycle grows the stack as deep as the cycle goes; the second must give
    // back every frame it takes.
    section_cycle();
    let before = available_pages();
    section_cycle();
    tally.value(
        "every frame comes back once the sections and views are gone",
        available_pages(),
        before,
    );
    println!("sectiontest: {} cases, {} wrong", tally.cases, tally.wrong);
    if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

/// `text` as UTF-16 in a fixed buffer, with the `UNICODE_STRING` and `OBJECT_ATTRIBUTES`
/// naming it (rebuilt by [`Name::attributes`], as the buffer moves with the value).
struct Name {
    units: [u16; 128],
    length: usize,
    string: UnicodeString,
    attributes: ObjectAttributes,
}

impl Name {
    fn new(text: &str) -> Self {
        let mut name = Self {
            units: [0; 128],
            length: 0,
            string: UnicodeString::default(),
            attributes: ObjectAttributes::default(),
        };
        for unit in text.encode_utf16().take(128) {
            name.units[name.length] = unit;
            name.length += 1;
        }
        name
    }

    fn attributes(&mut self) -> &ObjectAttributes {
        let bytes = (self.length * 2) as u16;
        self.string = UnicodeString {
            length: bytes,
            maximum_length: bytes,
            reserved: 0,
            buffer: self.units.as_ptr() as u64,
        };
        self.attributes = ObjectAttributes {
            length: size_of::<ObjectAttributes>() as u32,
            object_name: &raw const self.string as u64,
            ..ObjectAttributes::default()
        };
        &self.attributes
    }
}

/// NtOpenFile of `path` with `access` and `options`: the status, the handle and the I/O
/// status block's Information.
fn open_file(path: &str, access: u32, options: u32) -> (NtStatus, u64, u64) {
    let mut name = Name::new(path);
    let mut handle = 0;
    let mut io_status = IoStatusBlock::default();
    // SAFETY: the handle, attributes, name and status block are locals.
    let status = unsafe {
        nt_open_file(
            &mut handle,
            access,
            name.attributes(),
            &mut io_status,
            FILE_SHARE_READ,
            options,
        )
    };
    (status, handle, io_status.information)
}

fn close(handle: u64) {
    // SAFETY: the handle is this program's and no longer used.
    unsafe { nt_close(handle) };
}

fn files(tally: &mut Tally) {
    let (status, handle, information) = open_file(
        "\\SystemRoot\\System32\\sectiontest.exe",
        FILE_EXECUTE | SYNCHRONIZE,
        0,
    );
    tally.status(
        "open \\SystemRoot\\System32\\sectiontest.exe",
        status,
        NtStatus::SUCCESS,
    );
    tally.value(
        "the I/O status block says FILE_OPENED",
        information,
        FILE_OPENED,
    );
    close(handle);
    for path in [
        "\\??\\C:\\Windows\\System32\\hello.exe",
        "\\systemroot\\SYSTEM32\\Hello.EXE",
        "\\SystemRoot\\boot.cfg",
    ] {
        let (status, handle, _) = open_file(path, FILE_READ_DATA, 0);
        tally.status(path, status, NtStatus::SUCCESS);
        close(handle);
    }
    let cases = [
        (
            "\\SystemRoot\\System32\\missing.exe",
            NtStatus::OBJECT_NAME_NOT_FOUND,
        ),
        (
            "\\SystemRoot\\NoSuchDirectory\\hello.exe",
            NtStatus::OBJECT_PATH_NOT_FOUND,
        ),
        (
            "\\Device\\Nothing\\hello.exe",
            NtStatus::OBJECT_PATH_NOT_FOUND,
        ),
        ("System32\\hello.exe", NtStatus::OBJECT_PATH_SYNTAX_BAD),
        (
            "\\SystemRoot\\System32\\\\hello.exe",
            NtStatus::OBJECT_NAME_INVALID,
        ),
        (
            "\\SystemRoot\\System32\\he*lo.exe",
            NtStatus::OBJECT_NAME_INVALID,
        ),
        (
            "\\SystemRoot\\System32\\..\\boot.cfg",
            NtStatus::OBJECT_NAME_INVALID,
        ),
        ("\\SystemRoot\\System32", NtStatus::FILE_IS_A_DIRECTORY),
    ];
    for (path, expected) in cases {
        let (status, _, _) = open_file(path, FILE_READ_DATA, 0);
        tally.status(path, status, expected);
    }
    let (status, _, _) = open_file("\\SystemRoot\\System32\\hello.exe", GENERIC_WRITE, 0);
    tally.status(
        "write access to a read-only file",
        status,
        NtStatus::ACCESS_DENIED,
    );
    let (status, _, _) = open_file(
        "\\SystemRoot\\System32\\hello.exe",
        FILE_READ_DATA,
        FILE_DIRECTORY_FILE,
    );
    tally.status(
        "FILE_DIRECTORY_FILE on a file",
        status,
        NtStatus::NOT_A_DIRECTORY,
    );
    let mut name = Name::new("\\SystemRoot\\System32\\hello.exe");
    let mut io_status = IoStatusBlock::default();
    // SAFETY: the handle pointer is a kernel address the kernel must refuse; the rest are
    // locals.
    let status = unsafe {
        nt_open_file(
            KERNEL_ADDRESS as *mut u64,
            FILE_READ_DATA,
            name.attributes(),
            &mut io_status,
            0,
            0,
        )
    };
    tally.status(
        "a kernel handle pointer",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
    let mut handle = 0;
    // SAFETY: locals; the share access is undefined.
    let status = unsafe {
        nt_open_file(
            &mut handle,
            FILE_READ_DATA,
            name.attributes(),
            &mut io_status,
            0x80,
            0,
        )
    };
    tally.status(
        "undefined share access",
        status,
        NtStatus::INVALID_PARAMETER,
    );
}

/// NtCreateSection: the status and the handle.
fn create_section(size: Option<u64>, protect: u32, attributes: u32, file: u64) -> (NtStatus, u64) {
    let mut handle = 0;
    let size = size.unwrap_or(0);
    let size_pointer = if size == 0 {
        core::ptr::null()
    } else {
        &raw const size
    };
    // SAFETY: the handle and size are locals.
    let status = unsafe {
        nt_create_section(
            &mut handle,
            SECTION_ALL_ACCESS,
            core::ptr::null(),
            size_pointer,
            protect,
            attributes,
            file,
        )
    };
    (status, handle)
}

/// An image section of `\SystemRoot\System32\NAME`: the status and the section handle.
fn image_section(name: &str) -> (NtStatus, u64) {
    let mut buffer = [0u8; 96];
    let prefix = b"\\SystemRoot\\System32\\";
    let end = (prefix.len() + name.len()).min(buffer.len());
    buffer[..prefix.len()].copy_from_slice(prefix);
    buffer[prefix.len()..end].copy_from_slice(&name.as_bytes()[..end - prefix.len()]);
    image_section_of(core::str::from_utf8(&buffer[..end]).unwrap_or(""))
}

/// An image section of the file at NT path `path`: the status and the section handle.
fn image_section_of(path: &str) -> (NtStatus, u64) {
    let (status, file, _) = open_file(path, FILE_EXECUTE | SYNCHRONIZE, 0);
    if !status.is_success() {
        return (status, 0);
    }
    let (status, section) = create_section(None, PAGE_EXECUTE_WRITECOPY, SEC_IMAGE, file);
    close(file);
    (status, section)
}

fn query<T: Default>(section: u64, class: u32) -> (NtStatus, T) {
    let mut information = T::default();
    let mut returned = 0;
    // SAFETY: a local of the size passed, and a local return length.
    let status = unsafe {
        nt_query_section(
            section,
            class,
            (&raw mut information).cast(),
            size_of::<T>() as u32,
            &mut returned,
        )
    };
    (status, information)
}

fn section_creation(tally: &mut Tally) {
    let (status, _) = image_section_of("\\SystemRoot\\boot.cfg");
    tally.status(
        "an image section of a text file",
        status,
        NtStatus::INVALID_IMAGE_NOT_MZ,
    );
    let (status, _) = image_section_of("\\SystemRoot\\kernel");
    tally.status(
        "an image section of the kernel's ELF",
        status,
        NtStatus::INVALID_IMAGE_NOT_MZ,
    );
    let (_, file, _) = open_file("\\SystemRoot\\System32\\hello.exe", FILE_READ_DATA, 0);
    let (status, _) = create_section(None, PAGE_EXECUTE_WRITECOPY, SEC_IMAGE, file);
    tally.status(
        "SEC_IMAGE of a file without FILE_EXECUTE",
        status,
        NtStatus::ACCESS_DENIED,
    );
    let (status, _) = create_section(Some(PAGE), PAGE_READWRITE, SEC_COMMIT, file);
    tally.status("a section of a data file", status, NtStatus::NOT_SUPPORTED);
    close(file);
    let cases = [
        (
            None,
            PAGE_EXECUTE_WRITECOPY,
            SEC_IMAGE,
            NtStatus::INVALID_FILE_FOR_SECTION,
        ),
        (
            None,
            PAGE_READWRITE,
            SEC_COMMIT,
            NtStatus::INVALID_PARAMETER_4,
        ),
        (
            Some(PAGE),
            PAGE_READWRITE,
            SEC_RESERVE,
            NtStatus::INVALID_PARAMETER_6,
        ),
        (
            Some(PAGE),
            PAGE_READWRITE,
            SEC_IMAGE | SEC_COMMIT,
            NtStatus::INVALID_PARAMETER_6,
        ),
        (
            Some(PAGE),
            0x3,
            SEC_COMMIT,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            Some(PAGE),
            PAGE_READWRITE | PAGE_GUARD,
            SEC_COMMIT,
            NtStatus::INVALID_PAGE_PROTECTION,
        ),
        (
            Some(1 << 50),
            PAGE_READWRITE,
            SEC_COMMIT,
            NtStatus::COMMITMENT_LIMIT,
        ),
    ];
    for (size, protect, attributes, expected) in cases {
        let (status, _) = create_section(size, protect, attributes, 0);
        tally.status("a bad NtCreateSection", status, expected);
    }
    let (status, hello) = image_section("hello.exe");
    tally.status("an image section of hello.exe", status, NtStatus::SUCCESS);
    let (status, image) = query::<SectionImageInformation>(hello, SECTION_IMAGE_INFORMATION_CLASS);
    tally.status("SectionImageInformation", status, NtStatus::SUCCESS);
    tally.value("its machine", u64::from(image.machine), 0x8664);
    tally.value("its subsystem (native)", u64::from(image.subsystem_type), 1);
    tally.check(
        "its entry point and stack sizes",
        image.transfer_address > 0x1_4000_0000
            && image.maximum_stack_size >= image.committed_stack_size
            && image.committed_stack_size > 0,
        &"",
    );
    let (status, basic) = query::<SectionBasicInformation>(hello, SECTION_BASIC_INFORMATION_CLASS);
    tally.status("SectionBasicInformation", status, NtStatus::SUCCESS);
    tally.value(
        "an image section's attributes",
        u64::from(basic.allocation_attributes),
        u64::from(SEC_IMAGE),
    );
    let (status, _) = query::<[u8; 8]>(hello, SECTION_IMAGE_INFORMATION_CLASS);
    tally.status("a buffer too small", status, NtStatus::INFO_LENGTH_MISMATCH);
    let (status, _) = query::<SectionBasicInformation>(hello, 7);
    tally.status("an unknown class", status, NtStatus::INVALID_INFO_CLASS);
    close(hello);
    let (_, data) = create_section(Some(3 * PAGE + 5), PAGE_READWRITE, SEC_COMMIT, 0);
    let (status, _) = query::<SectionImageInformation>(data, SECTION_IMAGE_INFORMATION_CLASS);
    tally.status(
        "image information of a data section",
        status,
        NtStatus::SECTION_NOT_IMAGE,
    );
    let (_, basic) = query::<SectionBasicInformation>(data, SECTION_BASIC_INFORMATION_CLASS);
    tally.value(
        "a page-file-backed section's size",
        basic.maximum_size,
        3 * PAGE + 5,
    );
    close(data);
}

/// NtMapViewOfSection: the status, base and size.
fn map(section: u64, process: u64, base: u64, size: u64, protect: u32) -> (NtStatus, u64, u64) {
    let mut base = base;
    let mut size = size;
    // SAFETY: the base and size are locals; the view goes where nothing of this program is.
    let status = unsafe {
        nt_map_view_of_section(
            section,
            process,
            &mut base,
            0,
            0,
            core::ptr::null_mut(),
            &mut size,
            VIEW_UNMAP,
            0,
            protect,
        )
    };
    (status, base, size)
}

fn unmap(process: u64, base: u64) -> NtStatus {
    // SAFETY: nothing here uses the view afterwards.
    unsafe { nt_unmap_view_of_section(process, base) }
}

/// Reads a `T` at `address` of this process.
fn read<T: Copy>(address: u64) -> T {
    // SAFETY: callers pass addresses of mapped, readable views.
    unsafe { (address as *const T).read_unaligned() }
}

/// This image's base (the PEB's ImageBaseAddress).
fn own_image_base() -> u64 {
    query_basic_information(CURRENT_PROCESS_HANDLE)
        .map_or(0, |basic| read::<u64>(basic.peb_base_address + 0x10))
}

fn image_views(tally: &mut Tally) {
    let own = own_image_base();
    let (_, section) = image_section("sectiontest.exe");
    let (_, info) = query::<SectionImageInformation>(section, SECTION_IMAGE_INFORMATION_CLASS);
    let available = available_pages();
    let (status, first, size) = map(
        section,
        CURRENT_PROCESS_HANDLE,
        0,
        0,
        PAGE_EXECUTE_WRITECOPY,
    );
    let taken = available - available_pages();
    println!(
        "sectiontest: a relocated view of {} pages took {taken} frames",
        size / PAGE
    );
    tally.check(
        "a view shares the image's pages: it takes fewer frames than it has pages",
        taken < size / PAGE,
        &taken,
    );
    tally.status(
        "a view of this program's image, whose base is taken",
        status,
        NtStatus::IMAGE_NOT_AT_BASE,
    );
    let (status, second, _) = map(
        section,
        CURRENT_PROCESS_HANDLE,
        0,
        0,
        PAGE_EXECUTE_WRITECOPY,
    );
    tally.status("a second view", status, NtStatus::IMAGE_NOT_AT_BASE);
    tally.check(
        "the views are apart",
        first != second && first != own,
        &first,
    );
    tally.value(
        "the view's headers",
        u64::from(read::<u16>(first)),
        u64::from(u16::from_le_bytes(*b"MZ")),
    );
    let headers = query_virtual_memory(first).1;
    tally.check(
        "the headers are a read-only page of an image",
        headers.kind == MEM_IMAGE
            && headers.protect == PAGE_READONLY
            && headers.allocation_base == first,
        &headers.protect,
    );
    let entry = info.transfer_address - own + first;
    let code = query_virtual_memory(entry).1;
    tally.value(
        "the code is execute-read",
        u64::from(code.protect),
        u64::from(PAGE_EXECUTE_READ),
    );
    // SAFETY: `DATA` is only read for its address.
    let data_rva = (&raw const DATA) as u64 - own;
    let data = query_virtual_memory(first + data_rva).1;
    tally.value(
        "the data is copy-on-write",
        u64::from(data.protect),
        u64::from(PAGE_WRITECOPY),
    );
    let (_, basic) = query::<SectionBasicInformation>(section, SECTION_BASIC_INFORMATION_CLASS);
    tally.value("a view is as big as the image", size, basic.maximum_size);

    // Relocation: the pointer to ANCHOR in each view points at that view's ANCHOR.
    let pointer_rva = (&raw const ANCHOR_POINTER) as u64 - own;
    let anchor_rva = (&raw const ANCHOR) as u64 - own;
    for base in [first, second] {
        let pointer = read::<u64>(base + pointer_rva);
        tally.value("a relocated pointer", pointer, base + anchor_rva);
        tally.value(
            "what it points at",
            u64::from(read::<u32>(pointer)),
            0x5EC7_1015,
        );
    }
    tally.value(
        "this image's own pointer is unchanged",
        read::<u64>(own + pointer_rva),
        own + anchor_rva,
    );

    // Writable pages are each view's own; a read-only page made writable becomes so.
    // SAFETY: the data page of the first view is copy-on-write, so writable.
    unsafe { ((first + data_rva) as *mut u32).write_volatile(0xF1F1_F1F1) };
    tally.value(
        "a write to one view's data",
        u64::from(read::<u32>(second + data_rva)),
        0x0DA7_A000,
    );
    tally.value(
        "the written page is read-write from then on",
        u64::from(query_virtual_memory(first + data_rva).1.protect),
        u64::from(PAGE_READWRITE),
    );
    tally.value(
        "the other view's is still copy-on-write",
        u64::from(query_virtual_memory(second + data_rva).1.protect),
        u64::from(PAGE_WRITECOPY),
    );
    let mut base = first;
    let mut length = PAGE;
    let mut old = 0;
    // SAFETY: locals.
    let status = unsafe {
        nt_protect_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut base,
            &mut length,
            PAGE_READWRITE,
            &mut old,
        )
    };
    tally.status(
        "making a view's headers writable",
        status,
        NtStatus::SUCCESS,
    );
    // SAFETY: the page was just made writable, in this view only.
    unsafe { (first as *mut u16).write_volatile(0x5858) };
    tally.value(
        "the other view's headers",
        u64::from(read::<u16>(second)),
        u64::from(u16::from_le_bytes(*b"MZ")),
    );
    tally.value(
        "this image's headers",
        u64::from(read::<u16>(own)),
        u64::from(u16::from_le_bytes(*b"MZ")),
    );

    let mut free_base = first;
    let mut free_size = 0;
    // SAFETY: locals; the kernel refuses to free a view.
    let status = unsafe {
        nt_free_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut free_base,
            &mut free_size,
            MEM_RELEASE,
        )
    };
    tally.status(
        "NtFreeVirtualMemory of a view",
        status,
        NtStatus::UNABLE_TO_DELETE_SECTION,
    );
    tally.status(
        "unmap by an address inside",
        unmap(CURRENT_PROCESS_HANDLE, entry),
        NtStatus::SUCCESS,
    );
    tally.value(
        "the range is free again",
        u64::from(query_virtual_memory(first).1.state),
        u64::from(MEM_FREE),
    );
    tally.status(
        "unmap it again",
        unmap(CURRENT_PROCESS_HANDLE, first),
        NtStatus::NOT_MAPPED_VIEW,
    );
    tally.status(
        "unmap the other",
        unmap(CURRENT_PROCESS_HANDLE, second),
        NtStatus::SUCCESS,
    );
    let (status, at, _) = map(
        section,
        CURRENT_PROCESS_HANDLE,
        0x7000_0000,
        0,
        PAGE_EXECUTE_WRITECOPY,
    );
    tally.status(
        "an image at a base asked for",
        status,
        NtStatus::IMAGE_NOT_AT_BASE,
    );
    tally.value("where it went", at, 0x7000_0000);
    tally.value(
        "its pointer, relocated there",
        read::<u64>(at + pointer_rva),
        at + anchor_rva,
    );
    unmap(CURRENT_PROCESS_HANDLE, at);
    tally.status(
        "unmap private memory",
        unmap(CURRENT_PROCESS_HANDLE, own_stack()),
        NtStatus::NOT_MAPPED_VIEW,
    );
    tally.status(
        "unmap a kernel address",
        unmap(CURRENT_PROCESS_HANDLE, KERNEL_ADDRESS),
        NtStatus::INVALID_PARAMETER_2,
    );
    close(section);
}

/// An address on this thread's stack (private memory).
fn own_stack() -> u64 {
    let local = 0u8;
    &raw const local as u64
}

fn page_file_sections(tally: &mut Tally) {
    let (status, section) = create_section(Some(2 * PAGE), PAGE_READWRITE, SEC_COMMIT, 0);
    tally.status("a page-file-backed section", status, NtStatus::SUCCESS);
    let (status, view, size) = map(section, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READWRITE);
    tally.status("a view of it", status, NtStatus::SUCCESS);
    tally.value("the view's size", size, 2 * PAGE);
    let information = query_virtual_memory(view).1;
    tally.check(
        "a committed, mapped, read-write region",
        information.kind == MEM_MAPPED
            && information.state == MEM_COMMIT
            && information.protect == PAGE_READWRITE,
        &information.kind,
    );
    tally.value("it starts zero-filled", read::<u64>(view + PAGE), 0);
    // SAFETY: the view is mapped read-write.
    unsafe { ((view + PAGE) as *mut u64).write_volatile(0x5AA5_0001) };
    let (_, again, _) = map(section, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READONLY);
    tally.value(
        "a second view sees the write",
        read::<u64>(again + PAGE),
        0x5AA5_0001,
    );
    let (status, copy, _) = map(section, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_WRITECOPY);
    tally.status("a copy-on-write view", status, NtStatus::SUCCESS);
    // SAFETY: the view is copy-on-write, so writable.
    unsafe { ((copy + PAGE) as *mut u64).write_volatile(0xC0C0) };
    tally.value(
        "its write stays its own",
        read::<u64>(again + PAGE),
        0x5AA5_0001,
    );

    // Another process: a child, held suspended, maps the same section.
    let child = create_user_process(
        "sectiontest",
        "sectiontest data",
        0,
        THREAD_CREATE_FLAGS_CREATE_SUSPENDED,
    );
    let Ok(child) = child else {
        tally.check("a child process", false, &"not created");
        return;
    };
    let (status, in_child, _) = map(section, child.process, 0, 0, PAGE_READWRITE);
    tally.status("a view in the child", status, NtStatus::SUCCESS);
    let mut value = 0u64;
    // SAFETY: a local buffer of the size passed.
    let status = unsafe {
        nt_read_virtual_memory(
            child.process,
            in_child + PAGE,
            (&raw mut value).cast(),
            8,
            core::ptr::null_mut(),
        )
    };
    tally.status("reading the child's view", status, NtStatus::SUCCESS);
    tally.value(
        "the child's view holds this process's write",
        value,
        0x5AA5_0001,
    );
    let written = 0x0C41_1D00u64;
    // SAFETY: a local buffer of the size passed.
    let status = unsafe {
        nt_write_virtual_memory(
            child.process,
            in_child,
            (&raw const written).cast(),
            8,
            core::ptr::null_mut(),
        )
    };
    tally.status("writing the child's view", status, NtStatus::SUCCESS);
    tally.value(
        "this process sees the child's page change",
        read::<u64>(view),
        written,
    );
    // A process handle without PROCESS_VM_OPERATION maps nothing.
    let mut limited = 0;
    // SAFETY: a local for the new handle.
    unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            child.process,
            CURRENT_PROCESS_HANDLE,
            &mut limited,
            PROCESS_QUERY_INFORMATION,
            0,
            0,
        )
    };
    let (status, _, _) = map(section, limited, 0, 0, PAGE_READWRITE);
    tally.status(
        "a process handle without VM_OPERATION",
        status,
        NtStatus::ACCESS_DENIED,
    );
    close(limited);
    tally.status(
        "unmap the child's view",
        unmap(child.process, in_child),
        NtStatus::SUCCESS,
    );
    // SAFETY: the child is this program's and never ran.
    unsafe { nt_terminate_process(child.process, NtStatus(7)) };
    wait(child.process);
    child.close();
    for base in [view, again, copy] {
        unmap(CURRENT_PROCESS_HANDLE, base);
    }
    close(section);
}

fn bad_views(tally: &mut Tally) {
    let (_, section) = create_section(Some(0x20000), PAGE_READWRITE, SEC_COMMIT, 0);
    let (status, _, _) = map(
        section,
        CURRENT_PROCESS_HANDLE,
        0x7000_1000,
        0,
        PAGE_READWRITE,
    );
    tally.status(
        "a base not 64 KiB-aligned",
        status,
        NtStatus::MAPPED_ALIGNMENT,
    );
    let (status, _, _) = map(
        section,
        CURRENT_PROCESS_HANDLE,
        own_image_base(),
        0,
        PAGE_READWRITE,
    );
    tally.status(
        "a base that is taken",
        status,
        NtStatus::CONFLICTING_ADDRESSES,
    );
    let (status, _, _) = map(section, CURRENT_PROCESS_HANDLE, 0, 0x30000, PAGE_READWRITE);
    tally.status(
        "a view larger than the section",
        status,
        NtStatus::INVALID_VIEW_SIZE,
    );
    let (status, _, _) = map(section, CURRENT_PROCESS_HANDLE, 0, 0, 0x3);
    tally.status(
        "a bad protection",
        status,
        NtStatus::INVALID_PAGE_PROTECTION,
    );
    let (status, _, _) = map(section, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_EXECUTE_READ);
    tally.status(
        "executable view of a read-write section",
        status,
        NtStatus::SECTION_PROTECTION,
    );
    let (status, _, _) = map(section, 0x1234, 0, 0, PAGE_READWRITE);
    tally.status("a bad process handle", status, NtStatus::INVALID_HANDLE);
    let (status, _, _) = map(0x1234, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READWRITE);
    tally.status("a bad section handle", status, NtStatus::INVALID_HANDLE);
    // The arguments `map` leaves at their defaults: (what, offset, inherit disposition,
    // allocation type, expected status).
    let cases = [
        (
            "an offset not 64 KiB-aligned",
            Some(0x1000u64),
            VIEW_SHARE,
            0,
            NtStatus::MAPPED_ALIGNMENT,
        ),
        (
            "a bad inherit disposition",
            None,
            3,
            0,
            NtStatus::INVALID_PARAMETER_8,
        ),
        (
            "a bad allocation type",
            None,
            VIEW_SHARE,
            MEM_COMMIT,
            NtStatus::INVALID_PARAMETER_9,
        ),
    ];
    for (what, mut offset, inherit, allocation_type, expected) in cases {
        let offset = offset
            .as_mut()
            .map_or(core::ptr::null_mut(), |offset| offset as *mut u64);
        let mut base = 0u64;
        let mut size = 0u64;
        // SAFETY: locals; a NULL offset means offset 0.
        let status = unsafe {
            nt_map_view_of_section(
                section,
                CURRENT_PROCESS_HANDLE,
                &mut base,
                0,
                0,
                offset,
                &mut size,
                inherit,
                allocation_type,
                PAGE_READWRITE,
            )
        };
        tally.status(what, status, expected);
    }
    let mut size = 0u64;
    // SAFETY: the base pointer is a kernel address the kernel must refuse.
    let status = unsafe {
        nt_map_view_of_section(
            section,
            CURRENT_PROCESS_HANDLE,
            KERNEL_ADDRESS as *mut u64,
            0,
            0,
            core::ptr::null_mut(),
            &mut size,
            VIEW_SHARE,
            0,
            PAGE_READWRITE,
        )
    };
    tally.status("a kernel base pointer", status, NtStatus::ACCESS_VIOLATION);
    let mut read_only = 0;
    // SAFETY: a local for the new handle.
    unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            section,
            CURRENT_PROCESS_HANDLE,
            &mut read_only,
            SECTION_MAP_READ,
            0,
            0,
        )
    };
    let (status, _, _) = map(read_only, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READWRITE);
    tally.status(
        "a read-write view through a map-read handle",
        status,
        NtStatus::ACCESS_DENIED,
    );
    let (status, view, _) = map(read_only, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READONLY);
    tally.status("a read-only view through it", status, NtStatus::SUCCESS);
    let mut protect_base = view;
    let mut length = PAGE;
    let mut old = 0;
    // SAFETY: locals.
    let status = unsafe {
        nt_protect_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut protect_base,
            &mut length,
            PAGE_READWRITE,
            &mut old,
        )
    };
    tally.status(
        "making a read-only view writable",
        status,
        NtStatus::SECTION_PROTECTION,
    );
    let (status, _) = query::<SectionBasicInformation>(read_only, SECTION_BASIC_INFORMATION_CLASS);
    tally.status(
        "a query without SECTION_QUERY",
        status,
        NtStatus::ACCESS_DENIED,
    );
    unmap(CURRENT_PROCESS_HANDLE, view);
    close(read_only);
    close(section);
}

fn writable_pages_are_private(tally: &mut Tally) {
    // SAFETY: this process has one thread; nothing else touches the static.
    unsafe { DATA = 0x1111_2222 };
    let child = create_user_process("sectiontest", "sectiontest data", 0, 0);
    let Ok(child) = child else {
        tally.check("a child process", false, &"not created");
        return;
    };
    wait(child.process);
    let status = query_basic_information(child.process).map_or(0, |b| b.exit_status);
    tally.value(
        "a child of the same image starts with its own data",
        u64::from(status),
        0x0DA7_A000,
    );
    child.close();
}

/// Image and page-file-backed sections created, mapped (relocated), written, protected,
/// unmapped and closed.
fn section_cycle() {
    let (_, image) = image_section("sectiontest.exe");
    let (_, first, _) = map(image, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_EXECUTE_WRITECOPY);
    let (_, second, _) = map(image, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_EXECUTE_WRITECOPY);
    let mut base = first;
    let mut length = PAGE;
    let mut old = 0;
    // SAFETY: locals; the page is then written in this view only.
    unsafe {
        nt_protect_virtual_memory(
            CURRENT_PROCESS_HANDLE,
            &mut base,
            &mut length,
            PAGE_READWRITE,
            &mut old,
        );
        (first as *mut u16).write_volatile(0x5858);
    }
    unmap(CURRENT_PROCESS_HANDLE, first);
    unmap(CURRENT_PROCESS_HANDLE, second);
    close(image);
    let (_, data) = create_section(Some(4 * PAGE), PAGE_READWRITE, SEC_COMMIT, 0);
    let (_, view, _) = map(data, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READWRITE);
    // SAFETY: the view is mapped read-write.
    unsafe { (view as *mut u64).write_volatile(1) };
    unmap(CURRENT_PROCESS_HANDLE, view);
    close(data);
}

fn available_pages() -> u64 {
    let (_, performance, _) = rt::process::query_system(
        SYSTEM_PERFORMANCE_INFORMATION_CLASS,
        SystemPerformanceInformation::default(),
    );
    u64::from(performance.available_pages)
}

/// The name of the section `sectiontest named` opens.
const SHARED_SECTION_NAME: &str = "\\BaseNamedObjects\\SectionTestShared";

/// NtCreateSection of a named page-file-backed section of one page.
fn create_named_section(name: &str, attributes: u32) -> (NtStatus, u64) {
    let mut name = Name::new(name);
    let mut object_attributes = *name.attributes();
    object_attributes.attributes = attributes;
    let size = PAGE;
    let mut handle = 0;
    // SAFETY: the handle, attributes, name and size are locals.
    let status = unsafe {
        nt_create_section(
            &mut handle,
            SECTION_ALL_ACCESS,
            &object_attributes,
            &size,
            PAGE_READWRITE,
            SEC_COMMIT,
            0,
        )
    };
    (status, handle)
}

/// NtOpenSection by name: the status and the handle.
fn open_section(name: &str) -> (NtStatus, u64) {
    let mut name = Name::new(name);
    let mut handle = 0;
    // SAFETY: the handle, attributes and name are locals.
    let status = unsafe { nt_open_section(&mut handle, SECTION_ALL_ACCESS, name.attributes()) };
    (status, handle)
}

/// `sectiontest named`: opens the parent's named section, maps it, adds one to the value
/// in it and exits with the value it found.
fn named_child() -> NtStatus {
    let (status, section) = open_section(SHARED_SECTION_NAME);
    if !status.is_success() {
        return status;
    }
    let (status, view, _) = map(section, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READWRITE);
    if !status.is_success() {
        return status;
    }
    let found = read::<u32>(view);
    // SAFETY: the view is mapped read-write.
    unsafe { (view as *mut u32).write_volatile(found + 1) };
    NtStatus(found)
}

fn named_sections(tally: &mut Tally) {
    let (status, section) = create_named_section(SHARED_SECTION_NAME, 0);
    tally.status("a named section", status, NtStatus::SUCCESS);
    let (status, _) = create_named_section(SHARED_SECTION_NAME, 0);
    tally.status(
        "the same name again",
        status,
        NtStatus::OBJECT_NAME_COLLISION,
    );
    let (status, again) = create_named_section(SHARED_SECTION_NAME, OBJ_OPENIF);
    tally.status(
        "the same name with OBJ_OPENIF",
        status,
        NtStatus::OBJECT_NAME_EXISTS,
    );
    close(again);
    let (_, view, _) = map(section, CURRENT_PROCESS_HANDLE, 0, 0, PAGE_READWRITE);
    // SAFETY: the view is mapped read-write.
    unsafe { (view as *mut u32).write_volatile(0x4242) };
    match create_user_process("sectiontest", "sectiontest named", 0, 0) {
        Ok(child) => {
            wait(child.process);
            let found = query_basic_information(child.process).map_or(0, |b| b.exit_status);
            tally.value(
                "a child opens the section by name and finds the value",
                u64::from(found),
                0x4242,
            );
            tally.value(
                "the child's write shows here",
                u64::from(read::<u32>(view)),
                0x4243,
            );
            child.close();
        }
        Err(status) => tally.status("a child", status, NtStatus::SUCCESS),
    }
    let (status, _) = open_section("\\BaseNamedObjects\\NoSuchSection");
    tally.status(
        "NtOpenSection of a missing name",
        status,
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );
    let (status, _) = open_section("\\BaseNamedObjects");
    tally.status(
        "NtOpenSection of a directory",
        status,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    unmap(CURRENT_PROCESS_HANDLE, view);
    close(section);
    let (status, _) = open_section(SHARED_SECTION_NAME);
    tally.status(
        "the name goes with the last handle",
        status,
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );

    // A file is no directory to open names relative to.
    let (_, file, _) = open_file("\\SystemRoot\\System32\\hello.exe", FILE_READ_DATA, 0);
    let mut name = Name::new("hello.exe");
    let mut relative = *name.attributes();
    relative.root_directory = file;
    let mut handle = 0;
    let mut io_status = IoStatusBlock::default();
    // SAFETY: locals.
    let status =
        unsafe { nt_open_file(&mut handle, FILE_READ_DATA, &relative, &mut io_status, 0, 0) };
    tally.status(
        "a name relative to a file",
        status,
        NtStatus::NOT_A_DIRECTORY,
    );
    close(file);
}

/// Frames a suspended child of `image` takes (it is ended and closed afterwards).
fn child_frames(image: &str) -> u64 {
    let before = available_pages();
    let child = create_user_process(image, image, 0, THREAD_CREATE_FLAGS_CREATE_SUSPENDED);
    let taken = before.saturating_sub(available_pages());
    if let Ok(child) = child {
        // SAFETY: the child is this program's and never ran.
        unsafe { nt_terminate_process(child.process, NtStatus(0)) };
        wait(child.process);
        child.close();
    }
    taken
}

/// A process of an image another process (or section) holds shares the image's pages:
/// it takes exactly the frames the image's control area filled fewer.
fn processes_share_images(tally: &mut Tally) {
    let alone = child_frames("hello");
    let before = available_pages();
    let (_, section) = image_section("hello.exe");
    let control_area = before.saturating_sub(available_pages());
    let sharing = child_frames("hello");
    println!(
        "sectiontest: a hello process takes {alone} frames alone, {sharing} beside an open section of it ({control_area} frames)"
    );
    tally.check(
        "an open image section makes its pages",
        control_area > 0,
        &control_area,
    );
    tally.value(
        "a process of an image with an open section shares its pages",
        sharing + control_area,
        alone,
    );
    close(section);
}

/// The command line both creation paths give their child.
const PEB_COMMAND_LINE: &str = "sectiontest peb \"two words\" 42";

/// Prints what the PEB holds, for the comparison of the creation paths; the exit status
/// is 0x100 plus the argument count.
fn print_peb(args: &Args) -> NtStatus {
    let peb = query_basic_information(CURRENT_PROCESS_HANDLE).map_or(0, |b| b.peb_base_address);
    let image_base = read::<u64>(peb + 0x10);
    let parameters = read::<u64>(peb + 0x20);
    let string = |offset: u64| {
        let string = read::<UnicodeString>(parameters + offset);
        // SAFETY: the process parameters' strings are mapped in this process, normalized.
        unsafe {
            core::slice::from_raw_parts(string.buffer as *const u16, usize::from(string.length) / 2)
        }
    };
    println!(
        "peb: image base {image_base:#x}, parameters length {:#x} flags {:#x}, image path {}, command line {}",
        read::<u32>(parameters + 4),
        read::<u32>(parameters + 8),
        Utf16(string(0x60)),
        Utf16(string(0x70)),
    );
    NtStatus(0x100 + args.len() as u32)
}

/// NtCreateUserProcess and the classic path give the same process.
fn creation_paths(tally: &mut Tally) {
    let user = create_user_process("sectiontest", PEB_COMMAND_LINE, 0, 0);
    let classic = create_process_classic("sectiontest", PEB_COMMAND_LINE, 0, false);
    let (Ok(user), Ok(classic)) = (user, classic) else {
        tally.check("both creation paths", false, &"a process was not created");
        return;
    };
    wait(user.process);
    wait(classic.process);
    let status = |process| query_basic_information(process).map_or(0, |b| u64::from(b.exit_status));
    tally.value(
        "NtCreateUserProcess's child's exit status",
        status(user.process),
        0x104,
    );
    tally.value(
        "the classic path's child's exit status",
        status(classic.process),
        0x104,
    );
    user.close();
    classic.close();
    for (path, expected) in [
        (
            "\\SystemRoot\\System32\\missing.exe",
            NtStatus::OBJECT_NAME_NOT_FOUND,
        ),
        (
            "\\SystemRoot\\NoDirectory\\exit.exe",
            NtStatus::OBJECT_PATH_NOT_FOUND,
        ),
        ("\\SystemRoot\\boot.cfg", NtStatus::INVALID_IMAGE_NOT_MZ),
    ] {
        let status = create_user_process(path, path, 0, 0).err();
        tally.status(path, status.unwrap_or(NtStatus::SUCCESS), expected);
    }
    match create_user_process("\\??\\C:\\Windows\\System32\\exit.exe", "exit 5", 0, 0) {
        Ok(child) => {
            wait(child.process);
            tally.value(
                "a process of an image named by its NT path",
                status(child.process),
                5,
            );
            child.close();
        }
        Err(status) => tally.status(
            "a process of an image named by its NT path",
            status,
            NtStatus::SUCCESS,
        ),
    }
    let missing = create_process_classic("missing", "missing", 0, false);
    tally.status(
        "the classic path to a missing image",
        missing.err().unwrap_or(NtStatus::SUCCESS),
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );
}

/// NtCreateProcessEx: the status and the process handle.
fn create_process_ex(parent: u64, flags: u32, section: u64, debug_port: u64) -> (NtStatus, u64) {
    let mut process = 0;
    // SAFETY: the handle is a local.
    let status = unsafe {
        nt_create_process_ex(
            &mut process,
            PROCESS_ALL_ACCESS,
            core::ptr::null(),
            parent,
            flags,
            section,
            debug_port,
            0,
            0,
        )
    };
    (status, process)
}

/// NtCreateThread with `context` and `initial_teb` as given.
fn create_thread_raw(process: u64, context: u64, initial_teb: u64) -> NtStatus {
    let mut thread = 0;
    // SAFETY: the handle is a local; the kernel must refuse the bad pointers.
    unsafe {
        nt_create_thread(
            &mut thread,
            THREAD_ALL_ACCESS,
            core::ptr::null(),
            process,
            core::ptr::null_mut(),
            context as *const u8,
            initial_teb as *const InitialTeb,
            1,
        )
    }
}

/// A 16-byte aligned `CONTEXT` buffer.
#[repr(C, align(16))]
struct Context([u8; CONTEXT_SIZE]);

fn classic_bad_input(tally: &mut Tally) {
    let (_, data) = create_section(Some(PAGE), PAGE_READWRITE, SEC_COMMIT, 0);
    let (_, image) = image_section("exit.exe");
    let cases = [
        (
            CURRENT_PROCESS_HANDLE,
            0x8000,
            image,
            0,
            NtStatus::INVALID_PARAMETER,
        ),
        (0, 0, image, 0, NtStatus::INVALID_PARAMETER),
        (0x1234, 0, image, 0, NtStatus::INVALID_HANDLE),
        (CURRENT_PROCESS_HANDLE, 0, 0, 0, NtStatus::NOT_SUPPORTED),
        (
            CURRENT_PROCESS_HANDLE,
            0,
            data,
            0,
            NtStatus::SECTION_NOT_IMAGE,
        ),
        (
            CURRENT_PROCESS_HANDLE,
            0,
            image,
            data,
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
    ];
    for (parent, flags, section, debug_port, expected) in cases {
        let (status, _) = create_process_ex(parent, flags, section, debug_port);
        tally.status("a bad NtCreateProcessEx", status, expected);
    }
    let (status, process) = create_process_ex(CURRENT_PROCESS_HANDLE, 0, image, 0);
    tally.status("NtCreateProcessEx of exit.exe", status, NtStatus::SUCCESS);
    let basic = query_basic_information(process).unwrap_or_default();
    let own_id = query_basic_information(CURRENT_PROCESS_HANDLE).map_or(0, |b| b.unique_process_id);
    tally.value("its parent", basic.inherited_from_unique_process_id, own_id);
    let mut peb_image_base = 0u64;
    // SAFETY: a local of the size passed.
    unsafe {
        nt_read_virtual_memory(
            process,
            basic.peb_base_address + 0x10,
            (&raw mut peb_image_base).cast(),
            8,
            core::ptr::null_mut(),
        )
    };
    tally.value("its PEB's image base", peb_image_base, 0x1_4000_0000);
    let mut context = Context([0; CONTEXT_SIZE]);
    context.0[0xF8..0x100].copy_from_slice(&KERNEL_ADDRESS.to_le_bytes());
    context.0[0x98..0xA0].copy_from_slice(&0x1_0000u64.to_le_bytes());
    let stack = InitialTeb {
        stack_base: 0x2_0000,
        stack_limit: 0x1_0000,
        ..InitialTeb::default()
    };
    let context_address = context.0.as_ptr() as u64;
    let teb_address = &raw const stack as u64;
    let cases = [
        (0, teb_address, NtStatus::INVALID_PARAMETER),
        (context_address, 0, NtStatus::INVALID_PARAMETER),
        (
            context_address + 8,
            teb_address,
            NtStatus::DATATYPE_MISALIGNMENT,
        ),
        (KERNEL_ADDRESS, teb_address, NtStatus::ACCESS_VIOLATION),
        (context_address, teb_address, NtStatus::INVALID_PARAMETER),
    ];
    for (context, initial_teb, expected) in cases {
        let status = create_thread_raw(process, context, initial_teb);
        tally.status("a bad NtCreateThread", status, expected);
    }
    close(process);
    close(image);
    close(data);
}

/// Tries an image section of `\SystemRoot\System32\NAME` (printing the status and the
/// frames it took), and a process of it.
fn malformed(name: &str) {
    let available = available_pages();
    let (status, section) = image_section(name);
    println!("section {name}: {status}");
    println!(
        "frames {name}: {}",
        available.saturating_sub(available_pages())
    );
    if status.is_success() {
        close(section);
    }
    let process = create_user_process(name, name, 0, 0);
    match process {
        Ok(child) => {
            wait(child.process);
            println!("process {name}: created");
            child.close();
        }
        Err(status) => println!("process {name}: {status}"),
    }
}
