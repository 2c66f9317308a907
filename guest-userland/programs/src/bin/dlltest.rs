//! `dlltest [initfail]`: ntdll's DLL loader at work on `testdll.dll`. First runs
//! `dllstatic` created the classic way (its static import of testdll bound by the loader
//! its NtCreateThread thread starts in). Then loads testdll with
//! LdrLoadDll, reads its exported event log (DllMain's notifications), checks that it was
//! relocated (its preferred base is this program's, so it cannot go there) and that an
//! absolute pointer in its data was fixed up, calls an export found by name and by
//! ordinal, asks for missing names and ordinals, finds modules with LdrGetDllHandle,
//! follows its forwarded exports, prints `PEB.Ldr`'s module lists, creates a thread
//! (DLL_THREAD_ATTACH before its start routine, DLL_THREAD_DETACH from LdrShutdownThread
//! on its way out) and another after LdrDisableThreadCalloutsForDll, unloads the DLL
//! (reference counted; DLL_PROCESS_DETACH and the view gone on the last unload), loads
//! chaindll, which imports from testdll (so testdll is loaded, initialized first and
//! unloaded with it), loads a missing DLL and other bad names and baddll, whose imports
//! cannot all be bound (nothing of it or of testdll stays); loads tlsdll, which has TLS,
//! and checks its block in the main thread, in a thread that waited through the load and
//! in one created after, and that its TLS callback ran before its DllMain; unloads it,
//! then loads testdll again and ends through
//! LdrShutdownProcess (DLL_PROCESS_DETACH for process exit) and NtTerminateProcess.
//!
//! With `initfail`, testdll's DllMain refuses DLL_PROCESS_ATTACH: LdrLoadDll must fail with
//! STATUS_DLL_INIT_FAILED and leave the DLL unloaded.
//!
//! Prints `ok:`/`WRONG:` per check; exits 0 only when every check holds.
#![no_std]
#![no_main]

use abi::memory::{MEM_FREE, MEMORY_BASIC_INFORMATION_CLASS, MemoryBasicInformation};
use abi::nt::{
    AnsiString, DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH,
    UnicodeString,
};
use abi::service::CURRENT_PROCESS_HANDLE;
use rt::process::{Utf16, counted, unicode_units};
use rt::tally::Tally;
use rt::{Args, NtStatus, print, println};

#[link(name = "ntdll", kind = "raw-dylib")]
unsafe extern "system" {
    fn LdrLoadDll(
        search_path: *const u16,
        characteristics: *const u32,
        name: *const UnicodeString,
        handle: *mut u64,
    ) -> NtStatus;
    fn LdrUnloadDll(handle: u64) -> NtStatus;
    fn LdrGetDllHandle(
        path: *const u16,
        characteristics: *const u32,
        name: *const UnicodeString,
        handle: *mut u64,
    ) -> NtStatus;
    fn LdrGetProcedureAddress(
        handle: u64,
        name: *const AnsiString,
        ordinal: u32,
        address: *mut u64,
    ) -> NtStatus;
    fn LdrShutdownThread();
    fn LdrDisableThreadCalloutsForDll(handle: u64) -> NtStatus;
    fn LdrShutdownProcess();
    fn NtQueryVirtualMemory(
        process: u64,
        base_address: u64,
        class: u32,
        information: *mut MemoryBasicInformation,
        length: u64,
        return_length: *mut u64,
    ) -> NtStatus;
    fn NtTerminateProcess(process: u64, exit_status: NtStatus) -> NtStatus;
}

rt::entry!(main);

/// testdll's preferred base (testdll/build.rs): this program's own.
const TESTDLL_PREFERRED_BASE: u64 = 0x1_4000_0000;
/// ntdll's base in every process (ntdll/build.rs).
const NTDLL_BASE: u64 = 0x7FF0_0000_0000;
/// The value of testdll's `TestDllMarker`.
const MARKER: u32 = 0x07E5_7D11;
/// testdll's `TestDllAdd`'s pinned ordinal; the lowest it exports.
const ADD_ORDINAL: u32 = 7;
/// testdll's log capacity.
const LOG_CAPACITY: usize = 16;

/// testdll's exported `TestDllEventLog`: a count, then the reasons.
#[repr(C)]
struct EventLog {
    count: u32,
    reasons: [u32; LOG_CAPACITY],
}

type AddFunction = unsafe extern "system" fn(u32, u32) -> u32;
type MirrorFunction = unsafe extern "system" fn(*mut EventLog);

