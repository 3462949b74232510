//! `cargo xtask templates`: the deployment templates' checks, also part of `cargo xtask test`.
//!
//! cfn-lint on every CloudFormation template, checkov on the CloudFormation and Terraform, and
//! `terraform fmt -check` when terraform is installed. cfn-lint and checkov come from PyPI into
//! a venv under `target/` on first use, pinned, so every machine applies the same rules; checkov
//! runs offline (`--skip-download`, no version check).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use rotation_stack::PythonTool;

use crate::{cargo, programs};

/// cfn-lint and checkov, pinned together (checkov depends on cfn-lint).
const TEMPLATE_LINT: PythonTool = PythonTool::new(
    "template-lint",
    &["cfn-lint==1.58.0", "checkov==3.3.30"],
    "cfn-lint",
);

/// Runs every check; fails on the first finding.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask templates");
    }
    check()
}

/// The checks `cargo xtask test` runs.
pub fn check() -> anyhow::Result<()> {
    let root = cargo::workspace_root();
    let templates = root.join("templates");
    let cfn_lint = TEMPLATE_LINT
        .ensure()
        .context("installing cfn-lint and checkov from PyPI")?;
    let checkov = TEMPLATE_LINT.bin_dir().join("checkov");

    let cloudformation = yaml_files(&templates.join("cloudformation"))?;
    if cloudformation.is_empty() {
        bail!("no CloudFormation template under {}", templates.display());
    }
    let mut lint = Command::new(&cfn_lint);
    lint.args(&cloudformation);
    run_checked(lint, &root)?;

    let mut scan = Command::new(&checkov);
    scan.env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
        .args(["--directory", "templates"])
        .args(["--framework", "cloudformation", "terraform"])
        .args(["--quiet", "--compact", "--skip-download"]);
    run_checked(scan, &root)?;

    let terraform = templates.join("terraform");
    if programs::find("terraform").is_some() {
        let mut fmt = Command::new("terraform");
        fmt.args(["fmt", "-check", "-recursive"]).arg(&terraform);
        run_checked(fmt, &root)?;
    } else {
        eprintln!("terraform is not installed: `terraform fmt -check` skipped");
    }
    println!("templates: cfn-lint, checkov and terraform fmt found nothing");
    Ok(())
}

/// The `.yaml` files of a directory, sorted.
fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn run_checked(mut command: Command, dir: &Path) -> anyhow::Result<()> {
    let shown = format!("{command:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = command
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!(
            "{shown} reported findings ({status}); fix them, or suppress one with its reason in templates/README.md"
        );
    }
    Ok(())
}

/// The templates' text, cut into blocks. No YAML or HCL parser is a dependency of the workspace,
/// so each test cuts out one resource and matches its lines.
#[cfg(test)]
mod text {
    pub(super) fn template(path: &str) -> String {
        let file = crate::cargo::workspace_root().join("templates").join(path);
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    }

    /// The lines of a top-level CloudFormation resource (or output), trimmed, up to the next one.
    pub(super) fn cfn_block(text: &str, name: &str) -> Vec<String> {
        let head = format!("  {name}:");
        let mut lines = text.lines().skip_while(|line| *line != head);
        assert!(lines.next().is_some(), "rotator.yaml has no {name}");
        lines
            .take_while(|line| line.is_empty() || line.starts_with("   "))
            .map(|line| line.trim().to_owned())
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    }

    /// The lines of a Terraform block that starts at column 0, trimmed, up to its closing brace.
    pub(super) fn tf_block(text: &str, head: &str) -> Vec<String> {
        let head = format!("{head} {{");
        let mut lines = text.lines().skip_while(|line| *line != head);
        assert!(lines.next().is_some(), "main.tf has no {head}");
        lines
            .take_while(|line| *line != "}")
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    }

    /// Each expected line appears in the block, in this order.
    pub(super) fn assert_in_order(block: &[String], expected: &[&str], what: &str) {
        let mut rest = block.iter();
        for want in expected {
            assert!(
                rest.any(|line| line == want),
                "{what}: `{want}` missing or out of order in\n{}",
                block.join("\n")
            );
        }
    }

