//! Reading what a profile wants out of an answer, without building the answer's tree.
//!
//! A provider answers whatever it likes. Parsed whole into a `serde_json::Value`, a body of
//! one MiB made of tiny objects grows tenfold in memory, so the answer is never parsed whole:
//! a JSON pointer is followed while the text is read, everything off the path is skipped
//! ([`serde::de::IgnoredAny`]), and only the value at the pointer is kept. A list's items are
//! taken one at a time as raw text slices of the body, and each yields only its id and label.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// What a JSON pointer leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing: a missing key or index, or a path through a string or number.
    Nothing,
    /// A string.
    Text(String),
    /// A number, as written.
    Number(String),
    /// `null`, a boolean, an object or an array.
    Other,
}

impl Found {
    /// The value as an id: a string or a number.
    pub fn into_id(self) -> Option<String> {
        match self {
            Found::Text(text) | Found::Number(text) => Some(text),
            Found::Nothing | Found::Other => None,
        }
    }

    /// The value as a string.
    pub fn into_text(self) -> Option<String> {
        match self {
            Found::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// Why a body could not be read as JSON; says where, never what the body holds.
pub fn describe(error: &serde_json::Error) -> String {
    format!(
        "the answer is not JSON ({} at line {} column {})",
        match error.classify() {
            serde_json::error::Category::Eof => "it ends early",
            serde_json::error::Category::Syntax => "syntax error",
            _ => "unexpected data",
        },
        error.line(),
        error.column()
    )
}

/// The value at `pointer` (RFC 6901) in `body`; an empty body has nothing anywhere.
pub fn scalar_at(body: &[u8], pointer: &str) -> Result<Found, String> {
    if is_blank(body) {
        return Ok(Found::Nothing);
    }
    let tokens = tokens(pointer);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let found = At {
        tokens: &tokens,
        leaf: ScalarLeaf,
    }
    .deserialize(&mut reader)
    .map_err(|error| describe(&error))?;
    reader.end().map_err(|error| describe(&error))?;
    Ok(found.unwrap_or(Found::Nothing))
}

/// Calls `each` with the raw text of every item of the array at `pointer` in `body`; false
/// when there is no array there.
pub fn each_item_at(
    body: &[u8],
    pointer: &str,
    mut each: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<bool, String> {
    if is_blank(body) {
        return Ok(false);
    }
    let tokens = tokens(pointer);
    let mut failure = None;
    let mut reader = serde_json::Deserializer::from_slice(body);
    let found = At {
        tokens: &tokens,
        leaf: ItemsLeaf {
            each: &mut |item: &RawValue| {
                if failure.is_none() {
                    failure = each(item.get().as_bytes()).err();
                }
            },
        },
    }
    .deserialize(&mut reader)
    .map_err(|error| describe(&error))?;
    reader.end().map_err(|error| describe(&error))?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(found.unwrap_or(false))
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// The reference tokens of a JSON pointer (`""` is the whole document).
fn tokens(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .strip_prefix('/')
        .unwrap_or(pointer)
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Follows `tokens` down the document, skipping everything else, then reads the leaf.
struct At<'t, L> {
    tokens: &'t [String],
    leaf: L,
}

impl<'de, L: DeserializeSeed<'de>> DeserializeSeed<'de> for At<'_, L> {
    type Value = Option<L::Value>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        match self.tokens.split_first() {
            None => self.leaf.deserialize(reader).map(Some),
            Some((token, rest)) => reader.deserialize_any(Step {
                token,
                rest,
                leaf: self.leaf,
            }),
        }
    }
}

/// One level of a pointer: the member named `token`, or the item at that index.
struct Step<'t, L> {
    token: &'t str,
    rest: &'t [String],
    leaf: L,
}

/// The answer of a visitor for every scalar (a pointer that goes through one finds nothing).
macro_rules! scalars_give {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

impl<'de, L: DeserializeSeed<'de>> Visitor<'de> for Step<'_, L> {
    type Value = Option<L::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_give!(None);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut leaf = Some(self.leaf);
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs(self.token))? {
            match leaf.take_if(|_| matches) {
                Some(leaf) => {
                    found = map.next_value_seed(At {
                        tokens: self.rest,
                        leaf,
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // RFC 6901: an index is 0 or digits without a leading zero.
        let index = match self.token.parse::<usize>() {
            Ok(index) if self.token == index.to_string() => Some(index),
            _ => None,
        };
        let mut found = None;
        let mut leaf = Some(self.leaf);
        let mut position = 0;
        loop {
            let more = match leaf.take_if(|_| Some(position) == index) {
                Some(leaf) => match seq.next_element_seed(At {
                    tokens: self.rest,
                    leaf,
                })? {
                    Some(value) => {
                        found = value;
                        true
                    }
                    None => false,
                },
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(found);
            }
            position += 1;
        }
    }
}

/// Whether a member's name is the wanted token, without keeping the name.
struct KeyIs<'t>(&'t str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<bool, D::Error> {
        reader.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<bool, E> {
        Ok(name == self.0)
    }
}

/// Reads a leaf as a [`Found`], skipping a container.
struct ScalarLeaf;

impl<'de> DeserializeSeed<'de> for ScalarLeaf {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Found, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarLeaf {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Found, E> {
        Ok(Found::Text(text.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Found, E> {
        Ok(Found::Number(number.to_string()))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Found, E> {
        Ok(Found::Number(number.to_string()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Found, E> {
        Ok(Found::Number(number.to_string()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        Ok(Found::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(Found::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Found::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::Other)
    }
}

/// Hands each item of an array to a callback as raw text; `false` for anything else.
struct ItemsLeaf<'f> {
    each: &'f mut dyn FnMut(&RawValue),
}

impl<'de> DeserializeSeed<'de> for ItemsLeaf<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<bool, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsLeaf<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            (self.each)(item);
        }
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    scalars_give!(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers() {
        let body = br#"{"id": 7, "key": "sk_1", "a/b": {"~x": ["zero", {"id": "one"}]},
                        "skip": [{"deep": [1, 2, {"x": null}]}], "t": true, "n": null}"#;
        for (pointer, expected) in [
            ("/id", Found::Number("7".into())),
            ("/key", Found::Text("sk_1".into())),
            ("/a~1b/~0x/0", Found::Text("zero".into())),
            ("/a~1b/~0x/1/id", Found::Text("one".into())),
            ("/a~1b/~0x/01", Found::Nothing),
            ("/a~1b/~0x/2", Found::Nothing),
            ("/key/0", Found::Nothing),
            ("/missing", Found::Nothing),
            ("/skip", Found::Other),
            ("/t", Found::Other),
            ("/n", Found::Other),
            ("", Found::Other),
        ] {
            assert_eq!(scalar_at(body, pointer), Ok(expected), "{pointer}");
        }
        assert_eq!(scalar_at(b"  ", "/id"), Ok(Found::Nothing));
        assert_eq!(scalar_at(br#""top""#, ""), Ok(Found::Text("top".into())));
    }

    #[test]
    fn bodies_that_are_not_json_say_where_never_what() {
        for body in [
            &br#"{"id": "key_"#[..],
            b"sk_secret_value",
            br#"{"a":1} trailing"#,
        ] {
            let error = scalar_at(body, "/id").unwrap_err();
            assert!(error.starts_with("the answer is not JSON"), "{error}");
            assert!(!error.contains("sk_secret"), "{error}");
        }
    }

    #[test]
    fn items_one_at_a_time() {
        let body = br#"{"meta": {"keys": "no"}, "keys": [{"id": "a", "name": "x"}, 3, {"name": "y", "id": 2}]}"#;
        let mut seen = Vec::new();
        let found = each_item_at(body, "/keys", |item| {
            seen.push((
                scalar_at(item, "/id")?.into_id(),
                scalar_at(item, "/name")?.into_text(),
            ));
            Ok(())
        });
        assert_eq!(found, Ok(true));
        assert_eq!(
            seen,
            [
                (Some("a".into()), Some("x".into())),
                (None, None),
                (Some("2".into()), Some("y".into())),
            ]
        );
        assert_eq!(each_item_at(body, "/meta/keys", |_| Ok(())), Ok(false));
        assert_eq!(each_item_at(body, "/meta", |_| Ok(())), Ok(false));
        assert_eq!(each_item_at(b"[1, 2]", "", |_| Ok(())), Ok(true));
        assert_eq!(
            each_item_at(b"[1]", "", |_| Err("stop".to_owned())),
            Err("stop".to_owned())
        );
    }
}
