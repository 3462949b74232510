//! The server's flavour and version, parsed from `SELECT VERSION()` (not matched by prefix: a
//! MySQL 9 server must not be taken for a 5.x one, as AWS's template does).

use std::fmt;

/// Which server family answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Oracle MySQL, Aurora MySQL, Percona.
    MySql,
    /// MariaDB.
    MariaDb,
}

/// A parsed server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerVersion {
    /// MySQL or MariaDB.
    pub flavor: Flavor,
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl ServerVersion {
    /// Parses `VERSION()`: `8.0.36`, `5.7.44-log`, `8.0.mysql_aurora.3.05.2`, `9.1.0`,
    /// `10.11.19-MariaDB-0+deb12u1`, `5.5.5-10.6.16-MariaDB` (the replication prefix). `None` when
    /// it does not start with a number.
    pub fn parse(text: &str) -> Option<ServerVersion> {
        let flavor = if text.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        };
        // MariaDB behind the 5.5.5 replication prefix reports its real version after it.
        let text = match (flavor, text.strip_prefix("5.5.5-")) {
            (Flavor::MariaDb, Some(rest)) => rest,
            _ => text,
        };
        let mut numbers = text
            .split(|c: char| !c.is_ascii_digit())
            .take_while(|part| !part.is_empty())
            .map(|part| part.parse::<u32>().ok());
        let major = numbers.next()??;
        let minor = numbers.next().flatten().unwrap_or(0);
        let patch = numbers.next().flatten().unwrap_or(0);
        Some(ServerVersion {
            flavor,
            major,
            minor,
            patch,
        })
    }

    /// Whether this is at least `major.minor.patch` (of the same flavour).
    pub fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        (self.major, self.minor, self.patch) >= (major, minor, patch)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.flavor {
            Flavor::MySql => "MySQL",
            Flavor::MariaDb => "MariaDB",
        };
        write!(f, "{name} {}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        let cases = [
            ("8.0.36", Flavor::MySql, (8, 0, 36)),
            ("5.7.44-log", Flavor::MySql, (5, 7, 44)),
            ("8.0.mysql_aurora.3.05.2", Flavor::MySql, (8, 0, 0)),
            ("9.1.0", Flavor::MySql, (9, 1, 0)),
            ("10.11.19-MariaDB-0+deb12u1", Flavor::MariaDb, (10, 11, 19)),
            ("5.5.5-10.6.16-MariaDB", Flavor::MariaDb, (10, 6, 16)),
            ("11.4.2-MariaDB-log", Flavor::MariaDb, (11, 4, 2)),
        ];
        for (text, flavor, (major, minor, patch)) in cases {
            let version = ServerVersion::parse(text).unwrap();
            assert_eq!(
                (version.flavor, version.major, version.minor, version.patch),
                (flavor, major, minor, patch),
                "{text}"
            );
        }
        assert_eq!(ServerVersion::parse("unknown"), None);
    }

    #[test]
    fn comparisons() {
        let version = ServerVersion::parse("8.0.14").unwrap();
        assert!(version.at_least(8, 0, 14));
        assert!(!version.at_least(8, 0, 15));
        assert!(version.at_least(5, 7, 6));
    }
}
