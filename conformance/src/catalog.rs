//! The scenario catalog, `scenarios/catalog.toml` (SPEC.md 0.3): loading, defaults and validation.
//!
//! ```
//! use conformance::{Catalog, StartMethod};
//! let catalog = Catalog::parse(
//!     r#"
//!     [[scenario]]
//!     id = "exit-code"
//!     clauses = ["EXIT-1"]
//!     statement = "A child's exit code is its parent's view of it."
//!     methods = ["fork", "spawn"]
//!     profiles = ">=3.8"
//!     "#,
//!     "catalog.toml",
//! )
//! .unwrap();
//! let s = catalog.get("exit-code").unwrap();
//! assert_eq!(s.methods, [StartMethod::Fork, StartMethod::Spawn]);
//! assert_eq!(s.timeout.as_secs(), 30);
//! assert!(!s.unordered);
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::method::{Platform, StartMethod};
use crate::profile::{Version, VersionRange};

/// The keys a `[[scenario]]` table may have.
pub const SCENARIO_KEYS: &[&str] = &[
    "id",
    "clauses",
    "statement",
    "methods",
    "platforms",
    "timeout",
    "profiles",
    "unordered",
    "per_method",
    "stderr_contains",
    "variant",
    "needs",
];

/// The hang guard of a scenario that names none, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// One `[[scenario]]` entry, with the defaults of SPEC.md 0.3 applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Unique kebab-case id.
    pub id: String,
    /// The spec clauses it checks, e.g. `PROC-3`.
    pub clauses: Vec<String>,
    /// The behaviour, as one sentence.
    pub statement: String,
    /// The start methods it applies to (default: all three).
    pub methods: Vec<StartMethod>,
    /// The platforms it applies to (default: all three; a method that does not exist on a
    /// platform is skipped there, see [`Platform::has_method`]).
    pub platforms: Vec<Platform>,
    /// The hang guard (default 30 s).
    pub timeout: Duration,
    /// The Python versions whose behaviour it describes (default: all).
    pub profiles: VersionRange,
    /// Compare the trace as a set of lines (default false).
    pub unordered: bool,
    /// One expected outcome per start method (default false).
    pub per_method: bool,
    /// Substrings stderr must contain.
    pub stderr_contains: Vec<String>,
    /// Other expected outcomes for some Python versions (and methods): where behaviour changed
    /// between releases, the main expected file describes the newest CPython, and each variant
    /// an older behaviour, in `<stem>+<name>.snap`. The first variant that matches a run's
    /// method and its implementation's profile is the one expected.
    pub variants: Vec<Variant>,
    /// The optional APIs it needs (snake_case names, e.g. `parent_process`, `shared_memory`):
    /// an implementation whose manifest `lacks` one of them skips it, with the reason.
    pub needs: Vec<String>,
}

/// An expected outcome for some versions (`[[scenario.variant]]`):
///
/// ```toml
/// [[scenario.variant]]
/// name = "reruns-per-child"               # file: <id>@forkserver+reruns-per-child.snap
/// methods = ["forkserver"]                # default: every method of the scenario
/// profiles = "<3.13.8 || ==3.14.0"        # the versions that behave so
/// note = "before gh-126631 each forkserver child re-ran the main module"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    /// Kebab-case; the expected file's suffix.
    pub name: String,
    /// The start methods it is for.
    pub methods: Vec<StartMethod>,
    /// The profiles (Python versions) that behave so.
    pub profiles: VersionRange,
    /// What differs, and the upstream change, in a sentence.
    pub note: String,
}

impl Scenario {
    /// The id with `-` replaced by `_`: the stem of its Python program.
    ///
    /// ```
    /// # let s = conformance::Catalog::parse(
    /// #   "[[scenario]]\nid = \"queue-put-get\"\nclauses = [\"Q-1\"]\nstatement = \"s\"\n", "c").unwrap();
    /// # let s = s.get("queue-put-get").unwrap();
    /// assert_eq!(s.id_underscore(), "queue_put_get");
    /// ```
    pub fn id_underscore(&self) -> String {
        self.id.replace('-', "_")
    }

