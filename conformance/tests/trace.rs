//! Trace normalization (SPEC.md 0.2) and the expected-outcome files (SPEC.md 0.4).

use conformance::trace::{mask, normalize};
use conformance::{Expected, ExpectedError};
use rstest::rstest;

#[rstest]
#[case::pid_numbering_by_first_appearance(
    "{pid:100} parent of {pid:200}\n{pid:200}\n",
    &["P1 parent of P2", "P2"]
)]
#[case::each_kind_numbered_on_its_own(
    "{shm:psm_1} {pid:9} {path:/tmp/a} {addr:0x7f00}\n{shm:psm_2} {pid:9} {path:/tmp/a} {addr:0x10}\n",
    &["SHM1 P1 PATH1 ADDR1", "SHM2 P1 PATH1 ADDR2"]
)]
#[case::the_same_text_in_two_kinds_is_two_values(
    "{pid:7} {shm:7} {pid:7}\n",
    &["P1 SHM1 P1"]
)]
#[case::num_is_always_n("took {num:0.031}s, then {num:12}s\n", &["took Ns, then Ns"])]
#[case::trailing_whitespace_and_empty_lines_dropped(
    "a  \n\n   \nb\t\r\n",
    &["a", "b"]
)]
#[case::unknown_brace_groups_stay_literal(
    "{'a': 1} {pid} {pid:} {other:3} {pid:4\n",
    &["{'a': 1} {pid} P1 {other:3} {pid:4"]
)]
#[case::adjacent_tags("{pid:1}{pid:2}{pid:1}\n", &["P1P2P1"])]
#[case::no_trailing_newline("x {pid:5}", &["x P1"])]
#[case::nothing("", &[])]
fn ordered_normalization(#[case] raw: &str, #[case] want: &[&str]) {
    assert_eq!(normalize(raw, false), want);
}

#[test]
fn unordered_sorts_by_masked_text_before_numbering() {
    // The children print in any order; the parent prints last.
    let runs = [
        "child {pid:31} of {pid:30}\nchild {pid:32} of {pid:30}\nparent {pid:30} done\n",
        "child {pid:32} of {pid:30}\nchild {pid:31} of {pid:30}\nparent {pid:30} done\n",
        "parent {pid:30} done\nchild {pid:31} of {pid:30}\nchild {pid:32} of {pid:30}\n",
    ];
    let want = ["child P1 of P2", "child P3 of P2", "parent P2 done"];
    for raw in runs {
        assert_eq!(normalize(raw, true), want, "{raw}");
    }
}

#[test]
fn unordered_numbering_does_not_depend_on_pid_values() {
    // Sorting raw text would order by pid value; masking keeps the structure only.
    let a = normalize("b {pid:9}\na {pid:10}\n", true);
    let b = normalize("b {pid:10}\na {pid:9}\n", true);
    assert_eq!(a, ["a P1", "b P2"]);
    assert_eq!(a, b);
}

#[test]
fn ordered_keeps_printed_order() {
    assert_eq!(normalize("b {pid:1}\na {pid:2}\n", false), ["b P1", "a P2"]);
}

#[test]
fn mask_replaces_values_by_kind() {
    assert_eq!(
        mask("{pid:1} sent {num:2.5} to {shm:x} {nope:1}"),
        "{pid} sent {num} to {shm} {nope:1}"
    );
}

const SNAP: &str = "---
source: scenarios/tests/expected.rs
expression: \"queue-put-get\"
---
exit: 0
---
P1 put 1
P2 got 1
";

#[test]
fn reads_an_insta_snap_file() {
    let e = Expected::parse(SNAP, "queue-put-get.snap").unwrap();
    assert_eq!(
        e,
        Expected {
            exit: 0,
            lines: vec!["P1 put 1".into(), "P2 got 1".into()]
        }
    );
}

#[rstest]
#[case::no_header("exit: 2\n---\nx\n", 2, &["x"])]
#[case::empty_trace("---\nsource: a\n---\nexit: 0\n---\n", 0, &[])]
#[case::exit_only("---\nsource: a\n---\nexit: -9\n", -9, &[])]
#[case::blank_lines_dropped("exit: 1\n---\n\na\n\nb  \n", 1, &["a", "b"])]
#[case::a_dashes_line_in_the_trace_is_kept("exit: 0\n---\n---\n", 0, &["---"])]
#[case::crlf("---\r\nsource: a\r\n---\r\nexit: 0\r\n---\r\nx\r\n", 0, &["x"])]
fn snap_variants(#[case] text: &str, #[case] exit: i32, #[case] lines: &[&str]) {
    let e = Expected::parse(text, "t.snap").unwrap();
    assert_eq!(e.exit, exit);
    assert_eq!(e.lines, lines);
}

#[rstest]
#[case::unclosed_header(
    "---\nsource: a\nexit: 0\n",
    "t.snap: line 1: the header opened by `---` is never closed: end it with a `---` line"
)]
#[case::no_exit(
    "---\nsource: a\n---\nP1 started\n",
    "t.snap: line 4: expected `exit: N` (an integer exit status), found `P1 started`"
)]
#[case::bad_exit(
    "exit: zero\n",
    "t.snap: line 1: expected `exit: N` (an integer exit status), found `exit: zero`"
)]
#[case::no_separator(
    "exit: 0\nP1\n",
    "t.snap: line 2: expected `---` after the exit status, found `P1`"
)]
#[case::empty(
    "---\nsource: a\n---\n",
    "t.snap: line 4: no content: write `exit: N`, then `---`, then the normalized trace"
)]
fn snap_format_errors_say_what_to_write(#[case] text: &str, #[case] message: &str) {
    let err = Expected::parse(text, "t.snap").unwrap_err();
    assert!(matches!(err, ExpectedError::Format { .. }));
    assert_eq!(err.to_string(), message);
}

#[test]
fn writes_a_snap_file_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue-put-get@spawn.snap");
    let e = Expected {
        exit: 1,
        lines: vec!["P1 put {1}".into(), "get: Empty".into()],
    };
    e.write(
        &path,
        "CPython 3.12: python3 queue_put_get.py spawn",
        "queue-put-get",
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    insta::assert_snapshot!(text, @r#"
    ---
    source: "CPython 3.12: python3 queue_put_get.py spawn"
    expression: queue-put-get
    ---
    exit: 1
    ---
    P1 put {1}
    get: Empty
    "#);
    assert_eq!(Expected::load(&path).unwrap(), e);
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = Expected::load("/nonexistent/x.snap").unwrap_err();
    assert!(matches!(err, ExpectedError::Io { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/x.snap: cannot read the expected outcome"));
}
