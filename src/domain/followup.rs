//! Follow-up rules (随访规则) for hypertension and type-2 diabetes patients: whether the
//! last reading is under control, when an uncontrolled reading calls the patient back
//! (召回), when two uncontrolled readings in a row suggest a referral (转诊建议), and
//! whether the quarterly follow-up (≥ 4 a year, one a quarter) is due or overdue.
//!
//! Pure rules: no SQL, no HTTP. The caller hands over one resident's follow-up visits of
//! one kind as stored (amended and deleted ones included; they are ignored here), and a date.
//!
//! Every answer depends only on the last two live follow-ups on or before the date, so a
//! caller may load just those two (the work list does) and get the same answer as from
//! the whole history.

use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

/// Systolic pressure at or above this is uncontrolled (mmHg).
pub const SYSTOLIC_LIMIT: i32 = 140;
/// Diastolic pressure at or above this is uncontrolled (mmHg).
pub const DIASTOLIC_LIMIT: i32 = 90;
/// Fasting glucose at or above this is uncontrolled (mmol/L).
pub const GLUCOSE_LIMIT: f64 = 7.0;
/// An uncontrolled reading calls the patient back within this many days.
pub const RECALL_DAYS: u64 = 14;

/// A chronic condition managed by quarterly follow-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// 高血压: `htn_followup` visits, tag `hypertension`.
    Hypertension,
    /// 2型糖尿病: `dm_followup` visits, tag `diabetes`.
    Diabetes,
}

impl Condition {
    /// Both conditions, in the order lists show them.
    pub const ALL: [Condition; 2] = [Condition::Hypertension, Condition::Diabetes];

    /// The resident tag that makes someone a patient.
    pub fn tag(self) -> &'static str {
        match self {
            Condition::Hypertension => "hypertension",
            Condition::Diabetes => "diabetes",
        }
    }

    /// The visit kind of its follow-ups.
    pub fn visit_kind(self) -> &'static str {
        match self {
            Condition::Hypertension => "htn_followup",
            Condition::Diabetes => "dm_followup",
        }
    }

    /// The condition a follow-up kind belongs to.
    pub fn of_kind(kind: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.visit_kind() == kind)
    }
}

/// One follow-up visit as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowupVisit {
    /// Visit id.
    pub id: String,
    /// Clinical instant (epoch ms): orders visits of the same day.
    pub occurred_at: i64,
    /// Local calendar date of the visit.
    pub occurred_on: NaiveDate,
    /// mmHg.
    pub systolic: Option<i32>,
    /// mmHg.
    pub diastolic: Option<i32>,
    /// mmol/L.
    pub fasting_glucose: Option<f64>,
    /// Deleted (recorded in error): ignored.
    pub deleted: bool,
    /// Replaced by this amendment: ignored (the amendment carries the values).
    pub amended_by: Option<String>,
}

impl FollowupVisit {
    fn live(&self) -> bool {
        !self.deleted && self.amended_by.is_none()
    }
}

/// Is a reading under control? `None` when the visit carries no reading for the condition.
/// Hypertension: systolic < 140 and diastolic < 90 (either at or above its limit is
/// uncontrolled). Diabetes: fasting glucose < 7.0 mmol/L.
pub fn controlled(condition: Condition, v: &FollowupVisit) -> Option<bool> {
    match condition {
        Condition::Hypertension => {
            let high =
                v.systolic.is_some_and(|s| s >= SYSTOLIC_LIMIT) || v.diastolic.is_some_and(|d| d >= DIASTOLIC_LIMIT);
            if high {
                Some(false)
            } else if v.systolic.is_some() && v.diastolic.is_some() {
                Some(true)
            } else {
                None
            }
        }
        Condition::Diabetes => v.fasting_glucose.map(|g| g < GLUCOSE_LIMIT),
    }
}

/// A calendar quarter (Jan–Mar, Apr–Jun, Jul–Sep, Oct–Dec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Quarter {
    /// First day.
    #[schema(value_type = String, format = Date)]
    pub start: NaiveDate,
    /// Last day.
    #[schema(value_type = String, format = Date)]
    pub end: NaiveDate,
}