fn main(args: &Args) -> NtStatus {
    let mut tally = Tally::default();
    if args.get(1) == Some("initfail") {
        init_fails(&mut tally);
    } else {
        classic_child(&mut tally);
        load_use_and_unload(&mut tally);
        bad_names(&mut tally);
        dynamic_tls(&mut tally);
    }
    let status = if tally.wrong == 0 {
        NtStatus::SUCCESS
    } else {
        NtStatus::UNSUCCESSFUL
    };
    println!("dlltest: {} checks, {} wrong", tally.cases, tally.wrong);
    if args.get(1) != Some("initfail") {
        exit_with_a_dll_loaded(&mut tally, status);
    }
    status
}

fn load_use_and_unload(tally: &mut Tally) {
    let (status, base) = load(&wide::<16>("testdll.dll"));
    println!("dlltest: LdrLoadDll(testdll.dll): {status}");
    tally.status("LdrLoadDll(testdll.dll)", status, NtStatus::SUCCESS);
    if !status.is_success() {
        return;
    }
    let log = procedure(base, "TestDllEventLog").1 as *const EventLog;
    tally.check(
        "testdll exports its event log",
        !log.is_null(),
        &"no TestDllEventLog",
    );
    if log.is_null() {
        return;
    }
    // SAFETY: the export is testdll's log, mapped while testdll is loaded.
    let events = || unsafe { log.read_volatile() };
    check_events(
        tally,
        "DLL_PROCESS_ATTACH on load",
        &events(),
        &[DLL_PROCESS_ATTACH],
    );

    relocation(tally, base);
    exports(tally, base);
    handles(tally, base);
    print_modules();
    module_lists(tally, base);

    // From here testdll also writes its log into this program's, which outlives the DLL.
    let mut mirror = EventLog {
        count: 0,
        reasons: [0; LOG_CAPACITY],
    };
    let mirror_events = procedure(base, "TestDllMirrorEvents").1;
    tally.check(
        "testdll exports TestDllMirrorEvents",
        mirror_events != 0,
        &"not found",
    );
    if mirror_events == 0 {
        return;
    }
    // SAFETY: the export has MirrorFunction's signature.
    let mirror_events: MirrorFunction = unsafe { core::mem::transmute(mirror_events) };
    // SAFETY: `mirror` lives until main returns, past testdll's unload below; the last
    // notification testdll writes there is its DLL_PROCESS_DETACH in that unload.
    unsafe { mirror_events(&raw mut mirror) };

    thread_notifications(tally, &mirror);
    no_thread_notifications(tally, base, &mirror);
    unload(tally, base, &mirror);
    dependency(tally);
}

/// testdll cannot be at its preferred base (this program is), so the kernel relocated it:
/// the pointer in its data must point at its marker where it really is.
fn relocation(tally: &mut Tally, base: u64) {
    let preferred = preferred_base(base);
    let marker = procedure(base, "TestDllMarker").1 as *const u32;
    let pointer = procedure(base, "TestDllMarkerPointer").1 as *const *const u32;
    tally.value(
        "testdll's headers ask for the programs' base",
        preferred,
        TESTDLL_PREFERRED_BASE,
    );
    tally.check(
        "testdll is loaded elsewhere",
        base != preferred,
        &rt::tally::ExpectedValue(base, preferred),
    );
    if marker.is_null() || pointer.is_null() {
        tally.check("testdll exports its marker", false, &"not found");
        return;
    }
    // SAFETY: both exports are testdll's data, mapped while it is loaded.
    let (pointed, value) = unsafe { (pointer.read_volatile(), marker.read_volatile()) };
    println!(
        "relocated: preferred base {preferred:#x}, loaded at {base:#x}, TestDllMarkerPointer {:#x}, TestDllMarker at {:#x}",
        pointed as u64, marker as u64
    );
    tally.value(
        "the relocated pointer points at the marker",
        pointed as u64,
        marker as u64,
    );
    tally.value("the marker's value", u64::from(value), u64::from(MARKER));
}

