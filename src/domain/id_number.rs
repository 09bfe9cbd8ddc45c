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
use crate::error_codes::Code;

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

fn refuse(code: Code, message: &str) -> AppError {
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
                        Code::InvalidIdNumber,
                        "an ID number has 17 digits and a digit or X",
                    ));
                }
                if check_char(&b[..17]) as u8 != b[17] {
                    return Err(refuse(
                        Code::IdNumberChecksum,
                        "the ID number's check character does not match",
                    ));
                }
                s
            }
            _ => {
                return Err(refuse(
                    Code::InvalidIdNumber,
                    "an ID number has 18 characters (or 15 digits for old cards)",
                ))
            }
        };
        let id = IdNumber(full);
        if id.birth_date().is_none() {
            return Err(refuse(
                Code::IdNumberBirthDate,
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
                Code::IdNumberBirthDateMismatch,
                "the ID number's birth date differs from birth_date",
            ));
        }
        if self.sex() != sex {
            return Err(refuse(
                Code::IdNumberSexMismatch,
                "the ID number's sex digit differs from sex",
            ));
        }
        Ok(())
    }

    /// The form every output shows: only the 17th character, `****************2*`. Every
    /// view that shows the mask also shows the birth date, the sex and the village, which
    /// give the first 14 characters and the 17th's parity; what stays unknown must be
    /// neither short nor checkable (docs/security.md, "Masked ID numbers").
    pub fn masked(&self) -> String {
        mask_of_18(&self.0)
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

/// The prefix of an ID number the server kept as its hash and mask (`KeptId::seal`).
const KEPT_PREFIX: &str = "kept-id:v1:";

/// An ID number the server keeps in place of the clear one in a refused op (quarantine):
/// what a resident's own row keeps (the keyed hash and the mask), with the birth date and
/// sex it encodes so the record can still be checked against it. Sealed with a MAC under
/// the hash secret, so only the server can make one: a write that meets this form in an
/// op knows the server re-applies its own kept op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptId {
    /// The keyed hash, as `IdNumber::keyed_hash`.
    pub hash: String,
    /// The mask, as `IdNumber::masked`.
    pub masked: String,
    birth_date: NaiveDate,
    sex: char,
}

impl KeptId {
    /// The text that stands for `id` in a stored op.
    pub fn seal(id: &IdNumber, secret: &str) -> String {
        let body = format!(
            "{}:{}:{}:{}",
            id.keyed_hash(secret),
            &id.0[6..14],
            id.sex(),
            id.masked()
        );
        format!("{KEPT_PREFIX}{body}:{}", kept_mac(&body, secret))
    }

    /// Reads a sealed text back; `None` unless it is one the server made under `secret`.
    pub fn open(s: &str, secret: &str) -> Option<KeptId> {
        let body = s.strip_prefix(KEPT_PREFIX)?;
        let (body, mac) = body.rsplit_once(':')?;
        let expected = kept_mac(body, secret);
        // Compared in constant time, as any MAC.
        let same =
            mac.len() == expected.len() && mac.bytes().zip(expected.bytes()).fold(0, |a, (x, y)| a | (x ^ y)) == 0;
        if !same {
            return None;
        }
        let mut parts = body.split(':');
        let (hash, birth, sex, masked) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        Some(KeptId {
            hash: hash.to_string(),
            masked: masked.to_string(),
            birth_date: NaiveDate::parse_from_str(birth, "%Y%m%d").ok()?,
            sex: sex.chars().next()?,
        })
    }

    /// The mask a sealed text carries (no secret needed: display only).
    pub fn mask_in(s: &str) -> Option<String> {
        let body = s.strip_prefix(KEPT_PREFIX)?;
        let (body, _) = body.rsplit_once(':')?;
        body.rsplit(':').next().map(str::to_string)
    }
}