    /// The file name of the expected outcome for `method`: `<id>.snap`, or `<id>@<method>.snap`
    /// when the scenario is `per_method`.
    pub fn expected_file_name(&self, method: StartMethod) -> String {
        format!("{}.snap", self.expected_stem(method))
    }

    fn expected_stem(&self, method: StartMethod) -> String {
        if self.per_method {
            format!("{}@{}", self.id, method)
        } else {
            self.id.clone()
        }
    }

    /// The variant expected of an implementation with `profile` under `method`, if any.
    pub fn variant_for(&self, method: StartMethod, profile: &Version) -> Option<&Variant> {
        self.variants
            .iter()
            .find(|v| v.methods.contains(&method) && v.profiles.matches(profile))
    }

    /// The file name of the expected outcome for `method` and `variant` (see
    /// [`Scenario::variants`]): `<id>[@<method>]+<variant>.snap`, or the main one for `None`.
    ///
    /// ```
    /// # use conformance::{Catalog, StartMethod};
    /// let c = Catalog::parse(r#"
    ///     [[scenario]]
    ///     id = "guard"
    ///     clauses = ["GUARD-1"]
    ///     statement = "s"
    ///     per_method = true
    ///     [[scenario.variant]]
    ///     name = "old"
    ///     methods = ["forkserver"]
    ///     profiles = "<3.13.8 || ==3.14.0"
    ///     note = "before gh-126631"
    /// "#, "catalog.toml").unwrap();
    /// let s = c.get("guard").unwrap();
    /// let fs = StartMethod::Forkserver;
    /// let v = s.variant_for(fs, &"3.13.0".parse().unwrap());
    /// assert_eq!(s.expected_file_name_for(fs, v), "guard@forkserver+old.snap");
    /// let v = s.variant_for(fs, &"3.14.10".parse().unwrap());
    /// assert_eq!(s.expected_file_name_for(fs, v), "guard@forkserver.snap");
    /// ```
    pub fn expected_file_name_for(&self, method: StartMethod, variant: Option<&Variant>) -> String {
        match variant {
            Some(v) => format!("{}+{}.snap", self.expected_stem(method), v.name),
            None => self.expected_file_name(method),
        }
    }
}

/// A loaded and validated catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// Where it was read from (or the origin name given to [`Catalog::parse`]).
    pub path: PathBuf,
    /// The scenarios, in file order.
    pub scenarios: Vec<Scenario>,
    /// The specification whose clauses the scenarios and deviations name (top-level key
    /// `spec`, relative to the catalog's directory), when the catalog names one.
    pub spec: Option<PathBuf>,
}

/// Why a catalog could not be loaded. Every variant names the file, and the entry where there is
/// one (by id, or by position `#N` when the id itself is missing).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("{path}: cannot read the catalog: {source}")]
    Io {
        /// The catalog path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}: not valid TOML: {message}")]
    Toml {
        /// The catalog path.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key at the top level other than `scenario` and `spec`.
    #[error(
        "{path}: unknown top-level key `{key}`: the catalog holds `spec = \"SPEC.md path\"` and \
         `[[scenario]]` tables"
    )]
    UnknownTopLevelKey {
        /// The catalog path.
        path: PathBuf,
        /// The offending key.
        key: String,
    },
    /// `scenario` is not an array of tables.
    #[error("{path}: `scenario` must be an array of tables: write each entry as `[[scenario]]`")]
    NotAnArrayOfTables {
        /// The catalog path.
        path: PathBuf,
    },
    /// An entry has a key the spec does not define.
    #[error("{path}: scenario {entry}: unknown key `{key}`; the keys are: {allowed}")]
    UnknownKey {
        /// The catalog path.
        path: PathBuf,
        /// The entry (`"id"` or `#N`).
        entry: String,
        /// The offending key.
        key: String,
        /// The allowed keys, comma separated.
        allowed: String,
    },
    /// An entry lacks a required key.
    #[error("{path}: scenario {entry}: missing required key `{key}`")]
    MissingKey {
        /// The catalog path.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key has a value of the wrong type or shape.
    #[error("{path}: scenario {entry}: key `{key}`: {message}")]
    BadValue {
        /// The catalog path.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// The key.
        key: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// Two entries share an id.
    #[error(
        "{path}: duplicate scenario id \"{id}\" (entries #{first} and #{second}): ids must be \
         unique; rename one"
    )]
    DuplicateId {
        /// The catalog path.
        path: PathBuf,
        /// The id.
        id: String,
        /// 1-based position of the first entry.
        first: usize,
        /// 1-based position of the second entry.
        second: usize,
    },
}

