//! What `qtls server` does with a connection after the handshake: the demo HTTP app or echo.

pub mod echo;
pub mod http;
