//! `handles`: exercises the object manager through its services. Opens its own process and
//! thread by CLIENT_ID (from the TEB) with various access masks, duplicates handles (same
//! access, reduced access, closing the source, pseudo-handles, inheritable), calls services
//! through handles that lack access or name the wrong type, closes handles twice, passes
//! bad handle values and NULL, kernel, unmapped, read-only and misaligned output pointers,
//! queries handle and pointer counts, and creates and opens named directories under
//! `\BaseNamedObjects`. Prints one `ok:` or `WRONG:` line per case and exits 0 only when
//! every answer was the expected one.
#![no_std]
#![no_main]

use abi::access::{
    DIRECTORY_ALL_ACCESS, DIRECTORY_QUERY, DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS,
    DUPLICATE_SAME_ATTRIBUTES, GENERIC_READ, MAXIMUM_ALLOWED, OBJ_CASE_INSENSITIVE, OBJ_INHERIT,
    OBJ_OPENIF, OBJ_PERMANENT, PROCESS_ALL_ACCESS, PROCESS_DUP_HANDLE, PROCESS_GENERIC_MAPPING,
    PROCESS_QUERY_INFORMATION, PROCESS_TERMINATE, SYNCHRONIZE, THREAD_ALL_ACCESS,
    THREAD_QUERY_INFORMATION,
};
use abi::nt::{
    ClientId, OBJECT_BASIC_INFORMATION, OBJECT_NAME_INFORMATION, OBJECT_TYPE_INFORMATION,
    ObjectAttributes, ObjectBasicInformation, ObjectTypeInformation, UnicodeString,
};
use abi::service::{CURRENT_PROCESS_HANDLE, CURRENT_THREAD_HANDLE};
use rt::syscall::{
    nt_close, nt_create_directory_object, nt_duplicate_object, nt_open_directory_object,
    nt_open_process, nt_open_thread, nt_query_object, nt_suspend_thread, nt_terminate_process,
    nt_terminate_thread,
};
use rt::{Args, NtStatus, println};

use rt::name::ObjectName as Name;
use rt::tally::{ExpectedValue, Tally};

rt::entry!(main);

const KERNEL_ADDRESS: u64 = 0xFFFF_8000_0000_0000;
const UNMAPPED_ADDRESS: u64 = 0x0000_0000_1000_0000;
/// A value no handle has.
const BOGUS_HANDLE: u64 = 0x1234_5678;
/// An undefined OBJ_* attribute bit.
const UNDEFINED_ATTRIBUTE: u32 = 0x8000_0000;
/// Read-only data: output pointers into it must be refused.
static READ_ONLY: u64 = 0;

/// `InitializeObjectAttributes`.
fn object_attributes(name: Option<&UnicodeString>, root: u64, attributes: u32) -> ObjectAttributes {
    ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        root_directory: root,
        object_name: name.map_or(0, |name| name as *const UnicodeString as u64),
        attributes,
        ..ObjectAttributes::default()
    }
}

/// The calling thread's CLIENT_ID, from its TEB (`gs:[0x40]`).
fn own_client_id() -> ClientId {
    let (unique_process, unique_thread): (u64, u64);
    // SAFETY: user `gs` is the TEB, whose ClientId is at 0x40 and 0x48; reading it has no
    // side effects.
    unsafe {
        core::arch::asm!(
            "mov {process}, gs:[0x40]",
            "mov {thread}, gs:[0x48]",
            process = out(reg) unique_process,
            thread = out(reg) unique_thread,
            options(nostack, readonly, preserves_flags),
        );
    }
    ClientId {
        unique_process,
        unique_thread,
    }
}

/// NtOpenProcess by CLIENT_ID: the status and the handle.
fn open_process(access: u32, client_id: &ClientId) -> (NtStatus, u64) {
    let attributes = object_attributes(None, 0, 0);
    let mut handle = 0;
    // SAFETY: every pointer is to a live local.
    let status = unsafe { nt_open_process(&mut handle, access, &attributes, client_id) };
    (status, handle)
}

/// NtDuplicateObject within this process: the status and the new handle.
fn duplicate(source: u64, access: u32, attributes: u32, options: u32) -> (NtStatus, u64) {
    let mut handle = 0;
    // SAFETY: `handle` is a live local.
    let status = unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            source,
            CURRENT_PROCESS_HANDLE,
            &mut handle,
            access,
            attributes,
            options,
        )
    };
    (status, handle)
}

fn close(handle: u64) -> NtStatus {
    // SAFETY: closing handles this program owns, or bad values the kernel must refuse.
    unsafe { nt_close(handle) }
}