    /// A line of the file, its runs of blanks made one space (as `terraform fmt` aligns `=`),
    /// is exactly `want`.
    pub(super) fn assert_has_line(text: &str, want: &str, what: &str) {
        let spaced = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.lines().any(|line| spaced(line) == want),
            "{what}: `{want}` missing"
        );
    }
}

/// The alerting resources, read from the templates' text: a renamed event, metric, dimension or
/// principal fails here before it fails silently in an account.
#[cfg(test)]
mod alerting {
    use super::text::{assert_in_order, cfn_block, template, tf_block};

    const EVENT_NAMES: [&str; 3] = ["RotationFailed", "RotationAbandoned", "TestRotationFailed"];

    #[test]
    fn cloudformation_rule_matches_rotation_failures_of_the_rotated_secrets() {
        let rule = cfn_block(
            &template("cloudformation/rotator.yaml"),
            "RotationFailureRule",
        );
        let mut expected = vec![
            "Type: AWS::Events::Rule",
            "Condition: Alerting",
            "source:",
            "- aws.secretsmanager",
            "detail-type:",
            "- AWS Service Event via CloudTrail",
            "eventSource:",
            "- secretsmanager.amazonaws.com",
            "eventName:",
        ];
        let names: Vec<String> = EVENT_NAMES.iter().map(|n| format!("- {n}")).collect();
        expected.extend(names.iter().map(String::as_str));
        expected.extend([
            "additionalEventData:",
            "SecretId: !If",
            "- HasSecretArns",
            "- !Ref secretArns",
            "- HasOnlyRotationSecret",
            "- [!Ref rotationSecretArn]",
            "- - prefix: !Sub \"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:\"",
            "Arn: !If [HasAlertTopicArn, !Ref alertTopicArn, !Ref AlertTopic]",
        ]);
        assert_in_order(&rule, &expected, "RotationFailureRule");
    }

    #[test]
    fn cloudformation_alarms_watch_errors_and_step_failed() {
        let text = template("cloudformation/rotator.yaml");
        let errors = cfn_block(&text, "ErrorsAlarm");
        assert_in_order(
            &errors,
            &[
                "Type: AWS::CloudWatch::Alarm",
                "Condition: Alerting",
                "Namespace: AWS/Lambda",
                "MetricName: Errors",
                "- Name: FunctionName",
                "Value: !Ref Function",
                "Statistic: Sum",
                "- !If [HasAlertTopicArn, !Ref alertTopicArn, !Ref AlertTopic]",
            ],
            "ErrorsAlarm",
        );
        let step = cfn_block(&text, "StepFailedAlarm");
        assert_in_order(
            &step,
            &[
                "Type: AWS::CloudWatch::Alarm",
                "Condition: Alerting",
                "SELECT SUM(StepFailed) FROM SCHEMA(\"${metricsNamespace}\", Rotator, Step)",
                "WHERE Rotator = '${rotator}'",
                "ReturnData: true",
                "- !If [HasAlertTopicArn, !Ref alertTopicArn, !Ref AlertTopic]",
            ],
            "StepFailedAlarm",
        );
        let namespace = cfn_block(&text, "metricsNamespace");
        assert_in_order(
            &namespace,
            &["Default: SecretsManagerRotation"],
            "metricsNamespace",
        );
    }

    #[test]
    fn cloudformation_topic_lets_only_this_rule_and_these_alarms_publish() {
        let text = template("cloudformation/rotator.yaml");
        let policy = cfn_block(&text, "AlertTopicPolicy");
        assert_in_order(
            &policy,
            &[
                "Condition: CreatesAlertTopic",
                "Service: events.amazonaws.com",
                "Action: sns:Publish",
                "aws:SourceArn: !GetAtt RotationFailureRule.Arn",
                "Service: cloudwatch.amazonaws.com",
                "Action: sns:Publish",
                "- !GetAtt ErrorsAlarm.Arn",
                "- !GetAtt StepFailedAlarm.Arn",
                "aws:SourceAccount: !Ref AWS::AccountId",
            ],
            "AlertTopicPolicy",
        );
        let topic = cfn_block(&text, "AlertTopic");
        assert_in_order(
            &topic,
            &[
                "Type: AWS::SNS::Topic",
                "Condition: CreatesAlertTopic",
                "KmsMasterKeyId: !If [HasAlertTopicKmsKey, !Ref alertTopicKmsKeyArn, !Ref AWS::NoValue]",
            ],
            "AlertTopic",
        );
    }

