//! `connection::pipe` and `Connection` under every start method, in process: each test calls the
//! main guard first, so children take over before the test harness's `main`.
//!
//! Children check what they see with `assert!`: a failed check is a panic, so exit code 1, and
//! every test asserts its children exited with 0. Nothing sleeps to synchronize; timeouts are hang
//! guards only.

// Pipes and connections are Unix-only in this crate (README, "What is verified where").
#![cfg(unix)]

mod common;
use common::ctx;

use std::time::{Duration, Instant};

use multiprocessing::connection::{pipe, wait, Connection};
use multiprocessing::{Error, Process};
use rstest::rstest;
use serde::{Deserialize, Serialize};

/// How long anything may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(120);

fn start(ctx: &multiprocessing::Context, p: Process) -> Process {
    let _ = ctx;
    p.start().unwrap();
    p
}

fn join_ok(p: &Process) {
    assert!(p.join_timeout(HANG).unwrap(), "child {} hung", p.name());
    assert_eq!(p.exitcode().unwrap(), Some(0), "child {} failed", p.name());
}

/// Receives with a hang guard.
fn recv<T: serde::de::DeserializeOwned>(conn: &mut Connection) -> multiprocessing::Result<T> {
    assert!(conn.poll(Some(HANG)).unwrap(), "nothing arrived");
    conn.recv()
}

fn recv_bytes(conn: &mut Connection) -> multiprocessing::Result<Vec<u8>> {
    assert!(conn.poll(Some(HANG)).unwrap(), "nothing arrived");
    conn.recv_bytes(None)
}

/// Runs `f` on a thread and fails the test if it takes longer than [`HANG`] (a deadlock).
fn within_hang_guard<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(HANG)
        .expect("deadlock: the operation did not finish")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    values: Vec<i32>,
    nested: Option<Box<Record>>,
}

fn record(id: u64) -> Record {
    Record {
        id,
        name: format!("record-{id}"),
        values: (0..id as i32).collect(),
        nested: Some(Box::new(Record {
            id: id + 1,
            name: "inner".into(),
            values: vec![-1],
            nested: None,
        })),
    }
}

/// Echoes typed records until it receives `None`.
///
/// Not until EOF: a `fork` child inherits the parent's end too, so the parent closing its copy
/// is no EOF for the child (`closing_one_end_is_eof_at_the_other`).
#[multiprocessing::target]
fn echo_records(mut conn: Connection) {
    while let Some(record) = conn.recv::<Option<Record>>().unwrap() {
        conn.send(&record).unwrap();
    }
}

#[rstest]
fn values_round_trip_through_a_child(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut ours, theirs) = pipe(true).unwrap();
    let p = start(&ctx, ctx.process(echo_records, (theirs,)));
    for id in 0..50 {
        ours.send(&Some(record(id))).unwrap();
        assert_eq!(recv::<Record>(&mut ours).unwrap(), record(id));
    }
    ours.send(&None::<Record>).unwrap();
    join_ok(&p);
}

/// What ends [`echo_bytes`].
const STOP: &[u8] = b"stop";

/// Echoes byte messages until it receives [`STOP`] (not until EOF: see [`echo_records`]).
#[multiprocessing::target]
fn echo_bytes(mut conn: Connection) {
    loop {
        let bytes = conn.recv_bytes(None).unwrap();
        if bytes == STOP {
            return;
        }
        conn.send_bytes(&bytes, 0, None).unwrap();
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8)
        .collect()
}

#[rstest]
fn messages_of_every_size_keep_their_order(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut ours, theirs) = pipe(true).unwrap();
    let p = start(&ctx, ctx.process(echo_bytes, (theirs,)));
    // Around the pipe/socket threshold (32 KiB), and well above it, interleaved.
    let sizes = [
        0,
        1,
        100,
        4096,
        32 * 1024 - 1,
        32 * 1024,
        32 * 1024 + 1,
        200_000,
        1 << 20,
        3,
        5 << 20,
        0,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        let message = pattern(size, i as u8);
        ours.send_bytes(&message, 0, None).unwrap();
        assert_eq!(recv_bytes(&mut ours).unwrap(), message, "size {size}");
    }
    // Several in flight at once.
    for (i, &size) in sizes.iter().enumerate() {
        ours.send_bytes(&pattern(size, i as u8), 0, None).unwrap();
    }
    for (i, &size) in sizes.iter().enumerate() {
        assert_eq!(recv_bytes(&mut ours).unwrap(), pattern(size, i as u8));
    }
    ours.send_bytes(STOP, 0, None).unwrap();
    join_ok(&p);
}