/// NtQueryObject(ObjectBasicInformation).
fn basic(handle: u64) -> Result<ObjectBasicInformation, NtStatus> {
    let mut info = ObjectBasicInformation::default();
    // SAFETY: `info` is a live local of the size passed.
    let status = unsafe {
        nt_query_object(
            handle,
            OBJECT_BASIC_INFORMATION,
            (&raw mut info).cast(),
            size_of::<ObjectBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    if status.is_success() {
        Ok(info)
    } else {
        Err(status)
    }
}

/// Room for an answer with a name after it, aligned for the structure.
#[repr(C, align(8))]
struct InformationBuffer([u8; 512]);

/// Whether the counted UTF-16 `string` (in `buffer`'s answer) is `expected`.
fn string_is(string: &UnicodeString, expected: &str) -> bool {
    // SAFETY: the kernel pointed `buffer` at `length` bytes inside the answer buffer, which
    // the caller keeps alive.
    let units = unsafe { rt::process::unicode_units(string) };
    units.iter().copied().eq(expected.encode_utf16())
}

/// NtQueryObject(ObjectTypeInformation): the structure, and whether the type is `name`.
fn type_information(handle: u64, name: &str) -> Result<(ObjectTypeInformation, bool), NtStatus> {
    let mut buffer = InformationBuffer([0; 512]);
    // SAFETY: `buffer` is a live local of the size passed.
    let status = unsafe {
        nt_query_object(
            handle,
            OBJECT_TYPE_INFORMATION,
            buffer.0.as_mut_ptr(),
            buffer.0.len() as u32,
            core::ptr::null_mut(),
        )
    };
    if !status.is_success() {
        return Err(status);
    }
    // SAFETY: the kernel wrote an OBJECT_TYPE_INFORMATION at the start of the aligned buffer.
    let info = unsafe { core::ptr::read(buffer.0.as_ptr().cast::<ObjectTypeInformation>()) };
    let is_name = string_is(&info.type_name, name);
    Ok((info, is_name))
}

/// NtQueryObject(ObjectNameInformation): whether the object's full name is `name`.
fn name_is(handle: u64, name: &str) -> Result<bool, NtStatus> {
    let mut buffer = InformationBuffer([0; 512]);
    // SAFETY: `buffer` is a live local of the size passed.
    let status = unsafe {
        nt_query_object(
            handle,
            OBJECT_NAME_INFORMATION,
            buffer.0.as_mut_ptr(),
            buffer.0.len() as u32,
            core::ptr::null_mut(),
        )
    };
    if !status.is_success() {
        return Err(status);
    }
    // SAFETY: the kernel wrote a UNICODE_STRING at the start of the aligned buffer.
    let string = unsafe { core::ptr::read(buffer.0.as_ptr().cast::<UnicodeString>()) };
    Ok(string_is(&string, name))
}

fn granted(handle: u64) -> u64 {
    basic(handle).map_or(u64::MAX, |info| u64::from(info.granted_access))
}

fn handle_count(handle: u64) -> u64 {
    basic(handle).map_or(u64::MAX, |info| u64::from(info.handle_count))
}

fn status_of<T>(result: Result<T, NtStatus>) -> NtStatus {
    result.err().unwrap_or(NtStatus::SUCCESS)
}

fn main(_args: &Args) -> NtStatus {
    let mut t = Tally { cases: 0, wrong: 0 };
    let me = own_client_id();
    t.check(
        "own CLIENT_ID from the TEB",
        me.unique_process != 0
            && me.unique_process.is_multiple_of(4)
            && me.unique_thread.is_multiple_of(4),
        &ExpectedValue(me.unique_process, me.unique_thread),
    );

    open_by_client_id(&mut t, &me);
    bad_open_arguments(&mut t, &me);
    let query = duplication(&mut t, &me);
    termination_and_closing(&mut t, &me, query);
    counts(&mut t, &me);
    directories(&mut t);
    system_process(&mut t);

    println!("handles: {} cases, {} wrong", t.cases, t.wrong);
    if t.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    }
}

/// The System process (PID 4, created first) and its zero page thread (TID 8, next): a
/// program may open them, but neither end nor suspend them.
fn system_process(t: &mut Tally) {
    let (status, process) = open_process(
        PROCESS_ALL_ACCESS,
        &ClientId {
            unique_process: 4,
            unique_thread: 0,
        },
    );
    t.status("NtOpenProcess(System, PID 4)", status, NtStatus::SUCCESS);
    // SAFETY: a handle this program opened.
    let status = unsafe { nt_terminate_process(process, NtStatus::UNSUCCESSFUL) };
    t.status(
        "NtTerminateProcess(System)",
        status,
        NtStatus::ACCESS_DENIED,
    );
    let attributes = object_attributes(None, 0, 0);
    let zero_page_thread = ClientId {
        unique_process: 4,
        unique_thread: 8,
    };
    let mut thread = 0;
    // SAFETY: every pointer is to a live local.
    let status = unsafe {
        nt_open_thread(
            &mut thread,
            THREAD_ALL_ACCESS,
            &attributes,
            &zero_page_thread,
        )
    };
    t.status(
        "NtOpenThread(the zero page thread)",
        status,
        NtStatus::SUCCESS,
    );
    // SAFETY: a handle this program opened; no previous-count pointer.
    let status = unsafe { nt_suspend_thread(thread, core::ptr::null_mut()) };
    t.status(
        "NtSuspendThread(a System thread)",
        status,
        NtStatus::ACCESS_DENIED,
    );
    // SAFETY: a handle this program opened.
    let status = unsafe { nt_terminate_thread(thread, NtStatus::UNSUCCESSFUL) };
    t.status(
        "NtTerminateThread(a System thread)",
        status,
        NtStatus::ACCESS_DENIED,
    );
    for handle in [process, thread] {
        // SAFETY: handles this program opened, closed once.
        unsafe { nt_close(handle) };
    }
}

/// NtOpenProcess and NtOpenThread by CLIENT_ID, with the access each handle is granted.
fn open_by_client_id(t: &mut Tally, me: &ClientId) {
    let accesses = [
        (
            "NtOpenProcess(own CID, PROCESS_QUERY_INFORMATION)",
            PROCESS_QUERY_INFORMATION,
            PROCESS_QUERY_INFORMATION,
        ),
        (
            "NtOpenProcess(own CID, PROCESS_ALL_ACCESS)",
            PROCESS_ALL_ACCESS,
            PROCESS_ALL_ACCESS,
        ),
        (
            "NtOpenProcess(own CID, GENERIC_READ)",
            GENERIC_READ,
            PROCESS_GENERIC_MAPPING.generic_read,
        ),
        (
            "NtOpenProcess(own CID, MAXIMUM_ALLOWED)",
            MAXIMUM_ALLOWED,
            PROCESS_ALL_ACCESS,
        ),
        ("NtOpenProcess(own CID, no access)", 0, 0),
        (
            "NtOpenProcess(own CID, SYNCHRONIZE | an undefined right)",
            SYNCHRONIZE | 0x0080_0000,
            SYNCHRONIZE,
        ),
    ];
    for (name, access, expected) in accesses {
        let (status, handle) = open_process(access, me);
        t.status(name, status, NtStatus::SUCCESS);
        t.check(
            "  the handle is a multiple of 4",
            handle != 0 && handle.is_multiple_of(4),
            &ExpectedValue(handle, handle & !3),
        );
        t.value("  its granted access", granted(handle), u64::from(expected));
        close(handle);
    }

    // By process and thread ID, and by thread ID alone.
    for (name, client_id) in [
        ("NtOpenProcess(own process and thread IDs)", *me),
        (
            "NtOpenProcess(own thread ID only)",
            ClientId {
                unique_process: 0,
                unique_thread: me.unique_thread,
            },
        ),
    ] {
        let (status, handle) = open_process(PROCESS_QUERY_INFORMATION, &client_id);
        t.status(name, status, NtStatus::SUCCESS);
        close(handle);
    }

    // A freed handle value is the next one handed out.
    let (_, first) = open_process(0, me);
    close(first);
    let (_, again) = open_process(0, me);
    t.value("a closed handle's value is reused", again, first);
    close(again);

    let attributes = object_attributes(None, 0, 0);
    let mut thread = 0;
    // SAFETY: every pointer is to a live local.
    let status = unsafe { nt_open_thread(&mut thread, THREAD_QUERY_INFORMATION, &attributes, me) };
    t.status("NtOpenThread(own CID)", status, NtStatus::SUCCESS);
    t.value(
        "  its granted access",
        granted(thread),
        u64::from(THREAD_QUERY_INFORMATION),
    );
    t.check(
        "  its type is Thread",
        type_information(thread, "Thread").is_ok_and(|(_, is)| is),
        &"ObjectTypeInformation",
    );
    close(thread);
}

/// NtOpenProcess and NtOpenThread with IDs that name nothing, bad parameter mixes, bad
/// OBJECT_ATTRIBUTES and bad pointers. None of them may leave a handle behind.
fn bad_open_arguments(t: &mut Tally, me: &ClientId) {
    let handles_before = handle_count(CURRENT_PROCESS_HANDLE);
    let ids = [
        ("NtOpenProcess(CID 0)", 0, 0),
        ("NtOpenProcess(a process ID nobody has)", 0x1000, 0),
        (
            "NtOpenProcess(a thread ID as process ID)",
            me.unique_thread,
            0,
        ),
        (
            "NtOpenProcess(own process ID, a thread ID nobody has)",
            me.unique_process,
            0x1000,
        ),
        (
            "NtOpenProcess(the process ID as thread ID)",
            me.unique_process,
            me.unique_process,
        ),
    ];
    for (name, unique_process, unique_thread) in ids {
        let client_id = ClientId {
            unique_process,
            unique_thread,
        };
        t.status(
            name,
            open_process(PROCESS_ALL_ACCESS, &client_id).0,
            NtStatus::INVALID_CID,
        );
    }
    let attributes = object_attributes(None, 0, 0);
    let mut handle = 0;
    let no_thread = ClientId {
        unique_process: me.unique_process,
        unique_thread: 0,
    };
    // SAFETY: every pointer is to a live local.
    let status = unsafe { nt_open_thread(&mut handle, THREAD_ALL_ACCESS, &attributes, &no_thread) };
    t.status("NtOpenThread(no thread ID)", status, NtStatus::INVALID_CID);

    let name = Name::new("\\BaseNamedObjects");
    let string = name.string();
    let named = object_attributes(Some(&string), 0, 0);
    // SAFETY: every pointer is to a live local.
    let status = unsafe { nt_open_process(&mut handle, 0, &named, me) };
    t.status(
        "NtOpenProcess(a name and a CID)",
        status,
        NtStatus::INVALID_PARAMETER_MIX,
    );
    // SAFETY: as above; the CLIENT_ID is NULL.
    let status = unsafe { nt_open_process(&mut handle, 0, &attributes, core::ptr::null()) };
    t.status(
        "NtOpenProcess(neither name nor CID)",
        status,
        NtStatus::INVALID_PARAMETER_MIX,
    );
    // SAFETY: as above.
    let status = unsafe { nt_open_process(&mut handle, 0, &named, core::ptr::null()) };
    t.status(
        "NtOpenProcess(by name, a directory's)",
        status,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    let missing = Name::new("\\NoSuchProcess");
    let missing_string = missing.string();
    let missing_named = object_attributes(Some(&missing_string), 0, 0);
    // SAFETY: as above.
    let status = unsafe { nt_open_process(&mut handle, 0, &missing_named, core::ptr::null()) };
    t.status(
        "NtOpenProcess(by a name nothing has)",
        status,
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );

    let mut short = attributes;
    short.length = 0;
    let mut undefined = attributes;
    undefined.attributes = UNDEFINED_ATTRIBUTE;
    for (name, attributes) in [
        ("NtOpenProcess(OBJECT_ATTRIBUTES.Length 0)", short),
        ("NtOpenProcess(an undefined attribute)", undefined),
    ] {
        // SAFETY: every pointer is to a live local.
        let status = unsafe { nt_open_process(&mut handle, 0, &attributes, me) };
        t.status(name, status, NtStatus::INVALID_PARAMETER);
    }

    let output = [
        (
            "NtOpenProcess(NULL handle pointer)",
            0,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtOpenProcess(kernel handle pointer)",
            KERNEL_ADDRESS,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtOpenProcess(unmapped handle pointer)",
            UNMAPPED_ADDRESS,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtOpenProcess(read-only handle pointer)",
            &raw const READ_ONLY as u64,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtOpenProcess(misaligned handle pointer)",
            (&raw mut handle as u64) + 1,
            NtStatus::DATATYPE_MISALIGNMENT,
        ),
    ];
    for (name, address, expected) in output {
        // SAFETY: the kernel must refuse to write through `address`; the rest are locals.
        let status = unsafe { nt_open_process(address as *mut u64, 0, &attributes, me) };
        t.status(name, status, expected);
    }
    for (name, attributes, client_id) in [
        (
            "NtOpenProcess(NULL OBJECT_ATTRIBUTES)",
            0,
            me as *const ClientId as u64,
        ),
        (
            "NtOpenProcess(kernel OBJECT_ATTRIBUTES)",
            KERNEL_ADDRESS,
            me as *const ClientId as u64,
        ),
        (
            "NtOpenProcess(unmapped CLIENT_ID)",
            &raw const attributes as u64,
            UNMAPPED_ADDRESS,
        ),
        (
            "NtOpenProcess(kernel CLIENT_ID)",
            &raw const attributes as u64,
            KERNEL_ADDRESS,
        ),
    ] {
        // SAFETY: the kernel must refuse to read through the bad pointers.
        let status = unsafe {
            nt_open_process(
                &mut handle,
                0,
                attributes as *const ObjectAttributes,
                client_id as *const ClientId,
            )
        };
        t.status(name, status, NtStatus::ACCESS_VIOLATION);
    }
    t.value(
        "no failed open left a handle",
        handle_count(CURRENT_PROCESS_HANDLE),
        handles_before,
    );
}

/// NtDuplicateObject: same access, reduced access, more access, closing the source,
/// pseudo-handles, attributes, bad arguments. Returns a PROCESS_QUERY_INFORMATION handle.
fn duplication(t: &mut Tally, me: &ClientId) -> u64 {
    let (_, all) = open_process(PROCESS_ALL_ACCESS, me);
    let (status, same) = duplicate(all, 0, 0, DUPLICATE_SAME_ACCESS);
    t.status(
        "NtDuplicateObject(DUPLICATE_SAME_ACCESS)",
        status,
        NtStatus::SUCCESS,
    );
    t.check(
        "  a new handle value",
        same != all && same.is_multiple_of(4),
        &ExpectedValue(same, all),
    );
    t.value(
        "  the source's access",
        granted(same),
        u64::from(PROCESS_ALL_ACCESS),
    );

    let (status, query) = duplicate(all, PROCESS_QUERY_INFORMATION, 0, 0);
    t.status(
        "NtDuplicateObject(reduced access)",
        status,
        NtStatus::SUCCESS,
    );
    t.value(
        "  the access asked for",
        granted(query),
        u64::from(PROCESS_QUERY_INFORMATION),
    );

    let (status, _) = duplicate(query, PROCESS_TERMINATE, 0, 0);
    t.status(
        "NtDuplicateObject(more access than the source)",
        status,
        NtStatus::ACCESS_DENIED,
    );

    let (status, inheritable) = duplicate(all, 0, OBJ_INHERIT, DUPLICATE_SAME_ACCESS);
    t.status("NtDuplicateObject(OBJ_INHERIT)", status, NtStatus::SUCCESS);
    t.value(
        "  the handle is inheritable",
        basic(inheritable).map_or(u64::MAX, |info| u64::from(info.attributes)),
        u64::from(OBJ_INHERIT),
    );
    let (status, same_attributes) = duplicate(
        inheritable,
        0,
        0,
        DUPLICATE_SAME_ACCESS | DUPLICATE_SAME_ATTRIBUTES,
    );
    t.status(
        "NtDuplicateObject(DUPLICATE_SAME_ATTRIBUTES)",
        status,
        NtStatus::SUCCESS,
    );
    t.value(
        "  the source's attributes",
        basic(same_attributes).map_or(u64::MAX, |info| u64::from(info.attributes)),
        u64::from(OBJ_INHERIT),
    );
    close(inheritable);
    close(same_attributes);

    let (status, moved) = duplicate(same, 0, 0, DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE);
    t.status(
        "NtDuplicateObject(DUPLICATE_CLOSE_SOURCE)",
        status,
        NtStatus::SUCCESS,
    );
    t.status(
        "  the source is closed",
        close(same),
        NtStatus::INVALID_HANDLE,
    );
    t.value(
        "  the copy works",
        granted(moved),
        u64::from(PROCESS_ALL_ACCESS),
    );

    // SAFETY: no target handle is asked for.
    let status = unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            moved,
            0,
            core::ptr::null_mut(),
            0,
            0,
            DUPLICATE_CLOSE_SOURCE,
        )
    };
    t.status(
        "NtDuplicateObject(no target process, DUPLICATE_CLOSE_SOURCE)",
        status,
        NtStatus::SUCCESS,
    );
    t.status(
        "  the source is closed",
        close(moved),
        NtStatus::INVALID_HANDLE,
    );
    // SAFETY: as above.
    let status = unsafe {
        nt_duplicate_object(
            CURRENT_PROCESS_HANDLE,
            all,
            0,
            core::ptr::null_mut(),
            0,
            0,
            0,
        )
    };
    t.status(
        "NtDuplicateObject(no target process, no DUPLICATE_CLOSE_SOURCE)",
        status,
        NtStatus::INVALID_PARAMETER,
    );

    let (status, process) = duplicate(CURRENT_PROCESS_HANDLE, 0, 0, DUPLICATE_SAME_ACCESS);
    t.status(
        "NtDuplicateObject(NtCurrentProcess())",
        status,
        NtStatus::SUCCESS,
    );
    t.value(
        "  a real handle with all access",
        granted(process),
        u64::from(PROCESS_ALL_ACCESS),
    );
    close(process);
    let (status, thread) = duplicate(CURRENT_THREAD_HANDLE, 0, 0, DUPLICATE_SAME_ACCESS);
    t.status(
        "NtDuplicateObject(NtCurrentThread())",
        status,
        NtStatus::SUCCESS,
    );
    t.value(
        "  a real handle with all access",
        granted(thread),
        u64::from(THREAD_ALL_ACCESS),
    );

    // Bad arguments.
    t.status(
        "NtDuplicateObject(undefined option)",
        duplicate(all, 0, 0, 0x8).0,
        NtStatus::INVALID_PARAMETER,
    );
    t.status(
        "NtDuplicateObject(undefined attribute)",
        duplicate(all, 0, UNDEFINED_ATTRIBUTE, 0).0,
        NtStatus::INVALID_PARAMETER,
    );
    t.status(
        "NtDuplicateObject(bad source handle)",
        duplicate(BOGUS_HANDLE, 0, 0, DUPLICATE_SAME_ACCESS).0,
        NtStatus::INVALID_HANDLE,
    );
    let source_processes = [
        (
            "NtDuplicateObject(source process without PROCESS_DUP_HANDLE)",
            query,
            NtStatus::ACCESS_DENIED,
        ),
        (
            "NtDuplicateObject(a thread as source process)",
            thread,
            NtStatus::OBJECT_TYPE_MISMATCH,
        ),
        (
            "NtDuplicateObject(bad source process handle)",
            BOGUS_HANDLE,
            NtStatus::INVALID_HANDLE,
        ),
    ];
    for (name, source_process, expected) in source_processes {
        let mut handle = 0;
        // SAFETY: `handle` is a live local.
        let status = unsafe {
            nt_duplicate_object(
                source_process,
                all,
                CURRENT_PROCESS_HANDLE,
                &mut handle,
                0,
                0,
                DUPLICATE_SAME_ACCESS,
            )
        };
        t.status(name, status, expected);
    }
    let handles_before = handle_count(all);
    for (name, address, expected) in [
        (
            "NtDuplicateObject(kernel target handle pointer)",
            KERNEL_ADDRESS,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtDuplicateObject(unmapped target handle pointer)",
            UNMAPPED_ADDRESS,
            NtStatus::ACCESS_VIOLATION,
        ),
        (
            "NtDuplicateObject(misaligned target handle pointer)",
            &raw const READ_ONLY as u64 + 4,
            NtStatus::DATATYPE_MISALIGNMENT,
        ),
    ] {
        // SAFETY: the kernel must refuse to write through `address`.
        let status = unsafe {
            nt_duplicate_object(
                CURRENT_PROCESS_HANDLE,
                all,
                CURRENT_PROCESS_HANDLE,
                address as *mut u64,
                0,
                0,
                DUPLICATE_SAME_ACCESS,
            )
        };
        t.status(name, status, expected);
    }
    t.value(
        "no failed duplication left a handle",
        handle_count(all),
        handles_before,
    );

    // Through a thread handle where a process handle belongs.
    // SAFETY: the kernel must refuse: the handle is a thread's.
    let status = unsafe { nt_terminate_process(thread, NtStatus::UNSUCCESSFUL) };
    t.status(
        "NtTerminateProcess(a thread handle)",
        status,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    let attributes = object_attributes(None, thread, 0);
    let mut handle = 0;
    // SAFETY: every pointer is to a live local.
    let status = unsafe { nt_open_directory_object(&mut handle, 0, &attributes) };
    t.status(
        "NtOpenDirectoryObject(a thread handle as root directory)",
        status,
        NtStatus::OBJECT_TYPE_MISMATCH,
    );
    close(thread);
    close(all);
    query
}

/// NtTerminateProcess through handles lacking access or closed; NtClose twice and with
/// values that are no handles; tag bits.
fn termination_and_closing(t: &mut Tally, me: &ClientId, query: u64) {
    // SAFETY: the handle lacks PROCESS_TERMINATE: the kernel must refuse.
    let status = unsafe { nt_terminate_process(query, NtStatus::UNSUCCESSFUL) };
    t.status(
        "NtTerminateProcess(handle without PROCESS_TERMINATE)",
        status,
        NtStatus::ACCESS_DENIED,
    );
    t.value(
        "tag bits are ignored (handle | 3)",
        granted(query | 3),
        u64::from(PROCESS_QUERY_INFORMATION),
    );
    t.status("NtClose(handle)", close(query), NtStatus::SUCCESS);
    t.status(
        "NtClose(the same handle again)",
        close(query),
        NtStatus::INVALID_HANDLE,
    );
    // SAFETY: the handle is closed: the kernel must refuse.
    let status = unsafe { nt_terminate_process(query, NtStatus::UNSUCCESSFUL) };
    t.status(
        "NtTerminateProcess(closed handle)",
        status,
        NtStatus::INVALID_HANDLE,
    );
    t.status(
        "NtQueryObject(closed handle)",
        status_of(basic(query)),
        NtStatus::INVALID_HANDLE,
    );
    for (name, handle) in [
        ("NtClose(0)", 0),
        ("NtClose(3)", 3),
        ("NtClose(0x12345678)", BOGUS_HANDLE),
        ("NtClose(NtCurrentProcess())", CURRENT_PROCESS_HANDLE),
        ("NtClose(NtCurrentThread())", CURRENT_THREAD_HANDLE),
        ("NtClose(a kernel handle value)", 0xFFFF_FFFF_8000_0004),
    ] {
        t.status(name, close(handle), NtStatus::INVALID_HANDLE);
    }
    let (_, terminate) = open_process(PROCESS_TERMINATE, me);
    let (status, no_terminate) = duplicate(terminate, PROCESS_DUP_HANDLE, 0, 0);
    t.status(
        "NtDuplicateObject(access the source lacks)",
        status,
        NtStatus::ACCESS_DENIED,
    );
    t.value("  no handle returned", no_terminate, 0);
    close(terminate);
}

/// Handle and pointer counts (ObjectBasicInformation) and the type's counters
/// (ObjectTypeInformation) follow opens and closes.
fn counts(t: &mut Tally, me: &ClientId) {
    let before = basic(CURRENT_PROCESS_HANDLE).unwrap_or_default();
    let (_, first) = open_process(PROCESS_QUERY_INFORMATION, me);
    let (_, second) = open_process(PROCESS_QUERY_INFORMATION, me);
    let during = basic(first).unwrap_or_default();
    t.value(
        "two more handles to the process",
        u64::from(during.handle_count),
        u64::from(before.handle_count) + 2,
    );
    t.check(
        "the pointer count includes every handle",
        during.pointer_count >= during.handle_count && during.pointer_count > before.pointer_count,
        &ExpectedValue(
            u64::from(during.pointer_count),
            u64::from(during.handle_count),
        ),
    );
    match type_information(first, "Process") {
        Ok((info, is_process)) => {
            t.check(
                "ObjectTypeInformation names Process",
                is_process,
                &"Process",
            );
            t.check(
                "  it counts the open handles",
                info.total_number_of_handles >= during.handle_count
                    && info.high_water_number_of_handles >= info.total_number_of_handles,
                &ExpectedValue(
                    u64::from(info.total_number_of_handles),
                    u64::from(during.handle_count),
                ),
            );
            t.check(
                "  and at least this process",
                info.total_number_of_objects >= 1 && info.type_index >= 2,
                &ExpectedValue(u64::from(info.total_number_of_objects), 1),
            );
            t.value(
                "  its valid access mask",
                u64::from(info.valid_access_mask),
                u64::from(PROCESS_ALL_ACCESS),
            );
            t.check(
                "  its generic mapping",
                info.generic_mapping == PROCESS_GENERIC_MAPPING,
                &ExpectedValue(u64::from(info.generic_mapping.generic_read), 0x2_0410),
            );
        }
        Err(status) => t.status("ObjectTypeInformation", status, NtStatus::SUCCESS),
    }
    close(first);
    close(second);
    t.value(
        "the handles are gone again",
        u64::from(
            basic(CURRENT_PROCESS_HANDLE)
                .unwrap_or_default()
                .handle_count,
        ),
        u64::from(before.handle_count),
    );

    let mut info = ObjectBasicInformation::default();
    let mut needed = 0u32;
    // SAFETY: the buffer is a live local, `length` smaller than it.
    let status = unsafe {
        nt_query_object(
            CURRENT_PROCESS_HANDLE,
            OBJECT_BASIC_INFORMATION,
            (&raw mut info).cast(),
            8,
            &mut needed,
        )
    };
    t.status(
        "NtQueryObject(basic information, short buffer)",
        status,
        NtStatus::INFO_LENGTH_MISMATCH,
    );
    t.value(
        "  the length needed",
        u64::from(needed),
        size_of::<ObjectBasicInformation>() as u64,
    );
    // SAFETY: as above.
    let status = unsafe {
        nt_query_object(
            CURRENT_PROCESS_HANDLE,
            99,
            (&raw mut info).cast(),
            size_of::<ObjectBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    t.status(
        "NtQueryObject(unknown class)",
        status,
        NtStatus::INVALID_INFO_CLASS,
    );
    // SAFETY: the kernel must refuse to write to kernel memory.
    let status = unsafe {
        nt_query_object(
            CURRENT_PROCESS_HANDLE,
            OBJECT_BASIC_INFORMATION,
            KERNEL_ADDRESS as *mut u8,
            size_of::<ObjectBasicInformation>() as u32,
            core::ptr::null_mut(),
        )
    };
    t.status(
        "NtQueryObject(kernel buffer)",
        status,
        NtStatus::ACCESS_VIOLATION,
    );
}

/// Named directories under \BaseNamedObjects: create, open case-insensitively, collide,
/// OBJ_OPENIF, relative names, full names, and a temporary name going away with its last
/// handle.
fn directories(t: &mut Tally) {
    let create = |name: &UnicodeString, root: u64, attributes: u32| -> (NtStatus, u64) {
        let attributes = object_attributes(Some(name), root, attributes);
        let mut handle = 0;
        // SAFETY: every pointer is to a live local.
        let status =
            unsafe { nt_create_directory_object(&mut handle, DIRECTORY_ALL_ACCESS, &attributes) };
        (status, handle)
    };
    let open = |name: &UnicodeString, root: u64| -> (NtStatus, u64) {
        let attributes = object_attributes(Some(name), root, OBJ_CASE_INSENSITIVE);
        let mut handle = 0;
        // SAFETY: every pointer is to a live local.
        let status = unsafe { nt_open_directory_object(&mut handle, DIRECTORY_QUERY, &attributes) };
        (status, handle)
    };

    let base = Name::new("\\BaseNamedObjects");
    let (status, base_handle) = open(&base.string(), 0);
    t.status(
        "NtOpenDirectoryObject(\\BaseNamedObjects)",
        status,
        NtStatus::SUCCESS,
    );
    t.check(
        "  its name",
        name_is(base_handle, "\\BaseNamedObjects").unwrap_or(false),
        &"ObjectNameInformation",
    );
    close(base_handle);

    let path = Name::new("\\BaseNamedObjects\\HandlesTest");
    let (status, directory) = create(&path.string(), 0, 0);
    t.status(
        "NtCreateDirectoryObject(\\BaseNamedObjects\\HandlesTest)",
        status,
        NtStatus::SUCCESS,
    );
    t.check(
        "  its type is Directory",
        type_information(directory, "Directory").is_ok_and(|(_, is)| is),
        &"ObjectTypeInformation",
    );
    let other_case = Name::new("\\basenamedobjects\\HANDLESTEST");
    let (status, opened) = open(&other_case.string(), 0);
    t.status(
        "NtOpenDirectoryObject(in other case)",
        status,
        NtStatus::SUCCESS,
    );
    t.check(
        "  the same name",
        name_is(opened, "\\BaseNamedObjects\\HandlesTest").unwrap_or(false),
        &"ObjectNameInformation",
    );
    t.value("  two handles to it", handle_count(directory), 2);
    t.value(
        "  granted what was asked",
        granted(opened),
        u64::from(DIRECTORY_QUERY),
    );
    t.status(
        "NtCreateDirectoryObject(the same name)",
        create(&other_case.string(), 0, 0).0,
        NtStatus::OBJECT_NAME_COLLISION,
    );
    let (status, existing) = create(&path.string(), 0, OBJ_OPENIF);
    t.status(
        "NtCreateDirectoryObject(the same name, OBJ_OPENIF)",
        status,
        NtStatus::OBJECT_NAME_EXISTS,
    );
    close(existing);

    let child = Name::new("Child");
    let (status, child_handle) = create(&child.string(), directory, 0);
    t.status(
        "NtCreateDirectoryObject(relative to a directory)",
        status,
        NtStatus::SUCCESS,
    );
    t.check(
        "  its full name",
        name_is(child_handle, "\\BaseNamedObjects\\HandlesTest\\Child").unwrap_or(false),
        &"ObjectNameInformation",
    );
    close(child_handle);

    close(directory);
    let (status, reopened) = open(&path.string(), 0);
    t.status(
        "the name stays while a handle is open",
        status,
        NtStatus::SUCCESS,
    );
    close(reopened);
    close(opened);
    t.status(
        "the name goes with the last handle",
        open(&path.string(), 0).0,
        NtStatus::OBJECT_NAME_NOT_FOUND,
    );

    let names = [
        (
            "NtCreateDirectoryObject(no leading backslash)",
            "NoSlash",
            NtStatus::OBJECT_PATH_SYNTAX_BAD,
        ),
        (
            "NtCreateDirectoryObject(missing parent)",
            "\\Missing\\Child",
            NtStatus::OBJECT_PATH_NOT_FOUND,
        ),
        (
            "NtCreateDirectoryObject(empty component)",
            "\\BaseNamedObjects\\\\Child",
            NtStatus::OBJECT_NAME_INVALID,
        ),
    ];
    for (case, text, expected) in names {
        let name = Name::new(text);
        t.status(case, create(&name.string(), 0, 0).0, expected);
    }
    let permanent = Name::new("\\BaseNamedObjects\\Permanent");
    t.status(
        "NtCreateDirectoryObject(OBJ_PERMANENT)",
        create(&permanent.string(), 0, OBJ_PERMANENT).0,
        NtStatus::PRIVILEGE_NOT_HELD,
    );
    let mut odd = path.string();
    odd.length -= 1;
    t.status(
        "NtCreateDirectoryObject(odd name length)",
        create(&odd, 0, 0).0,
        NtStatus::OBJECT_NAME_INVALID,
    );
    let mut unmapped = path.string();
    unmapped.buffer = UNMAPPED_ADDRESS;
    t.status(
        "NtCreateDirectoryObject(unmapped name buffer)",
        create(&unmapped, 0, 0).0,
        NtStatus::ACCESS_VIOLATION,
    );
}