    #[test]
    fn cloudformation_alerting_is_on_by_default_and_one_switch_turns_it_off() {
        let text = template("cloudformation/rotator.yaml");
        let alerting = cfn_block(&text, "alerting");
        assert_in_order(
            &alerting,
            &["Default: \"true\"", "AllowedValues: [\"true\", \"false\"]"],
            "alerting",
        );
        assert!(text.contains("\n  Alerting: !Equals [!Ref alerting, \"true\"]\n"));
        assert!(text.contains(
            "\n  CreatesAlertTopic: !And\n    - !Condition Alerting\n    - !Equals [!Ref alertTopicArn, \"\"]\n"
        ));
        for name in ["RotationFailureRule", "ErrorsAlarm", "StepFailedAlarm"] {
            assert_in_order(&cfn_block(&text, name), &["Condition: Alerting"], name);
        }
        for name in [
            "AlertTopicArn",
            "RotationFailureRuleArn",
            "ErrorsAlarmName",
            "StepFailedAlarmName",
        ] {
            assert_in_order(&cfn_block(&text, name), &["Condition: Alerting"], name);
        }
    }

    #[test]
    fn terraform_rule_matches_rotation_failures_of_the_rotated_secrets() {
        let text = template("terraform/main.tf");
        let rule = tf_block(
            &text,
            "resource \"aws_cloudwatch_event_rule\" \"rotation_failure\"",
        );
        let names = EVENT_NAMES.map(|n| format!("\"{n}\"")).join(", ");
        let event_names = format!("eventName = [{names}]");
        assert_in_order(
            &rule,
            &[
                "count = var.alerting ? 1 : 0",
                "source = [\"aws.secretsmanager\"]",
                "\"detail-type\" = [\"AWS Service Event via CloudTrail\"]",
                "eventSource = [\"secretsmanager.amazonaws.com\"]",
                &event_names,
                "additionalEventData = {",
                "SecretId = local.alerted_secrets",
            ],
            "aws_cloudwatch_event_rule.rotation_failure",
        );
        for line in [
            "alerted_secrets = jsondecode(local.by_arns ? jsonencode(var.secret_arns) : (",
            "local.invoke_source_arn != null ? jsonencode([local.invoke_source_arn]) : jsonencode([{ prefix = trimsuffix(local.any_secret, \"*\") }])",
        ] {
            assert!(
                text.lines().any(|l| l.trim() == line),
                "main.tf: `{line}` missing"
            );
        }
        let target = tf_block(
            &text,
            "resource \"aws_cloudwatch_event_target\" \"rotation_failure\"",
        );
        assert_in_order(
            &target,
            &[
                "rule = aws_cloudwatch_event_rule.rotation_failure[0].name",
                "arn = local.alert_topic_arn",
            ],
            "aws_cloudwatch_event_target.rotation_failure",
        );
    }

    #[test]
    fn terraform_alarms_watch_errors_and_step_failed() {
        let text = template("terraform/main.tf");
        let errors = tf_block(&text, "resource \"aws_cloudwatch_metric_alarm\" \"errors\"");
        assert_in_order(
            &errors,
            &[
                "count = var.alerting ? 1 : 0",
                "namespace = \"AWS/Lambda\"",
                "metric_name = \"Errors\"",
                "dimensions = { FunctionName = aws_lambda_function.this.function_name }",
                "statistic = \"Sum\"",
                "alarm_actions = [local.alert_topic_arn]",
            ],
            "aws_cloudwatch_metric_alarm.errors",
        );
        let step = tf_block(
            &text,
            "resource \"aws_cloudwatch_metric_alarm\" \"step_failed\"",
        );
        assert_in_order(
            &step,
            &[
                "count = var.alerting ? 1 : 0",
                "alarm_actions = [local.alert_topic_arn]",
                "expression = \"SELECT SUM(StepFailed) FROM SCHEMA(\\\"${var.metrics_namespace}\\\", Rotator, Step) WHERE Rotator = '${var.rotator}'\"",
                "return_data = true",
            ],
            "aws_cloudwatch_metric_alarm.step_failed",
        );
        let namespace = tf_block(
            &template("terraform/variables.tf"),
            "variable \"metrics_namespace\"",
        );
        assert_in_order(
            &namespace,
            &["default = \"SecretsManagerRotation\""],
            "metrics_namespace",
        );
    }

