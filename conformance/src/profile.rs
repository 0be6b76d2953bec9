//! Python-version profiles: the version an implementation claims (`"3.14"`) and the ranges a
//! scenario applies to (`">=3.8,<3.14"`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A dotted version such as `3.11` or `3.12.1`.
///
/// Versions compare component by component, a missing component counting as `0`
/// (`3.12 == 3.12.0`).
///
/// ```
/// use conformance::Version;
/// let v: Version = "3.11".parse().unwrap();
/// assert!(v < "3.12".parse().unwrap());
/// assert_eq!(v.to_string(), "3.11");
/// ```
#[derive(Debug, Clone, Eq, Serialize)]
#[serde(into = "String")]
pub struct Version {
    parts: Vec<u64>,
}

impl Version {
    /// The version `major.minor`.
    pub fn new(major: u64, minor: u64) -> Version {
        Version {
            parts: vec![major, minor],
        }
    }

    /// Its components, as written.
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }

    fn part(&self, i: usize) -> u64 {
        self.parts.get(i).copied().unwrap_or(0)
    }

    /// Whether `self` starts with all of `prefix`'s components (`3.12.1` starts with `3.12`).
    fn starts_with(&self, prefix: &Version) -> bool {
        (0..prefix.parts.len()).all(|i| self.part(i) == prefix.parts[i])
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        (0..n)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.to_string()
    }
}

/// The error of parsing a version or a version range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Not a dotted list of numbers.
    #[error("invalid version `{0}`: write it as dotted numbers, e.g. `3.12`")]
    BadVersion(String),
    /// A range constraint without a known comparison operator.
    #[error(
        "invalid version constraint `{0}`: write an operator (`>=`, `>`, `<=`, `<`, `==`, `!=`) \
         followed by a version, e.g. `>=3.12`; join constraints with commas, alternatives with \
         `||`"
    )]
    BadConstraint(String),
}

impl FromStr for Version {
    type Err = ProfileError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ProfileError::BadVersion(s.to_string()));
        }
        let parts = s
            .split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    Err(ProfileError::BadVersion(s.to_string()))
                } else {
                    p.parse::<u64>()
                        .map_err(|_| ProfileError::BadVersion(s.to_string()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Version { parts })
    }
}

/// A comparison operator of a [`VersionRange`] constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// A set of Python versions, written as comma-separated constraints that must all hold
/// (`">=3.12"`, `"<3.14"`, `">=3.8,<3.14"`), and alternatives of those joined by `||`
/// (`"<3.13.8 || ==3.14.0"`: before 3.13.8, or 3.14.0). The empty string (or `"*"`) means all
/// versions.
///
/// `==` and `!=` compare on the components the constraint names, so `==3.12` matches `3.12.4`;
/// the ordering operators pad missing components with zeros, so `<3.14` excludes `3.14.1`.
///
/// ```
/// use conformance::VersionRange;
/// let r: VersionRange = ">=3.8,<3.14".parse().unwrap();
/// assert!(r.matches(&"3.11".parse().unwrap()));
/// assert!(!r.matches(&"3.14".parse().unwrap()));
/// assert!(VersionRange::all().matches(&"2.7".parse().unwrap()));
///
/// let old_forkserver: VersionRange = "<3.13.8 || ==3.14.0".parse().unwrap();
/// assert!(old_forkserver.matches(&"3.13.0".parse().unwrap()));
/// assert!(!old_forkserver.matches(&"3.13.18".parse().unwrap()));
/// assert!(old_forkserver.matches(&"3.14.0".parse().unwrap()));
/// assert!(!old_forkserver.matches(&"3.14.10".parse().unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionRange {
    /// Alternatives, each a list of constraints that must all hold; empty means all versions.
    alternatives: Vec<Vec<(Op, Version)>>,
}

impl VersionRange {
    /// The range of all versions.
    pub fn all() -> VersionRange {
        VersionRange::default()
    }

    /// Whether this is the range of all versions.
    pub fn is_all(&self) -> bool {
        self.alternatives.is_empty()
    }

    /// Whether `version` is in the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.is_all()
            || self.alternatives.iter().any(|constraints| {
                constraints.iter().all(|(op, bound)| match op {
                    Op::Ge => version >= bound,
                    Op::Gt => version > bound,
                    Op::Le => version <= bound,
                    Op::Lt => version < bound,
                    Op::Eq => version.starts_with(bound),
                    Op::Ne => !version.starts_with(bound),
                })
            })
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.alternatives.is_empty() {
            return f.write_str("*");
        }
        for (a, constraints) in self.alternatives.iter().enumerate() {
            if a > 0 {
                f.write_str(" || ")?;
            }
            for (i, (op, v)) in constraints.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{}{v}", op.as_str())?;
            }
        }
        Ok(())
    }
}

impl Serialize for VersionRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for VersionRange {
    type Err = ProfileError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s == "*" {
            return Ok(VersionRange::all());
        }
        let alternatives = s
            .split("||")
            .map(parse_constraints)
            .collect::<Result<_, _>>()?;
        Ok(VersionRange { alternatives })
    }
}

/// One alternative of a range: comma-separated constraints.
fn parse_constraints(s: &str) -> Result<Vec<(Op, Version)>, ProfileError> {
    let mut constraints = Vec::new();
    for raw in s.split(',') {
        let c = raw.trim();
        // Longest operators first, so `>=` is not read as `>` then `=3.12`.
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .iter()
        .find_map(|(sym, op)| c.strip_prefix(sym).map(|rest| (*op, rest)))
        .ok_or_else(|| ProfileError::BadConstraint(c.to_string()))?;
        let version = rest
            .trim()
            .parse::<Version>()
            .map_err(|_| ProfileError::BadConstraint(c.to_string()))?;
        constraints.push((op, version));
    }
    Ok(constraints)
}
