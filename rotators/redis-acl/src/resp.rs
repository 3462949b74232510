//! RESP, the Redis protocol, as much as a rotator needs: a command goes out as an array of
//! bulk strings (binary-safe, so a password needs no escaping), and one reply comes back as a
//! simple string, an error, an integer, a bulk string or an array (RESP2, the protocol every
//! connection starts with).
//!
//! Replies are read with limits (size of a bulk string, length and depth of arrays), so that a
//! confused or hostile server cannot make the rotator allocate without bound.

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest bulk string accepted (ACL GETUSER answers are a few hundred bytes).
const MAX_BULK: usize = 1 << 20;

/// The longest array accepted.
const MAX_ARRAY: usize = 4096;

/// How deeply arrays may nest (ACL GETUSER nests three levels).
const MAX_DEPTH: usize = 8;

/// The longest line (simple string, error, integer, length header) accepted.
const MAX_LINE: usize = 64 * 1024;

/// One reply of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG`.
    Simple(String),
    /// `-WRONGPASS ...`, `-NOPERM ...`: the whole line after `-`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$5\r\nhello`; `None` for the null bulk string (`$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2 ...`; `None` for the null array (`*-1`).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a simple or bulk string (bulk strings read as UTF-8, lossily).
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(text) => Some(text.clone()),
            Reply::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }

    /// A short description for error messages: an error's text, else the kind of reply
    /// (never a bulk string's content, which could be anything).
    pub fn describe(&self) -> String {
        match self {
            Reply::Simple(text) => format!("+{text}"),
            Reply::Error(text) => text.clone(),
            Reply::Integer(number) => format!(":{number}"),
            Reply::Bulk(None) | Reply::Array(None) => "a null reply".to_owned(),
            Reply::Bulk(Some(bytes)) => format!("a bulk string of {} bytes", bytes.len()),
            Reply::Array(Some(items)) => format!("an array of {} items", items.len()),
        }
    }
}

/// Why a reply could not be read: the connection failed, or the bytes are not RESP.
#[derive(Debug)]
pub enum ProtocolError {
    /// Reading or writing the socket failed (the connection closed, the network broke).
    Io(std::io::Error),
    /// The server sent something that is not a RESP2 reply, or one beyond the limits.
    Malformed(String),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Io(error) => write!(f, "{error}"),
            ProtocolError::Malformed(what) => write!(f, "not a Redis reply: {what}"),
        }
    }
}

impl From<std::io::Error> for ProtocolError {
    fn from(error: std::io::Error) -> Self {
        ProtocolError::Io(error)
    }
}

/// Encodes a command as RESP: an array of bulk strings.
pub fn encode(parts: &[&[u8]]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        bytes.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        bytes.extend_from_slice(part);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// Sends one command.
pub async fn send(
    writer: &mut (impl AsyncWrite + Unpin),
    parts: &[&[u8]],
) -> Result<(), ProtocolError> {
    writer.write_all(&encode(parts)).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one reply.
pub async fn read_reply(
    reader: &mut (impl AsyncBufRead + Unpin + Send),
) -> Result<Reply, ProtocolError> {
    read_nested(reader, 0).await
}

type ReplyFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, ProtocolError>> + Send + 'a>>;

fn read_nested<'a, R: AsyncBufRead + Unpin + Send>(
    reader: &'a mut R,
    depth: usize,
) -> ReplyFuture<'a> {
    Box::pin(async move {
        let line = read_line(reader).await?;
        let (kind, rest) = line
            .split_first()
            .ok_or_else(|| ProtocolError::Malformed("an empty line".to_owned()))?;
        let rest = String::from_utf8_lossy(rest).into_owned();
        match kind {
            b'+' => Ok(Reply::Simple(rest)),
            b'-' => Ok(Reply::Error(rest)),
            b':' => Ok(Reply::Integer(number(&rest)?)),
            b'$' => {
                let Some(length) = length(&rest, MAX_BULK)? else {
                    return Ok(Reply::Bulk(None));
                };
                let mut bytes = vec![0; length + 2];
                reader.read_exact(&mut bytes).await?;
                if !bytes.ends_with(b"\r\n") {
                    return Err(ProtocolError::Malformed(
                        "a bulk string not followed by CRLF".to_owned(),
                    ));
                }
                bytes.truncate(length);
                Ok(Reply::Bulk(Some(bytes)))
            }
            b'*' => {
                let Some(count) = length(&rest, MAX_ARRAY)? else {
                    return Ok(Reply::Array(None));
                };
                if depth >= MAX_DEPTH {
                    return Err(ProtocolError::Malformed(format!(
                        "arrays nested more than {MAX_DEPTH} deep"
                    )));
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(read_nested(&mut *reader, depth + 1).await?);
                }
                Ok(Reply::Array(Some(items)))
            }
            other => Err(ProtocolError::Malformed(format!(
                "a reply starting with byte {other:#04x}"
            ))),
        }
    })
}

