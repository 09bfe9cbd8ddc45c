//! Rebuilds the crate when a migration is added: `embed_migrations!` reads the
//! migrations directories at compile time, and cargo does not watch a new directory
//! there on its own, so a build could ship without the new migration.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
