//! A local OpenAI-compatible LLM server, started as a child process for runs without an endpoint.
//!
//! [`LocalServer::start`] runs `scripts/local_llm_server.py` with the Python of the project's
//! `.venv/` (both set up by `scripts/setup-local-llm`). The script serves a GGUF model through
//! llama.cpp's own HTTP server on `127.0.0.1` at a free port, and [`LocalServer::base_url`]
//! returns the `/v1` URL for an OpenAI-compatible client.
//!
//! The server process stops in every way the parent can end:
//! - [`LocalServer::stop`] or [`Drop`] send SIGTERM and, after a grace period, SIGKILL;
//! - Ctrl-C in a terminal sends SIGINT to the whole foreground process group, which includes
//!   the child because it is not moved to a group of its own, and the script exits on SIGINT;
//! - if the parent dies without running destructors (SIGKILL, abort), a watchdog thread in the
//!   script notices that its parent pid changed and exits within about half a second.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Time between two `/health` polls while the server starts.
const HEALTH_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Number of ports tried when another process takes the reserved port before the server binds it.
const PORT_ATTEMPTS: usize = 3;

/// Log text of llama.cpp 2026.10 (through xllamacpp) when the port is taken.
const BIND_FAILURE: &str = "couldn't bind HTTP server socket";

/// Number of log lines quoted in an error about a server that failed to start.
const LOG_TAIL_LINES: usize = 20;

