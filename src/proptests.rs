//! Property tests over the parsers that read what callers send: ID numbers, pull cursors,
//! bootstrap page tokens, CSV uploads and imports, push bodies. Whatever the input, the
//! answer is a value or an error, never a panic. (Push ops against a database are fuzzed
//! in `tests/api/fuzz.rs`.) Case counts are in `docs/security.md`.

use chrono::NaiveDate;
use proptest::prelude::*;

use crate::auth::Scope;
use crate::domain::id_number::IdNumber;
use crate::sync::{bootstrap, cursor};

/// Cases per property: enough to reach the edges, small enough for two CI runs.
pub const CASES: u32 = 2000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings biased towards what a parser expects: digits, X, dots, separators, plus any
/// Unicode now and then.
fn near_miss() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9Xx]{0,20}",
        "[0-9]{15}",
        "[0-9]{17}[0-9Xx]",
        "[ \t]{0,2}[0-9]{17}[0-9X][ \t]{0,2}",
        "(v1|b1|v2)?(\\.[0-9a-f-]{0,20}){0,6}",
        any::<String>(),
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        ("[a-z0-9-]{1,36}", proptest::collection::vec("[0-9]{12}", 0..5))
            .prop_map(|(team_id, villages)| Scope::Team { team_id, villages }),
        "[0-9]{12}".prop_map(Scope::Township),
        "[0-9]{12}".prop_map(Scope::County),
    ]
}

fn valid_id() -> impl Strategy<Value = (String, NaiveDate, char)> {
    (
        "[1-6][0-9]{5}",
        1900i32..2026,
        1u32..13,
        1u32..29,
        0u32..1000,
        prop_oneof![Just('M'), Just('F')],
    )
        .prop_map(|(area, y, m, d, seq, sex)| {
            let birth = NaiveDate::from_ymd_opt(y, m, d).expect("days 1–28 exist in every month");
            (
                IdNumber::generate(&area, birth, seq, sex).expose().to_string(),
                birth,
                sex,
            )
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn id_number_parse_never_panics(s in near_miss()) {
        if let Ok(id) = IdNumber::parse(&s) {
            // Whatever was accepted is a normalised, self-consistent number.
            prop_assert_eq!(id.expose().len(), 18);
            prop_assert!(id.birth_date().is_some());
            prop_assert!(IdNumber::parse(id.expose()).is_ok());
            prop_assert!(!id.masked().contains(&id.expose()[4..14]));
        }
    }

    #[test]
    fn generated_id_numbers_are_always_accepted((id, birth, sex) in valid_id()) {
        let parsed = IdNumber::parse(&id).map_err(|e| TestCaseError::fail(e.message))?;
        prop_assert_eq!(parsed.expose(), id.as_str());
        prop_assert_eq!(parsed.birth_date(), Some(birth));
        prop_assert!(parsed.check_matches(birth, sex).is_ok());
        prop_assert!(IdNumber::parse(&id.to_lowercase()).is_ok());
    }

    #[test]
    fn any_single_character_change_is_rejected(
        (id, _, _) in valid_id(),
        pos in 0usize..18,
        replacement in proptest::sample::select(b"0123456789X".to_vec()),
    ) {
        let mut bytes = id.clone().into_bytes();
        prop_assume!(bytes[pos] != replacement);
        bytes[pos] = replacement;
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(IdNumber::parse(&changed).is_err(), "{} accepted after changing position {}", changed, pos);
    }

    #[test]
    fn cursor_decoding_never_panics(secret in ".{0,16}", s in near_miss(), sc in scope()) {
        let _ = cursor::decode(&secret, &sc, &s);
        let _ = bootstrap::decode_token(&secret, &sc, &s);
    }

    /// Signed bodies reach the parsing behind the MAC: it must hold too.
    #[test]
    fn signed_garbage_never_panics(body in near_miss(), sc in scope()) {
        let token = cursor::sign("k", &body);
        let _ = cursor::decode("k", &sc, &token);
        let _ = bootstrap::decode_token("k", &sc, &token);
        let with_hash = cursor::sign("k", &format!("{body}.{}", cursor::scope_hash(&sc)));
        let _ = cursor::decode("k", &sc, &with_hash);
        let _ = bootstrap::decode_token("k", &sc, &with_hash);
    }

    #[test]
    fn cursors_round_trip_and_a_changed_character_is_refused(
        pos in any::<i64>(), sc in scope(), at in any::<proptest::sample::Index>(), ch in "[0-9a-zA-Z.]",
    ) {
        let c = cursor::encode("secret", &sc, pos);
        prop_assert_eq!(cursor::decode("secret", &sc, &c).unwrap(), pos);
        let i = at.index(c.len());
        let mut changed = c.clone();
        changed.replace_range(i..i + 1, &ch);
        prop_assume!(changed != c);
        prop_assert!(cursor::decode("secret", &sc, &changed).is_err());
    }

    #[test]
    fn population_csv_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = crate::domain::population::upload::parse_csv(&bytes);
    }

    #[test]
    fn population_csv_rows_are_values_or_row_errors(
        rows in proptest::collection::vec(proptest::collection::vec("[^\n\r\"]{0,14}", 0..6), 0..8),
    ) {
        let mut text = String::from("region_code,year,category,count\n");
        for r in &rows {
            text.push_str(&r.join(","));
            text.push('\n');
        }
        let parsed = crate::domain::population::upload::parse_csv(text.as_bytes())
            .map_err(|e| TestCaseError::fail(e.message))?;
        prop_assert!(parsed.len() <= rows.len());
    }

    #[test]
    fn import_csv_reading_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        kind in proptest::sample::select(vec![
            crate::import::ImportKind::Regions,
            crate::import::ImportKind::Population,
            crate::import::ImportKind::Users,
            crate::import::ImportKind::Teams,
            crate::import::ImportKind::Packages,
        ]),
        with_header in any::<bool>(),
    ) {
        let mut input = Vec::new();
        if with_header {
            input.extend_from_slice(kind.columns().join(",").as_bytes());
            input.push(b'\n');
        }
        input.extend_from_slice(&bytes);
        let _ = crate::import::read_rows(kind, &input);
    }

    #[test]
    fn push_bodies_from_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = serde_json::from_slice::<crate::sync::push::PushRequest>(&bytes);
        let _ = serde_json::from_slice::<crate::sync::push::PushOp>(&bytes);
    }
}
