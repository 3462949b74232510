//! The fault proxy between the AWS SDK and a real `moto_server`.

mod support;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use rotation_local::{FaultProxy, SecretsManagerDriver};

#[tokio::test]
async fn throttled_calls_succeed_through_the_sdk_retries() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint)
        .await
        .expect("proxy starts");
    let driver = SecretsManagerDriver::new(&proxy.endpoint()).await;
    support::create_secret(driver.client(), "throttled").await;
    proxy.clear_calls();

    proxy.throttle_next(2, None);
    let value = driver
        .client()
        .get_secret_value()
        .secret_id("throttled")
        .send()
        .await
        .expect("the third attempt gets through");

    assert!(value.secret_string().is_some());
    assert_eq!(proxy.calls(), ["GetSecretValue"; 3]);
}

#[tokio::test]
async fn faults_for_one_operation_let_the_others_through() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint)
        .await
        .expect("proxy starts");
    let driver = SecretsManagerDriver::new(&proxy.endpoint()).await;
    support::create_secret(driver.client(), "flaky").await;
    proxy.clear_calls();

    proxy.fail_next(1, 503, Some("GetSecretValue"));
    driver
        .labels("flaky")
        .await
        .expect("DescribeSecret is not faulted");
    driver
        .client()
        .get_secret_value()
        .secret_id("flaky")
        .send()
        .await
        .expect("the retry gets through");

    assert_eq!(
        proxy.calls(),
        ["DescribeSecret", "GetSecretValue", "GetSecretValue"]
    );
}

#[tokio::test]
async fn throttling_beyond_the_retries_reaches_the_caller_as_throttling() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint)
        .await
        .expect("proxy starts");
    let driver = SecretsManagerDriver::new(&proxy.endpoint()).await;

    proxy.throttle_next(10, Some("ListSecrets"));
    let error = driver
        .client()
        .list_secrets()
        .send()
        .await
        .expect_err("every attempt is throttled");

    assert_eq!(error.code(), Some("ThrottlingException"));
    assert_eq!(error.message(), Some("Rate exceeded"));
    assert_eq!(
        proxy.calls().len(),
        3,
        "the SDK's standard mode tries 3 times"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway_not_a_hang() {
    // Port 1 on loopback refuses connections.
    let proxy = FaultProxy::start("http://127.0.0.1:1")
        .await
        .expect("proxy starts");
    let driver = SecretsManagerDriver::new(&proxy.endpoint()).await;
    let error = driver
        .client()
        .list_secrets()
        .send()
        .await
        .expect_err("nothing behind the proxy");
    assert_eq!(error.code(), Some("BadGateway"), "{error:?}");
}
