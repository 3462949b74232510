# One Secrets Manager rotation Lambda (a Rust rotator built by cargo-lambda, runtime
# provided.al2023), its least-privilege execution role (or the caller's, role_arn), its log group,
# the invoke permissions for Secrets Manager and an optional rotation schedule. Same resources
# and permissions as templates/cloudformation/rotator.yaml.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  dns_suffix = data.aws_partition.current.dns_suffix

  # Built rather than read from the function, which needs the role first.
  function_arn  = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.function_name}"
  log_group     = "/aws/lambda/${var.function_name}"
  any_secret    = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:*"
  any_interface = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"
  via_service   = "secretsmanager.${local.region}.${local.dns_suffix}"

  # One KMS statement per key given: the rotated secrets' (read and write), the master secret's
  # (read) and the linked secrets' (read and write).
  kms_grants = {
    for sid, grant in {
      RotatedSecretsKey = { key = var.kms_key_arn, actions = ["kms:Decrypt", "kms:GenerateDataKey"] }
      MasterSecretKey   = { key = var.master_secret_kms_key_arn, actions = ["kms:Decrypt"] }
      LinkedSecretsKey  = { key = var.linked_secrets_kms_key_arn, actions = ["kms:Decrypt", "kms:GenerateDataKey"] }
    } : sid => grant if grant.key != null
  }

  by_arns = length(var.secret_arns) > 0
  by_tag  = var.secret_tag_key != null
  in_vpc  = length(var.vpc_subnet_ids) > 0

  # The one secret the function is for, when the configuration names exactly one (secret_arns
  # with one ARN, or rotation_secret_arn alone): the invoke permission's source_arn.
  invoke_source_arn = length(var.secret_arns) == 1 ? var.secret_arns[0] : (
    !local.by_arns && !local.by_tag ? var.rotation_secret_arn : null
  )
  # Its account (another one for cross-account rotation), else this account.
  invoke_source_account = length(var.secret_arns) == 1 ? split(":", var.secret_arns[0])[4] : local.account_id

  # Accounts of the secret ARNs other than this one: cross-account rotation.
  other_secret_accounts = toset([for arn in var.secret_arns : split(":", arn)[4] if split(":", arn)[4] != local.account_id])

  # The module's role, or the caller's (role_arn). Written as !(... != null): with
  # `var.role_arn == null` checkov 3.3.30 leaves the role and its policy out of its scan
  # (measured: six checks fewer).
  creates_role = !(var.role_arn != null)
  role_arn     = local.creates_role ? aws_iam_role.this[0].arn : var.role_arn

  multi_user = contains(["postgres-multi-user", "mysql-multi-user"], var.rotator)

  # null (or, except EXCLUDE_CHARACTERS, empty) leaves a variable unset: the rotator's default.
  settings = {
    SECRETS_MANAGER_ENDPOINT      = var.endpoint
    PASSWORD_LENGTH               = var.password_length == null ? null : tostring(var.password_length)
    EXCLUDE_NUMBERS               = var.exclude_numbers == null ? null : tostring(var.exclude_numbers)
    EXCLUDE_PUNCTUATION           = var.exclude_punctuation == null ? null : tostring(var.exclude_punctuation)
    EXCLUDE_UPPERCASE             = var.exclude_uppercase == null ? null : tostring(var.exclude_uppercase)
    EXCLUDE_LOWERCASE             = var.exclude_lowercase == null ? null : tostring(var.exclude_lowercase)
    REQUIRE_EACH_INCLUDED_TYPE    = var.require_each_included_type == null ? null : tostring(var.require_each_included_type)
    DATABASE_CONNECT_TIMEOUT      = var.database_connect_timeout == null ? null : tostring(var.database_connect_timeout)
    DATABASE_STATEMENT_TIMEOUT    = var.database_statement_timeout == null ? null : tostring(var.database_statement_timeout)
    USERNAME_CHARACTER_LIMIT      = var.username_character_limit == null ? null : tostring(var.username_character_limit)
    MYSQL_RETAIN_CURRENT_PASSWORD = var.mysql_retain_current_password == null ? null : tostring(var.mysql_retain_current_password)
    ROTATION_STRATEGY             = var.rotation_strategy
    REPLICA_WAIT_SECONDS          = var.replica_wait_seconds == null ? null : tostring(var.replica_wait_seconds)
    REPLICA_CONCURRENCY           = var.replica_concurrency == null ? null : tostring(var.replica_concurrency)
    API_KEY_PROFILE               = var.api_key_profile
    API_KEY_REVOKE_AT_ONCE        = var.api_key_revoke_at_once == null ? null : tostring(var.api_key_revoke_at_once)
    API_KEY_ALLOW_HTTP            = var.api_key_allow_http == null ? null : tostring(var.api_key_allow_http)
    MASTER_HOSTS                  = var.master_hosts
    MASTER_SECRET_ARNS            = var.master_secret_arn
    SECRETS_MANAGER_MAX_ATTEMPTS  = var.secrets_manager_max_attempts == null ? null : tostring(var.secrets_manager_max_attempts)
    ROTATION_METRICS_NAMESPACE    = var.metrics_namespace
    RUST_LOG                      = var.log_level
  }
  environment = merge(
    { for name, value in local.settings : name => value if value != null && value != "" },
    var.exclude_characters == null ? {} : { EXCLUDE_CHARACTERS = var.exclude_characters },
  )
}