    #[test]
    fn terraform_topic_lets_only_this_rule_and_these_alarms_publish() {
        let text = template("terraform/main.tf");
        let policy = tf_block(&text, "data \"aws_iam_policy_document\" \"alerts\"");
        assert_in_order(
            &policy,
            &[
                "count = local.creates_alert_topic ? 1 : 0",
                "actions = [\"sns:Publish\"]",
                "identifiers = [\"events.amazonaws.com\"]",
                "variable = \"aws:SourceArn\"",
                "values = [aws_cloudwatch_event_rule.rotation_failure[0].arn]",
                "actions = [\"sns:Publish\"]",
                "identifiers = [\"cloudwatch.amazonaws.com\"]",
                "variable = \"aws:SourceArn\"",
                "values = [aws_cloudwatch_metric_alarm.errors[0].arn, aws_cloudwatch_metric_alarm.step_failed[0].arn]",
                "variable = \"aws:SourceAccount\"",
            ],
            "data.aws_iam_policy_document.alerts",
        );
        let topic = tf_block(&text, "resource \"aws_sns_topic\" \"alerts\"");
        assert_in_order(
            &topic,
            &[
                "count = local.creates_alert_topic ? 1 : 0",
                "kms_master_key_id = var.alert_topic_kms_key_arn",
            ],
            "aws_sns_topic.alerts",
        );
        let attached = tf_block(&text, "resource \"aws_sns_topic_policy\" \"alerts\"");
        assert_in_order(
            &attached,
            &["policy = data.aws_iam_policy_document.alerts[0].json"],
            "aws_sns_topic_policy.alerts",
        );
    }

    #[test]
    fn terraform_alerting_is_on_by_default_and_one_switch_turns_it_off() {
        let variables = template("terraform/variables.tf");
        let alerting = tf_block(&variables, "variable \"alerting\"");
        assert_in_order(
            &alerting,
            &["type = bool", "default = true"],
            "variable.alerting",
        );
        let text = template("terraform/main.tf");
        assert!(text.lines().any(|l| l.trim_start()
            == "creates_alert_topic = var.alerting && var.alert_topic_arn == null"));
    }
}

/// Cross-account rotation and the role's network permissions, read from the templates' text: the
/// invoke permissions name the secrets' accounts, the role reaches another account only through
/// the ARNs it is given, and Terraform's `role_arn` replaces the module's role.
#[cfg(test)]
mod cross_account {
    use super::text::{assert_has_line, assert_in_order, cfn_block, template, tf_block};

    /// invokerAccountIds padded with empty items: the n-th account, or "".
    fn cfn_invoker_account(index: usize) -> String {
        format!("!Select [{index}, !Split [\",\", !Sub \"${{invokerAccountIds}},,,\"]]")
    }

    #[test]
    fn cloudformation_invoke_permission_names_the_one_secrets_account() {
        let text = template("cloudformation/rotator.yaml");
        let invoke = cfn_block(&text, "InvokePermission");
        assert_in_order(
            &invoke,
            &[
                "Type: AWS::Lambda::Permission",
                "Action: lambda:InvokeFunction",
                "Principal: !Ref invokingServicePrincipal",
                "SourceAccount: !If",
                "- HasOneSecretArn",
                "- !Select [4, !Split [\":\", !Select [0, !Ref secretArns]]]",
                "- !Ref AWS::AccountId",
                "SourceArn: !If",
                "- HasOneSecretArn",
                "- !Select [0, !Ref secretArns]",
                "- !If [HasOnlyRotationSecret, !Ref rotationSecretArn, !Ref AWS::NoValue]",
            ],
            "InvokePermission",
        );
    }