/// Errors of starting and stopping the local server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Python interpreter of the virtual environment is missing.
    #[error("python interpreter {python} not found; run scripts/setup-local-llm to create the virtual environment")]
    PythonMissing {
        /// Expected path of the interpreter.
        python: PathBuf,
    },
    /// The server script is missing.
    #[error(
        "server script {script} not found; start from a checkout of the repository or set LocalServerConfig::script"
    )]
    ScriptMissing {
        /// Expected path of the script.
        script: PathBuf,
    },
    /// The model weights are missing.
    #[error("model file {model} not found; run {setup_command}")]
    ModelMissing {
        /// Expected path of the GGUF file.
        model: PathBuf,
        /// Command that downloads and checks the weights.
        setup_command: String,
    },
    /// No free port could be reserved, or the log file could not be created.
    #[error("failed to prepare the local server ({step}): {source}")]
    Prepare {
        /// The step that failed.
        step: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The server process could not be spawned.
    #[error("failed to spawn {python} {script}: {source}")]
    Spawn {
        /// Interpreter that was run.
        python: PathBuf,
        /// Script that was run.
        script: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The server process exited before it answered `/health`.
    #[error("local server exited with {status} before it was ready; see the log {log}:\n{log_tail}")]
    Exited {
        /// Exit status of the process.
        status: ExitStatus,
        /// Log file with the server's output.
        log: PathBuf,
        /// Last lines of that log.
        log_tail: String,
    },
    /// `/health` did not answer 200 within the start timeout.
    #[error("local server did not become ready within {timeout:?}; see the log {log}:\n{log_tail}")]
    StartTimeout {
        /// The configured start timeout.
        timeout: Duration,
        /// Log file with the server's output.
        log: PathBuf,
        /// Last lines of that log.
        log_tail: String,
    },
    /// Waiting for the process or signalling it failed.
    #[error("failed to stop the local server (pid {pid}): {source}")]
    Stop {
        /// Process id of the server.
        pid: u32,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

/// Result of local server operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Model weights that `scripts/setup-local-llm` can provide.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalModel {
    /// Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB): the default model for real runs.
    Qwen25Coder05B,
    /// SmolLM2-135M-Instruct, Q4_1 (98 MB): fast but weak, for plumbing tests.
    SmolLm2135M,
    /// Any GGUF file.
    File(PathBuf),
}

impl LocalModel {
    /// Returns the path of the weights inside the repository at `root`.
    pub fn path(&self, root: &Path) -> PathBuf {
        match self {
            Self::Qwen25Coder05B => root.join(".cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
            Self::SmolLm2135M => root.join(".cache/models/smollm2-135m-instruct-q4_1.gguf"),
            Self::File(path) => path.clone(),
        }
    }

    /// Returns the command that provides these weights.
    pub fn setup_command(&self) -> String {
        match self {
            Self::Qwen25Coder05B => "scripts/setup-local-llm".to_owned(),
            Self::SmolLm2135M => "scripts/setup-local-llm --model smollm2".to_owned(),
            Self::File(path) => format!(
                "scripts/setup-local-llm, or point LocalModel::File at an existing GGUF file instead of {}",
                path.display()
            ),
        }
    }
}

/// Settings of [`LocalServer::start`].
#[derive(Debug, Clone)]
pub struct LocalServerConfig {
    /// Repository root that contains `.venv/`, `.cache/` and `scripts/`.
    pub root: PathBuf,
    /// Python interpreter; `None` means `<root>/.venv/bin/python`.
    pub python: Option<PathBuf>,
    /// Server script; `None` means `<root>/scripts/local_llm_server.py`.
    pub script: Option<PathBuf>,
    /// Model weights to serve.
    pub model: LocalModel,
    /// Model name that clients send in the `model` field.
    pub alias: String,
    /// CPU threads for generation and prompt processing.
    pub threads: usize,
    /// Number of requests served at once; the context is split between them.
    pub parallel: usize,
    /// Context length in tokens, shared by the parallel slots.
    pub ctx_size: usize,
    /// Maximum time from spawning the process to a 200 answer from `/health`.
    pub start_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when the server stops.
    pub stop_grace: Duration,
    /// Folder of the server log; `None` means `<root>/.cache/logs`.
    pub log_dir: Option<PathBuf>,
}

impl Default for LocalServerConfig {
    /// Serves Qwen2.5-Coder-0.5B with one thread from the repository this crate was built in.
    ///
    /// One thread is the default because it is faster on a 2-core machine that also runs
    /// other work. There, a request (Qwen 0.5B, a 290-token prompt and a 100-token reply)
    /// took 50 to 64 s with 2 threads and about 12 s with 1 thread.
    fn default() -> Self {
        Self {
            root: default_root(),
            python: None,
            script: None,
            model: LocalModel::Qwen25Coder05B,
            alias: "local".to_owned(),
            threads: 1,
            parallel: 1,
            ctx_size: 4096,
            start_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(5),
            log_dir: None,
        }
    }
}

/// Returns the workspace root, the parent of this crate's manifest folder at build time.
fn default_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// A running local LLM server; stops its process when dropped.
pub struct LocalServer {
    child: Option<Child>,
    address: SocketAddr,
    alias: String,
    log: PathBuf,
    stop_grace: Duration,
}

impl fmt::Debug for LocalServer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("LocalServer")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("address", &self.address)
            .field("log", &self.log)
            .finish()
    }
}

impl LocalServer {
    /// Starts the server and waits until `/health` answers 200.
    ///
    /// This blocks for as long as the model takes to load (about 2 s for Qwen 0.5B); from
    /// async code call it inside `tokio::task::spawn_blocking`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use optimizers::local_server::{LocalServer, LocalServerConfig};
    ///
    /// let server = LocalServer::start(&LocalServerConfig::default())?;
    /// let base_url = server.base_url(); // http://127.0.0.1:PORT/v1
    /// let model = server.model_alias(); // "local"
    /// // The server stops when `server` is dropped.
    /// # Ok::<(), optimizers::local_server::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::PythonMissing`], [`Error::ScriptMissing`] or [`Error::ModelMissing`] when the
    /// set-up has not been run; [`Error::Exited`] or [`Error::StartTimeout`] with the end of
    /// the server log when the server fails to start.
    pub fn start(config: &LocalServerConfig) -> Result<Self> {
        let python = config.python.clone().unwrap_or_else(|| config.root.join(".venv/bin/python"));
        let script = config.script.clone().unwrap_or_else(|| config.root.join("scripts/local_llm_server.py"));
        let model = config.model.path(&config.root);
        if !python.is_file() {
            return Err(Error::PythonMissing { python });
        }
        if !script.is_file() {
            return Err(Error::ScriptMissing { script });
        }
        if !model.is_file() {
            return Err(Error::ModelMissing { model, setup_command: config.model.setup_command() });
        }

        let mut attempt = 1;
        loop {
            match Self::spawn_and_wait(config, &python, &script, &model) {
                Err(Error::Exited { log_tail, .. }) if attempt < PORT_ATTEMPTS && log_tail.contains(BIND_FAILURE) => {
                    tracing::warn!(attempt, "local LLM server could not bind its port, retrying on another one");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Spawns the server on a fresh free port and waits until it is healthy.
    fn spawn_and_wait(config: &LocalServerConfig, python: &Path, script: &Path, model: &Path) -> Result<Self> {
        let port = free_port()
            .map_err(|source| Error::Prepare { step: "reserving a free port on 127.0.0.1".to_owned(), source })?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log_dir = config.log_dir.clone().unwrap_or_else(|| config.root.join(".cache/logs"));
        let log = log_dir.join(format!("local-llm-server-{port}.log"));
        let log_file = fs::create_dir_all(&log_dir)
            .and_then(|()| File::create(&log))
            .map_err(|source| Error::Prepare { step: format!("creating the log file {}", log.display()), source })?;
        let log_file_for_stderr = log_file
            .try_clone()
            .map_err(|source| Error::Prepare { step: format!("opening the log file {}", log.display()), source })?;

        let started = Instant::now();
        let child = Command::new(python)
            .arg(script)
            .arg("--model")
            .arg(model)
            .args(["--port", &port.to_string()])
            .args(["--alias", &config.alias])
            .args(["--threads", &config.threads.to_string()])
            .args(["--parallel", &config.parallel.to_string()])
            .args(["--ctx-size", &config.ctx_size.to_string()])
            .args(["--parent-pid", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_file_for_stderr)
            .spawn()
            .map_err(|source| Error::Spawn { python: python.to_path_buf(), script: script.to_path_buf(), source })?;
        tracing::info!(pid = child.id(), %address, model = %model.display(), log = %log.display(), "starting local LLM server");

        let mut server =
            Self { child: Some(child), address, alias: config.alias.clone(), log, stop_grace: config.stop_grace };
        server.wait_until_healthy(config.start_timeout)?;
        tracing::info!(%address, elapsed_ms = started.elapsed().as_millis(), "local LLM server ready");
        Ok(server)
    }

    /// Polls `/health` until it answers 200, the process exits or `timeout` passes.
    ///
    /// On failure the process is stopped by `Drop` when the caller drops `self`.
    fn wait_until_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                let pid = child.id();
                match child.try_wait() {
                    Ok(Some(status)) => {
                        self.child = None;
                        return Err(Error::Exited {
                            status,
                            log: self.log.clone(),
                            log_tail: read_log_tail(&self.log),
                        });
                    }
                    Ok(None) => {}
                    Err(source) => return Err(Error::Stop { pid, source }),
                }
            }
            if health_status(self.address) == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::StartTimeout { timeout, log: self.log.clone(), log_tail: read_log_tail(&self.log) });
            }
            std::thread::sleep(HEALTH_POLL_INTERVAL);
        }
    }

    /// Returns the OpenAI-compatible base URL, such as `http://127.0.0.1:41234/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Returns the address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Returns the model name to send in the `model` field of a request.
    pub fn model_alias(&self) -> &str {
        &self.alias
    }

    /// Returns the path of the server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Returns the process id of the server, or `None` once it has stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server: SIGTERM, then SIGKILL if it still runs after the grace period.
    ///
    /// Calling it again after the server stopped does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Stop`] when waiting for the process fails.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id();
        if child.try_wait().map_err(|source| Error::Stop { pid, source })?.is_some() {
            return Ok(());
        }

        let started = Instant::now();
        // A pid that no longer exists (ESRCH) means the process already exited.
        if let Ok(raw_pid) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(raw_pid), Signal::SIGTERM);
        }
        while started.elapsed() < self.stop_grace {
            if child.try_wait().map_err(|source| Error::Stop { pid, source })?.is_some() {
                tracing::info!(pid, elapsed_ms = started.elapsed().as_millis(), "local LLM server stopped");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }

        tracing::warn!(pid, grace = ?self.stop_grace, "local LLM server ignored SIGTERM, killing it");
        child.kill().map_err(|source| Error::Stop { pid, source })?;
        child.wait().map_err(|source| Error::Stop { pid, source })?;
        Ok(())
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            tracing::error!(%error, "failed to stop the local LLM server");
        }
    }
}

