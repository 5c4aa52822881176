//! Criterion benchmarks, one per stage: reading a capture, decoding frames, reading and decoding
//! together, correlating observations, inferring flows. Data comes from `synth.rs`, in memory.
//! `cargo bench` (results in target/criterion).

#[path = "synth.rs"]
mod synth;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use natcorr::capture::{Capture, Event};
use natcorr::decode::{decode, LinkLayer};
use natcorr::decode::{merge, read_reader, FileScan};
use natcorr::model::{Input, Protocols};
use std::hint::black_box;
use std::time::Duration;
use synth::{Out, Spec, POINTS};

/// Captures of the four points, in memory, with echoes among `flows` hosts.
fn captures(size: u64, echoes: Option<u64>, flows: u32) -> Vec<Vec<u8>> {
    let spec = Spec {
        size,
        points: 4,
        pcapng: false,
        echo_share: 0.05,
        echoes,
        flows,
        connections: 0,
        seed: 7,
    };
    let outs = POINTS
        .iter()
        .map(|p| Out::new(Vec::new(), false, p))
        .collect();
    synth::generate(&spec, outs).0
}

fn scan_all(files: &[Vec<u8>]) -> Vec<FileScan> {
    files
        .iter()
        .zip(POINTS)
        .map(|(f, p)| {
            read_reader(
                &Input {
                    path: format!("{p}.pcap").into(),
                    name: None,
                },
                &f[..],
            )
        })
        .collect()
}

fn reading(c: &mut Criterion) {
    let file = captures(64_000_000, None, 1000).swap_remove(3);
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("pcap frames", |b| {
        b.iter(|| {
            let mut cap = Capture::open(&file[..]).unwrap();
            let mut n = 0usize;
            while let Event::Frame(f) = cap.next_event() {
                n += f.data.len();
            }
            black_box(n)
        })
    });
    g.bench_function("read and decode", |b| {
        b.iter(|| {
            black_box(read_reader(
                &Input {
                    path: "bench.pcap".into(),
                    name: None,
                },
                &file[..],
            ))
        })
    });
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut cap = Capture::open(&file[..]).unwrap();
    while let Event::Frame(f) = cap.next_event() {
        frames.push(f.data.to_vec());
    }
    g.finish();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("frames", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(decode(LinkLayer::Ethernet, f, Protocols::ALL));
            }
        })
    });
    g.finish();
}

/// Every point's observations in one list (points numbered in file order), and the points.
fn observations(
    scans: &[FileScan],
) -> (Vec<natcorr::model::Observation>, Vec<natcorr::model::Point>) {
    let obs = scans
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.observations.iter().map(move |o| {
                let mut o = *o;
                o.point = i as u32;
                o
            })
        })
        .collect();
    let points = scans.iter().flat_map(|s| s.points.clone()).collect();
    (obs, points)
}

fn analysis(c: &mut Criterion) {
    let files = captures(0, Some(200_000), 1000);
    let scans = scan_all(&files);
    let (obs, points) = observations(&scans);
    let mut g = c.benchmark_group("analysis");
    g.throughput(Throughput::Elements(obs.len() as u64));
    g.bench_function("correlate", |b| {
        b.iter(|| black_box(natcorr::correlate::correlate(&obs, &[])))
    });
    g.bench_function("infer", |b| {
        b.iter_batched(
            || natcorr::correlate::correlate(&obs, &[]),
            |corr| black_box(natcorr::infer::infer(&points, &obs, &[], corr)),
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("everything after reading", |b| {
        b.iter_batched(
            || scan_all(&files),
            |s| black_box(natcorr::analyze_decoded(merge(s), &Default::default())),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The flows axis: 200,000 echo packets per point on the four-point path, among 1k, 10k and
/// 100k hosts (each its own flow): everything after reading, so growth in flows shows alone.
fn flows_axis(c: &mut Criterion) {
    let mut g = c.benchmark_group("flows");
    for flows in [1_000, 10_000, 100_000] {
        let files = captures(0, Some(200_000), flows);
        let observed: usize = scan_all(&files).iter().map(|s| s.observations.len()).sum();
        g.throughput(Throughput::Elements(observed as u64));
        g.bench_function(format!("{flows} hosts: correlate + infer"), |b| {
            b.iter_batched(
                || scan_all(&files),
                |s| black_box(natcorr::analyze_decoded(merge(s), &Default::default())),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = reading, analysis, flows_axis
}
criterion_main!(benches);
