//! The RDS look-up for a master secret of the form RDS manages (`username` and `password`
//! only), as AWS's multi-user templates do it: the master secret's system tag
//! `aws:rds:primaryDBInstanceArn` or `aws:rds:primaryDBClusterArn` (key compared without
//! case) names the database, and DescribeDBInstances / DescribeDBClusters give its endpoints.
//!
//! Unlike AWS's templates, which take the instance id from the first DNS label of the child's
//! host (so that `prod-replica.attacker.example` passes for the replica `prod-replica`), the
//! replicas and readers a child may name are the endpoints RDS itself returns: read replicas'
//! and cluster members' `Endpoint.Address`, and the cluster's `ReaderEndpoint`.
//!
//! The client is built on first use only (no cost at start-up for rotators that never need
//! it), from the SDK's usual sources: region, credentials, and `AWS_ENDPOINT_URL_RDS` or
//! `AWS_ENDPOINT_URL` for the endpoint. That first load is bounded by the step's deadline, as
//! the calls are.

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_rds::Client;
use aws_sdk_rds::error::DisplayErrorContext;
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};
use rotation_core::Deadline;
use tokio::sync::OnceCell;

use crate::master::HostPort;

/// AWS's limit on the ARN in the tag (its templates refuse longer ones).
const MAX_ARN_LENGTH: usize = 256;

/// What an RDS tag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// A DB instance (`aws:rds:primaryDBInstanceArn`).
    Instance,
    /// A DB cluster (`aws:rds:primaryDBClusterArn`).
    Cluster,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Instance => "Instance",
            ResourceKind::Cluster => "Cluster",
        })
    }
}

/// The RDS database a master secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsResource {
    /// Instance or cluster.
    pub kind: ResourceKind,
    /// Its ARN, from the tag.
    pub arn: String,
}

/// The RDS database a secret's tags name, if any: the first tag whose key is
/// `aws:rds:primaryDBInstanceArn` or `aws:rds:primaryDBClusterArn`, in any case.
pub fn rds_resource(tags: &[(String, String)]) -> Option<RdsResource> {
    tags.iter().find_map(|(key, value)| {
        let kind = if key.eq_ignore_ascii_case("aws:rds:primaryDBInstanceArn") {
            ResourceKind::Instance
        } else if key.eq_ignore_ascii_case("aws:rds:primaryDBClusterArn") {
            ResourceKind::Cluster
        } else {
            return None;
        };
        Some(RdsResource {
            kind,
            arn: value.clone(),
        })
    })
}

/// The endpoints RDS gives for a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsEndpoints {
    /// The writer: the instance's endpoint, or the cluster's (writer) endpoint.
    pub writer: HostPort,
    /// Its read replicas, the cluster's reader endpoint and its members' endpoints.
    pub readers: Vec<HostPort>,
}

/// A failed look-up, in AWS's words where AWS has some.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdsError {
    /// The tag's ARN is longer than AWS allows.
    #[error("{arn} is not a valid DB {kind} ARN. It exceeds the maximum length of 256.")]
    ArnTooLong {
        /// Instance or cluster.
        kind: ResourceKind,
        /// The ARN.
        arn: String,
    },
    /// The RDS API failed.
    #[error(
        "Encountered API error while fetching connection parameters from {operation} RDS API: {message}"
    )]
    Api {
        /// `DescribeDBInstances` or `DescribeDBClusters`.
        operation: &'static str,
        /// What the SDK said.
        message: String,
    },
    /// The API did not answer before the step's deadline.
    #[error(
        "Encountered API error while fetching connection parameters from {operation} RDS API: \
         no answer within {millis} ms (the step's deadline)"
    )]
    Timeout {
        /// `DescribeDBInstances` or `DescribeDBClusters`.
        operation: &'static str,
        /// How long it waited.
        millis: u128,
    },
    /// RDS knows no such database.
    #[error("{arn} is not a valid DB {kind} ARN. No {kind}s found with the given ARN.")]
    NotFound {
        /// Instance or cluster.
        kind: ResourceKind,
        /// The ARN.
        arn: String,
    },
    /// The database has no endpoint (yet).
    #[error("DB {kind} {arn} has no endpoint in RDS's answer (is it still being created?)")]
    NoEndpoint {
        /// Instance or cluster.
        kind: ResourceKind,
        /// The ARN.
        arn: String,
    },
}

/// The RDS client, built on first use.
#[derive(Debug, Default)]
pub struct RdsLookup {
    client: OnceCell<Client>,
}

