//! The runner: every clause against one target, concurrently, and what came of it.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::clauses;
use crate::contract::{
    Clause, ClauseFailure, ClauseRun, Contract, ContractFailure, ContractReport, Evidence,
};
use crate::target::Target;

impl Contract {
    /// Checks every clause of the contract against `target`, the clauses concurrently, each on
    /// its own account, secret and rotator process. All clauses run, even after a failure.
    pub async fn run(&self, target: &dyn Target) -> Result<ContractReport, ContractFailure> {
        let started = Instant::now();
        let checked = Clause::ALL
            .into_iter()
            .filter(|clause| *clause != Clause::NoSecretInLogs)
            .map(|clause| self.run_clause(target, clause));
        let mut evidence = Evidence::default();
        let mut passed = Vec::new();
        let mut failures = Vec::new();
        for (clause, took, mut found, result) in join_all(checked).await {
            match result {
                Ok(()) => passed.push((clause, took)),
                Err(message) => failures.push(ClauseFailure {
                    clause,
                    message,
                    output: found.output(),
                }),
            }
            evidence.absorb(&mut found);
        }
        let logs_started = Instant::now();
        match clauses::no_secret_in_logs(self, target, &evidence).await {
            Ok(()) => passed.push((Clause::NoSecretInLogs, logs_started.elapsed())),
            Err(message) => failures.push(ClauseFailure {
                clause: Clause::NoSecretInLogs,
                message,
                output: String::new(),
            }),
        }
        if failures.is_empty() {
            Ok(ContractReport {
                passed,
                total: started.elapsed(),
            })
        } else {
            Err(ContractFailure { failures })
        }
    }

    async fn run_clause(
        &self,
        target: &dyn Target,
        clause: Clause,
    ) -> (Clause, Duration, Evidence, Result<(), String>) {
        let started = Instant::now();
        let mut evidence = Evidence::default();
        let mut run = ClauseRun {
            contract: self,
            target,
            clause,
            evidence: &mut evidence,
        };
        let result = clauses::check(&mut run).await;
        (clause, started.elapsed(), evidence, result)
    }
}

/// Runs the whole contract against `target` with [`Contract::new`] and panics with every
/// failed clause, the reason and the rotator's output.
pub async fn assert_contract(target: &dyn Target) -> ContractReport {
    match Contract::new().await.run(target).await {
        Ok(report) => report,
        Err(failure) => panic!("{failure}"),
    }
}
