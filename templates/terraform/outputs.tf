output "function_arn" {
  description = "ARN of the rotation function (the secret's rotation_lambda_arn)."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Name of the rotation function."
  value       = aws_lambda_function.this.function_name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the execution role, to attach more policies."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}
