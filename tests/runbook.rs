//! The README's preflight and runbook, run: each case's `aws` commands (the README's `sh`
//! blocks, read from the README itself so that a changed command is a tested command) with the
//! AWS CLI against moto, in the state the case describes; the checks the preflight fails there
//! are exactly the ones the case names; after the case's recipe the preflight passes and a
//! rotation succeeds.
//!
//! moto's `RotateSecret` with a Lambda ARN cannot invoke the function (moto has no such
//! function): there the test checks that the call reached the secret (moto's "Resource not
//! found for ARN" comes after the secret's checks), then rotates through the local function.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use rotation_e2e::scenarios::{checks, preflight};
use rotation_e2e::*;
use rotation_local::LocalFunction;
use serde_json::{Value, json};

/// One case of the runbook: its title, the checks it says the preflight fails, its commands.
#[derive(Debug)]
struct Case {
    title: String,
    fails: BTreeSet<String>,
    commands: Vec<String>,
}

/// The README's text between a heading and the next heading of the same level.
fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("the README has no {heading:?}"));
    let level = heading.split(' ').next().unwrap();
    let rest = &readme[start + heading.len()..];
    let end = rest.find(&format!("\n{level} ")).unwrap_or(rest.len());
    &rest[..end]
}

/// The `aws` commands of the `sh` blocks of a text (continuation lines joined).
fn commands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for block in text.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let joined = block.replace("\\\n", " ");
        found.extend(
            joined
                .lines()
                .map(str::trim)
                .filter(|line| line.starts_with("aws "))
                .map(str::to_owned),
        );
    }
    found
}

/// The runbook's cases (`####` headings under `### Runbook`).
fn runbook() -> Vec<Case> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("the README");
    let runbook = section(&readme, "### Runbook: a rotation that fails");
    runbook
        .split("\n#### ")
        .skip(1)
        .map(|text| {
            let title = text.lines().next().unwrap().to_owned();
            let fails = text
                .split('`')
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|pair| pair[1].starts_with(" fails"))
                .map(|pair| pair[0].to_owned())
                .collect();
            Case {
                title,
                fails,
                commands: commands(text),
            }
        })
        .collect()
}

fn case<'a>(cases: &'a [Case], title_start: &str) -> &'a Case {
    cases
        .iter()
        .find(|case| case.title.starts_with(title_start))
        .unwrap_or_else(|| panic!("the runbook has no case {title_start:?}: {cases:#?}"))
}

/// Runs one command with the AWS CLI against the stack's moto, in `dir`, with `vars`; returns
/// (success, stdout, stderr).
fn aws(command: &str, dir: &Path, vars: &[(&str, &str)]) -> (bool, String, String) {
    let cli = AWS_CLI.ensure().expect("the AWS CLI installs");
    let bin = cli.parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // AWS CLI v1 pins RDS in us-east-1 to rds.amazonaws.com whatever the endpoint variables say;
    // the RDS commands (create and modify of the same instance) run in another Region.
    let region = if command.starts_with("aws rds ") {
        "eu-west-1"
    } else {
        "us-east-1"
    };
    let output = Command::new("bash")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("AWS_ENDPOINT_URL", stack().moto.endpoint())
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_PAGER", "")
        .envs(vars.iter().copied())
        .output()
        .expect("bash runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// Runs a case's commands but `rotate-secret` (which needs the function: see [`rotate_again`]).
fn run_fixes(case: &Case, dir: &Path, vars: &[(&str, &str)]) {
    for command in case
        .commands
        .iter()
        .filter(|c| !c.contains("rotate-secret"))
    {
        let (ok, stdout, stderr) = aws(command, dir, vars);
        assert!(ok, "{}: `{command}` failed: {stderr}{stdout}", case.title);
    }
}

/// The case's `rotate-secret` commands against moto (they must reach the secret), then the
/// rotation through the local function.
async fn rotate_again(
    world: &World,
    case: &Case,
    function: &LocalFunction,
    arn: &str,
    dir: &Path,
    vars: &[(&str, &str)],
) {
    for command in case.commands.iter().filter(|c| c.contains("rotate-secret")) {
        let (ok, stdout, stderr) = aws(command, dir, vars);
        assert!(
            ok || stderr.contains("Resource not found for ARN"),
            "{}: `{command}`: {stderr}{stdout}",
            case.title
        );
    }
    let report = world.driver.rotate(function, arn).await.unwrap();
    assert!(report.succeeded(), "{}: {report}", case.title);
}

/// The names of the checks a report fails.
fn failing(report: &Value) -> BTreeSet<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["status"] == "fail")
        .map(|check| check["check"].as_str().unwrap().to_owned())
        .collect()
}

