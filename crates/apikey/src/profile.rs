//! A provider described as data: how to mint, find, test and revoke a key over HTTP.
//!
//! ```json
//! {
//!   "name": "example",
//!   "baseUrl": "https://api.example.com",
//!   "auth": {"header": "Authorization", "value": "Bearer {key}"},
//!   "create": {"method": "POST", "path": "/v1/keys", "body": {"name": "{label}"},
//!              "keyPointer": "/key", "idPointer": "/id"},
//!   "list":   {"method": "GET", "path": "/v1/keys", "itemsPointer": "/keys",
//!              "idPointer": "/id", "labelPointer": "/name"},
//!   "test":   {"method": "GET", "path": "/v1/whoami", "expectStatus": [200]},
//!   "revoke": {"method": "DELETE", "path": "/v1/keys/{id}", "expectStatus": [200, 204]}
//! }
//! ```
//!
//! Strings in `path`, `headers` and `body` may hold `{label}` (the name the new key gets:
//! `rotation-<token>`) and `{id}` (the key's id), filled in one pass (percent-encoded in the
//! path); only the `auth` value holds `{key}`, the credential that manages keys (or, for `test`
//! and `identify`, the key itself). `create` gives the new key and its id by JSON pointers into
//! the answer. `list` is optional but strongly advised: it is how a retry finds a key minted by
//! an attempt that crashed before storing it, how a mint that failed after the provider may
//! have acted is retried safely (without it, such a mint is not repeated), and how a `revoke`
//! answered 404 is checked (it counts as done only when the list no longer shows the key).
//! `identify` proves which key an old version holds before its id is revoked.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// A provider profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// A name for messages (`example`).
    pub name: String,
    /// Scheme, host and optional port (and path prefix) of the API.
    pub base_url: String,
    /// How a request carries the managing key.
    #[serde(default)]
    pub auth: Auth,
    /// Minting a key.
    pub create: CreateRequest,
    /// Listing keys, to find one by its label.
    #[serde(default)]
    pub list: Option<ListRequest>,
    /// Proving a key works.
    pub test: Request,
    /// Revoking a key by id.
    pub revoke: Request,
    /// Optional: asking, with a key, for that key's id (a "who am I" request), for secrets
    /// that do not store the id (plain strings).
    #[serde(default)]
    pub identify: Option<IdentifyRequest>,
}

/// Identifying a key: a request made with the key itself, and where the answer holds its id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct IdentifyRequest {
    /// The request.
    pub request: Request,
    /// JSON pointer to the key's id.
    pub id_pointer: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IdentifyFields {
    id_pointer: String,
}

impl TryFrom<Map<String, Value>> for IdentifyRequest {
    type Error = String;

    fn try_from(map: Map<String, Value>) -> Result<Self, String> {
        let (request, fields): (Request, IdentifyFields) = with_request(map, &["idPointer"])?;
        Ok(IdentifyRequest {
            request,
            id_pointer: fields.id_pointer,
        })
    }
}

/// Splits a request section into its own `fields` and the rest, read as its [`Request`]: a key
/// that is neither is refused (serde's `flatten` would ignore it, so a typo such as
/// `expectStatuses` would silently make any 2xx a success).
fn with_request<T: serde::de::DeserializeOwned>(
    mut map: Map<String, Value>,
    fields: &[&str],
) -> Result<(Request, T), String> {
    let own: Map<String, Value> = fields
        .iter()
        .filter_map(|field| map.remove(*field).map(|value| ((*field).to_owned(), value)))
        .collect();
    let request = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
    let own = serde_json::from_value(Value::Object(own)).map_err(|e| e.to_string())?;
    Ok((request, own))
}

/// The header that carries a key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Auth {
    /// Header name.
    pub header: String,
    /// Header value, with `{key}`.
    pub value: String,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            header: "Authorization".to_owned(),
            value: "Bearer {key}".to_owned(),
        }
    }
}

/// A request and the statuses that mean success.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path after the base URL, with `{id}` / `{label}`.
    pub path: String,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, with `{id}` / `{label}` in its strings.
    #[serde(default)]
    pub body: Option<Value>,
    /// Statuses that mean success; any 2xx when empty.
    #[serde(default)]
    pub expect_status: Vec<u16>,
}

