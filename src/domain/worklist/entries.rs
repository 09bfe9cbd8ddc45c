//! What a team's work list holds: one struct per section's entry, and the list itself.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::followup::{Condition, Quarter, Reading};

/// The resident an entry is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkResident {
    /// Resident id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Current village code.
    pub village_code: String,
    /// Village name.
    pub village_name: String,
    /// ID number, masked (only the 17th character: `****************3*`).
    pub id_number_masked: String,
}

/// A quarterly follow-up not yet done (`followups_due`) or missed (`followups_overdue`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowupEntry {
    /// The patient.
    pub resident: WorkResident,
    /// `hypertension` or `diabetes`.
    pub condition: Condition,
    /// The last follow-up of that kind on or before the date, if any.
    #[schema(value_type = Option<String>, format = Date)]
    pub last_followup_on: Option<NaiveDate>,
    /// Why, in plain words.
    pub reason: String,
}

/// A recall after an uncontrolled reading.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecallEntry {
    /// The patient.
    pub resident: WorkResident,
    /// `hypertension` or `diabetes`.
    pub condition: Condition,
    /// The uncontrolled reading (the last follow-up of the kind).
    pub reading: Reading,
    /// The reading's date + 14 days.
    #[schema(value_type = String, format = Date)]
    pub due_on: NaiveDate,
    /// The date is after `due_on`.
    pub overdue: bool,
    /// Why, in plain words.
    pub reason: String,
}

/// A referral suggestion after two uncontrolled readings in a row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralEntry {
    /// The patient.
    pub resident: WorkResident,
    /// `hypertension` or `diabetes`.
    pub condition: Condition,
    /// The two uncontrolled readings, oldest first.
    pub readings: Vec<Reading>,
    /// Why, in plain words.
    pub reason: String,
}

/// An up-referral (上转) the receiving side has not confirmed within the county's limit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralOverdueEntry {
    /// The patient.
    pub resident: WorkResident,
    /// The referral.
    pub referral_id: String,
    /// Where the patient was sent.
    pub facility_name: String,
    /// The referral's date.
    #[schema(value_type = String, format = Date)]
    pub referred_on: NaiveDate,
    /// Days from the referral to the date.
    pub days_waiting: i64,
    /// Why, in plain words.
    pub reason: String,
}

/// A patient back from hospital — referred down (下转), or an up-referral returned — with
/// no visit since: the team sees them within 14 days.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReferralFollowupEntry {
    /// The patient.
    pub resident: WorkResident,
    /// The referral.
    pub referral_id: String,
    /// `down`, or `up` for a returned up-referral.
    pub direction: String,
    /// The hospital the patient came back from.
    pub facility_name: String,
    /// The day the patient came back: the down-referral's date, or the return's.
    #[schema(value_type = String, format = Date)]
    pub since_on: NaiveDate,
    /// `since_on` + 14 days.
    #[schema(value_type = String, format = Date)]
    pub due_on: NaiveDate,
    /// The date is after `due_on`.
    pub overdue: bool,
    /// Why, in plain words.
    pub reason: String,
}

/// A contract in effect whose term ends within 30 days: time to renew (续约).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpiringEntry {
    /// The signed resident.
    pub resident: WorkResident,
    /// The contract.
    pub contract_id: String,
    /// The team that signed it.
    pub team_id: String,
    /// Last day in effect.
    #[schema(value_type = String, format = Date)]
    pub effective_to: NaiveDate,
    /// Days from the date to `effective_to` (0 = ends on the date).
    pub days_left: i64,
    /// Why, in plain words.
    pub reason: String,
}

/// A resident aged 65 or over without an elderly health check this calendar year.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ElderlyEntry {
    /// The resident.
    pub resident: WorkResident,
    /// Age on the date.
    pub age: i32,
    /// The last elderly health check on record (an earlier year), if any.
    #[schema(value_type = Option<String>, format = Date)]
    pub last_check_on: Option<NaiveDate>,
    /// Why, in plain words.
    pub reason: String,
}

/// The team the list is for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamRef {
    /// Team id.
    pub id: String,
    /// Team code.
    pub code: String,
    /// Team name.
    pub name: String,
}

/// A team's work list on a date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Worklist {
    /// The team.
    pub team: TeamRef,
    /// The date the list is for.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The date's quarter.
    pub quarter: Quarter,
    /// Hypertension/diabetes patients with no follow-up of that kind yet this quarter
    /// (but one last quarter, or registered this quarter).
    pub followups_due: Vec<FollowupEntry>,
    /// Patients with no follow-up this quarter nor last quarter.
    pub followups_overdue: Vec<FollowupEntry>,
    /// Last follow-up uncontrolled: see again within 14 days.
    pub recalls_due: Vec<RecallEntry>,
    /// Last two follow-ups uncontrolled, and no up-referral recorded since.
    pub referrals_suggested: Vec<ReferralEntry>,
    /// Up-referrals not confirmed by the receiving side within the county's limit.
    pub referrals_overdue: Vec<ReferralOverdueEntry>,
    /// Patients back from hospital without a visit since: see them within 14 days.
    pub referral_followups_due: Vec<ReferralFollowupEntry>,
    /// Contracts in effect ending within 30 days.
    pub contracts_expiring: Vec<ExpiringEntry>,
    /// Aged 65+ on the date, no elderly health check this calendar year.
    pub elderly_checks_missing: Vec<ElderlyEntry>,
}
