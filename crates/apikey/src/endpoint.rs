//! Where requests may go: a provider's base URL, checked once before any key is sent, and the
//! URL of each request, checked to stay on that host.
//!
//! A key travels in a header, so the base URL decides who receives it. It must be `https://`
//! (plain `http://` only to a loopback address, unless `API_KEY_ALLOW_HTTP` allows it), carry
//! no user name or password, and a request's path can never move it to another host.

use std::net::IpAddr;

use http::Uri;
use http::uri::{Authority, Scheme};

/// Why a base URL or a request URL is refused. Never quotes a whole URL (one could carry a
/// user name and password); names the host at most.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not an absolute `scheme://host` URL.
    #[error("is not an absolute URL like https://api.example.com")]
    NotAUrl,
    /// A scheme other than `https` and `http`.
    #[error("uses the scheme {0:?}: only https:// (and http:// to a loopback address) is spoken")]
    Scheme(String),
    /// `user:password@` in the URL.
    #[error("carries a user name or password before the host; the key is sent in a header")]
    UserInfo,
    /// A query or fragment in a base URL, which a path would be appended after.
    #[error("has a query or fragment; a base URL is scheme, host, port and an optional path")]
    QueryOrFragment,
    /// Plain HTTP to a host that is not a loopback address.
    #[error(
        "is plain http:// to {host}, which is not a loopback address: the key would cross the \
         network in clear; use https://, or set API_KEY_ALLOW_HTTP=true if the network is trusted"
    )]
    PlainHttp {
        /// The host.
        host: String,
    },
    /// A request path that does not start with `/`, or that leaves the base URL's host.
    #[error("the request path {0:?} must start with / and stay on the provider's host")]
    Path(String),
}

/// A checked base URL: scheme, host, optional port and path prefix, no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: String,
    scheme: Scheme,
    authority: Authority,
}

impl Endpoint {
    /// Checks a base URL. `allow_http` is `API_KEY_ALLOW_HTTP`.
    pub fn parse(text: &str, allow_http: bool) -> Result<Endpoint, EndpointError> {
        let text = text.trim().trim_end_matches('/');
        let uri: Uri = text.parse().map_err(|_| EndpointError::NotAUrl)?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(EndpointError::NotAUrl);
        };
        if authority.as_str().contains('@') {
            return Err(EndpointError::UserInfo);
        }
        if uri.query().is_some() || text.contains('#') {
            return Err(EndpointError::QueryOrFragment);
        }
        if *scheme == Scheme::HTTP {
            if !allow_http && !is_loopback(authority.host()) {
                return Err(EndpointError::PlainHttp {
                    host: authority.host().to_owned(),
                });
            }
        } else if *scheme != Scheme::HTTPS {
            return Err(EndpointError::Scheme(scheme.as_str().to_owned()));
        }
        Ok(Endpoint {
            base: text.to_owned(),
            scheme: scheme.clone(),
            authority: authority.clone(),
        })
    }

    /// The base URL as checked (no trailing `/`).
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The host (and port), for messages.
    pub fn host(&self) -> &str {
        self.authority.as_str()
    }

    /// The URL of a request: the base URL and `path`, which must start with `/` and may not
    /// change the scheme or host (whatever a profile or a filled placeholder holds).
    pub fn url(&self, path: &str) -> Result<Uri, EndpointError> {
        let refused = || EndpointError::Path(path.to_owned());
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(refused());
        }
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|_| refused())?;
        if uri.scheme() != Some(&self.scheme) || uri.authority() != Some(&self.authority) {
            return Err(refused());
        }
        Ok(uri)
    }
}

/// Whether a URL host is a loopback IP address (`127.0.0.0/8`, `[::1]`). Names are not
/// trusted to be: a resolver decides what `localhost` means.
fn is_loopback(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        use EndpointError::*;
        for (text, allow_http, expected) in [
            (
                "https://api.example.com",
                false,
                Ok("https://api.example.com"),
            ),
            (
                "https://api.example.com/",
                false,
                Ok("https://api.example.com"),
            ),
            (
                "https://api.example.com:8443/v2/",
                false,
                Ok("https://api.example.com:8443/v2"),
            ),
            ("http://127.0.0.1:8080", false, Ok("http://127.0.0.1:8080")),
            ("http://127.5.6.7", false, Ok("http://127.5.6.7")),
            ("http://[::1]:9000", false, Ok("http://[::1]:9000")),
            ("http://10.0.0.1", true, Ok("http://10.0.0.1")),
            ("http://api.example.com", true, Ok("http://api.example.com")),
            (
                "http://localhost:8080",
                false,
                Err(PlainHttp {
                    host: "localhost".into(),
                }),
            ),
            (
                "http://10.0.0.1",
                false,
                Err(PlainHttp {
                    host: "10.0.0.1".into(),
                }),
            ),
            (
                "http://127.0.0.1.evil.example",
                false,
                Err(PlainHttp {
                    host: "127.0.0.1.evil.example".into(),
                }),
            ),
            ("ftp://api.example.com", false, Err(Scheme("ftp".into()))),
            ("https://user:pw@api.example.com", false, Err(UserInfo)),
            ("https://api.example.com/?a=b", false, Err(QueryOrFragment)),
            ("api.example.com", false, Err(NotAUrl)),
            ("/v1", false, Err(NotAUrl)),
            ("", false, Err(NotAUrl)),
        ] {
            let parsed = Endpoint::parse(text, allow_http);
            assert_eq!(
                parsed.as_ref().map(Endpoint::as_str).map_err(Clone::clone),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn a_path_stays_on_the_host() {
        let endpoint = Endpoint::parse("https://api.example.com/v2", false).unwrap();
        assert_eq!(
            endpoint.url("/keys/k1").unwrap().to_string(),
            "https://api.example.com/v2/keys/k1"
        );
        assert_eq!(
            endpoint.url("/keys?limit=100").unwrap().to_string(),
            "https://api.example.com/v2/keys?limit=100"
        );
        for path in [
            "@evil.example/keys",
            "evil",
            "//evil.example/x",
            ".evil.example/x",
            "",
        ] {
            assert_eq!(
                endpoint.url(path),
                Err(EndpointError::Path(path.to_owned())),
                "{path}"
            );
        }
        let bare = Endpoint::parse("https://api.example.com", false).unwrap();
        assert!(bare.url(":8443/x").is_err());
        assert!(bare.url("@evil.example/x").is_err());
    }

    #[test]
    fn messages_never_quote_the_url() {
        let error = Endpoint::parse("http://user:hunter2@10.0.0.1", false).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error = Endpoint::parse("http://10.0.0.1/secret-path", false).unwrap_err();
        assert!(!error.to_string().contains("secret-path"), "{error}");
    }
}
