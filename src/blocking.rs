//! Blocking calls (a token, a Redis round trip) from inside async code.

/// Whether `tokio::task::block_in_place` may be used here: on a thread of a multi-threaded
/// tokio runtime (it panics on a current-thread runtime).
pub(crate) fn can_block_in_place() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Runs `f` inside `tokio::task::block_in_place` where that is allowed, so that the worker's
/// other tasks move to another thread meanwhile; elsewhere just runs it.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    if can_block_in_place() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}
