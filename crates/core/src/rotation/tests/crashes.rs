//! A crash after every single store call of every step, then a retry of that step and the
//! rest of the rotation: the end state is right, and `AWSCURRENT` never sat on an unproven
//! version in between (every run checks that).
//!
//! A crash is an injected failure: [`Fault::AnswerLost`] lets the call take effect and then
//! fails it (the function died right after the call); [`Fault::Refused`] fails it before it
//! does anything (the function died right before it).

use super::*;
use crate::memory_store::{Call, Fault};

/// Crashes `step` at its `nth` store call; whether the fault fired (the step made that many).
/// With `restart`, the retry runs in a new process (nothing read before is remembered);
/// without, in the same warm process.
async fn crash_then_retry<R: Rotator>(
    fixture: &mut Fixture<R>,
    index: usize,
    nth: usize,
    fault: Fault,
    restart: bool,
) -> bool {
    let step = Step::ALL[index];
    fixture.run_all(first(index)).await;
    let before = fixture.store.calls().len();
    fixture.store.fail_call(nth, fault);
    let crashed = fixture.run(step).await;
    if fixture.store.fault_armed() {
        fixture.store.clear_faults();
        crashed.unwrap_or_else(|error| panic!("{step} without a fault: {error}"));
        return false;
    }
    if crashed.is_ok() {
        // Only a failed read of a value may be absorbed: a prefetched value that failed is
        // read again when needed. A failed DescribeSecret or write must fail the step.
        let hit = fixture.store.calls()[before + nth - 1];
        assert_eq!(
            hit,
            Call::GetValue,
            "{step} hid a failed {hit:?} at call {nth}"
        );
    }
    if restart {
        fixture.rotation.forget_versions();
    }
    fixture
        .run(step)
        .await
        .unwrap_or_else(|error| panic!("{step} retried after a crash at call {nth}: {error}"));
    fixture.run_all(&Step::ALL[index + 1..]).await;
    fixture.assert_rotated();
    true
}

/// Every crash point of every step; returns how many calls each step made.
async fn every_crash<R: Rotator>(fixture: fn() -> Fixture<R>) -> Vec<usize> {
    let mut calls = Vec::new();
    for index in 0..Step::ALL.len() {
        for (fault, restart) in [
            (Fault::AnswerLost, false),
            (Fault::Refused, false),
            (Fault::AnswerLost, true),
            (Fault::Refused, true),
        ] {
            let mut nth = 1;
            while crash_then_retry(&mut fixture(), index, nth, fault, restart).await {
                nth += 1;
            }
            if fault == Fault::AnswerLost && !restart {
                calls.push(nth - 1);
            }
        }
    }
    calls
}

#[tokio::test]
async fn a_crash_after_any_store_call_single_user() {
    let calls = every_crash(single_user).await;
    // describe + get current + get pending + put; then each version is read once per process
    // (the versions cache): setSecret and testSecret only describe; describe + move. Eight
    // calls in all, the target.
    assert_eq!(calls, [4, 1, 1, 2]);
}

#[tokio::test]
async fn a_crash_after_any_store_call_multi_user() {
    let calls = every_crash(multi_user).await;
    // setSecret also reads the master secret: nine calls.
    assert_eq!(calls, [4, 2, 1, 2]);
}
