//! Env and file providers against real environment variables and real files.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use warden_config::SecretsConfig;
use warden_core::TenantId;
use warden_secrets::{
    from_config, EnvProvider, FileOptions, FileProvider, SecretError, SecretProvider,
};

const ACME_KEY: &str = "acme-value-7f3a9c";
const GLOBEX_KEY: &str = "globex-value-2b8e1d";

fn t(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

fn write_private(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Rewrites the file and moves its mtime forward so the change is seen whatever the
/// filesystem's timestamp resolution.
fn rewrite(path: &Path, text: &str, step: u64) {
    write_private(path, text);
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(step))
        .unwrap();
}

fn starter_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tenants.toml");
    write_private(
        &path,
        &format!(
            "# Per-tenant secrets\n[acme]\nORDERS_API_KEY = \"{ACME_KEY}\"\n\n[globex]\nORDERS_API_KEY = \"{GLOBEX_KEY}\"\n"
        ),
    );
    path
}

/// Asserts that neither Debug nor Display of `v` shows any secret value.
fn assert_no_values(v: &(impl std::fmt::Debug + ?Sized), what: &str) {
    let s = format!("{v:?}");
    for secret in [ACME_KEY, GLOBEX_KEY, "env-acme-value", "env-globex-value"] {
        assert!(!s.contains(secret), "{what} Debug shows a value: {s}");
    }
}

#[tokio::test]
async fn file_provider_serves_each_tenant_only_its_own_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = starter_file(dir.path());
    let p = FileProvider::open(&path).unwrap();
    let acme = p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap();
    let globex = p.get(&t("globex"), "ORDERS_API_KEY").await.unwrap();
    assert_eq!(acme.expose(), ACME_KEY);
    assert_eq!(globex.expose(), GLOBEX_KEY);
    assert_ne!(acme.expose(), globex.expose());
    assert_eq!(p.tenants(), vec![t("acme"), t("globex")]);

    // Formatting the provider, the values and their errors never shows a value.
    assert_no_values(&p, "FileProvider");
    assert_eq!(format!("{acme}"), "[redacted]");
    assert_eq!(format!("{acme:?}"), "[redacted]");
    let all = p
        .fetch_all(&t("acme"), &["ORDERS_API_KEY".to_string()])
        .await
        .unwrap();
    assert_no_values(&all, "fetch_all result");
    assert!(!format!("{:?}", all[0].1).contains(ACME_KEY));

    // A tenant without a table gets nothing, not somebody else's value.
    let err = p.get(&t("initech"), "ORDERS_API_KEY").await.unwrap_err();
    assert!(matches!(err, SecretError::Missing { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("initech") && msg.contains("ORDERS_API_KEY"),
        "{msg}"
    );
    assert_no_values(&err, "SecretError");
    assert!(!msg.contains(ACME_KEY) && !msg.contains(GLOBEX_KEY));
}

#[tokio::test]
async fn fetch_all_fails_closed_naming_secret_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let path = starter_file(dir.path());
    let p = FileProvider::open(&path).unwrap();
    let names = vec!["ORDERS_API_KEY".to_string(), "BILLING_TOKEN".to_string()];
    let err = p.fetch_all(&t("acme"), &names).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`BILLING_TOKEN`") && msg.contains("`acme`"),
        "{msg}"
    );
    assert!(!msg.contains(ACME_KEY), "{msg}");
    let err = p
        .fetch_all(&t("acme"), &["bad-name".to_string()])
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::BadName { .. }), "{err}");
}

#[tokio::test]
async fn file_readable_by_others_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = starter_file(dir.path());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = FileProvider::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("mode 0644"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("chmod 600"), "{msg}");
    let p = FileProvider::open_with(
        &path,
        FileOptions {
            allow_insecure_permissions: true,
        },
    )
    .unwrap();
    assert_eq!(
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
        ACME_KEY
    );
}