/// Exports by name and by ordinal, and the ones that are not there.
fn exports(tally: &mut Tally, base: u64) {
    let (status, by_name) = procedure(base, "TestDllAdd");
    tally.status("TestDllAdd by name", status, NtStatus::SUCCESS);
    let (status, by_ordinal) = ordinal(base, ADD_ORDINAL);
    tally.status("ordinal 7 by number", status, NtStatus::SUCCESS);
    tally.value("ordinal 7 is TestDllAdd", by_ordinal, by_name);
    if by_name != 0 {
        // SAFETY: the export has AddFunction's signature.
        let add: AddFunction = unsafe { core::mem::transmute(by_name) };
        // SAFETY: as above.
        let sum = unsafe { add(2, 3) };
        println!("TestDllAdd(2, 3) = {sum}");
        tally.value("TestDllAdd(2, 3)", u64::from(sum), 5);
    }
    let (status, _) = procedure(base, "TestDllMissing");
    println!("LdrGetProcedureAddress(TestDllMissing): {status}");
    tally.status("a missing name", status, NtStatus::PROCEDURE_NOT_FOUND);
    let (status, _) = procedure(base, "");
    tally.status("an empty name", status, NtStatus::PROCEDURE_NOT_FOUND);
    let (status, _) = ordinal(base, 1);
    println!("LdrGetProcedureAddress(ordinal 1): {status}");
    tally.status(
        "an ordinal below the ordinal base",
        status,
        NtStatus::ORDINAL_NOT_FOUND,
    );
    let (status, _) = ordinal(base, 999);
    tally.status(
        "an ordinal past the last",
        status,
        NtStatus::ORDINAL_NOT_FOUND,
    );
    let (status, _) = ordinal(base, 0x1_0007);
    tally.status(
        "an ordinal above 16 bits",
        status,
        NtStatus::ORDINAL_NOT_FOUND,
    );
    let (status, _) = ordinal(base, 0);
    tally.status(
        "neither a name nor an ordinal",
        status,
        NtStatus::INVALID_PARAMETER,
    );
    let (status, _) = procedure(base + 0x1000, "TestDllAdd");
    tally.status(
        "a handle that is not a module's base",
        status,
        NtStatus::DLL_NOT_FOUND,
    );

    // Forwarders: to ntdll by name and by ordinal, and to a DLL that does not exist.
    let (status, forwarded) = procedure(base, "TestDllForwarded");
    tally.status("a forwarded export", status, NtStatus::SUCCESS);
    tally.value(
        "TestDllForwarded is ntdll's RtlInitUnicodeString",
        forwarded,
        procedure(NTDLL_BASE, "RtlInitUnicodeString").1,
    );
    let (_, forwarded) = procedure(base, "TestDllForwardedOrdinal");
    tally.value(
        "TestDllForwardedOrdinal is ntdll's ordinal 1",
        forwarded,
        procedure(NTDLL_BASE, "LdrInitializeThunk").1,
    );
    let (status, _) = procedure(base, "TestDllForwardedMissing");
    println!("LdrGetProcedureAddress(TestDllForwardedMissing): {status}");
    tally.status(
        "a forwarder to a missing DLL",
        status,
        NtStatus::DLL_NOT_FOUND,
    );
}

/// LdrGetDllHandle by base name (any case, `.dll` optional) and by path; a second load
/// takes another reference, not another DLL_PROCESS_ATTACH.
fn handles(tally: &mut Tally, base: u64) {
    let (status, found) = dll_handle(&wide::<16>("TESTDLL"));
    tally.status("LdrGetDllHandle(TESTDLL)", status, NtStatus::SUCCESS);
    tally.value("LdrGetDllHandle(TESTDLL) is testdll's base", found, base);
    let (_, found) = dll_handle(&wide::<16>("ntdll.dll"));
    tally.value("LdrGetDllHandle(ntdll.dll)", found, NTDLL_BASE);
    let (status, again) = load(&wide::<40>("\\SystemRoot\\System32\\testdll.dll"));
    tally.status("LdrLoadDll by path, again", status, NtStatus::SUCCESS);
    tally.value("the second load gives the same base", again, base);
}

/// `PEB.Ldr`: the load order is this program, ntdll, testdll; the initialization order
/// ntdll, testdll.
fn module_lists(tally: &mut Tally, base: u64) {
    let mut load_order = [0u64; 4];
    let count = walk(false, &mut load_order);
    tally.value("modules in load order", count as u64, 3);
    tally.value("the third module is testdll", load_order[2], base);
    let mut initialization_order = [0u64; 4];
    let count = walk(true, &mut initialization_order);
    tally.value("modules in initialization order", count as u64, 2);
    tally.value(
        "testdll is initialized after ntdll",
        initialization_order[1],
        base,
    );
}

/// A new thread gets DLL_THREAD_ATTACH before its start routine and, from
/// LdrShutdownThread on its way out, DLL_THREAD_DETACH.
fn thread_notifications(tally: &mut Tally, mirror: &EventLog) {
    extern "system" fn thread_start(mirror: u64) -> ! {
        // SAFETY: main's mirror log, alive while main waits for this thread.
        let count = unsafe { (*(mirror as *const EventLog)).count };
        println!("thread: {count} notifications when the start routine runs");
        // SAFETY: the loader's hook for a thread on its way out.
        unsafe { LdrShutdownThread() };
        rt::syscall::exit_thread(NtStatus::SUCCESS)
    }
    let thread = match rt::thread::create_thread(thread_start, mirror as *const _ as u64, 0) {
        Ok(thread) => thread,
        Err(status) => {
            tally.status("NtCreateThreadEx", status, NtStatus::SUCCESS);
            return;
        }
    };
    let status = rt::wait::wait_for(thread, None);
    tally.status("the thread ends", status, NtStatus::SUCCESS);
    // SAFETY: the handle is this function's and no longer used.
    unsafe { rt::syscall::nt_close(thread) };
    check_events(
        tally,
        "DLL_THREAD_ATTACH and DLL_THREAD_DETACH for the thread",
        &read(mirror),
        &[DLL_PROCESS_ATTACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH],
    );
}

