//! The lab's errors, typed: what went wrong before or around a measurement
//! (a target URL, TLS, a connection, a Barista that answers unexpectedly, a
//! server's telemetry). A failed *request* during a run is not an error here:
//! it is counted by kind ([`crate::http::Failure`]) in the results.

use std::net::SocketAddr;

/// A target that is not an `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("{0:?} is not an http:// or https:// URL")]
    Scheme(String),
    #[error("{0:?} names no host")]
    NoHost(String),
    #[error("{0:?} has a bad port {1:?}")]
    Port(String, String),
}

/// The TLS client could not be built from the flags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("--cacert {path}: {why}")]
    CaFile { path: String, why: String },
    #[error("TLS: {0}")]
    Config(String),
    #[error("{0} is not a name TLS can check")]
    Name(String),
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    /// The TLS handshake failed; the error says why (a certificate, a version).
    #[error("TLS with {0} failed: {1}")]
    Handshake(SocketAddr, std::io::Error),
}

/// What stopped a run before it measured anything.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("{0} resolves to no address")]
    NoAddress(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A set-up request got no answer.
    #[error("{what} failed ({failure})")]
    Request { what: String, failure: &'static str },
    /// The target answered, but not as the scenario needs.
    #[error("{0}")]
    Answer(String),
    #[error("no requests to send")]
    Empty,
}

impl SetupError {
    /// Whether it is TLS's doing (a certificate the lab cannot check, most
    /// often), so the message can say what to do about it.
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            SetupError::Tls(_) | SetupError::Connect(ConnectError::Handshake(..))
        )
    }
}

/// The server's figures could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{what} at {authority}: {source}")]
    Unreachable {
        what: &'static str,
        authority: String,
        source: SetupError,
    },
    #[error("reading from {what} failed ({failure})")]
    Read {
        what: &'static str,
        failure: &'static str,
    },
    #[error("{what} answered {status} to {path}")]
    Status {
        what: &'static str,
        status: u16,
        path: String,
    },
    #[error("the metrics have no process_cpu_seconds_total")]
    NoCpuTime,
    #[error("cannot read /proc/{0}: is the process running?")]
    Process(u32),
    #[error("Prometheus's targets are not JSON ({0})")]
    NotJson(String),
    #[error("Prometheus's answer has no data.activeTargets")]
    NoTargets,
    #[error("--selector: {0:?} is not key=value")]
    Selector(String),
    #[error("Prometheus scrapes {0}, which the doctor cannot read: {1}")]
    Scrape(String, UrlError),
    #[error("Prometheus at {authority} has no active target with labels {selector:?}")]
    NoMatch { authority: String, selector: String },
    #[error("replica {name}: {source}")]
    Replica {
        name: String,
        source: Box<TelemetryError>,
    },
}
