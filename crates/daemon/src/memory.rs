//! Keeping the daemon's resident memory small with glibc's allocator: few malloc arenas
//! (glibc makes up to 8 per core, one per thread that allocates concurrently, and each
//! keeps what it freed), and freed memory handed back to the system once a burst of work is
//! over. Both are no-ops with other C libraries.

/// Caps glibc's arenas; call before the async runtime starts its threads.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator tuning; called while single-threaded.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns freed heap memory to the system.
pub fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim is thread-safe and only releases memory the allocator owns.
    unsafe {
        libc::malloc_trim(0);
    }
}
