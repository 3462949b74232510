//! Copying the original's ACL rules to the clone, end to end: the real `redis-acl` binary,
//! moto's Secrets Manager and a private Redis (`rotation-stack`), with a user whose key and
//! channel patterns carry a payload. Redis refuses ASCII whitespace in a pattern but accepts
//! any other byte, so a pattern may hold `U+00A0` (no-break space) followed by `+@all`: a
//! copier that re-splits the printed rules on Unicode whitespace would hand the clone every
//! command. The test's own RESP client checks what the clone may do (`ACL DRYRUN`), so that
//! the rotator is not its own witness.

use std::time::Duration;

use rotation_stack::{Lifetime, RedisServer};
use rotation_testkit::rotation_local::{
    FunctionOptions, LocalFunction, RotationReport, SecretsManagerDriver,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The Redis of this test binary.
fn redis() -> &'static RedisServer {
    static REDIS: std::sync::OnceLock<RedisServer> = std::sync::OnceLock::new();
    REDIS.get_or_init(|| {
        RedisServer::start(Lifetime::WithProcess)
            .unwrap_or_else(|error| panic!("cannot start Redis: {error}"))
    })
}

/// A name no other account uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .subsec_nanos();
    format!("{prefix}{nanos:08x}{:x}", std::process::id())
}

/// A reply, as far as the test needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    /// `+…`, `-…` and `:…` lines, with their type byte.
    Line(String),
    /// A bulk string's bytes (`None` for a null one).
    Bulk(Option<Vec<u8>>),
    /// An array (`None` for a null one).
    Array(Option<Vec<Reply>>),
}

/// A connection of the test, authenticated as Redis's administrative user.
struct Admin(BufReader<TcpStream>);

impl Admin {
    async fn connect() -> Admin {
        let stream = TcpStream::connect((redis().host(), redis().port()))
            .await
            .expect("Redis accepts connections");
        let mut admin = Admin(BufReader::new(stream));
        let reply = admin
            .call(&["AUTH", redis().admin_user(), redis().admin_password()])
            .await;
        assert_eq!(reply, Reply::Line("+OK".into()));
        admin
    }

    async fn call(&mut self, parts: &[&str]) -> Reply {
        let mut request = format!("*{}\r\n", parts.len()).into_bytes();
        for part in parts {
            request.extend(format!("${}\r\n", part.len()).into_bytes());
            request.extend(part.as_bytes());
            request.extend(b"\r\n");
        }
        self.0.get_mut().write_all(&request).await.expect("write");
        tokio::time::timeout(Duration::from_secs(5), self.read())
            .await
            .expect("Redis answers within 5 s")
    }

    fn read(&mut self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + '_>> {
        Box::pin(async move {
            let mut line = String::new();
            self.0.read_line(&mut line).await.expect("a reply line");
            let line = line.trim_end_matches("\r\n").to_owned();
            let (kind, rest) = line.split_at(1);
            match kind {
                "$" => {
                    let length: i64 = rest.parse().expect("a bulk length");
                    if length < 0 {
                        return Reply::Bulk(None);
                    }
                    let mut bytes = vec![0; length as usize + 2];
                    self.0.read_exact(&mut bytes).await.expect("a bulk string");
                    bytes.truncate(length as usize);
                    Reply::Bulk(Some(bytes))
                }
                "*" => {
                    let length: i64 = rest.parse().expect("an array length");
                    if length < 0 {
                        return Reply::Array(None);
                    }
                    let mut items = Vec::new();
                    for _ in 0..length {
                        items.push(self.read().await);
                    }
                    Reply::Array(Some(items))
                }
                _ => Reply::Line(line),
            }
        })
    }

    /// Whether `ACL DRYRUN` lets `user` run `command`.
    async fn may(&mut self, user: &str, command: &[&str]) -> bool {
        let mut parts = vec!["ACL", "DRYRUN", user];
        parts.extend(command);
        self.call(&parts).await == Reply::Line("+OK".into())
    }

    /// `ACL GETUSER`'s keys, channels, commands and selectors of a user.
    async fn permissions(&mut self, user: &str) -> Vec<(String, Reply)> {
        let Reply::Array(Some(items)) = self.call(&["ACL", "GETUSER", user]).await else {
            panic!("ACL GETUSER {user} answered no map");
        };
        items
            .chunks(2)
            .filter_map(|pair| match &pair[0] {
                Reply::Bulk(Some(name)) => {
                    let name = String::from_utf8_lossy(name).into_owned();
                    ["keys", "channels", "commands", "selectors"]
                        .contains(&name.as_str())
                        .then(|| (name, pair[1].clone()))
                }
                _ => None,
            })
            .collect()
    }
}