fn kept_mac(body: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"jiayi kept id number\0");
    mac.update(body.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// An ID number as a write receives it: in clear from a tablet, or kept by the server
/// (a quarantined op re-applied by a supervisor's decision).
#[derive(Debug, Clone)]
pub enum IdInput {
    /// Sent by a tablet.
    Clear(IdNumber),
    /// The server's own kept form.
    Kept(KeptId),
}

impl IdInput {
    /// Parses a clear number, or opens a kept one (refused when its MAC does not verify).
    pub fn parse(raw: &str, secret: &str) -> Result<IdInput, AppError> {
        if raw.starts_with(KEPT_PREFIX) {
            return KeptId::open(raw, secret)
                .map(IdInput::Kept)
                .ok_or_else(|| refuse(Code::InvalidIdNumber, "an ID number has 17 digits and a digit or X"));
        }
        IdNumber::parse(raw).map(IdInput::Clear)
    }

    /// The lookup hash.
    pub fn keyed_hash(&self, secret: &str) -> String {
        match self {
            IdInput::Clear(id) => id.keyed_hash(secret),
            IdInput::Kept(k) => k.hash.clone(),
        }
    }

    /// The display mask.
    pub fn masked(&self) -> String {
        match self {
            IdInput::Clear(id) => id.masked(),
            IdInput::Kept(k) => k.masked.clone(),
        }
    }

    /// Checks the number against the record's birth date and sex, as `IdNumber::check_matches`.
    pub fn check_matches(&self, birth_date: NaiveDate, sex: char) -> Result<(), AppError> {
        match self {
            IdInput::Clear(id) => id.check_matches(birth_date, sex),
            IdInput::Kept(k) => {
                let born = IdNumber(format!("000000{}0000", k.birth_date.format("%Y%m%d")));
                if born.birth_date() != Some(birth_date) {
                    return Err(refuse(
                        Code::IdNumberBirthDateMismatch,
                        "the ID number's birth date differs from birth_date",
                    ));
                }
                if k.sex != sex {
                    return Err(refuse(
                        Code::IdNumberSexMismatch,
                        "the ID number's sex digit differs from sex",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The mask of an 18-character number-like text: sixteen stars, the 17th character,
/// a star. Also right for a number masked the older way (first and last four kept), whose
/// 17th character is the same.
pub fn mask_of_18(s: &str) -> String {
    let c17 = s.chars().nth(16).filter(char::is_ascii_digit).unwrap_or('*');
    format!("****************{c17}*")
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
        assert_eq!(id.masked(), "****************2*");
    }

    #[test]
    fn the_mask_leaves_a_hundred_unconfirmable_candidates_beside_the_view() {
        // What a reader sees beside the mask: the county (village code), the birth date and
        // the sex. Count the full numbers consistent with all of it and the mask.
        let born = NaiveDate::from_ymd_opt(1958, 7, 3).unwrap();
        let id = IdNumber::generate("431126", born, 123, 'M');
        let mask = id.masked();
        assert_eq!(mask.chars().filter(|c| *c != '*').count(), 1);
        let candidates = (0..1000)
            .map(|seq| IdNumber::generate("431126", born, seq, 'M'))
            .filter(|c| c.masked() == mask)
            .map(|c| c.0)
            .collect::<std::collections::HashSet<_>>()
            .len();
        assert_eq!(candidates, 100);
        // The older mask kept the 17th character too: it masks anew to the same text.
        let old = format!("{}**********{}", &id.expose()[..4], &id.expose()[14..]);
        assert_eq!(mask_of_18(&old), mask);
    }

    #[test]
    fn refuses_a_bad_checksum_an_impossible_date_and_junk() {
        assert_eq!(
            IdNumber::parse("110105194912310021").unwrap_err().code,
            Code::IdNumberChecksum
        );
        let bad_date = "43112620230230123";
        let c = check_char(bad_date.as_bytes());
        assert_eq!(
            IdNumber::parse(&format!("{bad_date}{c}")).unwrap_err().code,
            Code::IdNumberBirthDate
        );
        assert_eq!(IdNumber::parse("abc").unwrap_err().code, Code::InvalidIdNumber);
        assert_eq!(
            IdNumber::parse("1101051949123100Y").unwrap_err().code,
            Code::InvalidIdNumber
        );
    }

    #[test]
    fn the_number_must_match_the_record_s_sex_and_birth_date() {
        // 17th digit 2: a woman's number.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let born = NaiveDate::from_ymd_opt(1949, 12, 31).unwrap();
        id.check_matches(born, 'F').unwrap();
        assert_eq!(id.check_matches(born, 'M').unwrap_err().code, Code::IdNumberSexMismatch);
        let other_day = NaiveDate::from_ymd_opt(1949, 12, 30).unwrap();
        let e = id.check_matches(other_day, 'F').unwrap_err();
        assert_eq!(e.code, Code::IdNumberBirthDateMismatch);
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
            Code::IdNumberSexMismatch
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
                Code::IdNumberBirthDate,
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
            Code::IdNumberBirthDate
        );
        // X anywhere but last; wrong lengths.
        assert_eq!(
            IdNumber::parse("1101051949123100X2").unwrap_err().code,
            Code::InvalidIdNumber
        );
        assert_eq!(
            IdNumber::parse("11010519491231002").unwrap_err().code,
            Code::InvalidIdNumber
        );
        assert_eq!(
            IdNumber::parse("11010549123100X").unwrap_err().code,
            Code::InvalidIdNumber
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
    fn a_kept_number_opens_only_under_the_server_s_secret_and_checks_like_the_clear_one() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        let sealed = KeptId::seal(&id, "secret-one");
        assert!(!sealed.contains("19491231002X") && !sealed.contains("110105"));
        let kept = IdInput::parse(&sealed, "secret-one").unwrap();
        assert_eq!(kept.keyed_hash("ignored"), id.keyed_hash("secret-one"));
        assert_eq!(kept.masked(), id.masked());
        assert_eq!(KeptId::mask_in(&sealed).unwrap(), id.masked());
        let born = NaiveDate::from_ymd_opt(1949, 12, 31).unwrap();
        kept.check_matches(born, 'F').unwrap();
        assert_eq!(
            kept.check_matches(born, 'M').unwrap_err().code,
            Code::IdNumberSexMismatch
        );
        let other = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap();
        assert_eq!(
            kept.check_matches(other, 'F').unwrap_err().code,
            Code::IdNumberBirthDateMismatch
        );
        // Another secret, or any change, and it is no ID number at all.
        assert_eq!(
            IdInput::parse(&sealed, "secret-two").unwrap_err().code,
            Code::InvalidIdNumber
        );
        let forged = sealed.replacen(":F:", ":M:", 1);
        assert_eq!(
            IdInput::parse(&forged, "secret-one").unwrap_err().code,
            Code::InvalidIdNumber
        );
    }

    #[test]
    fn debug_output_is_masked() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("19491231"));
        assert!(!format!("{id:?}").contains("002X"));
    }
}
