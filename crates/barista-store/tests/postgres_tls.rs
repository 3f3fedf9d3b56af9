//! TLS to PostgreSQL as libpq's `sslmode` asks, against the private server of
//! `scripts/with-postgres` (which speaks TLS with a certificate from its own CA).

use barista_store::{OpenOptions, StoreError};

struct Server {
    url: String,
    ca: String,
}

fn server() -> Server {
    let url = std::env::var("BARISTA_TEST_POSTGRES_URL")
        .expect("BARISTA_TEST_POSTGRES_URL: run under scripts/with-postgres (scripts/test does)");
    let ca = std::env::var("BARISTA_TEST_POSTGRES_CA").expect("BARISTA_TEST_POSTGRES_CA");
    Server { url, ca }
}

/// Whether the connections named `app` are encrypted, as the server sees them.
async fn encrypted(url: &str, app: &str) -> Vec<bool> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn open(url: &str) -> Result<std::sync::Arc<dyn barista_store::Store>, StoreError> {
    barista_store::open(url, &OpenOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_over_tls_to_a_server_its_ca_signed() {
    let s = server();
    let app = "tls-verify-full";
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}&application_name={app}",
        s.url, s.ca
    );
    let store = open(&url).await.unwrap();
    store.ping().await.unwrap();
    let seen = encrypted(&s.url, app).await;
    assert!(!seen.is_empty() && seen.iter().all(|&tls| tls), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_a_server_no_trusted_root_signed() {
    let s = server();
    // No sslrootcert: the built-in public roots, which never signed the test CA.
    let url = format!("{}?sslmode=verify-full", s.url);
    let refused = open(&url)
        .await
        .err()
        .expect("an untrusted server is refused");
    assert!(
        matches!(refused, StoreError::Unavailable(ref why) if why.contains("cannot connect")),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_without_checking_and_disable_does_not_encrypt() {
    let s = server();
    for (mode, tls) in [("require", true), ("prefer", true), ("disable", false)] {
        let app = format!("tls-{mode}");
        let url = format!("{}?sslmode={mode}&application_name={app}", s.url);
        let store = open(&url).await.unwrap();
        store.ping().await.unwrap();
        let seen = encrypted(&s.url, &app).await;
        assert!(
            !seen.is_empty() && seen.iter().all(|&t| t == tls),
            "{mode}: {seen:?}"
        );
    }
    let unknown = open(&format!("{}?sslmode=sometimes", s.url)).await;
    assert!(matches!(unknown, Err(StoreError::Config(_))));
}
