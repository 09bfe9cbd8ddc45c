//! The test kit's app and helpers (crates/jiayi-testkit), under the name the tests use.

pub use jiayi_testkit::*;

/// Adds a service package to a county's catalog (the demo county's:
/// `jiayi::demo::COUNTY_CODE`) as `jiayi import packages` leaves one (or, with a `kind`
/// the import refuses, as a hand-written row would): 8,050 fen, 1,025 of them self-paid.
pub fn add_package(app: &TestApp, county: &str, code: &str, name: &str, kind: &str, active: bool) {
    use diesel::prelude::*;
    use jiayi::schema::service_packages as p;
    app.db(|c| {
        diesel::insert_into(p::table)
            .values((
                p::county_code.eq(county),
                p::code.eq(code),
                p::name.eq(name),
                p::kind.eq(kind),
                p::price_fen.eq(8_050_i64),
                p::self_pay_fen.eq(1_025_i64),
                p::active.eq(active),
                p::created_at.eq(0_i64),
            ))
            .execute(c)
            .unwrap()
    });
}

/// Holds locks from a connection of its own until told to let go: on PostgreSQL an
/// exclusive lock on `pg_tables` (e.g. `"residents, visits"`), on SQLite the database's
/// write lock. Answers the release signal and the holding thread.
pub fn hold_locks(url: &str, pg_tables: &str) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let url = url.to_string();
    let take = if jiayi::config::is_postgres_url(&url) {
        format!("BEGIN; LOCK TABLE {pg_tables} IN ACCESS EXCLUSIVE MODE")
    } else {
        "BEGIN IMMEDIATE".to_string()
    };
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut c: Box<dyn SimpleConnection> = if jiayi::config::is_postgres_url(&url) {
            Box::new(jiayi::db::establish_pg(&url).unwrap())
        } else {
            let path = url.strip_prefix("sqlite://").unwrap();
            Box::new(diesel::sqlite::SqliteConnection::establish(path).unwrap())
        };
        c.batch_execute(&take).unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        c.batch_execute("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();
    (release_tx, holder)
}

/// The verdict an op's record keeps (wherever it is kept: `op_records`).
pub fn op_status(app: &TestApp, op_id: &str) -> Option<String> {
    use diesel::prelude::*;
    use jiayi::db::views::op_records;
    app.db(|c| {
        let this_op = op_records::op_id.eq(op_id);
        op_records::table
            .filter(this_op)
            .select(op_records::status)
            .first(c)
            .unwrap()
    })
}
