//! Where master credentials may go: the trust decision of multi-user rotation.
//!
//! # Why
//!
//! Whoever can write a rotated (child) secret chooses its `host` and `port`. The master
//! secret that `masterarn` names is the operator's (or RDS's). So the master password may go
//! only to a host named by a trusted source, never to one the child names:
//!
//! - the master secret itself, when it has a `host` ([`TrustSource::MasterSecret`]);
//! - RDS, for a master secret of the form RDS manages (`username` and `password` only): the
//!   instance or cluster its `aws:rds:primaryDB...Arn` tag names ([`TrustSource::Rds`],
//!   looked up in [`crate::rds_lookup`]);
//! - the operator's `MASTER_HOSTS` variable ([`TrustSource::Operator`], [`MasterHosts`]).
//!
//! The child's host and port must then be the trusted host, or an endpoint the same source
//! names (an RDS read replica or reader endpoint, another listed host); else setSecret fails
//! with AWS's message naming both. The master logs in to the trusted endpoint, with the TLS
//! settings of the master secret (never the child's).
//!
//! # How
//!
//! [`TrustedHosts::endpoint_for`] is the pure decision, table-tested below; the I/O (reading
//! the master secret, its tags, RDS) lives in [`crate::multi_user`] and [`crate::rds_lookup`].

use std::fmt;

use rotation_core::config::{ConfigError, Environment};

/// `MASTER_HOSTS`: the hosts a master secret without `host` may be used on.
pub const MASTER_HOSTS_VARIABLE: &str = "MASTER_HOSTS";

/// A host and port, compared without regard to the case of the host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl HostPort {
    /// A host and port.
    pub fn new(host: impl Into<String>, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    /// Whether both name the same endpoint (DNS names are case-insensitive; a trailing dot
    /// names the same host).
    pub fn same_as(&self, other: &HostPort) -> bool {
        let bare = |host: &str| host.trim_end_matches('.').to_ascii_lowercase();
        self.port == other.port && bare(&self.host) == bare(&other.host)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One entry of `MASTER_HOSTS`: a host, and a port when the entry gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListedHost {
    host: String,
    port: Option<u16>,
}

/// The operator's list of hosts where a master secret without `host` may be used
/// (`MASTER_HOSTS`: comma-separated `host[:port]`, IPv6 addresses in brackets; an entry
/// without a port means the engine's default port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterHosts {
    hosts: Vec<ListedHost>,
}

impl MasterHosts {
    /// Reads `MASTER_HOSTS`; `None` when it is unset or empty. A malformed entry is an error
    /// naming the variable and the entry.
    pub fn from_env(env: &dyn Environment) -> Result<Option<MasterHosts>, ConfigError> {
        match env.var(MASTER_HOSTS_VARIABLE) {
            None => Ok(None),
            Some(text) => MasterHosts::parse(&text)
                .map_err(|problem| ConfigError::new(MASTER_HOSTS_VARIABLE, problem)),
        }
    }

    /// Parses the variable's value; `None` when it lists no host.
    pub fn parse(text: &str) -> Result<Option<MasterHosts>, String> {
        let hosts = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((!hosts.is_empty()).then_some(MasterHosts { hosts }))
    }

    /// The listed hosts as endpoints, entries without a port on `default_port`.
    pub fn endpoints(&self, default_port: u16) -> Vec<HostPort> {
        self.hosts
            .iter()
            .map(|listed| HostPort::new(&listed.host, listed.port.unwrap_or(default_port)))
            .collect()
    }
}

fn parse_entry(entry: &str) -> Result<ListedHost, String> {
    let bad = |why: &str| {
        format!(
            "{entry:?} is not host[:port] ({why}); expected a comma-separated list such as \
             \"db.example.com:5432, 10.0.0.7, [2001:db8::7]:3306\""
        )
    };
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address needs its closing bracket"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected :port after the bracket"))?,
                ),
            ),
        }
    } else {
        match entry.split_once(':') {
            None => (entry, None),
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            Some(_) => return Err(bad("write an IPv6 address in brackets")),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || "/@?#".contains(c))
    {
        return Err(bad("a host name has no spaces, slashes, @, ? or #"));
    }
    let port = match port {
        None => None,
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| bad("the port must be 1 to 65535"))?,
        ),
    };
    Ok(ListedHost {
        host: host.to_owned(),
        port,
    })
}

/// Who said where a master secret may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// The master secret's own `host` and `port`.
    MasterSecret,
    /// RDS: the instance or cluster the master secret's `aws:rds:...` tag names.
    Rds {
        /// The instance or cluster ARN.
        resource: String,
    },
    /// The operator's `MASTER_HOSTS`.
    Operator,
}

impl fmt::Display for TrustSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSource::MasterSecret => f.write_str("the master secret's host and port"),
            TrustSource::Rds { resource } => write!(f, "the endpoints RDS gives for {resource}"),
            TrustSource::Operator => write!(f, "the hosts {MASTER_HOSTS_VARIABLE} lists"),
        }
    }
}

/// Where a master secret may be used: the endpoint(s) it logs in to, and the other endpoints
/// of the same database (read replicas, reader endpoints) that a child may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedHosts {
    /// Who said so.
    pub source: TrustSource,
    /// Where the master logs in: a child naming one of these is served on that very one.
    pub primaries: Vec<HostPort>,
    /// Endpoints of the same database a child may name (replicas, readers); the master then
    /// logs in to the first primary, where changes are made.
    pub replicas: Vec<HostPort>,
}

