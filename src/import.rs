//! CSV imports from the command line (`jiayi import KIND FILE.csv`, docs/operations.md
//! "Command-line imports"): regions, population denominators, teams, users and service
//! packages.
//!
//! UTF-8 with a header row (a BOM is tolerated). The header must name exactly the expected
//! columns, or nothing is imported. Each row then goes through the same domain function the
//! admin API uses, in its own transaction, so one bad row is refused with its line number
//! and never stops the others. Refusals carry the error code, message and field, never the
//! value: a value may be a password.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::db::{write_tx, DbConn, Pool};
use crate::domain::team::{self, NewTeam};
use crate::domain::user::{self, NewUser};
use crate::domain::{audit, catalog, population, region};
use crate::error::AppError;
use crate::error_codes::Code;

/// What a CSV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportKind {
    /// `code,name`: a county row first, then townships, then villages.
    Regions,
    /// `region_code,year,category,count`.
    Population,
    /// `username,password,role,team_code,region_code,display_name`.
    Users,
    /// `code,name,township_code,village_codes` (village codes separated by `;`).
    Teams,
    /// `county_code,code,name,kind,price_fen,self_pay_fen`: packages of that county's catalog.
    Packages,
}

impl ImportKind {
    /// The header the file must have, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Regions => &["code", "name"],
            ImportKind::Population => &["region_code", "year", "category", "count"],
            ImportKind::Users => &[
                "username",
                "password",
                "role",
                "team_code",
                "region_code",
                "display_name",
            ],
            ImportKind::Teams => &["code", "name", "township_code", "village_codes"],
            ImportKind::Packages => &["county_code", "code", "name", "kind", "price_fen", "self_pay_fen"],
        }
    }

    /// The kind's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ImportKind::Regions => "regions",
            ImportKind::Population => "population",
            ImportKind::Users => "users",
            ImportKind::Teams => "teams",
            ImportKind::Packages => "packages",
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows applied.
    pub imported: usize,
    /// Rows refused: line number in the file (the header is line 1) and
    /// `code: message, field` (never the value).
    pub refused: Vec<(usize, String)>,
}

impl ImportSummary {
    /// Prints the counts and every refused row with its line number.
    pub fn print(&self) {
        println!("imported {} row(s), refused {}", self.imported, self.refused.len());
        for (line, why) in &self.refused {
            println!("  line {line}: {why}");
        }
    }
}

/// A data row: its line number and its fields, or why it could not be read.
type Row = (usize, Result<csv::StringRecord, String>);

/// Imports a CSV file of `kind`. `Err` only when nothing could be imported (unreadable
/// file, wrong header, no database); refused rows are listed in the summary.
pub fn import(pool: &Pool, kind: ImportKind, path: &Path, show_progress: bool) -> Result<ImportSummary, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rows = read_rows(kind, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut conn = pool.get().map_err(|e| format!("cannot connect to the database: {e}"))?;
    if kind == ImportKind::Packages {
        // Every county's built-in catalog first, so its codes are refused like any existing one.
        write_tx(&mut conn, catalog::ensure).map_err(|e| format!("cannot prepare the package catalog: {e}"))?;
    }

    let bar = if show_progress {
        ProgressBar::new(rows.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({eta})")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("importing {}", kind.name()));

    let mut summary = ImportSummary::default();
    for (line, row) in rows {
        let outcome =
            row.and_then(|fields| write_tx(&mut conn, |c| apply(c, kind, &fields, line)).map_err(|e| describe(&e)));
        match outcome {
            Ok(()) => summary.imported += 1,
            Err(why) => summary.refused.push((line, why)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// `code: message, field` of a refusal.
fn describe(e: &AppError) -> String {
    match e.field.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => format!("{}: {}, field {f}", e.code, e.message),
        None => format!("{}: {}", e.code, e.message),
    }
}

/// Checks the header and reads every data row (with its line number) into memory.
pub(crate) fn read_rows(kind: ImportKind, bytes: &[u8]) -> Result<Vec<Row>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let expected = kind.columns();
    let wanted = expected.join(",");
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
            return Err(format!(
                "the file is not UTF-8; save it as UTF-8 with the header {wanted}"
            ))
        }
        Err(e) => return Err(format!("cannot read the header: {}", without_values(&e))),
    };
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(format!("the file is empty; the first line must be the header {wanted}"));
    }
    // The found header is never echoed: a file without a header has data (perhaps a
    // password) in its first line.
    if header.len() != expected.len() {
        return Err(format!(
            "the header must be {wanted} ({} columns), but the first line has {} columns",
            expected.len(),
            header.len()
        ));
    }
    if let Some(i) = (0..expected.len()).find(|&i| !header[i].eq_ignore_ascii_case(expected[i])) {
        return Err(format!(
            "the header must be {wanted}; column {} is not {}",
            i + 1,
            expected[i]
        ));
    }

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                rows.push((line, Ok(record.clone())));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                match e.kind() {
                    csv::ErrorKind::UnequalLengths { len, .. } => rows.push((
                        line,
                        Err(format!(
                            "malformed_row: expected {} fields, found {len}",
                            expected.len()
                        )),
                    )),
                    csv::ErrorKind::Utf8 { .. } => {
                        rows.push((line, Err("invalid_utf8: the row is not valid UTF-8".to_string())))
                    }
                    _ => return Err(format!("cannot read line {line}: {}", without_values(&e))),
                }
            }
        }
    }
    Ok(rows)
}