impl Quarter {
    /// The quarter a date falls in.
    pub fn of(d: NaiveDate) -> Quarter {
        let first_month = (d.month0() / 3) * 3 + 1;
        let start = NaiveDate::from_ymd_opt(d.year(), first_month, 1).expect("valid quarter start");
        let end = start
            .checked_add_months(chrono::Months::new(3))
            .and_then(|n| n.pred_opt())
            .expect("valid quarter end");
        Quarter { start, end }
    }

    /// The quarter before this one.
    pub fn previous(self) -> Quarter {
        Quarter::of(self.start.pred_opt().expect("a day before the quarter"))
    }
}

/// The last reading's values and what they mean.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reading {
    /// The visit (an amendment when the original was corrected).
    pub visit_id: String,
    /// Its date.
    #[schema(value_type = String, format = Date)]
    pub on: NaiveDate,
    /// mmHg (hypertension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systolic: Option<i32>,
    /// mmHg (hypertension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diastolic: Option<i32>,
    /// mmol/L (diabetes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fasting_glucose: Option<f64>,
    /// Under control by the condition's limits.
    pub controlled: bool,
}

/// A recall (召回): the last follow-up was uncontrolled; see the patient again by `due_on`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recall {
    /// The uncontrolled reading.
    pub reading: Reading,
    /// The reading's date + 14 days.
    #[schema(value_type = String, format = Date)]
    pub due_on: NaiveDate,
    /// The date asked about is after `due_on` and no follow-up has come since.
    pub overdue: bool,
}

/// Where the quarterly follow-up duty stands on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Duty {
    /// A follow-up took place this quarter.
    Done,
    /// None yet this quarter (there was one last quarter, or the record is new this quarter).
    Due,
    /// None this quarter nor the previous one, and the record existed before this quarter.
    Overdue,
}

/// Everything the rules say about one resident and condition on a date.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The date of the last follow-up on or before the date.
    pub last_followup_on: Option<NaiveDate>,
    /// The last reading, if any.
    pub last: Option<Reading>,
    /// Pending recall, when the last follow-up was uncontrolled.
    pub recall: Option<Recall>,
    /// The last two follow-ups, oldest first, when both were uncontrolled.
    pub referral: Option<[Reading; 2]>,
    /// The quarterly duty.
    pub duty: Duty,
}

fn reading(condition: Condition, v: &FollowupVisit) -> Option<Reading> {
    controlled(condition, v).map(|c| Reading {
        visit_id: v.id.clone(),
        on: v.occurred_on,
        systolic: v.systolic.filter(|_| condition == Condition::Hypertension),
        diastolic: v.diastolic.filter(|_| condition == Condition::Hypertension),
        fasting_glucose: v.fasting_glucose.filter(|_| condition == Condition::Diabetes),
        controlled: c,
    })
}

