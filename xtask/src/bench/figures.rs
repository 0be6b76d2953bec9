//! The figures `cargo xtask bench` measures: what each one is, its unit, its work per sample, the
//! subjects it has besides the reference, CPython and the raw OS, and its target.

/// A subject besides the reference, CPython and the raw OS primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// procspawn, the Rust peer of `spawn`.
    Procspawn,
    /// ipc-channel, Servo's channels between processes.
    IpcChannel,
}

/// What the reference's median is compared with for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    Os,
    Cpython,
    /// The reference's own samples are ratios, reference ÷ raw OS primitive, each pair measured
    /// back to back in one process: the target bounds their median. Such a figure is measured
    /// by the reference alone.
    PairedOs,
}

/// A target: the ratio reference/`against` (of medians) is at most `bound` for a cost (lower is
/// better), at least `bound` for a throughput.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub against: Against,
    pub bound: f64,
}

impl Target {
    pub fn met(&self, ratio: f64, higher_is_better: bool) -> bool {
        if higher_is_better {
            ratio >= self.bound
        } else {
            ratio <= self.bound
        }
    }

    /// `≤ 1.5× os`, `≥ 10× CPython`.
    pub fn describe(&self, higher_is_better: bool) -> String {
        let relation = if higher_is_better { "≥" } else { "≤" };
        let against = match self.against {
            Against::Os => "os",
            Against::Cpython => "CPython",
            Against::PairedOs => "os, paired",
        };
        format!("{relation} {}× {against}", self.bound)
    }
}

/// The work of one sample, how many samples one run prints, and how many it measures first and
/// throws away. Few samples per run and many rounds: the subjects then alternate every few
/// milliseconds to seconds, so that the machine's changing load hits them alike.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub n: usize,
    pub samples: usize,
    pub warmup: usize,
}

const fn size(n: usize, samples: usize, warmup: usize) -> Size {
    Size { n, samples, warmup }
}

/// One figure: a row group of the table, records of `bench.json`, a row of the chart.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The `figure` field of `bench.json`, and the subjects' first argument.
    pub id: &'static str,
    /// The start method, for the figures that have one.
    pub method: Option<&'static str>,
    /// What it measures, in words.
    pub title: &'static str,
    /// The unit of `bench.json` and the table.
    pub unit: &'static str,
    /// `unit` per base unit of the subjects' samples (seconds, per second, bytes).
    pub scale: f64,
    pub higher_is_better: bool,
    /// What the `os` subject measures.
    pub raw: &'static str,
    pub peers: &'static [Peer],
    /// Pin the two processes of a round trip to this many CPUs.
    pub cpus: Option<usize>,
    pub full: Size,
    pub quick: Size,
    pub target: Option<Target>,
}

impl Figure {
    /// `start-join (fork)`, `queue-throughput`.
    pub fn label(&self) -> String {
        match self.method {
            Some(m) => format!("{} ({m})", self.id),
            None => self.id.to_owned(),
        }
    }

    pub fn size(&self, quick: bool) -> Size {
        if quick {
            self.quick
        } else {
            self.full
        }
    }
}

const US: f64 = 1e6;
const MS: f64 = 1e3;
const GB: f64 = 1e-9;
const MIB: f64 = 1.0 / (1u64 << 20) as f64;

fn target(against: Against, bound: f64) -> Option<Target> {
    Some(Target { against, bound })
}

