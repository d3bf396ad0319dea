//! The real `child-registry` binary: run commands, start `serve` on a free port, stop it hard
//! (`kill -9`) or gracefully (SIGTERM).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

use super::TestDatabase;

pub const BINARY: &str = env!("CARGO_BIN_EXE_child-registry");

pub fn run(args: &[String]) -> std::process::Output {
    Command::new(BINARY).args(args).output().unwrap()
}

/// `parts` followed by the database's flags.
pub fn args(parts: &[&str], database: &TestDatabase) -> Vec<String> {
    let mut all: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
    all.extend(database.cli_flags());
    all
}

/// Runs a command that must succeed; returns its standard output.
pub fn run_ok(args: &[String]) -> String {
    let output = run(args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Creates a client through the CLI and returns the key from the last line.
pub fn create_client(database: &TestDatabase, role: &str, agency: Option<&str>) -> String {
    let mut parts = vec![
        "clients",
        "create",
        "--name",
        "Uganda Police CPU",
        "--role",
        role,
    ];
    if let Some(agency) = agency {
        parts.extend(["--agency", agency]);
    }
    let stdout = run_ok(&args(&parts, database));
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert!(key.starts_with("crk_"), "last line is the key: {stdout}");
    key
}

pub struct Server {
    pub process: Child,
    pub url: String,
    /// Set when started with `--metrics-listen`.
    pub metrics_url: Option<String>,
    /// Kept open: a server writing to a closed pipe would fail.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    pub fn start(database: &TestDatabase) -> Self {
        Self::launch(database, |command| {
            command.stderr(Stdio::inherit());
        })
    }

    /// Like [`Server::start`], logging at debug level into `log`.
    pub fn start_logging(database: &TestDatabase, log: &std::path::Path) -> Self {
        Self::launch(database, |command| {
            command
                .env("CHILD_REGISTRY_LOG", "debug")
                .stderr(std::fs::File::create(log).unwrap());
        })
    }

    /// Starts `serve` on a free port with its index in the database's directory (set up
    /// further by `configure`) and reads its URL.
    pub fn launch(database: &TestDatabase, configure: impl FnOnce(&mut Command)) -> Self {
        let index = database.dir.path().join("search-index");
        Self::launch_with_index(database, &index, configure)
    }

    /// Like [`Server::launch`] with the search index in `index_dir` (several nodes on one
    /// database each have their own).
    pub fn launch_with_index(
        database: &TestDatabase,
        index_dir: &std::path::Path,
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        let mut command = Command::new(BINARY);
        command
            .args(args(&["serve", "--listen", "127.0.0.1:0"], database))
            .arg("--index-dir")
            .arg(index_dir)
            .stdout(Stdio::piped());
        configure(&mut command);
        Self::attach(command.spawn().unwrap())
    }

    /// Takes charge of a `serve` process spawned with a piped standard output: reads the
    /// URLs it announces, and kills it when dropped.
    pub fn attach(mut process: Child) -> Self {
        let mut stdout = BufReader::new(process.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let mut urls = line
            .split_whitespace()
            .filter(|word| word.starts_with("http://") || word.starts_with("https://"))
            .map(|word| word.trim_end_matches([',', ';', ')']).to_owned());
        let url = urls.next().unwrap_or_else(|| panic!("no URL in '{line}'"));
        let metrics_url = urls.find(|url| url.ends_with("/metrics"));
        Server {
            process,
            url,
            metrics_url,
            _stdout: stdout,
        }
    }

    /// SIGKILL: no shutdown hook, no flush, nothing but what was already durable.
    pub fn kill_hard(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }

    /// SIGTERM, as systemd, Docker and Kubernetes stop a service; waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.process.wait().unwrap()
    }
}

/// A test that panics (or simply ends) with its server still running must not leave the
/// process behind: an orphaned server keeps the test run's inherited stderr open, and
/// whatever reads that output waits for it forever instead of reporting the failure.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}