/// After LdrDisableThreadCalloutsForDll, a new thread gets no notifications.
fn no_thread_notifications(tally: &mut Tally, base: u64, mirror: &EventLog) {
    // SAFETY: the base is testdll's handle.
    let status = unsafe { LdrDisableThreadCalloutsForDll(base) };
    tally.status("LdrDisableThreadCalloutsForDll", status, NtStatus::SUCCESS);
    // SAFETY: a base no module has.
    let status = unsafe { LdrDisableThreadCalloutsForDll(base + 0x1000) };
    tally.status(
        "LdrDisableThreadCalloutsForDll of no module",
        status,
        NtStatus::DLL_NOT_FOUND,
    );
    extern "system" fn thread_start(_: u64) -> ! {
        // SAFETY: the loader's hook for a thread on its way out.
        unsafe { LdrShutdownThread() };
        rt::syscall::exit_thread(NtStatus::SUCCESS)
    }
    match rt::thread::create_thread(thread_start, 0, 0) {
        Ok(thread) => {
            rt::wait::wait_for(thread, None);
            // SAFETY: the handle is this function's and no longer used.
            unsafe { rt::syscall::nt_close(thread) };
        }
        Err(status) => tally.status("NtCreateThreadEx", status, NtStatus::SUCCESS),
    }
    tally.value(
        "no thread notifications once disabled",
        u64::from(read(mirror).count),
        3,
    );
}

/// Two loads, two unloads: the first leaves it loaded, the second detaches and unmaps it.
fn unload(tally: &mut Tally, base: u64, mirror: &EventLog) {
    // SAFETY: the base is testdll's handle.
    let status = unsafe { LdrUnloadDll(base) };
    tally.status("the first LdrUnloadDll", status, NtStatus::SUCCESS);
    tally.value(
        "still loaded after the first unload",
        dll_handle(&wide::<16>("testdll.dll")).1,
        base,
    );
    tally.value(
        "no DLL_PROCESS_DETACH yet",
        u64::from(read(mirror).count),
        3,
    );
    // SAFETY: as above; nothing of testdll is used afterwards.
    let status = unsafe { LdrUnloadDll(base) };
    println!("dlltest: LdrUnloadDll: {status}");
    tally.status("the last LdrUnloadDll", status, NtStatus::SUCCESS);
    check_events(
        tally,
        "DLL_PROCESS_DETACH on the last unload",
        &read(mirror),
        &[
            DLL_PROCESS_ATTACH,
            DLL_THREAD_ATTACH,
            DLL_THREAD_DETACH,
            DLL_PROCESS_DETACH,
        ],
    );
    let (status, _) = dll_handle(&wide::<16>("testdll.dll"));
    tally.status(
        "LdrGetDllHandle after the unload",
        status,
        NtStatus::DLL_NOT_FOUND,
    );
    tally.value(
        "the view is gone",
        u64::from(memory_state(base)),
        u64::from(MEM_FREE),
    );
    // SAFETY: a base nothing is mapped at any more.
    let status = unsafe { LdrUnloadDll(base) };
    tally.status("unloading it once more", status, NtStatus::DLL_NOT_FOUND);
    let mut count = [0u64; 4];
    tally.value(
        "modules in load order after the unload",
        walk(false, &mut count) as u64,
        2,
    );
}

