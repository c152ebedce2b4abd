//! Writes the benchmark policy set: `cargo run --release -p warden-posture --example gen_policies -- DIR [N]`.

#[path = "../benches/support/policygen.rs"]
#[allow(dead_code)]
mod policygen;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: gen_policies DIR [N]");
        std::process::exit(2);
    };
    let n: usize = args.next().map_or(10_000, |s| s.parse().unwrap_or(10_000));
    match policygen::write_set(std::path::Path::new(&dir), n, policygen::SEED) {
        Ok(bytes) => println!(
            "wrote {n} policies ({bytes} bytes) to {dir} with seed {:#x}",
            policygen::SEED
        ),
        Err(e) => {
            eprintln!("error: cannot write `{dir}`: {e}");
            std::process::exit(2);
        }
    }
}