# ---- Execution role -----------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteOwnLogGroup"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group}:*"]
  }

  # The rotated secrets: exactly these ARNs, or those with the tag, or (default) those whose
  # rotation function is this one.
  statement {
    sid    = "RotatedSecrets"
    effect = "Allow"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = local.by_arns ? var.secret_arns : [local.any_secret]

    dynamic "condition" {
      for_each = local.by_arns ? [] : [1]
      content {
        test     = "StringEquals"
        variable = local.by_tag ? "secretsmanager:ResourceTag/${var.secret_tag_key}" : "secretsmanager:resource/AllowRotationLambdaArn"
        values   = [local.by_tag ? coalesce(var.secret_tag_value, "-") : local.function_arn]
      }
    }
  }

  # The KMS keys of the rotated, master and linked secrets, each used only through Secrets Manager.
  dynamic "statement" {
    for_each = local.kms_grants
    content {
      sid       = statement.key
      effect    = "Allow"
      actions   = statement.value.actions
      resources = [statement.value.key]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.via_service]
      }
    }
  }

  dynamic "statement" {
    for_each = var.master_secret_arn == null ? [] : [var.master_secret_arn]
    content {
      sid    = "ReadMasterSecret"
      effect = "Allow"
      # DescribeSecret: its tags name the RDS database of a master secret that RDS manages.
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [statement.value]
    }
  }

  # A master secret of RDS's form is resolved through the RDS API unless master_hosts is given.
  dynamic "statement" {
    for_each = var.master_secret_arn != null && var.master_hosts == null && var.rotator != "api-key" ? [1] : []
    content {
      sid     = "FindMasterEndpoint"
      effect  = "Allow"
      actions = ["rds:DescribeDBInstances", "rds:DescribeDBClusters"]
      resources = [
        "arn:${local.partition}:rds:${local.region}:${local.account_id}:db:*",
        "arn:${local.partition}:rds:${local.region}:${local.account_id}:cluster:*",
      ]
    }
  }

  dynamic "statement" {
    for_each = length(var.linked_secret_arns) == 0 ? [] : [var.linked_secret_arns]
    content {
      sid       = "UpdateLinkedSecrets"
      effect    = "Allow"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
      resources = statement.value
    }
  }

  # VPC: Lambda creates the function's network interfaces with this role.
  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []
    content {
      sid     = "CreateInterfacesInTheseSubnets"
      effect  = "Allow"
      actions = ["ec2:CreateNetworkInterface"]
      # Subnet and security group IDs are unique; the account is left open for shared VPCs.
      resources = concat(
        [local.any_interface],
        formatlist("arn:${local.partition}:ec2:${local.region}:*:subnet/%s", var.vpc_subnet_ids),
        formatlist("arn:${local.partition}:ec2:${local.region}:*:security-group/%s", var.vpc_security_group_ids),
      )
    }
  }

  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []
    content {
      sid       = "ManageOwnInterfaces"
      effect    = "Allow"
      actions   = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
      resources = [local.any_interface]
    }
  }

  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []
    content {
      sid     = "DescribeNetwork"
      effect  = "Allow"
      actions = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
      # Neither supports a resource-level permission. DescribeSubnets: as AWS's
      # AWSLambdaVPCAccessExecutionRole.
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []
    content {
      sid     = "WriteTraces"
      effect  = "Allow"
      actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      # X-Ray's write actions support no resource-level permission.
      resources = ["*"]
    }
  }

  lifecycle {
    precondition {
      condition     = (var.secret_tag_key == null) == (var.secret_tag_value == null)
      error_message = "secret_tag_key and secret_tag_value go together."
    }
    precondition {
      condition     = !(local.by_tag && local.by_arns)
      error_message = "Give secret_arns or secret_tag_key/secret_tag_value, not both."
    }
  }
}