/// What the test asks `ACL DRYRUN` about: commands the payload would grant, and the one
/// command the original may run.
const PROBES: [&[&str]; 6] = [
    &["FLUSHALL"],
    &["CONFIG", "GET", "maxmemory"],
    &["ACL", "SETUSER", "anyone", "on", "+@all"],
    &["SET", "other", "1"],
    &["GET", "app:1"],
    &["GET", "app:1\u{a0}+@all"],
];

/// Rotates `user` as a multi-user secret (the master is Redis's administrative user) through
/// the real binary; the report of the four steps.
async fn rotate_multi_user(user: &str, password: &str) -> RotationReport {
    let moto = rotation_testkit::moto();
    let driver = SecretsManagerDriver::new(&moto.endpoint()).await;
    let create = |name: String, value: String| {
        let client = driver.client().clone();
        async move {
            client
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .expect("CreateSecret works")
                .arn()
                .expect("moto returns an ARN")
                .to_owned()
        }
    };
    let master = json!({
        "host": redis().host(), "port": redis().port(),
        "username": redis().admin_user(), "password": redis().admin_password(),
    });
    let master_arn = create(unique("master-"), master.to_string()).await;
    let child = json!({
        "host": redis().host(), "port": redis().port(),
        "username": user, "password": password, "masterarn": master_arn,
    });
    let arn = create(unique("child-"), child.to_string()).await;
    let binary = std::env::current_exe()
        .expect("the test binary has a path")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps")
        .join("redis-acl");
    let endpoint = moto.endpoint();
    let env = [
        ("SECRETS_MANAGER_ENDPOINT", endpoint.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let function = LocalFunction::start(
        &binary,
        FunctionOptions {
            name: "redis-acl-copy".into(),
            timeout: Duration::from_secs(30),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    )
    .await
    .expect("the rotator starts");
    driver
        .rotate(&function, &arn)
        .await
        .expect("rotation starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_pattern_carrying_rules_gives_the_clone_no_more_rights_than_the_original() {
    let user = unique("u");
    let clone = format!("{user}_clone");
    let password = unique("Initial-Pass-");
    let mut admin = Admin::connect().await;
    // Patterns whose text, re-split on Unicode whitespace, reads as `+@all`: at the top level
    // and in a selector. Redis accepts them (it refuses only ASCII whitespace).
    let new_password = format!(">{password}");
    let created = admin
        .call(&[
            "ACL",
            "SETUSER",
            &user,
            "on",
            &new_password,
            "~app:1\u{a0}+@all",
            "&news\u{2003}+@all",
            "-@all",
            "+get",
            // testSecret logs in as the clone and runs PING.
            "+ping",
            "(~sel\u{a0}+@all %R~r\u{a0}allkeys -@all +get)",
        ])
        .await;
    assert_eq!(created, Reply::Line("+OK".into()));
    let mut original_may = Vec::new();
    for probe in PROBES {
        original_may.push(admin.may(&user, probe).await);
    }
    assert_eq!(
        original_may,
        [false, false, false, false, false, true],
        "the original may only GET its one odd key"
    );

    let report = rotate_multi_user(&user, &password).await;

    // Whatever the rotation did, the clone may do no more than the original.
    let mut clone_may = Vec::new();
    for probe in PROBES {
        clone_may.push(admin.may(&clone, probe).await);
    }
    for ((probe, original), clone) in PROBES.iter().zip(&original_may).zip(&clone_may) {
        assert!(
            !clone || *original,
            "the clone may run {probe:?}, which the original may not"
        );
    }
    // And it succeeded, with the rules copied exactly.
    assert!(report.succeeded(), "{report}");
    assert_eq!(clone_may, original_may);
    assert_eq!(
        admin.permissions(&clone).await,
        admin.permissions(&user).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_argument_holding_a_space_fails_the_rotation_and_gives_the_clone_nothing() {
    let user = unique("f");
    let clone = format!("{user}_clone");
    let password = unique("Initial-Pass-");
    let mut admin = Admin::connect().await;
    // Redis 7 accepts a space in a first-argument rule and prints it as it is:
    // `-@all +ping +select|a +@all`, which reads as `+@all` when split.
    let new_password = format!(">{password}");
    let created = admin
        .call(&[
            "ACL",
            "SETUSER",
            &user,
            "on",
            &new_password,
            "~app:*",
            "-@all",
            "+ping",
            "+select|a +@all",
        ])
        .await;
    assert_eq!(created, Reply::Line("+OK".into()));
    assert!(!admin.may(&user, &["FLUSHALL"]).await);

    let report = rotate_multi_user(&user, &password).await;
    let failure = report.failure().expect("the rotation must fail");
    assert_eq!(failure.step, "setSecret", "{report}");
    let text = format!("{:?}", failure.invocation.outcome);
    assert!(text.contains("first-argument rule"), "{text}");
    assert!(!admin.may(&clone, &["FLUSHALL"]).await);
    assert!(!text.contains(&password), "the password in an error");
}
