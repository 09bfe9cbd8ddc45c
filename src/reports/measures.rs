//! The measures every report is summed from: `M` (one counted quantity each), `Facts`
//! (one cell's counts), and how the per-resident query selects each of them — a row, a
//! yes/no condition or a number per resident — in the grouped form (sums per cell) and the
//! per-resident form the report cache keeps (`detail`). `facts` builds the query around
//! these columns.

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;

macro_rules! measures {
    ($($name:ident = $col:ident),* $(,)?) => {
        /// One counted quantity; `Facts` holds one of each.
        #[allow(non_camel_case_types, missing_docs)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum M { $($name),* }
        /// How many measures there are.
        pub const MEASURES: usize = [$(stringify!($col)),*].len();

        /// Counts of one cell (or of a sum of cells), indexed by `M`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Facts(pub [i64; MEASURES]);

        /// A row of the grouped per-resident query, by column name (contract measures
        /// read 0 there: the contract query counts them).
        #[derive(QueryableByName)]
        pub(super) struct ResidentRow {
            #[diesel(sql_type = Text)]
            pub(super) village: String,
            #[diesel(sql_type = Nullable<Text>)]
            pub(super) team: Option<String>,
            $(#[diesel(sql_type = BigInt)] $col: i64,)*
        }

        impl Facts {
            /// The counts of a grouped row.
            pub(super) fn of_row(row: &ResidentRow) -> Facts {
                let mut f = Facts::default();
                $( f.set(M::$name, row.$col); )*
                f
            }
        }
    };
}

measures! {
    Registered = registered,
    KeyPop = key_pop,
    RegElderly = reg_elderly,
    RegHypertension = reg_hypertension,
    RegDiabetes = reg_diabetes,
    RegPregnant = reg_pregnant,
    RegChild = reg_child,
    RegSevereMental = reg_severe_mental,
    RegTuberculosis = reg_tuberculosis,
    RegDisability = reg_disability,
    RegPoverty = reg_poverty,
    RegDibao = reg_dibao,
    RegTekun = reg_tekun,
    RegFamilyPlanningSpecial = reg_family_planning_special,
    Signed = signed,
    SignedKey = signed_key,
    SignedElderly = signed_elderly,
    SignedHypertension = signed_hypertension,
    SignedDiabetes = signed_diabetes,
    SignedPregnant = signed_pregnant,
    SignedChild = signed_child,
    SignedSevereMental = signed_severe_mental,
    SignedTuberculosis = signed_tuberculosis,
    SignedDisability = signed_disability,
    SignedPoverty = signed_poverty,
    SignedDibao = signed_dibao,
    SignedTekun = signed_tekun,
    SignedFamilyPlanningSpecial = signed_family_planning_special,
    ElderlyManaged = elderly_managed,
    HtnManaged = htn_managed,
    HtnStandard = htn_standard,
    HtnControlled = htn_controlled,
    DmManaged = dm_managed,
    DmStandard = dm_standard,
    DmControlled = dm_controlled,
    SmiManaged = smi_managed,
    TbManaged = tb_managed,
    Followups = followups,
    SatDen = sat_den,
    SatNum = sat_num,
    AwareDen = aware_den,
    AwareNum = aware_num,
    ReferralsUp = referrals_up,
    ReferralsDown = referrals_down,
    UpReceived7d = up_received_7d,
    Contracts = contracts,
    Personalised = personalised,
    Expiring = expiring,
    Renewed = renewed,
}

/// The category measures in `SIGNING_CATEGORIES` order: (category, registered, signed).
pub const CATEGORY_MEASURES: [(&str, M, M); 12] = [
    ("elderly", M::RegElderly, M::SignedElderly),
    ("hypertension", M::RegHypertension, M::SignedHypertension),
    ("diabetes", M::RegDiabetes, M::SignedDiabetes),
    ("pregnant", M::RegPregnant, M::SignedPregnant),
    ("child", M::RegChild, M::SignedChild),
    ("severe_mental", M::RegSevereMental, M::SignedSevereMental),
    ("tuberculosis", M::RegTuberculosis, M::SignedTuberculosis),
    ("disability", M::RegDisability, M::SignedDisability),
    ("poverty", M::RegPoverty, M::SignedPoverty),
    ("dibao", M::RegDibao, M::SignedDibao),
    ("tekun", M::RegTekun, M::SignedTekun),
    (
        "family_planning_special",
        M::RegFamilyPlanningSpecial,
        M::SignedFamilyPlanningSpecial,
    ),
];

impl Default for Facts {
    fn default() -> Self {
        Facts([0; MEASURES])
    }
}

impl Facts {
    /// One measure.
    pub fn get(&self, m: M) -> i64 {
        self.0[m as usize]
    }
    pub(super) fn set(&mut self, m: M, v: i64) {
        self.0[m as usize] = v;
    }
}

impl std::ops::AddAssign<&Facts> for Facts {
    fn add_assign(&mut self, o: &Facts) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += *b;
        }
    }
}

