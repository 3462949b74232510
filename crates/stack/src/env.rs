//! The environment variables that point a shell, a test or a rotator at the stack.

use std::path::Path;

/// Everything the variables are made of, from a live [`crate::Stack`] or a recorded
/// [`crate::StackState`], so that both describe a stack with the same names.
pub(crate) struct StackEnv<'a> {
    pub(crate) moto_endpoint: String,
    pub(crate) pg_host: &'a str,
    pub(crate) pg_port: u16,
    pub(crate) pg_user: &'a str,
    pub(crate) pg_password: &'a str,
    pub(crate) ca_cert: &'a Path,
    pub(crate) pg_log: &'a Path,
    pub(crate) mariadb_host: &'a str,
    pub(crate) mariadb_port: u16,
    pub(crate) mariadb_user: &'a str,
    pub(crate) mariadb_password: &'a str,
    pub(crate) mariadb_ca_cert: &'a Path,
    pub(crate) mariadb_general_log: &'a Path,
}

impl StackEnv<'_> {
    /// The variables as `(name, value)` pairs, in a stable order.
    pub(crate) fn vars(&self) -> Vec<(String, String)> {
        [
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                self.moto_endpoint.clone(),
            ),
            // The name AWS's rotation templates read, so their code works unchanged.
            ("SECRETS_MANAGER_ENDPOINT", self.moto_endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            // boto3 and the AWS CLI read this one.
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            // moto accepts any credentials, but the SDK wants some before it sends anything.
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("PGHOST", self.pg_host.into()),
            ("PGPORT", self.pg_port.to_string()),
            ("PGUSER", self.pg_user.into()),
            ("PGPASSWORD", self.pg_password.into()),
            ("PGDATABASE", "postgres".into()),
            ("DATABASE_CA_BUNDLE", self.ca_cert.display().to_string()),
            ("ROTATION_STACK_PG_LOG", self.pg_log.display().to_string()),
            // What the mariadb and mysql clients read; there is no standard variable for the
            // user, so it has a name of our own.
            ("MYSQL_HOST", self.mariadb_host.into()),
            ("MYSQL_TCP_PORT", self.mariadb_port.to_string()),
            ("MYSQL_PWD", self.mariadb_password.into()),
            ("ROTATION_STACK_MARIADB_USER", self.mariadb_user.into()),
            (
                "ROTATION_STACK_MARIADB_CA",
                self.mariadb_ca_cert.display().to_string(),
            ),
            (
                "ROTATION_STACK_MARIADB_LOG",
                self.mariadb_general_log.display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}