# With role_arn the module creates neither the role nor its policy; the policy document above
# is still built (output execution_policy_json) and lists what that role needs.
resource "aws_iam_role" "this" {
  count = local.creates_role ? 1 : 0

  name_prefix          = substr("${var.function_name}-", 0, 38)
  description          = "Execution role of the Secrets Manager rotation function ${var.function_name} (${var.rotator})"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "this" {
  count = local.creates_role ? 1 : 0

  name   = "rotation"
  role   = aws_iam_role.this[0].id
  policy = data.aws_iam_policy_document.execution.json
}

# ---- Function -----------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:A dead-letter queue catches failed asynchronous invocations only; Secrets Manager invokes the rotation function synchronously and retries a failed rotation itself.
  function_name = var.function_name
  description   = "Secrets Manager rotation function (${var.rotator})"
  role          = local.role_arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename          = var.filename
  source_code_hash  = var.filename == null ? null : filebase64sha256(var.filename)
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version

  reserved_concurrent_executions = var.reserved_concurrent_executions
  code_signing_config_arn        = var.code_signing_config_arn
  kms_key_arn                    = var.environment_kms_key_arn

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  dynamic "environment" {
    for_each = length(local.environment) > 0 ? [1] : []
    content {
      variables = local.environment
    }
  }

  tags = var.tags

  # The ENI permissions must exist before Lambda creates the network interfaces, and the log
  # group before the first invocation.
  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]

  lifecycle {
    precondition {
      condition     = var.role_arn == null || var.permissions_boundary_arn == null
      error_message = "permissions_boundary_arn is for the role the module creates; leave it null with role_arn."
    }
    precondition {
      condition     = (var.filename != null) != (var.s3_bucket != null || var.s3_key != null)
      error_message = "Give the code from one place: filename (a local zip), or s3_bucket and s3_key (an uploaded one, e.g. a release's asset)."
    }
    precondition {
      condition     = (var.s3_bucket == null) == (var.s3_key == null)
      error_message = "s3_bucket and s3_key go together: give both, or neither with filename."
    }
    precondition {
      condition     = var.s3_object_version == null || var.s3_key != null
      error_message = "s3_object_version is the version of the object s3_bucket/s3_key names; leave it null with filename."
    }
    precondition {
      condition     = !local.multi_user || var.master_secret_arn != null
      error_message = "postgres-multi-user and mysql-multi-user need master_secret_arn (the secret named by masterarn)."
    }
    precondition {
      condition     = var.master_secret_arn == null || contains(["postgres-multi-user", "mysql-multi-user", "replica-fanout", "api-key", "custom"], var.rotator)
      error_message = "Single-user rotators never read a master secret; leave master_secret_arn null."
    }
    precondition {
      condition     = var.master_secret_kms_key_arn == null || var.master_secret_arn != null
      error_message = "master_secret_kms_key_arn needs master_secret_arn."
    }
    precondition {
      condition     = var.rotation_strategy != "multi-user" || var.master_secret_arn != null
      error_message = "rotation_strategy multi-user needs master_secret_arn."
    }
    precondition {
      condition     = var.rotator == "replica-fanout" || (var.rotation_strategy == null && var.replica_wait_seconds == null && var.replica_concurrency == null)
      error_message = "rotation_strategy, replica_wait_seconds and replica_concurrency apply to replica-fanout only."
    }
    precondition {
      condition     = length(var.linked_secret_arns) == 0 || contains(["replica-fanout", "custom"], var.rotator)
      error_message = "linked_secret_arns apply to replica-fanout (its replicaSecretArns) and custom only."
    }
    precondition {
      condition     = var.linked_secrets_kms_key_arn == null || length(var.linked_secret_arns) > 0
      error_message = "linked_secrets_kms_key_arn needs linked_secret_arns."
    }
    precondition {
      condition     = var.rotator == "api-key" || (var.api_key_profile == null && var.api_key_revoke_at_once == null && var.api_key_allow_http == null)
      error_message = "api_key_profile, api_key_revoke_at_once and api_key_allow_http apply to api-key only."
    }
    precondition {
      condition     = var.master_hosts == null || var.master_secret_arn != null
      error_message = "master_hosts says where the master secret may be used; it needs master_secret_arn."
    }
    precondition {
      condition     = contains(["mysql-single-user", "mysql-multi-user", "replica-fanout"], var.rotator) || (var.username_character_limit == null && var.mysql_retain_current_password == null)
      error_message = "username_character_limit and mysql_retain_current_password apply to the MySQL rotators (and replica-fanout) only."
    }
    precondition {
      condition     = !contains(["api-key", "custom"], var.rotator) || (var.database_connect_timeout == null && var.database_statement_timeout == null)
      error_message = "database_connect_timeout and database_statement_timeout apply to the database rotators; api-key and custom read neither."
    }
    precondition {
      condition     = (length(var.vpc_subnet_ids) > 0) == (length(var.vpc_security_group_ids) > 0)
      error_message = "vpc_subnet_ids and vpc_security_group_ids go together."
    }
    precondition {
      condition     = var.rotation_secret_arn != null || (var.rotation_schedule_expression == null && var.automatically_after_days == null)
      error_message = "rotation_schedule_expression and automatically_after_days need rotation_secret_arn."
    }
    # An invoker permission carries no SourceArn: listing this account, or the one secret's
    # account, would let any secret there invoke the function and undo the single-secret
    # SourceArn of aws_lambda_permission.invoke.
    precondition {
      condition     = !contains(var.invoker_account_ids, local.account_id) && !contains(var.invoker_account_ids, local.invoke_source_account)
      error_message = "invoker_account_ids lists other accounts only: not this account, nor the account of a single secret_arns entry (its own permission already covers it)."
    }
  }
}