/// How the per-resident query counts one measure.
enum Measure {
    /// Every resident row (registered).
    Row,
    /// Residents meeting a condition (0 or 1 each).
    Flag(String),
    /// A number per resident (its follow-up visits, its referrals): a column of the
    /// per-resident aggregates, NULL for none.
    Count(&'static str),
}

/// The measures of the per-resident query with their column names and rules, in `M` order.
fn resident_measures() -> Vec<(M, String, Measure)> {
    let key = "(b.t_elderly = 1 OR b.t_child = 1 OR b.t_any = 1)";
    let flag = |c: &str| Measure::Flag(c.to_string());
    let mut out = vec![
        (M::Registered, "registered".to_string(), Measure::Row),
        (M::KeyPop, "key_pop".to_string(), flag(key)),
    ];
    for (i, (c, reg, _)) in CATEGORY_MEASURES.iter().enumerate() {
        debug_assert_eq!(*c, super::indicators::SIGNING_CATEGORIES[i]);
        out.push((*reg, format!("reg_{c}"), flag(&format!("b.t_{c} = 1"))));
    }
    out.push((M::Signed, "signed".to_string(), flag("b.s = 1")));
    out.push((
        M::SignedKey,
        "signed_key".to_string(),
        flag(&format!("b.s = 1 AND {key}")),
    ));
    for (c, _, signed) in CATEGORY_MEASURES.iter() {
        out.push((
            *signed,
            format!("signed_{c}"),
            flag(&format!("b.s = 1 AND b.t_{c} = 1")),
        ));
    }
    out.extend([
        (
            M::ElderlyManaged,
            "elderly_managed".to_string(),
            flag("b.t_elderly = 1 AND va.ec_n > 0"),
        ),
        (
            M::HtnManaged,
            "htn_managed".to_string(),
            flag("b.t_hypertension = 1 AND va.htn_n > 0"),
        ),
        (
            M::HtnStandard,
            "htn_standard".to_string(),
            flag("b.t_hypertension = 1 AND va.htn_n >= 4"),
        ),
        (
            M::HtnControlled,
            "htn_controlled".to_string(),
            flag("b.t_hypertension = 1 AND va.htn_n > 0 AND SUBSTR(va.htn_last, 50, 1) = '1'"),
        ),
        (
            M::DmManaged,
            "dm_managed".to_string(),
            flag("b.t_diabetes = 1 AND va.dm_n > 0"),
        ),
        (
            M::DmStandard,
            "dm_standard".to_string(),
            flag("b.t_diabetes = 1 AND va.dm_n >= 4"),
        ),
        (
            M::DmControlled,
            "dm_controlled".to_string(),
            flag("b.t_diabetes = 1 AND va.dm_n > 0 AND SUBSTR(va.dm_last, 50, 1) = '1'"),
        ),
        (
            M::SmiManaged,
            "smi_managed".to_string(),
            flag("b.t_severe_mental = 1 AND va.smi_n > 0"),
        ),
        (
            M::TbManaged,
            "tb_managed".to_string(),
            flag("b.t_tuberculosis = 1 AND va.tb_n > 0"),
        ),
        (M::Followups, "followups".to_string(), Measure::Count("va.fu_n")),
        (M::SatDen, "sat_den".to_string(), flag("sa.sat_last IS NOT NULL")),
        (
            M::SatNum,
            "sat_num".to_string(),
            flag("SUBSTR(sa.sat_last, 50, 1) = '1'"),
        ),
        (M::AwareDen, "aware_den".to_string(), flag("sa.aware_last IS NOT NULL")),
        (
            M::AwareNum,
            "aware_num".to_string(),
            flag("SUBSTR(sa.aware_last, 50, 1) = '1'"),
        ),
        (M::ReferralsUp, "referrals_up".to_string(), Measure::Count("rf.up_n")),
        (
            M::ReferralsDown,
            "referrals_down".to_string(),
            Measure::Count("rf.down_n"),
        ),
        (
            M::UpReceived7d,
            "up_received_7d".to_string(),
            Measure::Count("rf.up_r7_n"),
        ),
    ]);
    out
}

/// The measure of each bit of a per-resident row's `flags`, lowest bit first.
pub(crate) fn flag_measures() -> Vec<M> {
    resident_measures()
        .into_iter()
        .filter(|(_, _, m)| matches!(m, Measure::Flag(_)))
        .map(|(m, _, _)| m)
        .collect()
}

/// The SELECT list of the per-resident query after its cell columns. One row per resident
/// (`detail`): the flags as a bitmask (bit k: `flag_measures()[k]`) and each count by its
/// column name (`detail::ResidentFacts`). Else sums per cell, every one cast: PostgreSQL's
/// SUM of a BIGINT is NUMERIC.
pub(super) fn select_list(detail: bool) -> String {
    let measures = resident_measures();
    if detail {
        let mut flags = Vec::new();
        let mut cols = Vec::new();
        for (_, col, m) in &measures {
            match m {
                Measure::Row => {}
                Measure::Flag(cond) => flags.push(format!("CASE WHEN {cond} THEN {} ELSE 0 END", 1i64 << flags.len())),
                Measure::Count(expr) => cols.push(format!("CAST(COALESCE({expr}, 0) AS BIGINT) AS {col}")),
            }
        }
        return format!("CAST({} AS BIGINT) AS flags, {}", flags.join(" + "), cols.join(", "));
    }
    let cols: Vec<String> = measures
        .iter()
        .map(|(_, col, m)| match m {
            Measure::Row => format!("CAST(COUNT(*) AS BIGINT) AS {col}"),
            Measure::Flag(cond) => {
                format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT) AS {col}")
            }
            Measure::Count(expr) => format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT) AS {col}"),
        })
        .collect();
    // Contract counts come from the contract query.
    cols.join(", ")
        + ", CAST(0 AS BIGINT) AS contracts, CAST(0 AS BIGINT) AS personalised, \
           CAST(0 AS BIGINT) AS expiring, CAST(0 AS BIGINT) AS renewed"
}