/// Every figure, in the order they are measured and shown.
pub fn all() -> Vec<Figure> {
    let mut figures = Vec::new();
    for method in ["fork", "spawn", "forkserver"] {
        let (raw, target_, peers, full, quick): (_, _, &'static [Peer], _, _) = match method {
            "fork" => (
                "fork + _exit + waitpid",
                target(Against::Os, 1.5),
                &[],
                size(1, 12, 2),
                size(1, 5, 1),
            ),
            "spawn" => (
                "posix_spawn of the reference's executable, told to exit at once + waitpid",
                target(Against::Os, 1.5),
                &[Peer::Procspawn],
                size(1, 6, 1),
                size(1, 3, 1),
            ),
            _ => (
                "fork + _exit + waitpid",
                target(Against::Os, 3.0),
                &[],
                size(1, 12, 2),
                size(1, 5, 1),
            ),
        };
        figures.push(Figure {
            id: "start-join",
            method: Some(method),
            title: "start + join of a trivial child",
            unit: "us",
            scale: US,
            higher_is_better: false,
            raw,
            peers,
            cpus: None,
            full,
            quick,
            target: target_,
        });
    }
    for (method, bound) in [("fork", 1.5), ("forkserver", 1.5)] {
        figures.push(Figure {
            id: "start-join-paired",
            method: Some(method),
            title: "start + join of a trivial child ÷ fork + _exit + waitpid, back to back in one \
                    process (median of the paired ratios)",
            unit: "x",
            scale: 1.0,
            higher_is_better: false,
            raw: "fork + _exit + waitpid in the reference's own process, alternating with it",
            peers: &[],
            cpus: None,
            full: size(1, 24, 2),
            quick: size(1, 5, 1),
            target: target(Against::PairedOs, bound),
        });
    }
    figures.push(Figure {
        id: "start-join-first",
        method: Some("forkserver"),
        title: "a fresh program's first forkserver start + join (the server's start included)",
        unit: "us",
        scale: US,
        higher_is_better: false,
        raw: "posix_spawn of the reference's executable, told to exit at once + waitpid, then \
              fork + _exit + waitpid",
        peers: &[],
        cpus: None,
        full: size(1, 3, 1),
        quick: size(1, 2, 1),
        target: None,
    });
    for method in ["fork", "spawn", "forkserver"] {
        let (raw, peers): (_, &'static [Peer]) = match method {
            "spawn" => (
                "16 posix_spawn of the reference's executable, told to exit at once, then 16 \
                 waitpid",
                &[Peer::Procspawn],
            ),
            _ => ("16 fork + _exit, then 16 waitpid", &[]),
        };
        figures.push(Figure {
            id: "start-join-16",
            method: Some(method),
            title: "16 trivial children started, then all joined",
            unit: "ms",
            scale: MS,
            higher_is_better: false,
            raw,
            peers,
            cpus: None,
            full: size(16, 2, 1),
            // The forkserver starts in the first start: a warm-up absorbs it.
            quick: size(16, 1, usize::from(method == "forkserver")),
            target: None,
        });
    }
    figures.push(Figure {
        id: "queue-throughput",
        method: None,
        title: "Queue throughput of small items (u64 / int), one producer child",
        unit: "items/s",
        scale: 1.0,
        higher_is_better: true,
        raw: "one 8-byte write to a pipe per item",
        peers: &[],
        cpus: None,
        full: size(50_000, 2, 1),
        quick: size(5_000, 2, 1),
        target: target(Against::Cpython, 10.0),
    });
    figures.push(Figure {
        id: "send-bytes-1mib",
        method: None,
        title: "send_bytes of 1 MiB messages, child to parent",
        unit: "GB/s",
        scale: GB,
        higher_is_better: true,
        raw: "1 MiB writes to a socketpair (AF_UNIX stream)",
        peers: &[Peer::IpcChannel],
        cpus: None,
        full: size(128, 2, 1),
        quick: size(16, 2, 1),
        target: target(Against::Os, 0.8),
    });
    figures.push(Figure {
        id: "roundtrip-1cpu",
        method: None,
        title: "1-byte round trip over a Pipe, both processes pinned to one CPU",
        unit: "us",
        scale: US,
        higher_is_better: false,
        raw: "1-byte write + read each way over two pipes",
        peers: &[Peer::IpcChannel],
        cpus: Some(1),
        full: size(10_000, 2, 1),
        quick: size(1_000, 2, 1),
        target: target(Against::Os, 1.5),
    });
    figures.push(Figure {
        id: "roundtrip-2cpu",
        method: None,
        title: "1-byte round trip over a Pipe, the processes pinned to two CPUs",
        unit: "us",
        scale: US,
        higher_is_better: false,
        raw: "1-byte write + read each way over two pipes",
        peers: &[Peer::IpcChannel],
        cpus: Some(2),
        full: size(3_000, 2, 1),
        quick: size(300, 2, 1),
        target: None,
    });
    figures.push(Figure {
        id: "value-increments",
        method: None,
        title: "locked increments of a shared Value from 4 processes",
        unit: "ops/s",
        scale: 1.0,
        higher_is_better: true,
        raw: "a process-shared pthread mutex and a u64 in a shared mapping",
        peers: &[],
        cpus: None,
        // Enough work that the reference's sample (tens of ms) dwarfs the children's wake-up.
        full: size(200_000, 2, 1),
        quick: size(2_000, 2, 1),
        target: target(Against::Cpython, 10.0),
    });
    figures.push(Figure {
        id: "shm-write",
        method: None,
        title: "write bandwidth into shared memory (a warm 64 MiB segment)",
        unit: "GB/s",
        scale: GB,
        higher_is_better: true,
        raw: "memcpy into a shm_open mapping",
        peers: &[],
        cpus: None,
        full: size(64 << 20, 4, 2),
        quick: size(8 << 20, 3, 1),
        target: target(Against::Os, 0.9),
    });
    figures.extend(pool_figures());
    for method in ["fork", "spawn", "forkserver"] {
        let (raw, peers): (_, &'static [Peer]) = match method {
            "spawn" => (
                "the reference's executable, told to exit at once",
                &[Peer::Procspawn],
            ),
            _ => ("a raw fork child", &[]),
        };
        figures.push(Figure {
            id: "child-rss",
            method: Some(method),
            title: "peak resident memory of a trivial child (VmHWM)",
            unit: "MiB",
            scale: MIB,
            higher_is_better: false,
            raw,
            peers,
            cpus: None,
            full: size(1, 2, 1),
            quick: size(1, 1, usize::from(method == "forkserver")),
            target: None,
        });
    }
    figures
}

