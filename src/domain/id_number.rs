//! Resident identity card numbers (居民身份证号码, GB 11643-1999).
//!
//! 18 characters: a 6-digit area code, the birth date `YYYYMMDD`, a 3-digit sequence whose
//! last digit is odd for men and even for women, and a check character computed from the
//! first 17 digits. Legacy 15-digit numbers (issued before 1999, births in the 1900s) are
//! converted to 18 digits by inserting `19` before the year and computing the check
//! character — the official conversion rule — and then validated like any other.
//!
//! The number is never stored in clear: a keyed hash (HMAC-SHA256 with the server secret)
//! serves lookups and duplicate detection, and a masked form serves display.

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// A validated, normalised (18-character, upper-case X) ID number.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

// Never print the number, even in debug output.
impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// The check character for the first 17 digits.
pub fn check_char(first17: &[u8]) -> char {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| (d - b'0') as u32 * w).sum();
    CHECK[(sum % 11) as usize] as char
}

fn refuse(code: &'static str, message: &str) -> AppError {
    AppError::invalid(code, "id_number", message.to_string())
}

impl IdNumber {
    /// Parses and validates; accepts a lower-case `x` and legacy 15-digit numbers.
    pub fn parse(raw: &str) -> Result<IdNumber, AppError> {
        let s = raw.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        let full = match b.len() {
            15 if b.iter().all(u8::is_ascii_digit) => {
                let mut v = Vec::with_capacity(18);
                v.extend_from_slice(&b[..6]);
                v.extend_from_slice(b"19");
                v.extend_from_slice(&b[6..]);
                let c = check_char(&v);
                v.push(c as u8);
                String::from_utf8(v).expect("ascii")
            }
            18 => {
                if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
                    return Err(refuse(
                        "invalid_id_number",
                        "an ID number has 17 digits and a digit or X",
                    ));
                }
                if check_char(&b[..17]) as u8 != b[17] {
                    return Err(refuse(
                        "id_number_checksum",
                        "the ID number's check character does not match",
                    ));
                }
                s
            }
            _ => {
                return Err(refuse(
                    "invalid_id_number",
                    "an ID number has 18 characters (or 15 digits for old cards)",
                ))
            }
        };
        let id = IdNumber(full);
        if id.birth_date().is_none() {
            return Err(refuse(
                "id_number_birth_date",
                "the ID number does not contain a real birth date",
            ));
        }
        Ok(id)
    }

    /// The birth date encoded in characters 7–14.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        let d = NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").ok()?;
        (d >= NaiveDate::from_ymd_opt(1880, 1, 1)?).then_some(d)
    }

    /// `M` or `F` from the 17th digit.
    pub fn sex(&self) -> char {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            'M'
        } else {
            'F'
        }
    }

    /// Checks the number against the record's birth date and sex.
    pub fn check_matches(&self, birth_date: NaiveDate, sex: char) -> Result<(), AppError> {
        if self.birth_date() != Some(birth_date) {
            return Err(refuse(
                "id_number_birth_date_mismatch",
                "the ID number's birth date differs from birth_date",
            ));
        }
        if self.sex() != sex {
            return Err(refuse(
                "id_number_sex_mismatch",
                "the ID number's sex digit differs from sex",
            ));
        }
        Ok(())
    }

    /// The form every output shows: first 4, ten stars, last 4.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }

    /// The lookup hash: HMAC-SHA256 under the server secret, hex.
    pub fn keyed_hash(&self, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(self.0.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Builds a valid number from a 6-digit area, a birth date and a sequence (demo data, tests).
    pub fn generate(area: &str, birth: NaiveDate, seq: u32, sex: char) -> IdNumber {
        let mut seq = seq % 1000;
        let odd = seq % 2 == 1;
        if odd != (sex == 'M') {
            seq = if seq == 999 { 998 } else { seq + 1 };
        }
        let first17 = format!("{area}{}{seq:03}", birth.format("%Y%m%d"));
        let c = check_char(first17.as_bytes());
        IdNumber(format!("{first17}{c}"))
    }

    /// The full number, for callers that must hand it on (never to logs or responses).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_standard_example_and_lower_case_x() {
        // GB 11643's own example number.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.sex(), 'F');
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31));
        assert_eq!(IdNumber::parse("11010519491231002x").unwrap(), id);
        assert_eq!(id.masked(), "1101**********002X");
    }

    #[test]
    fn refuses_a_bad_checksum_an_impossible_date_and_junk() {
        assert_eq!(
            IdNumber::parse("110105194912310021").unwrap_err().code,
            "id_number_checksum"
        );
        let bad_date = "43112620230230123";
        let c = check_char(bad_date.as_bytes());
        assert_eq!(
            IdNumber::parse(&format!("{bad_date}{c}")).unwrap_err().code,
            "id_number_birth_date"
        );
        assert_eq!(IdNumber::parse("abc").unwrap_err().code, "invalid_id_number");
        assert_eq!(
            IdNumber::parse("1101051949123100Y").unwrap_err().code,
            "invalid_id_number"
        );
    }

    #[test]
    fn the_number_must_match_the_record_s_sex_and_birth_date() {
        // 17th digit 2: a woman's number.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let born = NaiveDate::from_ymd_opt(1949, 12, 31).unwrap();
        id.check_matches(born, 'F').unwrap();
        assert_eq!(id.check_matches(born, 'M').unwrap_err().code, "id_number_sex_mismatch");
        let other_day = NaiveDate::from_ymd_opt(1949, 12, 30).unwrap();
        let e = id.check_matches(other_day, 'F').unwrap_err();
        assert_eq!(e.code, "id_number_birth_date_mismatch");
        assert_eq!(e.field.as_deref(), Some("id_number"));
        // An odd 17th digit is a man's.
        let man = IdNumber::generate("431126", born, 7, 'M');
        assert_eq!(man.sex(), 'M');
        assert_eq!(
            IdNumber::parse(man.expose())
                .unwrap()
                .check_matches(born, 'F')
                .unwrap_err()
                .code,
            "id_number_sex_mismatch"
        );
    }

    #[test]
    fn impossible_dates_and_misplaced_letters_are_refused() {
        for first17 in [
            "43112619990229123",
            "43112620261301123",
            "43112620260001123",
            "43112618791231123",
        ] {
            let c = check_char(first17.as_bytes());
            assert_eq!(
                IdNumber::parse(&format!("{first17}{c}")).unwrap_err().code,
                "id_number_birth_date",
                "{first17}"
            );
        }
        // 2000 was a leap year.
        let leap = "43112620000229123";
        let c = check_char(leap.as_bytes());
        assert!(IdNumber::parse(&format!("{leap}{c}")).is_ok());
        // A legacy number with an impossible date (1949-02-30).
        assert_eq!(
            IdNumber::parse("110105490230002").unwrap_err().code,
            "id_number_birth_date"
        );
        // X anywhere but last; wrong lengths.
        assert_eq!(
            IdNumber::parse("1101051949123100X2").unwrap_err().code,
            "invalid_id_number"
        );
        assert_eq!(
            IdNumber::parse("11010519491231002").unwrap_err().code,
            "invalid_id_number"
        );
        assert_eq!(
            IdNumber::parse("11010549123100X").unwrap_err().code,
            "invalid_id_number"
        );
        assert_eq!(
            IdNumber::parse(" 11010519491231002x ").unwrap().expose(),
            "11010519491231002X"
        );
    }

    #[test]
    fn converts_legacy_fifteen_digit_numbers() {
        let id = IdNumber::parse("110105491231002").unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
    }

    #[test]
    fn generated_numbers_validate_and_match() {
        let b = NaiveDate::from_ymd_opt(1958, 7, 3).unwrap();
        for seq in 0..50 {
            for sex in ['M', 'F'] {
                let id = IdNumber::generate("431126", b, seq, sex);
                let parsed = IdNumber::parse(id.expose()).unwrap();
                parsed.check_matches(b, sex).unwrap();
            }
        }
    }

    #[test]
    fn debug_output_is_masked() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("19491231"));
    }
}
