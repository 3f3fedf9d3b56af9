//! Bytes as lower-case hex digits and back: staff keys, session cookies and
//! the byte columns of a shop's export.

/// `bytes` as lower-case hex digits.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex digits back to bytes; `None` if they are not (an odd count, or a
/// character that is not a hex digit).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    // Digits only: `from_str_radix` alone would also take a sign ("+1").
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_go_to_hex_and_back() {
        assert_eq!(encode(&[0, 0xab, 0x7f]), "00ab7f");
        assert_eq!(decode("00ab7f"), Some(vec![0, 0xab, 0x7f]));
        assert_eq!(decode("00AB7F"), Some(vec![0, 0xab, 0x7f]));
        for bad in ["0", "zz", "0é", "+1"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
