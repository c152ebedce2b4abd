//! Secret lookup cost: the file provider's per-get change check plus lookup, and the env
//! provider's variable lookup.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use warden_core::TenantId;
use warden_secrets::{EnvProvider, FileProvider, SecretProvider};

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenants.toml");
    let mut text = String::new();
    for t in 0..50 {
        text.push_str(&format!("[tenant-{t}]\n"));
        for k in 0..10 {
            text.push_str(&format!("KEY_{k} = \"value-{t}-{k}\"\n"));
        }
    }
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = FileProvider::open(&path).unwrap();
    let tenant = TenantId::new("tenant-25").unwrap();
    c.bench_function("file_provider_get", |b| {
        b.iter(|| rt.block_on(file.get(&tenant, "KEY_5")).unwrap())
    });

    std::env::set_var("WBENCH_TENANT_25_KEY_5", "value");
    let env = EnvProvider::new("WBENCH_").unwrap();
    c.bench_function("env_provider_get", |b| {
        b.iter(|| rt.block_on(env.get(&tenant, "KEY_5")).unwrap())
    });
}

criterion_group! {
    name = secrets;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(secrets);
