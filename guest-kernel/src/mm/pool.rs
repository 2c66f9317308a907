//! The kernel pool (nonpaged pool): the Rust global allocator, a talc heap over an arena
//! in the kernel image.

use talc::TalcLock;
use talc::source::Claim;

const POOL_SIZE: usize = 8 * 1024 * 1024;

#[global_allocator]
static POOL: TalcLock<spin::Mutex<()>, Claim> = TalcLock::new({
    static mut ARENA: [u8; POOL_SIZE] = [0; POOL_SIZE];
    // SAFETY: the arena is used by nothing but this allocator, which owns it from here on.
    unsafe { Claim::array(&raw mut ARENA) }
});