    #[test]
    fn cloudformation_each_invoker_account_gets_its_own_permission() {
        let text = template("cloudformation/rotator.yaml");
        assert_in_order(
            &cfn_block(&text, "invokerAccountIds"),
            &[
                "Type: String",
                "Default: \"\"",
                "AllowedPattern: \"^$|^[0-9]{12}(,[0-9]{12}){0,2}$\"",
            ],
            "invokerAccountIds",
        );
        for n in 1..=3 {
            let account = cfn_invoker_account(n - 1);
            let condition = format!("HasInvokerAccount{n}: !Not [!Equals [{account}, \"\"]]");
            assert_has_line(&text, &condition, "Conditions");
            let name = format!("InvokePermissionFromAccount{n}");
            let when = format!("Condition: HasInvokerAccount{n}");
            let source = format!("SourceAccount: {account}");
            assert_in_order(
                &cfn_block(&text, &name),
                &[
                    "Type: AWS::Lambda::Permission",
                    &when,
                    "FunctionName: !GetAtt Function.Arn",
                    "Action: lambda:InvokeFunction",
                    "Principal: !Ref invokingServicePrincipal",
                    &source,
                ],
                &name,
            );
        }
        assert_in_order(
            &cfn_block(&text, "InvokerAccountsNeedSecretArns"),
            &[
                "RuleCondition: !Not [!Equals [!Ref invokerAccountIds, \"\"]]",
                "- Assert: !Not [!EachMemberEquals [!Ref secretArns, \"\"]]",
            ],
            "InvokerAccountsNeedSecretArns",
        );
    }

    #[test]
    fn cloudformation_role_reaches_other_accounts_only_through_the_given_arns() {
        let role = cfn_block(&template("cloudformation/rotator.yaml"), "ExecutionRole");
        let via = "kms:ViaService: !Sub secretsmanager.${AWS::Region}.${AWS::URLSuffix}";
        assert_in_order(
            &role,
            &[
                "- Sid: RotatedSecrets",
                "- secretsmanager:UpdateSecretVersionStage",
                "Resource: !If",
                "- HasSecretArns",
                "- !Ref secretArns",
                "- Sid: RotatedSecretsKey",
                "- kms:GenerateDataKey",
                "Resource: !Ref kmsKeyArn",
                via,
                "- Sid: ReadMasterSecret",
                "Resource: !Ref masterSecretArn",
                "- Sid: MasterSecretKey",
                "Resource: !Ref masterSecretKmsKeyArn",
                via,
                "- Sid: UpdateLinkedSecrets",
                "Resource: !Ref linkedSecretArns",
                "- Sid: LinkedSecretsKey",
                "Resource: !Ref linkedSecretsKmsKeyArn",
                via,
            ],
            "ExecutionRole",
        );
    }

    #[test]
    fn cloudformation_vpc_permissions_include_describe_subnets() {
        let role = cfn_block(&template("cloudformation/rotator.yaml"), "ExecutionRole");
        assert_in_order(
            &role,
            &[
                "- PolicyName: vpc-network-interfaces",
                "- Sid: CreateInterfacesInTheseSubnets",
                "Action: ec2:CreateNetworkInterface",
                "- Sid: ManageOwnInterfaces",
                "- ec2:DeleteNetworkInterface",
                "- Sid: DescribeNetwork",
                "- ec2:DescribeNetworkInterfaces",
                "- ec2:DescribeSubnets",
                "Resource: \"*\"",
            ],
            "ExecutionRole vpc-network-interfaces",
        );
    }

    #[test]
    fn terraform_invoke_permissions_name_the_secrets_accounts() {
        let text = template("terraform/main.tf");
        assert_has_line(
            &text,
            "invoke_source_account = length(var.secret_arns) == 1 ? split(\":\", var.secret_arns[0])[4] : local.account_id",
            "main.tf locals",
        );
        assert_in_order(
            &tf_block(&text, "resource \"aws_lambda_permission\" \"invoke\""),
            &[
                "action = \"lambda:InvokeFunction\"",
                "principal = var.invoking_service_principal",
                "source_account = local.invoke_source_account",
                "source_arn = local.invoke_source_arn",
                "condition = length(var.invoker_account_ids) == 0 || local.by_arns",
                "condition = length(var.secret_arns) == 1 || length(setsubtract(local.other_secret_accounts, var.invoker_account_ids)) == 0",
                "condition = length(local.other_secret_accounts) == 0 || var.kms_key_arn != null",
            ],
            "aws_lambda_permission.invoke",
        );
        assert_in_order(
            &tf_block(
                &text,
                "resource \"aws_lambda_permission\" \"invoker_account\"",
            ),
            &[
                "for_each = toset(var.invoker_account_ids)",
                "statement_id = \"SecretsManagerInvokeFrom${each.value}\"",
                "action = \"lambda:InvokeFunction\"",
                "function_name = aws_lambda_function.this.function_name",
                "principal = var.invoking_service_principal",
                "source_account = each.value",
            ],
            "aws_lambda_permission.invoker_account",
        );
        assert_in_order(
            &tf_block(
                &template("terraform/variables.tf"),
                "variable \"invoker_account_ids\"",
            ),
            &[
                "type = list(string)",
                "default = []",
                "condition = alltrue([for id in var.invoker_account_ids : can(regex(\"^[0-9]{12}$\", id))])",
            ],
            "variable.invoker_account_ids",
        );
    }

