//! Writes one crafted capture shape of `benches/shapes.rs` for timing:
//! `cargo run --release --example shapes -- SHAPE N DIR` (SHAPE: points, any-interfaces,
//! split-run, errors, ip-ids, one-point-flows).

#[path = "shapes.rs"]
mod shapes;
#[path = "synth.rs"]
mod synth;

fn main() {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let [shape, n, dir] = &v[..] else {
        eprintln!("usage: shapes SHAPE N DIR");
        std::process::exit(2);
    };
    let Some(shape) = shapes::Shape::parse(shape) else {
        eprintln!("unknown shape {shape}");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("N is a number");
    std::fs::create_dir_all(dir).expect("output directory");
    for (name, bytes) in shape.files(n) {
        std::fs::write(std::path::Path::new(dir).join(name), bytes).expect("write capture");
    }
}