/// chaindll imports from testdll: loading it loads testdll too (initialized first, and
/// listed before it in initialization order); its last unload unloads testdll.
fn dependency(tally: &mut Tally) {
    type Add3Function = unsafe extern "system" fn(u32, u32, u32) -> u32;
    let (status, chain) = load(&wide::<16>("chaindll"));
    println!("dlltest: LdrLoadDll(chaindll): {status}");
    tally.status("LdrLoadDll(chaindll)", status, NtStatus::SUCCESS);
    if !status.is_success() {
        return;
    }
    let (status, testdll) = dll_handle(&wide::<16>("testdll.dll"));
    tally.status(
        "chaindll's import loaded testdll",
        status,
        NtStatus::SUCCESS,
    );
    let mut order = [0u64; 4];
    walk(true, &mut order);
    tally.check(
        "testdll is initialized before chaindll",
        order[1] == testdll && order[2] == chain,
        &rt::tally::ExpectedValue(order[1], testdll),
    );
    let add3 = procedure(chain, "ChainDllAdd3").1;
    if add3 != 0 {
        // SAFETY: the export has Add3Function's signature.
        let add3: Add3Function = unsafe { core::mem::transmute(add3) };
        // SAFETY: as above.
        let sum = unsafe { add3(1, 2, 3) };
        tally.value("ChainDllAdd3(1, 2, 3) through testdll", u64::from(sum), 6);
    }
    // SAFETY: chaindll's handle; nothing of it is used afterwards.
    let status = unsafe { LdrUnloadDll(chain) };
    tally.status("LdrUnloadDll(chaindll)", status, NtStatus::SUCCESS);
    let (status, _) = dll_handle(&wide::<16>("testdll.dll"));
    tally.status(
        "testdll went with chaindll",
        status,
        NtStatus::DLL_NOT_FOUND,
    );
    tally.value(
        "testdll's view is gone",
        u64::from(memory_state(testdll)),
        u64::from(MEM_FREE),
    );
}

/// LdrLoadDll of names that are not loadable DLLs.
fn bad_names(tally: &mut Tally) {
    let (status, _) = load(&wide::<16>("nosuch.dll"));
    println!("dlltest: LdrLoadDll(nosuch.dll): {status}");
    tally.status("a missing DLL", status, NtStatus::DLL_NOT_FOUND);
    let (status, _) = load(&wide::<40>("\\SystemRoot\\System32\\NoSuchDir\\a.dll"));
    tally.status(
        "a DLL in a missing directory",
        status,
        NtStatus::DLL_NOT_FOUND,
    );
    let (status, _) = load(&wide::<24>("\\SystemRoot\\boot.cfg"));
    tally.status(
        "a file that is not an image",
        status,
        NtStatus::INVALID_IMAGE_NOT_MZ,
    );
    let (status, _) = load(&[]);
    tally.status("an empty name", status, NtStatus::INVALID_PARAMETER);
    let long = [u16::from(b'a'); 300];
    let (status, _) = load(&long);
    tally.status("a name too long", status, NtStatus::NAME_TOO_LONG);
    // SAFETY: NULL is refused before it is read.
    let status = unsafe {
        LdrLoadDll(
            core::ptr::null(),
            core::ptr::null(),
            core::ptr::null(),
            &mut 0,
        )
    };
    tally.status("a NULL name", status, NtStatus::INVALID_PARAMETER);
    let (status, _) = dll_handle(&wide::<16>("nosuch.dll"));
    tally.status(
        "LdrGetDllHandle of a DLL not loaded",
        status,
        NtStatus::DLL_NOT_FOUND,
    );

    // baddll imports from testdll, then an export ntdll does not have: the load fails
    // and takes testdll, loaded for it, away again, its entry point never called.
    let (status, _) = load(&wide::<16>("baddll.dll"));
    println!("dlltest: LdrLoadDll(baddll.dll): {status}");
    tally.status(
        "a DLL with an import that is not exported",
        status,
        NtStatus::ENTRYPOINT_NOT_FOUND,
    );
    for name in ["baddll.dll", "testdll.dll"] {
        let (status, _) = dll_handle(&wide::<16>(name));
        tally.status(
            "nothing of the failed load stays loaded",
            status,
            NtStatus::DLL_NOT_FOUND,
        );
    }
    let mut modules = [0u64; 4];
    tally.value(
        "modules in load order after the failed load",
        walk(false, &mut modules) as u64,
        2,
    );
}

/// A child created the classic way (its first thread by NtCreateThread, at the CONTEXT
/// its creator built) starts in the loader too: `dllstatic`'s static import of testdll
/// is loaded and bound before its entry point, and it exits 0.
fn classic_child(tally: &mut Tally) {
    let child = match rt::process::create_process_classic("dllstatic", "dllstatic", 0, false) {
        Ok(child) => child,
        Err(status) => {
            tally.status(
                "create_process_classic(dllstatic)",
                status,
                NtStatus::SUCCESS,
            );
            return;
        }
    };
    rt::process::wait(child.process);
    let exit_status = rt::process::query_basic_information(child.process)
        .map_or(NtStatus::UNSUCCESSFUL, |information| {
            NtStatus(information.exit_status)
        });
    child.close();
    println!("dlltest: classic-path dllstatic exited with {exit_status}");
    tally.status(
        "a classic-path child binds its static imports",
        exit_status,
        NtStatus::SUCCESS,
    );
}

