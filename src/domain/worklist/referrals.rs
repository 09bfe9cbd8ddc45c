//! The work list's referral rules (docs/domain.md, "Referrals"): a suggestion is taken
//! once an up-referral is recorded; an up-referral waits for the receiving side only so
//! long; a patient back from hospital is seen within 14 days.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;

use super::{per_chunk, ReferralFollowupEntry, ReferralOverdueEntry, WorkResident};
use crate::db::raw::Bind;
use crate::db::DbConn;
use crate::domain::referral::{status, DOWN, UP};
use crate::error::AppError;
use crate::time::{fmt_date, parse_date};

/// Days within which a patient back from hospital is seen.
pub const FOLLOWUP_WITHIN_DAYS: u64 = 14;

/// A referral as the rules read it: the newest of its chain, not deleted.
#[derive(QueryableByName, Debug, Clone)]
pub(super) struct Row {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub resident_id: String,
    #[diesel(sql_type = Text)]
    pub direction: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub facility_name: String,
    #[diesel(sql_type = BigInt)]
    pub referred_at: i64,
    #[diesel(sql_type = Text)]
    pub referred_on: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub ended_at: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub ended_on: Option<String>,
}

#[derive(QueryableByName)]
struct LastVisit {
    #[diesel(sql_type = Text)]
    resident_id: String,
    #[diesel(sql_type = BigInt)]
    last_at: i64,
}

/// The residents' referrals made on or before `on`, by resident.
pub(super) fn load(conn: &mut DbConn, ids: &[String], on: NaiveDate) -> Result<HashMap<String, Vec<Row>>, AppError> {
    let sql = "SELECT r.id, r.resident_id, r.direction, r.status, r.facility_name, r.referred_at, r.referred_on, \
        r.ended_at, r.ended_on FROM referrals r WHERE r.deleted = FALSE AND r.amended_by IS NULL \
        AND r.referred_on <= ? AND r.resident_id IN ({ids})";
    let mut out: HashMap<String, Vec<Row>> = HashMap::new();
    for r in per_chunk::<Row>(conn, sql, &[Bind::from(fmt_date(on))], ids)? {
        out.entry(r.resident_id.clone()).or_default().push(r);
    }
    Ok(out)
}

/// Was an up-referral recorded on or after `since` (the reading that suggested one)?
pub(super) fn suggestion_taken(list: &[Row], since: NaiveDate) -> bool {
    list.iter().any(|r| {
        r.direction == UP && r.status != status::CANCELLED && parse_date(&r.referred_on).is_some_and(|d| d >= since)
    })
}

/// Days an unconfirmed up-referral has waited on `on`, when that is more than `limit`.
pub(super) fn waiting_too_long(r: &Row, on: NaiveDate, limit: u32) -> Option<i64> {
    let referred = parse_date(&r.referred_on)?;
    let days = (on - referred).num_days();
    (r.direction == UP && r.status == status::SENT && days > i64::from(limit)).then_some(days)
}

/// When the patient came back from hospital (instant and date), if this referral brought
/// them back by `on` and still asks for a visit.
pub(super) fn back_since(r: &Row, on: NaiveDate) -> Option<(i64, NaiveDate)> {
    if r.direction == DOWN && r.status != status::CANCELLED && r.status != status::CLOSED {
        return Some((r.referred_at, parse_date(&r.referred_on)?));
    }
    if r.direction == UP && r.status == status::RETURNED {
        let day = parse_date(r.ended_on.as_deref()?)?;
        return (day <= on).then_some((r.ended_at?, day));
    }
    None
}

