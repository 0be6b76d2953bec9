//! Scenarios of the process model: identity, lifecycle, misuse, isolation, start methods, the main
//! guard, serialization, fork hazards, daemons, cleanup at exit.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Mutex;
use std::time::Duration;

use multiprocessing::connection::{pipe, Connection};
use multiprocessing::{
    active_children, current_process, get_context, main_guard, parent_process, set_start_method,
    Event, Process,
};

use crate::trace::{ctx, exitcode, py_bool, py_list, py_opt, say};

type Scenario = fn(&str);

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("active-children", active_children_),
    ("before-start", before_start),
    ("child-pid-and-parent", child_pid_and_parent),
    ("close-running", close_running),
    ("closure-target", closure_target),
    ("current-process-main", current_process_main),
    ("daemon-no-children", daemon_no_children),
    ("daemon-terminated-at-exit", daemon_terminated_at_exit),
    ("default-start-method", default_start_method),
    ("default-start-method-pre-3-14", default_start_method),
    ("exitcode-exception", exitcode_exception),
    ("exitcode-kill", exitcode_kill),
    ("exitcode-return", exitcode_return),
    ("exitcode-sys-exit", exitcode_sys_exit),
    ("exitcode-terminate", exitcode_terminate),
    ("fd-inheritance", fd_inheritance),
    ("fork-lock-held-by-thread", fork_lock_held_by_thread),
    ("fork-threads-warning", fork_threads_warning),
    ("global-after-start", global_after_start),
    ("interrupt", interrupt),
    ("interrupt-joins-children", interrupt_joins_children),
    ("guard-reruns-top-level", guard_reruns_top_level),
    ("is-alive", is_alive),
    ("killed-parent-leaves-nothing", killed_parent_leaves_nothing),
    ("isolation-child-argument", isolation_child_argument),
    ("isolation-child-global", isolation_child_global),
    ("join-before-start", join_before_start),
    ("join-non-child", join_non_child),
    ("join-timeout", join_timeout),
    ("lesson-four-workers", lesson_four_workers),
    ("missing-guard", missing_guard),
    ("names-context", names_context),
    ("names-default", names_default),
    ("names-grandchild", names_grandchild),
    ("parent-process-grandchild", parent_process_grandchild),
    ("nondaemon-joined-at-exit", nondaemon_joined_at_exit),
    ("pipe-end-held-by-fork-child", pipe_end_held_by_fork_child),
    ("sentinel-wait", sentinel_wait),
    ("start-method-api", start_method_api),
    ("start-twice", start_twice),
    ("unknown-context", unknown_context),
    ("unserializable-argument", unserializable_argument),
    ("thread-lock-argument", thread_lock_argument),
    ("lambda-target", closure_target),
    ("use-after-close", use_after_close),
];

// ---- how Python prints things ------------------------------------------------------------------

fn names() -> String {
    let mut names: Vec<String> = active_children().iter().map(Process::name).collect();
    names.sort();
    py_list(names)
}

fn run(p: &Process) {
    p.start().unwrap();
    p.join().unwrap();
}

// ---- shared targets ----------------------------------------------------------------------------

#[multiprocessing::target]
fn noop() {}

#[multiprocessing::target]
fn blocked(ready: Event, release: Event) {
    ready.set().unwrap();
    release.wait(None).unwrap();
}

#[multiprocessing::target]
fn report_name() {
    say!("child: {}", current_process().name);
}

// ---- scenarios ---------------------------------------------------------------------------------

fn active_children_(method: &str) {
    main_guard();
    let (ready, release) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx(method)
        .process(blocked, (ready.clone(), release.clone()))
        .with_name("worker");
    say!("before start: {}", names());
    p.start().unwrap();
    ready.wait(None).unwrap();
    say!("while running: {}", names());
    release.set().unwrap();
    p.join().unwrap();
    say!("after join: {}", names());
}

