//! Implementation adapters: how to run a scenario against one implementation, which start
//! methods and Python profile it claims, and its known deviations.
//!
//! An adapter manifest is a TOML file:
//!
//! ```toml
//! name = "pypy-3.10"
//! # argv words; placeholders: {id} {id_underscore} {method} {scenarios} {python} {manifest_dir}
//! command = ["{python}", "{scenarios}/python/{id_underscore}.py", "{method}"]
//! python = "/usr/bin/pypy3"            # what {python} stands for (default "python3")
//! methods = ["fork", "spawn", "forkserver"]   # default: all three
//! profile = "3.10.14"                  # the Python version whose behaviour it claims (patch level)
//! version = "7.3.16"                   # optional: the implementation's own exact version
//!
//! lacks = ["shared_memory"]           # optional APIs it lacks (the catalog's `needs`): skipped
//!
//! [[deviation]]                        # keys: see the `deviation` module
//! scenario = "queue-feeder-flush"
//! method = ["spawn", "forkserver"]     # optional: every method when absent
//! outcome = "fail"                     # optional: fail | leak | timeout, the deviant outcome
//! reason = "the feeder thread flushes late under PyPy's GC"
//! clause = "IPC-4"
//! ```
//!
//! ```
//! use conformance::{Adapter, StartMethod};
//! let a = Adapter::parse(
//!     r#"
//!     name = "mine"
//!     command = ["/opt/mine/run", "{id}", "--method={method}"]
//!     profile = "3.12"
//!     "#,
//!     "mine.toml",
//! )
//! .unwrap();
//! let argv = a.argv("exit-code", StartMethod::Spawn, "/suite/scenarios".as_ref()).unwrap();
//! assert_eq!(argv, ["/opt/mine/run", "exit-code", "--method=spawn"]);
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::method::StartMethod;
use crate::profile::Version;

/// The Python release whose behaviour the reference models: the newest 3.14 measured.
pub const REFERENCE_PROFILE: &str = "3.14.10";

/// The placeholders a command word may use.
pub const PLACEHOLDERS: &[&str] = &[
    "id",
    "id_underscore",
    "method",
    "scenarios",
    "python",
    "manifest_dir",
];

pub use crate::deviation::Deviation;

/// An implementation under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adapter {
    /// Its name in results (`reference`, `cpython-3.12`, ...).
    pub name: String,
    /// The argv template (see [`PLACEHOLDERS`]).
    pub command: Vec<String>,
    /// The start methods it has.
    pub methods: Vec<StartMethod>,
    /// The Python version whose behaviour it claims, to the patch level where it is known
    /// (`3.14.10`; a manifest's `3.14` means `3.14.0`). Behaviour changes inside a minor version
    /// (the forkserver in 3.13.8 and 3.14.1), so a profile without a patch level is vague.
    pub profile: Version,
    /// The implementation's own exact version, as it reports it (`3.14.10`, `3.9.16 (PyPy
    /// 7.3.11)`, the reference crate's version), or `None` when the manifest does not say.
    pub version: Option<String>,
    /// The executable that runs the scenarios, when known (the probed interpreter's
    /// `sys.executable`, the reference's scenario binary).
    pub executable: Option<PathBuf>,
    /// What `{python}` stands for.
    pub python: PathBuf,
    /// The manifest's directory (what `{manifest_dir}` stands for); the current directory for
    /// built-in adapters.
    pub manifest_dir: PathBuf,
    /// Known deviations.
    pub deviations: Vec<Deviation>,
    /// The optional APIs it lacks (the catalog's `needs`): scenarios that need one are skipped.
    pub lacks: Vec<String>,
}

/// Why an adapter could not be loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The manifest could not be read.
    #[error("{path}: cannot read the adapter manifest: {source}")]
    Io {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid TOML or has wrong keys or types.
    #[error("{path}: invalid adapter manifest: {message}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A command word uses an unknown placeholder or an unbalanced brace.
    #[error(
        "{path}: command word `{word}`: {message}; the placeholders are {{id}}, \
         {{id_underscore}}, {{method}}, {{scenarios}}, {{python}}, {{manifest_dir}} \
         (write `{{{{` and `}}}}` for literal braces)"
    )]
    Placeholder {
        /// The manifest.
        path: PathBuf,
        /// The word.
        word: String,
        /// What is wrong.
        message: String,
    },
    /// The interpreter could not be run to learn its version.
    #[error("cannot probe the interpreter `{python}`: {message}")]
    Probe {
        /// The interpreter.
        python: PathBuf,
        /// What happened.
        message: String,
    },
    /// The interpreter is not the implementation the constructor is for.
    #[error("`{python}` is {found}, not {wanted}: point at a {wanted} interpreter")]
    WrongImplementation {
        /// The interpreter.
        python: PathBuf,
        /// `sys.implementation.name` found.
        found: String,
        /// The implementation wanted.
        wanted: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    command: Vec<String>,
    #[serde(default)]
    methods: Option<Vec<String>>,
    profile: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    python: Option<PathBuf>,
    #[serde(default)]
    deviation: Vec<Deviation>,
    #[serde(default)]
    lacks: Vec<String>,
}