const BIG: usize = 64 << 20;

/// Sends 64 MiB before receiving the parent's 64 MiB, then reports whether it arrived intact.
#[multiprocessing::target]
fn exchange_big(mut conn: Connection) {
    conn.send_bytes(&pattern(BIG, 2), 0, None).unwrap();
    let got = conn.recv_bytes(None).unwrap();
    let intact = got == pattern(BIG, 1);
    conn.send(&intact).unwrap();
}

#[rstest]
fn both_ends_send_64_mib_before_receiving(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut ours, theirs) = pipe(true).unwrap();
    let p = start(&ctx, ctx.process(exchange_big, (theirs,)));
    let (got, mut ours) = within_hang_guard(move || {
        // Both processes are sending before either receives.
        ours.send_bytes(&pattern(BIG, 1), 0, None).unwrap();
        let got = ours.recv_bytes(None).unwrap();
        (got, ours)
    });
    assert_eq!(got.len(), BIG);
    assert!(got == pattern(BIG, 2), "the child's 64 MiB arrived altered");
    assert!(
        recv::<bool>(&mut ours).unwrap(),
        "our 64 MiB arrived altered"
    );
    join_ok(&p);
}

/// Sends `n` messages and exits (closing its end).
#[multiprocessing::target]
fn send_and_exit(mut conn: Connection, n: u32) {
    for i in 0..n {
        conn.send(&i).unwrap();
    }
}

#[rstest]
fn recv_after_the_other_end_exits_is_eof(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut reader, writer) = pipe(false).unwrap();
    let p = start(&ctx, ctx.process(send_and_exit, (writer, 3u32)));
    join_ok(&p);
    // Everything sent before the exit is delivered, then EOF, and EOF again (never a hang).
    for i in 0..3u32 {
        assert_eq!(recv::<u32>(&mut reader).unwrap(), i);
    }
    assert!(reader.poll(Some(Duration::ZERO)).unwrap(), "EOF is ready");
    assert!(matches!(reader.recv::<u32>(), Err(Error::Eof)));
    assert!(matches!(reader.recv_bytes(None), Err(Error::Eof)));
    let mut buf = [0u8; 4];
    assert!(matches!(
        reader.recv_bytes_into(&mut buf, 0),
        Err(Error::Eof)
    ));
}

/// Waits for the parent to close its end: EOF must come, with nothing before it.
#[multiprocessing::target]
fn expect_eof(mut conn: Connection) {
    assert!(matches!(conn.recv::<u32>(), Err(Error::Eof)));
}

/// Not under `fork`: there the child inherits the parent's end as well and holds it open, so
/// its `recv` would wait forever, in CPython as here (the `pipe-end-held-by-fork-child`
/// scenario shows it). A `fork` child must close the ends it does not use.
#[rstest]
fn closing_one_end_is_eof_at_the_other(#[values("spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut ours, theirs) = pipe(true).unwrap();
    let p = start(&ctx, ctx.process(expect_eof, (theirs,)));
    ours.close();
    assert!(ours.closed());
    join_ok(&p);
}