/// `initfail`: testdll's DllMain refuses, so LdrLoadDll fails and the DLL is gone again.
fn init_fails(tally: &mut Tally) {
    let (status, _) = load(&wide::<16>("testdll.dll"));
    println!("dlltest: LdrLoadDll(testdll.dll): {status}");
    tally.status(
        "LdrLoadDll when DllMain refuses",
        status,
        NtStatus::DLL_INIT_FAILED,
    );
    let (status, _) = dll_handle(&wide::<16>("testdll.dll"));
    tally.status(
        "the refused DLL is not loaded",
        status,
        NtStatus::DLL_NOT_FOUND,
    );
    let mut modules = [0u64; 4];
    tally.value("modules in load order", walk(false, &mut modules) as u64, 2);
}

/// Loads testdll once more and ends the way a process ends through ntdll:
/// LdrShutdownProcess (its DLL_PROCESS_DETACH for process exit), then NtTerminateProcess.
fn exit_with_a_dll_loaded(tally: &mut Tally, status: NtStatus) -> ! {
    let (loaded, _) = load(&wide::<16>("testdll.dll"));
    tally.status(
        "LdrLoadDll(testdll.dll) before exit",
        loaded,
        NtStatus::SUCCESS,
    );
    let status = if loaded.is_success() {
        status
    } else {
        NtStatus::UNSUCCESSFUL
    };
    println!("dlltest: exiting with {status}");
    // SAFETY: the loader's hook for the process on its way out; then the process ends.
    unsafe {
        LdrShutdownProcess();
        NtTerminateProcess(CURRENT_PROCESS_HANDLE, status);
    }
    unreachable!("NtTerminateProcess of the current process returned")
}

/// tlsdll's template (tlsdll/src/lib.rs): every thread's block starts with it.
const TLSDLL_TEMPLATE: [u8; 8] = *b"tlsdll!\0";
/// tlsdll's log entries for its TLS callback and its DllMain (the reason added).
const TLSDLL_CALLBACK: u32 = 0x100;
const TLSDLL_MAIN: u32 = 0x200;

/// What a thread saw of its tlsdll block: where it is and its first bytes.
#[derive(Clone, Copy, Default)]
struct TlsView {
    block: u64,
    head: [u8; 8],
}

/// A thread's errand: tell `ready` it runs, wait for `go` (when not 0), then look at its
/// block at `index` through gs:[0x58].
struct Probe {
    ready: u64,
    go: u64,
    index: u32,
    view: TlsView,
}

/// The calling thread's block at TLS index `index` (none for `u32::MAX`, no index), read
/// as compiled TLS code reads it.
fn view_block(index: u32) -> TlsView {
    let array: *const u64;
    // SAFETY: gs:[0x58] is TEB.ThreadLocalStoragePointer; the read has no other effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0x58]", out(reg) array, options(nostack, readonly, preserves_flags));
    }
    if array.is_null() || index == u32::MAX {
        return TlsView::default();
    }
    // SAFETY: the loader gives a thread's array a slot per TLS index of the process.
    let block = unsafe { array.add(index as usize).read() };
    let mut head = [0; 8];
    if block != 0 {
        // SAFETY: a block holds at least tlsdll's template, 8 bytes.
        head = unsafe { (block as *const [u8; 8]).read() };
    }
    TlsView { block, head }
}

extern "system" fn probe_thread(probe: u64) -> ! {
    let probe = probe as *mut Probe;
    // SAFETY: main's probe, alive until main has waited for this thread; main writes
    // `index` before it sets `go`, and reads `view` after the thread ended.
    unsafe {
        if (*probe).ready != 0 {
            rt::syscall::nt_set_event((*probe).ready, core::ptr::null_mut());
        }
        if (*probe).go != 0 {
            rt::wait::wait_for((*probe).go, None);
        }
        let index = (&raw const (*probe).index).read_volatile();
        (&raw mut (*probe).view).write_volatile(view_block(index));
        LdrShutdownThread();
    }
    rt::syscall::exit_thread(NtStatus::SUCCESS)
}

/// Starts `probe` on a new thread; its handle, None (and a wrong check) when none starts.
fn start_probe(tally: &mut Tally, probe: &mut Probe) -> Option<u64> {
    rt::thread::create_thread(probe_thread, probe as *mut Probe as u64, 0)
        .inspect_err(|&status| tally.status("NtCreateThreadEx", status, NtStatus::SUCCESS))
        .ok()
}

/// Waits for a probe's thread to end.
fn finish_probe(tally: &mut Tally, thread: u64) {
    tally.status(
        "the probe thread ends",
        rt::wait::wait_for(thread, None),
        NtStatus::SUCCESS,
    );
    // SAFETY: the handle is the caller's and no longer used.
    unsafe { rt::syscall::nt_close(thread) };
}

