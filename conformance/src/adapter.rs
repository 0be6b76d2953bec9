//! Implementation adapters: how to run a scenario against one implementation, which start
//! methods and Python profile it claims, what its runs must report as their identity, and its
//! known deviations. README.md, "Testing another implementation", is the user's guide.
//!
//! An adapter manifest is a TOML file. Every key:
//!
//! ```toml
//! name = "pypy-3.10"                   # the column's name in reports
//! # argv words; placeholders: {id} {id_underscore} {method} {scenarios} {python} {manifest_dir}
//! command = ["{python}", "{scenarios}/python/{id_underscore}.py", "{method}"]
//! python = "/usr/bin/pypy3"            # what {python} stands for (default "python3")
//! methods = ["fork", "spawn", "forkserver"]   # default: all three
//! profile = "3.10.14"                  # the Python version whose behaviour it claims (patch level)
//! version = "7.3.16"                   # optional: the implementation's own exact version
//! module = "mypkg"                     # optional: a drop-in replacement of multiprocessing
//! identity = "mypkg"                   # what each process reports (defaults below)
//! env = { PYTHONPATH = "{manifest_dir}/src" }  # optional: variables for the program
//!
//! [[deviation]]
//! scenario = "queue-feeder-flush"
//! method = "spawn"                     # optional: every method when absent
//! reason = "the feeder thread flushes late under PyPy's GC"
//! clause = "QUEUE-4"
//! ```
//!
//! **Paths.** [`Adapter::load`] resolves against the manifest's directory: `{manifest_dir}` is
//! absolute, and a relative `python` or program (the first command word) with a directory part
//! (`venv/bin/python`, `./run`) is taken from there; a bare name is looked up on `PATH`.
//!
//! **Identity.** Each run proves which implementation ran: the runner names a file in
//! [`IDENTITY_FILE_VAR`], the program appends `main <identity>` to it and its children may append
//! `child <identity>`; [`Adapter::check_identity`] judges the report, and a run without a `main`
//! line or with another identity is an `error`. `identity` defaults to `module`, else, for a
//! command run by `{python}`, to `multiprocessing`; any other command must declare it.
//!
//! **Python.** For a command run by `{python}`, a manifest with `module`, and the built-in CPython
//! and PyPy adapters, the runner writes [`PYTHON_SHIM`] as `sitecustomize.py` into a directory it
//! puts first on `PYTHONPATH` ([`Adapter::environment`]). In every Python process of the run it
//! makes the scenario program's own `import multiprocessing` (and `multiprocessing.X`) resolve to
//! `module` (and `module.X`), leaving every other import alone, and reports the module that
//! defines `Process` as the identity.
//!
//! ```
//! use conformance::{Adapter, StartMethod};
//! let a = Adapter::parse(
//!     r#"
//!     name = "mine"
//!     command = ["/opt/mine/run", "{id}", "--method={method}"]
//!     profile = "3.12"
//!     identity = "mine"
//!     "#,
//!     "mine.toml",
//! )
//! .unwrap();
//! let argv = a.argv("exit-code", StartMethod::Spawn, "/suite/scenarios".as_ref()).unwrap();
//! assert_eq!(argv, ["/opt/mine/run", "exit-code", "--method=spawn"]);
//! ```

use std::collections::BTreeMap;
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

/// A known deviation: the implementation is expected to fail this scenario (for one method, or
/// all). A listed scenario that fails or times out is `xfail`; one that passes is `xpass`, an
/// error that asks for the entry to be removed. A deviation never hides a `leak` (what a run
/// leaves behind disturbs the runs after it) nor an `error` (the run could not be judged).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// The scenario id.
    pub scenario: String,
    /// The start method, or every method when `None`.
    #[serde(default, deserialize_with = "de_method")]
    pub method: Option<StartMethod>,
    /// Why it deviates.
    pub reason: String,
    /// The clause it deviates from.
    pub clause: String,
}

fn de_method<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<StartMethod>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

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
    /// The drop-in replacement of Python's `multiprocessing` that the scenario programs' own
    /// `import multiprocessing` resolves to (the manifest's `module`), or `None` for the
    /// standard library's.
    pub module: Option<String>,
    /// What every process of a run must report as its identity (see [`IDENTITY_FILE_VAR`]):
    /// the manifest's `identity`, else its `module`, else `multiprocessing` for a Python
    /// command; `reference` for the reference.
    pub identity: String,
    /// Whether the runner loads its Python shim (drop-in imports and identity reports) into
    /// every process of a run: for a command run by `{python}` or a manifest with `module`.
    pub python_shim: bool,
    /// Environment variables set for the program (the manifest's `env` table, placeholders
    /// not yet expanded).
    pub env: BTreeMap<String, String>,
    /// Known deviations.
    pub deviations: Vec<Deviation>,
}

