//! Copying a user's permissions: the reply of `ACL GETUSER` (Redis 7 or later) turned back
//! into the rules of `ACL SETUSER`, so that the clone of a pair may do exactly what the
//! original may.
//!
//! What is copied: the key patterns (`~pattern`, `%R~pattern`, `%W~pattern`), the channel
//! patterns (`&pattern`), the commands string (`+@all -flushall ...`), the selectors
//! (`(...)`), and the payload sanitisation flag. What is not: passwords (the clone gets its
//! own), and `on`/`off`/`nopass` (the clone is always on, with a password).
//!
//! Limits: Redis prints the rules of each kind joined by spaces, so a pattern that contains a
//! space cannot be told apart and is copied as two patterns; and Redis 6's answer (keys as an
//! array, `allkeys` flags) is not understood: the rotation then fails with a message saying so.

use crate::resp::Reply;

/// The flags copied from the original.
const COPIED_FLAGS: [&str; 2] = ["sanitize-payload", "skip-sanitize-payload"];

/// The rules of `ACL SETUSER` that give a user what the `ACL GETUSER` reply says another user
/// has, starting from a user without any (after `reset`): `Ok(None)` when the reply is null
/// (no such user), an error saying what was not understood otherwise.
pub fn rules_of(reply: &Reply) -> Result<Option<Vec<String>>, String> {
    let items = match reply {
        Reply::Array(None) | Reply::Bulk(None) => return Ok(None),
        Reply::Array(Some(items)) => items,
        other => return Err(format!("ACL GETUSER answered {}", other.describe())),
    };
    let fields = Fields::of(items)?;
    let mut rules: Vec<String> = Vec::new();
    if let Some(flags) = fields.get("flags") {
        for flag in strings(flags, "flags")? {
            if COPIED_FLAGS.contains(&flag.as_str()) {
                rules.push(flag);
            }
        }
    }
    rules.extend(permissions(&fields)?);
    if let Some(selectors) = fields.get("selectors") {
        let Reply::Array(Some(selectors)) = selectors else {
            return Err(unsupported("selectors"));
        };
        for selector in selectors {
            let Reply::Array(Some(items)) = selector else {
                return Err(unsupported("a selector"));
            };
            let inner = permissions(&Fields::of(items)?)?;
            rules.push(format!("({})", inner.join(" ")));
        }
    }
    Ok(Some(rules))
}

/// `resetchannels` and the channel, key and command rules of a user or a selector.
fn permissions(fields: &Fields<'_>) -> Result<Vec<String>, String> {
    // Explicitly none first: after `reset`, a server with `acl-pubsub-default allchannels`
    // would otherwise give the clone every channel the original does not have.
    let mut rules = vec!["resetchannels".to_owned()];
    for field in ["channels", "keys", "commands"] {
        let text = match fields.get(field) {
            None => String::new(),
            Some(value) => value.text().ok_or_else(|| unsupported(field))?,
        };
        rules.extend(text.split_whitespace().map(str::to_owned));
    }
    Ok(rules)
}

fn unsupported(field: &str) -> String {
    format!(
        "ACL GETUSER answered {field} in a form this rotator does not understand (it needs \
         Redis 7 or later)"
    )
}

/// The strings of an array field.
fn strings(value: &Reply, field: &str) -> Result<Vec<String>, String> {
    match value {
        Reply::Array(Some(items)) => items
            .iter()
            .map(|item| item.text().ok_or_else(|| unsupported(field)))
            .collect(),
        _ => Err(unsupported(field)),
    }
}

/// A RESP2 map: an array of alternating names and values.
struct Fields<'a>(Vec<(String, &'a Reply)>);

impl<'a> Fields<'a> {
    fn of(items: &'a [Reply]) -> Result<Fields<'a>, String> {
        if !items.len().is_multiple_of(2) {
            return Err("ACL GETUSER answered a map with an odd number of items".to_owned());
        }
        items
            .chunks(2)
            .map(|pair| {
                let name = pair[0].text().ok_or_else(|| {
                    "ACL GETUSER answered a map with a name that is not a string".to_owned()
                })?;
                Ok((name, &pair[1]))
            })
            .collect::<Result<Vec<_>, String>>()
            .map(Fields)
    }

    fn get(&self, name: &str) -> Option<&'a Reply> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| *value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Some(text.as_bytes().to_vec()))
    }

    fn array(items: Vec<Reply>) -> Reply {
        Reply::Array(Some(items))
    }

    #[test]
    fn redis_7_rules_are_copied_without_passwords_or_on_off() {
        let reply = array(vec![
            bulk("flags"),
            array(vec![bulk("on"), bulk("sanitize-payload")]),
            bulk("passwords"),
            array(vec![bulk("c592df4a86933b92")]),
            bulk("commands"),
            bulk("-@all +get"),
            bulk("keys"),
            bulk("~foo* %R~bar"),
            bulk("channels"),
            bulk("&ch"),
            bulk("selectors"),
            array(vec![array(vec![
                bulk("commands"),
                bulk("-@all +set"),
                bulk("keys"),
                bulk("~x"),
                bulk("channels"),
                bulk(""),
            ])]),
        ]);
        assert_eq!(
            rules_of(&reply).unwrap().unwrap(),
            [
                "sanitize-payload",
                "resetchannels",
                "&ch",
                "~foo*",
                "%R~bar",
                "-@all",
                "+get",
                "(resetchannels ~x -@all +set)"
            ]
        );
    }

    #[test]
    fn no_such_user_is_none() {
        assert_eq!(rules_of(&Reply::Array(None)).unwrap(), None);
        assert_eq!(rules_of(&Reply::Bulk(None)).unwrap(), None);
    }

    #[test]
    fn redis_6_answers_are_refused_with_a_reason() {
        let reply = array(vec![
            bulk("flags"),
            array(vec![bulk("on"), bulk("allkeys")]),
            bulk("keys"),
            array(vec![bulk("*")]),
        ]);
        let error = rules_of(&reply).unwrap_err();
        assert!(error.contains("Redis 7 or later"), "{error}");
        assert!(rules_of(&Reply::Error("NOPERM".into())).is_err());
    }
}
