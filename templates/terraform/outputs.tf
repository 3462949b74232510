output "function_arn" {
  description = "ARN of the rotation function (the secret's rotation_lambda_arn)."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Name of the rotation function."
  value       = aws_lambda_function.this.function_name
}

output "role_arn" {
  description = "ARN of the function's execution role (role_arn when given)."
  value       = local.role_arn
}

output "role_name" {
  description = "Name of the execution role the module created, to attach more policies (null with role_arn)."
  value       = one(aws_iam_role.this[*].name)
}

output "execution_policy_json" {
  description = "The execution role's policy: what the module attaches to its role, and what a role of your own (role_arn) needs."
  value       = data.aws_iam_policy_document.execution.json
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "alert_topic_arn" {
  description = "SNS topic of the rotation alerts (null with alerting = false)."
  value       = local.alert_topic_arn
}

output "rotation_failure_rule_arn" {
  description = "EventBridge rule on failed and abandoned rotations (null with alerting = false)."
  value       = one(aws_cloudwatch_event_rule.rotation_failure[*].arn)
}

output "errors_alarm_name" {
  description = "Alarm on the function's Errors (null with alerting = false)."
  value       = one(aws_cloudwatch_metric_alarm.errors[*].alarm_name)
}

output "step_failed_alarm_name" {
  description = "Alarm on StepFailed, summed over the steps (null with alerting = false)."
  value       = one(aws_cloudwatch_metric_alarm.step_failed[*].alarm_name)
}
