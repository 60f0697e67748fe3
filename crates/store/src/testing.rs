//! For tests: a fresh, empty database on the PostgreSQL server the test command starts on
//! loopback (`scripts/postgres.sh` sets `RAMPART_TEST_POSTGRES`).

/// The URL of a new database on the test server, named uniquely so that tests running at once
/// do not share tables. Panics with what to do when no server is configured.
pub async fn fresh_postgres() -> String {
    let base = std::env::var("RAMPART_TEST_POSTGRES").expect(
        "RAMPART_TEST_POSTGRES is not set: run scripts/test.sh, which starts PostgreSQL on loopback (scripts/postgres.sh)",
    );
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("the test PostgreSQL server answers");
    let name = format!(
        "rampart_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    // the name is digits and underscores only
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("a test database can be created");
    admin.close().await;
    let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
    format!("{root}/{name}")
}