/// Reserves a free TCP port on 127.0.0.1 by binding port 0 and releasing it.
///
/// Another process can take the port before the server binds it. The server then exits
/// with a bind error in its log, and `start` tries again on another port.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Sends `GET /health` and returns the HTTP status, or `None` when there is no answer yet.
fn health_status(address: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;

    let mut head = [0_u8; 64];
    let read = stream.read(&mut head).ok()?;
    parse_status_code(head.get(..read)?)
}

/// Parses the status code from the start of an HTTP/1.x response.
fn parse_status_code(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head).ok()?;
    let mut parts = text.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Returns the last lines of the log file, or a note that it could not be read.
fn read_log_tail(log: &Path) -> String {
    match fs::read_to_string(log) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            lines.get(start..).unwrap_or_default().join("\n")
        }
        Err(error) => format!("(log {} unreadable: {error})", log.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_code_parses_http_1_1() {
        assert_eq!(parse_status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_code(b"HTTP/1.1 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(parse_status_code(b"HTTP/1.0 404 Not Found"), Some(404));
    }

    #[test]
    fn status_code_rejects_garbage() {
        assert_eq!(parse_status_code(b""), None);
        assert_eq!(parse_status_code(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_code(b"HTTP/1.1 abc"), None);
    }

    #[test]
    fn missing_python_names_setup_script() {
        let root = tempfile::tempdir().expect("temporary folder");
        let config = LocalServerConfig { root: root.path().to_path_buf(), ..LocalServerConfig::default() };

        let error = LocalServer::start(&config).expect_err("no venv in an empty folder");

        assert!(matches!(error, Error::PythonMissing { .. }), "{error:?}");
        assert!(error.to_string().contains("run scripts/setup-local-llm"), "{error}");
    }

    #[test]
    fn missing_model_names_setup_command() {
        let root = tempfile::tempdir().expect("temporary folder");
        let python = root.path().join("python");
        let script = root.path().join("server.py");
        fs::write(&python, "").expect("write stand-in interpreter");
        fs::write(&script, "").expect("write stand-in script");
        let config = LocalServerConfig {
            root: root.path().to_path_buf(),
            python: Some(python),
            script: Some(script),
            model: LocalModel::SmolLm2135M,
            ..LocalServerConfig::default()
        };

        let error = LocalServer::start(&config).expect_err("no model in an empty folder");

        assert!(matches!(error, Error::ModelMissing { .. }), "{error:?}");
        assert!(error.to_string().contains("scripts/setup-local-llm --model smollm2"), "{error}");
    }

    #[test]
    fn server_that_exits_reports_log_tail() {
        let python = PathBuf::from("/usr/bin/python3");
        assert!(python.is_file(), "this test needs /usr/bin/python3 to run a stand-in server script");
        let root = tempfile::tempdir().expect("temporary folder");
        let script = root.path().join("server.py");
        let model = root.path().join("model.gguf");
        fs::write(&script, "import sys\nprint('bind failed: address in use', file=sys.stderr)\nsys.exit(3)\n")
            .expect("write script");
        fs::write(&model, "").expect("write model");
        let config = LocalServerConfig {
            root: root.path().to_path_buf(),
            python: Some(python),
            script: Some(script),
            model: LocalModel::File(model),
            ..LocalServerConfig::default()
        };

        let error = LocalServer::start(&config).expect_err("the script exits at once");

        assert!(matches!(error, Error::Exited { .. }), "{error:?}");
        assert!(error.to_string().contains("bind failed: address in use"), "{error}");
    }

    /// Stand-in server: fails to bind on the first run, then serves `/health` on `--port`.
    const FLAKY_SERVER: &str = r#"
import http.server, pathlib, sys
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
marker = pathlib.Path(__file__).with_name("tried")
if not marker.exists():
    marker.write_text("")
    print("couldn't bind HTTP server socket, hostname: 127.0.0.1", file=sys.stderr)
    sys.exit(1)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"#;

    #[test]
    fn taken_port_is_retried() {
        let python = PathBuf::from("/usr/bin/python3");
        assert!(python.is_file(), "this test needs /usr/bin/python3 to run a stand-in server script");
        let root = tempfile::tempdir().expect("temporary folder");
        let script = root.path().join("server.py");
        let model = root.path().join("model.gguf");
        fs::write(&script, FLAKY_SERVER).expect("write script");
        fs::write(&model, "").expect("write model");
        let config = LocalServerConfig {
            root: root.path().to_path_buf(),
            python: Some(python),
            script: Some(script),
            model: LocalModel::File(model),
            ..LocalServerConfig::default()
        };

        let mut server = LocalServer::start(&config).expect("second attempt serves /health");
        let pid = server.pid().expect("running");
        server.stop().expect("stops");

        assert_eq!(health_status(server.address()), None);
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} still runs");
        let logs = fs::read_dir(root.path().join(".cache/logs")).expect("log folder").count();
        assert_eq!(logs, 2, "one log per attempt");
    }
}
