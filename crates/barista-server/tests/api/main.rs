//! HTTP tests: each starts the real server on port 0 with a fresh database and
//! talks to it over HTTP. One test binary, many modules, to link once.

mod access;
mod choices;
mod common;
mod concurrency;
mod connections;
mod contract;
mod errors;
mod events;
mod layers;
mod menu;
mod observability;
mod openapi;
mod orders;
mod orders_first;
mod properties;
mod retention;
mod sessions;
mod shops;
mod tenants;
mod wire;
