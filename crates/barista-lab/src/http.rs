//! Targets and connections: a parsed `http://` or `https://` URL, where it
//! resolves, and a keep-alive connection to it, plain or over TLS (rustls),
//! speaking HTTP/1.1 through `barista-http`'s client (one keep-alive
//! connection, prebuilt request bytes, a reused read buffer, no allocation per
//! request unless the caller asks for the body), as wrk does.

pub use crate::error::ConnectError;
use crate::error::{SetupError, TlsError, UrlError};
use crate::tls::Tls;
use barista_http::{Broken, Client};
pub use barista_http::{Keep, Reply};
use rustls::pki_types::ServerName;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A parsed `http://host:port/path` or `https://...` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host:port` as written, for the Host header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// `https://`: the connection speaks TLS.
    pub tls: bool,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let (rest, tls) = match (text.strip_prefix("http://"), text.strip_prefix("https://")) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => return Err(UrlError::Scheme(text.to_owned())),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(UrlError::NoHost(text.to_owned()));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p
                    .parse()
                    .map_err(|_| UrlError::Port(text.to_owned(), p.to_owned()))?;
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        Ok(Url {
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            tls,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// The same server with another path.
    pub fn with_path(&self, path: &str) -> Url {
        Url {
            path: path.to_owned(),
            ..self.clone()
        }
    }

    pub async fn resolve(&self) -> Result<SocketAddr, SetupError> {
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|source| SetupError::Resolve {
                host: self.host.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| SetupError::NoAddress(self.host.clone()))
    }

    /// Where connections to this URL go: its address, resolved once, and for
    /// `https://` the TLS client (`tls`) with the name the certificate must bear.
    pub async fn endpoint(&self, tls: &Tls) -> Result<Endpoint, SetupError> {
        let addr = self.resolve().await?;
        let tls = match self.tls {
            false => None,
            true => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| TlsError::Name(self.host.clone()))?;
                Some((tls.connector()?, name))
            }
        };
        Ok(Endpoint { addr, tls })
    }
}

/// Where a connection goes: an address, and TLS for an `https://` target.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.addr)
    }
}

impl From<SocketAddr> for Endpoint {
    /// A plain HTTP endpoint.
    fn from(addr: SocketAddr) -> Endpoint {
        Endpoint { addr, tls: None }
    }
}

/// A connection's bytes: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Builds the bytes of one request.
pub fn request_bytes(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    barista_http::request_bytes(method, &url.authority, &url.path, headers, body)
}

/// Why a request failed, as counted in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    Connect,
    Timeout,
    Write,
    /// The connection closed, reset or sent something that is not HTTP.
    Read,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Write => "write",
            Failure::Read => "read",
        }
    }
}

impl From<Broken> for Failure {
    fn from(broken: Broken) -> Self {
        match broken {
            Broken::Write => Failure::Write,
            Broken::Read => Failure::Read,
        }
    }
}

/// A keep-alive connection to a target (the HTTP is `barista-http`'s client).
pub struct Conn(Client<Stream>);

impl Conn {
    pub async fn connect(endpoint: &Endpoint) -> Result<Conn, Failure> {
        Conn::open(endpoint).await.map_err(|_| Failure::Connect)
    }

    /// Connects (and for TLS, shakes hands), saying why it could not.
    pub async fn open(endpoint: &Endpoint) -> Result<Conn, ConnectError> {
        let tcp = TcpStream::connect(endpoint.addr)
            .await
            .map_err(|e| ConnectError::Connect(endpoint.addr, e))?;
        let _ = tcp.set_nodelay(true);
        let stream = match &endpoint.tls {
            None => Stream::Plain(tcp),
            Some((connector, name)) => Stream::Tls(Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ConnectError::Handshake(endpoint.addr, e))?,
            )),
        };
        Ok(Conn(Client::new(stream)))
    }

    pub fn reusable(&self) -> bool {
        self.0.reusable()
    }

    /// Sends on the connection kept in `slot` when it can take another
    /// request, else on a new one to `endpoint` kept there in its place.
    pub async fn send_on(
        slot: &mut Option<Conn>,
        endpoint: &Endpoint,
        request: &[u8],
        keep: Keep,
    ) -> Result<Reply, Failure> {
        let conn = match slot {
            Some(conn) if conn.reusable() => conn,
            _ => slot.insert(Conn::connect(endpoint).await?),
        };
        conn.send(request, keep).await
    }

    /// Sends one request and reads its whole response.
    pub async fn send(&mut self, request: &[u8], keep: Keep) -> Result<Reply, Failure> {
        Ok(self.0.send(request, keep).await?)
    }

    /// Reads a Server-Sent Events stream (`barista_http::Client::events`).
    pub async fn events(
        &mut self,
        request: &[u8],
        on_open: impl FnOnce(),
        on_event: impl FnMut(&str) -> bool,
    ) -> Result<u16, Failure> {
        Ok(self.0.events(request, on_open, on_event).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_ports() {
        let u = Url::parse("http://127.0.0.1:8080/v1/shops/demo/menu?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/v1/shops/demo/menu?x=1")
        );
        let u = Url::parse("http://localhost").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.authority.as_str()),
            (80, "/", "localhost")
        );
        let u = Url::parse("http://[::1]:9000/a").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        let u = Url::parse("https://example.com/a").unwrap();
        assert_eq!((u.tls, u.port, u.scheme()), (true, 443, "https"));
        let u = Url::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (true, 8443, "/"));
        assert!(Url::parse("ftp://example.com").is_err());
        assert!(Url::parse("example.com").is_err());
        assert!(Url::parse("http://h:port/").is_err());
    }
}