impl Adapter {
    /// Read an adapter manifest.
    pub fn load(path: impl AsRef<Path>) -> Result<Adapter, AdapterError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AdapterError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut a = Adapter::parse(&text, path)?;
        if let Some(dir) = path.parent() {
            a.manifest_dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir.to_path_buf()
            };
        }
        Ok(a)
    }

    /// Parse manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<Adapter, AdapterError> {
        let path = origin.as_ref().to_path_buf();
        let bad = |message: String| AdapterError::Manifest {
            path: path.clone(),
            message,
        };
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| bad(crate::catalog::toml_error(text, &e)))?;
        if raw.name.trim().is_empty() {
            return Err(bad("`name` is empty: name the implementation".into()));
        }
        if raw.command.is_empty() {
            return Err(bad(
                "`command` is empty: list the program and its arguments".into(),
            ));
        }
        for word in &raw.command {
            expand(word, &|_| Some(String::new())).map_err(|message| {
                AdapterError::Placeholder {
                    path: path.clone(),
                    word: word.clone(),
                    message,
                }
            })?;
        }
        let methods = match raw.methods {
            None => StartMethod::ALL.to_vec(),
            Some(list) if list.is_empty() => {
                return Err(bad(
                    "`methods` is empty: list the start methods it has, or remove the key".into(),
                ))
            }
            Some(list) => {
                let mut out = Vec::new();
                for m in list {
                    let m: StartMethod = m.parse().map_err(|e| bad(format!("`methods`: {e}")))?;
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
                out
            }
        };
        let profile: Version = raw
            .profile
            .parse()
            .map_err(|e| bad(format!("`profile`: {e}")))?;
        Ok(Adapter {
            name: raw.name,
            command: raw.command,
            methods,
            profile,
            version: raw.version,
            executable: None,
            python: raw.python.unwrap_or_else(|| PathBuf::from("python3")),
            manifest_dir: PathBuf::from("."),
            deviations: raw.deviation,
            lacks: raw.lacks,
        })
    }

    /// The Rust reference: the `scenarios` binary at `bin`, run as `<bin> <id> <method>`, with
    /// all three methods and the profile it models, [`REFERENCE_PROFILE`].
    ///
    /// ```
    /// let a = conformance::Adapter::reference("/target/debug/scenarios");
    /// assert_eq!(a.name, "reference");
    /// assert_eq!(a.profile.to_string(), "3.14.10");
    /// ```
    pub fn reference(bin: impl AsRef<Path>) -> Adapter {
        Adapter {
            version: None,
            executable: Some(bin.as_ref().to_path_buf()),
            name: "reference".into(),
            command: vec![
                escape_braces(&bin.as_ref().to_string_lossy()),
                "{id}".into(),
                "{method}".into(),
            ],
            methods: StartMethod::ALL.to_vec(),
            profile: REFERENCE_PROFILE
                .parse()
                .expect("REFERENCE_PROFILE is a dotted version"),
            python: PathBuf::from("python3"),
            manifest_dir: PathBuf::from("."),
            deviations: Vec::new(),
            lacks: Vec::new(),
        }
    }

    /// CPython at `python`: probes its full version for the profile and the name
    /// `cpython-3.X.Y` (so two patch releases of one minor version can share a matrix), and runs
    /// `<python> {scenarios}/python/{id_underscore}.py <method>`.
    pub fn cpython(python: impl AsRef<Path>) -> Result<Adapter, AdapterError> {
        Adapter::python_adapter(python.as_ref(), "cpython")
    }

    /// PyPy at `pypy`: as [`Adapter::cpython`], named `pypy-3.X.Y` after the Python version it
    /// implements; [`Adapter::version`] also names PyPy's own release.
    pub fn pypy(pypy: impl AsRef<Path>) -> Result<Adapter, AdapterError> {
        Adapter::python_adapter(pypy.as_ref(), "pypy")
    }

    fn python_adapter(python: &Path, wanted: &str) -> Result<Adapter, AdapterError> {
        let probed = probe(python)?;
        if probed.implementation != wanted {
            return Err(AdapterError::WrongImplementation {
                python: python.to_path_buf(),
                found: probed.implementation,
                wanted: wanted.into(),
            });
        }
        Ok(Adapter {
            name: format!("{wanted}-{}", probed.language),
            version: Some(probed.exact),
            executable: Some(probed.executable),
            command: vec![
                "{python}".into(),
                "{scenarios}/python/{id_underscore}.py".into(),
                "{method}".into(),
            ],
            methods: StartMethod::ALL.to_vec(),
            profile: probed.language,
            python: python.to_path_buf(),
            manifest_dir: PathBuf::from("."),
            deviations: Vec::new(),
            lacks: Vec::new(),
        })
    }

    /// Add a deviation (builder style, for built-in adapters).
    pub fn with_deviation(mut self, deviation: Deviation) -> Adapter {
        self.deviations.push(deviation);
        self
    }

    /// The deviation listed for this scenario and method, if any.
    pub fn deviation(&self, scenario: &str, method: StartMethod) -> Option<&Deviation> {
        self.deviations
            .iter()
            .find(|d| d.concerns(scenario, method))
    }

    /// Whether it has this start method.
    pub fn has_method(&self, method: StartMethod) -> bool {
        self.methods.contains(&method)
    }

    /// The argv to run scenario `id` with `method`, `scenarios` being the scenarios directory.
    pub fn argv(
        &self,
        id: &str,
        method: StartMethod,
        scenarios: &Path,
    ) -> Result<Vec<String>, AdapterError> {
        let lookup = |name: &str| -> Option<String> {
            Some(match name {
                "id" => id.to_string(),
                "id_underscore" => id.replace('-', "_"),
                "method" => method.to_string(),
                "scenarios" => scenarios.to_string_lossy().into_owned(),
                "python" => self.python.to_string_lossy().into_owned(),
                "manifest_dir" => self.manifest_dir.to_string_lossy().into_owned(),
                _ => return None,
            })
        };
        self.command
            .iter()
            .map(|w| {
                expand(w, &lookup).map_err(|message| AdapterError::Placeholder {
                    path: PathBuf::from(&self.name),
                    word: w.clone(),
                    message,
                })
            })
            .collect()
    }
}

