//! The server as a child process, so the fault harness can kill it with SIGKILL mid-push
//! and start it again, and the load test can read its peak memory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `jiayi` server process on a fixed port.
pub struct ServerProcess {
    bin: PathBuf,
    env: Vec<(String, String)>,
    /// The port it listens on.
    pub port: u16,
    log: PathBuf,
    child: Option<Child>,
    /// Highest `VmHWM` of earlier incarnations (before a kill), kB.
    peak_kb: u64,
    /// How many times it was started.
    pub starts: u32,
}

/// A free local port (taken by binding port 0 and letting it go).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl ServerProcess {
    /// Prepares a server on `database_url` with extra environment; logs go to `log`.
    pub fn new(bin: PathBuf, database_url: &str, extra: &[(&str, String)], log: PathBuf) -> Result<Self, String> {
        if !bin.exists() {
            return Err(format!(
                "server binary {} not found (build it: cargo build --release)",
                bin.display()
            ));
        }
        let port = free_port()?;
        let mut env = vec![
            ("DATABASE_URL".to_string(), database_url.to_string()),
            ("JIAYI_BIND".to_string(), format!("127.0.0.1:{port}")),
            ("JIAYI_MODE".to_string(), "demo".to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Ok(ServerProcess {
            bin,
            env,
            port,
            log,
            child: None,
            peak_kb: 0,
            starts: 0,
        })
    }

    /// `http://127.0.0.1:port`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until `/readyz` answers (the first start loads the demo county).
    pub fn start(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        self.starts += 1;
        self.wait_ready(Duration::from_secs(300))
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!("the server exited ({status}); see {}", self.log.display()));
                }
            }
            if readyz(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the server was not ready within {limit:?}; see {}",
            self.log.display()
        ))
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Peak resident memory (kB) over every incarnation so far.
    pub fn peak_rss_kb(&self) -> u64 {
        self.pid().and_then(vm_hwm_kb).unwrap_or(0).max(self.peak_kb)
    }

    /// SIGKILL: no shutdown, no flush, whatever the server was doing.
    pub fn kill9(&mut self) {
        self.peak_kb = self.peak_rss_kb();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `VmHWM` (peak resident set) of a process, kB.
pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Clock ticks per second of the CPU times in `/proc` (USER_HZ, fixed by the kernel's ABI).
pub const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system, every thread) a process has used, from `/proc/PID/stat`.
pub fn process_cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count fields after its closing parenthesis,
    // where field 3 of the line (state) comes first; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / USER_HZ)
}

/// Does `/readyz` answer 200? (A plain blocking request: no runtime needed.)
fn readyz(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// Runs a shell command (restarting PostgreSQL), failing on a non-zero exit.
pub fn shell(cmd: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