#[derive(Deserialize)]
struct RawScenario {
    id: String,
    clauses: Vec<String>,
    statement: String,
    methods: Option<Vec<String>>,
    platforms: Option<Vec<String>>,
    timeout: Option<i64>,
    profiles: Option<String>,
    unordered: Option<bool>,
    per_method: Option<bool>,
    stderr_contains: Option<Vec<String>>,
    variant: Option<Vec<RawVariant>>,
    needs: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    methods: Option<Vec<String>>,
    profiles: String,
    note: String,
}

impl Catalog {
    /// Read and validate the catalog at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Catalog::parse(&text, path)
    }

    /// Parse and validate catalog text; `origin` names it in errors.
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let path = origin.as_ref().to_path_buf();
        let table: toml::Table = toml::from_str(text).map_err(|e| CatalogError::Toml {
            path: path.clone(),
            message: toml_error(text, &e),
        })?;
        if let Some(key) = table
            .keys()
            .find(|k| !["scenario", "spec"].contains(&k.as_str()))
        {
            return Err(CatalogError::UnknownTopLevelKey {
                path,
                key: key.clone(),
            });
        }
        let spec = match table.get("spec") {
            None => None,
            Some(toml::Value::String(p)) => Some(
                path.parent()
                    .map_or_else(|| PathBuf::from(p), |dir| dir.join(p)),
            ),
            Some(_) => {
                return Err(CatalogError::BadValue {
                    path,
                    entry: "(top level)".into(),
                    key: "spec".into(),
                    message: "must be a string: the path of SPEC.md, relative to the catalog"
                        .into(),
                })
            }
        };
        let entries = match table.get("scenario") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items.clone(),
            Some(_) => return Err(CatalogError::NotAnArrayOfTables { path }),
        };
        let mut scenarios = Vec::with_capacity(entries.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let toml::Value::Table(entry) = entry else {
                return Err(CatalogError::NotAnArrayOfTables { path });
            };
            let scenario = parse_entry(&path, i + 1, entry)?;
            if let Some(first) = seen.insert(scenario.id.clone(), i + 1) {
                return Err(CatalogError::DuplicateId {
                    path,
                    id: scenario.id,
                    first,
                    second: i + 1,
                });
            }
            scenarios.push(scenario);
        }
        Ok(Catalog {
            path,
            scenarios,
            spec,
        })
    }

    /// The scenario with this id.
    pub fn get(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    /// The optional APIs some scenario needs, sorted: what a manifest may say it `lacks`.
    pub fn capabilities(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .scenarios
            .iter()
            .flat_map(|s| s.needs.iter().map(String::as_str))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// A TOML error as `line N: message` (the line of its span, when it has one).
pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |t| t.matches('\n').count())
                + 1;
            format!("line {line}: {}", e.message().trim_end())
        }
        None => e.message().trim_end().to_string(),
    }
}

