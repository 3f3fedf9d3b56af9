//! What to send. A workload names its kinds of request (results are kept per
//! name) and hands each connection its next request; it may watch replies
//! (the `rush` scenario learns ETags and order ids from them).

use crate::error::SetupError;
use crate::http::{Endpoint, Keep, Reply, Url, request_bytes};
use crate::tls::Tls;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One request, ready to write.
#[derive(Clone)]
pub struct Request {
    /// Index into `Workload::names`.
    pub name: usize,
    /// Index into `Workload::endpoints`.
    pub addr: usize,
    pub bytes: Arc<[u8]>,
    pub keep: Keep,
    /// Safe to send again on a connection error (it carries an idempotency key).
    pub retry_on_connection_error: bool,
}

pub trait Workload: Send + Sync + 'static {
    fn names(&self) -> &[String];
    fn endpoints(&self) -> &[Endpoint];
    fn next(&self, rng: &mut Rng) -> Request;
    fn observe(&self, _request: &Request, _reply: &Reply) {}
    /// The workload one connection should use. Fixed requests give each
    /// connection private copies, so no reference count is shared between
    /// threads on every request; workloads that learn from replies share.
    fn per_connection(self: Arc<Self>) -> Arc<dyn Workload>;
    /// What the target was, for reports.
    fn describe(&self) -> Vec<String>;
}

/// SplitMix64: small, fast, good enough to pick requests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ time)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A prebuilt request with its weight.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub url: Url,
    pub weight: u64,
    pub bytes: Arc<[u8]>,
}

/// Fixed requests: URLs in round robin, or a scenario file's weighted mix.
pub struct Fixed {
    names: Vec<String>,
    endpoints: Vec<Endpoint>,
    /// (name index, endpoint index, bytes), and cumulative weights for picking.
    entries: Vec<(usize, usize, Arc<[u8]>)>,
    cumulative: Vec<u64>,
    weighted: bool,
    turn: AtomicUsize,
    described: Vec<String>,
}

impl Fixed {
    /// Resolves every host once and prebuilds every request; `tls` serves the
    /// `https://` ones.
    pub async fn new(entries: Vec<Entry>, weighted: bool, tls: &Tls) -> Result<Fixed, SetupError> {
        if entries.is_empty() {
            return Err(SetupError::Empty);
        }
        let mut names: Vec<String> = vec![];
        let mut hosts: Vec<(String, u16, bool)> = vec![];
        let mut endpoints = vec![];
        let mut built = vec![];
        let mut cumulative = vec![];
        let mut sum = 0;
        for e in &entries {
            let name = match names.iter().position(|n| *n == e.name) {
                Some(i) => i,
                None => {
                    names.push(e.name.clone());
                    names.len() - 1
                }
            };
            let host = (e.url.host.clone(), e.url.port, e.url.tls);
            let addr = match hosts.iter().position(|h| *h == host) {
                Some(i) => i,
                None => {
                    endpoints.push(e.url.endpoint(tls).await?);
                    hosts.push(host);
                    hosts.len() - 1
                }
            };
            sum += e.weight.max(1);
            cumulative.push(sum);
            built.push((name, addr, e.bytes.clone()));
        }
        let described = entries
            .iter()
            .map(|e| format!("{}://{}{}", e.url.scheme(), e.url.authority, e.url.path))
            .collect();
        Ok(Fixed {
            names,
            endpoints,
            entries: built,
            cumulative,
            weighted,
            turn: AtomicUsize::new(0),
            described,
        })
    }

    /// Plain GETs of the given URLs, in turn.
    pub async fn urls(urls: &[Url]) -> Result<Fixed, SetupError> {
        Fixed::requests(urls, "GET", &[], b"", &Tls::default()).await
    }

    /// The same request (method, headers, body) to each URL in turn.
    pub async fn requests(
        urls: &[Url],
        method: &str,
        headers: &[(String, String)],
        body: &[u8],
        tls: &Tls,
    ) -> Result<Fixed, SetupError> {
        let entries = urls
            .iter()
            .map(|u| Entry {
                name: match (urls.iter().all(|o| o.authority == u.authority), method) {
                    (true, "GET") => u.path.clone(),
                    (true, _) => format!("{method} {}", u.path),
                    (false, "GET") => format!("{}{}", u.authority, u.path),
                    (false, _) => format!("{method} {}{}", u.authority, u.path),
                },
                url: u.clone(),
                weight: 1,
                bytes: request_bytes(method, u, headers, body).into(),
            })
            .collect();
        Fixed::new(entries, false, tls).await
    }
}

impl Workload for Fixed {
    fn per_connection(self: Arc<Self>) -> Arc<dyn Workload> {
        Arc::new(Fixed {
            names: self.names.clone(),
            endpoints: self.endpoints.clone(),
            entries: self
                .entries
                .iter()
                .map(|(n, a, b)| (*n, *a, Arc::from(&b[..])))
                .collect(),
            cumulative: self.cumulative.clone(),
            weighted: self.weighted,
            turn: AtomicUsize::new(self.turn.load(Ordering::Relaxed)),
            described: self.described.clone(),
        })
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    fn next(&self, rng: &mut Rng) -> Request {
        let i = if self.entries.len() == 1 {
            0
        } else if self.weighted {
            let total = *self.cumulative.last().unwrap_or(&1);
            let x = rng.below(total);
            self.cumulative.partition_point(|c| *c <= x)
        } else {
            self.turn.fetch_add(1, Ordering::Relaxed) % self.entries.len()
        };
        let (name, addr, bytes) = &self.entries[i];
        Request {
            name: *name,
            addr: *addr,
            bytes: bytes.clone(),
            keep: Keep::default(),
            retry_on_connection_error: false,
        }
    }

    fn describe(&self) -> Vec<String> {
        let mut d = self.described.clone();
        d.dedup();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn weighted_entries_are_picked_in_proportion() {
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        let entry = |name: &str, weight| Entry {
            name: name.into(),
            url: url.clone(),
            weight,
            bytes: Arc::from(&b"x"[..]),
        };
        let w = Fixed::new(vec![entry("a", 3), entry("b", 1)], true, &Tls::default())
            .await
            .unwrap();
        let mut rng = Rng::new(7);
        let a = (0..10_000).filter(|_| w.next(&mut rng).name == 0).count();
        assert!((7_000..8_000).contains(&a), "{a}");
    }

    #[tokio::test]
    async fn urls_go_round_robin_and_share_an_address() {
        let urls = [
            Url::parse("http://127.0.0.1:1/a").unwrap(),
            Url::parse("http://127.0.0.1:1/b").unwrap(),
        ];
        let w = Fixed::urls(&urls).await.unwrap();
        let mut rng = Rng::new(1);
        let names: Vec<usize> = (0..4).map(|_| w.next(&mut rng).name).collect();
        assert_eq!(names, [0, 1, 0, 1]);
        assert_eq!(w.endpoints().len(), 1);
        assert_eq!(w.names(), ["/a", "/b"]);
    }
}
