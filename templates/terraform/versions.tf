terraform {
  # Preconditions need 1.2; optional() is not used.
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.37 is the first release where aws_secretsmanager_secret_rotation's rotate_immediately
      # defaults to true, as Secrets Manager does.
      version = ">= 5.37"
    }
  }
}