    #[test]
    fn terraform_role_reaches_other_accounts_only_through_the_given_arns() {
        let policy = tf_block(
            &template("terraform/main.tf"),
            "data \"aws_iam_policy_document\" \"execution\"",
        );
        assert_in_order(
            &policy,
            &[
                "sid = \"RotatedSecrets\"",
                "\"secretsmanager:UpdateSecretVersionStage\",",
                "resources = local.by_arns ? var.secret_arns : [local.any_secret]",
                "for_each = local.kms_grants",
                "resources = [statement.value.key]",
                "variable = \"kms:ViaService\"",
                "values = [local.via_service]",
                "for_each = var.master_secret_arn == null ? [] : [var.master_secret_arn]",
                "resources = [statement.value]",
                "for_each = length(var.linked_secret_arns) == 0 ? [] : [var.linked_secret_arns]",
                "resources = statement.value",
            ],
            "data.aws_iam_policy_document.execution",
        );
    }

    #[test]
    fn terraform_vpc_permissions_include_describe_subnets() {
        let policy = tf_block(
            &template("terraform/main.tf"),
            "data \"aws_iam_policy_document\" \"execution\"",
        );
        assert_in_order(
            &policy,
            &[
                "sid = \"CreateInterfacesInTheseSubnets\"",
                "actions = [\"ec2:CreateNetworkInterface\"]",
                "sid = \"ManageOwnInterfaces\"",
                "sid = \"DescribeNetwork\"",
                "actions = [\"ec2:DescribeNetworkInterfaces\", \"ec2:DescribeSubnets\"]",
                "resources = [\"*\"]",
            ],
            "data.aws_iam_policy_document.execution",
        );
    }

    #[test]
    fn terraform_role_arn_switches_the_modules_role_off() {
        let text = template("terraform/main.tf");
        let off = "count = local.creates_role ? 1 : 0";
        assert_in_order(
            &tf_block(&text, "resource \"aws_iam_role\" \"this\""),
            &[
                off,
                "assume_role_policy = data.aws_iam_policy_document.assume.json",
            ],
            "aws_iam_role.this",
        );
        assert_in_order(
            &tf_block(&text, "resource \"aws_iam_role_policy\" \"this\""),
            &[
                off,
                "role = aws_iam_role.this[0].id",
                "policy = data.aws_iam_policy_document.execution.json",
            ],
            "aws_iam_role_policy.this",
        );
        for line in [
            "creates_role = !(var.role_arn != null)",
            "role_arn = local.creates_role ? aws_iam_role.this[0].arn : var.role_arn",
        ] {
            assert_has_line(&text, line, "main.tf locals");
        }
        assert_in_order(
            &tf_block(&text, "resource \"aws_lambda_function\" \"this\""),
            &["role = local.role_arn"],
            "aws_lambda_function.this",
        );
        let outputs = template("terraform/outputs.tf");
        assert_in_order(
            &tf_block(&outputs, "output \"role_arn\""),
            &["value = local.role_arn"],
            "output.role_arn",
        );
        assert_in_order(
            &tf_block(&outputs, "output \"execution_policy_json\""),
            &["value = data.aws_iam_policy_document.execution.json"],
            "output.execution_policy_json",
        );
        assert_in_order(
            &tf_block(&template("terraform/variables.tf"), "variable \"role_arn\""),
            &["type = string", "default = null"],
            "variable.role_arn",
        );
    }
}

/// Where the function's code comes from, read from the templates' text: a local zip
/// (Terraform's `filename`, the default of the examples) or an S3 object, a release's asset
/// included. The README's deploy commands use these names, so a rename fails here first.
#[cfg(test)]
mod code {
    use super::text::{assert_has_line, assert_in_order, cfn_block, template, tf_block};

