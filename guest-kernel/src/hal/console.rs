//! The console: a line buffer flushed to the VMM one whole line (or full buffer) per exit.

use spin::Mutex;

const CONSOLE_BUFFER_SIZE: usize = 1024;

struct LineBuffer {
    bytes: [u8; CONSOLE_BUFFER_SIZE],
    len: usize,
}

impl LineBuffer {
    fn flush(&mut self) {
        if self.len > 0 {
            super::console_hypercall(&self.bytes[..self.len]);
            self.len = 0;
        }
    }
}

static CONSOLE: Mutex<LineBuffer> = Mutex::new(LineBuffer {
    bytes: [0; CONSOLE_BUFFER_SIZE],
    len: 0,
});

/// Appends `bytes`, sending each completed line and every full buffer.
pub fn write_console(mut bytes: &[u8]) {
    let mut console = CONSOLE.lock();
    while !bytes.is_empty() {
        let room = CONSOLE_BUFFER_SIZE - console.len;
        let take = bytes.len().min(room);
        let start = console.len;
        console.bytes[start..start + take].copy_from_slice(&bytes[..take]);
        console.len += take;
        let ends_line = bytes[..take].contains(&b'\n');
        bytes = &bytes[take..];
        if ends_line || console.len == CONSOLE_BUFFER_SIZE {
            console.flush();
        }
    }
}

/// Sends whatever is buffered. Used before shutdown, where the lock may be held by the
/// code that failed: the buffer is taken regardless.
pub fn flush_console() {
    // SAFETY: called on the way to shutdown with interrupts off; if the holder of the lock
    // was interrupted by the failure, it never resumes, so taking the buffer is sound.
    unsafe { CONSOLE.force_unlock() };
    CONSOLE.lock().flush();
}
