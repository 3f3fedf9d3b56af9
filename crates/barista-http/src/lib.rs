//! Barista's HTTP/1.1, one implementation for every side of it: the server's
//! public and operations listeners, the lab's load-generating client, and the
//! problem server all speak it through this crate.
//!
//! Why not hyper: a connection here holds no buffer while it waits for a
//! request (hyper keeps a read and a write buffer per connection for its
//! whole life, most of the memory of 10,000 idle keep-alive clients or open
//! event streams), the limits a server on the open internet needs are part
//! of the loop ([`server`]), and a load generator needs a client that
//! allocates nothing per request ([`client`]).
//!
//! The wire format is read strictly, since a reader more lenient than the one
//! in front of it is a request-smuggling hole: [`request`] (heads, `Host`,
//! framing), [`chunked`] (every line of the chunked coding), [`response`].
//! The crate knows nothing of Barista's app: refusals are given to the app
//! (or a function it supplies) to answer.
#![forbid(unsafe_code)]

pub mod chunked;
pub mod client;
pub mod lanes;
pub mod request;
pub mod response;
pub mod server;

pub use chunked::{Chunked, Decoded};
pub use client::{Broken, Client, Keep, Reply};
pub use lanes::{Door, Lane, Lanes};
pub use request::{Framing, Head, Read, Refusal, parse_head, read_requests, request_bytes};
pub use response::{ResponseHead, Sending, parse_response_head};
pub use server::{Config, Limits, Peer, Refused, Stop, serve};