/// One line without its CRLF, at most [`MAX_LINE`] bytes.
async fn read_line(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<Vec<u8>, ProtocolError> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Err(ProtocolError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    if !line.ends_with(b"\r\n") {
        return Err(ProtocolError::Malformed(format!(
            "a line longer than {MAX_LINE} bytes or not ended by CRLF"
        )));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn number(text: &str) -> Result<i64, ProtocolError> {
    text.parse()
        .map_err(|_| ProtocolError::Malformed(format!("{text:?} is not an integer")))
}

/// A length header: `None` for -1 (null), an error beyond `max`.
fn length(text: &str, max: usize) -> Result<Option<usize>, ProtocolError> {
    match number(text)? {
        -1 => Ok(None),
        length => usize::try_from(length)
            .ok()
            .filter(|length| *length <= max)
            .map(Some)
            .ok_or_else(|| {
                ProtocolError::Malformed(format!("a length of {length} (at most {max} accepted)"))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<Reply, ProtocolError> {
        let mut reader = tokio::io::BufReader::new(bytes);
        read_reply(&mut reader).await
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Some(text.as_bytes().to_vec()))
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&[b"AUTH", b"app", b"p w\r\n"]),
            b"*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$5\r\np w\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn every_kind_of_reply_reads() {
        assert_eq!(
            parse(b"+PONG\r\n").await.unwrap(),
            Reply::Simple("PONG".into())
        );
        assert_eq!(
            parse(b"-WRONGPASS invalid\r\n").await.unwrap(),
            Reply::Error("WRONGPASS invalid".into())
        );
        assert_eq!(parse(b":-3\r\n").await.unwrap(), Reply::Integer(-3));
        assert_eq!(parse(b"$3\r\na\r\n\r\n").await.unwrap(), bulk("a\r\n"));
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"*-1\r\n").await.unwrap(), Reply::Array(None));
        assert_eq!(
            parse(b"*2\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n")
                .await
                .unwrap(),
            Reply::Array(Some(vec![
                bulk("flags"),
                Reply::Array(Some(vec![bulk("on")]))
            ]))
        );
    }

    #[tokio::test]
    async fn malformed_and_oversized_replies_are_refused() {
        for bytes in [
            &b"?what\r\n"[..],
            b"$99999999999\r\n",
            b"*5000\r\n",
            b":abc\r\n",
            b"$3\r\nabcd\r\n",
            b"+no crlf",
            b"",
        ] {
            assert!(parse(bytes).await.is_err(), "{bytes:?}");
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
        assert!(parse(deep.as_bytes()).await.is_err());
    }

    #[test]
    fn descriptions_never_show_bulk_content() {
        assert_eq!(bulk("hunter2").describe(), "a bulk string of 7 bytes");
        assert_eq!(Reply::Error("NOPERM x".into()).describe(), "NOPERM x");
    }
}
