//! `barista probe`: the health check a container runs inside itself, where
//! there is no shell and no curl. One GET over plain HTTP/1.1; exit 0 on a 2xx.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// The address the server listens on (the same variable as `serve --listen`);
    /// an unspecified address (0.0.0.0, [::]) is probed on loopback.
    #[arg(long, env = "BARISTA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The path to ask for: /readyz (ready for traffic) or /healthz (alive).
    #[arg(long, default_value = "/readyz", value_parser = path)]
    pub path: String,

    /// How long to wait for the answer.
    #[arg(long, default_value = "2s", value_parser = crate::lab::positive_duration)]
    pub timeout: Duration,
}

fn path(text: &str) -> Result<String, String> {
    if text.starts_with('/') && text.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a path (it starts with /, without spaces)"
        ))
    }
}

pub fn probe(args: ProbeArgs) -> ExitCode {
    let mut at = args.listen;
    if at.ip().is_unspecified() {
        at.set_ip(match at {
            SocketAddr::V4(_) => [127, 0, 0, 1].into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    match status(at, &args.path, args.timeout) {
        Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("barista probe: http://{at}{} answered {code}", args.path);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("barista probe: http://{at}{}: {e}", args.path);
            ExitCode::FAILURE
        }
    }
}

fn status(at: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let addr = at.to_socket_addrs()?.next().expect("a socket address");
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {at}\r\nuser-agent: barista-probe\r\nconnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..])? {
            0 => break,
            n => len += n,
        }
    }
    let line = std::str::from_utf8(&head[..len]).unwrap_or("");
    line.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}