impl RdsLookup {
    /// A look-up whose client is built on first use.
    pub fn new() -> RdsLookup {
        RdsLookup::default()
    }

    /// A look-up over an existing client (tests, custom endpoints).
    pub fn with_client(client: Client) -> RdsLookup {
        RdsLookup {
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The client, built on first use within the step's deadline: loading the SDK's
    /// configuration may wait on the network (IMDS for the region or credentials), and that
    /// wait counts against the step like the call it serves. A load cut off by the deadline
    /// leaves the cell empty, so the next step tries again.
    async fn client(
        &self,
        operation: &'static str,
        deadline: Deadline,
    ) -> Result<&Client, RdsError> {
        bounded(operation, deadline, self.load()).await
    }

    async fn load(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let retry = RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(2));
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(15))
                    .build();
                let config = aws_config::defaults(BehaviorVersion::latest())
                    .retry_config(retry)
                    .timeout_config(timeouts)
                    .load()
                    .await;
                Client::new(&config)
            })
            .await
    }

    /// The endpoints of the database a tag names, within the deadline.
    pub async fn endpoints(
        &self,
        resource: &RdsResource,
        deadline: Deadline,
    ) -> Result<RdsEndpoints, RdsError> {
        if resource.arn.len() > MAX_ARN_LENGTH {
            return Err(RdsError::ArnTooLong {
                kind: resource.kind,
                arn: resource.arn.clone(),
            });
        }
        match resource.kind {
            ResourceKind::Instance => self.instance(&resource.arn, deadline).await,
            ResourceKind::Cluster => self.cluster(&resource.arn, deadline).await,
        }
    }

    async fn instance(&self, arn: &str, deadline: Deadline) -> Result<RdsEndpoints, RdsError> {
        let client = self.client(INSTANCES, deadline).await?;
        let request = client.describe_db_instances().db_instance_identifier(arn);
        let instances = bounded(INSTANCES, deadline, request.send())
            .await?
            .map_err(|error| api_error(INSTANCES, &error))?;
        let instance = instances
            .db_instances()
            .first()
            .ok_or_else(|| not_found(ResourceKind::Instance, arn))?;
        let writer =
            instance_endpoint(instance).ok_or_else(|| no_endpoint(ResourceKind::Instance, arn))?;
        let readers = self
            .instance_endpoints(instance.read_replica_db_instance_identifiers(), deadline)
            .await?;
        Ok(RdsEndpoints { writer, readers })
    }

    async fn cluster(&self, arn: &str, deadline: Deadline) -> Result<RdsEndpoints, RdsError> {
        let client = self.client(CLUSTERS, deadline).await?;
        let request = client.describe_db_clusters().db_cluster_identifier(arn);
        let clusters = bounded(CLUSTERS, deadline, request.send())
            .await?
            .map_err(|error| api_error(CLUSTERS, &error))?;
        let cluster = clusters
            .db_clusters()
            .first()
            .ok_or_else(|| not_found(ResourceKind::Cluster, arn))?;
        let (writer, mut readers) =
            cluster_endpoints(cluster).ok_or_else(|| no_endpoint(ResourceKind::Cluster, arn))?;
        let members: Vec<String> = cluster
            .db_cluster_members()
            .iter()
            .filter_map(|member| member.db_instance_identifier().map(str::to_owned))
            .collect();
        readers.extend(self.instance_endpoints(&members, deadline).await?);
        Ok(RdsEndpoints { writer, readers })
    }

    /// The endpoints of instances by identifier, in one call.
    async fn instance_endpoints(
        &self,
        identifiers: &[String],
        deadline: Deadline,
    ) -> Result<Vec<HostPort>, RdsError> {
        if identifiers.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Filter::builder()
            .name("db-instance-id")
            .set_values(Some(identifiers.to_vec()))
            .build();
        let client = self.client(INSTANCES, deadline).await?;
        let request = client.describe_db_instances().filters(filter);
        let instances = bounded(INSTANCES, deadline, request.send())
            .await?
            .map_err(|error| api_error(INSTANCES, &error))?;
        Ok(instances
            .db_instances()
            .iter()
            .filter_map(instance_endpoint)
            .collect())
    }
}

const INSTANCES: &str = "DescribeDBInstances";
const CLUSTERS: &str = "DescribeDBClusters";

async fn bounded<T>(
    operation: &'static str,
    deadline: Deadline,
    call: impl Future<Output = T>,
) -> Result<T, RdsError> {
    let limit = deadline.remaining();
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| RdsError::Timeout {
            operation,
            millis: limit.as_millis(),
        })
}