/// Applies the rules to one resident's follow-ups of `condition` as of `on`.
///
/// - Deleted and amended-away visits are ignored, and so are visits after `on`.
/// - The last follow-up decides control. If it is uncontrolled, a recall is due on its
///   date + 14 days (overdue from the 15th day); any later follow-up of the kind clears it.
/// - The last two follow-ups both uncontrolled → a referral is suggested.
/// - Duty: done if a follow-up falls in `on`'s quarter; otherwise due, or overdue when
///   the previous quarter had none either and the resident was registered
///   (`registered_on`) before this quarter began.
pub fn assess(
    condition: Condition,
    visits: &[FollowupVisit],
    on: NaiveDate,
    registered_on: Option<NaiveDate>,
) -> Assessment {
    let mut live: Vec<&FollowupVisit> = visits.iter().filter(|v| v.live() && v.occurred_on <= on).collect();
    live.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    let last_visit = live.last().copied();
    let last = last_visit.and_then(|v| reading(condition, v));
    let recall = last.as_ref().filter(|r| !r.controlled).map(|r| {
        let due_on = r.on.checked_add_days(Days::new(RECALL_DAYS)).unwrap_or(NaiveDate::MAX);
        Recall {
            reading: r.clone(),
            due_on,
            overdue: on > due_on,
        }
    });
    let referral = match live.as_slice() {
        [.., a, b] => match (reading(condition, a), reading(condition, b)) {
            (Some(x), Some(y)) if !x.controlled && !y.controlled => Some([x, y]),
            _ => None,
        },
        _ => None,
    };
    let quarter = Quarter::of(on);
    let last_followup_on = last_visit.map(|v| v.occurred_on);
    let duty = match last_followup_on {
        Some(d) if d >= quarter.start => Duty::Done,
        Some(d) if d >= quarter.previous().start => Duty::Due,
        _ if registered_on.is_some_and(|r| r >= quarter.start) => Duty::Due,
        _ => Duty::Overdue,
    };
    Assessment {
        last_followup_on,
        last,
        recall,
        referral,
        duty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(day: &str, hour: i64) -> i64 {
        d(day).and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() + hour * 3_600_000
    }

    fn bp(id: &str, on: &str, s: i32, dia: i32) -> FollowupVisit {
        FollowupVisit {
            id: id.into(),
            occurred_at: at(on, 9),
            occurred_on: d(on),
            systolic: Some(s),
            diastolic: Some(dia),
            fasting_glucose: None,
            deleted: false,
            amended_by: None,
        }
    }

    fn glu(id: &str, on: &str, g: f64) -> FollowupVisit {
        FollowupVisit {
            systolic: None,
            diastolic: None,
            fasting_glucose: Some(g),
            ..bp(id, on, 0, 0)
        }
    }

    const HTN: Condition = Condition::Hypertension;
    const DM: Condition = Condition::Diabetes;

    #[test]
    fn blood_pressure_limits() {
        let c = |s, dia| controlled(HTN, &bp("v", "2026-08-01", s, dia));
        assert_eq!(c(139, 89), Some(true));
        assert_eq!(c(140, 89), Some(false), "systolic 140 is uncontrolled");
        assert_eq!(c(139, 90), Some(false), "diastolic 90 is uncontrolled");
        assert_eq!(c(140, 90), Some(false));
        assert_eq!(c(100, 60), Some(true));
        let mut only_high = bp("v", "2026-08-01", 150, 0);
        only_high.diastolic = None;
        assert_eq!(controlled(HTN, &only_high), Some(false));
        only_high.systolic = Some(120);
        assert_eq!(
            controlled(HTN, &only_high),
            None,
            "half a normal reading decides nothing"
        );
        assert_eq!(controlled(HTN, &glu("g", "2026-08-01", 9.0)), None);
    }

    #[test]
    fn glucose_limit() {
        let c = |g| controlled(DM, &glu("v", "2026-08-01", g));
        assert_eq!(c(6.9), Some(true));
        assert_eq!(c(6.99), Some(true));
        assert_eq!(c(7.0), Some(false), "7.0 mmol/L is uncontrolled");
        assert_eq!(c(7.1), Some(false));
        assert_eq!(controlled(DM, &bp("b", "2026-08-01", 150, 95)), None);
    }

    #[test]
    fn quarters() {
        let q = Quarter::of(d("2026-08-20"));
        assert_eq!((q.start, q.end), (d("2026-07-01"), d("2026-09-30")));
        let p = q.previous();
        assert_eq!((p.start, p.end), (d("2026-04-01"), d("2026-06-30")));
        let q1 = Quarter::of(d("2026-01-01"));
        assert_eq!((q1.start, q1.end), (d("2026-01-01"), d("2026-03-31")));
        assert_eq!(q1.previous().start, d("2025-10-01"));
        assert_eq!(q1.previous().end, d("2025-12-31"));
        assert_eq!(Quarter::of(d("2026-12-31")).start, d("2026-10-01"));
        assert_eq!(Quarter::of(d("2026-03-31")).end, d("2026-03-31"));
    }

    #[test]
    fn recall_due_on_day_14_and_overdue_from_day_15() {
        let v = [bp("a", "2026-08-01", 150, 95)];
        let on14 = assess(HTN, &v, d("2026-08-15"), None);
        let r = on14.recall.unwrap();
        assert_eq!(r.due_on, d("2026-08-15"));
        assert!(!r.overdue, "day 14 is still in time");
        let on15 = assess(HTN, &v, d("2026-08-16"), None);
        assert!(on15.recall.unwrap().overdue, "day 15 is overdue");
        let same_day = assess(HTN, &v, d("2026-08-01"), None);
        assert!(!same_day.recall.unwrap().overdue);
    }

    #[test]
    fn a_controlled_reading_needs_no_recall_and_a_later_followup_clears_one() {
        let ok = [bp("a", "2026-08-01", 139, 89)];
        let a = assess(HTN, &ok, d("2026-08-20"), None);
        assert!(a.recall.is_none() && a.referral.is_none());
        assert!(a.last.unwrap().controlled);
        let cleared = [bp("a", "2026-07-01", 150, 95), bp("b", "2026-07-10", 130, 80)];
        let a = assess(HTN, &cleared, d("2026-08-20"), None);
        assert!(a.recall.is_none(), "the later controlled follow-up clears the recall");
        assert!(a.referral.is_none());
        // A later uncontrolled follow-up replaces the recall with its own date.
        let again = [
            bp("a", "2026-07-01", 150, 95),
            bp("b", "2026-07-10", 130, 80),
            bp("c", "2026-08-10", 140, 80),
        ];
        let a = assess(HTN, &again, d("2026-08-20"), None);
        let r = a.recall.unwrap();
        assert_eq!((r.reading.visit_id.as_str(), r.due_on), ("c", d("2026-08-24")));
        assert!(a.referral.is_none(), "the two last readings are not both uncontrolled");
    }

    #[test]
    fn two_consecutive_uncontrolled_readings_suggest_a_referral() {
        let v = [bp("a", "2026-07-01", 150, 95), bp("b", "2026-07-20", 145, 85)];
        let a = assess(HTN, &v, d("2026-08-20"), None);
        let [x, y] = a.referral.unwrap();
        assert_eq!((x.visit_id.as_str(), y.visit_id.as_str()), ("a", "b"));
        assert!(a.recall.unwrap().overdue);
        // Uncontrolled, controlled, uncontrolled: not consecutive.
        let v = [
            bp("a", "2026-06-01", 150, 95),
            bp("b", "2026-07-01", 120, 80),
            bp("c", "2026-07-20", 145, 85),
        ];
        assert!(assess(HTN, &v, d("2026-08-20"), None).referral.is_none());
        // One uncontrolled reading alone suggests nothing.
        assert!(assess(HTN, &v[2..], d("2026-08-20"), None).referral.is_none());
        // Diabetes: 7.0 twice.
        let g = [glu("a", "2026-07-01", 7.0), glu("b", "2026-08-01", 8.2)];
        let a = assess(DM, &g, d("2026-08-20"), None);
        assert!(a.referral.is_some());
        let g = [glu("a", "2026-07-01", 7.0), glu("b", "2026-08-01", 6.9)];
        let a = assess(DM, &g, d("2026-08-20"), None);
        assert!(a.referral.is_none() && a.recall.is_none());
    }

    #[test]
    fn an_amended_reading_changes_the_answer() {
        let mut original = bp("a", "2026-08-01", 150, 95);
        let before = assess(HTN, std::slice::from_ref(&original), d("2026-08-10"), None);
        assert!(before.recall.is_some());
        original.amended_by = Some("b".into());
        let amendment = bp("b", "2026-08-01", 130, 80);
        let after = assess(HTN, &[original.clone(), amendment], d("2026-08-10"), None);
        assert!(after.recall.is_none(), "the amendment's values decide");
        assert_eq!(after.last.unwrap().visit_id, "b");
        // And the other way: a controlled reading corrected to an uncontrolled one.
        let mut ok = bp("c", "2026-07-01", 120, 70);
        ok.amended_by = Some("d".into());
        let corrected = bp("d", "2026-07-01", 160, 100);
        let v = [ok, corrected, bp("e", "2026-08-01", 150, 92)];
        let a = assess(HTN, &v, d("2026-08-10"), None);
        assert!(
            a.referral.is_some(),
            "the corrected reading and the next are both uncontrolled"
        );
    }

    #[test]
    fn a_deleted_visit_is_ignored() {
        let mut wrong = bp("b", "2026-08-05", 170, 100);
        wrong.deleted = true;
        let v = [bp("a", "2026-07-10", 120, 80), wrong];
        let a = assess(HTN, &v, d("2026-08-10"), None);
        assert!(a.recall.is_none());
        assert_eq!(a.last_followup_on, Some(d("2026-07-10")));
        // A deleted follow-up does not fulfil the quarter either.
        let mut only = bp("c", "2026-08-05", 120, 80);
        only.deleted = true;
        let a = assess(HTN, &[only], d("2026-08-10"), Some(d("2026-01-05")));
        assert_eq!(a.duty, Duty::Overdue);
        assert!(a.last.is_none());
    }

    #[test]
    fn visits_after_the_date_do_not_count() {
        let v = [bp("a", "2026-07-10", 120, 80), bp("b", "2026-08-25", 170, 100)];
        let a = assess(HTN, &v, d("2026-08-20"), None);
        assert!(a.recall.is_none());
        assert_eq!(a.last.unwrap().visit_id, "a");
    }

    #[test]
    fn same_day_visits_are_ordered_by_their_time() {
        let mut morning = bp("z", "2026-08-01", 150, 95);
        morning.occurred_at = at("2026-08-01", 8);
        let mut afternoon = bp("a", "2026-08-01", 120, 80);
        afternoon.occurred_at = at("2026-08-01", 15);
        let a = assess(HTN, &[afternoon, morning], d("2026-08-02"), None);
        assert!(a.recall.is_none(), "the afternoon's controlled reading is the last");
    }

    #[test]
    fn quarterly_duty() {
        let on = d("2026-08-20");
        let reg = Some(d("2026-01-10"));
        let duty = |v: &[FollowupVisit], reg| assess(HTN, v, on, reg).duty;
        assert_eq!(
            duty(&[bp("a", "2026-07-01", 120, 80)], reg),
            Duty::Done,
            "first day of the quarter"
        );
        assert_eq!(
            duty(&[bp("a", "2026-06-30", 120, 80)], reg),
            Duty::Due,
            "last day of the previous quarter"
        );
        assert_eq!(duty(&[bp("a", "2026-04-01", 120, 80)], reg), Duty::Due);
        assert_eq!(duty(&[bp("a", "2026-03-31", 120, 80)], reg), Duty::Overdue);
        assert_eq!(duty(&[], reg), Duty::Overdue, "never followed up, registered long ago");
        assert_eq!(duty(&[], Some(d("2026-07-01"))), Duty::Due, "registered this quarter");
        assert_eq!(
            duty(&[], Some(d("2026-06-30"))),
            Duty::Overdue,
            "registered last quarter"
        );
        assert_eq!(duty(&[], None), Duty::Overdue);
        // Diabetes by the same rule.
        assert_eq!(
            assess(DM, &[glu("g", "2026-09-30", 6.0)], d("2026-09-30"), reg).duty,
            Duty::Done
        );
        assert_eq!(
            assess(DM, &[glu("g", "2026-06-30", 6.0)], d("2026-10-01"), reg).duty,
            Duty::Overdue
        );
    }

    #[test]
    fn the_last_two_followups_decide_everything() {
        let history = [
            bp("a", "2025-11-01", 150, 95),
            bp("b", "2026-01-10", 120, 80),
            bp("c", "2026-03-01", 160, 100),
            bp("d", "2026-05-05", 145, 92),
            bp("e", "2026-07-30", 150, 96),
        ];
        for on in [
            "2026-01-10",
            "2026-03-20",
            "2026-05-19",
            "2026-05-20",
            "2026-08-13",
            "2026-08-14",
            "2026-12-01",
        ] {
            let on = d(on);
            let full = assess(HTN, &history, on, Some(d("2025-01-01")));
            let mut upto: Vec<FollowupVisit> = history.iter().filter(|v| v.occurred_on <= on).cloned().collect();
            let tail = upto.split_off(upto.len().saturating_sub(2));
            assert_eq!(full, assess(HTN, &tail, on, Some(d("2025-01-01"))), "on {on}");
        }
    }
}