/// Minting: a request and where the answer holds the key and its id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct CreateRequest {
    /// The request.
    pub request: Request,
    /// JSON pointer to the new key in the answer.
    pub key_pointer: String,
    /// JSON pointer to its id.
    pub id_pointer: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateFields {
    key_pointer: String,
    id_pointer: String,
}

impl TryFrom<Map<String, Value>> for CreateRequest {
    type Error = String;

    fn try_from(map: Map<String, Value>) -> Result<Self, String> {
        let (request, fields): (Request, CreateFields) =
            with_request(map, &["keyPointer", "idPointer"])?;
        Ok(CreateRequest {
            request,
            key_pointer: fields.key_pointer,
            id_pointer: fields.id_pointer,
        })
    }
}

/// Listing: a request and where the answer holds each key's id and label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct ListRequest {
    /// The request.
    pub request: Request,
    /// JSON pointer to the array of keys (empty: the answer is the array).
    pub items_pointer: String,
    /// JSON pointer to an item's id.
    pub id_pointer: String,
    /// JSON pointer to an item's label.
    pub label_pointer: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListFields {
    #[serde(default)]
    items_pointer: String,
    id_pointer: String,
    label_pointer: String,
}

impl TryFrom<Map<String, Value>> for ListRequest {
    type Error = String;

    fn try_from(map: Map<String, Value>) -> Result<Self, String> {
        let (request, fields): (Request, ListFields) =
            with_request(map, &["itemsPointer", "idPointer", "labelPointer"])?;
        Ok(ListRequest {
            request,
            items_pointer: fields.items_pointer,
            id_pointer: fields.id_pointer,
            label_pointer: fields.label_pointer,
        })
    }
}

impl Request {
    /// Whether a status means success.
    pub fn accepts(&self, status: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect_status.contains(&status)
        }
    }
}

/// The profiles this crate ships, by name.
pub fn builtin(name: &str) -> Option<Profile> {
    let text = match name {
        "rotation-keyservice" => KEYSERVICE,
        "sendgrid" => SENDGRID,
        _ => return None,
    };
    serde_json::from_str(text).ok()
}

/// The names of the built-in profiles.
pub const BUILTIN: &[&str] = &["rotation-keyservice", "sendgrid"];

/// The local key service of this project's tests and demo (`rotation-keyservice`), whose
/// base URL the secret's `baseUrl` gives. The file is also the README's complete example.
const KEYSERVICE: &str = include_str!("../profiles/rotation-keyservice.json");

/// Twilio SendGrid's API keys (`/v3/api_keys`, written from its public API reference; not
/// run against the live service from here). The first key must be made in SendGrid's app
/// with the right to manage keys (`api_keys.*` scopes); a new key gets that key's scopes
/// unless the secret's inline profile adds `"scopes"` to the body. No `identify`: store JSON
/// secrets (`apiKeyId`) so that replaced keys can be revoked.
const SENDGRID: &str = include_str!("../profiles/sendgrid.json");

/// Replaces `{name}` placeholders in a string, in one pass: a value that holds a
/// placeholder is not filled again. Unknown placeholders stay as written.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    render(template, values, Cow::Borrowed)
}

/// Replaces placeholders in a path, percent-encoding each value, so that an id or label
/// (which came from a secret or an answer) is one path segment: it can add no `/`, `?`, `#`,
/// `..` or `@` to the URL.
pub(crate) fn fill_path(template: &str, values: &[(&str, &str)]) -> String {
    render(template, values, percent_encode)
}