/// The reading end of a one-way pipe: sending is refused; then it receives.
#[multiprocessing::target]
fn reader_refuses_to_send(mut reader: Connection) {
    assert!(reader.readable() && !reader.writable());
    match reader.send(&1u8) {
        Err(Error::InvalidOperation(message)) => {
            assert!(message.contains("read-only"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        reader.send_bytes(b"x", 0, None),
        Err(Error::InvalidOperation(_))
    ));
    assert_eq!(reader.recv::<String>().unwrap(), "from the writer");
}

#[rstest]
fn a_one_way_pipe_is_reader_then_writer(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (reader, mut writer) = pipe(false).unwrap();
    assert!(!writer.readable() && writer.writable());
    match writer.recv::<u8>() {
        Err(Error::InvalidOperation(message)) => {
            assert!(message.contains("write-only"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        writer.recv_bytes(None),
        Err(Error::InvalidOperation(_))
    ));
    assert!(matches!(
        writer.poll(Some(Duration::ZERO)),
        Err(Error::InvalidOperation(_))
    ));
    let p = start(&ctx, ctx.process(reader_refuses_to_send, (reader,)));
    writer.send(&"from the writer").unwrap();
    join_ok(&p);
}

/// Writes `bytes` raw onto the connection's pipe, bypassing the framing, and exits.
#[multiprocessing::target]
fn write_raw(writer: Connection, bytes: Vec<u8>) {
    let fd = writer.fileno().unwrap();
    // SAFETY: a write of a live buffer to a descriptor the connection keeps open.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize);
}

fn header(tag: u8, len: u64) -> Vec<u8> {
    (len << 8 | u64::from(tag)).to_le_bytes().to_vec()
}

#[rstest]
fn corrupt_or_truncated_frames_are_errors_not_panics(
    #[values("fork", "spawn", "forkserver")] method: &str,
    #[values(
        "garbage",
        "partial header",
        "inline length over the limit",
        "truncated inline payload",
        "absurd length",
        "huge length, no payload"
    )]
    case: &str,
) {
    let ctx = ctx(method);
    let raw = match case {
        "garbage" => vec![0xff; 8],
        "partial header" => vec![b'M', 0, 0],
        "inline length over the limit" => header(b'M', 1 << 30),
        "truncated inline payload" => [header(b'M', 100), vec![7; 10]].concat(),
        "absurd length" => header(b'B', 1 << 50),
        // Within the limit: the receiver must not allocate 512 GiB before the bytes arrive.
        "huge length, no payload" => header(b'B', 512 << 30),
        _ => unreachable!(),
    };
    let (mut reader, writer) = pipe(false).unwrap();
    let p = start(&ctx, ctx.process(write_raw, (writer, raw)));
    join_ok(&p);
    let err = reader.recv_bytes(None).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{case}: {err:?}");
    // And again, deterministically: no panic, no hang.
    let err = reader.recv::<u32>().unwrap_err();
    assert!(
        matches!(err, Error::Corrupt(_) | Error::Eof),
        "{case}: {err:?}"
    );
}

/// A value whose serialization fails at run time.
struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "cannot serialize 'Unserializable' object",
        ))
    }
}

/// Fails to send an unserializable value, then sends the error's message and a good value.
#[multiprocessing::target]
fn send_unserializable(mut conn: Connection) {
    let err = conn.send(&Unserializable).unwrap_err();
    assert!(matches!(err, Error::Serialization { .. }), "{err:?}");
    conn.send(&err.to_string()).unwrap();
    conn.send(&42u32).unwrap();
}

#[rstest]
fn a_failing_send_returns_the_error_and_sends_nothing(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    // In this process too.
    let (mut a, mut b) = pipe(true).unwrap();
    let err = a.send(&Unserializable).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot serialize a connection::Unserializable sent on a connection: cannot serialize \
         'Unserializable' object"
    );
    assert!(!b.poll(Some(Duration::ZERO)).unwrap(), "nothing was sent");

    let p = start(&ctx, ctx.process(send_unserializable, (a,)));
    let message: String = recv(&mut b).unwrap();
    assert!(
        message.ends_with("cannot serialize 'Unserializable' object"),
        "{message}"
    );
    assert_eq!(recv::<u32>(&mut b).unwrap(), 42);
    join_ok(&p);
}

/// A type that refuses one value when deserialized.
#[derive(Debug, PartialEq, Serialize)]
struct Picky(u32);

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u32::deserialize(deserializer)? {
            13 => Err(serde::de::Error::custom("13 is unlucky")),
            n => Ok(Picky(n)),
        }
    }
}

