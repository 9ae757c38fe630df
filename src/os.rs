//! The few things the I/O layers take from the operating system: time and randomness.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, from the system clock.
pub fn now_micros() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is before 1970");
    i64::try_from(d.as_micros()).expect("clock fits in i64 microseconds")
}

/// Seconds since the Unix epoch, from the system clock.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is before 1970")
        .as_secs()
}

/// Fills `buf` with bytes from the OS's cryptographic random source.
pub fn fill_random(buf: &mut [u8]) {
    getrandom::getrandom(buf).expect("the OS random source is unavailable");
}
