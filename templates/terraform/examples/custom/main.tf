# A rotator of your own: the zip of a crate made with `cargo xtask new <name>`, scoped to one
# secret, rotated every 30 days. Build the zip first, in the generated crate:
# cargo lambda build --release --arm64 --output-format zip (see its README).

terraform {
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.37"
    }
  }
}

variable "zip_path" {
  description = "Path of the generated crate's zip: target/lambda/<name>/bootstrap.zip in that crate (arm64)."
  type        = string
}

variable "secret_arn" {
  description = "ARN of the secret to rotate (its service must be reachable from the function)."
  type        = string
}

module "rotator" {
  source = "../.."

  function_name = "custom-rotation"
  rotator       = "custom"
  architecture  = "arm64"
  filename      = var.zip_path

  secret_arns = [var.secret_arn]

  rotation_secret_arn          = var.secret_arn
  rotation_schedule_expression = "rate(30 days)"
}

output "function_arn" {
  value = module.rotator.function_arn
}
