//! Measures kill-switch propagation: the time from a flip to the first 503, for a flip made
//! by another process through the store (what `warden killswitch on` does) and for a flip
//! through the admin API. Runs a real server on loopback ports in this process.
//!
//!     cargo run --release -p warden-server --example killswitch_propagation [ROUNDS]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use warden_store::{KillFlip, KillSwitchStore, SqliteStore};

const CONFIG: &str = r#"
version = 1
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
data_dir = "data"
[auth]
[[auth.keys]]
kind = "hs256"
secret = "0123456789abcdef0123456789abcdef"
[admin]
token = "admin-token-for-the-example"
[ratelimit]
requests_per_minute = 100000000
burst = 1000000
[agents.support]
instructions = "You are a support agent."
[agents.support.model]
provider = "scripted"
script = "script.json"
"#;

fn token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = serde_json::Map::new();
    claims.insert("tenant_id".into(), serde_json::json!("acme"));
    claims.insert("exp".into(), serde_json::json!(now + 3600));
    warden_auth::issue_hs256(b"0123456789abcdef0123456789abcdef", None, &claims).unwrap()
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: n={} min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        v.len(),
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
        ms(v[v.len() - 1])
    );
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("warden-ks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("script.json"),
        r#"{"default": [{"answer": "hi"}]}"#,
    )
    .unwrap();
    let config = warden_config::load_str(
        CONFIG,
        &dir.join("warden.toml"),
        &BTreeMap::<String, String>::new(),
    )
    .unwrap();
    let app = warden_server::build(config).unwrap();
    let running = warden_server::start(app).await.unwrap();
    let url = format!(
        "http://{}/v1/agents/support/sessions/s/invoke",
        running.bound.data
    );
    let admin = format!("http://{}/admin/v1/killswitch", running.bound.admin);
    let http = reqwest::Client::new();
    let token = token();
    let status = || async {
        http.post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(r#"{"inputText":"hi"}"#)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let other_process = SqliteStore::open(&dir.join("data/warden.db")).unwrap();
    let flip = |enabled: bool| KillFlip {
        scope: "tenant:acme".parse().unwrap(),
        enabled,
        reason: "propagation test".into(),
        actor: "example".into(),
        at: "2026-11-22T00:00:00Z".into(),
    };
    let (mut store_times, mut admin_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        assert_eq!(status().await, 200);
        // Spread the flips over the poll interval.
        tokio::time::sleep(Duration::from_millis(37 * (round as u64 % 6))).await;
        let t = Instant::now();
        other_process.flip(&flip(true)).unwrap();
        while status().await != 503 {}
        store_times.push(t.elapsed());
        other_process.flip(&flip(false)).unwrap();
        while status().await != 200 {}

        let t = Instant::now();
        let resp = http
            .put(&admin)
            .bearer_auth("admin-token-for-the-example")
            .header("content-type", "application/json")
            .body(r#"{"scope":"tenant:acme","enabled":true,"reason":"propagation test"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        while status().await != 503 {}
        admin_times.push(t.elapsed());
        http.put(&admin)
            .bearer_auth("admin-token-for-the-example")
            .header("content-type", "application/json")
            .body(r#"{"scope":"tenant:acme","enabled":false}"#)
            .send()
            .await
            .unwrap();
        while status().await != 200 {}
    }
    summary(
        "store flip (another process, e.g. the CLI) -> first 503",
        store_times,
    );
    summary(
        "admin API flip -> first 503 (includes the audited PUT)",
        admin_times,
    );
    running.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
