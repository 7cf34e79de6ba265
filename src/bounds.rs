//! The ranges the server's early-data and handshake settings must fall in, checked by
//! [`crate::AcceptorBuilder::build`] and by the `qtls` CLI's flags and `qtls.toml` alike;
//! `name` is the setting, key or flag an error names.

use std::time::Duration;

/// The longest early-data freshness window: rustls itself refuses early data whose ticket
/// age is off by more than 60 s (RFC 8446 §8.3).
pub const MAX_EARLY_DATA_WINDOW: Duration = Duration::from_secs(60);

/// The most early data a server may accept from one client: 16 MiB.
pub const MAX_EARLY_DATA_SIZE: u32 = 16 << 20;

/// The freshness window for 0-RTT: at most [`MAX_EARLY_DATA_WINDOW`]; `name` is the key
/// or flag the error names.
pub fn check_early_data_window(name: &str, window: Duration) -> Result<(), String> {
    if window > MAX_EARLY_DATA_WINDOW {
        return Err(format!(
            "{name} {} is over {}, the most rustls allows",
            humantime::format_duration(window),
            humantime::format_duration(MAX_EARLY_DATA_WINDOW)
        ));
    }
    Ok(())
}

/// The most early data a client may send: from 1 byte to [`MAX_EARLY_DATA_SIZE`].
pub fn check_max_early_data(name: &str, size: u32) -> Result<(), String> {
    if size == 0 || size > MAX_EARLY_DATA_SIZE {
        return Err(format!(
            "{name} {size} is out of range: from 1 to {MAX_EARLY_DATA_SIZE} bytes (16 MiB)"
        ));
    }
    Ok(())
}

/// The handshake timeout: above 0 (a zero timeout would cut every handshake).
pub fn check_handshake_timeout(name: &str, timeout: Duration) -> Result<(), String> {
    if timeout.is_zero() {
        return Err(format!("{name} must be above 0"));
    }
    Ok(())
}