resource "aws_lambda_permission" "invoke" {
  statement_id   = "SecretsManagerInvoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = var.invoking_service_principal
  source_account = local.invoke_source_account
  source_arn     = local.invoke_source_arn

  lifecycle {
    precondition {
      condition     = length(var.invoker_account_ids) == 0 || local.by_arns
      error_message = "invoker_account_ids (cross-account rotation) needs secret_arns: the tag and default scopes cover this account's secrets only."
    }
    precondition {
      condition     = length(var.secret_arns) == 1 || length(setsubtract(local.other_secret_accounts, var.invoker_account_ids)) == 0
      error_message = "Every account of secret_arns other than this one must be in invoker_account_ids, or its Secrets Manager could not invoke the function."
    }
    precondition {
      condition     = length(local.other_secret_accounts) == 0 || var.kms_key_arn != null
      error_message = "Secrets in another account need kms_key_arn (their customer managed key): aws/secretsmanager cannot be used from another account."
    }
  }
}

# Cross-account rotation: Secrets Manager in each of these accounts may invoke the function; the
# role still reaches only the secrets in secret_arns.
resource "aws_lambda_permission" "invoker_account" {
  for_each = toset(var.invoker_account_ids)

  statement_id   = "SecretsManagerInvokeFrom${each.value}"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = var.invoking_service_principal
  source_account = each.value
}

# ---- Optional rotation schedule -----------------------------------------------------------------

resource "aws_secretsmanager_secret_rotation" "this" {
  count = var.rotation_secret_arn == null ? 0 : 1

  secret_id           = var.rotation_secret_arn
  rotation_lambda_arn = aws_lambda_function.this.arn
  rotate_immediately  = var.rotate_immediately

  rotation_rules {
    schedule_expression      = var.rotation_schedule_expression
    automatically_after_days = var.automatically_after_days
  }

  depends_on = [aws_lambda_permission.invoke]

  lifecycle {
    precondition {
      condition     = (var.rotation_schedule_expression == null) != (var.automatically_after_days == null)
      error_message = "With rotation_secret_arn give exactly one of rotation_schedule_expression and automatically_after_days."
    }
    precondition {
      condition     = !local.by_arns || contains(var.secret_arns, coalesce(var.rotation_secret_arn, "-"))
      error_message = "rotation_secret_arn must be one of secret_arns, or the role could not rotate it."
    }
  }
}