    #[test]
    fn cloudformation_takes_the_code_from_an_s3_object_with_an_optional_version() {
        let text = template("cloudformation/rotator.yaml");
        assert_in_order(
            &cfn_block(&text, "codeS3Bucket"),
            &["Type: String", "MinLength: 3"],
            "codeS3Bucket",
        );
        assert_in_order(
            &cfn_block(&text, "codeS3Key"),
            &["Type: String", "MinLength: 1"],
            "codeS3Key",
        );
        assert_in_order(
            &cfn_block(&text, "codeS3ObjectVersion"),
            &["Type: String", "Default: \"\""],
            "codeS3ObjectVersion",
        );
        assert_has_line(
            &text,
            "HasCodeS3ObjectVersion: !Not [!Equals [!Ref codeS3ObjectVersion, \"\"]]",
            "Conditions",
        );
        assert_in_order(
            &cfn_block(&text, "Function"),
            &[
                "Type: AWS::Lambda::Function",
                "Code:",
                "S3Bucket: !Ref codeS3Bucket",
                "S3Key: !Ref codeS3Key",
                "S3ObjectVersion: !If [HasCodeS3ObjectVersion, !Ref codeS3ObjectVersion, !Ref AWS::NoValue]",
            ],
            "Function",
        );
    }

    #[test]
    fn cloudformation_console_lists_the_code_parameters_with_the_function() {
        let text = template("cloudformation/rotator.yaml");
        let interface: Vec<String> = text
            .lines()
            .skip_while(|line| *line != "Metadata:")
            .take_while(|line| *line != "Parameters:")
            .map(|line| line.trim().to_owned())
            .collect();
        assert_in_order(
            &interface,
            &[
                "default: Function",
                "- rotator",
                "- codeS3Bucket",
                "- codeS3Key",
                "- codeS3ObjectVersion",
                "- architecture",
            ],
            "Metadata ParameterGroups",
        );
    }

    #[test]
    fn terraform_takes_the_code_from_a_local_zip_or_an_s3_object() {
        let variables = template("terraform/variables.tf");
        for name in ["filename", "s3_bucket", "s3_key", "s3_object_version"] {
            assert_in_order(
                &tf_block(&variables, &format!("variable \"{name}\"")),
                &["type = string", "default = null"],
                &format!("variable.{name}"),
            );
        }
        assert_in_order(
            &tf_block(
                &template("terraform/main.tf"),
                "resource \"aws_lambda_function\" \"this\"",
            ),
            &[
                "filename = var.filename",
                "source_code_hash = var.filename == null ? null : filebase64sha256(var.filename)",
                "s3_bucket = var.s3_bucket",
                "s3_key = var.s3_key",
                "s3_object_version = var.s3_object_version",
            ],
            "aws_lambda_function.this",
        );
    }

    #[test]
    fn terraform_refuses_anything_but_exactly_one_source() {
        let function = tf_block(
            &template("terraform/main.tf"),
            "resource \"aws_lambda_function\" \"this\"",
        );
        assert_in_order(
            &function,
            &[
                "condition = (var.filename != null) != (var.s3_bucket != null || var.s3_key != null)",
                "condition = (var.s3_bucket == null) == (var.s3_key == null)",
                "condition = var.s3_object_version == null || var.s3_key != null",
            ],
            "aws_lambda_function.this preconditions",
        );
    }
}

/// The README's "Deploy a release" commands, read against the templates and the release
/// workflow: every parameter and variable they give exists, the required ones are all given,
/// and the files they name are the ones the workflow publishes.
#[cfg(test)]
mod release {
    use super::text::template;

