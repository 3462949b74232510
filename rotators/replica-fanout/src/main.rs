//! `replica-fanout`: the Lambda that rotates the database user of a primary (PostgreSQL or
//! MySQL/MariaDB, single-user or multi-user) and proves that every read replica accepts the new
//! credentials before `AWSCURRENT` moves. No AWS template does this.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(
        env!("CARGO_BIN_NAME"),
        rotation_fanout::replica_fanout_from_env,
    )
    .await
}
