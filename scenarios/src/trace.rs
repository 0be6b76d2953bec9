//! What every scenario program shares: printing trace lines as Python prints them.

use std::fmt::Display;

use multiprocessing::{get_context, Context, Process};

/// Prints a trace line and flushes, as `print(..., flush=True)`. The line goes out in one
/// write, so lines that several processes print at once never interleave.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }};
}
pub(crate) use say;

/// `True` / `False`.
pub fn py_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

/// A value, or `None`.
pub fn py_opt<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

/// A list of strings, as Python prints it: `['a', 'b']`.
pub fn py_list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", items.join(", "))
}

/// The context of a start method the catalog names.
pub fn ctx(method: &str) -> Context {
    get_context(Some(method)).expect("a start method the catalog names")
}

/// A process's exit code as CPython prints it (`None` while it runs).
pub fn exitcode(p: &Process) -> String {
    py_opt(p.exitcode().unwrap())
}
