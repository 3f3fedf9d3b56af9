//! `rush`: a coffee-shop rush against a Barista server. Mostly menu reads (half
//! of them conditional, with the last ETag seen), some orders (sizes and
//! choices drawn where the menu offers them, each with a fresh
//! `Idempotency-Key`, resent with the same key after a connection error),
//! and some reads of orders this run placed. Its two halves run apart too
//! (`rush-reads`, `rush-orders`): a flood of menu reads from some clients
//! while others order, each on connections of their own.

use crate::choices::Orderable;
use crate::error::SetupError;
use crate::http::{Conn, Endpoint, Keep, Reply, Url, request_bytes};
use crate::tls::Tls;
use crate::workload::{Request, Rng, Workload};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const MENU: usize = 0;
const MENU_CONDITIONAL: usize = 1;
const ORDER: usize = 2;
const ORDER_STATUS: usize = 3;
/// Orders remembered for status reads.
const RECENT: usize = 1024;

/// Which requests of the rush a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RushPart {
    /// The whole mix: 40% menu reads, 40% conditional menu reads, 12% orders,
    /// 8% reads of orders placed.
    All,
    /// The menu reads alone (half of them conditional).
    Reads,
    /// The orders and the reads of orders placed, in the rush's proportions
    /// (60% orders, 40% order reads).
    Orders,
}

pub struct Rush {
    part: RushPart,
    names: Vec<String>,
    endpoints: Vec<Endpoint>,
    base: Url,
    shop: String,
    menu: Arc<[u8]>,
    /// Items an order may name: available, and not limited by stock.
    /// What can be ordered, with its sizes and choices.
    items: Vec<Orderable>,
    etag: Mutex<Option<Arc<[u8]>>>,
    recent: Mutex<VecDeque<String>>,
    keys: AtomicU64,
    run: u64,
}

/// A string field of a JSON answer, found by a scan rather than a parse: an
/// order's `id` is read from every order answer the run gets.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = start + json[start..].find('"')?;
    Some(&json[start..end])
}