#[multiprocessing::target]
fn send_picky(mut conn: Connection) {
    conn.send(&Picky(13)).unwrap();
    conn.send(&"not a number").unwrap();
    conn.send(&Picky(14)).unwrap();
    conn.send_bytes(&vec![9u8; 100_000], 0, None).unwrap();
    conn.send(&Picky(15)).unwrap();
}

#[rstest]
fn a_value_that_fails_to_deserialize_is_an_error_and_the_next_one_arrives(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let (mut ours, theirs) = pipe(true).unwrap();
    let p = start(&ctx, ctx.process(send_picky, (theirs,)));
    match recv::<Picky>(&mut ours) {
        // The wire format (postcard) keeps no message of a failing `Deserialize` impl; the
        // error names the type, which is what the receiver needs to find the culprit.
        Err(Error::Deserialization { what, reason }) => {
            assert!(what.contains("Picky"), "{what}");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match recv::<Picky>(&mut ours) {
        Err(Error::Deserialization { what, .. }) => assert!(what.contains("Picky"), "{what}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(recv::<Picky>(&mut ours).unwrap(), Picky(14));
    // A large message (sent on the socket) that is not a Picky.
    assert!(matches!(
        recv::<Picky>(&mut ours),
        Err(Error::Deserialization { .. })
    ));
    assert_eq!(recv::<Picky>(&mut ours).unwrap(), Picky(15));
    join_ok(&p);
}

/// Replies to the first message after it arrives.
#[multiprocessing::target]
fn reply_when_asked(mut conn: Connection) {
    let question: String = conn.recv().unwrap();
    conn.send(&format!("re: {question}")).unwrap();
}

#[rstest]
fn poll_times_out_then_sees_a_message(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut ours, theirs) = pipe(true).unwrap();
    let p = start(&ctx, ctx.process(reply_when_asked, (theirs,)));
    assert!(!ours.poll(Some(Duration::ZERO)).unwrap());
    let t = Instant::now();
    assert!(!ours.poll(Some(Duration::from_millis(30))).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(30));
    ours.send(&"hi").unwrap();
    assert!(ours.poll(Some(HANG)).unwrap());
    assert!(ours.poll(None).unwrap(), "still ready: nothing consumed");
    assert_eq!(ours.recv::<String>().unwrap(), "re: hi");
    join_ok(&p);
}

#[rstest]
fn wait_returns_the_connections_with_something_to_receive(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let mut ends = Vec::new();
    let mut children = Vec::new();
    for _ in 0..3 {
        let (ours, theirs) = pipe(true).unwrap();
        children.push(start(&ctx, ctx.process(reply_when_asked, (theirs,))));
        ends.push(ours);
    }
    ends[1].send(&"one").unwrap();
    {
        let all: Vec<&Connection> = ends.iter().collect();
        let ready = wait(&all, Some(HANG)).unwrap();
        assert_eq!(ready.len(), 1);
        assert!(std::ptr::eq(ready[0], &ends[1]));
        let quiet = wait(&[&ends[0], &ends[2]], Some(Duration::from_millis(20))).unwrap();
        assert!(quiet.is_empty());
    }
    assert_eq!(ends[1].recv::<String>().unwrap(), "re: one");
    for i in [0, 2] {
        ends[i].send(&format!("{i}")).unwrap();
        assert_eq!(recv::<String>(&mut ends[i]).unwrap(), format!("re: {i}"));
    }
    // Sentinels and connections alike: every child has ended or will.
    for child in &children {
        join_ok(child);
    }
}

/// Sends two messages on `data`, then one on `done`.
#[multiprocessing::target]
fn two_then_done(mut data: Connection, mut done: Connection) {
    data.send(&1u8).unwrap();
    data.send(&2u8).unwrap();
    done.send(&()).unwrap();
}

#[rstest]
fn buffered_messages_count_as_ready(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut data, data_theirs) = pipe(false).unwrap();
    let (mut done, done_theirs) = pipe(false).unwrap();
    let p = start(&ctx, ctx.process(two_then_done, (data_theirs, done_theirs)));
    recv::<()>(&mut done).unwrap();
    // Both messages are in the pipe: the first receive reads both, and keeps the second.
    assert_eq!(data.recv::<u8>().unwrap(), 1);
    assert!(data.poll(Some(Duration::ZERO)).unwrap());
    let ready = wait(&[&data], Some(Duration::ZERO)).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(data.recv::<u8>().unwrap(), 2);
    join_ok(&p);
}

/// Checks the byte-level API from the child's side.
#[multiprocessing::target]
fn bytes_api(mut conn: Connection) {
    let mut buf = [0u8; 16];
    assert_eq!(conn.recv_bytes_into(&mut buf, 4).unwrap(), 3);
    assert_eq!(&buf[..8], b"\0\0\0\0cde\0");
    // Too short: the message stays queued.
    let mut small = [0u8; 2];
    assert!(matches!(
        conn.recv_bytes_into(&mut small, 0),
        Err(Error::InvalidOperation(_))
    ));
    assert!(matches!(
        conn.recv_bytes_into(&mut small, 3),
        Err(Error::InvalidOperation(_))
    ));
    assert!(matches!(
        conn.recv_bytes(Some(4)),
        Err(Error::InvalidOperation(_))
    ));
    assert_eq!(conn.recv_bytes(Some(5)).unwrap(), b"vwxyz");
    // A large message into a buffer.
    let mut big = vec![0u8; 300_000];
    assert_eq!(conn.recv_bytes_into(&mut big, 1000).unwrap(), 200_000);
    assert!(big[1000..201_000].iter().all(|&b| b == 5));
    conn.send_bytes(b"done", 0, None).unwrap();
}

#[rstest]
fn send_bytes_ranges_and_recv_bytes_limits(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let (mut ours, theirs) = pipe(true).unwrap();
    assert!(matches!(
        ours.send_bytes(b"abc", 4, None),
        Err(Error::InvalidOperation(_))
    ));
    assert!(matches!(
        ours.send_bytes(b"abc", 1, Some(3)),
        Err(Error::InvalidOperation(_))
    ));
    assert!(matches!(
        ours.send_bytes(b"abc", 0, Some(usize::MAX)),
        Err(Error::InvalidOperation(_))
    ));
    let p = start(&ctx, ctx.process(bytes_api, (theirs,)));
    ours.send_bytes(b"abcdefg", 2, Some(3)).unwrap();
    ours.send_bytes(b"uvwxyz", 1, None).unwrap();
    ours.send_bytes(&vec![5u8; 200_000], 0, None).unwrap();
    assert_eq!(recv_bytes(&mut ours).unwrap(), b"done");
    join_ok(&p);
}

#[test]
fn a_closed_connection_refuses_everything() {
    let _serial = common::serial();
    let (mut a, _b) = pipe(true).unwrap();
    a.close();
    a.close();
    assert!(a.closed() && !a.readable() && !a.writable());
    for err in [
        a.send(&1u8).unwrap_err(),
        a.recv::<u8>().unwrap_err(),
        a.send_bytes(b"x", 0, None).unwrap_err(),
        a.recv_bytes(None).unwrap_err(),
        a.poll(None).unwrap_err(),
        a.fileno().unwrap_err(),
    ] {
        assert_eq!(
            err.to_string(),
            "handle is closed: the connection was closed with close()"
        );
    }
}

#[rstest]
#[case::spawn("spawn")]
#[case::forkserver("forkserver")]
fn a_closed_connection_cannot_be_passed(#[case] method: &str) {
    let ctx = ctx(method);
    let (mut a, _b) = pipe(true).unwrap();
    a.close();
    let err = ctx.process(expect_eof, (a,)).start().unwrap_err();
    assert!(matches!(err, Error::Serialization { .. }), "{err:?}");
}

#[test]
fn a_connection_cannot_be_sent_over_a_connection() {
    let _serial = common::serial();
    let (mut a, b) = pipe(true).unwrap();
    let (c, _d) = pipe(true).unwrap();
    let err = a.send(&c).unwrap_err();
    assert!(matches!(err, Error::Serialization { .. }), "{err:?}");
    drop(b);
}
