//! Catalog loading: defaults, validation errors (each naming file and entry), profile ranges.

use std::time::Duration;

use conformance::{Catalog, CatalogError, Platform, StartMethod, Version, VersionRange};
use rstest::rstest;

fn parse(text: &str) -> Result<Catalog, CatalogError> {
    Catalog::parse(text, "scenarios/catalog.toml")
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const MINIMAL: &str = r#"
[[scenario]]
id = "exit-code"
clauses = ["EXIT-1"]
statement = "A child's exit code is seen by its parent."
"#;

#[test]
fn defaults_follow_the_spec() {
    let c = parse(MINIMAL).unwrap();
    let s = c.get("exit-code").unwrap();
    assert_eq!(s.methods, StartMethod::ALL);
    assert_eq!(s.platforms, Platform::ALL);
    assert_eq!(s.timeout, Duration::from_secs(30));
    assert!(s.profiles.is_all());
    assert!(!s.unordered && !s.per_method);
    assert!(s.stderr_contains.is_empty());
    assert_eq!(s.expected_file_name(StartMethod::Fork), "exit-code.snap");
}

#[test]
fn every_key_is_read() {
    let c = parse(
        r#"
        [[scenario]]
        id = "queue-order"
        clauses = ["QUEUE-1", "QUEUE-2a"]
        statement = "Items from one producer arrive in order."
        methods = ["spawn", "forkserver"]
        platforms = ["linux"]
        timeout = 5
        profiles = ">=3.8,<3.14"
        unordered = true
        per_method = true
        stderr_contains = ["Traceback"]
        "#,
    )
    .unwrap();
    let s = &c.scenarios[0];
    assert_eq!(s.clauses, ["QUEUE-1", "QUEUE-2a"]);
    assert_eq!(s.methods, [StartMethod::Spawn, StartMethod::Forkserver]);
    assert_eq!(s.platforms, [Platform::Linux]);
    assert_eq!(s.timeout, Duration::from_secs(5));
    assert_eq!(s.profiles.to_string(), ">=3.8,<3.14");
    assert!(s.unordered && s.per_method);
    assert_eq!(s.stderr_contains, ["Traceback"]);
    assert_eq!(
        s.expected_file_name(StartMethod::Spawn),
        "queue-order@spawn.snap"
    );
}

#[test]
fn an_empty_file_is_an_empty_catalog() {
    assert!(parse("").unwrap().scenarios.is_empty());
}

#[test]
fn unknown_key() {
    let text = format!("{MINIMAL}timeuot = 5\n");
    insta::assert_snapshot!(err(&text), @r#"scenarios/catalog.toml: scenario "exit-code" (#1): unknown key `timeuot`; the keys are: id, clauses, statement, methods, platforms, timeout, profiles, unordered, per_method, stderr_contains, variant, needs"#);
}

#[test]
fn duplicate_id() {
    let text = format!("{MINIMAL}{MINIMAL}");
    let e = parse(&text).unwrap_err();
    assert!(matches!(
        e,
        CatalogError::DuplicateId {
            first: 1,
            second: 2,
            ..
        }
    ));
    insta::assert_snapshot!(e.to_string(), @r#"scenarios/catalog.toml: duplicate scenario id "exit-code" (entries #1 and #2): ids must be unique; rename one"#);
}

#[test]
fn unknown_method() {
    let text = format!("{MINIMAL}methods = [\"fork\", \"vfork\"]\n");
    insta::assert_snapshot!(err(&text), @r#"scenarios/catalog.toml: scenario "exit-code" (#1): key `methods`: unknown start method `vfork`: expected one of `fork`, `spawn`, `forkserver`"#);
}

#[rstest]
#[case::missing_id(
    "[[scenario]]\nclauses = [\"A-1\"]\nstatement = \"s\"\n",
    "scenarios/catalog.toml: scenario #1: missing required key `id`"
)]
#[case::missing_statement(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): missing required key `statement`"
)]
#[case::wrong_type(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\ntimeout = \"5s\"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `timeout`: must be an integer number of seconds"
)]
#[case::clauses_not_a_list(
    "[[scenario]]\nid = \"a\"\nclauses = \"A-1\"\nstatement = \"s\"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `clauses`: must be a list of strings"
)]
#[case::not_kebab_case(
    "[[scenario]]\nid = \"Exit_Code\"\nclauses = [\"A-1\"]\nstatement = \"s\"\n",
    "scenarios/catalog.toml: scenario \"Exit_Code\" (#1): key `id`: \"Exit_Code\" is not kebab-case: use lowercase letters and digits joined by single `-`"
)]
#[case::bad_clause(
    "[[scenario]]\nid = \"a\"\nclauses = [\"proc 3\"]\nstatement = \"s\"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `clauses`: \"proc 3\" is not a clause number: write AREA-N, e.g. \"PROC-3\""
)]
#[case::no_clauses(
    "[[scenario]]\nid = \"a\"\nclauses = []\nstatement = \"s\"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `clauses`: empty: name at least one clause, e.g. [\"PROC-1\"]"
)]
#[case::unknown_platform(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\nplatforms = [\"freebsd\"]\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `platforms`: unknown platform `freebsd`: expected one of `linux`, `macos`, `windows`"
)]
#[case::repeated_method(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\nmethods = [\"fork\", \"fork\"]\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `methods`: \"fork\" is listed twice"
)]
#[case::empty_methods(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\nmethods = []\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `methods`: empty: list at least one, or remove `methods` to mean all"
)]
#[case::zero_timeout(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\ntimeout = 0\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `timeout`: 0 is not a positive number of seconds"
)]
#[case::bad_profile(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\nprofiles = \"3.12+\"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `profiles`: invalid version constraint `3.12+`: write an operator (`>=`, `>`, `<=`, `<`, `==`, `!=`) followed by a version, e.g. `>=3.12`; join constraints with commas, alternatives with `||`"
)]
#[case::variant_unknown_method(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\nmethods = [\"spawn\"]\nper_method = true\n[[scenario.variant]]\nname = \"old\"\nmethods = [\"fork\"]\nprofiles = \"<3.12\"\nnote = \"n\"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `variant`: \"old\": method fork is not one of the scenario's"
)]
#[case::variant_methods_without_per_method(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\n[[scenario.variant]]\nname = \"old\"\nmethods = [\"fork\"]\nprofiles = \"<3.12\"\nnote = \"n\"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `variant`: \"old\": a scenario without per_method has one expected file for all its methods: drop `methods` or set per_method = true"
)]
#[case::variant_without_note(
    "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\n[[scenario.variant]]\nname = \"old\"\nprofiles = \"<3.12\"\nnote = \" \"\n",
    "scenarios/catalog.toml: scenario \"a\" (#1): key `variant`: \"old\": `note` is empty: say what differs and since when"
)]
#[case::top_level_key(
    "version = 1\n",
    "scenarios/catalog.toml: unknown top-level key `version`: the catalog holds `spec = \"SPEC.md path\"` and `[[scenario]]` tables"
)]
#[case::single_table(
    "[scenario]\nid = \"a\"\n",
    "scenarios/catalog.toml: `scenario` must be an array of tables: write each entry as `[[scenario]]`"
)]
fn validation_errors_name_the_file_the_entry_and_the_fix(
    #[case] text: &str,
    #[case] message: &str,
) {
    assert_eq!(err(text), message);
}

