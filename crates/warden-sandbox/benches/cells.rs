//! Cell pool latency: acquire + release from the warm pool, and cold cell creation.
//! Needs root (network namespaces, nftables, cgroups); prints why and exits otherwise.

use std::time::{Duration, Instant};

use criterion::Criterion;
use ipnet::Ipv4Net;
use warden_sandbox::{probe, CellPool, PoolConfig};

fn config(prefix: &str, third_octet: u8, pool_size: usize, max_cells: usize) -> PoolConfig {
    let mut cfg = PoolConfig::new(15001, 15353, 9001);
    cfg.prefix = prefix.to_string();
    cfg.subnet = Ipv4Net::new(std::net::Ipv4Addr::new(10, 252, third_octet, 0), 24).unwrap();
    cfg.pool_size = pool_size;
    cfg.max_cells = max_cells;
    cfg
}

fn wait_idle(pool: &CellPool, n: usize) {
    while pool.idle() < n {
        std::thread::yield_now();
    }
}

fn bench(c: &mut Criterion) {
    let pool = CellPool::create(config("wbw", 200, 2, 2)).expect("warm pool");
    c.bench_function("acquire_release_warm", |b| {
        b.iter(|| {
            let lease = pool.acquire("bench").unwrap();
            pool.release(lease).unwrap();
        })
    });
    // Acquire alone while a scrubbed cell is idle (the scrubber is given time, untimed).
    c.bench_function("acquire_warm", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                wait_idle(&pool, 1);
                let t = Instant::now();
                let lease = pool.acquire("bench").unwrap();
                total += t.elapsed();
                pool.release(lease).unwrap();
            }
            total
        })
    });
    // From release until the cell is idle again: kill + in-kernel conntrack flush by mark.
    c.bench_function("scrub_turnaround", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                wait_idle(&pool, 2);
                let lease = pool.acquire("bench").unwrap();
                let t = Instant::now();
                pool.release(lease).unwrap();
                wait_idle(&pool, 2);
                total += t.elapsed();
            }
            total
        })
    });
    drop(pool);

    let pool = CellPool::create(config("wbc", 201, 0, 1)).expect("cold pool");
    let mut group = c.benchmark_group("cold");
    group.sample_size(30);
    group.bench_function("create_cell_on_acquire", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let lease = pool.acquire("bench").unwrap();
                total += t.elapsed();
                pool.discard(lease).unwrap();
            }
            total
        })
    });
    group.finish();
}

fn main() {
    if let Err(e) = probe("nobody") {
        println!("skipped: needs root and network namespaces ({e})");
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
