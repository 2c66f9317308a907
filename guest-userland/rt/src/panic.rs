//! The panic handler: print the message, end the process with STATUS_ASSERTION_FAILURE.

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::println!("{info}");
    crate::startup::exit_process(crate::NtStatus::ASSERTION_FAILURE)
}