/// The referral sections of a team's list for `people` (resident id → its entry view).
pub(super) fn sections(
    conn: &mut DbConn,
    people: &HashMap<&str, &WorkResident>,
    referrals: &HashMap<String, Vec<Row>>,
    on: NaiveDate,
    limit: u32,
) -> Result<(Vec<ReferralOverdueEntry>, Vec<ReferralFollowupEntry>), AppError> {
    let mut overdue = Vec::new();
    let mut back = Vec::new();
    for (resident, list) in referrals {
        let Some(view) = people.get(resident.as_str()) else {
            continue;
        };
        for r in list {
            if let Some(days) = waiting_too_long(r, on, limit) {
                overdue.push(ReferralOverdueEntry {
                    resident: (*view).clone(),
                    referral_id: r.id.clone(),
                    facility_name: r.facility_name.clone(),
                    referred_on: parse_date(&r.referred_on).unwrap_or(on),
                    days_waiting: days,
                    reason: format!(
                        "{} 上转至{}，已 {days} 天未确认接收（超过 {limit} 天），请联系接收医院",
                        r.referred_on, r.facility_name
                    ),
                });
            }
            if let Some(since) = back_since(r, on) {
                back.push((r, (*view).clone(), since));
            }
        }
    }
    // A visit after the patient came back (on or before the date) settles it.
    let ids: Vec<String> = back.iter().map(|(r, _, _)| r.resident_id.clone()).collect();
    let sql = "SELECT v.resident_id, MAX(v.occurred_at) AS last_at FROM visits v WHERE v.deleted = FALSE \
        AND v.amended_by IS NULL AND v.occurred_on <= ? AND v.resident_id IN ({ids}) GROUP BY v.resident_id";
    let last: HashMap<String, i64> = if ids.is_empty() {
        HashMap::new()
    } else {
        per_chunk::<LastVisit>(conn, sql, &[Bind::from(fmt_date(on))], &ids)?
            .into_iter()
            .map(|v| (v.resident_id, v.last_at))
            .collect()
    };
    let mut followups = Vec::new();
    for (r, view, (at, day)) in back {
        if last.get(&r.resident_id).is_some_and(|&v| v > at) {
            continue;
        }
        let due_on = day
            .checked_add_days(Days::new(FOLLOWUP_WITHIN_DAYS))
            .unwrap_or(NaiveDate::MAX);
        let what = if r.direction == DOWN {
            "下转"
        } else {
            "上转后转回"
        };
        followups.push(ReferralFollowupEntry {
            resident: view,
            referral_id: r.id.clone(),
            direction: r.direction.clone(),
            facility_name: r.facility_name.clone(),
            since_on: day,
            due_on,
            overdue: on > due_on,
            reason: format!(
                "{day} 自{}{what}，尚未随访；应于 {due_on} 前随访{}",
                r.facility_name,
                if on > due_on { "，已逾期" } else { "" }
            ),
        });
    }
    Ok((overdue, followups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(direction: &str, status: &str, on: &str, ended_on: Option<&str>) -> Row {
        Row {
            id: "r".into(),
            resident_id: "p".into(),
            direction: direction.into(),
            status: status.into(),
            facility_name: "县医院".into(),
            referred_at: 0,
            referred_on: on.into(),
            ended_at: ended_on.map(|_| 1),
            ended_on: ended_on.map(str::to_string),
        }
    }

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn an_up_referral_is_overdue_from_the_day_after_the_limit() {
        let r = row(UP, status::SENT, "2026-08-01", None);
        assert_eq!(waiting_too_long(&r, d("2026-08-08"), 7), None);
        assert_eq!(waiting_too_long(&r, d("2026-08-09"), 7), Some(8));
        for s in [status::RECEIVED, status::CANCELLED, status::CLOSED] {
            assert_eq!(
                waiting_too_long(&row(UP, s, "2026-08-01", None), d("2026-09-01"), 7),
                None
            );
        }
        assert_eq!(
            waiting_too_long(&row(DOWN, status::SENT, "2026-08-01", None), d("2026-09-01"), 7),
            None
        );
    }

    #[test]
    fn a_suggestion_is_taken_by_an_up_referral_on_or_after_the_reading() {
        let list = [row(UP, status::SENT, "2026-08-10", None)];
        assert!(suggestion_taken(&list, d("2026-08-10")));
        assert!(!suggestion_taken(&list, d("2026-08-11")));
        assert!(!suggestion_taken(
            &[row(UP, status::CANCELLED, "2026-08-10", None)],
            d("2026-08-01")
        ));
        assert!(!suggestion_taken(
            &[row(DOWN, status::SENT, "2026-08-10", None)],
            d("2026-08-01")
        ));
    }

    #[test]
    fn who_is_back_from_hospital() {
        let on = d("2026-08-20");
        assert_eq!(
            back_since(&row(DOWN, status::SENT, "2026-08-01", None), on).unwrap().1,
            d("2026-08-01")
        );
        assert_eq!(
            back_since(&row(DOWN, status::CLOSED, "2026-08-01", Some("2026-08-05")), on),
            None
        );
        assert_eq!(
            back_since(&row(DOWN, status::CANCELLED, "2026-08-01", Some("2026-08-02")), on),
            None
        );
        let returned = row(UP, status::RETURNED, "2026-07-01", Some("2026-08-03"));
        assert_eq!(back_since(&returned, on).unwrap().1, d("2026-08-03"));
        assert_eq!(back_since(&returned, d("2026-08-02")), None);
        assert_eq!(back_since(&row(UP, status::RECEIVED, "2026-07-01", None), on), None);
    }
}