fn before_start(method: &str) {
    main_guard();
    let p = ctx(method).process(noop, ());
    say!("pid: {}", py_opt(p.pid().unwrap()));
    say!("exitcode: {}", exitcode(&p));
    say!("is_alive: {}", py_bool(p.is_alive().unwrap()));
}

#[multiprocessing::target]
fn print_pids() {
    say!("child pid: {{pid:{}}}", std::process::id());
    say!(
        "child parent_process().pid: {{pid:{}}}",
        parent_process().unwrap().pid
    );
    say!(
        "child os.getppid(): {{pid:{}}}",
        std::os::unix::process::parent_id()
    );
}

fn child_pid_and_parent(method: &str) {
    main_guard();
    say!("parent pid: {{pid:{}}}", std::process::id());
    let p = ctx(method).process(print_pids, ());
    run(&p);
    say!(
        "parent sees child pid: {{pid:{}}}",
        p.pid().unwrap().unwrap()
    );
    say!("exitcode: {}", exitcode(&p));
}

fn close_running(method: &str) {
    main_guard();
    let (ready, never) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx(method).process(blocked, (ready.clone(), never));
    p.start().unwrap();
    ready.wait(None).unwrap();
    match p.close() {
        Ok(()) => say!("close while running: ok"),
        Err(err) => say!("close while running: {}", err.kind()),
    }
    say!("is_alive: {}", py_bool(p.is_alive().unwrap()));
    p.terminate().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
    p.close().unwrap();
    say!("close after join: ok");
}

fn closure_target(method: &str) {
    main_guard();
    start_and_report(&ctx(method).process(|| say!("child ran"), ()));
}

#[multiprocessing::target]
fn report_current_and_parent() {
    say!("child current_process: {}", current_process().name);
    say!("child parent_process: {}", parent_process().unwrap().name);
}

