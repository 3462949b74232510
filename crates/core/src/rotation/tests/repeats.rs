//! Every step run twice in a row: the second run succeeds and changes nothing.

use super::*;

async fn each_step_twice<R: Rotator>(fixture: Fixture<R>) {
    let again = [
        StepOutcome::PendingExists,
        StepOutcome::Done,
        StepOutcome::Done,
        StepOutcome::AlreadyCurrent,
    ];
    for (step, expected) in Step::ALL.into_iter().zip(again) {
        fixture.run(step).await.unwrap();
        let after_first = fixture.snapshot();
        let outcome = fixture.run(step).await.unwrap();
        assert_eq!(outcome, expected, "{step} again");
        assert!(
            fixture.snapshot() == after_first,
            "{step} again changed something"
        );
    }
    fixture.assert_rotated();
}

#[tokio::test]
async fn every_step_twice_single_user() {
    each_step_twice(single_user()).await;
}

#[tokio::test]
async fn every_step_twice_multi_user() {
    each_step_twice(multi_user()).await;
}