/// The runbook's variables for a secret, the version holding AWSPENDING and the function.
fn case_vars<'a>(arn: &'a str, version: &'a str, function_arn: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SECRET", arn),
        ("PENDING_VERSION", version),
        ("FUNCTION_ARN", function_arn),
    ]
}

/// The version holding AWSPENDING alone.
async fn pending_version(world: &World, arn: &str) -> String {
    let labels = world.labels(arn).await;
    labels
        .iter()
        .find(|(_, stages)| {
            stages.iter().any(|s| s == "AWSPENDING") && !stages.iter().any(|s| s == "AWSCURRENT")
        })
        .map(|(version, _)| version.clone())
        .unwrap_or_else(|| panic!("no version holds AWSPENDING alone: {labels:?}"))
}

#[tokio::test]
async fn the_preflight_command_sends_what_the_function_answers() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let text = section(
        &readme,
        "### Preflight: check a secret before turning rotation on",
    );
    let invoke = commands(text)
        .into_iter()
        .find(|command| command.starts_with("aws lambda invoke"))
        .expect("the preflight's aws lambda invoke");
    // moto cannot run the function: the payload the command sends (as the shell expands it)
    // goes to the local function instead.
    let payload = invoke
        .split("--payload ")
        .nth(1)
        .and_then(|rest| rest.split(" report.json").next())
        .expect("a --payload argument");
    let world = World::new().await;
    let (arn, _, _) = world.user_with_secret("pfcli").await;
    let dir = tempdir();
    let (ok, expanded, stderr) = aws(&format!("printf '%s' {payload}"), &dir, &[("SECRET", &arn)]);
    assert!(ok, "{stderr}");
    let function = world.function("postgres-single-user", &[]).await;
    let sent: Value = serde_json::from_str(&expanded).expect("the payload is JSON");
    assert_eq!(sent, json!({"preflight": {"SecretId": arn}}));
    let answer = function.invoke(&sent).await;
    let Outcome::Success(report) = answer.outcome else {
        panic!("the preflight answers: {}", answer.outcome);
    };
    assert_eq!(report["preflight"]["ok"], json!(true), "{report:#}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("runbook-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn every_runbook_case_is_what_the_preflight_says_and_its_commands_recover() {
    let cases = runbook();
    assert_eq!(cases.len(), 4, "{cases:#?}");
    let pending_case = case(&cases, "AWSPENDING left");
    let world = World::new().await;
    let pg = world.postgres();
    let single = world.function("postgres-single-user", &[]).await;
    let multi = world.function("postgres-multi-user", &[]).await;
    let function_arn = single.arn();

    // AWSPENDING left: createSecret ran, then the rotation stopped.
    let (arn, _, _) = world.user_with_secret("rbpending").await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let steps = world
        .driver
        .run_steps(&single, &arn, &token, &["createSecret"])
        .await;
    assert!(steps.succeeded(), "{steps}");
    let report = preflight(&single, &arn).await;
    assert_eq!(failing(&report), pending_case.fails, "{report:#}");
    let fix = &checks(&report, "pending-version")[0]["fix"];
    for command in ["cancel-rotate-secret", "update-secret-version-stage"] {
        assert!(fix.as_str().unwrap().contains(command), "{fix}");
    }
    let dir = tempdir();
    let version = pending_version(&world, &arn).await;
    let vars = case_vars(&arn, &version, &function_arn);
    run_fixes(pending_case, &dir, &vars);
    let report = preflight(&single, &arn).await;
    assert_eq!(report["ok"], json!(true), "{report:#}");
    rotate_again(&world, pending_case, &single, &arn, &dir, &vars).await;

    // A half-changed multi-user pair: setSecret gave the clone its password, then it stopped.
    let half = case(&cases, "A half-changed multi-user pair");
    let (arn, role, password) = world.multi_user_with_secret("rbhalf").await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let steps = world
        .driver
        .run_steps(&multi, &arn, &token, &["createSecret", "setSecret"])
        .await;
    assert!(steps.succeeded(), "{steps}");
    login(pg.port(), &role, &password).await.unwrap();
    let report = preflight(&multi, &arn).await;
    assert_eq!(failing(&report), half.fails, "{report:#}");
    let version = pending_version(&world, &arn).await;
    let vars = case_vars(&arn, &version, &function_arn);
    run_fixes(half, &dir, &vars);
    run_fixes(pending_case, &dir, &vars);
    assert_eq!(preflight(&multi, &arn).await["ok"], json!(true));
    rotate_again(&world, pending_case, &multi, &arn, &dir, &vars).await;

    // Repeated failures: the database's password changed by hand; a rotation fails.
    let stale = case(&cases, "Repeated failures");
    let (arn, role, _) = world.user_with_secret("rbstale").await;
    admin(
        pg,
        &[format!(
            "ALTER ROLE {} PASSWORD 'Changed-By-Hand-1'",
            quote_ident(&role)
        )],
    )
    .await;
    let failed = world.driver.rotate(&single, &arn).await.unwrap();
    assert!(!failed.succeeded(), "{failed}");
    let report = preflight(&single, &arn).await;
    assert_eq!(failing(&report), stale.fails, "{report:#}");
    let mut fixed = world.value(&arn, "AWSCURRENT").await.unwrap();
    fixed["password"] = json!("Changed-By-Hand-1");
    std::fs::write(dir.join("secret.json"), fixed.to_string()).unwrap();
    let version = pending_version(&world, &arn).await;
    let vars = case_vars(&arn, &version, &function_arn);
    run_fixes(stale, &dir, &vars);
    // put-secret-value moved AWSCURRENT to the fixed value; AWSPENDING is still there.
    let version = pending_version(&world, &arn).await;
    let vars = case_vars(&arn, &version, &function_arn);
    run_fixes(pending_case, &dir, &vars);
    let report = preflight(&single, &arn).await;
    assert_eq!(report["ok"], json!(true), "{report:#}");
    rotate_again(&world, pending_case, &single, &arn, &dir, &vars).await;

    // A lost master password: the master secret no longer holds the master's password.
    let lost = case(&cases, "A lost master password");
    let master_role = unique("rbmaster_");
    admin(
        pg,
        &[format!(
            "CREATE ROLE {} LOGIN SUPERUSER PASSWORD 'Master-Old-1'",
            quote_ident(&master_role)
        )],
    )
    .await;
    let instance = unique("rbdb-");
    let (ok, _, stderr) = aws(
        &format!(
            "aws rds create-db-instance --db-instance-identifier {instance} --engine postgres \
             --db-instance-class db.t3.micro --allocated-storage 20 --master-username master \
             --master-user-password Master-Old-1"
        ),
        &dir,
        &[],
    );
    assert!(ok, "{stderr}");
    let mut master = secret_json(pg, &master_role, "Master-Lost-1");
    let master_arn = world
        .create_secret(&unique("rbmaster-"), &master.to_string())
        .await;
    let user = unique("rblost_");
    create_role(pg, &user, "Lost-Child-1").await;
    let mut child = secret_json(pg, &user, "Lost-Child-1");
    child["masterarn"] = json!(master_arn);
    let arn = world
        .create_secret(&unique("rblost-"), &child.to_string())
        .await;
    let failed = world.driver.rotate(&multi, &arn).await.unwrap();
    assert!(!failed.succeeded(), "{failed}");
    let report = preflight(&multi, &arn).await;
    assert_eq!(failing(&report), lost.fails, "{report:#}");
    // What `modify-db-instance --master-user-password` does at RDS, done at the database.
    admin(
        pg,
        &[format!(
            "ALTER ROLE {} PASSWORD 'Master-New-1'",
            quote_ident(&master_role)
        )],
    )
    .await;
    master["password"] = json!("Master-New-1");
    std::fs::write(dir.join("master.json"), master.to_string()).unwrap();
    let version = pending_version(&world, &arn).await;
    let mut vars = case_vars(&arn, &version, &function_arn);
    vars.extend([
        ("MASTER_SECRET", master_arn.as_str()),
        ("DB_INSTANCE", instance.as_str()),
        ("NEW_MASTER_PASSWORD", "Master-New-1"),
    ]);
    run_fixes(lost, &dir, &vars);
    run_fixes(pending_case, &dir, &vars);
    let report = preflight(&multi, &arn).await;
    assert_eq!(report["ok"], json!(true), "{report:#}");
    rotate_again(&world, pending_case, &multi, &arn, &dir, &vars).await;
    let _ = std::fs::remove_dir_all(&dir);
}
