//! Copying a user's permissions: the reply of `ACL GETUSER` (Redis 7 or later) turned back
//! into the rules of `ACL SETUSER`, so that the clone of a pair may do exactly what the
//! original may.
//!
//! What is copied: the key patterns (`~pattern`, `%R~pattern`, `%W~pattern`), the channel
//! patterns (`&pattern`), the commands string (`+@all -flushall ...`), the selectors
//! (`(...)`), and the payload sanitisation flag. What is not: passwords (the clone gets its
//! own), and `on`/`off`/`nopass` (the clone is always on, with a password).
//!
//! # Token by token
//!
//! Redis prints the rules of each kind joined by single ASCII spaces, and refuses ASCII
//! whitespace inside a key or channel pattern, but accepts any other byte: a pattern may hold
//! `U+00A0` followed by `+@all`. So the printed text is split on the ASCII space only (never on
//! Unicode whitespace), and every token must be a rule of its field's kind (`~`/`%R~`/`%W~`/
//! `%RW~` for keys, `&` for channels, `+`/`-` for commands): a pattern never becomes a rule of
//! another kind. Inside a selector, which Redis re-splits with its own quoting rules
//! (`sdssplitargs`: quotes and `\x..` escapes), every token is sent double-quoted and escaped,
//! so that Redis reads back exactly the bytes it printed.
//!
//! Refused with a message (the rotation fails, nothing is copied): a first-argument rule
//! (`+select|0`; deprecated since Redis 7.0), whose argument may hold a space that would read
//! as more rules; a field that is not UTF-8; and Redis 6's answer (keys as an array,
//! `allkeys` flags).

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
            let inner: Vec<String> = permissions(&Fields::of(items)?)?
                .iter()
                .map(|rule| selector_quoted(rule))
                .collect();
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
    for field in [Field::Channels, Field::Keys, Field::Commands] {
        let text = match fields.get(field.name()) {
            None => String::new(),
            Some(Reply::Bulk(Some(bytes))) => String::from_utf8(bytes.clone()).map_err(|_| {
                format!(
                    "ACL GETUSER answered {} that are not UTF-8: they cannot be copied exactly",
                    field.name()
                )
            })?,
            Some(Reply::Simple(text)) => text.clone(),
            Some(_) => return Err(unsupported(field.name())),
        };
        // Redis joins the rules with one ASCII space; nothing else separates them.
        for token in text.split(' ').filter(|token| !token.is_empty()) {
            field.check(token)?;
            rules.push(token.to_owned());
        }
    }
    Ok(rules)
}

/// A field of `ACL GETUSER` that holds rules, and the kind of rule it may hold.
#[derive(Debug, Clone, Copy)]
enum Field {
    Channels,
    Keys,
    Commands,
}

/// The container commands of Redis 7 and 8, whose `cmd|sub` rules name a subcommand (no
/// space possible) rather than a first argument (any bytes).
const CONTAINER_COMMANDS: [&str; 15] = [
    "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module",
    "object", "pubsub", "script", "slowlog", "xgroup", "xinfo",
];

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Channels => "channels",
            Field::Keys => "keys",
            Field::Commands => "commands",
        }
    }

    /// Whether `token` is a rule of this field's kind; an error saying which rule is not.
    fn check(self, token: &str) -> Result<(), String> {
        let fits = match self {
            Field::Channels => token.starts_with('&'),
            Field::Keys => ["~", "%R~", "%W~", "%RW~"]
                .iter()
                .any(|prefix| token.starts_with(prefix)),
            Field::Commands => {
                let Some(rule) = token.strip_prefix('+').or_else(|| token.strip_prefix('-')) else {
                    return Err(self.refuse("a rule that does not start with + or -"));
                };
                if let Some((command, _)) = rule.split_once('|')
                    && !CONTAINER_COMMANDS.contains(&command.to_ascii_lowercase().as_str())
                {
                    return Err(self.refuse(
                        "a first-argument rule (such as +select|0): its argument may hold a \
                         space that reads as more rules, so it cannot be copied safely; \
                         replace it on the original (first-argument rules are deprecated \
                         since Redis 7.0) or give the clone its rules by hand",
                    ));
                }
                true
            }
        };
        if fits {
            Ok(())
        } else {
            Err(self.refuse("a rule of another kind"))
        }
    }

    fn refuse(self, what: &str) -> String {
        format!(
            "ACL GETUSER answered {} holding {what}; refusing to copy the user's rules",
            self.name()
        )
    }
}

