//! Process and thread services: NtOpenProcess, NtOpenThread, NtTerminateProcess.

use abi::NtStatus;
use abi::access::PROCESS_TERMINATE;
use abi::nt::ClientId;

use super::object::return_handle;
use super::user_args::{self, CapturedAttributes, arguments};
use crate::arch::TrapFrame;
use crate::ob::{self, ObjectRef, ObjectType};
use crate::ps::{self, PROCESS_TYPE, Process, THREAD_TYPE};

/// `NtOpenProcess(PHANDLE ProcessHandle, DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
/// PCLIENT_ID ClientId OPTIONAL)`: by CLIENT_ID (a thread ID, if given, must be one of the
/// process's threads) or by name, exactly one of them (STATUS_INVALID_PARAMETER_MIX).
/// An unknown ID is STATUS_INVALID_CID.
pub fn nt_open_process(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_by_client_id(frame, &PROCESS_TYPE, |client_id| {
        let process: ObjectRef = if client_id.unique_thread != 0 {
            ps::lookup_thread_by_client_id(client_id)?.process().clone()
        } else {
            ps::lookup_process_by_id(client_id.unique_process)?
        };
        Ok(process)
    })
}

/// `NtOpenThread(PHANDLE ThreadHandle, DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
/// PCLIENT_ID ClientId OPTIONAL)`: as NtOpenProcess, for the thread the CLIENT_ID's thread
/// ID names (its process ID, unless 0, must be the thread's process).
pub fn nt_open_thread(frame: &TrapFrame) -> Result<NtStatus, NtStatus> {
    open_by_client_id(frame, &THREAD_TYPE, |client_id| {
        let thread: ObjectRef = ps::lookup_thread_by_client_id(client_id)?;
        Ok(thread)
    })
}

/// The common body of NtOpenProcess and NtOpenThread: `lookup` finds the object a CLIENT_ID
/// names.
fn open_by_client_id(
    frame: &TrapFrame,
    object_type: &ObjectType,
    lookup: impl FnOnce(ClientId) -> Result<ObjectRef, NtStatus>,
) -> Result<NtStatus, NtStatus> {
    let [handle_address, desired_access, attributes, client_id] = arguments::<4>(frame)?;
    let desired_access = desired_access as u32;
    user_args::probe_for_write_handle(handle_address)?;
    let attributes: CapturedAttributes = user_args::capture_object_attributes(attributes)?;
    let client_id = match client_id {
        0 => None,
        address => Some(user_args::capture_client_id(address)?),
    };
    let handle = match (&attributes.name, client_id) {
        (Some(_), None) => ob::open_object_by_name(
            &attributes.object_name(),
            object_type,
            attributes.attributes,
            desired_access,
        )?,
        (None, Some(client_id)) => {
            ob::open_object_by_pointer(lookup(client_id)?, attributes.attributes, desired_access)?
        }
        _ => return Err(NtStatus::INVALID_PARAMETER_MIX),
    };
    return_handle(handle_address, handle)?;
    Ok(NtStatus::SUCCESS)
}

/// `NtTerminateProcess(ProcessHandle, ExitStatus)`. The handle needs PROCESS_TERMINATE.
/// Every thread of the process exits; the caller, if it is one of them, on its way back to
/// user mode, so the call does not return. A 0 handle terminates every thread of the
/// current process but the caller's.
pub fn nt_terminate_process(process_handle: u64, exit_status: u32) -> Result<NtStatus, NtStatus> {
    let status = NtStatus(exit_status);
    if process_handle == 0 {
        ps::terminate_process(&ps::current_process(), status, true);
        return Ok(NtStatus::SUCCESS);
    }
    let process = ob::reference_object_by_handle::<Process>(process_handle, PROCESS_TERMINATE)?;
    ps::terminate_process(&process, status, false);
    Ok(NtStatus::SUCCESS)
}