fn current_process_main(method: &str) {
    main_guard();
    set_start_method(Some(method), false).unwrap();
    say!("main current_process: {}", current_process().name);
    say!(
        "main parent_process: {}",
        py_opt(parent_process().map(|p| p.name))
    );
    let p = Process::new(report_current_and_parent, ());
    run(&p);
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn daemon_body(method: String) {
    say!("daemon: {}", py_bool(current_process().daemon));
    let g = ctx(&method).process(noop, ());
    match g.start() {
        Ok(()) => {
            g.join().unwrap();
            say!("start in daemon: ok");
        }
        Err(err) => say!("start in daemon: {}", err.kind()),
    }
}

fn daemon_no_children(method: &str) {
    main_guard();
    let p = ctx(method)
        .process(daemon_body, (method.to_owned(),))
        .with_daemon(true);
    run(&p);
    say!("daemon exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn daemon_that_would_survive(ready: Event) {
    ready.set().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    say!("daemon survived");
}

fn daemon_terminated_at_exit(method: &str) {
    main_guard();
    let ready = Event::new().unwrap();
    let p = ctx(method)
        .process(daemon_that_would_survive, (ready.clone(),))
        .with_daemon(true);
    p.start().unwrap();
    ready.wait(None).unwrap();
    say!("main: daemon is running");
    say!("main: end of main, no join");
}

fn default_start_method(_method: &str) {
    main_guard();
    let default = multiprocessing::get_start_method(false);
    say!("default start method: {}", py_opt(default));
    say!(
        "get_all_start_methods() lists it first: {}",
        py_bool(multiprocessing::get_all_start_methods().first() == default.as_ref())
    );
}

#[multiprocessing::target]
fn raises() {
    panic!("boom");
}

fn exitcode_exception(method: &str) {
    main_guard();
    set_start_method(Some(method), false).unwrap();
    let p = Process::new(raises, ());
    run(&p);
    say!("exitcode: {}", exitcode(&p));
}

fn signalled(method: &str, kill: bool) {
    main_guard();
    let (ready, never) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx(method).process(blocked, (ready.clone(), never));
    p.start().unwrap();
    ready.wait(None).unwrap();
    if kill {
        p.kill().unwrap();
    } else {
        p.terminate().unwrap();
    }
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

fn exitcode_kill(method: &str) {
    signalled(method, true);
}

fn exitcode_terminate(method: &str) {
    signalled(method, false);
}

#[multiprocessing::target]
fn returns_a_value() -> Result<(), String> {
    Ok(())
}

fn exitcode_return(method: &str) {
    main_guard();
    let p = ctx(method).process(returns_a_value, ());
    run(&p);
    say!("exitcode: {}", exitcode(&p));
}

fn killed_parent_leaves_nothing(method: &str) {
    main_guard();
    let p = ctx(method).process(returns_a_value, ());
    run(&p);
    say!("exitcode: {}", exitcode(&p));
    // SAFETY: kill() has no memory-safety preconditions; this process ends here.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

#[multiprocessing::target]
fn exits_3() {
    multiprocessing::exit(3);
}

fn exitcode_sys_exit(method: &str) {
    main_guard();
    let p = ctx(method).process(exits_3, ());
    run(&p);
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn check_fd(fd: i32, path: String) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: fstat on a descriptor number that may or may not be open; no memory is handed over
    // but the stat buffer.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let open = unsafe { libc::fstat(fd, &mut stat) } == 0;
    // `st_dev` is an i32 on macOS, a u64 on Linux.
    #[allow(clippy::unnecessary_cast)]
    let id = (stat.st_dev as u64, stat.st_ino as u64);
    let same = open && std::fs::metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == id);
    say!(
        "child: descriptor open on the parent's file: {}",
        py_bool(same)
    );
}

fn fd_inheritance(method: &str) {
    main_guard();
    let path = std::env::current_dir().unwrap().join("inherited.txt");
    let file = std::fs::File::create(&path).unwrap();
    let p = ctx(method).process(check_fd, (file.as_raw_fd(), path.display().to_string()));
    run(&p);
    drop(file);
    std::fs::remove_file(&path).unwrap();
    say!("exitcode: {}", exitcode(&p));
}

static LOCK: Mutex<()> = Mutex::new(());

#[multiprocessing::target]
fn try_the_lock() {
    say!(
        "child LOCK.acquire(timeout=0.2): {}",
        py_bool(LOCK.try_lock().is_ok())
    );
}

fn fork_lock_held_by_thread(method: &str) {
    main_guard();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _guard = LOCK.lock().unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap();
    let p = ctx(method).process(try_the_lock, ());
    run(&p);
    drop(release_tx);
    holder.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

fn fork_threads_warning(method: &str) {
    main_guard();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || stop_rx.recv());
    let p = ctx(method).process(noop, ());
    run(&p);
    drop(stop_tx);
    let _ = thread.join();
    say!("exitcode: {}", exitcode(&p));
}

static VALUE: Mutex<&str> = Mutex::new("original");

#[multiprocessing::target]
fn print_value() {
    say!("child sees: {}", VALUE.lock().unwrap());
}

fn global_after_start(method: &str) {
    main_guard();
    *VALUE.lock().unwrap() = "changed";
    say!("parent sees: {}", VALUE.lock().unwrap());
    let p = ctx(method).process(print_value, ());
    run(&p);
    say!("exitcode: {}", exitcode(&p));
}

fn guard_reruns_top_level(method: &str) {
    say!("top");
    main_guard();
    let ctx = ctx(method);
    let children: Vec<Process> = (0..3).map(|_| ctx.process(noop, ())).collect();
    for p in &children {
        p.start().unwrap();
    }
    for p in &children {
        p.join().unwrap();
    }
    let codes: Vec<String> = children.iter().map(exitcode).collect();
    say!("joined 3 children, exitcodes [{}]", codes.join(", "));
}

fn is_alive(method: &str) {
    main_guard();
    let (ready, release) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx(method).process(blocked, (ready.clone(), release.clone()));
    say!("before start: {}", py_bool(p.is_alive().unwrap()));
    p.start().unwrap();
    ready.wait(None).unwrap();
    say!("while running: {}", py_bool(p.is_alive().unwrap()));
    release.set().unwrap();
    p.join().unwrap();
    say!("after join: {}", py_bool(p.is_alive().unwrap()));
}

#[multiprocessing::target]
fn append_four(mut items: Vec<i32>) {
    items.push(4);
    say!("child sees: {items:?}");
}

fn isolation_child_argument(method: &str) {
    main_guard();
    let data = vec![1, 2, 3];
    let p = ctx(method).process(append_four, (data.clone(),));
    run(&p);
    say!("parent sees after join: {data:?}");
}

static COUNTER: Mutex<i32> = Mutex::new(0);

#[multiprocessing::target]
fn set_counter() {
    *COUNTER.lock().unwrap() = 99;
    say!("child sees: {}", COUNTER.lock().unwrap());
}

fn isolation_child_global(method: &str) {
    main_guard();
    let p = ctx(method).process(set_counter, ());
    run(&p);
    say!("parent sees after join: {}", COUNTER.lock().unwrap());
}

fn join_before_start(method: &str) {
    main_guard();
    let p = ctx(method).process(noop, ());
    match p.join() {
        Ok(()) => say!("join: ok"),
        Err(err) => say!("join: {}", err.kind()),
    }
}

fn join_timeout(method: &str) {
    main_guard();
    let (ready, never) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx(method).process(blocked, (ready.clone(), never));
    p.start().unwrap();
    ready.wait(None).unwrap();
    // Python's join(timeout) returns None whether or not the process ended.
    let _ended = p.join_timeout(Duration::from_millis(100)).unwrap();
    say!("join(timeout=0.1) returned: None");
    say!("is_alive: {}", py_bool(p.is_alive().unwrap()));
    say!("exitcode: {}", exitcode(&p));
    p.terminate().unwrap();
    p.join().unwrap();
    say!("after terminate and join, exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn lesson_worker() {
    say!("Process: {}", current_process().name);
    say!(
        "{} runs as {{pid:{}}}",
        current_process().name,
        std::process::id()
    );
}

fn lesson_four_workers(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let processes: Vec<Process> = (0..4)
        .map(|i| {
            ctx.process(lesson_worker, ())
                .with_name(format!("Worker-{i}"))
        })
        .collect();
    for p in &processes {
        p.start().unwrap();
    }
    for p in &processes {
        p.join().unwrap();
    }
    for p in &processes {
        say!(
            "{} was started as {{pid:{}}}, exitcode {}",
            p.name(),
            p.pid().unwrap().unwrap(),
            exitcode(p)
        );
    }
}

#[multiprocessing::target]
fn hello() {
    say!("hello");
}

/// Deliberately no `main_guard()`.
fn missing_guard(method: &str) {
    let p = ctx(method).process(hello, ());
    match p.start() {
        Ok(()) => {}
        Err(err @ multiprocessing::Error::ForkServerFailed { .. }) => {
            // The parent, whose forkserver failed while it ran main() up to the guard.
            eprintln!("{err}");
            say!("in the parent, start failed: no child was started");
            multiprocessing::exit(1);
        }
        Err(err) => {
            // A spawn child or the forkserver, re-running main() while bootstrapping.
            say!("in the child, start: {}", err.kind());
            let message = err.to_string();
            let first_sentence = message.split_inclusive(". ").next().unwrap_or(&message);
            say!("message: {}", first_sentence.trim_end());
            panic!("{err}"); // Python re-raises; the process exits with 1
        }
    }
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

fn names_context(method: &str) {
    main_guard();
    let ctx = ctx(method);
    for _ in 0..2 {
        let p = ctx.process(report_name, ());
        run(&p);
        say!("parent: {}", p.name());
    }
}

fn names_default(method: &str) {
    main_guard();
    set_start_method(Some(method), false).unwrap();
    let first = Process::new(report_name, ());
    run(&first);
    say!("first: {}", first.name());
    let second = Process::new(report_name, ());
    run(&second);
    say!("second: {}", second.name());
    let unstarted = Process::new(report_name, ());
    say!("created, never started: {}", unstarted.name());
    let named = Process::new(report_name, ()).with_name("explicit");
    say!("created with name=: {}", named.name());
    let last = Process::new(report_name, ());
    run(&last);
    say!("last: {}", last.name());
}

/// What the grandchild of `names-grandchild` and `parent-process-grandchild` prints.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
enum GrandchildShows {
    Name,
    ParentProcess,
}

#[multiprocessing::target]
fn grandchild(shows: GrandchildShows) {
    match shows {
        GrandchildShows::Name => say!("grandchild: name {}", current_process().name),
        GrandchildShows::ParentProcess => say!(
            "grandchild: parent_process {}",
            parent_process().unwrap().name
        ),
    }
}

#[multiprocessing::target]
fn child_with_a_child(method: String, shows: GrandchildShows) {
    set_start_method(Some(&method), true).unwrap();
    let g = Process::new(grandchild, (shows,));
    say!("child {} created {}", current_process().name, g.name());
    run(&g);
    say!("grandchild exitcode: {}", exitcode(&g));
}

fn grandchild_scenario(method: &str, shows: GrandchildShows) {
    main_guard();
    set_start_method(Some(method), false).unwrap();
    let p = Process::new(child_with_a_child, (method.to_owned(), shows));
    run(&p);
    say!("child exitcode: {}", exitcode(&p));
}

fn names_grandchild(method: &str) {
    grandchild_scenario(method, GrandchildShows::Name);
}

fn parent_process_grandchild(method: &str) {
    grandchild_scenario(method, GrandchildShows::ParentProcess);
}

#[multiprocessing::target]
fn child_done_later(go: Event) {
    go.wait(None).unwrap();
    // Longer than the runner waits for a program's other processes after its main process
    // exited (2 s): only a main process that joins its child shows `child done`.
    std::thread::sleep(Duration::from_secs(4));
    say!("child done");
}

fn nondaemon_joined_at_exit(method: &str) {
    main_guard();
    let go = Event::new().unwrap();
    let p = ctx(method).process(child_done_later, (go.clone(),));
    p.start().unwrap();
    say!("main: end of main, no join");
    go.set().unwrap();
}

#[multiprocessing::target]
fn waits_for(done: Event) {
    done.wait(None).unwrap();
}

fn eof_visible(fd: std::os::fd::BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
    let ms = nix::poll::PollTimeout::try_from(timeout.as_millis() as i32).unwrap();
    if nix::poll::poll(&mut fds, ms).unwrap() == 0 {
        return false;
    }
    let mut buf = [0u8; 1];
    nix::unistd::read(fd, &mut buf) == Ok(0)
}

fn pipe_end_held_by_fork_child(method: &str) {
    main_guard();
    let (r, w) = nix::unistd::pipe().unwrap();
    let done = Event::new().unwrap();
    let p = ctx(method).process(waits_for, (done.clone(),));
    p.start().unwrap();
    drop(w);
    say!(
        "EOF visible while the child runs: {}",
        py_bool(eof_visible(r.as_fd(), Duration::from_millis(500)))
    );
    done.set().unwrap();
    p.join().unwrap();
    say!(
        "EOF visible after join: {}",
        py_bool(eof_visible(r.as_fd(), Duration::from_secs(5)))
    );
    drop(r);
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn blocked_until(release: Event) {
    release.wait(None).unwrap();
}

fn sentinel_wait(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let release = Event::new().unwrap();
    let a = ctx.process(noop, ()).with_name("quick");
    let b = ctx
        .process(blocked_until, (release.clone(),))
        .with_name("blocked");
    b.start().unwrap();
    a.start().unwrap();
    let ready =
        multiprocessing::connection::wait(&[a.sentinel().unwrap(), b.sentinel().unwrap()], None)
            .unwrap();
    let names = [&a, &b]
        .into_iter()
        .filter(|p| ready.contains(&p.sentinel().unwrap()))
        .map(|p| p.name());
    say!("ready: {}", py_list(names));
    release.set().unwrap();
    a.join().unwrap();
    b.join().unwrap();
    say!("exitcodes: {} {}", exitcode(&a), exitcode(&b));
}

fn start_method_api(method: &str) {
    main_guard();
    say!(
        "initially: {}",
        py_opt(multiprocessing::get_start_method(true))
    );
    set_start_method(Some(method), false).unwrap();
    say!(
        "after set_start_method(argument), get_start_method() is the argument: {}",
        py_bool(multiprocessing::get_start_method(false).map(|m| m.as_str()) == Some(method))
    );
    match set_start_method(Some(method), false) {
        Ok(()) => say!("set_start_method again: ok"),
        Err(err) => say!("set_start_method again: {}", err.kind()),
    }
    let other = if method == "spawn" { "fork" } else { "spawn" };
    set_start_method(Some(other), true).unwrap();
    say!(
        "set_start_method(another, force=True), get_start_method() is it: {}",
        py_bool(multiprocessing::get_start_method(false).map(|m| m.as_str()) == Some(other))
    );
    let mut all: Vec<&str> = multiprocessing::get_all_start_methods()
        .iter()
        .map(|m| m.as_str())
        .collect();
    all.sort();
    say!("all start methods: {}", py_list(all));
}

#[multiprocessing::target]
fn child_ran() {
    say!("child ran");
}

fn start_twice(method: &str) {
    main_guard();
    let p = ctx(method).process(child_ran, ());
    p.start().unwrap();
    let outcome = match p.start() {
        Ok(()) => "ok".to_owned(),
        Err(err) => err.kind().to_owned(),
    };
    p.join().unwrap();
    say!("second start: {outcome}");
    say!("exitcode: {}", exitcode(&p));
}

fn unknown_context(_method: &str) {
    main_guard();
    match get_context(Some("nope")) {
        Ok(_) => say!("get_context: ok"),
        Err(err) => {
            say!("get_context: {}", err.kind());
            say!("message: {err}");
        }
    }
}

/// A lock as an argument: like `threading.Lock`, it cannot be serialized (pickled).
struct LockArgument(Mutex<()>);

impl serde::Serialize for LockArgument {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "cannot pickle '_thread.lock' object",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for LockArgument {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(LockArgument(Mutex::new(())))
    }
}

#[multiprocessing::target]
fn got_a_lock(lock: LockArgument) {
    say!(
        "child got a lock, acquire: {}",
        py_bool(lock.0.try_lock().is_ok())
    );
}

/// An argument no serializer can encode, as the Python program's `Unserializable` (its reduction
/// raises).
struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "Unserializable refuses to be serialized",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Unserializable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unserializable)
    }
}

#[multiprocessing::target]
fn got_the_object(_object: Unserializable) {
    say!("child got: Unserializable");
}

/// Starts `p` and prints what `start()` did, as `unserializable-argument` and
/// `thread-lock-argument` do.
fn start_and_report(p: &Process) {
    match p.start() {
        Err(err) => {
            say!("start: {}", err.kind());
            say!("pid: {}", py_opt(p.pid().unwrap()));
            say!("active_children: {}", names());
        }
        Ok(()) => {
            p.join().unwrap();
            say!("start: ok");
            say!("exitcode: {}", exitcode(p));
        }
    }
}

fn unserializable_argument(method: &str) {
    main_guard();
    start_and_report(&ctx(method).process(got_the_object, (Unserializable,)));
}

fn thread_lock_argument(method: &str) {
    main_guard();
    start_and_report(&ctx(method).process(got_a_lock, (LockArgument(Mutex::new(())),)));
}

fn use_after_close(method: &str) {
    main_guard();
    let p = ctx(method).process(noop, ());
    run(&p);
    p.close().unwrap();
    let show = |what: &str, result: multiprocessing::Result<String>| match result {
        Ok(value) => say!("{what}: ok {value}"),
        Err(err) => say!("{what}: {}", err.kind()),
    };
    show("pid", p.pid().map(py_opt));
    show("exitcode", p.exitcode().map(py_opt));
    show("is_alive()", p.is_alive().map(|a| py_bool(a).to_owned()));
    show("join()", p.join().map(|()| "None".to_owned()));
}

#[multiprocessing::target]
fn blocked_on_pipe(mut conn: Connection) {
    conn.send("ready").unwrap();
    let _never: String = conn.recv().unwrap(); // nobody ever sends
}

fn interrupt(method: &str) {
    main_guard();
    set_start_method(Some(method), false).unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = Process::new(blocked_on_pipe, (there,));
    p.start().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    p.interrupt().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

/// `ok, <value>` or the error's kind, as `join_non_child.py` prints a call's outcome.
fn ok_or_kind<T: std::fmt::Debug>(result: multiprocessing::Result<T>) -> String {
    match result {
        Ok(value) => format!("ok, {value:?}"),
        Err(err) => err.kind().to_owned(),
    }
}

fn join_non_child(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let first = ctx.process(blocked_on_pipe, (there,));
    first.start().unwrap();
    let _ready: String = here.recv().unwrap();
    let unstarted = ctx.process(noop, ()); // never started: its target does not matter
    let (inherited, never_started) = (first.clone(), unstarted.clone());
    let second = ctx.process(
        move || {
            say!("sibling: join(): {}", ok_or_kind(inherited.join()));
            say!(
                "sibling: join(timeout=0.1): {}",
                ok_or_kind(inherited.join_timeout(Duration::from_millis(100)))
            );
            say!("sibling: is_alive(): {}", ok_or_kind(inherited.is_alive()));
            say!("sibling: exitcode: {}", exitcode(&inherited));
            say!(
                "sibling: join() of an unstarted process: {}",
                ok_or_kind(never_started.join())
            );
            say!(
                "sibling: is_alive() of an unstarted process: {}",
                ok_or_kind(never_started.is_alive())
            );
        },
        (),
    );
    second.start().unwrap();
    second.join().unwrap();
    say!("sibling exitcode: {}", exitcode(&second));
    say!(
        "parent: first is_alive(): {}",
        py_bool(first.is_alive().unwrap())
    );
    here.send("go").unwrap();
    first.join().unwrap();
    say!("first exitcode: {}", exitcode(&first));
}

#[multiprocessing::target]
fn waits_for_go(mut conn: Connection) {
    let _go: String = conn.recv().unwrap(); // the main process says when
}

#[multiprocessing::target]
fn starts_a_child_then_blocks(for_grandchild: Connection, mut conn: Connection) {
    Process::new(waits_for_go, (for_grandchild,))
        .start()
        .unwrap();
    conn.send("ready").unwrap();
    let _never: String = conn.recv().unwrap(); // nobody ever sends
}

fn interrupt_joins_children(method: &str) {
    main_guard();
    set_start_method(Some(method), false).unwrap();
    let (mut to_grandchild, for_grandchild) = pipe(true).unwrap();
    let (mut here, there) = pipe(true).unwrap();
    // The Process takes both ends; the parent's copies close once it has started.
    let p = Process::new(starts_a_child_then_blocks, (for_grandchild, there));
    p.start().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    p.interrupt().unwrap();
    p.join_timeout(Duration::from_secs(1)).unwrap();
    say!(
        "child alive after join(timeout=1): {}",
        py_bool(p.is_alive().unwrap())
    );
    to_grandchild.send("go").unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
    if let Err(err) = to_grandchild.recv::<String>() {
        say!("grandchild's end of the pipe: {}", err.kind());
    }
}
