//! What wptdeploy knows about Flask-Migrate/alembic: its command output,
//! migration files, and the columns a migration should leave behind.

pub mod alembic;
pub mod columns;
pub mod file;
pub mod graph;
pub mod hazard;
pub mod lint;
pub mod models;
pub mod rollback;