/// How an entry is named in errors: its id when it has a string one, else `#N`.
fn entry_name(index: usize, entry: &toml::Table) -> String {
    match entry.get("id") {
        Some(toml::Value::String(id)) => format!("\"{id}\" (#{index})"),
        _ => format!("#{index}"),
    }
}

fn parse_entry(path: &Path, index: usize, entry: toml::Table) -> Result<Scenario, CatalogError> {
    let name = entry_name(index, &entry);
    let bad = |key: &str, message: String| CatalogError::BadValue {
        path: path.to_path_buf(),
        entry: name.clone(),
        key: key.to_string(),
        message,
    };
    if let Some(key) = entry.keys().find(|k| !SCENARIO_KEYS.contains(&k.as_str())) {
        return Err(CatalogError::UnknownKey {
            path: path.to_path_buf(),
            entry: name.clone(),
            key: key.clone(),
            allowed: SCENARIO_KEYS.join(", "),
        });
    }
    for key in ["id", "clauses", "statement"] {
        if !entry.contains_key(key) {
            return Err(CatalogError::MissingKey {
                path: path.to_path_buf(),
                entry: name.clone(),
                key,
            });
        }
    }
    // Check each key's type on its own, so the error names the key.
    for (key, value) in &entry {
        let single = toml::Table::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = check_type(key, single) {
            return Err(bad(key, e));
        }
    }
    let raw: RawScenario = entry
        .try_into()
        .map_err(|e: toml::de::Error| bad("?", e.message().to_string()))?;

    if !is_kebab_case(&raw.id) {
        return Err(bad(
            "id",
            format!(
                "\"{}\" is not kebab-case: use lowercase letters and digits joined by single `-`",
                raw.id
            ),
        ));
    }
    if raw.clauses.is_empty() {
        return Err(bad(
            "clauses",
            "empty: name at least one clause, e.g. [\"PROC-1\"]".into(),
        ));
    }
    if let Some(c) = raw.clauses.iter().find(|c| !is_clause(c)) {
        return Err(bad(
            "clauses",
            format!("\"{c}\" is not a clause number: write AREA-N, e.g. \"PROC-3\""),
        ));
    }
    if raw.statement.trim().is_empty() || raw.statement.contains('\n') {
        return Err(bad(
            "statement",
            "must be one non-empty line: the behaviour, as a sentence".into(),
        ));
    }
    let methods = match raw.methods {
        None => StartMethod::ALL.to_vec(),
        Some(list) => parse_list(&list, "methods").map_err(|m| bad("methods", m))?,
    };
    let platforms = match raw.platforms {
        None => Platform::ALL.to_vec(),
        Some(list) => parse_list(&list, "platforms").map_err(|m| bad("platforms", m))?,
    };
    let timeout = match raw.timeout {
        None => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        Some(t) if t > 0 => Duration::from_secs(t.unsigned_abs()),
        Some(t) => {
            return Err(bad(
                "timeout",
                format!("{t} is not a positive number of seconds"),
            ))
        }
    };
    let profiles = match raw.profiles {
        None => VersionRange::all(),
        Some(p) => p.parse().map_err(|e| bad("profiles", format!("{e}")))?,
    };
    let stderr_contains = raw.stderr_contains.unwrap_or_default();
    if stderr_contains.iter().any(|s| s.is_empty()) {
        return Err(bad(
            "stderr_contains",
            "an empty substring checks nothing: remove it".into(),
        ));
    }
    let needs = raw.needs.unwrap_or_default();
    if let Some(n) = needs.iter().find(|n| !is_api_name(n)) {
        return Err(bad(
            "needs",
            format!(
                "\"{n}\" is not an API name: write the optional API in snake_case, e.g. \
                 \"parent_process\""
            ),
        ));
    }
    let mut variants = Vec::new();
    for v in raw.variant.unwrap_or_default() {
        let at = |m: String| bad("variant", format!("\"{}\": {m}", v.name));
        if !is_kebab_case(&v.name) || variants.iter().any(|o: &Variant| o.name == v.name) {
            return Err(at(
                "the name must be kebab-case and unique in the scenario".into()
            ));
        }
        let vmethods = match &v.methods {
            None => methods.clone(),
            Some(list) => parse_list(list, "methods").map_err(at)?,
        };
        if let Some(m) = vmethods.iter().find(|m| !methods.contains(m)) {
            return Err(at(format!("method {m} is not one of the scenario's")));
        }
        if !raw.per_method.unwrap_or(false) && vmethods.len() != methods.len() {
            return Err(at(
                "a scenario without per_method has one expected file for all its methods: \
                 drop `methods` or set per_method = true"
                    .into(),
            ));
        }
        let vprofiles: VersionRange = v.profiles.parse().map_err(|e| at(format!("{e}")))?;
        if v.note.trim().is_empty() {
            return Err(at("`note` is empty: say what differs and since when".into()));
        }
        variants.push(Variant {
            name: v.name,
            methods: vmethods,
            profiles: vprofiles,
            note: v.note,
        });
    }
    Ok(Scenario {
        id: raw.id,
        clauses: raw.clauses,
        statement: raw.statement,
        methods,
        platforms,
        timeout,
        profiles,
        unordered: raw.unordered.unwrap_or(false),
        per_method: raw.per_method.unwrap_or(false),
        stderr_contains,
        variants,
        needs,
    })
}

