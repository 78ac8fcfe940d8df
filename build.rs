//! Compiles the wire contract in `proto/` with a vendored `protoc`, so a fresh machine needs no
//! system package, and writes a file descriptor set for gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut protos: Vec<PathBuf> = std::fs::read_dir("proto/oversight/v1")?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    protos.sort();

    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("oversight_descriptor.bin"))
        .compile_protos(&protos, &[PathBuf::from("proto")])?;
    Ok(())
}