/// Double the braces of a literal so it survives placeholder expansion.
fn escape_braces(s: &str) -> String {
    s.replace('{', "{{").replace('}', "}}")
}

/// Expand `{name}` placeholders in `word` (`{{` and `}}` are literal braces).
fn expand(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return Err("a `{` is never closed".into()),
                    }
                }
                if !PLACEHOLDERS.contains(&name.as_str()) {
                    return Err(format!("unknown placeholder `{{{name}}}`"));
                }
                let value = lookup(&name).ok_or_else(|| format!("no value for `{{{name}}}`"))?;
                out.push_str(&value);
            }
            '}' => return Err("a lone `}`".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// What [`probe`] learns of an interpreter.
struct Probed {
    /// `sys.implementation.name`: `cpython`, `pypy`, ...
    implementation: String,
    /// The Python language version, `major.minor.micro`.
    language: Version,
    /// The exact version: the language version, plus the implementation's own release where it
    /// has one (`3.9.16 (PyPy 7.3.11)`), plus a pre-release tag (`3.15.0a2`).
    exact: String,
    /// `sys.executable`.
    executable: PathBuf,
}

/// The question [`probe`] asks, as one line of Python that runs on 2.7 to today.
const PROBE: &str = "import sys; v = sys.version_info; \
    own = getattr(sys, 'pypy_version_info', None); \
    tag = '' if v[3] == 'final' else v[3][0] + str(v[4]); \
    print(sys.implementation.name); print('%d.%d.%d' % v[:3]); \
    print('%d.%d.%d%s' % (v[:3] + (tag,)) + ('' if own is None else \
          ' (PyPy %d.%d.%d)' % tuple(own[:3]))); \
    print(sys.executable)";

/// Ask an interpreter for its implementation, full version and executable.
fn probe(python: &Path) -> Result<Probed, AdapterError> {
    let fail = |message: String| AdapterError::Probe {
        python: python.to_path_buf(),
        message,
    };
    let out = Command::new(python)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!(
            "it exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    match lines[..] {
        [name, language, exact, executable] if !name.is_empty() => Ok(Probed {
            implementation: name.to_string(),
            language: language.parse().map_err(|e| fail(format!("{e}")))?,
            exact: exact.to_string(),
            executable: if executable.is_empty() {
                python.to_path_buf()
            } else {
                PathBuf::from(executable)
            },
        }),
        _ => Err(fail(format!(
            "unexpected answer `{}` to the version query",
            text.trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn x(word: &str) -> Result<String, String> {
        expand(word, &|name| Some(format!("<{name}>")))
    }

    #[test]
    fn placeholders_expand_and_double_braces_are_literal() {
        assert_eq!(x("{id}-{method}").unwrap(), "<id>-<method>");
        assert_eq!(x("{{id}}").unwrap(), "{id}");
        assert_eq!(x("a{{{id}}}b").unwrap(), "a{<id>}b");
        assert_eq!(x("plain").unwrap(), "plain");
    }

    #[test]
    fn bad_words_are_rejected() {
        assert_eq!(x("{nope}").unwrap_err(), "unknown placeholder `{nope}`");
        assert_eq!(x("{id").unwrap_err(), "a `{` is never closed");
        assert_eq!(x("id}").unwrap_err(), "a lone `}`");
    }
}
