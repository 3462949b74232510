# Inputs. The names are those of templates/cloudformation/rotator.yaml in snake_case; AWS's own
# rotation templates' parameters keep their meaning (function_name, endpoint, kms_key_arn, ...).
# A null input leaves its environment variable unset, so the rotator's default applies.

# ---- Function -----------------------------------------------------------------------------------

variable "function_name" {
  description = "Name of the Lambda function (AWS's functionName). Also names the log group /aws/lambda/<function_name> and, by default, scopes the role to the secrets whose rotation function is this one."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name: 1 to 64 letters, digits, hyphens or underscores."
  }
}

variable "rotator" {
  description = "Which rotator binary the zip holds. It selects the inputs allowed (the preconditions) and the Rotator dimension of the StepFailed alarm; the role's statements come from the secret, master, linked-secret, KMS, VPC and tracing inputs (the RDS look-up of a master secret is left out for api-key). custom: a rotator of your own (e.g. from `cargo xtask new`)."
  type        = string

  validation {
    condition     = contains(["postgres-single-user", "postgres-multi-user", "mysql-single-user", "mysql-multi-user", "replica-fanout", "api-key", "custom"], var.rotator)
    error_message = "rotator: one of postgres-single-user, postgres-multi-user, mysql-single-user, mysql-multi-user, replica-fanout, api-key, custom."
  }
}

variable "filename" {
  description = "Local path of the zip built by `cargo xtask package`, e.g. target/lambda/arm64/postgres-single-user/bootstrap.zip (custom: the generated crate's target/lambda/<name>/bootstrap.zip). Give this or s3_bucket and s3_key."
  type        = string
  default     = null
}

variable "s3_bucket" {
  description = "S3 bucket of an uploaded zip (instead of filename): bootstrap.zip from `cargo xtask package`, or a release's <rotator>-<architecture>.zip."
  type        = string
  default     = null
}

variable "s3_key" {
  description = "S3 key of the uploaded zip (with s3_bucket, instead of filename)."
  type        = string
  default     = null
}

variable "s3_object_version" {
  description = "Optional S3 object version of the zip (with s3_bucket and s3_key; in a versioned bucket, a new version deploys new code under the same key)."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Lambda architecture; must match the zip (target/lambda/<architecture>/...)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Lambda memory in MB."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size: 128 to 10240."
  }
}

variable "timeout" {
  description = "Lambda timeout in seconds. AWS's Python templates used 30; rotations that wait for replicas need more. Secrets Manager allows up to 900."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout: 1 to 900 seconds."
  }
}

variable "reserved_concurrent_executions" {
  description = "Optional reserved concurrency, e.g. 5. Null: none (the account's unreserved pool)."
  type        = number
  default     = null
}

variable "code_signing_config_arn" {
  description = "Optional Lambda code signing configuration. The zip must then be signed (AWS Signer) before upload; cargo-lambda does not sign."
  type        = string
  default     = null
}

variable "environment_kms_key_arn" {
  description = "Optional customer managed KMS key for the function's environment variables (the deployer needs kms:CreateGrant and kms:Encrypt). Null: Lambda's AWS managed key."
  type        = string
  default     = null
}

variable "tracing_mode" {
  description = "Lambda tracing mode: PassThrough or Active (Active adds the X-Ray write permissions; the rotators emit no segments of their own)."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode: PassThrough or Active."
  }
}

variable "invoking_service_principal" {
  description = "Service principal allowed to invoke the function (AWS's invokingServicePrincipal), with source account = this account and, when the module names exactly one rotated secret (secret_arns with one ARN, or rotation_secret_arn alone), source ARN = that secret."
  type        = string
  default     = "secretsmanager.amazonaws.com"
}

variable "tags" {
  description = "Tags for the role, the function and the log group."
  type        = map(string)
  default     = {}
}

# ---- Secrets the role may rotate ---------------------------------------------------------------

variable "secret_arns" {
  description = "ARNs of the secrets this function rotates. They may be in other accounts (cross-account rotation needs them listed here, with kms_key_arn and invoker_account_ids; the tag and default scopes cover this account only). Empty, with no secret_tag_key: only the secrets whose rotation function is this one (condition secretsmanager:resource/AllowRotationLambdaArn, as AWS's templates)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.secret_arns : can(regex("^arn:aws[a-zA-Z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", arn))])
    error_message = "secret_arns: Secrets Manager secret ARNs (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>)."
  }
}