/// A csv error's description without any field content.
fn without_values(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => "malformed CSV".to_string(),
    }
}

/// Applies one row inside its transaction.
fn apply(conn: &mut DbConn, kind: ImportKind, f: &csv::StringRecord, line: usize) -> Result<(), AppError> {
    let detail = serde_json::json!({ "source": "csv_import", "kind": kind.name(), "line": line });
    let entry = match kind {
        ImportKind::Regions => {
            let r = region::create(conn, &f[0], &f[1], None)?;
            audit::Entry::system("csv_import")
                .county(&r.county_code)
                .entity("region", &r.code)
        }
        ImportKind::Population => {
            let year: i32 = f[1]
                .parse()
                .map_err(|_| AppError::invalid(Code::InvalidYear, "year", "year must be a whole number"))?;
            let count: i64 = f[3]
                .parse()
                .map_err(|_| AppError::invalid(Code::InvalidCount, "count", "count must be a whole number"))?;
            population::set(conn, &f[0], year, &f[2], count, None)?;
            audit::Entry::system("csv_import")
                .county(&region::county_of(&f[0]))
                .entity("population", &format!("{}/{year}/{}", &f[0], &f[2]))
        }
        ImportKind::Teams => {
            let new = NewTeam {
                code: f[0].to_string(),
                name: f[1].to_string(),
                township_code: f[2].to_string(),
                village_codes: f[3]
                    .split(';')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect(),
            };
            let t = team::create(conn, &new, None)?;
            audit::Entry::system("csv_import")
                .county(&t.county_code)
                .entity("team", &t.id)
        }
        ImportKind::Users => {
            let optional = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
            let new = NewUser {
                username: f[0].to_string(),
                password: f[1].to_string(),
                role: f[2].to_string(),
                team_code: optional(&f[3]),
                region_code: optional(&f[4]),
                display_name: f[5].to_string(),
            };
            let u = user::create(conn, &new, None)?;
            audit::Entry::system("csv_import")
                .county(&u.county_code)
                .entity("user", &u.id)
        }
        ImportKind::Packages => {
            let new = catalog::NewPackage {
                county: &f[0],
                code: &f[1],
                name: &f[2],
                kind: &f[3],
                price: &f[4],
                self_pay: &f[5],
            };
            let code = catalog::add_package(conn, &new)?;
            audit::Entry::system("csv_import")
                .county(&f[0])
                .entity("service_package", &code)
        }
    };
    audit::record_now(conn, entry.detail(detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{population as pop, regions, service_packages, team_villages, teams, users};
    use diesel::prelude::*;

    struct Db {
        dir: tempfile::TempDir,
        pool: Pool,
    }

    impl Db {
        fn new() -> Db {
            let dir = tempfile::tempdir().unwrap();
            let pool = crate::db::connect(&format!("sqlite://{}/t.db", dir.path().display()), 2).unwrap();
            Db { dir, pool }
        }

        fn import(&self, kind: ImportKind, name: &str, content: &str) -> Result<ImportSummary, String> {
            let path = self.dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            import(&self.pool, kind, &path, false)
        }

        fn ok(&self, kind: ImportKind, content: &str) -> ImportSummary {
            self.import(kind, &format!("{}.csv", kind.name()), content).unwrap()
        }

        fn conn(&self) -> crate::db::PooledConn {
            self.pool.get().unwrap()
        }

        /// A county with two townships and three villages.
        fn with_regions(self) -> Db {
            let s = self.ok(
                ImportKind::Regions,
                "code,name\n431126000000,示范县\n431126100000,城关镇\n431126101000,青山乡\n\
                 431126100201,莲塘村\n431126100202,枫林村\n431126101201,青山村\n",
            );
            assert_eq!(
                s,
                ImportSummary {
                    imported: 6,
                    refused: vec![]
                }
            );
            self
        }
    }

    #[test]
    fn regions_import_with_a_bom_and_refuse_bad_rows_by_line() {
        let db = Db::new();
        let csv = "\u{feff}code,name\n\
                   431126000000,示范县\n\
                   431126100000, 城关镇 \n\
                   43112610020X,坏代码\n\
                   431126100201,莲塘村\n\
                   431126109201,无乡镇村\n\
                   431126100202,枫林村,多余\n\
                   431126100000,城关镇\n";
        let s = db.ok(ImportKind::Regions, csv);
        assert_eq!(s.imported, 3, "{s:?}");
        let lines: Vec<usize> = s.refused.iter().map(|r| r.0).collect();
        assert_eq!(lines, vec![4, 6, 7, 8], "{s:?}");
        assert!(s.refused[0].1.starts_with("invalid_region_code:"), "{s:?}");
        assert!(s.refused[0].1.ends_with("field code"), "{s:?}");
        assert!(s.refused[1].1.starts_with("unknown_parent_region:"), "{s:?}");
        assert!(s.refused[2].1.starts_with("malformed_row:"), "{s:?}");
        assert!(s.refused[3].1.starts_with("region_exists:"), "{s:?}");
        let r = region::find(&mut db.conn(), "431126100000").unwrap().unwrap();
        assert_eq!(r.name, "城关镇");
        assert_eq!(r.parent_code.as_deref(), Some("431126000000"));
        let n: i64 = regions::table.count().get_result(&mut db.conn()).unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn population_rows_set_denominators() {
        let db = Db::new().with_regions();
        let s = db.ok(
            ImportKind::Population,
            "region_code,year,category,count\n\
             431126100201,2026,resident,1200\n\
             431126100201,2026,hypertension,150\n\
             431126100201,2026,registered,1400\n\
             431126100201,2026,martians,3\n\
             431126100201,twenty,resident,3\n\
             431126999201,2026,resident,3\n\
             431126100201,2026,resident,1250\n",
        );
        assert_eq!(s.imported, 4, "{s:?}");
        let refused: Vec<(usize, &str)> = s
            .refused
            .iter()
            .map(|(l, m)| (*l, m.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            refused,
            vec![(5, "invalid_category"), (6, "invalid_year"), (7, "unknown_region")]
        );
        let count: i64 = pop::table
            .find(("431126100201", 2026, "resident"))
            .select(pop::head_count)
            .first(&mut db.conn())
            .unwrap();
        assert_eq!(count, 1250);
    }

    #[test]
    fn teams_and_users_import() {
        let db = Db::new().with_regions();
        let s = db.ok(
            ImportKind::Teams,
            "code,name,township_code,village_codes\n\
             T01,城关镇第一家医团队,431126100000,431126100201; 431126100202\n\
             T02,青山乡家医团队,431126101000,431126101201\n\
             T03,越界团队,431126101000,431126100201\n\
             T04,空团队,431126101000,\n",
        );
        assert_eq!(s.imported, 2, "{s:?}");
        assert_eq!(s.refused.iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5]);
        let t01 = team::find_by_code(&mut db.conn(), "T01").unwrap().unwrap();
        let villages: Vec<String> = team_villages::table
            .filter(team_villages::team_id.eq(&t01.id))
            .order(team_villages::village_code)
            .select(team_villages::village_code)
            .load(&mut db.conn())
            .unwrap();
        assert_eq!(villages, vec!["431126100201", "431126100202"]);
        assert_eq!(teams::table.count().get_result::<i64>(&mut db.conn()).unwrap(), 2);

        let s = db.ok(
            ImportKind::Users,
            "username,password,role,team_code,region_code,display_name\n\
             Admin,county-admin-pass,admin,,431126000000,县卫健局管理员\n\
             sup1,township-sup-pass,supervisor,,431126100000,周敏\n\
             doc1,doctor-one-pass,doctor,T01,,王丽\n\
             doc2,Sh0rt!,doctor,T01,,陈明\n\
             lead2,team-lead-pass,team_lead,T09,,刘建国\n\
             sup2,township-sup-pass,supervisor,T01,431126100000,周敏\n",
        );
        assert_eq!(s.imported, 3, "{s:?}");
        let refused: Vec<(usize, &str)> = s
            .refused
            .iter()
            .map(|(l, m)| (*l, m.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            refused,
            vec![(5, "weak_password"), (6, "unknown_team"), (7, "team_not_allowed")]
        );
        assert!(s.refused[0].1.ends_with("field password"), "{s:?}");
        assert!(
            s.refused.iter().all(|r| !r.1.contains("Sh0rt!")),
            "a password is never echoed"
        );
        let admin = user::find_by_username(&mut db.conn(), "admin").unwrap().unwrap();
        assert_eq!(
            (admin.role.as_str(), admin.region_code.as_str()),
            ("admin", "431126000000")
        );
        let doc = user::find_by_username(&mut db.conn(), "doc1").unwrap().unwrap();
        assert_eq!(doc.team_id.as_deref(), Some(t01.id.as_str()));
        assert!(crate::auth::password::verify("doctor-one-pass", &doc.password_hash));
        assert_eq!(users::table.count().get_result::<i64>(&mut db.conn()).unwrap(), 3);
    }

    #[test]
    fn packages_join_the_named_countys_catalog_and_refuse_existing_and_invalid_codes() {
        let db = Db::new().with_regions();
        db.ok(ImportKind::Regions, "code,name\n431127000000,邻县\n");
        let s = db.ok(
            ImportKind::Packages,
            "county_code,code,name,kind,price_fen,self_pay_fen\n\
             431126000000,TCM_1,中医药健康管理包,personalised,8000,2000\n\
             431126000000,BASIC,基础包,basic,0,0\n\
             431126000000,tcm2,小写,personalised,100,0\n\
             431126000000,REHAB,康复包,special,100,0\n\
             431126000000,REHAB,康复包,personalised,100,200\n\
             431126000000,REHAB,康复包,personalised,-1,0\n\
             431126000000,REHAB,康复包,personalised,5000,1000\n\
             431127000000,TCM_1,中医药包,personalised,6000,1000\n\
             431126100000,TCM_2,乡镇包,personalised,6000,1000\n\
             431128000000,TCM_2,无此县,personalised,6000,1000\n",
        );
        assert_eq!(s.imported, 3, "{s:?}");
        let refused: Vec<(usize, &str)> = s
            .refused
            .iter()
            .map(|(l, m)| (*l, m.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            refused,
            vec![
                (3, "package_exists"),
                (4, "invalid_package_code"),
                (5, "invalid_package_kind"),
                (6, "invalid_self_pay"),
                (7, "invalid_price"),
                (10, "unknown_region"),
                (11, "unknown_region")
            ]
        );
        // The same code in two counties is two rows, each as its county imported it.
        let price = |county: &str| -> (String, i64, i64) {
            service_packages::table
                .find((county, "TCM_1"))
                .select((
                    service_packages::kind,
                    service_packages::price_fen,
                    service_packages::self_pay_fen,
                ))
                .first(&mut db.conn())
                .unwrap()
        };
        assert_eq!(price("431126000000"), ("personalised".into(), 8000, 2000));
        assert_eq!(price("431127000000"), ("personalised".into(), 6000, 1000));
        let held = |county: &str| catalog::packages(&mut db.conn(), county).unwrap().len();
        assert_eq!((held("431126000000"), held("431127000000")), (7, 6));
    }

    #[test]
    fn a_wrong_header_imports_nothing() {
        let db = Db::new();
        let e = db
            .import(ImportKind::Regions, "a.csv", "code,title\n431126000000,示范县\n")
            .unwrap_err();
        assert!(e.contains("column 2 is not name"), "{e}");
        let e = db
            .import(
                ImportKind::Users,
                "b.csv",
                "admin,secret-password-1,admin,,431126000000,管理员\n",
            )
            .unwrap_err();
        assert!(e.contains("header") && !e.contains("secret-password-1"), "{e}");
        let e = db.import(ImportKind::Population, "c.csv", "").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = import(&db.pool, ImportKind::Regions, &db.dir.path().join("nope.csv"), false).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        let n: i64 = regions::table.count().get_result(&mut db.conn()).unwrap();
        assert_eq!(n, 0);
    }
}