/// Deserialize a one-key table into the partial scenario, to report a type error for that key.
fn check_type(key: &str, single: toml::Table) -> Result<(), String> {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Partial {
        id: Option<String>,
        clauses: Option<Vec<String>>,
        statement: Option<String>,
        methods: Option<Vec<String>>,
        platforms: Option<Vec<String>>,
        timeout: Option<i64>,
        profiles: Option<String>,
        unordered: Option<bool>,
        per_method: Option<bool>,
        stderr_contains: Option<Vec<String>>,
        variant: Option<Vec<toml::Table>>,
        needs: Option<Vec<String>>,
    }
    let expected = match key {
        "id" | "statement" | "profiles" => "a string",
        "clauses" | "methods" | "platforms" | "stderr_contains" | "needs" => "a list of strings",
        "timeout" => "an integer number of seconds",
        "unordered" | "per_method" => "a boolean (true or false)",
        "variant" => "an array of tables ([[scenario.variant]])",
        _ => "a known key",
    };
    single
        .try_into::<Partial>()
        .map(|_| ())
        .map_err(|_| format!("must be {expected}"))
}

/// Parse a list of names into `T`, rejecting unknown and repeated names.
fn parse_list<T>(list: &[String], what: &str) -> Result<Vec<T>, String>
where
    T: std::str::FromStr + PartialEq,
    T::Err: std::fmt::Display,
{
    if list.is_empty() {
        return Err(format!(
            "empty: list at least one, or remove `{what}` to mean all"
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for name in list {
        let item = name.parse::<T>().map_err(|e| e.to_string())?;
        if out.contains(&item) {
            return Err(format!("\"{name}\" is listed twice"));
        }
        out.push(item);
    }
    Ok(out)
}

/// An optional API's name: snake_case, starting with a letter (`parent_process`).
fn is_api_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// `AREA-N`: an uppercase area (letters, digits, `_`), a dash, a number, optionally one lowercase
/// letter (`PROC-3a`).
pub(crate) fn is_clause(c: &str) -> bool {
    let Some((area, num)) = c.rsplit_once('-') else {
        return false;
    };
    let area_ok = area.starts_with(|ch: char| ch.is_ascii_uppercase())
        && area
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    let digits = num.trim_end_matches(|ch: char| ch.is_ascii_lowercase());
    let num_ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && num.len() - digits.len() <= 1;
    area_ok && num_ok
}