/// A rule as one argument of Redis's `sdssplitargs`, which reads a selector: double-quoted,
/// with `\`, `"` and every byte outside printable ASCII escaped, so that quotes and escapes
/// in a pattern are read back as the bytes they are.
fn selector_quoted(rule: &str) -> String {
    let mut quoted = String::with_capacity(rule.len() + 2);
    quoted.push('"');
    for byte in rule.bytes() {
        match byte {
            b'"' => quoted.push_str("\\\""),
            b'\\' => quoted.push_str("\\\\"),
            b' '..=b'~' => quoted.push(char::from(byte)),
            other => quoted.push_str(&format!("\\x{other:02x}")),
        }
    }
    quoted.push('"');
    quoted
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
                "(\"resetchannels\" \"~x\" \"-@all\" \"+set\")"
            ]
        );
    }

    /// A Redis 7 reply with the given keys, channels and commands, and one selector.
    fn user(keys: &[u8], channels: &[u8], commands: &[u8], selector_keys: &[u8]) -> Reply {
        let raw = |bytes: &[u8]| Reply::Bulk(Some(bytes.to_vec()));
        array(vec![
            bulk("flags"),
            array(vec![bulk("on")]),
            bulk("commands"),
            raw(commands),
            bulk("keys"),
            raw(keys),
            bulk("channels"),
            raw(channels),
            bulk("selectors"),
            array(vec![array(vec![
                bulk("commands"),
                bulk("-@all +get"),
                bulk("keys"),
                raw(selector_keys),
                bulk("channels"),
                bulk(""),
            ])]),
        ])
    }

    #[test]
    fn patterns_are_copied_token_by_token_and_never_become_other_rules() {
        let nbsp = "~app:*\u{a0}+@all";
        let rules = rules_of(&user(
            nbsp.as_bytes(),
            "&n\u{2003}+@all".as_bytes(),
            b"-@all +get +config|get",
            "~s\u{a0}+@all ~\"\\x2a\" %R~r\\".as_bytes(),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            rules,
            [
                "resetchannels",
                "&n\u{2003}+@all",
                nbsp,
                "-@all",
                "+get",
                "+config|get",
                "(\"resetchannels\" \"~s\\xc2\\xa0+@all\" \"~\\\"\\\\x2a\\\"\" \"%R~r\\\\\" \"-@all\" \"+get\")",
            ]
        );
        assert!(!rules.iter().any(|rule| rule == "+@all"));
    }

    #[test]
    fn rules_of_another_kind_or_first_arguments_are_refused() {
        let refused: [(&[u8], &[u8], &[u8]); 5] = [
            (b"~a +@all", b"", b"-@all"),
            (b"~a", b"&b ~*", b"-@all"),
            (b"~a", b"", b"-@all allcommands"),
            (b"~a", b"", b"-@all +select|a +@all"),
            (b"~a\xa0", b"", b"-@all"),
        ];
        for (keys, channels, commands) in refused {
            let error = rules_of(&user(keys, channels, commands, b"~x")).unwrap_err();
            assert!(error.contains("ACL GETUSER answered"), "{error}");
        }
        let error = rules_of(&user(b"~a", b"", b"-@all", b"~x +@all")).unwrap_err();
        assert!(
            error.contains("keys holding a rule of another kind"),
            "{error}"
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
