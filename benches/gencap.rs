//! Writes large, realistic captures of the seed's four-point path for benchmarks (see
//! `synth.rs`): `cargo run --release --example gencap -- --out DIR [--size 1G] [--points 4]
//! [--format pcap|pcapng] [--echo-share 0.05] [--echoes N] [--flows 1000] [--connections 0] [--seed 1]`.
//! `--echoes N` writes exactly N echo packets (requests and replies) per point and no background.
//! `--connections N` makes the background N concurrent TCP/UDP connections that cross every
//! point through both SNATs (`synth::Conns`) instead of unrelated packets at each point.

#[path = "synth.rs"]
mod synth;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use synth::{Out, Spec, POINTS};

struct Args {
    out: PathBuf,
    size: u64,
    points: usize,
    pcapng: bool,
    echo_share: f64,
    echoes: Option<u64>,
    flows: u32,
    connections: u32,
    seed: u64,
}

fn parse_size(s: &str) -> u64 {
    let (n, mult) = match s.chars().last() {
        Some('G' | 'g') => (&s[..s.len() - 1], 1_000_000_000),
        Some('M' | 'm') => (&s[..s.len() - 1], 1_000_000),
        Some('K' | 'k') => (&s[..s.len() - 1], 1_000),
        _ => (s, 1),
    };
    (n.parse::<f64>().expect("size") * mult as f64) as u64
}

fn args() -> Args {
    let mut a = Args {
        out: PathBuf::from("."),
        size: 100_000_000,
        points: 4,
        pcapng: false,
        echo_share: 0.05,
        echoes: None,
        flows: 1000,
        connections: 0,
        seed: 1,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--out" => a.out = PathBuf::from(val),
            "--size" => a.size = parse_size(&val),
            "--points" => a.points = val.parse::<usize>().expect("points").clamp(1, 4),
            "--format" => a.pcapng = val == "pcapng",
            "--echo-share" => a.echo_share = val.parse().expect("share"),
            "--echoes" => a.echoes = Some(parse_size(&val)),
            "--flows" => a.flows = val.parse().expect("flows"),
            "--connections" => a.connections = val.parse().expect("connections"),
            "--seed" => a.seed = val.parse().expect("seed"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn main() {
    let a = args();
    std::fs::create_dir_all(&a.out).expect("out dir");
    let ext = if a.pcapng { "pcapng" } else { "pcap" };
    let outs: Vec<Out<BufWriter<File>>> = POINTS[..a.points]
        .iter()
        .map(|p| {
            let f = File::create(a.out.join(format!("{p}.{ext}"))).expect("create");
            Out::new(BufWriter::with_capacity(1 << 20, f), a.pcapng, p)
        })
        .collect();
    let spec = Spec {
        size: a.size,
        points: a.points,
        pcapng: a.pcapng,
        echo_share: a.echo_share,
        echoes: a.echoes,
        flows: a.flows,
        connections: a.connections,
        seed: a.seed,
    };
    let (_, echoes) = synth::generate(&spec, outs);
    eprintln!(
        "gencap: {} file(s) in {}, {echoes} echo packets per point",
        a.points,
        a.out.display()
    );
}