/// TLS in a DLL loaded after process start: tlsdll gets an index, and a block with its
/// template in the main thread, in a thread that was already waiting and in a thread
/// created after (while the waiting one still runs, so the heap cannot hand the same
/// block out twice); its TLS callback runs before its DllMain; the unload frees the
/// blocks. testdll stays loaded meanwhile, so the waiting thread went through the loader
/// when it started (a thread that starts in a process with no DLL of its own attached and
/// no TLS skips the loader, which then does not know it).
fn dynamic_tls(tally: &mut Tally) {
    let (status, testdll) = load(&wide::<16>("testdll.dll"));
    tally.status(
        "LdrLoadDll(testdll.dll) for threads",
        status,
        NtStatus::SUCCESS,
    );
    let events = (
        rt::event::create_event(abi::dispatcher::NOTIFICATION_EVENT, false, false),
        rt::event::create_event(abi::dispatcher::NOTIFICATION_EVENT, false, false),
    );
    let (Ok(ready), Ok(go)) = events else {
        tally.check("NtCreateEvent", false, &"failed");
        return;
    };
    let mut before = Probe {
        ready,
        go,
        index: u32::MAX,
        view: TlsView::default(),
    };
    let waiting = start_probe(tally, &mut before);
    if waiting.is_some() {
        rt::wait::wait_for(ready, None);
    }
    let (status, tlsdll) = load(&wide::<16>("tlsdll.dll"));
    println!("dlltest: LdrLoadDll(tlsdll.dll) after process start: {status}");
    tally.status("LdrLoadDll of a DLL with TLS", status, NtStatus::SUCCESS);
    let index = procedure(tlsdll, "TlsDllIndex").1;
    let index = if status.is_success() && index != 0 {
        // SAFETY: the export has this signature.
        let index: extern "system" fn() -> u32 = unsafe { core::mem::transmute(index) };
        index()
    } else {
        u32::MAX
    };
    let main = view_block(index);
    let mut after = Probe {
        ready: 0,
        go: 0,
        index,
        view: TlsView::default(),
    };
    if let Some(thread) = start_probe(tally, &mut after) {
        finish_probe(tally, thread);
    }
    // SAFETY: the probe's thread reads its index only after `go`.
    unsafe { (&raw mut before.index).write_volatile(index) };
    // SAFETY: no previous state wanted.
    unsafe { rt::syscall::nt_set_event(go, core::ptr::null_mut()) };
    if let Some(thread) = waiting {
        finish_probe(tally, thread);
    }
    // SAFETY: the handles are this function's and no longer used.
    unsafe {
        rt::syscall::nt_close(ready);
        rt::syscall::nt_close(go);
    }
    if !status.is_success() {
        return;
    }
    tally.value("tlsdll's TLS index", u64::from(index), 0);
    for (name, view) in [
        ("the main thread's tlsdll block holds its template", main),
        (
            "a waiting thread's tlsdll block holds its template",
            before.view,
        ),
        (
            "a later thread's tlsdll block holds its template",
            after.view,
        ),
    ] {
        tally.check(
            name,
            view.block != 0 && view.head == TLSDLL_TEMPLATE,
            &format_args!("block {:#x}, {:?}", view.block, view.head),
        );
    }
    tally.check(
        "each thread has its own tlsdll block",
        main.block != before.view.block
            && main.block != after.view.block
            && before.view.block != after.view.block,
        &format_args!(
            "{:#x} {:#x} {:#x}",
            main.block, before.view.block, after.view.block
        ),
    );
    let event = procedure(tlsdll, "TlsDllEvent").1;
    if event != 0 {
        // SAFETY: the export has this signature.
        let event: extern "system" fn(u32) -> u32 = unsafe { core::mem::transmute(event) };
        tally.value(
            "tlsdll's TLS callback ran with DLL_PROCESS_ATTACH",
            u64::from(event(0)),
            u64::from(TLSDLL_CALLBACK | DLL_PROCESS_ATTACH),
        );
        tally.value(
            "then its DllMain",
            u64::from(event(1)),
            u64::from(TLSDLL_MAIN | DLL_PROCESS_ATTACH),
        );
    } else {
        tally.check("tlsdll exports TlsDllEvent", false, &"not found");
    }
    // SAFETY: tlsdll's handle, from the load above.
    let status = unsafe { LdrUnloadDll(tlsdll) };
    tally.status("LdrUnloadDll(tlsdll.dll)", status, NtStatus::SUCCESS);
    tally.value(
        "the main thread's tlsdll block is gone with it",
        view_block(index).block,
        0,
    );
    // SAFETY: testdll's handle, from the load above.
    let status = unsafe { LdrUnloadDll(testdll) };
    tally.status(
        "LdrUnloadDll(testdll.dll) after TLS",
        status,
        NtStatus::SUCCESS,
    );
}

