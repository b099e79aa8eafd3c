//! Starts the real local LLM server and sends it a chat completion.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use optimizers::local_server::{LocalModel, LocalServer, LocalServerConfig};

/// Sends one HTTP/1.1 request and returns the status code and the body.
fn http_request(address: SocketAddr, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;

    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("response without a header end")?;
    let status = head.split_whitespace().nth(1).context("response without a status")?.parse()?;
    Ok((status, body.to_owned()))
}

fn require_setup(config: &LocalServerConfig) -> anyhow::Result<()> {
    let model = config.model.path(&config.root);
    if !config.root.join(".venv/bin/python").is_file() || !model.is_file() {
        bail!(
            "the local LLM is not set up ({} or {} is missing); run scripts/setup-local-llm once, then rerun the tests",
            config.root.join(".venv/bin/python").display(),
            model.display()
        );
    }
    Ok(())
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn real_server_answers_chat_completion() -> anyhow::Result<()> {
    let config = LocalServerConfig { model: LocalModel::Qwen25Coder05B, threads: 1, ..LocalServerConfig::default() };
    require_setup(&config)?;

    let started = Instant::now();
    let mut server = LocalServer::start(&config)?;
    let start_time = started.elapsed();
    let pid = server.pid().context("a started server has a pid")?;
    let (health_status, _) = http_request(server.address(), "GET", "/health", None)?;
    let (models_status, models) = http_request(server.address(), "GET", "/v1/models", None)?;
    let request = serde_json::json!({
        "model": server.model_alias(),
        "temperature": 0,
        "max_tokens": 24,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": "Reply with a JSON object {\"answer\": integer}."},
            {"role": "user", "content": "What is 2 + 3?"}
        ]
    });
    let (chat_status, chat) =
        http_request(server.address(), "POST", "/v1/chat/completions", Some(&request.to_string()))?;
    server.stop()?;

    assert!(start_time < Duration::from_secs(60), "start took {start_time:?}");
    assert!(server.base_url().starts_with("http://127.0.0.1:"), "{}", server.base_url());
    assert!(server.base_url().ends_with("/v1"), "{}", server.base_url());
    assert_eq!(health_status, 200);
    assert_eq!(models_status, 200);
    assert!(models.contains("\"local\""), "{models}");
    assert_eq!(chat_status, 200, "{chat}");
    let chat: serde_json::Value = serde_json::from_str(&chat)?;
    let content = chat["choices"][0]["message"]["content"].as_str().context("reply without content")?;
    let reply: serde_json::Value =
        serde_json::from_str(content).with_context(|| format!("json_object reply is not JSON: {content}"))?;
    assert!(reply.is_object(), "{content}");
    assert!(chat["usage"]["completion_tokens"].as_u64().unwrap_or(0) > 0, "{chat}");
    assert!(!process_exists(pid), "server process {pid} still runs after stop");
    assert_eq!(server.pid(), None);
    Ok(())
}

#[test]
fn dropped_server_stops_process() -> anyhow::Result<()> {
    let config = LocalServerConfig { model: LocalModel::Qwen25Coder05B, threads: 1, ..LocalServerConfig::default() };
    require_setup(&config)?;
    let server = LocalServer::start(&config)?;
    let pid = server.pid().context("a started server has a pid")?;
    let address = server.address();

    drop(server);

    assert!(!process_exists(pid), "server process {pid} still runs after drop");
    assert!(
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err(),
        "{address} still accepts connections"
    );
    Ok(())
}

#[test]
fn server_exits_when_parent_is_killed() -> anyhow::Result<()> {
    let config = LocalServerConfig { model: LocalModel::Qwen25Coder05B, threads: 1, ..LocalServerConfig::default() };
    require_setup(&config)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let command = format!(
        "{} {} --model {} --port {port} & wait",
        config.root.join(".venv/bin/python").display(),
        config.root.join("scripts/local_llm_server.py").display(),
        config.model.path(&config.root).display(),
    );
    // The shell is a parent that dies without stopping its child.
    let mut parent = std::process::Command::new("/bin/sh")
        .args(["-c", &command])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(http_request(address, "GET", "/health", None), Ok((200, _))) {
        if Instant::now() > deadline {
            parent.kill()?;
            bail!("stand-in server on {address} did not become ready");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    parent.kill()?;
    parent.wait()?;
    let killed = Instant::now();
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        && killed.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }

    assert!(
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err(),
        "server on {address} still accepts connections {:?} after its parent was killed",
        killed.elapsed()
    );
    Ok(())
}