#[test]
fn the_second_entry_is_named_by_position_when_its_id_is_missing() {
    let text = format!("{MINIMAL}[[scenario]]\nclauses = [\"A-1\"]\nstatement = \"s\"\n");
    assert_eq!(
        err(&text),
        "scenarios/catalog.toml: scenario #2: missing required key `id`"
    );
}

#[test]
fn invalid_toml_names_the_file() {
    let e = err("[[scenario]\n");
    assert!(
        e.starts_with("scenarios/catalog.toml: not valid TOML: "),
        "{e}"
    );
}

#[test]
fn a_missing_file_names_it() {
    let e = Catalog::load("/nonexistent/catalog.toml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/catalog.toml: cannot read the catalog: "),
        "{e}"
    );
}

#[rstest]
#[case(">=3.12", "3.11", false)]
#[case(">=3.12", "3.12", true)]
#[case(">=3.12", "3.14", true)]
#[case("<3.14", "3.13", true)]
#[case("<3.14", "3.14", false)]
#[case("<3.14", "3.14.1", false)]
#[case(">=3.8,<3.14", "3.8", true)]
#[case(">=3.8,<3.14", "3.11", true)]
#[case(">=3.8,<3.14", "3.14", false)]
#[case(">=3.8,<3.14", "3.7", false)]
#[case(" >= 3.8 , < 3.14 ", "3.10", true)]
#[case(">3.11", "3.11", false)]
#[case(">3.11", "3.11.1", true)]
#[case("<=3.11", "3.11", true)]
#[case("==3.12", "3.12.4", true)]
#[case("==3.12", "3.13", false)]
#[case("!=3.13", "3.13", false)]
#[case("!=3.13", "3.12", true)]
#[case("", "2.7", true)]
#[case("*", "3.99", true)]
#[case("<3.13.8 || >=3.14,<3.14.1", "3.13.0", true)]
#[case("<3.13.8 || >=3.14,<3.14.1", "3.13.18", false)]
#[case("<3.13.8 || >=3.14,<3.14.1", "3.14.0", true)]
#[case("<3.13.8 || >=3.14,<3.14.1", "3.14", true)]
#[case("<3.13.8 || >=3.14,<3.14.1", "3.14.10", false)]
#[case(">=3.13.8,<3.14 || >=3.14.1,<3.15", "3.15.2", false)]
#[case(">=3.13.8,<3.14 || >=3.14.1,<3.15", "3.14.10", true)]
fn profile_ranges(#[case] range: &str, #[case] version: &str, #[case] matches: bool) {
    let r: VersionRange = range.parse().unwrap();
    let v: Version = version.parse().unwrap();
    assert_eq!(r.matches(&v), matches, "{range} vs {version}");
}

#[rstest]
#[case("3.12+")]
#[case("=>3.12")]
#[case(">=")]
#[case(">=3..12")]
#[case(">=3.12,")]
#[case(">=three")]
#[case(">=3.12 ||")]
#[case("|| <3.12")]
fn bad_profile_ranges(#[case] range: &str) {
    assert!(range.parse::<VersionRange>().is_err(), "{range}");
}

#[test]
fn versions_compare_numerically() {
    let v = |s: &str| s.parse::<Version>().unwrap();
    assert!(v("3.9") < v("3.10"));
    assert_eq!(v("3.12"), v("3.12.0"));
    assert!("3.x".parse::<Version>().is_err());
    assert!("".parse::<Version>().is_err());
}

#[test]
fn invalid_toml_gives_the_line() {
    let e = err("[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"\n");
    assert!(
        e.starts_with("scenarios/catalog.toml: not valid TOML: line 3: "),
        "{e}"
    );
}