/// The environment variable that names the file each process of a run appends its identity
/// report to: one line `main <identity>` from the program the runner started, one line
/// `child <identity>` from any process it starts (optional; further words on a line are
/// ignored). The runner requires a `main` line, and every line's identity to be the adapter's
/// [`Adapter::identity`] (or a dotted name inside it: `mypkg.context` is inside `mypkg`).
pub const IDENTITY_FILE_VAR: &str = "CONFORMANCE_IDENTITY_FILE";

/// The Python shim, written by the runner as `sitecustomize.py` into a directory it puts first
/// on `PYTHONPATH` (see the file for what it does).
pub const PYTHON_SHIM: &str = include_str!("../python/sitecustomize.py");

/// Why an adapter could not be loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// There is no file at the manifest's path.
    #[error(
        "{path}: there is no adapter manifest at this path (relative paths start from the \
         current directory, {cwd}): give the path of an existing manifest, or a built-in \
         implementation (reference, cpython, pypy)"
    )]
    Missing {
        /// The manifest.
        path: PathBuf,
        /// The directory a relative path started from.
        cwd: String,
    },
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
    module: Option<String>,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    deviation: Vec<Deviation>,
}

impl Adapter {
    /// Read an adapter manifest. `{manifest_dir}`, a relative `python` and a relative program
    /// (the first command word, when it names a path such as `bin/run`) are resolved against the
    /// manifest's directory, made absolute, so a manifest given by a relative path works from
    /// any directory.
    ///
    /// ```
    /// let e = conformance::Adapter::load("no/such/impl.toml").unwrap_err();
    /// assert!(e.to_string().contains("there is no adapter manifest"));
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Adapter, AdapterError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                AdapterError::Missing {
                    path: path.to_path_buf(),
                    cwd: absolute(Path::new(".")).display().to_string(),
                }
            } else {
                AdapterError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Adapter::parse_in(&text, path, &absolute(dir))
    }

    /// Parse manifest text; `origin` names it in errors. Relative paths in it are resolved
    /// against the current directory (see [`Adapter::load`]).
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<Adapter, AdapterError> {
        Adapter::parse_in(text, origin.as_ref(), &absolute(Path::new(".")))
    }

    fn parse_in(text: &str, origin: &Path, manifest_dir: &Path) -> Result<Adapter, AdapterError> {
        let path = origin.to_path_buf();
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
        for d in &raw.deviation {
            if d.reason.trim().is_empty() {
                return Err(bad(format!(
                    "deviation for scenario \"{}\": `reason` is empty: say why it deviates",
                    d.scenario
                )));
            }
        }
        if let Some(module) = &raw.module {
            if !is_dotted_name(module) {
                return Err(bad(format!(
                    "`module` = {module:?} is not a Python module name: write the name the \
                     replacement is imported by, e.g. `module = \"multiprocess\"`"
                )));
            }
        }
        for (key, value) in &raw.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(bad(format!(
                    "`env` key {key:?} is not an environment variable name"
                )));
            }
            if key.starts_with("CONFORMANCE_") {
                return Err(bad(format!(
                    "`env` key `{key}`: the runner sets the CONFORMANCE_ variables itself; \
                     use `module` and `identity`"
                )));
            }
            expand(value, &|_| Some(String::new())).map_err(|message| {
                AdapterError::Placeholder {
                    path: path.clone(),
                    word: format!("env.{key} = {value}"),
                    message,
                }
            })?;
        }
        let python_shim = raw.module.is_some() || raw.command[0] == "{python}";
        let identity = match (&raw.identity, &raw.module) {
            (Some(identity), _) => identity.clone(),
            (None, Some(module)) => module.clone(),
            (None, None) if python_shim => "multiprocessing".to_string(),
            (None, None) => {
                return Err(bad(
                    "`identity` is missing: a program not run by `{python}` must prove which \
                     implementation ran. Declare `identity = \"<your implementation>\"` and make \
                     the program append the line `main <your implementation>` to the file named \
                     by $CONFORMANCE_IDENTITY_FILE (README.md, \"Testing another \
                     implementation\")"
                        .into(),
                ))
            }
        };
        if identity.is_empty() || identity.chars().any(char::is_whitespace) {
            return Err(bad(format!(
                "`identity` = {identity:?} must be one word: the name each process reports"
            )));
        }
        Ok(Adapter {
            name: raw.name,
            command: raw.command,
            methods,
            profile,
            version: raw.version,
            executable: None,
            python: raw
                .python
                .map(|p| resolve(manifest_dir, &p))
                .unwrap_or_else(|| PathBuf::from("python3")),
            manifest_dir: manifest_dir.to_path_buf(),
            module: raw.module,
            identity,
            python_shim,
            env: raw.env,
            deviations: raw.deviation,
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
            manifest_dir: absolute(Path::new(".")),
            module: None,
            identity: "reference".into(),
            python_shim: false,
            env: BTreeMap::new(),
            deviations: Vec::new(),
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
            manifest_dir: absolute(Path::new(".")),
            module: None,
            identity: "multiprocessing".into(),
            python_shim: true,
            env: BTreeMap::new(),
            deviations: Vec::new(),
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
            .find(|d| d.scenario == scenario && (d.method.is_none() || d.method == Some(method)))
    }

    /// Whether it has this start method.
    pub fn has_method(&self, method: StartMethod) -> bool {
        self.methods.contains(&method)
    }

    /// The argv to run scenario `id` with `method`, `scenarios` being the scenarios directory.
    /// A relative program path (`bin/run`, `./run.sh`) is resolved against the manifest's
    /// directory; a bare name (`python3`) is looked up on `PATH`.
    pub fn argv(
        &self,
        id: &str,
        method: StartMethod,
        scenarios: &Path,
    ) -> Result<Vec<String>, AdapterError> {
        let mut argv = self
            .command
            .iter()
            .map(|w| self.expand_word(w, w, id, method, scenarios))
            .collect::<Result<Vec<String>, AdapterError>>()?;
        if let Some(program) = argv.first_mut() {
            *program = resolve(&self.manifest_dir, Path::new(program.as_str()))
                .to_string_lossy()
                .into_owned();
        }
        Ok(argv)
    }

    /// The environment variables the runner sets for a run of scenario `id` with `method`,
    /// besides those it inherits: the manifest's `env` (placeholders expanded),
    /// [`IDENTITY_FILE_VAR`] naming `identity_file`, and for a Python adapter the shim's
    /// variables, with `shim_dir` (where the runner wrote [`PYTHON_SHIM`] as
    /// `sitecustomize.py`) first on `PYTHONPATH`.
    ///
    /// ```
    /// use std::path::Path;
    /// use conformance::{Adapter, StartMethod};
    /// let a = Adapter::parse(
    ///     "name = \"mine\"\ncommand = [\"{python}\", \"{scenarios}/python/{id_underscore}.py\"]\n\
    ///      profile = \"3.12\"\nmodule = \"mine\"\nenv = { PYTHONPATH = \"/opt/mine\" }\n",
    ///     "mine.toml",
    /// )
    /// .unwrap();
    /// let env = a
    ///     .environment("exit-code", StartMethod::Spawn, Path::new("/s"), Path::new("/t/id"), Path::new("/t"))
    ///     .unwrap();
    /// let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    /// assert_eq!(get("PYTHONPATH"), Some("/t:/opt/mine"));
    /// assert_eq!(get("CONFORMANCE_MODULE"), Some("mine"));
    /// assert_eq!(get("CONFORMANCE_IDENTITY_FILE"), Some("/t/id"));
    /// ```
    pub fn environment(
        &self,
        id: &str,
        method: StartMethod,
        scenarios: &Path,
        identity_file: &Path,
        shim_dir: &Path,
    ) -> Result<Vec<(String, String)>, AdapterError> {
        let mut env = Vec::new();
        for (key, value) in &self.env {
            let word = format!("env.{key} = {value}");
            env.push((
                key.clone(),
                self.expand_word(value, &word, id, method, scenarios)?,
            ));
        }
        env.push((
            IDENTITY_FILE_VAR.to_string(),
            identity_file.to_string_lossy().into_owned(),
        ));
        if self.python_shim {
            let inherited = match env.iter().position(|(k, _)| k == "PYTHONPATH") {
                Some(i) => Some(env.remove(i).1),
                None => std::env::var("PYTHONPATH").ok(),
            };
            let mut path = shim_dir.to_string_lossy().into_owned();
            if let Some(rest) = inherited.filter(|p| !p.is_empty()) {
                path.push(':');
                path.push_str(&rest);
            }
            env.push(("PYTHONPATH".into(), path));
            env.push((
                "CONFORMANCE_MODULE".into(),
                self.module
                    .clone()
                    .unwrap_or_else(|| "multiprocessing".into()),
            ));
            env.push((
                "CONFORMANCE_SCOPE".into(),
                scenarios.join("python").to_string_lossy().into_owned(),
            ));
            // Set by the shim in the first Python process of the run; never inherited.
            env.push(("CONFORMANCE_MAIN_PID".into(), String::new()));
        }
        Ok(env)
    }

    /// Check a run's identity report (the text of the file named by [`IDENTITY_FILE_VAR`],
    /// `None` when the file was never written): a summary such as `main mine, children mine`,
    /// or why it does not prove that this implementation ran.
    ///
    /// ```
    /// let a = conformance::Adapter::reference("/bin/scenarios");
    /// assert_eq!(a.check_identity(Some("main reference\nchild reference 42\n")).unwrap(),
    ///            "main reference, children reference");
    /// assert!(a.check_identity(Some("main multiprocessing\n")).is_err());
    /// assert!(a.check_identity(None).is_err());
    /// ```
    pub fn check_identity(&self, report: Option<&str>) -> Result<String, String> {
        let how = if self.python_shim {
            "the runner's Python shim reports it from every process that imports \
             `multiprocessing` in the scenario program; was it loaded? (PYTHONPATH is ignored \
             under `python -I` or `-E`, and `-S` skips `sitecustomize`)"
        } else {
            "the program must append the line `main <identity>` to the file named by \
             $CONFORMANCE_IDENTITY_FILE (README.md, \"Testing another implementation\")"
        };
        let mut main = 0;
        let mut children = 0;
        let mut wrong = Vec::new();
        for line in report.unwrap_or("").lines() {
            let mut words = line.split_whitespace();
            let (role, who) = match (words.next(), words.next()) {
                (None, _) => continue,
                (Some(role), Some(who)) if role == "main" || role == "child" => (role, who),
                _ => {
                    wrong.push(format!(
                        "unreadable line {line:?} (want `main|child <identity>`)"
                    ));
                    continue;
                }
            };
            if role == "main" {
                main += 1;
            } else {
                children += 1;
            }
            let inside = who == self.identity
                || who
                    .strip_prefix(self.identity.as_str())
                    .is_some_and(|rest| rest.starts_with('.'));
            if !inside {
                wrong.push(format!("{role} process reported `{who}`"));
            }
        }
        let declared = format!("{} declares identity `{}`", self.name, self.identity);
        if !wrong.is_empty() {
            wrong.dedup();
            return Err(format!(
                "the run does not prove that {} ran: {declared}, but {}",
                self.name,
                wrong.join("; ")
            ));
        }
        if main == 0 {
            return Err(format!(
                "the run does not prove that {} ran: {declared}, and no main process reported \
                 one: {how}",
                self.name
            ));
        }
        // Not how many children: a child killed early may or may not have reported.
        let mut summary = format!("main {}", self.identity);
        if children > 0 {
            summary.push_str(&format!(", children {}", self.identity));
        }
        Ok(summary)
    }

    fn expand_word(
        &self,
        w: &str,
        shown: &str,
        id: &str,
        method: StartMethod,
        scenarios: &Path,
    ) -> Result<String, AdapterError> {
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
        expand(w, &lookup).map_err(|message| AdapterError::Placeholder {
            path: PathBuf::from(&self.name),
            word: shown.to_string(),
            message,
        })
    }
}

/// `p` made absolute, or as it is when that fails.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A relative path with a directory part (`bin/run`, `./run.sh`) resolved against `dir`; an
/// absolute path or a bare name (looked up on `PATH`) as it is.
fn resolve(dir: &Path, p: &Path) -> PathBuf {
    if p.is_relative() && p.components().count() > 1 || p.starts_with(".") {
        dir.join(p.strip_prefix(".").unwrap_or(p))
    } else {
        p.to_path_buf()
    }
}

/// Whether `s` is a dotted Python module name (`multiprocess`, `my_pkg.mp`).
fn is_dotted_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
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