fn render<'v>(
    template: &str,
    values: &[(&str, &'v str)],
    encode: impl Fn(&'v str) -> Cow<'v, str>,
) -> String {
    let mut text = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        text.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let known = after.find('}').and_then(|end| {
            values
                .iter()
                .find(|(name, _)| *name == &after[..end])
                .map(|(_, value)| (*value, end))
        });
        match known {
            Some((value, end)) => {
                text.push_str(&encode(value));
                rest = &after[end + 1..];
            }
            None => {
                text.push('{');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text
}

/// Every byte but ASCII letters, digits, `-`, `_` and `~` as `%XX` (`.` too, so that no
/// value can be the segment `..`).
fn percent_encode(value: &str) -> Cow<'_, str> {
    let keep = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~');
    if value.bytes().all(|byte| keep(&byte)) {
        return Cow::Borrowed(value);
    }
    let mut encoded = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if keep(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Cow::Owned(encoded)
}

/// Replaces placeholders in every string of a JSON value.
pub(crate) fn fill_json(template: &Value, values: &[(&str, &str)]) -> Value {
    match template {
        Value::String(text) => Value::String(fill(text, values)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, values)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), fill_json(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_profiles_parse() {
        for name in BUILTIN {
            let profile = builtin(name).unwrap_or_else(|| panic!("{name} does not parse"));
            assert_eq!(&profile.name, name);
        }
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn a_profile_with_an_unknown_key_is_refused() {
        let error = serde_json::from_str::<Profile>(
            r#"{"name":"x","baseUrl":"http://h","create":{"method":"POST","path":"/k","keyPointer":"/k","idPointer":"/i"},
                "test":{"method":"GET","path":"/t"},"revoke":{"method":"DELETE","path":"/k/{id}"},"revokeAll":true}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("revokeAll"), "{error}");
    }

    #[test]
    fn an_unknown_key_inside_create_list_or_identify_is_refused() {
        let profile = |section: &str, body: &str| {
            format!(
                r#"{{"name":"x","baseUrl":"http://h","create":{{"method":"POST","path":"/k","keyPointer":"/k","idPointer":"/i"}},
                    "test":{{"method":"GET","path":"/t"}},"revoke":{{"method":"DELETE","path":"/k/{{id}}"}},"{section}":{body}}}"#
            )
        };
        let good_list = r#"{"method":"GET","path":"/k","idPointer":"/id","labelPointer":"/l"}"#;
        let good_identify = r#"{"method":"GET","path":"/me","idPointer":"/id"}"#;
        for (section, body) in [("list", good_list), ("identify", good_identify)] {
            serde_json::from_str::<Profile>(&profile(section, body))
                .unwrap_or_else(|e| panic!("{section}: {e}"));
        }
        let typo = r#""expectStatuses":[201],"#;
        let cases = [
            (
                "create",
                format!(
                    r#"{{{typo}"method":"POST","path":"/k","keyPointer":"/k","idPointer":"/i"}}"#
                ),
            ),
            ("list", good_list.replacen('{', &format!("{{{typo}"), 1)),
            (
                "identify",
                good_identify.replacen('{', &format!("{{{typo}"), 1),
            ),
        ];
        for (section, body) in cases {
            let text = if section == "create" {
                profile("list", good_list).replacen(
                    r#""create":{"method":"POST","path":"/k","keyPointer":"/k","idPointer":"/i"}"#,
                    &format!(r#""create":{body}"#),
                    1,
                )
            } else {
                profile(section, &body)
            };
            let error = serde_json::from_str::<Profile>(&text).unwrap_err();
            assert!(
                error.to_string().contains("expectStatuses"),
                "{section}: {error}"
            );
        }
    }

    #[test]
    fn placeholders_are_filled_in_strings_and_json() {
        assert_eq!(fill("/keys/{id}", &[("id", "k1")]), "/keys/k1");
        assert_eq!(
            fill_json(
                &serde_json::json!({"name": "{label}", "n": 1, "tags": ["{label}"]}),
                &[("label", "rotation-t")]
            ),
            serde_json::json!({"name": "rotation-t", "n": 1, "tags": ["rotation-t"]})
        );
        // One pass: a value holding a placeholder is not filled again.
        assert_eq!(
            fill("{label}/{id}", &[("label", "{id}"), ("id", "k1")]),
            "{id}/k1"
        );
        assert_eq!(fill("{nope} {id", &[("id", "k1")]), "{nope} {id");
    }

    #[test]
    fn path_values_are_one_segment() {
        for (id, path) in [
            ("key_1-a~b", "/v1/keys/key_1-a~b"),
            ("../admin", "/v1/keys/%2E%2E%2Fadmin"),
            ("x?all=1#f", "/v1/keys/x%3Fall%3D1%23f"),
            ("@evil.example", "/v1/keys/%40evil%2Eexample"),
            ("é", "/v1/keys/%C3%A9"),
        ] {
            assert_eq!(fill_path("/v1/keys/{id}", &[("id", id)]), path, "{id}");
        }
    }

    #[test]
    fn statuses() {
        let mut request: Request = serde_json::from_str(r#"{"method":"GET","path":"/"}"#).unwrap();
        assert!(request.accepts(204) && !request.accepts(404));
        request.expect_status = vec![201];
        assert!(request.accepts(201) && !request.accepts(200));
    }
}
