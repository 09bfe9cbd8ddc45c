//! Region codes (统计用区划代码) as plain data: county `XXXXXX000000`, township
//! `XXXXXXXXX000`, village `XXXXXXXXXXXX`; a code's level and parent follow from its
//! digits, which is what scopes and reports rely on without reading a table.

use crate::error::AppError;
use crate::error_codes::Code;

/// The three levels jiayi works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// 县/区.
    County,
    /// 乡镇/街道.
    Township,
    /// 村/社区.
    Village,
}

impl Level {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        }
    }
}

/// Level and parent of a code, or why it is not a usable code.
pub fn parse_code(code: &str) -> Result<(Level, Option<String>), AppError> {
    let bad = |m: &str| AppError::invalid(Code::InvalidRegionCode, "code", m.to_string());
    if code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("a region code has 12 digits"));
    }
    if &code[2..6] == "0000" || &code[4..6] == "00" {
        return Err(bad(
            "provinces and prefectures are not regions jiayi manages; start at a county",
        ));
    }
    if &code[6..] == "000000" {
        Ok((Level::County, None))
    } else if &code[6..9] == "000" {
        Err(bad("a village code needs its township's digits (7–9) to be non-zero"))
    } else if &code[9..] == "000" {
        Ok((Level::Township, Some(format!("{}000000", &code[..6]))))
    } else {
        Ok((Level::Village, Some(format!("{}000", &code[..9]))))
    }
}

/// The code prefix every village under `code` starts with (the code itself for a
/// village), for a `LIKE 'prefix%'` over region codes.
pub fn village_prefix(code: &str) -> Result<&str, AppError> {
    let (level, _) = parse_code(code)?;
    Ok(match level {
        Level::County => &code[..6],
        Level::Township => &code[..9],
        Level::Village => code,
    })
}

/// The county code of any region code.
pub fn county_of(code: &str) -> String {
    format!("{}000000", &code[..6.min(code.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_parents_follow_from_the_code() {
        assert_eq!(parse_code("431126000000").unwrap(), (Level::County, None));
        assert_eq!(
            parse_code("431126100000").unwrap(),
            (Level::Township, Some("431126000000".into()))
        );
        assert_eq!(
            parse_code("431126100201").unwrap(),
            (Level::Village, Some("431126100000".into()))
        );
        assert!(parse_code("430000000000").is_err());
        assert!(parse_code("431100000000").is_err());
        assert!(parse_code("43112610020").is_err());
        assert!(parse_code("43112610020a").is_err());
        assert!(parse_code("431126000001").is_err(), "a village directly under a county");
    }
}
