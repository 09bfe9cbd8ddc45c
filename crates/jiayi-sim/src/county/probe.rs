//! What the machine did while the county pushed: CPU time of the server, of the simulator
//! and of PostgreSQL's backends serving the database, the machine's busy share, and on
//! PostgreSQL what its active backends were waiting on, sampled (`pg_stat_activity`:
//! it needs no extension and no restart of a shared cluster).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};

use crate::server::{process_cpu_secs, USER_HZ};

/// The machine's CPU seconds so far (every core): busy, waiting for the disk, in all;
/// from `/proc/stat`.
fn machine_cpu_secs() -> Option<Machine> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0.0);
    let iowait = *v.get(4)?;
    let total = busy + v.get(3)? + iowait;
    Some(Machine {
        busy: busy / USER_HZ,
        iowait: iowait / USER_HZ,
        total: total / USER_HZ,
    })
}

/// The whole machine's CPU seconds (every core).
#[derive(Debug, Clone, Copy, Default)]
pub struct Machine {
    /// Busy (any process, the kernel).
    pub busy: f64,
    /// Idle with a disk request outstanding.
    pub iowait: f64,
    /// Available: cores × time.
    pub total: f64,
}

impl std::ops::Sub for Machine {
    type Output = Machine;
    fn sub(self, o: Machine) -> Machine {
        Machine {
            busy: self.busy - o.busy,
            iowait: self.iowait - o.iowait,
            total: self.total - o.total,
        }
    }
}

/// CPU use over the push.
#[derive(Debug, Clone, Default)]
pub struct CpuUse {
    /// Wall time, s.
    pub wall: f64,
    /// The server process, CPU s (None: its pid is unknown, as when it runs in the test's process).
    pub server: Option<f64>,
    /// This simulator, CPU s.
    pub simulator: f64,
    /// PostgreSQL's backends of the database, CPU s (None on SQLite).
    pub postgres: Option<f64>,
    /// The whole machine.
    pub machine: Option<Machine>,
    /// On PostgreSQL: sampled states of active backends (`CPU` when not waiting), and
    /// how many samples were taken.
    pub waits: BTreeMap<String, u64>,
    /// Samples of `pg_stat_activity` taken.
    pub samples: u64,
}

impl CpuUse {
    /// Lines for the result table.
    pub fn lines(&self) -> Vec<String> {
        let per = |s: f64| format!("{s:.1} CPU s ({:.2} cores)", s / self.wall.max(1e-9));
        let mut out = Vec::new();
        if let Some(s) = self.server {
            out.push(format!("server {}", per(s)));
        }
        if let Some(s) = self.postgres {
            out.push(format!("PostgreSQL backends {}", per(s)));
        }
        out.push(format!("simulator {}", per(self.simulator)));
        if let Some(m) = self.machine {
            let ours = self.server.unwrap_or(0.0) + self.postgres.unwrap_or(0.0) + self.simulator;
            out.push(format!(
                "machine busy {:.0} % of {:.0} CPU s (other processes {:.1} CPU s), iowait {:.1} CPU s",
                100.0 * m.busy / m.total.max(1e-9),
                m.total,
                (m.busy - ours).max(0.0),
                m.iowait
            ));
        }
        if self.samples > 0 {
            let mut w: Vec<(&String, &u64)> = self.waits.iter().collect();
            w.sort_by(|a, b| b.1.cmp(a.1));
            let list: Vec<String> = w
                .iter()
                .take(8)
                .map(|(k, n)| format!("{k} {:.2}", **n as f64 / self.samples as f64))
                .collect();
            out.push(format!(
                "PostgreSQL active backends per sample, by wait ({} samples): {}",
                self.samples,
                list.join(", ")
            ));
        }
        out
    }
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = Nullable<Text>)]
    state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    wait_event_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    wait_event: Option<String>,
}

/// What the PostgreSQL sampler saw.
#[derive(Default)]
struct PgSeen {
    /// CPU s of each backend when first and last seen.
    cpu: HashMap<u32, (f64, f64)>,
    waits: BTreeMap<String, u64>,
    samples: u64,
}

/// A probe running from the push's start to its end.
pub struct Probe {
    started: Instant,
    server_pid: Option<u32>,
    server0: Option<f64>,
    sim0: f64,
    machine0: Option<Machine>,
    stop: Arc<AtomicBool>,
    pg: Option<JoinHandle<PgSeen>>,
}

impl Probe {
    /// Starts measuring; with a PostgreSQL URL, samples its backends every `every`.
    pub fn start(server_pid: Option<u32>, pg_url: Option<&str>, every: Duration) -> Result<Probe, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let pg = match pg_url {
            Some(url) => {
                let mut conn = jiayi::db::establish_pg(url).map_err(|e| format!("PostgreSQL probe: {e}"))?;
                let mut seen = PgSeen::default();
                // The first sample before the push starts: every backend's CPU so far.
                sample(&mut conn, &mut seen, false);
                let stop = stop.clone();
                Some(std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(every);
                        sample(&mut conn, &mut seen, true);
                    }
                    seen
                }))
            }
            None => None,
        };
        Ok(Probe {
            started: Instant::now(),
            server_pid,
            server0: server_pid.and_then(process_cpu_secs),
            sim0: process_cpu_secs(std::process::id()).unwrap_or(0.0),
            machine0: machine_cpu_secs(),
            stop,
            pg,
        })
    }

    /// Stops and sums up.
    pub fn finish(self) -> CpuUse {
        let wall = self.started.elapsed().as_secs_f64();
        let server = match (self.server_pid.and_then(process_cpu_secs), self.server0) {
            (Some(b), Some(a)) => Some(b - a),
            _ => None,
        };
        let simulator = process_cpu_secs(std::process::id()).unwrap_or(0.0) - self.sim0;
        let machine = machine_cpu_secs().zip(self.machine0).map(|(b, a)| b - a);
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.pg.and_then(|h| h.join().ok());
        let postgres = seen
            .as_ref()
            .map(|s| s.cpu.values().map(|(first, last)| last - first).sum());
        let (waits, samples) = seen.map(|s| (s.waits, s.samples)).unwrap_or_default();
        CpuUse {
            wall,
            server,
            simulator,
            postgres,
            machine,
            waits,
            samples,
        }
    }
}

/// One look at the database's backends (not the probe's own): their CPU so far and,
/// with `tally`, what the active ones wait on.
fn sample(conn: &mut diesel::PgConnection, seen: &mut PgSeen, tally: bool) {
    let rows: Vec<Backend> = match diesel::sql_query(
        "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .load(conn)
    {
        Ok(rows) => rows,
        Err(_) => return,
    };
    for b in &rows {
        let pid = b.pid as u32;
        if let Some(cpu) = process_cpu_secs(pid) {
            // A backend first seen after the push began was started during it.
            let first = if tally { 0.0 } else { cpu };
            seen.cpu.entry(pid).or_insert((first, cpu)).1 = cpu;
        }
        if tally && b.state.as_deref() == Some("active") {
            let key = match (&b.wait_event_type, &b.wait_event) {
                (Some(t), Some(e)) => format!("{t}:{e}"),
                _ => "CPU".to_string(),
            };
            *seen.waits.entry(key).or_default() += 1;
        }
    }
    if tally {
        seen.samples += 1;
    }
}
