//! A counting global allocator: live heap bytes and allocation count.
//!
//! The bench binary installs [`Counting`] as its `#[global_allocator]`; in
//! other builds (the smoke test) [`installed`] is false and the memory
//! workload is skipped. Counting is off except inside a measurement window
//! ([`enable`] / [`disable`]), so that timed workloads pay one relaxed load
//! per allocation and no shared-counter contention. Inside a window, the
//! counters see allocations made and blocks freed during it; the harness lets
//! the runtime settle before opening one, so frees of older blocks are rare
//! (they could only make the figure smaller).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Allocations by size, in steps of 8 bytes up to 4 KiB (the last bucket
/// takes everything larger); only while [`histogram_on`].
static SIZES: [AtomicU64; BUCKETS] = [const { AtomicU64::new(0) }; BUCKETS];
static HIST: AtomicBool = AtomicBool::new(false);
const BUCKETS: usize = 513;

fn count_size(size: usize) {
    if HIST.load(Ordering::Relaxed) {
        SIZES[size.div_ceil(8).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }
}
static INSTALLED: AtomicBool = AtomicBool::new(false);
static ON: AtomicBool = AtomicBool::new(false);

/// Wraps the system allocator and counts.
#[derive(Debug, Default)]
pub struct Counting;

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            count_size(l.size());
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            count_size(l.size());
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

/// Called by the bench binary's `main`, which installs [`Counting`].
pub fn mark_installed() {
    INSTALLED.store(true, Ordering::Release);
}

/// Whether the counting allocator is the global allocator of this process.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

/// Opens a measurement window: counters start from zero.
pub fn enable() {
    LIVE.store(0, Ordering::Relaxed);
    ALLOCS.store(0, Ordering::Relaxed);
    ON.store(true, Ordering::SeqCst);
}

/// Closes the measurement window.
pub fn disable() {
    ON.store(false, Ordering::SeqCst);
}

/// Counters at one instant.
#[derive(Copy, Clone, Debug)]
pub struct Snapshot {
    /// Bytes allocated and not yet freed.
    pub live: i64,
    /// Allocations (and reallocations) so far.
    pub allocs: u64,
}

/// Reads the counters.
pub fn snapshot() -> Snapshot {
    Snapshot {
        live: LIVE.load(Ordering::Relaxed),
        allocs: ALLOCS.load(Ordering::Relaxed),
    }
}

/// Also counts allocations by size while a window is open (for profiling;
/// off by default).
pub fn histogram_on() {
    for b in &SIZES {
        b.store(0, Ordering::Relaxed);
    }
    HIST.store(true, Ordering::SeqCst);
}

/// Allocations counted by size since [`histogram_on`]: (size rounded up to
/// 8 bytes, or 4104 for anything larger than 4 KiB; count), smallest first.
pub fn histogram() -> Vec<(usize, u64)> {
    SIZES
        .iter()
        .enumerate()
        .map(|(i, b)| (i * 8, b.load(Ordering::Relaxed)))
        .filter(|&(_, n)| n > 0)
        .collect()
}
