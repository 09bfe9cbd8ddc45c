//! County-years of the report cache kept in the database (`report_snapshots`), so that a
//! restarted server loads what it had counted and brings it up to date from the change
//! log instead of counting the county again (docs/operations.md, "Stopping and
//! upgrading"; the figures in docs/benchmarks.md).
//!
//! A kept count is used only when it is still this database's and these rules': the
//! change-log row at its position must hash to the mark kept with it (a database restored
//! from an older backup holds other changes there, or none), and the counting queries must
//! hash to its fingerprint (a server whose rules changed counts afresh).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;

use super::contributions::Detail;
use super::detail;
use super::period::Period;
use crate::db::raw::{self, Bind};
use crate::db::DbConn;
use crate::error::AppError;
use crate::schema::report_snapshots;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    entity: String,
    #[diesel(sql_type = Text)]
    entity_id: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = BigInt)]
    changed_at: i64,
}

/// What the database holds at a county's change-log position: a hash of the row there.
fn mark(conn: &mut DbConn, county: &str, position: i64) -> Result<Option<String>, AppError> {
    use sha2::{Digest, Sha256};
    if position == 0 {
        return Ok(Some("0".into()));
    }
    let rows = raw::load::<Row>(
        conn,
        "SELECT entity, entity_id, version, changed_at FROM ledger WHERE seq = ? AND county_code = ?",
        &[Bind::from(position), Bind::from(county)],
    )?;
    Ok(rows.first().map(|r| {
        let text = format!("{position}|{}|{}|{}|{}", r.entity, r.entity_id, r.version, r.changed_at);
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }))
}

/// Keeps a county-year's count (`Detail::encode` at `version`), replacing the one kept
/// before.
pub(super) fn save(conn: &mut DbConn, county: &str, p: &Period, version: i64, data: &[u8]) -> Result<(), AppError> {
    let Some(mark) = mark(conn, county, version)? else {
        return Ok(());
    };
    let start = p.start.to_string();
    crate::db::write_tx(conn, |c| {
        diesel::delete(report_snapshots::table.find((county, &start))).execute(c)?;
        diesel::insert_into(report_snapshots::table)
            .values((
                report_snapshots::county_code.eq(county),
                report_snapshots::period_start.eq(&start),
                report_snapshots::fingerprint.eq(detail::rules_fingerprint(county, p)),
                report_snapshots::version.eq(version),
                report_snapshots::mark.eq(&mark),
                report_snapshots::data.eq(data),
                report_snapshots::written_at.eq(crate::time::now_ms()),
            ))
            .execute(c)?;
        Ok(())
    })?;
    tracing::info!(
        county,
        version,
        bytes = data.len(),
        "report count kept for the next start"
    );
    Ok(())
}

/// The county-year's kept count, if there is one this database and these rules can use.
pub(super) fn load(conn: &mut DbConn, county: &str, p: &Period) -> Result<Option<Detail>, AppError> {
    let kept: Option<(String, i64, String, Vec<u8>)> = report_snapshots::table
        .find((county, p.start.to_string()))
        .select((
            report_snapshots::fingerprint,
            report_snapshots::version,
            report_snapshots::mark,
            report_snapshots::data,
        ))
        .first(conn)
        .optional()?;
    let Some((fingerprint, version, kept_mark, data)) = kept else {
        return Ok(None);
    };
    if fingerprint != detail::rules_fingerprint(county, p) {
        tracing::info!(county, "kept report count made under other rules: counting afresh");
        return Ok(None);
    }
    if mark(conn, county, version)?.as_deref() != Some(kept_mark.as_str()) {
        tracing::warn!(
            county,
            version,
            "kept report count names changes this database does not hold: counting afresh"
        );
        return Ok(None);
    }
    Ok(Detail::decode(version, &data))
}
