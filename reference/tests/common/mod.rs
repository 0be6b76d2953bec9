//! What the in-process test binaries share.

use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};

use multiprocessing::{get_context, Context};

/// Held by every test of a binary that creates descriptors or starts processes.
///
/// A `fork` child inherits *every* descriptor open in its parent, so a test that forks while
/// another test of the same binary holds a pipe end hands that end to its child. The other test
/// then waits for an EOF that comes only when the unrelated child exits, and two such tests wait
/// on each other forever. CPython's own suite runs one test at a time for the same reason; so do
/// these binaries (each binary still runs in parallel with the others).
static ONE_TEST_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A start method's context, and the right to use it alone in this binary.
pub struct Serial {
    ctx: Context,
    _one_test_at_a_time: MutexGuard<'static, ()>,
}

impl Deref for Serial {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

/// Calls the main guard (children take over here), then waits for this test's turn.
pub fn serial() -> MutexGuard<'static, ()> {
    multiprocessing::main_guard();
    // A test that failed while holding the lock poisons it; the next test may still run.
    ONE_TEST_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`serial`], then the context of `method`.
pub fn ctx(method: &str) -> Serial {
    let guard = serial();
    Serial {
        ctx: get_context(Some(method)).unwrap(),
        _one_test_at_a_time: guard,
    }
}