fn api_error(operation: &'static str, error: &(dyn std::error::Error + 'static)) -> RdsError {
    RdsError::Api {
        operation,
        message: DisplayErrorContext(error).to_string(),
    }
}

fn not_found(kind: ResourceKind, arn: &str) -> RdsError {
    RdsError::NotFound {
        kind,
        arn: arn.to_owned(),
    }
}

fn no_endpoint(kind: ResourceKind, arn: &str) -> RdsError {
    RdsError::NoEndpoint {
        kind,
        arn: arn.to_owned(),
    }
}

fn port(port: Option<i32>) -> Option<u16> {
    port.and_then(|port| u16::try_from(port).ok())
        .filter(|port| *port != 0)
}

/// An instance's `Endpoint.Address` and `Endpoint.Port`.
pub fn instance_endpoint(instance: &DbInstance) -> Option<HostPort> {
    let endpoint = instance.endpoint()?;
    Some(HostPort::new(endpoint.address()?, port(endpoint.port())?))
}

/// A cluster's writer `Endpoint` and `ReaderEndpoint`, on its `Port`.
pub fn cluster_endpoints(cluster: &DbCluster) -> Option<(HostPort, Vec<HostPort>)> {
    let port = port(cluster.port())?;
    let writer = HostPort::new(cluster.endpoint()?, port);
    let readers = cluster
        .reader_endpoint()
        .map(|reader| HostPort::new(reader, port))
        .into_iter()
        .collect();
    Some((writer, readers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::types::Endpoint;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_tag_names_the_database_in_any_case() {
        for (given, expected) in [
            (tags(&[]), None),
            (tags(&[("team", "a")]), None),
            (
                tags(&[("team", "a"), ("aws:rds:primaryDBInstanceArn", "arn:i")]),
                Some((ResourceKind::Instance, "arn:i")),
            ),
            (
                tags(&[("AWS:RDS:PRIMARYDBCLUSTERARN", "arn:c")]),
                Some((ResourceKind::Cluster, "arn:c")),
            ),
            (
                tags(&[
                    ("aws:rds:primarydbclusterarn", "arn:c"),
                    ("aws:rds:primarydbinstancearn", "arn:i"),
                ]),
                Some((ResourceKind::Cluster, "arn:c")),
            ),
        ] {
            let found = rds_resource(&given);
            let expected = expected.map(|(kind, arn)| RdsResource {
                kind,
                arn: arn.to_owned(),
            });
            assert_eq!(found, expected, "{given:?}");
        }
    }

    #[test]
    fn endpoints_come_from_rds_answers() {
        let instance = DbInstance::builder()
            .endpoint(
                Endpoint::builder()
                    .address("prod.abc.us-east-1.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .build();
        assert_eq!(
            instance_endpoint(&instance),
            Some(HostPort::new("prod.abc.us-east-1.rds.amazonaws.com", 5432))
        );
        assert_eq!(instance_endpoint(&DbInstance::builder().build()), None);
        let cluster = DbCluster::builder()
            .endpoint("c.cluster-abc.us-east-1.rds.amazonaws.com")
            .reader_endpoint("c.cluster-ro-abc.us-east-1.rds.amazonaws.com")
            .port(3306)
            .build();
        assert_eq!(
            cluster_endpoints(&cluster),
            Some((
                HostPort::new("c.cluster-abc.us-east-1.rds.amazonaws.com", 3306),
                vec![HostPort::new(
                    "c.cluster-ro-abc.us-east-1.rds.amazonaws.com",
                    3306
                )]
            ))
        );
    }

    #[tokio::test]
    async fn the_first_use_load_ends_by_the_deadline() {
        // A deadline already past: whatever the load waits on, the look-up ends at once with
        // the timeout error naming the call it served.
        let lookup = RdsLookup::new();
        let resource = RdsResource {
            kind: ResourceKind::Cluster,
            arn: "arn:aws:rds:us-east-1:123456789012:cluster:c".to_owned(),
        };
        let started = std::time::Instant::now();
        let error = lookup
            .endpoints(&resource, Deadline::after(Duration::ZERO))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{error}");
        assert!(
            matches!(
                error,
                RdsError::Timeout {
                    operation: CLUSTERS,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_arn_past_256_characters_is_refused_in_aws_words() {
        let resource = RdsResource {
            kind: ResourceKind::Instance,
            arn: "a".repeat(257),
        };
        let error = RdsLookup::new()
            .endpoints(&resource, Deadline::after(Duration::from_secs(1)))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{} is not a valid DB Instance ARN. It exceeds the maximum length of 256.",
                resource.arn
            )
        );
    }
}
