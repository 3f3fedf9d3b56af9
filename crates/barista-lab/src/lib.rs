//! Barista's lab: load generation that tells the truth about latency.
//!
//! It speaks HTTP (and, for the doctor's database evidence, reads PostgreSQL's
//! statistics views) and links none of the server's crates. [`engine`] runs
//! open-model (scheduled, coordinated-omission corrected) or closed-model
//! load from a [`workload`]; [`stats`] keeps bounded HDR histograms;
//! [`report`] turns an outcome into the table, JSON and HTML users read;
//! [`sweep`] steps load up until the SLO breaks; [`doctor`] diagnoses.
//! [`commands`] turns a command's typed options into a plan, runs it, and
//! renders every table; the binary only parses flags.
#![forbid(unsafe_code)]

pub mod choices;
pub mod commands;
pub mod database;
pub mod doctor;
pub mod duration;
pub mod engine;
pub mod error;
pub mod html;
pub mod http;
pub mod profile;
pub mod report;
pub mod rush;
pub mod saas;
pub mod scenario;
pub mod slo;
pub mod stats;
pub mod sweep;
pub mod telemetry;
pub mod tls;
pub mod usl;
pub mod workload;
