//! The rotation contract as one call in a test.
//!
//! # Why
//!
//! A rotator is only correct if it keeps every promise of the Secrets Manager rotation
//! protocol, in the binary that is deployed: the labels move only after a proven test, each
//! step can be retried, a new process can finish what a dead one started, bad tokens and events
//! are refused with AWS's messages, and no secret ever reaches a log. Those promises are the
//! same for every target, so the tests should be too. This crate checks them all, through the
//! real Lambda Runtime API against moto's Secrets Manager, for any rotator binary; a rotator's
//! own tests then cover only what is special about its target.
//!
//! # How
//!
//! Implement [`Target`] for your rotator: where its binary is, how to make a fresh account on
//! the system it rotates, and how to check credentials there. Then one call runs every
//! [`Clause`], concurrently, each on its own account, secret and process:
//!
//! ```no_run
//! use std::path::PathBuf;
//!
//! use rotation_testkit::{Setup, Target, TargetError, assert_contract, async_trait};
//!
//! /// The `kv-rotator` binary and the key-value service whose users it rotates.
//! struct KvService {
//!     admin_url: String,
//! }
//!
//! #[async_trait]
//! impl Target for KvService {
//!     fn binary(&self) -> PathBuf {
//!         PathBuf::from("target/debug/kv-rotator")
//!     }
//!
//!     async fn new_account(&self, _setup: &Setup) -> Result<String, TargetError> {
//!         let user = format!("app{}", std::process::id());
//!         kv::create_user(&self.admin_url, &user, "First-Password-1").await?;
//!         Ok(serde_json::json!({"username": user, "password": "First-Password-1"}).to_string())
//!     }
//!
//!     async fn check(&self, secret: &str) -> Result<(), TargetError> {
//!         let secret: serde_json::Value = serde_json::from_str(secret)?;
//!         let user = secret["username"].as_str().ok_or("no username")?;
//!         let password = secret["password"].as_str().ok_or("no password")?;
//!         kv::login(&self.admin_url, user, password).await
//!     }
//! }
//!
//! #[tokio::test]
//! async fn the_rotation_contract_holds() {
//!     let target = KvService { admin_url: "kv://127.0.0.1:7000".into() };
//!     let report = assert_contract(&target).await;
//!     println!("{report}");
//! }
//! # mod kv {
//! #     pub async fn create_user(_: &str, _: &str, _: &str) -> Result<(), super::TargetError> { Ok(()) }
//! #     pub async fn login(_: &str, _: &str, _: &str) -> Result<(), super::TargetError> { Ok(()) }
//! # }
//! # fn main() {}
//! ```
//!
//! [`assert_contract`] starts a moto server for the test process on first use (see
//! `rotation-stack`: a Python venv under `target/`); [`Contract::with_endpoint`] uses one that
//! already runs. A failure names each failed clause, what was expected, and the last lines the
//! rotator printed.
//!
//! What the contract does not cover, because it depends on the target: malformed secret
//! values, the target being down or slow, TLS, and what the target's own log shows beyond the
//! secret values. Test those next to the contract.
#![warn(missing_docs)]

mod clauses;
mod contract;
mod runner;
mod target;

pub use async_trait::async_trait;
pub use contract::{Clause, ClauseFailure, Contract, ContractFailure, ContractReport, moto};
pub use runner::assert_contract;
pub use target::{AfterRotation, Setup, Target, TargetError, default_sensitive};

pub use rotation_local;
