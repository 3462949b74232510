# The smallest use of the module: postgres-single-user from a local zip, scoped to one secret,
# rotated every 30 days. Build the zip first: cargo xtask package (see the top-level README).

terraform {
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.37"
    }
  }
}

variable "secret_arn" {
  description = "ARN of the PostgreSQL secret to rotate (the database must be reachable from the function)."
  type        = string
}

module "rotator" {
  source = "../.."

  function_name = "postgres-single-user-rotation"
  rotator       = "postgres-single-user"
  architecture  = "arm64"
  filename      = "${path.module}/../../../../target/lambda/arm64/postgres-single-user/bootstrap.zip"

  secret_arns = [var.secret_arn]

  rotation_secret_arn          = var.secret_arn
  rotation_schedule_expression = "rate(30 days)"
}

output "function_arn" {
  value = module.rotator.function_arn
}