/// A figure with no raw OS counterpart (`raw` empty: the `os` subject sits it out).
fn no_raw(
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    scale: f64,
    higher_is_better: bool,
    full: Size,
    quick: Size,
) -> Figure {
    Figure {
        id,
        method: None,
        title,
        unit,
        scale,
        higher_is_better,
        raw: "",
        peers: &[],
        cpus: None,
        full,
        quick,
        target: None,
    }
}

/// The pools', the executor's and the bulk queue's figures (all under `fork`, 2 workers, as
/// CPython's are measured).
fn pool_figures() -> Vec<Figure> {
    let mut apply_1cpu = Figure {
            target: target(Against::PairedOs, 2.0),
            ..no_raw(
        "pool-apply-roundtrip-1cpu",
        "one apply on an idle pool ÷ a raw 1-byte pipe round trip, all pinned to one CPU, back \
         to back (median of the paired ratios)",
        "x",
        1.0,
        false,
        size(2_000, 12, 2),
        size(200, 3, 1)
            )
        };
    apply_1cpu.cpus = Some(1);
    vec![
        Figure {
            target: target(Against::Cpython, 20.0),
            peers: &[Peer::Procspawn],
            ..no_raw(
            "pool-map-tiny",
            "Pool.map of trivial tasks, chunksize 1, 2 workers",
            "tasks/s",
            1.0,
            true,
            size(100_000, 2, 1),
            size(5_000, 2, 1)
            )
        },
        Figure {
            target: target(Against::Cpython, 2.0),
            ..no_raw(
            "pool-map-chunked",
            "Pool.map of trivial tasks, the default chunk size, 2 workers",
            "tasks/s",
            1.0,
            true,
            size(100_000, 3, 1),
            size(5_000, 2, 1)
            )
        },
        Figure {
            target: target(Against::Cpython, 50.0),
            ..no_raw(
            "executor-map",
            "the executor's map of trivial tasks (ProcessPoolExecutor.map), 2 workers",
            "tasks/s",
            1.0,
            true,
            size(10_000, 2, 1),
            size(500, 2, 1)
            )
        },
        Figure {
            target: target(Against::Cpython, 0.05),
            peers: &[Peer::Procspawn],
            ..no_raw(
            "pool-apply-roundtrip",
            "one apply of a trivial task on an idle pool of 1 worker",
            "us",
            US,
            false,
            size(2_000, 4, 1),
            size(200, 2, 1)
            )
        },
        apply_1cpu,
        Figure {
            target: target(Against::PairedOs, 0.9),
            ..no_raw(
            "pool-cpu-speedup",
            "a CPU-bound map on every allowed CPU: the speedup over the same tasks run serially, \
             ÷ the number of CPUs",
            "x",
            1.0,
            true,
            size(32, 3, 1),
            size(4, 1, 1)
            )
        },
        Figure {
            target: target(Against::Cpython, 4.0),
            ..no_raw(
            "queue-1mib",
            "Queue of 1 MiB byte items (Vec<u8> / bytes), child to parent",
            "GB/s",
            GB,
            true,
            size(128, 2, 1),
            size(16, 2, 1)
            )
        },
        Figure {
            target: target(Against::PairedOs, 0.5),
            ..no_raw(
            "queue-1mib-paired",
            "Queue of 1 MiB Vec<u8> items ÷ send_bytes of 1 MiB, back to back (median of the \
             paired ratios)",
            "x",
            1.0,
            true,
            size(64, 6, 1),
            size(16, 2, 1)
            )
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_distinct_and_sane() {
        let figures = all();
        let mut labels: Vec<String> = figures.iter().map(Figure::label).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), figures.len());
        for f in &figures {
            for s in [f.full, f.quick] {
                assert!(s.n >= 1 && s.samples >= 1, "{}", f.label());
            }
            // The forkserver starts in the first start: a warm-up must absorb it.
            if f.method == Some("forkserver") && f.id != "start-join-first" {
                assert!(f.quick.warmup >= 1 && f.full.warmup >= 1);
            }
        }
    }

    #[test]
    fn targets_read_both_ways() {
        let cost = Target {
            against: Against::Os,
            bound: 1.5,
        };
        assert!(cost.met(1.2, false) && !cost.met(1.6, false));
        assert_eq!(cost.describe(false), "≤ 1.5× os");
        let speed = Target {
            against: Against::Cpython,
            bound: 10.0,
        };
        assert!(speed.met(12.0, true) && !speed.met(9.0, true));
        assert_eq!(speed.describe(true), "≥ 10× CPython");
    }
}