/// A child secret naming a host that no trusted source gives for its master.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Current database host {child} is not the same host as/rds replica of master {} \
     (trusted from {trusted_by}{}); the master password is only sent to those",
    .primaries.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or "),
    if .replicas.is_empty() { String::new() } else {
        format!(", with its replicas {}",
            .replicas.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
    }
)]
pub struct UntrustedHost {
    /// The child's host and port.
    pub child: HostPort,
    /// Where the master may log in.
    pub primaries: Vec<HostPort>,
    /// The replicas the same source names.
    pub replicas: Vec<HostPort>,
    /// Who said so.
    pub trusted_by: TrustSource,
}

impl TrustedHosts {
    /// The endpoint the master logs in to for a child at `child`: the matching primary, or
    /// the first primary when the child names one of its replicas; an error naming both
    /// hosts otherwise.
    pub fn endpoint_for(&self, child: &HostPort) -> Result<HostPort, UntrustedHost> {
        if let Some(primary) = self.primaries.iter().find(|p| p.same_as(child)) {
            return Ok(primary.clone());
        }
        match self.primaries.first() {
            Some(primary) if self.replicas.iter().any(|r| r.same_as(child)) => Ok(primary.clone()),
            _ => Err(UntrustedHost {
                child: child.clone(),
                primaries: self.primaries.clone(),
                replicas: self.replicas.clone(),
                trusted_by: self.source.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_hosts_parse_or_say_what_is_wrong() {
        let hp = |host: &str, port| ListedHost {
            host: host.to_owned(),
            port,
        };
        for (text, expected) in [
            ("", None),
            (" , ", None),
            ("db", Some(vec![hp("db", None)])),
            (
                "db.example.com:5432, 10.0.0.7 ,[2001:db8::7]:3306,[::1]",
                Some(vec![
                    hp("db.example.com", Some(5432)),
                    hp("10.0.0.7", None),
                    hp("2001:db8::7", Some(3306)),
                    hp("::1", None),
                ]),
            ),
        ] {
            assert_eq!(
                MasterHosts::parse(text).unwrap(),
                expected.map(|hosts| MasterHosts { hosts }),
                "{text}"
            );
        }
        for (text, why) in [
            ("db:notaport", "the port must be 1 to 65535"),
            ("db:0", "the port must be 1 to 65535"),
            ("db:70000", "the port must be 1 to 65535"),
            (":5432", "the host is empty"),
            ("2001:db8::7", "write an IPv6 address in brackets"),
            ("[::1", "closing bracket"),
            ("[::1]5432", "expected :port"),
            ("user@db", "no spaces, slashes"),
            ("db one", "no spaces, slashes"),
        ] {
            let error = MasterHosts::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn a_bad_master_hosts_names_the_variable() {
        let error = MasterHosts::from_env(&[(MASTER_HOSTS_VARIABLE, "db:x")]).unwrap_err();
        assert_eq!(error.variable, MASTER_HOSTS_VARIABLE);
        assert!(
            MasterHosts::from_env(&[("OTHER", "db:x")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn entries_without_a_port_take_the_engines_default() {
        let hosts = MasterHosts::parse("a, b:6000").unwrap().unwrap();
        assert_eq!(
            hosts.endpoints(5432),
            [HostPort::new("a", 5432), HostPort::new("b", 6000)]
        );
    }

    #[test]
    fn the_master_logs_in_only_where_a_trusted_source_says() {
        let trusted = TrustedHosts {
            source: TrustSource::Rds {
                resource: "arn:aws:rds:us-east-1:1:db:prod".to_owned(),
            },
            primaries: vec![HostPort::new("prod.abc.rds.amazonaws.com", 5432)],
            replicas: vec![HostPort::new("prod-ro.abc.rds.amazonaws.com", 5432)],
        };
        let listed = TrustedHosts {
            source: TrustSource::Operator,
            primaries: vec![HostPort::new("a", 5432), HostPort::new("b", 6000)],
            replicas: vec![],
        };
        let primary = HostPort::new("prod.abc.rds.amazonaws.com", 5432);
        for (name, trust, child, expected) in [
            (
                "the writer itself",
                &trusted,
                primary.clone(),
                Ok(primary.clone()),
            ),
            (
                "any case, trailing dot",
                &trusted,
                HostPort::new("PROD.abc.rds.amazonaws.com.", 5432),
                Ok(primary.clone()),
            ),
            (
                "a replica: the master goes to the writer",
                &trusted,
                HostPort::new("prod-ro.abc.rds.amazonaws.com", 5432),
                Ok(primary.clone()),
            ),
            (
                "the writer on another port",
                &trusted,
                HostPort::new("prod.abc.rds.amazonaws.com", 6543),
                Err(()),
            ),
            (
                "a look-alike first label",
                &trusted,
                HostPort::new("prod-ro.attacker.example", 5432),
                Err(()),
            ),
            (
                "the attacker",
                &trusted,
                HostPort::new("127.0.0.1", 5432),
                Err(()),
            ),
            (
                "a listed host is served on itself",
                &listed,
                HostPort::new("b", 6000),
                Ok(HostPort::new("b", 6000)),
            ),
            (
                "a listed host, other port",
                &listed,
                HostPort::new("b", 5432),
                Err(()),
            ),
        ] {
            let outcome = trust.endpoint_for(&child).map_err(drop);
            assert_eq!(outcome, expected, "{name}");
        }
    }

    #[test]
    fn the_refusal_names_both_hosts_in_aws_words() {
        let trusted = TrustedHosts {
            source: TrustSource::Operator,
            primaries: vec![HostPort::new("db", 5432), HostPort::new("::1", 5432)],
            replicas: vec![],
        };
        let error = trusted
            .endpoint_for(&HostPort::new("127.0.0.1", 9999))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "Current database host 127.0.0.1:9999 is not the same host as/rds replica of \
                 master db:5432 or [::1]:5432 (trusted from the hosts MASTER_HOSTS lists)"
            ),
            "{error}"
        );
    }
}