impl Rush {
    /// Reads the shop's menu once to learn what can be ordered.
    pub async fn new(
        base: &Url,
        shop: &str,
        part: RushPart,
        tls: &Tls,
    ) -> Result<Rush, SetupError> {
        let endpoint = base.endpoint(tls).await?;
        let menu_url = base.with_path(&format!("/v1/shops/{shop}/menu"));
        let menu = request_bytes("GET", &menu_url, &[], b"");
        let mut conn = Conn::open(&endpoint).await?;
        let reply = conn
            .send(
                &menu,
                Keep {
                    etag: true,
                    body: true,
                },
            )
            .await
            .map_err(|f| SetupError::Request {
                what: format!("reading the menu of {shop}"),
                failure: f.name(),
            })?;
        if reply.status != 200 {
            return Err(SetupError::Answer(format!(
                "GET {} answered {}: is this a Barista server, and does shop {shop:?} exist?",
                menu_url.path, reply.status
            )));
        }
        let menu_json: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|_| {
            SetupError::Answer("the menu is not JSON: is this a Barista server?".into())
        })?;
        let items = Orderable::from_menu(&menu_json);
        if items.is_empty() {
            return Err(SetupError::Answer(format!(
                "shop {shop:?} has no available item without a stock limit to order"
            )));
        }
        Ok(Rush {
            part,
            names: ["menu", "menu_if_none_match", "order", "order_status"]
                .map(String::from)
                .to_vec(),
            endpoints: vec![endpoint],
            base: base.clone(),
            shop: shop.to_owned(),
            menu: menu.into(),
            items,
            etag: Mutex::new(reply.etag.map(|e| Arc::from(e.into_bytes()))),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            keys: AtomicU64::new(0),
            run: Rng::new(0).next_u64(),
        })
    }

    fn request(&self, name: usize, bytes: Vec<u8>, keep: Keep) -> Request {
        Request {
            name,
            addr: 0,
            bytes: bytes.into(),
            keep,
            retry_on_connection_error: name == ORDER,
        }
    }

    fn conditional_menu(&self) -> Option<Request> {
        let etag = self
            .etag
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let url = self
            .base
            .with_path(&format!("/v1/shops/{}/menu", self.shop));
        let header = (
            "If-None-Match".to_owned(),
            String::from_utf8_lossy(&etag).into_owned(),
        );
        Some(self.request(
            MENU_CONDITIONAL,
            request_bytes("GET", &url, &[header], b""),
            Keep {
                etag: true,
                body: false,
            },
        ))
    }

    fn order(&self, rng: &mut Rng) -> Request {
        let n = self.keys.fetch_add(1, Ordering::Relaxed);
        // One or two lines of different items, each with a size and choices
        // where the item has them, as real customers order.
        let first = rng.below(self.items.len() as u64) as usize;
        let quantity = 1 + rng.below(2);
        let mut lines = vec![self.items[first].line(rng, quantity)];
        if self.items.len() > 1 && rng.below(2) == 0 {
            let second =
                (first + 1 + rng.below(self.items.len() as u64 - 1) as usize) % self.items.len();
            lines.push(self.items[second].line(rng, 1));
        }
        let body = json!({"customer_name": format!("rush {n}"), "lines": lines}).to_string();
        let url = self
            .base
            .with_path(&format!("/v1/shops/{}/orders", self.shop));
        let headers = [
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (
                "Idempotency-Key".to_owned(),
                format!("rush-{:016x}-{n}", self.run),
            ),
        ];
        self.request(
            ORDER,
            request_bytes("POST", &url, &headers, body.as_bytes()),
            Keep {
                etag: false,
                body: true,
            },
        )
    }

    fn status(&self, rng: &mut Rng) -> Option<Request> {
        let id = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.is_empty() {
                return None;
            }
            recent[rng.below(recent.len() as u64) as usize].clone()
        };
        let url = self
            .base
            .with_path(&format!("/v1/shops/{}/orders/{id}", self.shop));
        Some(self.request(
            ORDER_STATUS,
            request_bytes("GET", &url, &[], b""),
            Keep::default(),
        ))
    }
}

impl Workload for Rush {
    fn per_connection(self: Arc<Self>) -> Arc<dyn Workload> {
        self
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    fn next(&self, rng: &mut Rng) -> Request {
        let plain = || Request {
            name: MENU,
            addr: 0,
            bytes: self.menu.clone(),
            keep: Keep {
                etag: true,
                body: false,
            },
            retry_on_connection_error: false,
        };
        let roll = match self.part {
            RushPart::All => rng.below(100),
            RushPart::Reads => rng.below(80),
            RushPart::Orders => 80 + rng.below(20),
        };
        match roll {
            0..40 => plain(),
            40..80 => self.conditional_menu().unwrap_or_else(plain),
            80..92 => self.order(rng),
            _ if self.part == RushPart::Orders => {
                self.status(rng).unwrap_or_else(|| self.order(rng))
            }
            _ => self.status(rng).unwrap_or_else(plain),
        }
    }

    fn observe(&self, request: &Request, reply: &Reply) {
        match request.name {
            MENU | MENU_CONDITIONAL if reply.status == 200 => {
                if let Some(etag) = &reply.etag {
                    *self.etag.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(Arc::from(etag.as_bytes()));
                }
            }
            ORDER if reply.status == 201 => {
                if let Some(id) = std::str::from_utf8(&reply.body)
                    .ok()
                    .and_then(|b| field(b, "id"))
                {
                    let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
                    if recent.len() == RECENT {
                        recent.pop_front();
                    }
                    recent.push_back(id.to_owned());
                }
            }
            _ => {}
        }
    }

    fn describe(&self) -> Vec<String> {
        vec![format!(
            "rush http://{}/v1/shops/{}",
            self.base.authority, self.shop
        )]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn order_ids_are_found_in_a_response_body() {
        let body = r#"{"id":"0190-ab","shop":"demo","status":"placed"}"#;
        assert_eq!(super::field(body, "id"), Some("0190-ab"));
        assert_eq!(super::field(body, "nope"), None);
    }
}
