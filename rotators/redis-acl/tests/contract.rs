//! `redis-acl` through the whole rotation contract (`rotation-testkit`), single-user and
//! multi-user, against a private Redis (`rotation-stack`), checked with a RESP client of the
//! test's own so that the rotator is not its own witness.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use rotation_stack::{Lifetime, RedisServer};
use rotation_testkit::{AfterRotation, Contract, Setup, Target, TargetError, async_trait};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The Redis shared by the tests of this binary.
fn redis() -> &'static RedisServer {
    static REDIS: OnceLock<RedisServer> = OnceLock::new();
    REDIS.get_or_init(|| {
        RedisServer::start(Lifetime::WithProcess)
            .unwrap_or_else(|error| panic!("cannot start Redis: {error}"))
    })
}

/// `redis-acl`, built by cargo next to this test binary.
fn rotator_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> -> target/<profile>/redis-acl
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps")
        .join("redis-acl");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p redis-acl`",
        path.display()
    );
    path
}

/// A name no other account uses: `prefix` and 8 random hex digits.
fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 4];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("urandom"),
        &mut bytes,
    )
    .expect("random bytes");
    format!("{prefix}{:08x}", u32::from_le_bytes(bytes))
}

/// Sends the commands on one connection and returns the one-line replies, in order.
async fn exchange(commands: &[&[&str]]) -> Result<Vec<String>, TargetError> {
    let mut stream = TcpStream::connect((redis().host(), redis().port())).await?;
    let mut request = Vec::new();
    for parts in commands {
        request.extend(format!("*{}\r\n", parts.len()).into_bytes());
        for part in *parts {
            request.extend(format!("${}\r\n", part.len()).into_bytes());
            request.extend(part.as_bytes());
            request.extend(b"\r\n");
        }
    }
    stream.write_all(&request).await?;
    let mut answer = String::new();
    let mut buffer = [0; 1024];
    while answer.matches("\r\n").count() < commands.len() {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .map_err(|_| "Redis did not answer within 5 s")??;
        if read == 0 {
            return Err(format!("Redis closed the connection after {answer:?}").into());
        }
        answer.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    Ok(answer.lines().map(str::to_owned).collect())
}

/// Runs one command as the administrative user; it must answer `+OK`.
async fn admin(command: &[&str]) -> Result<(), TargetError> {
    let replies = exchange(&[
        &["AUTH", redis().admin_user(), redis().admin_password()],
        command,
    ])
    .await?;
    if replies != ["+OK", "+OK"] {
        return Err(format!("{} answered {replies:?}", command[..2].join(" ")).into());
    }
    Ok(())
}

/// The rotator in one of its two modes.
#[derive(Clone, Copy, Debug)]
struct RedisAcl {
    multi_user: bool,
}

#[async_trait]
impl Target for RedisAcl {
    fn binary(&self) -> PathBuf {
        rotator_binary()
    }

    async fn new_account(&self, setup: &Setup) -> Result<String, TargetError> {
        let user = unique("u");
        let password = unique("Initial-Pass-");
        let rules: &[&str] = if self.multi_user {
            // The rotated user needs no ACL rights; a narrow set shows the clone copies them.
            &["~app:*", "&news", "-@all", "+@read", "+@write", "+ping"]
        } else {
            // Single-user: it changes its own password, which takes acl|setuser (in +@all).
            &["~*", "&*", "+@all"]
        };
        let new_password = format!(">{password}");
        let mut command = vec!["ACL", "SETUSER", &user, "on", &new_password];
        command.extend(rules);
        admin(&command).await?;
        let mut value = json!({
            "host": redis().host(),
            "port": redis().port(),
            "username": user,
            "password": password,
            "note": "kept as it is",
        });
        if self.multi_user {
            // The operator's master secret names its server: a master secret without `host`
            // is only used where MASTER_HOSTS says.
            let master = json!({
                "host": redis().host(),
                "port": redis().port(),
                "username": redis().admin_user(),
                "password": redis().admin_password(),
            });
            value["masterarn"] = json!(setup.create_secret("master-", &master.to_string()).await?);
        }
        Ok(value.to_string())
    }

    async fn check(&self, secret: &str) -> Result<(), TargetError> {
        let secret: Value = serde_json::from_str(secret)?;
        let user = secret["username"].as_str().ok_or("no username")?;
        let password = secret["password"].as_str().ok_or("no password")?;
        let replies = exchange(&[&["AUTH", user, password], &["PING"]]).await?;
        if replies != ["+OK", "+PONG"] {
            return Err(format!("{user} cannot log in: {}", replies.join(" ")).into());
        }
        Ok(())
    }

    fn after_rotation(&self) -> AfterRotation {
        if self.multi_user {
            AfterRotation::PreviousKept
        } else {
            AfterRotation::PreviousRevoked
        }
    }

    async fn target_log(&self) -> Result<Option<String>, TargetError> {
        Ok(Some(std::fs::read_to_string(redis().log_path())?))
    }
}

async fn assert_contract(target: RedisAcl) {
    match Contract::new().await.run(&target).await {
        Ok(report) => eprintln!("{target:?}: {report}"),
        Err(failure) => panic!("{target:?}: {failure}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_keeps_the_rotation_contract() {
    assert_contract(RedisAcl { multi_user: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_user_keeps_the_rotation_contract() {
    assert_contract(RedisAcl { multi_user: true }).await;
}
