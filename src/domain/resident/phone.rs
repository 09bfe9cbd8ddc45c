//! Residents' phone numbers: the check a pushed number must pass and the mask readers
//! outside the resident's team see (docs/security.md, "Masked ID numbers").

use crate::error::AppError;
use crate::error_codes::Code;

/// Masks a phone number for readers outside the owning team: at least half of its digits
/// hidden, whatever its length (`138******00` for a mobile, `12****78` for a landline).
/// The shown digits are the first ⌊n/2⌋ − ⌊n/4⌋ and the last ⌊n/4⌋ of its n digits;
/// other characters become stars too.
pub fn mask_phone(p: &str) -> String {
    let n = p.chars().filter(char::is_ascii_digit).count();
    let (head, tail) = (n / 2 - n / 4, n / 4);
    let mut seen = 0;
    p.chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return '*';
            }
            seen += 1;
            if seen <= head || seen > n - tail {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// A phone number (7–20 digits, `-` and `+` allowed), or none.
pub(crate) fn check_phone(v: Option<&str>) -> Result<Option<String>, AppError> {
    match v.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) => {
            let ok = (7..=20).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+');
            if ok {
                Ok(Some(p.to_string()))
            } else {
                Err(AppError::invalid(
                    Code::InvalidPhone,
                    "phone",
                    "phone must be 7–20 digits",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn a_phone_mask_hides_at_least_half_of_the_digits() {
        assert_eq!(mask_phone("13800138000"), "138******00");
        assert_eq!(mask_phone("84561234"), "84****34");
        assert_eq!(mask_phone("0731-84561234"), "073*******234");
        for p in [
            "1234567",
            "84561234",
            "13800138000",
            "0731-84561234",
            "+8613800138000",
            "12345678901234567890",
        ] {
            let m = mask_phone(p);
            let digits = p.chars().filter(char::is_ascii_digit).count();
            let shown = m.chars().filter(char::is_ascii_digit).count();
            assert!(shown * 2 <= digits, "{p} → {m}");
            assert_eq!(m.chars().count(), p.chars().count());
        }
    }
}