# ---- Alerting -----------------------------------------------------------------------------------

locals {
  creates_alert_topic = var.alerting && var.alert_topic_arn == null
  alert_topic_arn     = !var.alerting ? null : coalesce(var.alert_topic_arn, one(aws_sns_topic.alerts[*].arn))

  # The secrets the rule watches: those of the role's scope when the configuration names them,
  # else every secret of this account and Region (a tag cannot be matched in an event).
  # (Encoded, so that both arms of the condition are strings: a list of ARNs or a prefix filter.)
  alerted_secrets = jsondecode(local.by_arns ? jsonencode(var.secret_arns) : (
    local.invoke_source_arn != null ? jsonencode([local.invoke_source_arn]) : jsonencode([{ prefix = trimsuffix(local.any_secret, "*") }])
  ))
}

resource "aws_sns_topic" "alerts" {
  count = local.creates_alert_topic ? 1 : 0

  name_prefix       = substr("${var.function_name}-alerts-", 0, 64)
  display_name      = "Rotation alerts of ${var.function_name}"
  kms_master_key_id = var.alert_topic_kms_key_arn
  tags              = var.tags
}

# Only this module's rule and alarms may publish.
data "aws_iam_policy_document" "alerts" {
  count = local.creates_alert_topic ? 1 : 0

  statement {
    sid       = "RotationFailureRule"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.rotation_failure[0].arn]
    }
  }

  statement {
    sid       = "RotationAlarms"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_metric_alarm.errors[0].arn, aws_cloudwatch_metric_alarm.step_failed[0].arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  count = local.creates_alert_topic ? 1 : 0

  arn    = aws_sns_topic.alerts[0].arn
  policy = data.aws_iam_policy_document.alerts[0].json
}

resource "aws_sns_topic_subscription" "alert_email" {
  count = var.alerting && var.alert_email != null ? 1 : 0

  topic_arn = local.alert_topic_arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# Secrets Manager's rotation events come through CloudTrail (Secrets Manager User Guide, "AWS
# CloudTrail entries for Secrets Manager", "Log entries for rotation"); the secret's ARN is
# detail.additionalEventData.SecretId.
resource "aws_cloudwatch_event_rule" "rotation_failure" {
  count = var.alerting ? 1 : 0

  name_prefix = substr("${var.function_name}-rotation-failed-", 0, 38)
  description = "Failed or abandoned rotations of the secrets rotated by ${var.function_name}"
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS Service Event via CloudTrail"]
    detail = {
      eventSource = ["secretsmanager.amazonaws.com"]
      eventName   = ["RotationFailed", "RotationAbandoned", "TestRotationFailed"]
      additionalEventData = {
        SecretId = local.alerted_secrets
      }
    }
  })
  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.alert_topic_arn == null || var.alert_topic_kms_key_arn == null
      error_message = "alert_topic_kms_key_arn is for the topic the module creates; leave it null with alert_topic_arn."
    }
  }
}

resource "aws_cloudwatch_event_target" "rotation_failure" {
  count = var.alerting ? 1 : 0

  rule      = aws_cloudwatch_event_rule.rotation_failure[0].name
  target_id = "alert-topic"
  arn       = local.alert_topic_arn
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  count = var.alerting ? 1 : 0

  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "The rotation function ${var.function_name} returned an error (Lambda Errors)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alert_topic_arn]
  tags                = var.tags
}

# StepFailed has the dimensions Rotator and Step; an alarm on one metric would need a Step each.
# A Metrics Insights query sums it over every step of this rotator.
resource "aws_cloudwatch_metric_alarm" "step_failed" {
  count = var.alerting ? 1 : 0

  alarm_name          = "${var.function_name}-step-failed"
  alarm_description   = "A rotation step of ${var.function_name} (${var.rotator}) failed (StepFailed, any Step)."
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alert_topic_arn]
  tags                = var.tags

  metric_query {
    id          = "stepfailed"
    expression  = "SELECT SUM(StepFailed) FROM SCHEMA(\"${var.metrics_namespace}\", Rotator, Step) WHERE Rotator = '${var.rotator}'"
    period      = 300
    return_data = true
  }
}