#[tokio::test]
async fn file_reload_picks_up_changes_and_keeps_last_good_state_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = starter_file(dir.path());
    let p = FileProvider::open(&path).unwrap();
    assert_eq!(
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
        ACME_KEY
    );

    rewrite(&path, "[acme]\nORDERS_API_KEY = \"rotated-1\"\n", 10);
    assert_eq!(
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
        "rotated-1"
    );
    // globex's table is gone from the new file.
    assert!(p.get(&t("globex"), "ORDERS_API_KEY").await.is_err());
    assert_eq!(p.last_reload_error(), None);

    // A bad edit: the previous good contents keep serving and the error is reported.
    rewrite(
        &path,
        "[acme]\nORDERS_API_KEY = 42\nOTHER = \"half-written\n",
        20,
    );
    assert_eq!(
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
        "rotated-1"
    );
    let reported = p.last_reload_error().expect("reload error is reported");
    assert!(reported.contains("line 3"), "{reported}");
    assert!(!reported.contains("half-written"), "{reported}");
    // A bad type is reported with its key path.
    rewrite(&path, "[acme]\nORDERS_API_KEY = 42\n", 30);
    let err = p.reload_if_changed().unwrap_err().to_string();
    assert!(
        err.contains("`acme.ORDERS_API_KEY` must be a string (found a integer)"),
        "{err}"
    );
    assert!(!err.contains("42"), "{err}");
    assert_eq!(
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
        "rotated-1"
    );

    // Fixed again: picked up, error cleared.
    rewrite(&path, "[acme]\nORDERS_API_KEY = \"rotated-2\"\n", 40);
    assert_eq!(
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
        "rotated-2"
    );
    assert_eq!(p.last_reload_error(), None);
    assert!(
        !p.reload_if_changed().unwrap(),
        "unchanged file is not reloaded"
    );
}

#[tokio::test]
async fn from_config_builds_file_and_env_providers() {
    let dir = tempfile::tempdir().unwrap();
    starter_file(dir.path());
    let p = from_config(
        &SecretsConfig::File {
            path: "tenants.toml".into(),
        },
        dir.path(),
    )
    .unwrap();
    assert!(p.describe().contains("tenants.toml"));
    assert_eq!(
        p.get(&t("globex"), "ORDERS_API_KEY")
            .await
            .unwrap()
            .expose(),
        GLOBEX_KEY
    );
    assert_no_values(&*p, "dyn SecretProvider");

    let missing = from_config(
        &SecretsConfig::File {
            path: "nope.toml".into(),
        },
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(missing.contains("nope.toml"), "{missing}");

    let p = from_config(
        &SecretsConfig::Env {
            prefix: "WTEST_CFG_".into(),
        },
        dir.path(),
    )
    .unwrap();
    assert!(p.describe().contains("WTEST_CFG_<TENANT>_<NAME>"));
    let p = from_config(&SecretsConfig::None, dir.path()).unwrap();
    assert!(p.get(&t("acme"), "ORDERS_API_KEY").await.is_err());
}

#[tokio::test]
async fn env_provider_reads_mapped_variables_and_isolates_tenants() {
    // Variables unique to this test (the process environment is shared by all tests).
    std::env::set_var("WTEST_ENV_ACME_ORDERS_API_KEY", "env-acme-value");
    std::env::set_var("WTEST_ENV_GLOBEX_ORDERS_API_KEY", "env-globex-value");
    std::env::set_var("WTEST_ENV_EU_ACME_2_TOKEN", "env-eu-value");
    std::env::set_var("WTEST_ENV_ACME_EMPTY", "");
    let p = EnvProvider::new("WTEST_ENV_").unwrap();
    assert_eq!(
        p.get(&t("acme"), "ORDERS_API_KEY").await.unwrap().expose(),
        "env-acme-value"
    );
    assert_eq!(
        p.get(&t("globex"), "ORDERS_API_KEY")
            .await
            .unwrap()
            .expose(),
        "env-globex-value"
    );
    assert_eq!(
        p.get(&t("eu.acme-2"), "TOKEN").await.unwrap().expose(),
        "env-eu-value"
    );
    assert_no_values(&p, "EnvProvider");

    let err = p.get(&t("globex"), "MISSING_ONE").await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("WTEST_ENV_GLOBEX_MISSING_ONE") && msg.contains("globex"),
        "{msg}"
    );
    let err = p.get(&t("acme"), "EMPTY").await.unwrap_err();
    assert!(matches!(err, SecretError::Empty { .. }), "{err}");

    // `eu_acme.2` maps to the same key as `eu.acme-2`: refused, never served.
    let err = p.get(&t("eu_acme.2"), "TOKEN").await.unwrap_err();
    assert!(matches!(err, SecretError::AmbiguousTenant { .. }), "{err}");
    assert!(!err.to_string().contains("env-eu-value"));
    // `eu` would read `WTEST_ENV_EU_ACME_2_TOKEN` as its secret `ACME_2_TOKEN`: refused too.
    let err = p.get(&t("eu"), "ACME_2_TOKEN").await.unwrap_err();
    assert!(matches!(err, SecretError::AmbiguousTenant { .. }), "{err}");
}
