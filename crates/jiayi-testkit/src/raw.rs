//! The comparison for push throughput: the simplest loop that writes visit rows straight
//! into the same database (500-row multi-row INSERTs, one transaction each), with none of
//! the protocol's checks, journal, change log or audit.

use std::time::Instant;

use diesel::prelude::*;
use uuid::Uuid;

use jiayi::schema::{residents, visits};

#[derive(Insertable)]
#[diesel(table_name = visits)]
struct Row {
    id: String,
    county_code: String,
    village_code: String,
    resident_id: String,
    kind: String,
    occurred_at: i64,
    occurred_on: String,
    systolic: Option<i32>,
    diastolic: Option<i32>,
    measurements: String,
    version: i64,
    deleted: bool,
    created_at: i64,
    change_seq: i64,
    created_by: String,
}

/// Writes `rows` visit rows for an existing resident; rows per second.
pub fn insert_visits(url: &str, rows: usize) -> Result<f64, String> {
    const BATCH: usize = 500;
    let pool = jiayi::db::connect(url, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    if let jiayi::db::DbConn::Pg(c) = &mut *conn {
        // The simplest loop runs with PostgreSQL's defaults, not the server's tuning.
        diesel::connection::SimpleConnection::batch_execute(c, "SET plan_cache_mode = auto")
            .map_err(|e| e.to_string())?;
    }
    let (resident, county, village): (String, String, String) = residents::table
        .select((residents::id, residents::county_code, residents::village_code))
        .first(&mut *conn)
        .map_err(|e| format!("the raw loop needs one resident in the database: {e}"))?;
    let t = Instant::now();
    let mut done = 0;
    while done < rows {
        let batch: Vec<Row> = (0..BATCH.min(rows - done))
            .map(|i| Row {
                id: Uuid::now_v7().to_string(),
                county_code: county.clone(),
                village_code: village.clone(),
                resident_id: resident.clone(),
                kind: "htn_followup".into(),
                occurred_at: 0,
                occurred_on: "2026-01-01".into(),
                systolic: Some(120 + i as i32 % 30),
                diastolic: Some(80),
                measurements: "{\"systolic\":120,\"diastolic\":80}".into(),
                version: 1,
                deleted: false,
                created_at: 0,
                change_seq: 0,
                created_by: "raw-insert".into(),
            })
            .collect();
        jiayi::db::write_tx(&mut conn, |c| jiayi::insert_many!(c, visits::table, &batch).map(|_| ()))
            .map_err(|e| e.to_string())?;
        done += batch.len();
    }
    Ok(rows as f64 / t.elapsed().as_secs_f64())
}

/// Removes the rows `insert_visits` wrote, so a later check of the county does not see them.
pub fn remove_raw_rows(url: &str) -> Result<usize, String> {
    let pool = jiayi::db::connect(url, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    jiayi::db::write_tx(&mut conn, |c| {
        Ok(diesel::delete(visits::table.filter(visits::created_by.eq("raw-insert"))).execute(c)?)
    })
    .map_err(|e| e.to_string())
}