fn check_events(tally: &mut Tally, name: &str, log: &EventLog, expected: &[u32]) {
    let count = (log.count as usize).min(LOG_CAPACITY);
    let right = log.reasons[..count] == *expected;
    tally.check(name, right, &Events(&log.reasons[..count]));
}

/// Shows a list of reasons.
struct Events<'a>(&'a [u32]);

impl core::fmt::Display for Events<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "got {:?}", self.0)
    }
}

fn read(log: &EventLog) -> EventLog {
    // SAFETY: a reference is readable; volatile because testdll writes it behind our back.
    unsafe { (log as *const EventLog).read_volatile() }
}

fn load(name: &[u16]) -> (NtStatus, u64) {
    let string = counted(name);
    let mut base = 0;
    // SAFETY: the string describes `name`; the handle is a local.
    let status = unsafe { LdrLoadDll(core::ptr::null(), core::ptr::null(), &string, &mut base) };
    (status, base)
}

fn dll_handle(name: &[u16]) -> (NtStatus, u64) {
    let string = counted(name);
    let mut base = 0;
    // SAFETY: the string describes `name`; the handle is a local.
    let status =
        unsafe { LdrGetDllHandle(core::ptr::null(), core::ptr::null(), &string, &mut base) };
    (status, base)
}

fn procedure(base: u64, name: &str) -> (NtStatus, u64) {
    let string = AnsiString {
        length: name.len() as u16,
        maximum_length: name.len() as u16,
        reserved: 0,
        buffer: name.as_ptr() as u64,
    };
    let mut address = 0;
    // SAFETY: the string describes `name`; the address is a local.
    let status = unsafe { LdrGetProcedureAddress(base, &string, 0, &mut address) };
    (status, address)
}

fn ordinal(base: u64, ordinal: u32) -> (NtStatus, u64) {
    let mut address = 0;
    // SAFETY: no name; the address is a local.
    let status = unsafe { LdrGetProcedureAddress(base, core::ptr::null(), ordinal, &mut address) };
    (status, address)
}

/// `text` as UTF-16 in a buffer of `N` units (the text must fit), as a slice of its length.
fn wide<const N: usize>(text: &str) -> WideName<N> {
    let mut units = [0u16; N];
    for (unit, byte) in units.iter_mut().zip(text.bytes()) {
        *unit = u16::from(byte);
    }
    WideName {
        units,
        length: text.len().min(N),
    }
}

struct WideName<const N: usize> {
    units: [u16; N],
    length: usize,
}

impl<const N: usize> core::ops::Deref for WideName<N> {
    type Target = [u16];
    fn deref(&self) -> &[u16] {
        &self.units[..self.length]
    }
}

/// `OptionalHeader.ImageBase` of the image mapped at `base`.
fn preferred_base(base: u64) -> u64 {
    // SAFETY: a loaded module's headers are mapped at its base: e_lfanew at 0x3C, the
    // optional header 24 bytes after the NT signature, ImageBase 24 bytes into it.
    unsafe {
        let nt_headers = ((base + 0x3C) as *const u32).read_unaligned();
        ((base + u64::from(nt_headers) + 24 + 24) as *const u64).read_unaligned()
    }
}

fn memory_state(address: u64) -> u32 {
    let mut region = MemoryBasicInformation::default();
    // SAFETY: `region` is a local of the size passed; the return length may be NULL.
    let status = unsafe {
        NtQueryVirtualMemory(
            CURRENT_PROCESS_HANDLE,
            address,
            MEMORY_BASIC_INFORMATION_CLASS,
            &mut region,
            size_of::<MemoryBasicInformation>() as u64,
            core::ptr::null_mut(),
        )
    };
    if status.is_success() { region.state } else { 0 }
}

/// The modules' bases in load order or initialization order (at most `bases.len()` kept)
/// and their count; a list that does not end within 16 entries counts as 16.
fn walk(initialization_order: bool, bases: &mut [u64]) -> usize {
    let mut count = 0;
    rt::process::for_each_module(initialization_order, 16, |entry| {
        if let Some(slot) = bases.get_mut(count) {
            *slot = entry.dll_base;
        }
        count += 1;
    });
    count
}

/// Prints `PEB.Ldr`'s load order (`module: BASE NAME FULL-NAME`) and initialization order
/// (`initialization order: NAME...`).
fn print_modules() {
    if rt::process::print_load_order(8).is_none() {
        println!("PEB.Ldr is NULL");
        return;
    }
    print!("initialization order:");
    rt::process::for_each_module(true, 8, |entry| {
        // SAFETY: the loader's names describe UTF-16 in its own allocations, which stay
        // mapped for the process.
        print!(" {}", Utf16(unsafe { unicode_units(&entry.base_dll_name) }));
    });
    println!();
}