variable "invoker_account_ids" {
  description = "Cross-account rotation: other accounts whose Secrets Manager may invoke the function (one more invoke permission each, source_account = that account), for secrets of theirs listed in secret_arns. Not needed when secret_arns holds one ARN (its account is taken from it). Empty: this account only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.invoker_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "invoker_account_ids: 12-digit account IDs."
  }
}

variable "role_arn" {
  description = "Bring your own execution role: the module then creates no role and no role policy and gives the function this role, which needs the statements of the output execution_policy_json (templates/README.md, Permissions) and a trust policy for lambda.amazonaws.com. Null: the module creates the role."
  type        = string
  default     = null

  validation {
    condition     = var.role_arn == null || can(regex("^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/.+$", coalesce(var.role_arn, "-")))
    error_message = "role_arn: an IAM role ARN."
  }
}

variable "secret_tag_key" {
  description = "Optional tag key: the role may rotate every secret of this account and Region tagged secret_tag_key = secret_tag_value (condition secretsmanager:ResourceTag/<key>). Not together with secret_arns."
  type        = string
  default     = null
}

variable "secret_tag_value" {
  description = "Tag value that goes with secret_tag_key."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Customer managed KMS key of the rotated secrets (AWS's kmsKeyArn): kms:Decrypt and kms:GenerateDataKey via Secrets Manager. It may be in the secrets' account (required for cross-account rotation: aws/secretsmanager cannot be used from another account). Null: aws/secretsmanager."
  type        = string
  default     = null
}

# ---- Related secrets ----------------------------------------------------------------------------

variable "master_secret_arn" {
  description = "Secret named by the rotated secret's masterarn (AWS's masterSecretArn): GetSecretValue. Required by the multi-user rotators; optional for replica-fanout; for api-key the admin secret named by adminarn; optional for custom (a secret its rotator reads with StepContext::other_secret). Also set as MASTER_SECRET_ARNS: masterarn and adminarn may then name only this secret."
  type        = string
  default     = null
}

variable "master_secret_kms_key_arn" {
  description = "Customer managed KMS key of the master (or admin) secret (AWS's masterSecretKmsKeyArn): kms:Decrypt via Secrets Manager."
  type        = string
  default     = null
}

variable "master_hosts" {
  description = "MASTER_HOSTS (multi-user rotators, replica-fanout): comma-separated host[:port] where a master secret holding only username and password may be used. Null: the host comes from RDS (the master secret's aws:rds:primaryDBInstanceArn / aws:rds:primaryDBClusterArn tag, then DescribeDBInstances / DescribeDBClusters, which the role is then allowed)."
  type        = string
  default     = null

  validation {
    condition     = var.master_hosts == null || can(regex("^[^\\s]+$", var.master_hosts))
    error_message = "master_hosts is a comma-separated list of host[:port] without spaces."
  }
}

variable "linked_secret_arns" {
  description = "replica-fanout and custom only (GetSecretValue and PutSecretValue): replica-fanout's linked secrets named by replicaSecretArns; the secrets a custom rotator writes with StepContext::put_other_secret_current."
  type        = list(string)
  default     = []
}

variable "linked_secrets_kms_key_arn" {
  description = "Customer managed KMS key of the linked secrets: kms:Decrypt and kms:GenerateDataKey via Secrets Manager."
  type        = string
  default     = null
}

# ---- Network ------------------------------------------------------------------------------------

variable "vpc_subnet_ids" {
  description = "Subnets for the function (AWS's vpcSubnetIds). Empty: no VPC. In a VPC the function needs a route to Secrets Manager (VPC endpoint or NAT); api-key needs internet egress (NAT)."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups for the function (AWS's vpcSecurityGroupIds); required with vpc_subnet_ids."
  type        = list(string)
  default     = []
}

variable "endpoint" {
  description = "SECRETS_MANAGER_ENDPOINT (AWS's endpoint), e.g. a VPC endpoint URL. Null: the SDK's default endpoint."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint == null || can(regex("^https?://", var.endpoint))
    error_message = "endpoint: a URL starting with https:// (or http://)."
  }
}

# ---- Passwords (database rotators, custom) ------------------------------------------------------

variable "password_length" {
  description = "PASSWORD_LENGTH, 1 to 4096. Null: 32."
  type        = number
  default     = null

  validation {
    condition     = var.password_length == null || (coalesce(var.password_length, 32) >= 1 && coalesce(var.password_length, 32) <= 4096 && floor(coalesce(var.password_length, 32)) == coalesce(var.password_length, 32))
    error_message = "password_length: a whole number from 1 to 4096."
  }
}

variable "exclude_characters" {
  description = "EXCLUDE_CHARACTERS (AWS's excludeCharacters). Null: the rotator's default for its engine (custom: the one its from_env gives). An empty string sets the variable empty: exclude nothing."
  type        = string
  default     = null
}

variable "exclude_numbers" {
  description = "EXCLUDE_NUMBERS. Null: false."
  type        = bool
  default     = null
}

variable "exclude_punctuation" {
  description = "EXCLUDE_PUNCTUATION. Null: false."
  type        = bool
  default     = null
}

variable "exclude_uppercase" {
  description = "EXCLUDE_UPPERCASE. Null: false."
  type        = bool
  default     = null
}

variable "exclude_lowercase" {
  description = "EXCLUDE_LOWERCASE. Null: false."
  type        = bool
  default     = null
}

variable "require_each_included_type" {
  description = "REQUIRE_EACH_INCLUDED_TYPE. Null: true."
  type        = bool
  default     = null
}

# ---- Database rotators --------------------------------------------------------------------------

variable "database_connect_timeout" {
  description = "DATABASE_CONNECT_TIMEOUT in seconds, 0.1 to 60 (not custom). Null: 5."
  type        = number
  default     = null

  validation {
    condition     = var.database_connect_timeout == null || (coalesce(var.database_connect_timeout, 5) >= 0.1 && coalesce(var.database_connect_timeout, 5) <= 60)
    error_message = "database_connect_timeout: 0.1 to 60 seconds."
  }
}

variable "database_statement_timeout" {
  description = "DATABASE_STATEMENT_TIMEOUT in seconds, 0.1 to 300 (not custom). Null: 10."
  type        = number
  default     = null

  validation {
    condition     = var.database_statement_timeout == null || (coalesce(var.database_statement_timeout, 10) >= 0.1 && coalesce(var.database_statement_timeout, 10) <= 300)
    error_message = "database_statement_timeout: 0.1 to 300 seconds."
  }
}

variable "username_character_limit" {
  description = "USERNAME_CHARACTER_LIMIT, 1 to 80 (mysql-multi-user, and replica-fanout on MySQL). Null: 16."
  type        = number
  default     = null

  validation {
    condition     = var.username_character_limit == null || contains(range(1, 81), coalesce(var.username_character_limit, 16))
    error_message = "username_character_limit: a whole number from 1 to 80."
  }
}

variable "mysql_retain_current_password" {
  description = "MYSQL_RETAIN_CURRENT_PASSWORD (mysql-single-user, and replica-fanout on MySQL; MySQL 8.0.14 and later). Null: false."
  type        = bool
  default     = null
}

# ---- replica-fanout -----------------------------------------------------------------------------

variable "rotation_strategy" {
  description = "ROTATION_STRATEGY (replica-fanout): single-user or multi-user. Null: multi-user exactly when the secret has a masterarn."
  type        = string
  default     = null

  validation {
    condition     = var.rotation_strategy == null || contains(["single-user", "multi-user"], coalesce(var.rotation_strategy, "single-user"))
    error_message = "rotation_strategy: single-user or multi-user."
  }
}

variable "replica_wait_seconds" {
  description = "REPLICA_WAIT_SECONDS, 0 to 900 (replica-fanout). Null: until shortly before the Lambda deadline."
  type        = number
  default     = null

  validation {
    condition     = var.replica_wait_seconds == null || (coalesce(var.replica_wait_seconds, 0) >= 0 && coalesce(var.replica_wait_seconds, 0) <= 900)
    error_message = "replica_wait_seconds: 0 to 900."
  }
}

variable "replica_concurrency" {
  description = "REPLICA_CONCURRENCY, 1 to 64 (replica-fanout). Null: 4."
  type        = number
  default     = null

  validation {
    condition     = var.replica_concurrency == null || contains(range(1, 65), coalesce(var.replica_concurrency, 4))
    error_message = "replica_concurrency: a whole number from 1 to 64."
  }
}

# ---- api-key ------------------------------------------------------------------------------------

variable "api_key_profile" {
  description = "API_KEY_PROFILE (api-key): built-in profile for secrets that name none, rotation-keyservice or sendgrid. Null: each secret names its profile (built-in name or inline object)."
  type        = string
  default     = null

  validation {
    condition     = var.api_key_profile == null || contains(["rotation-keyservice", "sendgrid"], coalesce(var.api_key_profile, "sendgrid"))
    error_message = "api_key_profile: rotation-keyservice or sendgrid."
  }
}

variable "api_key_revoke_at_once" {
  description = "API_KEY_REVOKE_AT_ONCE (api-key): revoke the replaced key at finishSecret. Null: false."
  type        = bool
  default     = null
}

variable "api_key_allow_http" {
  description = "API_KEY_ALLOW_HTTP (api-key): allow plain http:// provider URLs to hosts other than loopback addresses. Null: false (https only)."
  type        = bool
  default     = null
}

# ---- Client and logs ----------------------------------------------------------------------------

variable "secrets_manager_max_attempts" {
  description = "SECRETS_MANAGER_MAX_ATTEMPTS, 1 to 10, first attempt included. Null: 5."
  type        = number
  default     = null

  validation {
    condition     = var.secrets_manager_max_attempts == null || contains(range(1, 11), coalesce(var.secrets_manager_max_attempts, 5))
    error_message = "secrets_manager_max_attempts: a whole number from 1 to 10."
  }
}

variable "log_level" {
  description = "RUST_LOG: error, warn, info, debug, trace, or a filter such as info,rotation_core=debug. Null: info."
  type        = string
  default     = null
}

variable "log_retention_in_days" {
  description = "Retention of the log group /aws/lambda/<function_name>."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days: one of CloudWatch Logs' values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "Optional KMS key for the log group; its key policy must allow logs.<region>.amazonaws.com."
  type        = string
  default     = null
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary (managed policy ARN) for the execution role."
  type        = string
  default     = null
}

# ---- Rotation schedule --------------------------------------------------------------------------

variable "rotation_secret_arn" {
  description = "Optional: a secret to turn rotation on for, with this function (aws_secretsmanager_secret_rotation). With secret_arns it must be one of them."
  type        = string
  default     = null
}

variable "rotation_schedule_expression" {
  description = "rotation_rules.schedule_expression, e.g. rate(30 days) or cron(0 4 ? * SUN *). This or automatically_after_days."
  type        = string
  default     = null
}

variable "automatically_after_days" {
  description = "rotation_rules.automatically_after_days, 1 to 1000. This or rotation_schedule_expression."
  type        = number
  default     = null
}

variable "rotate_immediately" {
  description = "Rotate as soon as the schedule is set."
  type        = bool
  default     = true
}

# ---- Alerting -----------------------------------------------------------------------------------

variable "alerting" {
  description = "Alert on failed rotations: an EventBridge rule on Secrets Manager's RotationFailed, RotationAbandoned and TestRotationFailed events for the rotated secrets, and alarms on the function's Errors and on StepFailed, all sent to one SNS topic. false: none of these."
  type        = bool
  default     = true
}

variable "alert_topic_arn" {
  description = "SNS topic to send the alerts to. Its policy must let events.amazonaws.com and cloudwatch.amazonaws.com publish (and its KMS key, if any, let them use it). Null: the module creates a topic."
  type        = string
  default     = null

  validation {
    condition     = var.alert_topic_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", coalesce(var.alert_topic_arn, "-")))
    error_message = "alert_topic_arn: an SNS topic ARN."
  }
}

variable "alert_topic_kms_key_arn" {
  description = "Customer managed KMS key for the topic the module creates. Its key policy must allow events.amazonaws.com and cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*. The AWS managed key alias/aws/sns cannot be used: EventBridge and CloudWatch could not publish. Null: SNS without server-side encryption."
  type        = string
  default     = null
}

variable "alert_email" {
  description = "Optional e-mail address subscribed to the topic (it must confirm the subscription)."
  type        = string
  default     = null
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the rotator's metrics (Embedded Metric Format in its logs, dimensions Rotator and Step): the function's ROTATION_METRICS_NAMESPACE and the StepFailed alarm's namespace."
  type        = string
  default     = "SecretsManagerRotation"

  # The function's own rule for ROTATION_METRICS_NAMESPACE (it refuses anything else at
  # start-up); it also keeps quotes out of the StepFailed alarm's query.
  validation {
    condition     = can(regex("^[A-Za-z0-9 ._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace: 1 to 255 letters, digits, spaces and . - _ / # :, not starting with AWS/."
  }
}