    fn readme_section(heading: &str) -> String {
        let file = crate::cargo::workspace_root().join("README.md");
        let readme = std::fs::read_to_string(&file).unwrap();
        let mut lines = readme.lines().skip_while(|line| *line != heading);
        assert!(lines.next().is_some(), "README.md has no {heading}");
        lines
            .take_while(|line| !line.starts_with("## ") && !line.starts_with("### "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The CloudFormation parameters, and whether each has a default.
    fn cfn_parameters() -> Vec<(String, bool)> {
        let text = template("cloudformation/rotator.yaml");
        let mut parameters: Vec<(String, bool)> = Vec::new();
        let section = text
            .lines()
            .skip_while(|line| *line != "Parameters:")
            .skip(1)
            .take_while(|line| line.is_empty() || line.starts_with(' '));
        for line in section {
            if let Some(name) = line
                .strip_prefix("  ")
                .filter(|rest| !rest.starts_with(' '))
                .and_then(|rest| rest.strip_suffix(':'))
            {
                parameters.push((name.to_owned(), false));
            } else if line.starts_with("    Default:")
                && let Some(last) = parameters.last_mut()
            {
                last.1 = true;
            }
        }
        assert!(parameters.len() > 20, "{parameters:?}");
        parameters
    }

    /// The `Name=value` pairs of the section's `aws cloudformation deploy` command.
    fn parameter_overrides(section: &str) -> Vec<String> {
        let joined = section.replace("\\\n", " ");
        let command = joined
            .lines()
            .find(|line| line.starts_with("aws cloudformation deploy"))
            .expect("an `aws cloudformation deploy` command");
        command
            .split_whitespace()
            .skip_while(|word| *word != "--parameter-overrides")
            .skip(1)
            .take_while(|word| !word.starts_with("--"))
            .map(|word| word.split_once('=').expect("Name=value").0.to_owned())
            .collect()
    }

    #[test]
    fn cloudformation_command_gives_real_and_required_parameters() {
        let section = readme_section("### Deploy a release");
        let given = parameter_overrides(&section);
        let parameters = cfn_parameters();
        for name in &given {
            assert!(
                parameters.iter().any(|(parameter, _)| parameter == name),
                "README gives {name}, which rotator.yaml does not have"
            );
        }
        for (parameter, has_default) in &parameters {
            assert!(
                *has_default || given.contains(parameter),
                "README's command lacks the required parameter {parameter}"
            );
        }
        assert!(given.iter().any(|name| name == "codeS3Bucket"), "{given:?}");
        assert!(given.iter().any(|name| name == "codeS3Key"), "{given:?}");
    }

    #[test]
    fn terraform_example_gives_real_variables_and_the_s3_source() {
        let section = readme_section("### Deploy a release");
        let variables = template("terraform/variables.tf");
        let hcl: Vec<&str> = section
            .lines()
            .skip_while(|line| *line != "```hcl")
            .skip(1)
            .take_while(|line| *line != "```")
            .collect();
        let given: Vec<&str> = hcl
            .iter()
            .filter_map(|line| line.split_once('='))
            .map(|(name, _)| name.trim())
            .filter(|name| *name != "source")
            .collect();
        for name in &given {
            let head = format!("variable \"{name}\" {{");
            assert!(
                variables.lines().any(|line| line == head),
                "README gives {name}, which variables.tf does not declare"
            );
        }
        assert!(given.contains(&"s3_bucket") && given.contains(&"s3_key"));
        assert!(!given.contains(&"filename"));
        assert!(given.contains(&"rotator"), "the one required variable");
    }

    #[test]
    fn the_files_named_are_the_ones_the_workflow_publishes() {
        let section = readme_section("### Deploy a release");
        let workflow = std::fs::read_to_string(
            crate::cargo::workspace_root().join(".github/workflows/release.yml"),
        )
        .unwrap();
        let zip = crate::manifest::Zip {
            rotator: "postgres-single-user".into(),
            arch: "arm64",
            path: std::path::PathBuf::new(),
        }
        .release_name();
        assert!(section.contains(&format!("rotation-release/{zip} s3://")));
        assert!(section.contains(&format!("codeS3Key=<tag>/{zip}")));
        let release = workflow
            .lines()
            .skip_while(|line| !line.trim_start().starts_with("gh release create"))
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            workflow.contains("cargo xtask package --release-dir"),
            "the workflow names the zips as manifest.rs does"
        );
        for file in [
            crate::manifest::SUMS,
            crate::manifest::MANIFEST,
            "rotator.yaml",
            "terraform-module.tar.gz",
            "./*.zip",
        ] {
            assert!(
                release.contains(file),
                "gh release create lacks {file}: {release}"
            );
            let named = file.trim_start_matches("./*");
            assert!(section.contains(named), "README does not name {named}");
        }
        assert!(workflow.contains("sha256sum -c --strict SHA256SUMS"));
    }
}
