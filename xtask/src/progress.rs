//! What `cargo xtask matrix` shows while it runs. On a terminal: a progress bar that ticks on
//! its own, with the ETA and the run that has been going longest, and each unexpected result
//! printed above it as it comes. Elsewhere (CI logs, pipes): each unexpected result as a line,
//! and a progress line every few seconds.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::headline;
use crate::results::Record;
use crate::say;

/// How often a progress line is printed outside a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    started: Instant,
    done: AtomicUsize,
    unexpected: AtomicUsize,
    running: Mutex<Vec<(usize, String, Instant)>>,
    finished: AtomicBool,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed:>4} [{bar:24}] {pos}/{len} runs, ETA {eta:>3}, {prefix}\n  {wide_msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix("0 unexpected");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            total,
            started: Instant::now(),
            done: AtomicUsize::new(0),
            unexpected: AtomicUsize::new(0),
            running: Mutex::new(Vec::new()),
            finished: AtomicBool::new(false),
        }
    }

    pub fn started(&self, i: usize, what: String) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((i, what, Instant::now()));
    }

    pub fn finished(&self, i: usize, record: &Record) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(j, _, _)| *j != i);
        self.done.fetch_add(1, Ordering::Relaxed);
        if !record.outcome.is_ok() {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            match &self.bar {
                Some(bar) => bar.println(headline(record)),
                None => say(&format!("{}\n", headline(record))),
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.done.load(Ordering::Relaxed) as u64);
            bar.set_prefix(format!(
                "{} unexpected",
                self.unexpected.load(Ordering::Relaxed)
            ));
            bar.set_message(self.running());
        }
    }

    /// `running <the run that has been going longest> (Ns)`, or nothing.
    fn running(&self) -> String {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .iter()
            .min_by_key(|(_, _, t)| *t)
            .map(|(_, what, t)| format!("running {what} ({}s)", t.elapsed().as_secs()))
            .unwrap_or_default()
    }

    /// Updates the bar's message (a run's time goes up while it runs), or prints a progress line
    /// every [`LOG_EVERY`] outside a terminal, until [`Progress::finish`].
    pub fn tick_until_done(&self) {
        let mut last_line = Instant::now();
        while !self.finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            match &self.bar {
                Some(bar) => bar.set_message(self.running()),
                None if last_line.elapsed() >= LOG_EVERY => {
                    last_line = Instant::now();
                    let done = self.done.load(Ordering::Relaxed);
                    let elapsed = self.started.elapsed().as_secs_f64();
                    let eta = if done == 0 {
                        "?".to_owned()
                    } else {
                        format!("{:.0}s", elapsed / done as f64 * (self.total - done) as f64)
                    };
                    say(&format!(
                        "[{elapsed:>5.0}s] {done}/{} runs, ETA {eta}, {} unexpected; {}\n",
                        self.total,
                        self.unexpected.load(Ordering::Relaxed),
                        self.running()
                    ));
                }
                None => {}
            }
        }
    }

    pub fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
