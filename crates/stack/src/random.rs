//! Unpredictable names and passwords, read from the operating system's generator.

use std::io::Read;

use crate::StackError;

const URANDOM: &str = "/dev/urandom";

fn bytes(count: usize) -> Result<Vec<u8>, StackError> {
    let mut buffer = vec![0; count];
    std::fs::File::open(URANDOM)
        .and_then(|mut source| source.read_exact(&mut buffer))
        .map_err(StackError::io("reading", URANDOM))?;
    Ok(buffer)
}

/// `count` random bytes as lowercase hex, for unique directory names.
pub(crate) fn hex(count: usize) -> Result<String, StackError> {
    Ok(bytes(count)?
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// A random number, for identifiers that must differ between servers (MariaDB's server ids).
pub(crate) fn u32() -> Result<u32, StackError> {
    // bytes(4) has four bytes: the fallback is never taken.
    let bytes: [u8; 4] = bytes(4)?.try_into().unwrap_or([0; 4]);
    Ok(u32::from_le_bytes(bytes))
}

/// A random password of letters and digits, so it needs no escaping in a URL, a shell line or
/// a configuration file.
pub(crate) fn password(length: usize) -> Result<String, StackError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 62 does not divide 256: draw from the largest multiple of 62 to keep the choice uniform.
    let limit = 256 - 256 % ALPHABET.len();
    let mut password = String::with_capacity(length);
    while password.len() < length {
        for byte in bytes(length)? {
            if usize::from(byte) < limit && password.len() < length {
                password.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_has_the_length_and_only_letters_and_digits() {
        let password = password(32).expect("password");
        assert_eq!(password.len(), 32);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(password, super::password(32).expect("password"));
    }

    #[test]
    fn u32_varies() {
        let draws: Vec<u32> = (0..4).map(|_| u32().expect("u32")).collect();
        assert!(draws.iter().any(|draw| *draw != draws[0]));
    }

    #[test]
    fn hex_is_twice_as_long_as_the_bytes() {
        let name = hex(8).expect("hex");
        assert_eq!(name.len(), 16);
        assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
