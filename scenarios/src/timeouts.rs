//! Scenarios of timeouts: a call given one on something not ready waits about that long before
//! it gives up (IPC-2, IPC-6, IPC-16). Added when mutants of CPython's `multiprocessing` that read
//! timeouts as milliseconds, or ignore them, survived the suite (`cargo xtask mutants`).

use std::time::{Duration, Instant};

use multiprocessing::connection::pipe;
use multiprocessing::queue::Queue;
use multiprocessing::{main_guard, Event};

use crate::trace::{ctx, py_bool, say};

type Scenario = fn(&str);

pub const SCENARIOS: &[(&str, Scenario)] = &[("timeouts-wait", timeouts_wait)];

const TIMEOUT: Duration = Duration::from_millis(300);

fn waited(what: &str, call: impl FnOnce() -> String) {
    let start = Instant::now();
    let result = call();
    let long_enough = start.elapsed() >= TIMEOUT / 2;
    say!(
        "{what}: {result}, waited at least half the timeout: {}",
        py_bool(long_enough)
    );
}

fn timeouts_wait(method: &str) {
    main_guard();
    let _ = ctx(method); // the objects are the same under every start method
    let queue: Queue<String> = Queue::new().unwrap();
    let (here, _there) = pipe(true).unwrap();
    let event = Event::new().unwrap();
    waited("Queue.get(timeout=0.3)", || {
        match queue.get_timeout(TIMEOUT) {
            Ok(item) => item,
            Err(e) => e.kind().to_string(),
        }
    });
    waited("Connection.poll(0.3)", || {
        py_bool(here.poll(Some(TIMEOUT)).unwrap()).to_string()
    });
    waited("Event.wait(0.3)", || {
        py_bool(event.wait(Some(TIMEOUT)).unwrap()).to_string()
    });
}
